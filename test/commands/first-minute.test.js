/**
 * The first minute, as a new user meets zapo: every command's --help and its typical mistakes
 * (no arguments, an unknown flag, a bad store URL, a missing or unknown session), through the real
 * binary, piped at COLUMNS=80 and in a tmux pane of 80×24 (with colour, NO_COLOR=1 and TERM=dumb).
 * Every help fits 80 columns, ends with examples, and the examples that are safe offline run as
 * pasted (a `zapo` on PATH, a temporary SQLite store in the working directory).
 */

import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, test } from 'node:test'

import { assertOneErrorLine } from '../helpers/cli-assert.js'
import { makeSession, openTestStore } from '../helpers/fixtures.js'
import { CLEAN_ZAPO_ENV, runZapo, ZAPO_BIN } from '../helpers/run.js'
import { startTmux, TMUX_MISSING, tmuxAvailable, zapoCommand } from '../helpers/tmux.js'

const COMMANDS = [
    [],
    ['pair'],
    ['sessions', 'list'],
    ['sessions', 'rm'],
    ['creds', 'show'],
    ['doctor'],
    ['export'],
    ['import'],
    ['migrate'],
    ['logs'],
    ['check'],
    ['logout'],
    ['sandbox'],
    ['exit-codes']
]

// eslint-disable-next-line no-control-regex
const ESC = /\x1b/
const STACK = /\n\s+at |Error: .*\n\s+at /

function tempDir(t) {
    const dir = mkdtempSync(join(tmpdir(), 'zapo-first-'))
    t.after(() => rmSync(dir, { recursive: true, force: true }))
    return dir
}

const env80 = { ...CLEAN_ZAPO_ENV, COLUMNS: '80' }

function overlong(text, width = 80) {
    return text.split('\n').filter(line => [...line].length > width)
}

