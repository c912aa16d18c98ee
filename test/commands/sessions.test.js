/**
 * `zapo sessions list` (and `creds show`) over the same sessions stored in SQLite, PostgreSQL,
 * MariaDB and Redis (and MongoDB when MONGODB_URI is set), run as the built binary; plus the
 * bad-input paths every read-only command shares.
 */

import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import Database from 'better-sqlite3'
import { catalogForStore } from '../../dist/store/catalog.js'
import { readSessionRecords, writeSessionRecords } from '../../dist/store/records.js'
import { assertOneErrorLine } from '../helpers/cli-assert.js'
import {
    corruptCredentials,
    dropStore,
    makeSession,
    openTestStore,
    storeUrls
} from '../helpers/fixtures.js'
import { runZapo } from '../helpers/run.js'
import { LEAN_SHAPE, UNPAIRED_SHAPE } from '../helpers/shapes.js'

const cwd = mkdtempSync(join(tmpdir(), 'zapo-sessions-'))
const env = { ZAPO_STORE: undefined, ZAPO_SESSION: undefined, ZAPO_CONFIG: undefined }
const zapo = (args, options = {}) => runZapo(args, { cwd, env, ...options })

const IDS = ['alpha', 'beta', 'gamma-unpaired']

describe('zapo sessions list over every backend', () => {
    const urls = storeUrls()
    const backends = Object.keys(urls) // sqlite, postgres, mysql, redis (+ mongo)
    const made = {}

    before(async () => {
        const source = await openTestStore(urls.sqlite, 'write')
        try {
            made.alpha = await makeSession(source, 'alpha')
            made.beta = await makeSession(source, 'beta', {
                preKeys: 12,
                uploaded: 12,
                signalSessions: 2,
                identities: 4
            })
            made['gamma-unpaired'] = await makeSession(source, 'gamma-unpaired', {
                ...UNPAIRED_SHAPE,
                preKeys: 4
            })
            // the very same records, copied through the store contracts into every other backend
            const catalog = catalogForStore(source)
            for (const backend of backends.filter(b => b !== 'sqlite')) {
                const target = await openTestStore(urls[backend], 'write')
                try {
                    for (const id of IDS) {
                        for await (const batch of readSessionRecords(source, catalog, id))
                            await writeSessionRecords(target, id, batch)
                    }
                } finally {
                    await target.close()
                }
            }
        } finally {
            await source.close()
        }
    })

    after(async () => {
        for (const url of Object.values(urls)) await dropStore(url)
    })

    test('MongoDB takes part when MONGODB_URI is set', t => {
        if (!urls.mongo) t.skip('MONGODB_URI not set: MongoDB was not compared')
        else assert.ok(backends.includes('mongo'))
    })

    test('every backend gives the same sessions list --json (but for the store field)', async () => {
        const docs = {}
        for (const backend of backends) {
            const result = await zapo(['sessions', 'list', '--json', '--store', urls[backend]])
            assert.equal(result.code, 0, `${backend}: ${result.stderr}`)
            assert.equal(result.stderr, '', `${backend}: nothing on stderr`)
            docs[backend] = JSON.parse(result.stdout)
            assert.equal(typeof docs[backend].store, 'string')
        }
        const reference = docs.sqlite
        assert.deepEqual(
            reference.sessions.map(s => s.id),
            IDS
        )
        const alpha = reference.sessions[0]
        assert.equal(alpha.paired, true)
        assert.equal(alpha.meJid, made.alpha.credentials.meJid)
        assert.equal(alpha.meLid, made.alpha.credentials.meLid)
        assert.equal(alpha.displayName, made.alpha.credentials.meDisplayName)
        assert.equal(alpha.platform, 'android')
        assert.equal(
            alpha.lastLoginAt,
            new Date(made.alpha.credentials.lastSuccessTs * 1000).toISOString()
        )
        assert.equal(alpha.signedPreKey.keyId, made.alpha.credentials.signedPreKey.keyId)
        assert.ok(
            Date.now() - Date.parse(alpha.signedPreKey.rotatedAt) > 86_400_000,
            'the fixture stamped the rotation 2 days ago'
        )
        for (const field of [
            'preKeys',
            'preKeysUploaded',
            'signalSessions',
            'identities',
            'senderKeys',
            'appStateSyncKeys',
            'appStateCollections',
            'privacyTokens'
        ]) {
            assert.equal(alpha.counts[field], made.alpha.counts[field], `alpha counts.${field}`)
        }
        const beta = reference.sessions[1]
        assert.equal(beta.counts.preKeys, 12)
        assert.equal(beta.counts.preKeysUploaded, 12)
        const gamma = reference.sessions[2]
        assert.equal(gamma.paired, false)
        assert.equal(gamma.meJid, null)
        assert.equal(gamma.lastLoginAt, null)
        assert.ok(reference.sessions.every(s => s.problem === null))
        for (const backend of backends.filter(b => b !== 'sqlite')) {
            assert.notEqual(docs[backend].store, reference.store)
            assert.deepEqual(
                docs[backend].sessions,
                reference.sessions,
                `${backend} differs from sqlite`
            )
        }
    })

    test('every backend gives the same creds show --json (but for the store field)', async () => {
        for (const id of ['alpha', 'gamma-unpaired']) {
            let reference = null
            for (const backend of backends) {
                const result = await zapo([
                    'creds',
                    'show',
                    '--json',
                    '--session',
                    id,
                    '--store',
                    urls[backend]
                ])
                assert.equal(result.code, 0, `${backend} ${id}: ${result.stderr}`)
                const { store, ...rest } = JSON.parse(result.stdout)
                assert.equal(typeof store, 'string')
                assert.equal(rest.integrity.ok, true, `${backend} ${id} integrity`)
                if (reference === null) reference = rest
                else assert.deepEqual(rest, reference, `${backend} ${id} differs from sqlite`)
            }
        }
    })

    test('piped: header-less tab-separated lines, no colour; -q ids only; --wide adds the counts', async () => {
        const result = await zapo(['sessions', 'ls', '--store', urls.postgres], {
            env: { ...env, NO_COLOR: undefined, FORCE_COLOR: undefined }
        })
        assert.equal(result.code, 0, result.stderr)
        assert.doesNotMatch(result.stdout, /\x1b\[/, 'no escape codes in a pipe')
        const rows = result.stdout
            .trimEnd()
            .split('\n')
            .map(l => l.split('\t'))
        assert.deepEqual(
            rows.map(r => r[0]),
            ['alpha', 'beta', 'gamma-unpaired'],
            'no header line: the first field of every line is an id'
        )
        const alpha = rows[0]
        assert.equal(alpha.length, 8)
        assert.equal(alpha[1], 'yes')
        assert.equal(alpha[2], made.alpha.credentials.meJid)
        assert.equal(alpha[6], new Date(made.alpha.credentials.lastSuccessTs * 1000).toISOString())
        assert.equal(alpha[7], String(made.alpha.credentials.signedPreKey.keyId))
        assert.deepEqual(rows[2].slice(1, 3), ['no', ''])

        const wide = await zapo(['sessions', 'ls', '--wide', '--store', urls.postgres])
        const c = made.alpha.counts
        assert.deepEqual(wide.stdout.split('\n')[0].split('\t').slice(8).map(Number), [
            c.preKeysUploaded,
            c.preKeys,
            c.signalSessions,
            c.identities,
            c.senderKeys,
            c.senderKeyDistributions,
            c.appStateSyncKeys,
            c.appStateCollections,
            c.privacyTokens
        ])
        const quiet = await zapo(['sessions', 'list', '-q', '--store', urls.postgres])
        assert.equal(quiet.stdout, 'alpha\nbeta\ngamma-unpaired\n')
    })
})

describe('zapo sessions list on empty and bad stores', () => {
    const urls = storeUrls()
    after(async () => {
        for (const url of Object.values(urls)) await dropStore(url)
    })

    for (const backend of ['postgres', 'mysql', 'redis']) {
        test(`a ${backend} store with no zapo data: empty list, exit 0, a hint on stderr, nothing created`, async () => {
            const json = await zapo(['sessions', 'list', '--json', '--store', urls[backend]])
            assert.equal(json.code, 0, json.stderr)
            assert.deepEqual(JSON.parse(json.stdout).sessions, [])
            assert.match(json.stderr, /no sessions in .*zapo pair/)
            const human = await zapo(['sessions', 'list', '--store', urls[backend]])
            assert.equal(human.code, 0)
            assert.equal(human.stdout, '')
            const doctor = await zapo(['doctor', '--json', '--store', urls[backend]])
            const schema = JSON.parse(doctor.stdout).checks.find(c => c.name === 'store:schema')
            assert.equal(schema.data.state, 'missing', 'listing created no tables / keys')
        })
    }

    test('session ids where one is the prefix of another ("t" and "t:42@x") are counted apart', async () => {
        const shape = {
            preKeys: 3,
            uploaded: 1,
            signalSessions: 2,
            identities: 3,
            senderKeys: 1,
            distributions: 1
        }
        const docs = {}
        for (const backend of ['sqlite', 'redis']) {
            const url =
                backend === 'redis'
                    ? urls.redis.replace(/keyPrefix=([^&]+)/, 'keyPrefix=$1p:')
                    : urls.sqlite.replace(/\.sqlite$/, '-p.sqlite')
            const store = await openTestStore(url, 'write')
            try {
                for (const id of ['t', 't:42@x']) await makeSession(store, id, shape)
            } finally {
                await store.close()
            }
            const result = await zapo(['sessions', 'list', '--json', '--store', url])
            assert.equal(result.code, 0, result.stderr)
            docs[backend] = JSON.parse(result.stdout).sessions
            await dropStore(url)
        }
        for (const backend of ['sqlite', 'redis']) {
            for (const session of docs[backend]) {
                assert.equal(session.counts.signalSessions, 2, `${backend} ${session.id}`)
                assert.equal(session.counts.identities, 3, `${backend} ${session.id}`)
                assert.equal(session.counts.preKeys, 3, `${backend} ${session.id}`)
                assert.equal(session.counts.privacyTokens, 2, `${backend} ${session.id}`)
            }
        }
        // separately made sessions: their times differ, their ids and counts do not
        const shapeOf = sessions => sessions.map(({ id, counts }) => ({ id, counts }))
        assert.deepEqual(shapeOf(docs.redis), shapeOf(docs.sqlite))
    })

    test('a SQLite store whose sessions were all removed: empty list, exit 0', async () => {
        const store = await openTestStore(urls.sqlite, 'write')
        const { clearSession } = await import('../../dist/store/records.js')
        try {
            await makeSession(store, 'gone', LEAN_SHAPE)
            await clearSession(store, 'gone')
        } finally {
            await store.close()
        }
        const result = await zapo(['sessions', 'list', '--json', '--store', urls.sqlite])
        assert.equal(result.code, 0, result.stderr)
        assert.deepEqual(JSON.parse(result.stdout), {
            store: JSON.parse(result.stdout).store,
            sessions: []
        })
        assert.match(result.stderr, /zapo pair/)
    })

    test('a corrupt credentials record: listed with its problem (exit 0), creds show exits 5', async () => {
        const dir = mkdtempSync(join(tmpdir(), 'zapo-corrupt-'))
        const url = `sqlite:${join(dir, 'c.sqlite')}`
        const store = await openTestStore(url, 'write')
        try {
            for (const id of ['good', 'bad']) await makeSession(store, id, LEAN_SHAPE)
        } finally {
            await store.close()
        }
        await corruptCredentials(join(dir, 'c.sqlite'), 'bad')
        const list = await zapo(['sessions', 'list', '--json', '--store', url])
        assert.equal(list.code, 0, list.stderr)
        const byId = Object.fromEntries(JSON.parse(list.stdout).sessions.map(s => [s.id, s]))
        assert.match(byId.bad.problem, /credentials do not decode/)
        assert.equal(byId.bad.paired, false)
        assert.equal(byId.good.problem, null)
        assert.equal(byId.good.paired, true)
        assert.match(list.stderr, /1 session with unreadable credentials \(bad\)/)
        const creds = await zapo(['creds', 'show', '--session', 'bad', '--store', url])
        assert.equal(creds.code, 5)
        assertOneErrorLine(creds, /credentials of session "bad" .* do not decode/)
        await dropStore(url)
    })

    test('a missing SQLite file: exit 3, one line, and no file is left behind', async () => {
        const path = join(cwd, 'nothing-here.sqlite')
        for (const args of [
            ['sessions', 'list', '--store', path],
            ['creds', 'show', '--session', 'a', '--store', `sqlite:${path}`]
        ]) {
            const result = await zapo(args)
            assert.equal(result.code, 3)
            assertOneErrorLine(result, /no SQLite store at/)
            assert.equal(existsSync(path), false, `${args[0]} created ${path}`)
            assert.equal(existsSync(`${path}-wal`), false)
        }
        // the embedded default (./zapo.sqlite in the working directory) is not created either
        const result = await zapo(['sessions', 'list'])
        assert.equal(result.code, 3, result.stderr)
        assert.equal(existsSync(join(cwd, 'zapo.sqlite')), false)
    })

    test('a text file named .sqlite: exit 4, one line, the file untouched', async () => {
        const path = join(cwd, 'x.sqlite')
        writeFileSync(path, 'this is not a database\n')
        const result = await zapo(['sessions', 'list', '--store', path])
        assert.equal(result.code, 4)
        assertOneErrorLine(result, /is not a SQLite database/)
        assert.equal(readFileSync(path, 'utf8'), 'this is not a database\n')
    })

    test('a SQLite database with unrelated tables: exit 4, one line, no zapo tables created', async () => {
        const path = join(cwd, 'other.sqlite')
        const db = new Database(path)
        db.exec(
            'CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL); INSERT INTO invoices (total) VALUES (9.5)'
        )
        db.close()
        const before = statSync(path).size
        for (const args of [
            ['sessions', 'list', '--store', path],
            ['creds', 'show', '--session', 'a', '--store', path]
        ]) {
            const result = await zapo(args)
            assert.equal(result.code, 4, result.stderr)
            assertOneErrorLine(result, /is not a zapo store/)
        }
        const check = new Database(path, { readonly: true })
        const tables = check
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
            .all()
            .map(r => r.name)
        check.close()
        assert.deepEqual(tables, ['invoices'])
        assert.equal(statSync(path).size, before)
    })

    test('an unknown scheme: exit 2, one line', async () => {
        const result = await zapo(['sessions', 'list', '--store', 'ftp://example.com/db'])
        assert.equal(result.code, 2)
        assertOneErrorLine(result, /unknown store scheme "ftp:"/)
    })

    test('an unreachable PostgreSQL host: exit 4, one line', async () => {
        const result = await zapo(['sessions', 'list', '--store', 'postgres://127.0.0.1:1/x'])
        assert.equal(result.code, 4)
        assertOneErrorLine(result, /cannot reach postgres .*connection refused/)
    })

    test('a wrong MariaDB password: exit 4, one line, password not echoed', async t => {
        // the machine's MariaDB must really reject it (root may be allowed without a password check)
        const mysql = await import('mysql2/promise')
        let rejected = false
        try {
            const conn = await mysql.createConnection({
                uri: 'mysql://root:wrong@127.0.0.1:3306/test'
            })
            await conn.end()
        } catch (error) {
            rejected = error.code === 'ER_ACCESS_DENIED_ERROR'
        }
        if (!rejected) {
            t.skip(
                'this MariaDB accepts root with any password (unix_socket / no auth): nothing to test'
            )
            return
        }
        const result = await zapo([
            'sessions',
            'list',
            '--store',
            'mysql://root:wrong@127.0.0.1:3306/test'
        ])
        assert.equal(result.code, 4)
        assertOneErrorLine(result, /rejected the credentials/)
        assert.doesNotMatch(result.stderr, /wrong/)
    })

    test('a malformed config file: exit 2, one line naming the file', async () => {
        const dir = mkdtempSync(join(tmpdir(), 'zapo-badcfg-'))
        writeFileSync(join(dir, 'zapo.config.json'), '{ "store": "sqlite:./a.sqlite", }')
        for (const args of [
            ['sessions', 'list'],
            ['creds', 'show', '--session', 'a'],
            ['doctor']
        ]) {
            const result = await runZapo(args, { cwd: dir, env })
            assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`)
            assertOneErrorLine(result, /zapo\.config\.json is not valid JSON/)
        }
    })
})
