import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { proto } from 'zapo-js'
import { generatePreKeyPair } from 'zapo-js/signal'
import { clearArchive } from '../../dist/store/archive.js'
import { catalogFor, EMPTY_COUNTS } from '../../dist/store/catalog.js'
import {
    clearSession,
    countRecords,
    digestRecords,
    digestSessionRecords,
    readSessionRecords,
    writeSessionRecords
} from '../../dist/store/records.js'
import { dropStore, makeSession, openTestStore, storeUrls } from '../helpers/fixtures.js'

const urls = storeUrls()
const KINDS = ['sqlite', 'postgres', 'mysql', 'redis', ...(urls.mongo ? ['mongo'] : [])]
const stores = {}
const made = {}

async function readAll(store, sessionId, options = {}) {
    const batches = []
    for await (const batch of readSessionRecords(store, catalogFor(store), sessionId, {
        batchSize: 4,
        ...options
    }))
        batches.push(batch)
    return batches
}

/** Decoded records in a comparable, order-independent plain form (bytes as hex). */
function plain(value) {
    if (value === null || value === undefined) return null
    if (value instanceof Uint8Array) return `hex:${Buffer.from(value).toString('hex')}`
    if (typeof value === 'object' && typeof value.toNumber === 'function') return value.toNumber()
    if (Array.isArray(value)) return value.map(plain)
    if (value instanceof Map)
        return [...value.entries()]
            .map(([k, v]) => [k, plain(v)])
            .sort(([a], [b]) => (a < b ? -1 : 1))
    if (typeof value === 'object') {
        const out = {}
        for (const key of Object.keys(value).sort()) {
            if (value[key] === undefined || value[key] === null) continue
            out[key] = plain(value[key])
        }
        return out
    }
    return value
}

const addr = a => `${a.user}@${a.server}.${a.device}`

function decoded(batches) {
    const out = {
        auth: null,
        signal: null,
        preKeys: [],
        serverHasPreKeys: null,
        nextPreKeyId: null,
        sessions: {},
        identities: {},
        senderKeys: {},
        distributions: {},
        syncKeys: {},
        collections: {},
        tokens: {}
    }
    for (const b of batches) {
        switch (b.domain) {
            case 'auth': {
                const { signedIdentity, ...rest } = b.credentials
                out.auth = plain({
                    ...rest,
                    signedIdentity: signedIdentity
                        ? proto.ADVSignedDeviceIdentity.encode(signedIdentity).finish()
                        : null
                })
                break
            }
            case 'signal':
                out.signal = plain(b)
                break
            case 'preKey':
                out.preKeys.push(...b.records.map(plain))
                out.serverHasPreKeys = b.serverHasPreKeys
                out.nextPreKeyId = b.nextPreKeyId ?? null
                break
            case 'session':
                for (const e of b.entries) out.sessions[addr(e.address)] = plain(e.session)
                break
            case 'identity':
                for (const e of b.entries) out.identities[addr(e.address)] = plain(e.identityKey)
                break
            case 'senderKey':
                for (const r of b.senderKeys)
                    out.senderKeys[`${r.groupId}/${addr(r.sender)}`] = plain(r)
                for (const r of b.distributions)
                    out.distributions[`${r.groupId}/${addr(r.sender)}`] = plain(r)
                break
            case 'appState':
                for (const k of b.syncKeys)
                    out.syncKeys[Buffer.from(k.keyId).toString('hex')] = plain(k)
                break
            case 'appStateCollections':
                for (const c of b.collections) out.collections[c.collection] = plain(c)
                break
            case 'privacyToken':
                for (const r of b.records) out.tokens[r.jid] = plain(r)
                break
        }
    }
    out.preKeys.sort((a, b) => a.keyId - b.keyId)
    return out
}

