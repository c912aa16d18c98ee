// Opening stores: reading never changes a store, and connection problems are
// one line naming the problem and the fix.
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'node:test'
import Database from 'better-sqlite3'
import { runZapo } from '../helpers/run.js'

const sha = path => createHash('sha256').update(readFileSync(path)).digest('hex')
const tmp = () => mkdtempSync(join(tmpdir(), 'zapo-open-'))

test('reading an empty (0-byte) SQLite file leaves it byte for byte as it was', async () => {
    const dir = tmp()
    writeFileSync(join(dir, 'empty.sqlite'), '')
    const result = await runZapo(
        ['sessions', 'list', '--json', '--store', 'sqlite:./empty.sqlite'],
        { cwd: dir }
    )
    assert.equal(result.code, 0, result.stderr)
    assert.deepEqual(JSON.parse(result.stdout).sessions, [])
    assert.equal(readFileSync(join(dir, 'empty.sqlite')).length, 0)
    assert.ok(!existsSync(join(dir, 'empty.sqlite-wal')), 'no WAL file created')
})

test('reading a rollback-journal SQLite file does not switch it to WAL', async () => {
    const dir = tmp()
    const path = join(dir, 'app.db')
    const db = new Database(path)
    db.exec('CREATE TABLE notes (id INTEGER PRIMARY KEY)')
    db.close()
    const before = sha(path)
    const result = await runZapo(['sessions', 'list', '--store', path], { cwd: dir })
    assert.equal(result.code, 4, 'a SQLite file with no zapo tables is refused')
    assert.match(result.stderr, /^zapo: .*not a zapo store|^zapo: .*zapo/m)
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr)
    assert.equal(sha(path), before)
    const check = new Database(path, { readonly: true })
    assert.equal(check.pragma('journal_mode', { simple: true }), 'delete')
    check.close()
})

test('a postgres URL without a user works with USER and PGUSER unset (the OS user, as psql does)', async () => {
    const result = await runZapo(
        [
            'sessions',
            'list',
            '--json',
            '--store',
            'postgres://127.0.0.1:5432/test?tablePrefix=zapo_nouser_'
        ],
        {
            cwd: tmp(),
            env: { USER: undefined, PGUSER: undefined }
        }
    )
    assert.equal(result.code, 0, result.stderr)
    assert.deepEqual(JSON.parse(result.stdout).sessions, [])
})

test('an unreachable Redis says connection refused, in one line', async () => {
    const result = await runZapo(['sessions', 'list', '--store', 'redis://127.0.0.1:1'], {
        cwd: tmp()
    })
    assert.equal(result.code, 4)
    assert.equal(
        result.stderr,
        'zapo: cannot reach redis at redis://127.0.0.1:1: connection refused; start the server or fix the host and port\n'
    )
})

test('MySQL refusing the user names the credentials as the problem, in one line', async () => {
    const result = await runZapo(
        ['sessions', 'list', '--store', 'mysql://nobody:wrong@127.0.0.1:3306/test'],
        { cwd: tmp() }
    )
    assert.equal(result.code, 4)
    assert.equal(
        result.stderr,
        'zapo: mysql at mysql://nobody:***@127.0.0.1:3306/test rejected the credentials; fix the user name and password in the store URL\n'
    )
})
