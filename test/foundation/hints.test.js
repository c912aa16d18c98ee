/**
 * Suggested commands carry the context they need to work when pasted (src/hints.ts): the
 * `--store` / `--config` of the run, the test server for commands that connect, every word
 * shell-quoted, no password. The end-to-end case is the one a new user meets first: `pair
 * --sandbox` into a named store ends with a `Next:` command that, run as printed, succeeds.
 */

import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { recordHintFlags, SERVER_COMMANDS, shellQuote, zapoCommand } from '../../dist/hints.js'
import { buildProgram } from '../../dist/program.js'
import { CLEAN_ZAPO_ENV, ZAPO_BIN, runZapo } from '../helpers/run.js'

after(() => recordHintFlags({}))

test('shellQuote: safe words stay bare, anything else reads back exactly through sh', () => {
    for (const word of ['demo', 'a:b@c', 'sqlite:./seed.sqlite', '1:AAAA+/=', '--store'])
        assert.equal(shellQuote(word), word)
    for (const word of ['my seed.sqlite', "it's", '$HOME', 'a;b', '*', '', 'x"y', '~/z']) {
        const quoted = shellQuote(word)
        assert.notEqual(quoted, word)
        const echoed = spawnSync('sh', ['-c', `printf '%s' ${quoted}`], { encoding: 'utf8' })
        assert.equal(echoed.stdout, word, `${word} → ${quoted}`)
    }
})

test('zapoCommand: the run’s --store and --config; the server only for commands that connect', () => {
    recordHintFlags({})
    assert.equal(
        zapoCommand('creds', 'show', '--session', 'demo'),
        'zapo creds show --session demo'
    )
    recordHintFlags({
        store: 'sqlite:./my seed.sqlite',
        config: 'conf.json',
        server: 'ws://127.0.0.1:7400/ws/chat',
        serverRootCa: '1:AAAA'
    })
    assert.equal(
        zapoCommand('creds', 'show', '--session', 'demo'),
        "zapo creds show --session demo --config conf.json --store 'sqlite:./my seed.sqlite'"
    )
    assert.equal(
        zapoCommand('logout', '--session', 'demo'),
        "zapo logout --session demo --config conf.json --store 'sqlite:./my seed.sqlite' --server ws://127.0.0.1:7400/ws/chat --server-root-ca 1:AAAA"
    )
    assert.doesNotMatch(
        zapoCommand('check', '--session', 'x'),
        /--server/,
        'check without --connect'
    )
    assert.match(zapoCommand('check', '--connect', '--session', 'x'), /--server ws:/)
    // a command that names its stores itself keeps them
    assert.doesNotMatch(zapoCommand('migrate', '--from', 'a.sqlite', '--to', 'b.sqlite'), /--store/)
    assert.equal(
        zapoCommand('sessions', 'list', '--store', 'x.sqlite'),
        'zapo sessions list --store x.sqlite --config conf.json'
    )
    // a password is never printed
    recordHintFlags({ store: 'postgres://bob:hunter2@db/zapo' })
    assert.equal(
        zapoCommand('sessions', 'list'),
        "zapo sessions list --store 'postgres://bob:***@db/zapo'"
    )
})

test('SERVER_COMMANDS are exactly the commands whose definition takes --server', () => {
    const program = buildProgram()
    const withServer = program.commands
        .filter(c => c.options.some(o => o.long === '--server'))
        .map(c => c.name())
        .sort()
    assert.deepEqual([...SERVER_COMMANDS].sort(), withServer)
})

test('pair --sandbox into a named store ends with a Next: command that works when pasted', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'zapo-hints-'))
    const bin = join(cwd, 'bin')
    mkdirSync(bin)
    symlinkSync(ZAPO_BIN, join(bin, 'zapo'))
    const env = { ...CLEAN_ZAPO_ENV }
    const paired = await runZapo(
        ['pair', '--sandbox', '--session', 'demo', '--store', 'sqlite:./seed.sqlite'],
        { cwd, env, timeoutMs: 60_000 }
    )
    assert.equal(paired.code, 0, paired.stderr)
    const last = paired.stderr.trimEnd().split('\n').at(-1)
    const next = /Next: (zapo .*)$/.exec(last)?.[1]
    assert.ok(next, `no Next: hint in ${last}`)
    assert.equal(next, 'zapo creds show --session demo --store sqlite:./seed.sqlite')
    // run exactly what was printed, through a shell, from the same directory
    const childEnv = { ...process.env, PATH: `${bin}:${process.env.PATH}`, NO_COLOR: '1' }
    for (const key of Object.keys(CLEAN_ZAPO_ENV)) delete childEnv[key]
    const pasted = spawnSync('sh', ['-c', next], { cwd, env: childEnv, encoding: 'utf8' })
    assert.equal(pasted.status, 0, pasted.stderr)
    assert.match(pasted.stdout, /Session demo/)
    // and the default store, which the hint's --store avoids, does not hold the session
    const bare = spawnSync('sh', ['-c', 'zapo creds show --session demo'], {
        cwd,
        env: childEnv,
        encoding: 'utf8'
    })
    assert.equal(bare.status, 3, bare.stderr)
})
