/**
 * Hostile input, every command, every backend (issue 11). One table: each case is a command
 * line a careless or malicious user could type, the exit code it must end with, and what its one
 * stderr line must say. Every case is run through the built CLI and asserts:
 *
 * - the exit code (from the one table in src/errors.ts);
 * - exactly one line on stderr (unless the case names the notice lines that may come first),
 *   starting `zapo: `, with no stack frame, no raw control character, no library jargon
 *   (driver codes, Node error codes, JS error class names), and at most LINE_MAX characters;
 * - with --json: one JSON error document on stdout carrying the same exit code;
 * - where the command must not write: a digest of every row and key of the group's store,
 *   identical before and after (test/helpers/store-digest.js).
 *
 * One seeded store per backend serves every case of its group; the cases of a group run a few
 * at a time. MongoDB runs only when MONGODB_URI is set (it says so otherwise).
 */

import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import {
    chmodSync,
    closeSync,
    openSync,
    writeSync,
    copyFileSync,
    existsSync,
    mkdirSync,
    mkdtempSync,
    readdirSync,
    readFileSync,
    rmSync,
    symlinkSync,
    writeFileSync
} from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'

import { corruptCredentials, dropStore, randomTag, storeUrls } from '../helpers/fixtures.js'
import { ENV, PASSPHRASE, seed } from '../helpers/export.js'
import { CLEAN_ZAPO_ENV, runZapo, ZAPO_BIN } from '../helpers/run.js'
import { LEAN_SHAPE } from '../helpers/shapes.js'
import { storeDigest } from '../helpers/store-digest.js'

const LINE_MAX = 600
const SHAPE = { ...LEAN_SHAPE, preKeys: 5, uploaded: 3 }
const ROOT_CA = `1:${Buffer.alloc(32, 7).toString('base64')}`
// nothing listens on port 9: a command that got as far as connecting would fail there
const NOWHERE = ['--server', 'ws://127.0.0.1:9/ws/chat', '--server-root-ca', ROOT_CA]
const HUGE = 'a'.repeat(10_000)
const ESC_ID = 'a\u001b[31mred\u0007'
const JARGON =
    /\bat \S+ \(|node:internal|\b(TypeError|RangeError|ReferenceError|SyntaxError)\b|\bSQLITE_[A-Z]+|\bER_[A-Z_]+|\bERR_[A-Z_]+|\bE(ACCES|NOENT|ISDIR|NOTDIR|LOOP|EXIST|NOSPC|PERM|CONNREFUSED|ADDRINUSE|NOTFOUND)\b|\[object Object\]|\bundefined\b|unexpected error/
// eslint-disable-next-line no-control-regex
const RAW_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f]/
// what a command that talks to a test server says first, on purpose (it is not WhatsApp)
const NOTICES = [/^(zapo: )?connecting to the test server \S+ \(not WhatsApp\)$/]
const AS_NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups']

const dir = mkdtempSync(join(tmpdir(), 'zapo-hostile-'))
chmodSync(dir, 0o755)
const env = { ...CLEAN_ZAPO_ENV, ...ENV }
const f = name => join(dir, name)

function canRunAsNobody() {
    try {
        execFileSync(AS_NOBODY[0], [...AS_NOBODY.slice(1), 'true'], { stdio: 'ignore' })
        return process.getuid?.() === 0
    } catch {
        return false
    }
}
const NOBODY = canRunAsNobody()

/** Runs zapo as the case says (as uid 65534 with `asNobody`). */
async function run(c, ctx) {
    const args = typeof c.args === 'function' ? c.args(ctx) : c.args
    const caseEnv = { ...env, ...(typeof c.env === 'function' ? c.env(ctx) : c.env) }
    const wrap = c.asNobody ? AS_NOBODY : []
    return runZapo(args, { cwd: dir, env: caseEnv, wrap, timeoutMs: 90_000 })
}

function check(c, result) {
    const where = `${c.name}\nexit ${result.code}\nstderr: ${result.stderr}\nstdout: ${result.stdout.slice(0, 500)}`
    assert.equal(result.code, c.code, where)
    const lines = result.stderr.split('\n').filter(Boolean)
    const allowed = [...NOTICES, ...(c.notices ?? [])]
    const notices = lines.filter(line => allowed.some(re => re.test(line)))
    const rest = lines.filter(line => !notices.includes(line))
    assert.equal(rest.length, 1, `exactly one error line: ${where}`)
    const line = rest[0]
    assert.match(line, /^zapo: /, where)
    if (c.line) assert.match(line, c.line, where)
    assert.ok(line.length <= LINE_MAX, `line of ${line.length} characters: ${where}`)
    assert.doesNotMatch(result.stderr, /\n\s+at /, `no stack frame: ${where}`)
    assert.doesNotMatch(line, JARGON, `no library jargon: ${where}`)
    assert.doesNotMatch(result.stderr, RAW_CONTROL, `no raw control character: ${where}`)
    if (c.json) {
        const doc = JSON.parse(result.stdout.trim().split('\n').at(-1))
        const error = doc.error ?? doc
        assert.equal(error.exitCode, c.code, where)
    }
}

/**
 * Runs a group: the store seeded once, its digest taken, every case run (a few at a time) and
 * the digest compared after each case that must not write.
 */
function group(name, { url, setup, skip, cases }) {
    describe(name, { concurrency: 3, skip }, () => {
        const ctx = {
            url,
            dir,
            f,
            get busyPort() {
                return busyPort
            }
        }
        let digest
        before(async () => {
            if (setup) await setup(ctx)
            digest = url ? await storeDigest(url) : null
        })
        // once every case has ended: not even a lease may be left behind
        after(async () => {
            if (url) assert.equal(await storeDigest(url), digest, `${name}: the store changed`)
        })
        // the SQLite store lives in the suite's directory, removed at the end
        if (url && !url.startsWith('sqlite:')) after(() => dropStore(url).catch(() => undefined))
        for (const c of cases) {
            test(c.name, async t => {
                // decided when the case runs: the suite's set-up mounts what some cases need
                const skip =
                    c.asNobody && !NOBODY ? 'needs root and setpriv' : (c.skip?.() ?? false)
                if (skip) {
                    t.skip(skip)
                    return
                }
                const result = await run(c, ctx)
                check(c, result)
                if (url && c.writes !== true)
                    assert.equal(
                        await storeDigest(url, { ignoreLeases: true }),
                        digest,
                        `${c.name}: the store changed`
                    )
                if (c.after) await c.after(ctx, result)
            })
        }
    })
}

