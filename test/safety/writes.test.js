/**
 * Smaller writes and clearer lines (issue 11, item 7 and "wrong codes"): what a command leaves
 * on disk when it should leave nothing, one rule for missing directories, permission problems
 * said as such, and counts that agree between a migration's plan and its verification.
 */

import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import Database from 'better-sqlite3'
import { assertOneErrorLine } from '../helpers/cli-assert.js'
import { ENV, PASSPHRASE, seed } from '../helpers/export.js'
import { runZapo, ZAPO_BIN } from '../helpers/run.js'
import { LEAN_SHAPE } from '../helpers/shapes.js'

function tempDir(t, mode = 0o700) {
    const dir = mkdtempSync(join(tmpdir(), 'zapo-writes-'))
    chmodSync(dir, mode)
    t.after(() => rmSync(dir, { recursive: true, force: true }))
    return dir
}

const zapo = (args, cwd, env = {}) => runZapo(args, { cwd, env: { ...ENV, ...env } })

/** A SQLite store in WAL mode whose WAL was checkpointed and truncated away (as after a clean close). */
async function truncatedWalStore(dir, ids = ['s1']) {
    const file = join(dir, 'w.sqlite')
    await seed(`sqlite:${file}`, ids, LEAN_SHAPE)
    const db = new Database(file)
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal')
    db.pragma('wal_checkpoint(TRUNCATE)')
    db.close()
    assert.deepEqual(readdirSync(dir), ['w.sqlite'])
    return file
}

test('migrating a session the source does not hold creates no target file', async t => {
    const dir = tempDir(t)
    await seed(`sqlite:${join(dir, 's.sqlite')}`, ['s1'], LEAN_SHAPE)
    const result = await zapo(
        ['migrate', '--from', 'sqlite:s.sqlite', '--to', 'sqlite:t.sqlite', '--session', 'nosuch'],
        dir
    )
    assert.equal(result.code, 3, result.stderr)
    assert.equal(existsSync(join(dir, 't.sqlite')), false)
    const none = await zapo(
        [
            'migrate',
            '--from',
            'sqlite:s.sqlite',
            '--to',
            'sqlite:u.sqlite',
            '--all',
            '--skip-existing'
        ],
        dir
    )
    assert.equal(none.code, 0, none.stderr)
    await seed(`sqlite:${join(dir, 'e.sqlite')}`, [], LEAN_SHAPE)
    const empty = await zapo(
        ['migrate', '--from', 'sqlite:e.sqlite', '--to', 'sqlite:v.sqlite', '--all'],
        dir
    )
    assert.equal(empty.code, 0, empty.stderr)
    assert.equal(existsSync(join(dir, 'v.sqlite')), false, 'nothing to copy: no target file')
})

test('one rule for a missing directory: migrate --to and export -o refuse it (exit 2) and create nothing', async t => {
    const dir = tempDir(t)
    await seed(`sqlite:${join(dir, 's.sqlite')}`, ['s1'], LEAN_SHAPE)
    for (const args of [
        ['migrate', '--from', 'sqlite:s.sqlite', '--to', 'sqlite:new/dir/t.sqlite', '--all'],
        ['export', '--store', 'sqlite:s.sqlite', '--session', 's1', '-o', 'new/dir/s1.age'],
        ['pair', '--session', 'p1', '--store', 'sqlite:new/dir/p.sqlite', '--sandbox']
    ]) {
        const result = await zapo(args, dir, { ZAPO_PASSPHRASE: PASSPHRASE })
        assert.equal(result.code, 2, `${args[0]}: ${result.stderr}`)
        const last = result.stderr.trim().split('\n').at(-1)
        assert.match(
            last,
            /^zapo: cannot (create|write) .*: its directory does not exist; create it or choose another path$/
        )
        assert.equal(existsSync(join(dir, 'new')), false, `${args[0]} created the directory`)
    }
})

test('read-only commands on a truncated WAL database leave no -wal or -shm behind', async t => {
    const dir = tempDir(t)
    const file = await truncatedWalStore(dir)
    const url = `sqlite:${file}`
    for (const args of [
        ['sessions', 'list', '--store', url],
        ['creds', 'show', '--session', 's1', '--store', url],
        ['creds', 'show', '--session', 'nosuch', '--store', url],
        ['check', '--session', 's1', '--store', url],
        ['doctor', '--store', url],
        ['export', '--store', url, '--session', 's1', '-o', join(dir, 'x.age')],
        [
            'migrate',
            '--from',
            url,
            '--to',
            `sqlite:${join(dir, 'copy.sqlite')}`,
            '--all',
            '--dry-run'
        ]
    ]) {
        await zapo(args, dir, { ZAPO_PASSPHRASE: PASSPHRASE })
        const left = readdirSync(dir).filter(f => f.startsWith('w.sqlite-'))
        assert.deepEqual(left, [], `${args.slice(0, 2).join(' ')} left ${left.join(', ')}`)
        rmSync(join(dir, 'x.age'), { force: true })
    }
    // refused after a look inside (another application's table under a zapo name): nothing left
    const other = join(dir, 'other.sqlite')
    const db = new Database(other)
    db.pragma('journal_mode = WAL')
    db.exec('CREATE TABLE signal_prekey (id INTEGER, label TEXT)')
    db.pragma('wal_checkpoint(TRUNCATE)')
    db.close()
    const refused = await zapo(['sessions', 'list', '--store', other], dir)
    assert.equal(refused.code, 4, refused.stderr)
    assert.deepEqual(
        readdirSync(dir).filter(f => f.startsWith('other.sqlite-')),
        []
    )
})

