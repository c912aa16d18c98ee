/**
 * `zapo completion bash|zsh|fish`, run as the built binary: each script is generated from the
 * commander program (every visible command and flag is in it), bash's is checked with `bash -n`
 * and then sourced and driven the way bash drives it on Tab (COMP_LINE / COMP_POINT → the
 * completion function → COMPREPLY), with session ids read back from a real SQLite store through
 * `zapo __complete sessions`. zsh and fish are syntax-checked when those shells are installed.
 */

import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { buildProgram } from '../../dist/program.js'
import { completionModel } from '../../dist/commands/completion.js'
import { dropStore, makeSession, openTestStore } from '../helpers/fixtures.js'
import { CLEAN_ZAPO_ENV, ZAPO_BIN, runZapo } from '../helpers/run.js'
import { LEAN_SHAPE } from '../helpers/shapes.js'

const cwd = mkdtempSync(join(tmpdir(), 'zapo-completion-'))
const zapo = (args, options = {}) => runZapo(args, { cwd, env: CLEAN_ZAPO_ENV, ...options })
const storeFile = join(cwd, 'seed.sqlite')
const storeUrl = `sqlite:${storeFile}`
const otherFile = join(cwd, 'other.sqlite')
// `zapo` on PATH, as an installed one would be
const binDir = join(cwd, 'bin')
mkdirSync(binDir)
symlinkSync(ZAPO_BIN, join(binDir, 'zapo'))

function hasShell(name) {
    return spawnSync('sh', ['-c', `command -v ${name}`]).status === 0
}

/** Sources the bash script and completes `line` (cursor at its end); returns COMPREPLY. */
function bashComplete(script, line, env = {}) {
    const driver = `
source ${JSON.stringify(script)}
complete -p zapo
COMP_LINE=${shellQuote(line)}
COMP_POINT=\${#COMP_LINE}
read -ra COMP_WORDS <<< "$COMP_LINE"
[[ "$COMP_LINE" =~ [[:space:]]$ ]] && COMP_WORDS+=("")
COMP_CWORD=$(( \${#COMP_WORDS[@]} - 1 ))
_zapo_complete zapo "\${COMP_WORDS[COMP_CWORD]}" "\${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\\n' "\${COMPREPLY[@]}"
`
    const result = spawnSync('bash', ['--norc', '--noprofile', '-c', driver], {
        cwd,
        encoding: 'utf8',
        env: {
            ...cleanEnv(),
            PATH: `${binDir}:${process.env.PATH}`,
            ...env
        }
    })
    assert.equal(result.status, 0, result.stderr)
    const [registration, ...replies] = result.stdout.split('\n').filter(l => l !== '')
    return { registration, replies: replies.sort() }
}

function cleanEnv() {
    const env = { ...process.env }
    for (const key of Object.keys(CLEAN_ZAPO_ENV)) delete env[key]
    return env
}