// ---------------------------------------------------------------------------------------------
// files every group may use

const PASS = f('pass')
writeFileSync(PASS, `${PASSPHRASE}\n`, { mode: 0o600 })
writeFileSync(f('wrong-pass'), 'not the passphrase\n', { mode: 0o600 })
writeFileSync(f('empty-pass'), '', { mode: 0o600 })
writeFileSync(f('empty'), '')
writeFileSync(f('garbage.age'), 'this is not an age file\n')
writeFileSync(f('bad.json'), '{ "store": ')
writeFileSync(f('nul-session.json'), JSON.stringify({ session: 'a\u0000b' }))
writeFileSync(
    f('esc-store.json'),
    JSON.stringify({ store: `sqlite:./x\u001b]0;pwned\u0007.sqlite` })
)
mkdirSync(f('a-dir.sqlite'))
mkdirSync(f('a-dir.age'))
execFileSync('mkfifo', [f('fifo.sqlite')])
symlinkSync('loop.sqlite', f('loop.sqlite'))
writeFileSync(f('text.sqlite'), 'SQLite format 3? no.\n')
writeFileSync(f('empty.sqlite'), '')

const SQLITE = `sqlite:${f('main.sqlite')}`
const FULL_DISKS = ['full-export', 'full-import', 'full-migrate']
const mounted = []
const fullDisk = name => ({
    skip: () => (mounted.includes(f(name)) ? false : 'cannot mount a small tmpfs here')
})
const exportFile = f('alpha.age')
let busyPort = 0
const busy = createServer()

// what every group uses: the SQLite store and an export of its alpha, and files made from them
before(async () => {
    await new Promise(resolve => busy.listen(0, '127.0.0.1', resolve))
    busyPort = busy.address().port
    await seed(SQLITE, ['alpha', 'beta', 'gamma', 'bad'], SHAPE)
    await corruptCredentials(f('main.sqlite'), 'bad')
    const made = await runZapo(
        [
            '--store',
            SQLITE,
            'export',
            '--session',
            'alpha',
            '-o',
            exportFile,
            '--passphrase-file',
            PASS
        ],
        { cwd: dir, env, timeoutMs: 120_000 }
    )
    assert.equal(made.code, 0, made.stderr)
    const bytes = readFileSync(exportFile)
    writeFileSync(f('truncated.age'), bytes.subarray(0, Math.floor(bytes.length / 2)))
    writeFileSync(f('trunc.sqlite'), readFileSync(f('main.sqlite')).subarray(0, 6_000))
    symlinkSync(f('main.sqlite'), f('link.sqlite'))
    mkdirSync(f('ro'))
    chmodSync(f('ro'), 0o555)
    // a store only root can read, and one anybody can (for the cases run as another user)
    copyFileSync(f('main.sqlite'), f('private.sqlite'))
    chmodSync(f('private.sqlite'), 0o600)
    copyFileSync(f('main.sqlite'), f('public.sqlite'))
    chmodSync(f('public.sqlite'), 0o644)
    writeFileSync(f('public-pass'), `${PASSPHRASE}\n`, { mode: 0o644 })
    chmodSync(f('public-pass'), 0o644)
    // a WAL database with changes still in its -wal, in a directory only root can write
    mkdirSync(f('walro'))
    copyFileSync(f('main.sqlite'), f('walro/w.sqlite'))
    const { default: Database } = await import('better-sqlite3')
    const db = new Database(f('walro/w.sqlite'))
    db.pragma('journal_mode = WAL')
    db.pragma('wal_autocheckpoint = 0')
    db.exec('CREATE TABLE pending (x)')
    // copied while the connection is open: closing it would checkpoint the -wal away
    mkdirSync(f('walro-ro'))
    copyFileSync(f('walro/w.sqlite'), f('walro-ro/w.sqlite'))
    copyFileSync(f('walro/w.sqlite-wal'), f('walro-ro/w.sqlite-wal'))
    db.close()
    chmodSync(f('walro-ro/w.sqlite'), 0o644)
    chmodSync(f('walro-ro/w.sqlite-wal'), 0o644)
    chmodSync(f('walro-ro'), 0o555)
    // full disks: a 64 KiB tmpfs per case (root only; the cases are skipped where mount fails)
    for (const name of FULL_DISKS) {
        mkdirSync(f(name))
        try {
            execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', f(name)], {
                stdio: 'ignore'
            })
            mounted.push(f(name))
            // full: a filler grown until the file system refuses
            const fd = openSync(join(f(name), 'filler'), 'w')
            try {
                for (;;) writeSync(fd, Buffer.alloc(1024))
            } catch {
                // ENOSPC
            } finally {
                closeSync(fd)
            }
        } catch {
            // not allowed here
        }
    }
    // sources for the cases that write an id the target cannot keep apart
    await seed(`sqlite:${f('caps.sqlite')}`, ['BETA'], SHAPE)
    await seed(`sqlite:${f('nested.sqlite')}`, ['alpha:b'], SHAPE)
})
after(() => {
    for (const path of mounted) execFileSync('umount', [path], { stdio: 'ignore' })
    busy.close()
    rmSync(dir, { recursive: true, force: true })
})

