/**
 * A store holding tables with zapo's names but another schema (issue 11, item 6): exit 4 "not
 * a zapo store" naming the table, and nothing written — no journal-mode switch, no table
 * created — in reading and writing commands alike. On main: "unexpected error: no such column:
 * session_id", exit 1, and the SQLite file switched to WAL.
 */

import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import Database from 'better-sqlite3'
import { parseStoreUrl } from '../../dist/store/address.js'
import { dropStore, randomTag, storeUrls } from '../helpers/fixtures.js'
import { seed } from '../helpers/export.js'
import { runZapo } from '../helpers/run.js'
import { LEAN_SHAPE } from '../helpers/shapes.js'

const NOT_ZAPO =
    /^zapo: .* is not a zapo store: its table "[a-z0-9_]*signal_prekey" has no column session_id/

/** Every command that opens the store, reading or writing. */
function commands(url, source) {
    return [
        ['sessions', 'list', '--store', url],
        ['creds', 'show', '--session', 's1', '--store', url],
        ['check', '--session', 's1', '--store', url],
        ['migrate', '--from', source, '--to', url, '--all'],
        ['migrate', '--from', url, '--to', `${source}-copy`, '--all'],
        ['pair', '--session', 'p1', '--store', url, '--sandbox']
    ]
}

async function sourceStore(t) {
    const dir = mkdtempSync(join(tmpdir(), 'zapo-foreign-src-'))
    const url = `sqlite:${join(dir, 's.sqlite')}`
    t.after(() => dropStore(url))
    await seed(url, ['s1'], LEAN_SHAPE)
    return url
}

function assertRefused(result, args) {
    assert.equal(result.code, 4, `${args.join(' ')}: ${result.stderr}`)
    const last = result.stderr.trim().split('\n').at(-1)
    assert.match(last, NOT_ZAPO, args.join(' '))
    assert.doesNotMatch(result.stderr, /\n\s+at /)
}

test("SQLite: a file with another application's signal_prekey table", async t => {
    const dir = mkdtempSync(join(tmpdir(), 'zapo-foreign-'))
    const file = join(dir, 'other.sqlite')
    const db = new Database(file)
    db.exec('CREATE TABLE signal_prekey (id INTEGER PRIMARY KEY, label TEXT)')
    db.exec("INSERT INTO signal_prekey (label) VALUES ('theirs')")
    db.close()
    const bytes = () => createHash('sha256').update(readFileSync(file)).digest('hex')
    const before = bytes()
    const source = await sourceStore(t)
    for (const args of commands(`sqlite:${file}`, source)) {
        assertRefused(await runZapo(args, { cwd: dir }), args)
        assert.equal(bytes(), before, `${args[0]} changed the file`)
        assert.equal(existsSync(`${file}-wal`), false, `${args[0]} left a -wal`)
        assert.equal(existsSync(`${file}-shm`), false, `${args[0]} left a -shm`)
    }
    const check = new Database(file, { readonly: true })
    assert.equal(check.pragma('journal_mode', { simple: true }), 'delete')
    check.close()
})

for (const kind of ['postgres', 'mysql']) {
    test(`${kind}: a prefix whose signal_prekey table has another schema`, async t => {
        const url = storeUrls(randomTag())[kind]
        t.after(() => dropStore(url))
        const spec = parseStoreUrl(url, 'flag', process.cwd())
        const table = `${spec.tablePrefix}signal_prekey`
        let list
        if (kind === 'postgres') {
            const { default: pg } = await import('pg')
            const pool = new pg.Pool({ connectionString: spec.target, max: 1 })
            t.after(() => pool.end())
            await pool.query(`CREATE TABLE "${table}" (id INTEGER, label TEXT)`)
            list = async () =>
                (
                    await pool.query(
                        'SELECT table_name FROM information_schema.tables WHERE table_name LIKE $1 ORDER BY 1',
                        [`${spec.tablePrefix}%`]
                    )
                ).rows.map(r => r.table_name)
        } else {
            const mysql = await import('mysql2/promise')
            const conn = await mysql.createConnection({ uri: spec.target })
            t.after(() => conn.end())
            await conn.query(`CREATE TABLE \`${table}\` (id INTEGER, label TEXT)`)
            list = async () =>
                (
                    await conn.query(
                        'SELECT table_name AS n FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name LIKE ? ORDER BY 1',
                        [`${spec.tablePrefix}%`]
                    )
                )[0].map(r => r.n)
        }
        const before = await list()
        const source = await sourceStore(t)
        for (const args of commands(url, source).filter(a => !a.includes(`${source}-copy`))) {
            assertRefused(await runZapo(args), args)
            assert.deepEqual(await list(), before, `${args[0]} created a table`)
        }
    })
}