/** The example lines of a help text (a `\` continuation joined), with their `# comment`s dropped. */
function examplesOf(help) {
    const block = help.split(/\n\s*\nExamples:\n/)[1] ?? ''
    const lines = []
    let pending = ''
    for (const raw of block.split('\n')) {
        const line = raw.trim()
        if (line === '' || line.startsWith('#')) continue
        if (line.endsWith('\\')) {
            pending += line.slice(0, -1)
            continue
        }
        lines.push((pending + line).replace(/\s+# .*$/, '').trim())
        pending = ''
    }
    return lines
}

describe('--help of every command, piped at 80 columns', () => {
    for (const command of COMMANDS) {
        const name = ['zapo', ...command].join(' ')
        test(`${name} --help`, async t => {
            const cwd = tempDir(t)
            for (const env of [env80, { ...env80, NO_COLOR: undefined, TERM: 'dumb' }]) {
                const result = await runZapo([...command, '--help'], { cwd, env })
                assert.equal(result.code, 0, result.stderr)
                assert.deepEqual(overlong(result.stdout), [], 'no line over 80 columns')
                assert.doesNotMatch(result.stdout + result.stderr, ESC, 'no escape codes')
                assert.match(result.stdout, /\n\nExamples:\n {2}zapo /, 'ends with examples')
                assert.ok(
                    examplesOf(result.stdout).length > 0 &&
                        examplesOf(result.stdout).every(l => /(^|\s)zapo /.test(l)),
                    `every example is a zapo command line: ${examplesOf(result.stdout)}`
                )
            }
        })
    }
})

/** [arguments, exit code, what the one line says] for the mistakes of the first minute. */
const MISTAKES = [
    [['nosuch'], 2, /unknown command 'nosuch'/],
    [['version'], 2, /zapo --version/],
    [['pair'], 2, /no session given: pass --session/],
    [['pair', '--bogus'], 2, /unknown option '--bogus'/],
    [['pair', '-s', 'x', '--store', 'redis://localhost/abc'], 2, /not a database number/],
    [['sessions', 'list'], 3, /no SQLite store at .*: pair a session first/],
    [['sessions', 'list', '--store', 'redis://localhost/abc'], 2, /N from 0 to 15/],
    [['sessions', 'list', '--store', 'nosuch://x'], 2, /./],
    [['sessions', 'rm'], 2, /missing required argument 'id'/],
    [['creds', 'show', '--bogus'], 2, /unknown option '--bogus'/],
    [['creds', 'show', '-s', 'nobody'], 3, /pass --store|pair a session/],
    [['doctor', '--store', 'redis://localhost/abc'], 2, /not a database number/],
    [['export'], 2, /no output file: pass -o FILE/],
    [
        ['export', '-s', 'nobody', '-o', 'x.age'],
        2,
        /no passphrase or recipient: pass --passphrase-file/
    ],
    [['import'], 2, /missing required argument 'file'/],
    [['import', 'missing.age'], 2, /no such file: missing\.age/],
    [['migrate'], 2, /no source store: pass --from/],
    [['migrate', '--from', 'sqlite:./a.sqlite'], 2, /no target store: pass --to/],
    [['logs', '-s', 'nobody'], 3, /./],
    [['check', '--bogus'], 2, /unknown option '--bogus'/],
    [['check', '-s', 'nobody'], 3, /./],
    [['logout'], 2, /no session given: pass --session/],
    [['sandbox', '--port', 'x'], 2, /./],
    [['exit-codes', 'extra'], 2, /./]
]

describe('the mistakes of the first minute, piped', () => {
    for (const [args, code, pattern] of MISTAKES) {
        test(`zapo ${args.join(' ')} → ${code}`, async t => {
            const cwd = tempDir(t)
            for (const env of [env80, { ...env80, NO_COLOR: undefined, TERM: 'dumb' }]) {
                const result = await runZapo(args, { cwd, env })
                assert.equal(result.code, code, result.stderr)
                assertOneErrorLine(result, pattern)
                assert.doesNotMatch(result.stderr, ESC, 'no escape codes in a pipe')
                assert.equal(result.stdout, '', 'nothing on stdout')
            }
        })
    }
})

describe('in a terminal of 80×24', () => {
    /** Runs every help and mistake in one tmux pane; returns the joined history and with escapes. */
    async function walk(t, env) {
        const cwd = tempDir(t)
        const lines = [
            ...COMMANDS.map(c => zapoCommand([...c, '--help'])),
            // stdin from /dev/null: a terminal on stdout and stderr, but no wizard to answer
            ...MISTAKES.map(([args]) => `${zapoCommand(args)} < /dev/null`)
        ]
        const script = join(cwd, 'walk.sh')
        writeFileSync(script, lines.map(l => `${l}; echo "EXIT=$?"`).join('\n') + '\necho WALKED\n')
        const term = startTmux(t, {
            cwd,
            width: 80,
            height: 24,
            command: `sh ${script}`,
            env: { ...CLEAN_ZAPO_ENV, NO_COLOR: undefined, FORCE_COLOR: undefined, ...env }
        })
        await term.waitFor(/^WALKED$/m, 'the end of the walk', 120_000)
        return { joined: term.history({ joined: true }), escapes: term.history({ escapes: true }) }
    }

    test('with colour: nothing wider than the terminal, no stack trace', async t => {
        if (!tmuxAvailable()) return t.skip(TMUX_MISSING)
        const { joined } = await walk(t, { TERM: 'xterm-256color' })
        assert.deepEqual(overlong(joined.join('\n')), [], 'zapo wrapped every line itself')
        assert.doesNotMatch(joined.join('\n'), STACK)
        const exits = joined.filter(l => /^EXIT=\d+$/.test(l)).map(l => Number(l.slice(5)))
        assert.deepEqual(exits, [...COMMANDS.map(() => 0), ...MISTAKES.map(([, code]) => code)])
    })

    for (const env of [{ TERM: 'xterm-256color', NO_COLOR: '1' }, { TERM: 'dumb' }]) {
        test(`${Object.entries(env)
            .map(([k, v]) => `${k}=${v}`)
            .join(' ')}: no escape code at all`, async t => {
            if (!tmuxAvailable()) return t.skip(TMUX_MISSING)
            const { escapes, joined } = await walk(t, env)
            assert.deepEqual(
                escapes.filter(l => ESC.test(l)),
                [],
                'no colour and no cursor movement'
            )
            assert.deepEqual(overlong(joined.join('\n')), [])
        })
    }
})

describe('help examples run as pasted (offline, a SQLite store in the working directory)', () => {
    /** A directory with `zapo` on PATH (the built binary), for shell lines as a user types them. */
    function shellIn(t) {
        const cwd = tempDir(t)
        const bin = join(cwd, '.bin')
        mkdirSync(bin)
        writeFileSync(
            join(bin, 'zapo'),
            `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(ZAPO_BIN)} "$@"\n`
        )
        chmodSync(join(bin, 'zapo'), 0o755)
        const env = {
            ...process.env,
            NO_COLOR: '1',
            COLUMNS: '80',
            PATH: `${bin}:${process.env.PATH}`
        }
        for (const [key, value] of Object.entries(CLEAN_ZAPO_ENV))
            if (value === undefined) delete env[key]
        const sh = line =>
            spawnSync('sh', ['-c', line], { cwd, env, encoding: 'utf8', timeout: 90_000 })
        return { cwd, sh }
    }

    async function helpExamples(command) {
        const result = await runZapo([...command, '--help'], { env: env80 })
        return examplesOf(result.stdout)
    }

    test('zapo --help: pair in the sandbox, list, check, one command', async t => {
        const { sh } = shellIn(t)
        const examples = await helpExamples([])
        assert.ok(examples.length >= 4)
        for (const line of examples) {
            const r = sh(line)
            assert.equal(r.status, 0, `${line}\n${r.stderr}`)
            assert.doesNotMatch(r.stderr, STACK)
        }
        assert.match(sh('zapo sessions list -q').stdout, /^demo$/m)
    })

    test('sessions list, creds show, check, doctor, exit-codes: every offline example', async t => {
        const { cwd, sh } = shellIn(t)
        const store = await openTestStore(`sqlite:${join(cwd, 'zapo.sqlite')}`, 'write')
        await makeSession(store, 'tenant-42', { preKeys: 60, uploaded: 30 })
        await store.close()
        const safe = line => !/--store (postgres|redis)|--reveal|--connect|--shard/.test(line)
        const ran = []
        for (const command of [
            ['sessions', 'list'],
            ['creds', 'show'],
            ['check'],
            ['doctor'],
            ['exit-codes']
        ]) {
            for (const line of (await helpExamples(command)).filter(safe)) {
                const r = sh(line)
                assert.equal(r.status, 0, `${line}\n${r.stderr}`)
                assert.doesNotMatch(r.stderr, STACK)
                ran.push(line)
            }
        }
        assert.ok(ran.length >= 9, `ran ${ran.join('; ')}`)
        assert.match(
            sh("zapo sessions list | awk -F'\\t' '$2 == \"yes\" {print $1}'").stdout,
            /^tenant-42$/m
        )
    })
})