const common = (label, more = {}) => [
    // ids: control characters, huge, path-like, glob-like
    {
        name: `${label} creds show: id with ESC and BEL`,
        args: c => ['--store', c.url, 'creds', 'show', '--session', ESC_ID],
        code: 2,
        line: /invalid session id "a\\e\[31mred\\x07"/
    },
    {
        name: `${label} creds show: id with a newline`,
        args: c => ['--store', c.url, 'creds', 'show', '--session', 'a\nzapo: fake line'],
        code: 2,
        line: /invalid session id "a\\nzapo: fake line"/
    },
    {
        name: `${label} creds show: 10,000-character id`,
        args: c => ['--store', c.url, 'creds', 'show', '--session', HUGE],
        code: 2,
        line: /characters left out/
    },
    {
        name: `${label} creds show: id ../etc/passwd`,
        args: c => ['--store', c.url, 'creds', 'show', '--session', '../etc/passwd'],
        code: 2,
        line: /invalid session id/
    },
    {
        name: `${label} creds show: id with *`,
        args: c => ['--store', c.url, 'creds', 'show', '--session', 'alpha*'],
        code: 2,
        line: /invalid session id/
    },
    {
        name: `${label} creds show: id with ?`,
        args: c => ['--store', c.url, 'creds', 'show', '--session', 'alph?'],
        code: 2,
        line: /invalid session id/
    },
    {
        name: `${label} creds show: id with %`,
        args: c => ['--store', c.url, 'creds', 'show', '--session', 'alpha%'],
        code: 2,
        line: /invalid session id/
    },
    {
        name: `${label} creds show: id with /`,
        args: c => ['--store', c.url, 'creds', 'show', '--session', 'a/b'],
        code: 2,
        line: /invalid session id/
    },
    {
        name: `${label} creds show: empty id`,
        args: c => ['--store', c.url, 'creds', 'show', '--session', ''],
        code: 2
    },
    {
        name: `${label} creds show: unknown session`,
        args: c => ['--store', c.url, 'creds', 'show', '--session', 'nobody-here'],
        code: 3,
        line: /no session "nobody-here"/
    },
    {
        name: `${label} creds show --json: unknown session`,
        args: c => ['--store', c.url, 'creds', 'show', '--session', 'nobody-here', '--json'],
        json: true,
        code: 3
    },
    {
        name: `${label} check: unknown session`,
        args: c => ['--store', c.url, 'check', '--session', 'nobody-here'],
        code: 3,
        line: /no credentials for session "nobody-here" in .*zapo sessions list --store/
    },
    {
        name: `${label} check: --min-prekeys -5`,
        args: c => ['--store', c.url, 'check', '--session', 'alpha', '--min-prekeys', '-5'],
        code: 2
    },
    {
        name: `${label} check: --max-signed-prekey-age forever`,
        args: c => [
            '--store',
            c.url,
            'check',
            '--session',
            'alpha',
            '--max-signed-prekey-age',
            'forever'
        ],
        code: 2
    },
    {
        name: `${label} export: unknown session, no file`,
        args: c => [
            '--store',
            c.url,
            'export',
            '--session',
            'nobody-here',
            '-o',
            f(`${label}-none.age`),
            '--passphrase-file',
            PASS
        ],
        code: 3,
        after: () => assert.equal(existsSync(f(`${label}-none.age`)), false)
    },
    {
        name: `${label} export: -o in a missing directory`,
        args: c => [
            '--store',
            c.url,
            'export',
            '--session',
            'alpha',
            '-o',
            f('missing-dir/x.age'),
            '--passphrase-file',
            PASS
        ],
        code: 2,
        line: /directory does not exist/
    },
    {
        name: `${label} export: -o a directory`,
        args: c => [
            '--store',
            c.url,
            'export',
            '--session',
            'alpha',
            '-o',
            f('a-dir.age'),
            '--passphrase-file',
            PASS,
            '--force'
        ],
        code: 2,
        line: /is a directory/
    },
    {
        name: `${label} export: -o a fifo`,
        args: c => [
            '--store',
            c.url,
            'export',
            '--session',
            'alpha',
            '-o',
            f('fifo.sqlite'),
            '--passphrase-file',
            PASS,
            '--force'
        ],
        code: 2,
        line: /not a regular file/
    },
    {
        name: `${label} export: -o a device`,
        args: c => [
            '--store',
            c.url,
            'export',
            '--session',
            'alpha',
            '-o',
            '/dev/full',
            '--passphrase-file',
            PASS,
            '--force'
        ],
        code: 2,
        line: /not a regular file/
    },
    {
        name: `${label} export: -o the passphrase file`,
        args: c => [
            '--store',
            c.url,
            'export',
            '--session',
            'alpha',
            '-o',
            PASS,
            '--passphrase-file',
            PASS,
            '--force'
        ],
        code: 2,
        line: /refusing to write/,
        after: () => assert.equal(readFileSync(PASS, 'utf8'), `${PASSPHRASE}\n`)
    },
    {
        name: `${label} export: empty passphrase file`,
        args: c => [
            '--store',
            c.url,
            'export',
            '--session',
            'alpha',
            '-o',
            f(`${label}-e.age`),
            '--passphrase-file',
            f('empty-pass')
        ],
        code: 2,
        line: /is empty/
    },
    {
        name: `${label} export: passphrase file is a directory`,
        args: c => [
            '--store',
            c.url,
            'export',
            '--session',
            'alpha',
            '-o',
            f(`${label}-e.age`),
            '--passphrase-file',
            f('a-dir.age')
        ],
        code: 2,
        line: /is a directory/
    },
    {
        name: `${label} export: missing passphrase file`,
        args: c => [
            '--store',
            c.url,
            'export',
            '--session',
            'alpha',
            '-o',
            f(`${label}-e.age`),
            '--passphrase-file',
            f('no-such-pass')
        ],
        code: 2,
        line: /does not exist/
    },
    {
        name: `${label} export: no passphrase without a TTY`,
        args: c => ['--store', c.url, 'export', '--session', 'alpha', '-o', f(`${label}-e.age`)],
        code: 2
    },
    {
        name: `${label} export: bad --recipient`,
        args: c => [
            '--store',
            c.url,
            'export',
            '--session',
            'alpha',
            '-o',
            f(`${label}-e.age`),
            '--recipient',
            'age1nope'
        ],
        code: 2
    },
    {
        name: `${label} export: unknown domain`,
        args: c => [
            '--store',
            c.url,
            'export',
            '--session',
            'alpha',
            '-o',
            f(`${label}-e.age`),
            '--passphrase-file',
            PASS,
            '--domains',
            'auth,bogus'
        ],
        code: 2
    },
    {
        name: `${label} import: wrong passphrase`,
        args: c => [
            '--store',
            c.url,
            'import',
            exportFile,
            '--passphrase-file',
            f('wrong-pass'),
            '--session',
            'fresh'
        ],
        code: 16
    },
    {
        name: `${label} import: truncated file`,
        args: c => [
            '--store',
            c.url,
            'import',
            f('truncated.age'),
            '--passphrase-file',
            PASS,
            '--session',
            'fresh'
        ],
        code: 17
    },
    {
        name: `${label} import: empty file`,
        args: c => ['--store', c.url, 'import', f('empty'), '--passphrase-file', PASS],
        code: 17
    },
    {
        name: `${label} import: not an age file`,
        args: c => ['--store', c.url, 'import', f('garbage.age'), '--passphrase-file', PASS],
        code: 17
    },
    {
        name: `${label} import: a directory`,
        args: c => ['--store', c.url, 'import', f('a-dir.age'), '--passphrase-file', PASS],
        code: 2,
        line: /is a directory/
    },
    {
        name: `${label} import: missing file`,
        args: c => ['--store', c.url, 'import', f('no-such.age'), '--passphrase-file', PASS],
        code: 2,
        line: /no such file/
    },
    {
        name: `${label} import: over an existing session`,
        args: c => ['--store', c.url, 'import', exportFile, '--passphrase-file', PASS],
        code: 7,
        notices: [/^warning: /]
    },
    {
        name: `${label} import: --session with ESC`,
        args: c => [
            '--store',
            c.url,
            'import',
            exportFile,
            '--passphrase-file',
            PASS,
            '--session',
            ESC_ID
        ],
        code: 2,
        line: /\\e\[31m/
    },
    {
        name: `${label} logs: unknown session`,
        args: c => [
            '--store',
            c.url,
            'logs',
            '--session',
            'nobody-here',
            '--timeout',
            '2s',
            ...NOWHERE
        ],
        code: 3
    },
    {
        name: `${label} logs: --session with ESC and BEL`,
        args: c => ['--store', c.url, 'logs', '--session', ESC_ID, '--timeout', '2s', ...NOWHERE],
        code: 2,
        line: /\\e\[31mred\\x07/
    },
    {
        name: `${label} logs: --session of 10,000 characters`,
        args: c => ['--store', c.url, 'logs', '--session', HUGE, '--timeout', '2s', ...NOWHERE],
        code: 2,
        line: /characters left out/
    },
    {
        name: `${label} logs: --session with a newline, --type with a screen clear`,
        args: c => [
            ...['--store', c.url, 'logs', '--session', 'alpha\nbeta'],
            ...['--type', 'message\u001b[2J', '--timeout', '2s', ...NOWHERE]
        ],
        code: 2,
        line: /\\(n|e)/
    },
    {
        name: `${label} logs: --timeout soon`,
        args: c => [
            '--store',
            c.url,
            'logs',
            '--session',
            'alpha',
            '--timeout',
            'soon',
            ...NOWHERE
        ],
        code: 2
    },
    {
        name: `${label} logs: --count -1`,
        args: c => ['--store', c.url, 'logs', '--session', 'alpha', '--count', '-1', ...NOWHERE],
        code: 2
    },
    {
        name: `${label} logout: without --yes and no TTY`,
        args: c => ['--store', c.url, 'logout', '--session', 'alpha', ...NOWHERE],
        code: 2,
        line: /--yes/
    },
    {
        name: `${label} logout: unknown session`,
        args: c => ['--store', c.url, 'logout', '--session', 'nobody-here', '--yes', ...NOWHERE],
        code: 3
    },
    {
        name: `${label} logout: refused port (gamma: a session no other case leases)`,
        args: c => ['--store', c.url, 'logout', '--session', 'gamma', '--yes', ...NOWHERE],
        code: 14,
        notices: [/^zapo: (connecting|logging out)/]
    },
    {
        name: `${label} pair: existing session without --force (beta: other cases lease alpha meanwhile)`,
        args: c => ['--store', c.url, 'pair', '--session', 'beta', ...NOWHERE],
        code: 7
    },
    {
        name: `${label} pair: --phone letters`,
        args: c => [
            '--store',
            c.url,
            'pair',
            '--session',
            'fresh',
            '--phone',
            'call-me',
            ...NOWHERE
        ],
        code: 2
    },
    {
        name: `${label} pair: --timeout 0`,
        args: c => ['--store', c.url, 'pair', '--session', 'fresh', '--timeout', '0', ...NOWHERE],
        code: 2
    },
    {
        name: `${label} pair: --server-root-ca junk`,
        args: c => [
            '--store',
            c.url,
            'pair',
            '--session',
            'fresh',
            '--server',
            'ws://127.0.0.1:9/ws/chat',
            '--server-root-ca',
            'junk'
        ],
        code: 2
    },
    {
        name: `${label} pair: --server not a URL`,
        args: c => [
            '--store',
            c.url,
            'pair',
            '--session',
            'fresh',
            '--server',
            'not a url',
            '--server-root-ca',
            ROOT_CA
        ],
        code: 2
    },
    {
        name: `${label} migrate: session the source does not hold`,
        args: c => [
            'migrate',
            '--from',
            c.url,
            '--to',
            `sqlite:${f(`${label}-mig.sqlite`)}`,
            '--session',
            'nobody-here'
        ],
        code: 3,
        notices: [/^migrating /],
        after: () => assert.equal(existsSync(f(`${label}-mig.sqlite`)), false)
    },
    {
        name: `${label} migrate: --batch-size 0`,
        args: c => [
            'migrate',
            '--from',
            c.url,
            '--to',
            `sqlite:${f(`${label}-mig.sqlite`)}`,
            '--all',
            '--batch-size',
            '0'
        ],
        code: 2
    },
    {
        // (neither flag means every session since issue 16; both at once is the usage error)
        name: `${label} migrate: --session and --all together`,
        args: c => [
            'migrate',
            '--from',
            c.url,
            '--to',
            `sqlite:${f(`${label}-mig.sqlite`)}`,
            '--all',
            '--session',
            'nobody'
        ],
        code: 2
    },
    ...(more.cases ?? [])
]

// ---------------------------------------------------------------------------------------------

group('sqlite', {
    url: SQLITE,
    cases: [
        ...common('sqlite'),
        {
            name: 'sqlite creds show: undecodable credentials are 5',
            args: ['--store', SQLITE, 'creds', 'show', '--session', 'bad'],
            code: 5,
            line: /do not decode/
        },
        {
            name: 'sqlite export: undecodable credentials are 5',
            args: [
                '--store',
                SQLITE,
                'export',
                '--session',
                'bad',
                '-o',
                f('bad.age'),
                '--passphrase-file',
                PASS
            ],
            code: 5,
            after: () => assert.equal(existsSync(f('bad.age')), false)
        },
        {
            name: 'sqlite logs: undecodable credentials are 5',
            args: ['--store', SQLITE, 'logs', '--session', 'bad', '--timeout', '2s', ...NOWHERE],
            code: 5
        },
        {
            name: 'sqlite logout: undecodable credentials are 5',
            args: ['--store', SQLITE, 'logout', '--session', 'bad', '--yes', ...NOWHERE],
            code: 5
        },
        {
            name: 'sqlite migrate: undecodable credentials are 5',
            args: [
                'migrate',
                '--from',
                SQLITE,
                '--to',
                `sqlite:${f('bad-mig.sqlite')}`,
                '--session',
                'bad'
            ],
            code: 5,
            notices: [/^migrating /]
        },
        {
            name: 'sqlite export: -o the store itself',
            args: [
                '--store',
                SQLITE,
                'export',
                '--session',
                'alpha',
                '-o',
                f('main.sqlite'),
                '--passphrase-file',
                PASS,
                '--force'
            ],
            code: 2,
            line: /refusing to write/
        },
        {
            name: 'sqlite export: -o the store through a symlink',
            args: [
                '--store',
                SQLITE,
                'export',
                '--session',
                'alpha',
                '-o',
                f('link.sqlite'),
                '--passphrase-file',
                PASS,
                '--force'
            ],
            code: 2,
            line: /refusing to write/
        },
        {
            name: 'sqlite export: -o the store -wal',
            args: [
                '--store',
                SQLITE,
                'export',
                '--session',
                'alpha',
                '-o',
                `${f('main.sqlite')}-wal`,
                '--passphrase-file',
                PASS,
                '--force'
            ],
            code: 2,
            line: /refusing to write/
        },
        {
            name: 'sqlite migrate: the same file spelled ./',
            args: [
                'migrate',
                '--from',
                SQLITE,
                '--to',
                `sqlite:${dir}/./main.sqlite`,
                '--session',
                'alpha',
                '--overwrite'
            ],
            code: 2,
            line: /same store/
        },
        {
            name: 'sqlite migrate: the same file spelled //',
            args: [
                'migrate',
                '--from',
                SQLITE,
                '--to',
                `sqlite:${dir}//main.sqlite`,
                '--all',
                '--overwrite'
            ],
            code: 2,
            line: /same store/
        },
        {
            name: 'sqlite migrate: the same file through a symlink',
            args: [
                'migrate',
                '--from',
                SQLITE,
                '--to',
                `sqlite:${f('link.sqlite')}`,
                '--all',
                '--skip-existing'
            ],
            code: 2,
            line: /same store/
        },
        {
            name: 'sqlite store: a directory',
            args: ['--store', `sqlite:${f('a-dir.sqlite')}`, 'sessions', 'list'],
            code: 4,
            line: /not a file/
        },
        {
            name: 'sqlite store: a fifo',
            args: ['--store', `sqlite:${f('fifo.sqlite')}`, 'sessions', 'list'],
            code: 4,
            line: /not a file/
        },
        {
            name: 'sqlite store: a symlink loop',
            args: ['--store', `sqlite:${f('loop.sqlite')}`, 'sessions', 'list'],
            code: 4,
            line: /symlink loop/
        },
        {
            name: 'sqlite store: a path through a file',
            args: [
                '--store',
                `sqlite:${f('main.sqlite')}/x.sqlite`,
                'creds',
                'show',
                '--session',
                'alpha'
            ],
            code: 4,
            line: /not a directory/
        },
        {
            name: 'sqlite store: not a database',
            args: ['--store', `sqlite:${f('text.sqlite')}`, 'sessions', 'list'],
            code: 4,
            line: /not a SQLite database/
        },
        {
            name: 'sqlite store: truncated database',
            args: c => [
                '--store',
                `sqlite:${f('trunc.sqlite')}`,
                'creds',
                'show',
                '--session',
                'alpha'
            ],
            code: 4,
            line: /not a SQLite database/
        },
        {
            name: 'sqlite store: empty file holds no session',
            args: ['--store', `sqlite:${f('empty.sqlite')}`, 'creds', 'show', '--session', 'alpha'],
            code: 3
        },
        {
            name: 'sqlite store: missing file for a reading command',
            args: ['--store', `sqlite:${f('none.sqlite')}`, 'creds', 'show', '--session', 'alpha'],
            code: 3,
            after: () => assert.equal(existsSync(f('none.sqlite')), false)
        },
        {
            name: 'sqlite store: a control character in the path',
            args: ['--store', `sqlite:${dir}/x\u001b[2J.sqlite`, 'sessions', 'list'],
            code: 3,
            line: /x\\e\[2J\.sqlite/
        },
        {
            name: 'sqlite store: ?table.<unknown>',
            args: ['--store', `${SQLITE}?table.bogus=x`, 'sessions', 'list'],
            code: 2,
            line: /unknown SQLite table "bogus"/
        },
        {
            name: 'sqlite store: unreadable file (another user)',
            asNobody: true,
            args: [
                '--store',
                `sqlite:${f('private.sqlite')}`,
                'creds',
                'show',
                '--session',
                'alpha'
            ],
            code: 4,
            line: /permission denied/
        },
        {
            name: 'sqlite pair: a store in a directory the user cannot write',
            asNobody: true,
            args: [
                '--store',
                `sqlite:${f('ro')}/new.sqlite`,
                'pair',
                '--session',
                'fresh',
                ...NOWHERE
            ],
            code: 4,
            line: /cannot write .*: permission denied/
        },
        {
            name: 'sqlite export: -o in a directory the user cannot write',
            asNobody: true,
            args: [
                '--store',
                `sqlite:${f('public.sqlite')}`,
                'export',
                '--session',
                'alpha',
                '-o',
                `${f('ro')}/x.age`,
                '--passphrase-file',
                f('public-pass')
            ],
            code: 2,
            line: /permission denied/,
            notices: [/^warning: passphrase file/]
        },
        {
            name: 'sqlite store: WAL changes pending in a directory the user cannot write',
            asNobody: true,
            args: ['--store', `sqlite:${f('walro-ro/w.sqlite')}`, 'sessions', 'list'],
            code: 4,
            line: /WAL database with changes still in its -wal/,
            after: () =>
                assert.deepEqual(readdirSync(f('walro-ro')).sort(), ['w.sqlite', 'w.sqlite-wal'])
        },
        {
            name: 'disk full: export -o',
            ...fullDisk('full-export'),
            args: [
                '--store',
                SQLITE,
                'export',
                '--session',
                'alpha',
                '-o',
                f('full-export/x.age'),
                '--passphrase-file',
                PASS
            ],
            code: 2,
            line: /no space left on the device/,
            after: () => assert.deepEqual(readdirSync(f('full-export')), ['filler'])
        },
        {
            name: 'disk full: import into a new SQLite store',
            ...fullDisk('full-import'),
            args: [
                '--store',
                `sqlite:${f('full-import/p.sqlite')}`,
                'import',
                exportFile,
                '--passphrase-file',
                PASS
            ],
            code: 4,
            line: /the disk is full/,
            after: () => assert.deepEqual(readdirSync(f('full-import')), ['filler'])
        },
        {
            name: 'disk full: migrate into a new SQLite store',
            ...fullDisk('full-migrate'),
            args: [
                'migrate',
                '--from',
                SQLITE,
                '--to',
                `sqlite:${f('full-migrate/m.sqlite')}`,
                '--all'
            ],
            code: 4,
            line: /the disk is full/,
            notices: [/^migrating /]
        },
        {
            name: 'config: not JSON',
            args: ['--config', f('bad.json'), 'sessions', 'list'],
            code: 2,
            line: /not valid JSON/
        },
        {
            name: 'config: named but missing',
            args: ['--config', f('no-such.json'), 'sessions', 'list'],
            code: 2,
            line: /no such file/
        },
        {
            name: 'config: a directory',
            args: ['--config', f('a-dir.age'), 'sessions', 'list'],
            code: 2,
            line: /is a directory/
        },
        {
            name: 'config: a session id with NUL',
            args: ['--config', f('nul-session.json'), '--store', SQLITE, 'creds', 'show'],
            code: 2,
            line: /\\x00/
        },
        {
            name: 'config: a store path with an OSC sequence',
            args: ['--config', f('esc-store.json'), 'sessions', 'list'],
            code: 3,
            line: /\\e\]0;pwned\\x07/
        },
        {
            name: 'ZAPO_STORE: an unknown scheme',
            args: ['sessions', 'list'],
            env: { ZAPO_STORE: 'ftp://example.com/x' },
            code: 2,
            line: /unknown store scheme/
        },
        {
            name: 'cli: unknown option with ESC',
            args: ['sessions', 'list', '--x\u001b[1m'],
            code: 2,
            line: /unknown option '--x\\e\[1m'/
        },
        { name: 'cli: unknown command', args: ['frobnicate'], code: 2, line: /unknown command/ },
        {
            name: 'cli: --json usage error',
            args: ['creds', 'show', '--sesion', 'x', '--json'],
            code: 2,
            json: true
        },
        {
            name: 'sandbox: --port busy',
            args: c => ['sandbox', '--port', String(c.busyPort)],
            code: 2,
            line: /in use|busy/
        },
        { name: 'sandbox: --port 99999', args: ['sandbox', '--port', '99999'], code: 2 },
        { name: 'sandbox: --port abc', args: ['sandbox', '--port', 'abc'], code: 2 },
        {
            name: 'sandbox: --host unresolvable',
            args: ['sandbox', '--host', 'no-such-host.invalid'],
            code: 2
        },
        {
            name: 'sandbox --json: --port busy',
            args: c => ['sandbox', '--json', '--port', String(c.busyPort)],
            json: true,
            code: 2
        }
    ]
})

/** A seeded server store: alpha and beta, and an export of alpha (the file the SQLite group made). */
async function seedServer(url) {
    await dropStore(url).catch(() => undefined)
    await seed(url, ['alpha', 'beta', 'gamma'], SHAPE)
}

/** The same server spelled with `localhost` instead of 127.0.0.1. */
const viaLocalhost = url => url.replace('127.0.0.1', 'localhost')

const urls = storeUrls(randomTag())

/** One condition, one exit code: a store nobody listens for is 4 in every command. */
const REFUSED = 'postgres://127.0.0.1:1/test'
const unreachableEverywhere = [
    ['creds', 'show', '--session', 'alpha'],
    ['check', '--session', 'alpha'],
    ['export', '--session', 'alpha', '-o', f('unreachable.age'), '--passphrase-file', PASS],
    ['import', exportFile, '--passphrase-file', PASS],
    ['logs', '--session', 'alpha', ...NOWHERE],
    ['logout', '--session', 'alpha', '--yes', ...NOWHERE],
    ['pair', '--session', 'alpha', ...NOWHERE]
].map(args => ({
    name: `unreachable store: ${args.slice(0, 2).join(' ')} exits 4`,
    args: ['--store', REFUSED, ...args],
    code: 4,
    line: /connection refused/
}))

group('postgres', {
    url: urls.postgres,
    setup: () => seedServer(urls.postgres),
    cases: [
        ...common('postgres'),
        ...unreachableEverywhere,
        {
            name: 'unreachable store: migrate --from exits 4',
            args: [
                'migrate',
                '--from',
                REFUSED,
                '--to',
                `sqlite:${f('unreachable.sqlite')}`,
                '--all'
            ],
            code: 4,
            line: /connection refused/
        },
        {
            name: 'unreachable store: migrate --to exits 4',
            args: ['migrate', '--from', SQLITE, '--to', REFUSED, '--all'],
            code: 4,
            line: /connection refused/
        },
        {
            name: 'postgres store: postgres:// alone',
            args: ['--store', 'postgres://', 'sessions', 'list'],
            code: 2,
            line: /names no server/
        },
        {
            name: 'postgres store: refused port',
            args: ['--store', 'postgres://127.0.0.1:1/test', 'sessions', 'list'],
            code: 4,
            line: /connection refused/
        },
        {
            name: 'postgres store: port 70000',
            args: ['--store', 'postgres://127.0.0.1:70000/test', 'sessions', 'list'],
            code: 2,
            line: /malformed store URL/
        },
        {
            name: 'postgres store: no such database',
            args: [
                '--store',
                `postgres://127.0.0.1/zapo_hostile_${randomTag()}`,
                'sessions',
                'list'
            ],
            code: 4,
            line: /no such database/
        },
        {
            name: 'postgres store: password shown redacted',
            args: ['--store', 'postgres://u:s3cret@127.0.0.1:1/test', 'sessions', 'list'],
            code: 4,
            line: /u:\*\*\*@/,
            after: (_c, r) => assert.doesNotMatch(r.stderr + r.stdout, /s3cret/)
        },
        {
            name: 'postgres store: tablePrefix with a quote',
            args: ['--store', "postgres://127.0.0.1/test?tablePrefix=a';drop", 'sessions', 'list'],
            code: 2,
            line: /only contain letters/
        },
        {
            name: 'postgres store: keyPrefix',
            args: ['--store', 'postgres://127.0.0.1/test?keyPrefix=x', 'sessions', 'list'],
            code: 2,
            line: /does not apply/
        },
        {
            name: 'postgres store: ?table.<name>',
            args: [
                '--store',
                'postgres://127.0.0.1/test?table.auth_credentials=x',
                'sessions',
                'list'
            ],
            code: 2,
            line: /does not apply/
        },
        {
            name: 'postgres migrate: the same store as localhost',
            args: c => [
                'migrate',
                '--from',
                c.url,
                '--to',
                viaLocalhost(c.url),
                '--all',
                '--overwrite'
            ],
            code: 2,
            line: /same store/
        }
    ]
})

group('mysql', {
    url: urls.mysql,
    setup: () => seedServer(urls.mysql),
    cases: [
        ...common('mysql'),
        {
            name: 'mysql store: mysql:// alone',
            args: ['--store', 'mysql://', 'sessions', 'list'],
            code: 2,
            line: /names no server/
        },
        {
            name: 'mysql store: refused port',
            args: ['--store', 'mysql://root@127.0.0.1:1/test', 'sessions', 'list'],
            code: 4,
            line: /connection refused/
        },
        {
            name: 'mysql store: wrong password',
            args: ['--store', 'mysql://root:wrong@127.0.0.1/test', 'sessions', 'list'],
            code: 4,
            line: /rejected the credentials/
        },
        {
            name: 'mysql store: collectionPrefix',
            args: ['--store', 'mysql://root@127.0.0.1/test?collectionPrefix=x', 'sessions', 'list'],
            code: 2,
            line: /does not apply/
        },
        {
            name: 'mysql migrate: the same store as mariadb://',
            args: c => [
                'migrate',
                '--from',
                c.url,
                '--to',
                c.url.replace('mysql://', 'mariadb://'),
                '--all',
                '--overwrite'
            ],
            code: 2,
            line: /same store/
        },
        {
            name: 'mysql pair: ALPHA, equal to alpha under the collation',
            args: c => ['--store', c.url, 'pair', '--session', 'ALPHA', '--force', ...NOWHERE],
            code: 2,
            line: /collation/
        },
        {
            name: 'mysql import --force: Alpha, equal to alpha under the collation',
            args: c => [
                '--store',
                c.url,
                'import',
                exportFile,
                '--passphrase-file',
                PASS,
                '--session',
                'Alpha',
                '--force'
            ],
            code: 2,
            line: /collation/,
            notices: [/^warning: /]
        },
        {
            name: 'mysql migrate --overwrite: BETA from another store',
            args: c => [
                'migrate',
                '--from',
                `sqlite:${f('caps.sqlite')}`,
                '--to',
                c.url,
                '--session',
                'BETA',
                '--overwrite'
            ],
            code: 2,
            line: /collation/,
            notices: [/^migrating /]
        }
    ]
})

group('redis', {
    url: urls.redis,
    setup: () => seedServer(urls.redis),
    cases: [
        ...common('redis'),
        {
            name: 'redis store: db 99',
            args: ['--store', 'redis://127.0.0.1:6379/99', 'sessions', 'list'],
            code: 2,
            line: /databases 0-15/
        },
        {
            name: 'redis store: db -1',
            args: ['--store', 'redis://127.0.0.1:6379/-1', 'sessions', 'list'],
            code: 2
        },
        {
            name: 'redis store: db 16',
            args: ['--store', 'redis://127.0.0.1:6379/16', 'sessions', 'list'],
            code: 2,
            line: /databases 0-15/
        },
        {
            name: 'redis store: db abc',
            args: ['--store', 'redis://127.0.0.1:6379/abc', 'sessions', 'list'],
            code: 2,
            line: /not a database number/
        },
        {
            name: 'redis store: refused port',
            args: ['--store', 'redis://127.0.0.1:1', 'sessions', 'list'],
            code: 4,
            line: /connection refused/
        },
        {
            name: 'redis store: tablePrefix',
            args: ['--store', 'redis://127.0.0.1:6379?tablePrefix=x', 'sessions', 'list'],
            code: 2,
            line: /does not apply/
        },
        {
            // the server needs none: ioredis's own "[WARN] …" line must not reach stderr
            name: 'redis store: a password the server does not need',
            args: c => [
                '--store',
                c.url.replace('redis://', 'redis://:nope@'),
                ...['creds', 'show', '--session', 'nobody-here']
            ],
            code: 3
        },
        {
            name: 'redis import: alpha:idx (a layout word) is refused',
            args: c => [
                '--store',
                c.url,
                'import',
                exportFile,
                '--passphrase-file',
                PASS,
                '--session',
                'alpha:idx'
            ],
            code: 2,
            notices: [/^warning: /]
        },
        {
            name: 'redis import: alpha:x nests in alpha',
            args: c => [
                '--store',
                c.url,
                'import',
                exportFile,
                '--passphrase-file',
                PASS,
                '--session',
                'alpha:x'
            ],
            code: 2,
            notices: [/^warning: /]
        },
        {
            name: 'redis pair: alpha:noise_priv_key',
            args: c => ['--store', c.url, 'pair', '--session', 'alpha:noise_priv_key', ...NOWHERE],
            code: 2
        },
        {
            name: 'redis migrate: a:b into a store holding a',
            args: c => [
                'migrate',
                '--from',
                `sqlite:${f('nested.sqlite')}`,
                '--to',
                c.url,
                '--session',
                'alpha:b'
            ],
            code: 2,
            notices: [/^migrating /]
        },
        {
            name: 'redis migrate: the same store as localhost',
            args: c => [
                'migrate',
                '--from',
                c.url,
                '--to',
                viaLocalhost(c.url),
                '--all',
                '--overwrite'
            ],
            code: 2,
            line: /same store/
        }
    ]
})

group('mongo', {
    url: urls.mongo,
    skip: urls.mongo === undefined ? 'MONGODB_URI is not set: no MongoDB server here' : false,
    setup: () => seedServer(urls.mongo),
    cases: common('mongo')
})

/*
 * The new surfaces of issue 13: what `zapo sandbox` reads on its standard input (QR strings,
 * pairing codes, `zapo pair --json` lines) and the pair wizard's prompts. Each hostile line must
 * leave the sandbox running and answering, echo nothing raw, and end with no stack frame.
 */
describe('sandbox stdin scanner', { concurrency: 2 }, () => {
    // a seeded garbage generator: the same bytes every run
    const garbage = (n, seed = 7) => {
        const out = Buffer.alloc(n)
        for (let i = 0, x = seed; i < n; i++) out[i] = x = (x * 1_103_515_245 + 12_345) & 0xff
        return out
    }
    const OTHER_SERVER_QR = `2@${'A'.repeat(44)},${Buffer.alloc(32, 1).toString('base64')},${Buffer.alloc(32, 2).toString('base64')},${Buffer.alloc(32, 3).toString('base64')},1`
    const INPUTS = [
        ['binary garbage', garbage(4096)],
        ['a line of 1 MB', Buffer.from('x,'.repeat(512 * 1024) + '\n')],
        ['NUL bytes', Buffer.from('ab\u0000cd,\u0000,e,f\n\u0000\u0000\u0000\n')],
        [
            'ANSI escapes in a pasted line',
            Buffer.from('\u001b[2J\u001b[H\u001b]0;owned\u0007a\u001b[31m,b,c,d\n\u001b[6n\n')
        ],
        [
            'ANSI escapes in a pair --json line',
            Buffer.from('{"event":"qr","qr":"\\u001b[2J,b,c,d"}\n')
        ],
        [
            'invalid UTF-8',
            Buffer.from([0xff, 0xfe, 0x2c, 0xc3, 0x2c, 0x80, 0x2c, 0xed, 0xa0, 0x80, 0x0a])
        ],
        ['a QR string for a different server', Buffer.from(`${OTHER_SERVER_QR}\n`)],
        ['the same pairing code twice', Buffer.from('ABCD-EFGH\nABCD-EFGH\n')]
    ]
    for (const json of [false, true]) {
        for (const [name, bytes] of INPUTS) {
            test(`${json ? '--json: ' : ''}${name}`, async () => {
                const child = spawn(
                    process.execPath,
                    [ZAPO_BIN, 'sandbox', '--port', '0', ...(json ? ['--json'] : [])],
                    {
                        cwd: tmpdir(),
                        env: { ...process.env, ...env, NO_COLOR: '1', COLUMNS: '80' }
                    }
                )
                let stdout = ''
                let stderr = ''
                child.stdout.on('data', d => (stdout += d))
                child.stderr.on('data', d => (stderr += d))
                const exited = new Promise(resolve => child.on('exit', code => resolve(code)))
                const deadline = Date.now() + 30_000
                const controlUrl = () => /(http:\/\/127\.0\.0\.1:\d+)/.exec(stdout)?.[1] ?? null
                while (controlUrl() === null && Date.now() < deadline)
                    await new Promise(r => setTimeout(r, 50))
                assert.ok(controlUrl(), `the sandbox started: ${stderr}`)
                child.stdin.write(bytes)
                await new Promise(r => setTimeout(r, 1_000))
                // still running, and its control API still answers
                assert.equal(child.exitCode, null, `still running: ${stderr}`)
                const answer = await fetch(`${controlUrl()}/devices`)
                assert.equal(answer.status, 200)
                child.kill('SIGINT')
                assert.equal(await exited, 0, stderr)
                assert.doesNotMatch(stderr, /\n\s+at /, 'no stack frame')
                assert.doesNotMatch(stderr + stdout, RAW_CONTROL, `nothing echoed raw: ${stderr}`)
                assert.ok(stderr.length < 20_000, 'a 1 MB line is not echoed')
                if (json) for (const line of stdout.split('\n').filter(Boolean)) JSON.parse(line)
            })
        }
    }
})

describe('pair wizard: Ctrl-D (end of input) at each prompt', { concurrency: 1 }, () => {
    // each step: the keys that reach the prompt, then what the prompt asks
    const STEPS = [
        ['session id', [], /Session id for the new device/],
        ['method', ['Enter'], /How do you want to link|QR code|pairing code/i],
        ['replace it?', ['C-u', 'alpha', 'Enter'], /Replace it\?/]
    ]
    for (const [name, keys, prompt] of STEPS) {
        test(`at the ${name} prompt → 130, one line, nothing written`, async t => {
            const { openTerminal, tmuxAvailable, zapoCommand, TMUX_MISSING } =
                await import('../helpers/tmux.js')
            if (!tmuxAvailable()) return t.skip(TMUX_MISSING)
            const cwd = mkdtempSync(join(tmpdir(), 'zapo-eof-'))
            t.after(() => rmSync(cwd, { recursive: true, force: true }))
            const { makeSession, openTestStore } = await import('../helpers/fixtures.js')
            const seeded = await openTestStore(`sqlite:${join(cwd, 'zapo.sqlite')}`, 'write')
            await makeSession(seeded, 'alpha', SHAPE)
            await seeded.close()
            const before = await storeDigest(`sqlite:${join(cwd, 'zapo.sqlite')}`)
            const term = openTerminal(t, {
                cwd,
                columns: 80,
                rows: 24,
                env: { ...env, NO_COLOR: '1' }
            })
            term.run(`${zapoCommand(['pair'])} 2>err.txt`)
            await term.waitFor(/Session id for the new device/, 'the first prompt')
            for (const key of keys)
                key.length > 3 && !/^C-/.test(key) && key !== 'Enter'
                    ? term.type(key)
                    : term.keys(key)
            await term.waitFor(prompt, `the ${name} prompt`)
            term.keys('C-d')
            assert.equal(await term.exitCode({ timeoutMs: 20_000 }), 130, term.history())
            const err = readFileSync(join(cwd, 'err.txt'), 'utf8')
            assert.match(err, /^zapo: no answer: the input ended \(Ctrl-D\)/m)
            assert.doesNotMatch(err, /\n\s+at /)
            assert.equal(await storeDigest(`sqlite:${join(cwd, 'zapo.sqlite')}`), before)
        })
    }
})