function shellQuote(text) {
    return `'${text.replace(/'/g, `'\\''`)}'`
}

describe('zapo completion', () => {
    let bashFile

    before(async () => {
        const store = await openTestStore(storeUrl, 'write')
        try {
            await makeSession(store, 'demo', LEAN_SHAPE)
            await makeSession(store, 'tenant-42', LEAN_SHAPE)
            await makeSession(store, 'a:b@c', LEAN_SHAPE)
        } finally {
            await store.close()
        }
        const other = await openTestStore(`sqlite:${otherFile}`, 'write')
        try {
            await makeSession(other, 'elsewhere', LEAN_SHAPE)
        } finally {
            await other.close()
        }
        const result = await zapo(['completion', 'bash'])
        assert.equal(result.code, 0, result.stderr)
        assert.equal(result.stderr, '')
        bashFile = join(cwd, 'zapo.bash')
        writeFileSync(bashFile, result.stdout)
    })

    after(async () => {
        await dropStore(storeUrl)
        await dropStore(`sqlite:${otherFile}`)
    })

    test('every visible command and flag of the program is in each script (generated, not typed)', async () => {
        const model = completionModel(buildProgram())
        const commands = model.filter(n => n.path !== '').map(n => n.path.split(' ').at(-1))
        assert.ok(commands.includes('migrate') && commands.includes('rm'))
        assert.ok(!commands.includes('__complete'), 'the hidden callback is not offered')
        const flags = [...new Set(model.flatMap(n => n.options.flatMap(o => o.names)))]
        for (const shell of ['bash', 'zsh', 'fish']) {
            const { code, stdout } = await zapo(['completion', shell])
            assert.equal(code, 0)
            for (const name of commands)
                assert.ok(stdout.includes(name), `${shell}: command ${name} missing`)
            for (const flag of flags) {
                const spelled =
                    shell === 'fish'
                        ? flag.startsWith('--')
                            ? `-l ${flag.slice(2)}`
                            : `-s ${flag.slice(1)}`
                        : flag
                assert.ok(stdout.includes(spelled), `${shell}: flag ${flag} missing`)
            }
        }
    })

    test('bash: the script passes bash -n and registers itself for zapo', () => {
        const check = spawnSync('bash', ['-n', bashFile], { encoding: 'utf8' })
        assert.equal(check.status, 0, check.stderr)
        const { registration } = bashComplete(bashFile, 'zapo ')
        assert.equal(registration, 'complete -F _zapo_complete zapo')
    })

    test('bash: commands, subcommands (aliases understood) and flags', () => {
        assert.deepEqual(bashComplete(bashFile, 'zapo mi').replies, ['migrate'])
        assert.deepEqual(bashComplete(bashFile, 'zapo sessions ').replies, ['list', 'rm'])
        assert.deepEqual(bashComplete(bashFile, 'zapo cr').replies, ['creds'])
        assert.deepEqual(bashComplete(bashFile, 'zapo creds ').replies, ['show'])
        const creds = bashComplete(bashFile, 'zapo creds show --re').replies
        assert.deepEqual(creds, ['--reveal'])
        assert.deepEqual(bashComplete(bashFile, 'zapo sessions ls --wi').replies, ['--wide'])
        // a global flag before the command, and the value it takes, do not derail the path
        assert.deepEqual(
            bashComplete(bashFile, `zapo --store ${storeFile} sessions list --qu`).replies,
            ['--quiet']
        )
        assert.deepEqual(bashComplete(bashFile, 'zapo check --log-level w').replies, ['warn'])
    })

    test('bash: session ids from the store named on the line, the configured one, or none', () => {
        const ids = ['a:b@c', 'demo', 'tenant-42']
        assert.deepEqual(
            bashComplete(bashFile, `zapo creds show --store ${storeFile} -s `).replies,
            ids
        )
        assert.deepEqual(
            bashComplete(bashFile, `zapo creds show --store ${storeFile} --session te`).replies,
            ['tenant-42']
        )
        // the positional id of sessions rm
        assert.deepEqual(
            bashComplete(bashFile, `zapo sessions rm --store ${storeFile} d`).replies,
            ['demo']
        )
        // ZAPO_STORE, as a configured store
        assert.deepEqual(
            bashComplete(bashFile, 'zapo logs -s ', { ZAPO_STORE: storeUrl }).replies,
            ids
        )
        // migrate's sessions are those of its --from
        assert.deepEqual(
            bashComplete(bashFile, `zapo migrate --from ${otherFile} --to postgres -s `).replies,
            ['elsewhere']
        )
        // bash splits words at ':': only the part after it is completed
        assert.deepEqual(
            bashComplete(bashFile, `zapo creds show --store ${storeFile} -s a:`).replies,
            ['b@c']
        )
        // an unreachable store completes nothing, and quietly
        assert.deepEqual(
            bashComplete(bashFile, 'zapo creds show --store postgres://127.0.0.1:1/x -s ').replies,
            []
        )
    })

    test('__complete sessions: ids one per line, exit 0; nothing (exit 0) on an unreachable store or a bad config', async () => {
        const ok = await zapo(['__complete', 'sessions', '--store', storeUrl])
        assert.equal(ok.code, 0)
        assert.deepEqual(ok.stdout.split('\n').filter(Boolean).sort(), [
            'a:b@c',
            'demo',
            'tenant-42'
        ])
        assert.equal(ok.stderr, '')
        for (const args of [
            ['--store', 'postgres://127.0.0.1:1/x'],
            ['--store', join(cwd, 'missing.sqlite')],
            ['--config', join(cwd, 'no-such-config.json')],
            ['--store', 'foo://bar']
        ]) {
            const result = await zapo(['__complete', 'sessions', ...args])
            assert.equal(result.code, 0, `${args.join(' ')}: ${result.stderr}`)
            assert.equal(result.stdout, '')
            assert.equal(result.stderr, '')
        }
        const help = await zapo(['--help'])
        assert.doesNotMatch(help.stdout, /__complete/, 'the callback is hidden from help')
    })

    test('an unknown or missing shell is a usage error (exit 2, one line)', async () => {
        for (const args of [['completion', 'tcsh'], ['completion']]) {
            const result = await zapo(args)
            assert.equal(result.code, 2)
            assert.equal(result.stdout, '')
            assert.match(result.stderr, /^zapo: .*use zapo completion bash, zsh or fish\n$/)
        }
    })

    test('zsh: the script passes zsh -n', async t => {
        if (!hasShell('zsh')) return t.skip('zsh is not installed on this machine')
        const { stdout } = await zapo(['completion', 'zsh'])
        const file = join(cwd, '_zapo')
        writeFileSync(file, stdout)
        const check = spawnSync('zsh', ['-n', file], { encoding: 'utf8' })
        assert.equal(check.status, 0, check.stderr)
    })

    test('fish: the script passes fish -n', async t => {
        if (!hasShell('fish')) return t.skip('fish is not installed on this machine')
        const { stdout } = await zapo(['completion', 'fish'])
        const file = join(cwd, 'zapo.fish')
        writeFileSync(file, stdout)
        const check = spawnSync('fish', ['-n', file], { encoding: 'utf8' })
        assert.equal(check.status, 0, check.stderr)
    })
})
