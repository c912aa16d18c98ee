// Session catalog over 1,000 small sessions per backend: the time of listSessionIds plus the
// counts of every session (countsMany, one pass), and of per-session counts() calls.
// Sessions are written through the zapo-js store contracts (batch setters where they exist).
// Usage: node bench/catalog.js [sessions] [backend…]
import { performance } from 'node:perf_hooks'
import { X25519, randomBytesAsync } from 'zapo-js/crypto'
import {
    createAndStoreInitialKeys,
    generatePreKeyPair,
    generateRegistrationInfo,
    generateSignedPreKey,
    SignalProtocol
} from 'zapo-js/signal'
import {
    WaIdentityMemoryStore,
    WaPreKeyMemoryStore,
    WaSessionMemoryStore,
    WaSignalMemoryStore
} from 'zapo-js/store'
import { catalogFor } from '../dist/store/catalog.js'
import { dropStore, openTestStore, storeUrls } from '../test/helpers/fixtures.js'

const args = process.argv.slice(2)
const SESSIONS = Number(args.find(a => /^\d+$/.test(a)) ?? 1000)
const BACKENDS = args.filter(a => !/^\d+$/.test(a))
const CONCURRENCY = 16
const urls = storeUrls()

/** One real Signal session record (from running SignalProtocol in memory), reused as the value. */
async function sampleSessionRecord() {
    const me = {
        signal: new WaSignalMemoryStore(),
        preKey: new WaPreKeyMemoryStore(),
        session: new WaSessionMemoryStore(),
        identity: new WaIdentityMemoryStore()
    }
    await createAndStoreInitialKeys(me.signal, me.preKey)
    const peer = await generateRegistrationInfo()
    const signed = await generateSignedPreKey(1, peer.identityKeyPair.privKey)
    const address = { user: '15550001111', server: 's.whatsapp.net', device: 0 }
    const protocol = new SignalProtocol(me)
    await protocol.establishOutgoingSession(address, {
        regId: peer.registrationId,
        identity: peer.identityKeyPair.pubKey,
        signedKey: { id: 1, publicKey: signed.keyPair.pubKey, signature: signed.signature }
    })
    await protocol.encryptMessage(address, new Uint8Array([1, 2, 3]))
    return {
        record: await me.session.getSession(address),
        identityKey: await me.identity.getRemoteIdentity(address)
    }
}

async function writeSmallSession(store, sessionId, sample, i) {
    const signal = store.domain('signal', sessionId)
    const preKey = store.domain('preKey', sessionId)
    const [noiseKeyPair, initial, advSecretKey] = await Promise.all([
        X25519.generateKeyPair(),
        createAndStoreInitialKeys(signal, preKey),
        randomBytesAsync(32)
    ])
    await store.domain('auth', sessionId).save({
        noiseKeyPair,
        registrationInfo: initial.registrationInfo,
        signedPreKey: initial.signedPreKey,
        advSecretKey,
        meJid: `1555${String(i).padStart(7, '0')}:3@s.whatsapp.net`,
        platform: 'android'
    })
    await preKey.getOrGenPreKeys(5, generatePreKeyPair)
    await preKey.markKeyAsUploaded(2)
    const addresses = [0, 1].map(d => ({
        user: `1666${String(i).padStart(7, '0')}`,
        server: 's.whatsapp.net',
        device: d
    }))
    await store
        .domain('session', sessionId)
        .setSessionsBatch(addresses.map(address => ({ address, session: sample.record })))
    await store
        .domain('identity', sessionId)
        .setRemoteIdentities(
            addresses.map(address => ({ address, identityKey: sample.identityKey }))
        )
}

const ms = t => `${(performance.now() - t).toFixed(0)} ms`
const sample = await sampleSessionRecord()
console.log(
    `catalog over ${SESSIONS} sessions per backend (each: credentials, registration, signed prekey, 5 prekeys, 2 signal sessions, 2 identities)`
)
for (const kind of ['sqlite', 'postgres', 'mysql', 'redis', 'mongo']) {
    if (!urls[kind] || (BACKENDS.length > 0 && !BACKENDS.includes(kind))) continue
    const store = await openTestStore(urls[kind])
    try {
        let t = performance.now()
        // the first session alone: the store packages' schema migrations race when run concurrently
        await writeSmallSession(store, 'tenant-00000', sample, 0)
        for (let at = 1; at < SESSIONS; at += CONCURRENCY) {
            const n = Math.min(CONCURRENCY, SESSIONS - at)
            await Promise.all(
                Array.from({ length: n }, (_, j) =>
                    writeSmallSession(
                        store,
                        `tenant-${String(at + j).padStart(5, '0')}`,
                        sample,
                        at + j
                    )
                )
            )
        }
        const buildTime = ms(t)
        const catalog = catalogFor(store)
        t = performance.now()
        const ids = await catalog.listSessionIds()
        const listTime = ms(t)
        t = performance.now()
        const counts = await catalog.countsMany(ids)
        const manyTime = ms(t)
        if (
            ids.length !== SESSIONS ||
            [...counts.values()].some(
                c => c.preKeys !== 5 || c.preKeysUploaded !== 2 || c.signalSessions !== 2
            )
        ) {
            throw new Error(`${kind}: catalog disagrees with what was written`)
        }
        const sampleIds = ids.slice(0, 100)
        t = performance.now()
        for (const id of sampleIds) await catalog.counts(id)
        const perCall = ((performance.now() - t) / sampleIds.length).toFixed(1)
        t = performance.now()
        const all = await catalog.listSessionIds()
        await catalog.countsMany(all)
        const total = ms(t)
        console.log(
            `${kind.padEnd(8)} build ${buildTime.padStart(9)} | listSessionIds ${listTime.padStart(7)} | countsMany(all) ${manyTime.padStart(7)} | list+counts ${total.padStart(7)} | counts(id) ${perCall} ms/call`
        )
    } finally {
        await store.close()
        await dropStore(urls[kind])
    }
}
