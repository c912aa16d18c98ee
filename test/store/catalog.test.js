import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { after, before, describe, test } from 'node:test'
import { catalogFor } from '../../dist/store/catalog.js'
import { dropStore, makeSession, openTestStore, randomTag, storeUrls } from '../helpers/fixtures.js'

const SHAPES = Object.freeze({
    'tenant-1': {},
    'tenant:2': {
        paired: false,
        preKeys: 5,
        uploaded: 0,
        signalSessions: 0,
        identities: 0,
        senderKeys: 0,
        distributions: 0,
        appStateKeys: 0,
        collections: 0,
        privacyTokens: 0
    },
    'tenant-3': {
        preKeys: 12,
        uploaded: 12,
        signalSessions: 2,
        identities: 4,
        senderKeys: 1,
        distributions: 3,
        appStateKeys: 3,
        collections: 2,
        privacyTokens: 0
    }
})
const EXPECTED_IDS = ['tenant-1', 'tenant-3', 'tenant:2']

const urls = storeUrls()
const kinds = ['sqlite', 'postgres', 'mysql', 'redis', 'mongo']

async function collect(iterable) {
    const pages = []
    for await (const page of iterable) pages.push(page)
    return pages
}

const addressKey = a => `${a.user}@${a.server}.${a.device}`
const sortedKeys = list => list.map(addressKey).sort()

for (const kind of kinds) {
    describe(`catalog: ${kind}`, () => {
        let store = null
        const made = {}
        before(async () => {
            if (!urls[kind]) return
            store = await openTestStore(urls[kind], 'write')
            for (const [id, shape] of Object.entries(SHAPES))
                made[id] = await makeSession(store, id, shape)
        })
        after(async () => {
            await store?.close()
            if (urls[kind]) await dropStore(urls[kind])
        })

        test('lists the sessions and counts their records', async t => {
            if (!urls[kind]) return t.skip('MONGODB_URI not set')
            const catalog = catalogFor(store)
            assert.equal(catalog.kind, kind)
            assert.deepEqual(await catalog.schemaState().then(s => s.state), 'ready')
            assert.deepEqual(await catalog.listSessionIds(), EXPECTED_IDS)
            for (const id of EXPECTED_IDS)
                assert.deepEqual(await catalog.counts(id), made[id].counts, `counts of ${id}`)
            const many = await catalog.countsMany([...EXPECTED_IDS, 'absent'])
            for (const id of EXPECTED_IDS) assert.deepEqual(many.get(id), made[id].counts)
            assert.equal(many.get('absent').credentials, false)
            assert.equal(many.get('absent').preKeys, 0)
            // sanity on the fixture itself: the shapes really differ
            assert.equal(made['tenant-1'].counts.preKeysUploaded, 10)
            assert.equal(made['tenant-3'].counts.preKeysUploaded, 12)
            assert.equal(made['tenant:2'].counts.credentials, true)
        })

        test('enumerates every key of a session in pages', async t => {
            if (!urls[kind]) return t.skip('MONGODB_URI not set')
            const catalog = catalogFor(store)
            for (const id of EXPECTED_IDS) {
                const m = made[id]
                const preKeyPages = await collect(catalog.preKeyIds(id, 7))
                assert.ok(preKeyPages.every(p => p.length <= 7 && p.length > 0))
                assert.deepEqual(
                    preKeyPages.flat().sort((a, b) => a - b),
                    m.preKeyIds
                )
                assert.equal(await catalog.nextPreKeyId(id), m.nextPreKeyId)
                assert.deepEqual(
                    sortedKeys((await collect(catalog.sessionAddresses(id, 2))).flat()),
                    sortedKeys(m.sessionAddresses)
                )
                assert.deepEqual(
                    sortedKeys((await collect(catalog.identityAddresses(id, 3))).flat()),
                    sortedKeys(m.identityAddresses)
                )
                assert.deepEqual(
                    (await collect(catalog.senderKeyGroupIds(id, 1))).flat().sort(),
                    [...m.senderKeyGroups].sort()
                )
                const keyIds = (await collect(catalog.appStateSyncKeyIds(id, 2)))
                    .flat()
                    .map(k => Buffer.from(k).toString('hex'))
                assert.deepEqual(
                    keyIds.sort(),
                    m.appStateKeyIds.map(k => Buffer.from(k).toString('hex')).sort()
                )
                assert.deepEqual(await catalog.appStateCollections(id), [...m.collections].sort())
                assert.deepEqual(
                    (await collect(catalog.privacyTokenJids(id, 1))).flat().sort(),
                    [...m.privacyTokenJids].sort()
                )
                if (catalog.sessionKeys) {
                    // the one-pass enumeration (redis) agrees with the per-domain one
                    const keys = await catalog.sessionKeys(id)
                    assert.deepEqual(
                        keys.sessionAddresses.map(addressKey).sort(),
                        sortedKeys(m.sessionAddresses)
                    )
                    assert.deepEqual(
                        keys.identityAddresses.map(addressKey).sort(),
                        sortedKeys(m.identityAddresses)
                    )
                    assert.deepEqual(keys.senderKeyGroupIds, [...m.senderKeyGroups].sort())
                    assert.deepEqual(keys.appStateCollections, [...m.collections].sort())
                    assert.deepEqual(keys.privacyTokenJids, [...m.privacyTokenJids].sort())
                }
            }
        })

        test('a session absent from the store has empty counts and no keys', async t => {
            if (!urls[kind]) return t.skip('MONGODB_URI not set')
            const catalog = catalogFor(store)
            const counts = await catalog.counts('tenant')
            assert.equal(counts.credentials, false)
            assert.equal(counts.signalSessions, 0)
            assert.deepEqual(await collect(catalog.sessionAddresses('tenant', 10)), [])
            assert.deepEqual(await collect(catalog.preKeyIds('tenant', 10)), [])
        })
    })
}