describe('records', () => {
    before(async () => {
        for (const kind of KINDS) {
            stores[kind] = await openTestStore(urls[kind])
            made[kind] = await makeSession(stores[kind], 'tenant-1', {})
        }
    })
    after(async () => {
        for (const kind of KINDS) {
            await stores[kind]?.close()
            await dropStore(urls[kind])
        }
    })

    test('reads back exactly what the fixture wrote, on every backend', async () => {
        for (const kind of KINDS) {
            const m = made[kind]
            const got = decoded(await readAll(stores[kind], 'tenant-1'))
            const { signedIdentity, ...rest } = m.credentials
            assert.deepEqual(
                got.auth,
                plain({
                    ...rest,
                    signedIdentity: proto.ADVSignedDeviceIdentity.encode(signedIdentity).finish()
                }),
                `${kind} credentials`
            )
            assert.deepEqual(got.signal.registration, plain(m.registration), `${kind} registration`)
            assert.deepEqual(got.signal.signedPreKey.keyPair, plain(m.signedPreKey.keyPair))
            assert.equal(typeof got.signal.signedPreKeyRotationTs, 'number')
            assert.deepEqual(
                got.preKeys.map(p => p.keyId),
                m.preKeyIds,
                `${kind} prekey ids`
            )
            assert.deepEqual(
                got.preKeys.filter(p => p.uploaded).map(p => p.keyId),
                m.uploadedIds,
                `${kind} uploaded flags`
            )
            assert.equal(got.serverHasPreKeys, true)
            assert.equal(got.nextPreKeyId, m.nextPreKeyId)
            assert.deepEqual(Object.keys(got.sessions).sort(), m.sessionAddresses.map(addr).sort())
            assert.equal(Object.keys(got.identities).length, m.counts.identities)
            assert.equal(Object.keys(got.senderKeys).length, m.counts.senderKeys)
            assert.equal(Object.keys(got.distributions).length, m.counts.senderKeyDistributions)
            assert.equal(Object.keys(got.syncKeys).length, 2)
            assert.deepEqual(Object.keys(got.collections), ['critical_block'])
            assert.equal(got.collections.critical_block.indexValueMap.length, 3)
            assert.equal(Object.keys(got.tokens).length, 2)
            const counts = await countRecords(await readAll(stores[kind], 'tenant-1'))
            assert.equal(counts.preKey, 30)
            assert.equal(counts.session, 5)
            assert.equal(counts.appState, 3)
        }
    })

    test('a round trip into every other backend is identical (digests and decoded records), and rewriting is idempotent', async () => {
        for (const from of KINDS) {
            const source = await readAll(stores[from], 'tenant-1')
            const sourceDigest = await digestRecords(source)
            const sourceDecoded = decoded(source)
            assert.deepEqual(Object.keys(sourceDigest).sort(), [
                'appState',
                'auth',
                'identity',
                'preKey',
                'privacyToken',
                'senderKey',
                'session',
                'signal'
            ])
            for (const to of KINDS) {
                if (to === from) continue
                const target = stores[to]
                const id = `copy-of-${from}`
                for (const batch of source) await writeSessionRecords(target, id, batch)
                const once = await catalogFor(target).counts(id)
                for (const batch of source) await writeSessionRecords(target, id, batch)
                const back = await readAll(target, id, { batchSize: 7 })
                assert.deepEqual(await digestRecords(back), sourceDigest, `${from} → ${to} digest`)
                assert.deepEqual(decoded(back), sourceDecoded, `${from} → ${to} records`)
                assert.deepEqual(
                    await catalogFor(target).counts(id),
                    once,
                    `${from} → ${to} rewrite adds nothing`
                )
                assert.deepEqual(await catalogFor(target).counts(id), made[from].counts)
            }
        }
    })

    test('the digest is independent of batch size and order, and sees a changed byte', async () => {
        const store = stores.sqlite
        const a = await digestRecords(await readAll(store, 'tenant-1', { batchSize: 3 }))
        const reversed = (await readAll(store, 'tenant-1', { batchSize: 500 })).reverse()
        const incremental = digestSessionRecords()
        for (const batch of reversed) incremental.add(batch)
        assert.deepEqual(incremental.result(), a)
        const tampered = (await readAll(store, 'tenant-1')).map(b =>
            b.domain === 'identity'
                ? {
                      ...b,
                      entries: b.entries.map((e, i) =>
                          i === 0
                              ? {
                                    ...e,
                                    identityKey: Uint8Array.from(e.identityKey, (x, j) =>
                                        j === 5 ? x ^ 1 : x
                                    )
                                }
                              : e
                      )
                  }
                : b
        )
        const t = await digestRecords(tampered)
        assert.notEqual(t.identity.sha256, a.identity.sha256)
        assert.equal(t.identity.count, a.identity.count)
        assert.equal(t.session.sha256, a.session.sha256)
    })

    test('the prekey counter survives a copy when the highest prekeys were consumed', async () => {
        for (const kind of ['sqlite', 'redis']) {
            const src = stores[kind]
            const m = await makeSession(src, 'consumed', {
                preKeys: 10,
                uploaded: 4,
                signalSessions: 0,
                identities: 0,
                senderKeys: 0,
                distributions: 0,
                appStateKeys: 0,
                collections: 0,
                privacyTokens: 0
            })
            const preKey = src.domain('preKey', 'consumed')
            assert.ok(await preKey.consumePreKeyById(10))
            assert.ok(await preKey.consumePreKeyById(9))
            assert.equal(await catalogFor(src).nextPreKeyId('consumed'), m.nextPreKeyId)
            const batches = await readAll(src, 'consumed')
            for (const to of KINDS.filter(k => k !== kind)) {
                for (const batch of batches)
                    await writeSessionRecords(stores[to], `consumed-${kind}`, batch)
                const catalog = catalogFor(stores[to])
                assert.equal(
                    await catalog.nextPreKeyId(`consumed-${kind}`),
                    11,
                    `${kind} → ${to} counter`
                )
                const counts = await catalog.counts(`consumed-${kind}`)
                assert.equal(counts.preKeys, 8)
                assert.equal(counts.preKeysUploaded, 4)
                // the next key the target generates does not reuse a consumed id
                const stock = await stores[to]
                    .domain('preKey', `consumed-${kind}`)
                    .getOrGenPreKeys(5, generatePreKeyPair)
                assert.deepEqual(
                    stock.map(r => r.keyId).sort((a, b) => a - b),
                    [5, 6, 7, 8, 11],
                    `${kind} → ${to} next ids`
                )
            }
        }
    })

    test('clearSession empties the chosen domains, and all of them', async () => {
        for (const kind of KINDS) {
            const store = stores[kind]
            await makeSession(store, 'to-clear', {
                preKeys: 3,
                uploaded: 1,
                signalSessions: 1,
                identities: 2
            })
            await clearSession(store, 'to-clear', { domains: ['session', 'identity', 'messages'] })
            let counts = await catalogFor(store).counts('to-clear')
            assert.equal(counts.signalSessions, 0)
            assert.equal(counts.identities, 0)
            assert.equal(counts.preKeys, 3)
            assert.equal(counts.credentials, true)
            await clearSession(store, 'to-clear')
            counts = await catalogFor(store).counts('to-clear')
            assert.deepEqual(
                Object.values(counts).filter(v => v !== false && v !== 0),
                [],
                `${kind}: ${JSON.stringify(counts)}`
            )
            assert.ok(!(await catalogFor(store).listSessionIds()).includes('to-clear'), kind)
            assert.deepEqual(await readAll(store, 'to-clear'), [])
        }
    })

    test('clearSession deletes exactly its own keys: a session nested at ":" is intact, on Redis too', async () => {
        for (const kind of ['redis', 'sqlite', 'postgres']) {
            const store = stores[kind]
            await makeSession(store, 'acme', {
                preKeys: 2,
                uploaded: 0,
                signalSessions: 1,
                identities: 1
            })
            const child = await makeSession(store, 'acme:eu', {
                preKeys: 3,
                uploaded: 1,
                signalSessions: 2,
                identities: 2
            })
            await clearArchive(store, 'acme', ['messages'])
            await clearSession(store, 'acme')
            assert.deepEqual(
                await catalogFor(store).counts('acme'),
                EMPTY_COUNTS,
                `${kind}: acme is gone`
            )
            assert.deepEqual(
                await catalogFor(store).counts('acme:eu'),
                child.counts,
                `${kind}: the other session is intact`
            )
            await clearSession(store, 'acme:eu')
        }
    })

    test('reading only some domains yields only those', async () => {
        const batches = await readAll(stores.postgres, 'tenant-1', { domains: ['auth', 'session'] })
        assert.deepEqual([...new Set(batches.map(b => b.domain))], ['auth', 'session'])
    })
})