/** Runs the built binary as nobody (root reads everything; a permission test needs another user). */
function asNobody(args, cwd) {
    const result = spawnSync(
        'setpriv',
        ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, ZAPO_BIN, ...args],
        { cwd, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', ZAPO_STORE: '' } }
    )
    return { code: result.status, stdout: result.stdout, stderr: result.stderr }
}

test('a SQLite file the user cannot read: "permission denied", exit 4, in every reading command', async t => {
    const dir = tempDir(t, 0o755)
    const file = join(dir, 'p.sqlite')
    await seed(`sqlite:${file}`, ['s1'], LEAN_SHAPE)
    chmodSync(file, 0o600)
    for (const args of [
        ['sessions', 'list', '--store', file],
        ['creds', 'show', '--session', 's1', '--store', file],
        ['doctor', '--store', file]
    ]) {
        const result = asNobody(args, dir)
        assert.equal(result.code, 4, `${args[0]}: ${result.stderr}`)
        // doctor reports its checks on stdout
        const said = result.stdout + result.stderr
        assert.match(said, /cannot read .*p\.sqlite: permission denied/)
        assert.doesNotMatch(said, /not a SQLite database/)
        if (args[0] !== 'doctor') assertOneErrorLine(result)
    }
})

test('a readable WAL database in a directory the user cannot write is still read, and nothing is written', async t => {
    const dir = tempDir(t, 0o755)
    const file = await truncatedWalStore(dir, ['s1', 's2'])
    chmodSync(file, 0o644)
    const list = asNobody(['sessions', 'list', '--json', '--store', file], dir)
    assert.equal(list.code, 0, list.stderr)
    assert.deepEqual(
        JSON.parse(list.stdout).sessions.map(s => s.id),
        ['s1', 's2']
    )
    const creds = asNobody(['creds', 'show', '--session', 's1', '--json', '--store', file], dir)
    assert.equal(creds.code, 0, creds.stderr)
    assert.deepEqual(readdirSync(dir), ['w.sqlite'])
})

test('--delete-source that deletes nothing says so', async t => {
    const dir = tempDir(t)
    await seed(`sqlite:${join(dir, 's.sqlite')}`, ['d1'], LEAN_SHAPE)
    const args = [
        'migrate',
        '--from',
        'sqlite:s.sqlite',
        '--to',
        'sqlite:t.sqlite',
        '--all',
        '--delete-source'
    ]
    const first = await zapo(args, dir)
    assert.equal(first.code, 0, first.stderr)
    assert.match(first.stdout, /, 1 deleted from the source \(\d+ records\)/)
    const again = await zapo([...args.slice(0, 5), '--session', 'd1', '--delete-source'], dir)
    assert.equal(again.code, 0, again.stderr)
    assert.match(again.stdout, /nothing deleted from the source: d1 was moved by an earlier run/)
    assert.doesNotMatch(again.stdout, /\d+ deleted from the source/)
})

test('the migrate plan and the verification count the same records', async t => {
    const dir = tempDir(t)
    await seed(`sqlite:${join(dir, 's.sqlite')}`, ['c1'], { preKeys: 40, uploaded: 10 })
    const args = [
        'migrate',
        '--from',
        'sqlite:s.sqlite',
        '--to',
        'sqlite:t.sqlite',
        '--all',
        '--json'
    ]
    const plan = JSON.parse((await zapo([...args, '--dry-run'], dir)).stdout)
    const done = JSON.parse((await zapo(args, dir)).stdout)
    const planned = plan.sessions[0].records
    const verified = Object.fromEntries(
        Object.entries(done.sessions[0].digests).map(([domain, d]) => [domain, d.count])
    )
    // the registration and the signed prekey; the rotation time is a property, not a record
    assert.equal(planned.signal, 2)
    for (const [domain, n] of Object.entries(planned)) {
        if (n === 0) continue
        assert.equal(verified[domain], n, `${domain}: plan ${n}, verification ${verified[domain]}`)
    }
    assert.equal(done.totals.copiedRecords, plan.recordsToCopy)
})

test('store addresses: an unknown ?table.<name> and a bare postgres:// are usage errors', async t => {
    const dir = tempDir(t)
    for (const store of [
        'sqlite:x.sqlite?table.bogus=other',
        'postgres://',
        'mysql://',
        'redis://'
    ]) {
        const result = await zapo(['sessions', 'list', '--store', store], dir)
        assert.equal(result.code, 2, `${store}: ${result.stderr}`)
        assertOneErrorLine(result, /unknown SQLite table "bogus"|names no server and no database/)
    }
})