describe('catalog: prefixes and table names isolate stores sharing one database', () => {
    const pairs = {
        postgres: tag => [
            `postgres://${process.env.PGUSER ?? 'root'}@127.0.0.1:5432/test?tablePrefix=ta${tag}_`,
            `postgres://${process.env.PGUSER ?? 'root'}@127.0.0.1:5432/test?tablePrefix=tb${tag}_`
        ],
        mysql: tag => [
            `mysql://root@127.0.0.1:3306/test?tablePrefix=ta${tag}_`,
            `mysql://root@127.0.0.1:3306/test?tablePrefix=tb${tag}_`
        ],
        redis: tag => [
            `redis://127.0.0.1:6379?keyPrefix=zta${tag}:`,
            `redis://127.0.0.1:6379?keyPrefix=ztb${tag}:`
        ],
        sqlite: tag => {
            const file = storeUrls(tag).sqlite
            const tables = [
                'wa_migrations',
                'auth_credentials',
                'signal_meta',
                'signal_registration',
                'signal_signed_prekey',
                'signal_prekey',
                'signal_session',
                'signal_identity',
                'sender_keys',
                'sender_key_distribution',
                'appstate_sync_keys',
                'appstate_collection_versions',
                'appstate_collection_index_values',
                'privacy_tokens'
            ]
            return [file, `${file}?${tables.map(t => `table.${t}=b_${t}`).join('&')}`]
        }
    }
    for (const [kind, make] of Object.entries(pairs)) {
        test(kind, async () => {
            const [urlA, urlB] = make(randomTag())
            const a = await openTestStore(urlA)
            const b = await openTestStore(urlB)
            try {
                const madeA = await makeSession(a, 'only-a', { signalSessions: 1, identities: 1 })
                const madeB = await makeSession(b, 'only-b', {
                    preKeys: 3,
                    uploaded: 1,
                    signalSessions: 2,
                    identities: 2
                })
                const ca = catalogFor(a)
                const cb = catalogFor(b)
                assert.deepEqual(await ca.listSessionIds(), ['only-a'])
                assert.deepEqual(await cb.listSessionIds(), ['only-b'])
                assert.deepEqual(await ca.counts('only-a'), madeA.counts)
                assert.deepEqual(await cb.counts('only-b'), madeB.counts)
                assert.equal((await ca.counts('only-b')).preKeys, 0)
                assert.equal((await cb.counts('only-a')).signalSessions, 0)
                if (kind === 'sqlite') {
                    const { default: Database } = await import('better-sqlite3')
                    const db = new Database(a.primary.spec.target, { readonly: true })
                    const names = db
                        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
                        .all()
                        .map(r => r.name)
                    db.close()
                    assert.ok(
                        names.includes('b_auth_credentials') && names.includes('auth_credentials')
                    )
                }
            } finally {
                await a.close()
                await b.close()
                await dropStore(urlA)
                await dropStore(urlB)
            }
        })
    }
})

describe('catalog: reading a store without a schema creates nothing', () => {
    const tag = randomTag()
    const fresh = storeUrls(tag)

    async function tableNames(kind, spec) {
        if (kind === 'postgres') {
            const { default: pg } = await import('pg')
            const pool = new pg.Pool({ connectionString: spec.target, max: 1 })
            const { rows } = await pool.query(
                'SELECT table_name FROM information_schema.tables WHERE table_name LIKE $1',
                [`t${tag}%`]
            )
            await pool.end()
            return rows.map(r => r.table_name)
        }
        if (kind === 'mysql') {
            const mysql = await import('mysql2/promise')
            const conn = await mysql.createConnection({ uri: spec.target })
            const [rows] = await conn.query(
                'SELECT table_name AS n FROM information_schema.tables WHERE table_name LIKE ?',
                [`t${tag}%`]
            )
            await conn.end()
            return rows.map(r => r.n)
        }
        if (kind === 'redis') {
            const { Redis } = await import('ioredis')
            const redis = new Redis(spec.target)
            const keys = await redis.keys(`zt${tag}:*`)
            redis.disconnect()
            return keys
        }
        const { default: Database } = await import('better-sqlite3')
        const db = new Database(spec.target, { readonly: true })
        const names = db
            .prepare('SELECT name FROM sqlite_master')
            .all()
            .map(r => r.name)
        db.close()
        return names
    }

    for (const kind of ['sqlite', 'postgres', 'mysql', 'redis']) {
        test(kind, async () => {
            if (kind === 'sqlite') {
                // an existing, empty SQLite database (not a zapo store yet)
                const { default: Database } = await import('better-sqlite3')
                const path = fresh.sqlite.slice('sqlite:'.length)
                new Database(path).close()
            }
            const store = await openTestStore(fresh[kind], 'read')
            try {
                const catalog = catalogFor(store)
                const state = await catalog.schemaState()
                assert.equal(state.state, 'missing')
                assert.match(state.detail, /no zapo/)
                assert.deepEqual(await catalog.listSessionIds(), [])
                assert.equal((await catalog.counts('x')).credentials, false)
                assert.deepEqual(await collect(catalog.preKeyIds('x', 10)), [])
                assert.equal(await catalog.nextPreKeyId('x'), null)
                assert.deepEqual(await tableNames(kind, store.primary.spec), [])
            } finally {
                await store.close()
                await dropStore(fresh[kind])
            }
        })
    }

    test('postgres: a store holding only some domains reports a partial schema', async () => {
        const url = storeUrls().postgres
        const store = await openTestStore(url)
        try {
            const made = await makeSession(store, 'auth-only', {
                preKeys: 0,
                uploaded: 0,
                signalSessions: 0,
                identities: 0,
                senderKeys: 0,
                distributions: 0,
                appStateKeys: 0,
                collections: 0,
                privacyTokens: 0
            })
            assert.ok(made.credentials)
            const state = await catalogFor(store).schemaState()
            assert.equal(state.state, 'partial')
            assert.match(state.detail, /sender_keys/)
            assert.deepEqual(await catalogFor(store).listSessionIds(), ['auth-only'])
        } finally {
            await store.close()
            await dropStore(url)
        }
    })
})

test('catalog: a file that is not SQLite is refused before any catalog runs', async () => {
    const url = storeUrls().sqlite
    writeFileSync(
        url.slice('sqlite:'.length),
        'not a database at all, just some text padding it out to a page or so'
    )
    await assert.rejects(openTestStore(url, 'read'), err => err.code === 'STORE_UNAVAILABLE')
    await dropStore(url)
})
