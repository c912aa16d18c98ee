/**
 * Realistic test sessions, made with zapo-js's own key generators and protocol code and
 * written through the zapo-js store contracts of an `OpenedStore` (dist/store/open.js).
 * No row or record byte is written by hand: Signal sessions come from running
 * `SignalProtocol` against peers, sender keys from `SenderKeyManager`, the ADV signed
 * identity is signed the way a primary phone and the companion sign it.
 *
 * Also: unique, isolated store URLs for every backend and their clean-up.
 */

import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir, userInfo } from 'node:os'
import { dirname, join } from 'node:path'
import { proto } from 'zapo-js'
import { randomBytesAsync, X25519, xeddsaSign } from 'zapo-js/crypto'
import {
    createAndStoreInitialKeys,
    generatePreKeyPair,
    generateRegistrationInfo,
    generateSignedPreKey,
    SenderKeyManager,
    SignalProtocol
} from 'zapo-js/signal'
import {
    WaIdentityMemoryStore,
    WaPreKeyMemoryStore,
    WaSessionMemoryStore,
    WaSignalMemoryStore
} from 'zapo-js/store'
import { openStore } from '../../dist/store/open.js'
import { parseStoreUrl, singleStore } from '../../dist/store/address.js'

const ADV_ACCOUNT_SIGNATURE_PREFIX = new Uint8Array([6, 0])
const ADV_DEVICE_SIGNATURE_PREFIX = new Uint8Array([6, 1])

export const APP_STATE_COLLECTIONS = Object.freeze([
    'critical_block',
    'critical_unblock_low',
    'regular_low',
    'regular',
    'regular_high'
])

/** Defaults of `makeSession`: a small paired session with something in every durable domain. */
export const DEFAULT_SHAPE = Object.freeze({
    paired: true,
    preKeys: 30,
    uploaded: 10,
    signalSessions: 5,
    identities: 5,
    senderKeys: 2,
    distributions: 2,
    appStateKeys: 2,
    collections: 1,
    privacyTokens: 2
})

/**
 * Opens a store from a URL (test helper): `openTestStore(url, 'write')`. A SQLite store's
 * directory is created first for writing (zapo refuses a missing one; a test's earlier
 * `dropStore` may have removed it).
 */
export async function openTestStore(url, mode = 'write') {
    const spec = parseStoreUrl(url, 'flag', process.cwd())
    if (spec.kind === 'sqlite' && mode === 'write')
        mkdirSync(dirname(spec.target), { recursive: true })
    return openStore(singleStore(spec), mode)
}

function concat(parts) {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
    let at = 0
    for (const p of parts) {
        out.set(p, at)
        at += p.length
    }
    return out
}

/** A deterministic-looking phone number per session id, so JIDs are plausible and distinct. */
function phoneFor(sessionId) {
    let h = 0
    for (const ch of sessionId) h = (h * 31 + ch.charCodeAt(0)) >>> 0
    return `1555${String(h % 10_000_000).padStart(7, '0')}`
}

/**
 * The ADV signed device identity a paired companion stores: details signed by the
 * account (primary phone) identity key, countersigned by the companion identity.
 */
export async function makeSignedIdentity(
    companionIdentity,
    { keyIndex = 1, accountIdentity } = {}
) {
    const account = accountIdentity ?? (await X25519.generateKeyPair())
    const details = proto.ADVDeviceIdentity.encode({
        rawId: 1 + (randomBytes(4).readUInt32BE(0) % 0x7fff_fffe),
        timestamp: Math.floor(Date.now() / 1000) - 86_400,
        keyIndex,
        accountType: proto.ADVEncryptionType.E2EE,
        deviceType: proto.ADVEncryptionType.E2EE
    }).finish()
    const accountSignature = await xeddsaSign(
        account.privKey,
        concat([ADV_ACCOUNT_SIGNATURE_PREFIX, details, companionIdentity.pubKey])
    )
    const deviceSignature = await xeddsaSign(
        companionIdentity.privKey,
        concat([ADV_DEVICE_SIGNATURE_PREFIX, details, companionIdentity.pubKey, account.pubKey])
    )
    return {
        signedIdentity: {
            details,
            accountSignatureKey: account.pubKey,
            accountSignature,
            deviceSignature
        },
        accountIdentity: account
    }
}

/** A remote party (in memory) whose prekey bundle our session can open a Signal session to. */
async function makePeerBundle() {
    const registration = await generateRegistrationInfo()
    const signed = await generateSignedPreKey(1, registration.identityKeyPair.privKey)
    const oneTime = await generatePreKeyPair(1 + (randomBytes(2).readUInt16BE(0) % 1000))
    return {
        regId: registration.registrationId,
        identity: registration.identityKeyPair.pubKey,
        signedKey: {
            id: signed.keyId,
            publicKey: signed.keyPair.pubKey,
            signature: signed.signature
        },
        oneTimeKey: { id: oneTime.keyId, publicKey: oneTime.keyPair.pubKey }
    }
}

function peerAddress(phone, index, server = 's.whatsapp.net') {
    return {
        user: `${phone.slice(0, 6)}${String(9000 + index).padStart(5, '0')}`,
        server,
        device: index % 3
    }
}

/**
 * Writes one realistic session into `store` (an OpenedStore) through the store contracts.
 * Returns what was written: `{ sessionId, credentials, registration, signedPreKey,
 * accountIdentity, preKeyIds, uploadedIds, nextPreKeyId, sessionAddresses,
 * identityAddresses, senderKeyGroups, appStateKeyIds, collections, privacyTokenJids,
 * counts }` where `counts` has the shape of `SessionCounts`.
 */
export async function makeSession(store, sessionId, shape = {}) {
    const s = { ...DEFAULT_SHAPE, ...shape }
    if (s.uploaded > s.preKeys) throw new Error('fixture: uploaded must not exceed preKeys')
    const phone = phoneFor(sessionId)
    const auth = store.domain('auth', sessionId)
    const signal = store.domain('signal', sessionId)
    const preKey = store.domain('preKey', sessionId)
    const sessionStore = store.domain('session', sessionId)
    const identity = store.domain('identity', sessionId)

    // fresh credentials, the way zapo-js makes them (registration, signed prekey, first prekey)
    const [noiseKeyPair, initial, advSecretKey] = await Promise.all([
        X25519.generateKeyPair(),
        createAndStoreInitialKeys(signal, preKey),
        randomBytesAsync(32)
    ])
    let credentials = {
        noiseKeyPair,
        registrationInfo: initial.registrationInfo,
        signedPreKey: initial.signedPreKey,
        serverHasPreKeys: s.uploaded > 0,
        advSecretKey
    }
    let accountIdentity = null
    if (s.paired) {
        const adv = await makeSignedIdentity(initial.registrationInfo.identityKeyPair)
        accountIdentity = adv.accountIdentity
        credentials = {
            ...credentials,
            signedIdentity: adv.signedIdentity,
            meJid: `${phone}:12@s.whatsapp.net`,
            meLid: `${(BigInt(phone) * 7919n) % 10n ** 15n}:12@lid`,
            meDisplayName: `Tenant ${sessionId}`,
            platform: 'android',
            lastSuccessTs: Math.floor(Date.now() / 1000) - 3_600,
            serverStaticKey: (await X25519.generateKeyPair()).pubKey,
            routingInfo: new Uint8Array(randomBytes(12)),
            propsVersion: 42,
            abPropsVersion: 7
        }
    }
    await auth.save(credentials)
    await signal.setSignedPreKeyRotationTs(Date.now() - 2 * 86_400_000)

    // one-time prekeys: the client's own route (generate a stock, mark the uploaded prefix)
    let preKeyIds = [initial.firstPreKey.keyId]
    if (s.preKeys > 0) {
        const records = await preKey.getOrGenPreKeys(s.preKeys, generatePreKeyPair)
        preKeyIds = records.map(r => r.keyId)
    } else {
        await preKey.clear()
        preKeyIds = []
    }
    preKeyIds.sort((a, b) => a - b)
    const uploadedIds = preKeyIds.slice(0, s.uploaded)
    if (uploadedIds.length > 0) await preKey.markKeyAsUploaded(uploadedIds[uploadedIds.length - 1])
    await preKey.setServerHasPreKeys(s.uploaded > 0)

    // Signal sessions: establish against a peer's bundle and encrypt once (real ratchet state)
    const protocol = new SignalProtocol({ signal, preKey, session: sessionStore, identity })
    const sessionAddresses = []
    for (let i = 0; i < s.signalSessions; i += 1) {
        const address = peerAddress(phone, i, i % 2 === 0 ? 's.whatsapp.net' : 'lid')
        await protocol.establishOutgoingSession(address, await makePeerBundle())
        await protocol.encryptMessage(address, new TextEncoder().encode(`hello ${i}`))
        sessionAddresses.push(address)
    }
    // identities beyond those the sessions recorded
    const identityAddresses = [...sessionAddresses]
    const extra = []
    for (let i = s.signalSessions; i < s.identities; i += 1) {
        const address = peerAddress(phone, i, 's.whatsapp.net')
        const remote = await generateRegistrationInfo()
        const serialized = concat([new Uint8Array([5]), remote.identityKeyPair.pubKey])
        extra.push({ address, identityKey: serialized })
        identityAddresses.push(address)
    }
    if (extra.length > 0) await identity.setRemoteIdentities(extra)

    // sender keys: our own key per group, distributed to some participants
    const senderKey = store.domain('senderKey', sessionId)
    const manager = new SenderKeyManager(senderKey)
    const me = { user: phone, server: 's.whatsapp.net', device: 12 }
    const senderKeyGroups = []
    const groupKeyIds = []
    for (let g = 0; g < s.senderKeys; g += 1) {
        const groupId = `1203630${phone.slice(4)}${String(g).padStart(3, '0')}@g.us`
        const prepared = await manager.prepareGroupEncryption(
            groupId,
            me,
            new TextEncoder().encode('hi group')
        )
        senderKeyGroups.push(groupId)
        groupKeyIds.push(prepared.keyId)
    }
    for (let d = 0; d < s.distributions; d += 1) {
        if (senderKeyGroups.length === 0)
            throw new Error('fixture: distributions need senderKeys > 0')
        const g = d % senderKeyGroups.length
        await manager.markSenderKeyDistributed(senderKeyGroups[g], groupKeyIds[g], [
            peerAddress(phone, 100 + d)
        ])
    }

    // app state: sync keys and collection states
    const appState = store.domain('appState', sessionId)
    const appStateKeyIds = []
    if (s.appStateKeys > 0) {
        const keys = []
        for (let i = 0; i < s.appStateKeys; i += 1) {
            // 2 device bytes, then a 4-byte big-endian epoch (zapo-js keyEpoch reads bytes 2..5)
            const keyId = new Uint8Array([...randomBytes(2), 0, 0, 0, 1 + i])
            keys.push({
                keyId,
                keyData: new Uint8Array(randomBytes(32)),
                timestamp: Date.now() - i * 60_000,
                fingerprint: { rawId: 1000 + i, currentIndex: i, deviceIndexes: [0, 12] }
            })
            appStateKeyIds.push(keyId)
        }
        await appState.upsertSyncKeys(keys)
    }
    const collections = APP_STATE_COLLECTIONS.slice(0, s.collections)
    if (collections.length > 0) {
        await appState.setCollectionStates(
            collections.map((collection, i) => ({
                collection,
                version: 10 + i,
                hash: new Uint8Array(randomBytes(128)),
                indexValueMap: new Map(
                    Array.from({ length: 3 }, () => [
                        randomBytes(32).toString('hex'),
                        new Uint8Array(randomBytes(32))
                    ])
                )
            }))
        )
    }

    // privacy tokens
    const privacyToken = store.domain('privacyToken', sessionId)
    const privacyTokenJids = []
    if (s.privacyTokens > 0) {
        const now = Date.now()
        const records = []
        for (let i = 0; i < s.privacyTokens; i += 1) {
            const jid = `${peerAddress(phone, 200 + i).user}@s.whatsapp.net`
            records.push({
                jid,
                tcToken: new Uint8Array(randomBytes(24)),
                tcTokenTimestamp: Math.floor(now / 1000) - i * 100,
                tcTokenSenderTimestamp: Math.floor(now / 1000) - i * 50,
                ...(i % 2 === 0 ? { nctSalt: new Uint8Array(randomBytes(16)) } : {}),
                updatedAtMs: now - i
            })
            privacyTokenJids.push(jid)
        }
        await privacyToken.upsertBatch(records)
    }

    // prepareGroupEncryption records our own distribution too: count what the store holds
    let distributionCount = 0
    for (const groupId of senderKeyGroups) {
        distributionCount += (await senderKey.getGroupSenderKeyList(groupId)).skDistribList.length
    }

    const registration = await signal.getRegistrationInfo()
    const signedPreKey = await signal.getSignedPreKey()
    return {
        sessionId,
        credentials,
        registration,
        signedPreKey,
        accountIdentity,
        preKeyIds,
        uploadedIds,
        nextPreKeyId: preKeyIds.length > 0 ? preKeyIds[preKeyIds.length - 1] + 1 : 1,
        sessionAddresses,
        identityAddresses,
        senderKeyGroups,
        appStateKeyIds,
        collections,
        privacyTokenJids,
        counts: {
            credentials: true,
            registration: true,
            signedPreKey: true,
            preKeys: preKeyIds.length,
            preKeysUploaded: uploadedIds.length,
            signalSessions: sessionAddresses.length,
            identities: identityAddresses.length,
            senderKeys: senderKeyGroups.length,
            senderKeyDistributions: distributionCount,
            appStateSyncKeys: appStateKeyIds.length,
            appStateCollections: collections.length,
            privacyTokens: privacyTokenJids.length
        }
    }
}

/**
 * Simulated disk / database corruption of a SQLite store: bytes no protobuf decoder accepts,
 * where the store keeps the session's ADV signed identity (its credentials no longer decode).
 */
export async function corruptCredentials(file, sessionId) {
    const { default: Database } = await import('better-sqlite3')
    const db = new Database(file)
    try {
        db.prepare(
            "UPDATE auth_credentials SET signed_identity = x'ffffff0102' WHERE session_id = ?"
        ).run(sessionId)
    } finally {
        db.close()
    }
}

// ---------------------------------------------------------------------------------------------
// store URLs and clean-up

// pg needs a user name; with USER unset (CI containers) the driver sends none
const PG_BASE =
    process.env.ZAPO_TEST_PG ??
    `postgres://${process.env.PGUSER ?? userInfo().username}@127.0.0.1:5432/test`
const MYSQL_BASE = process.env.ZAPO_TEST_MYSQL ?? 'mysql://root@127.0.0.1:3306/test'
const REDIS_BASE = process.env.ZAPO_TEST_REDIS ?? 'redis://127.0.0.1:6379'

export function randomTag() {
    return randomBytes(5).toString('hex')
}

/**
 * Unique, isolated store URLs: `{ sqlite, postgres, mysql, redis, mongo? }` (mongo only when
 * MONGODB_URI is set). The SQLite file lives in a fresh temp dir and does not exist yet.
 */
export function storeUrls(tag = randomTag()) {
    const dir = mkdtempSync(join(tmpdir(), 'zapo-'))
    const urls = {
        sqlite: `sqlite:${join(dir, `t${tag}.sqlite`)}`,
        postgres: `${PG_BASE}?tablePrefix=t${tag}_`,
        mysql: `${MYSQL_BASE}?tablePrefix=t${tag}_`,
        redis: `${REDIS_BASE}?keyPrefix=zt${tag}:`
    }
    if (process.env.MONGODB_URI) {
        const u = new URL(process.env.MONGODB_URI)
        u.searchParams.set('collectionPrefix', `t${tag}_`)
        urls.mongo = u.toString()
    }
    return urls
}

function likeEscape(value) {
    return value.replace(/[\\%_]/g, ch => `\\${ch}`)
}

/** Removes everything a test store URL holds (its file, prefixed tables, prefixed keys). */
export async function dropStore(url) {
    const spec = parseStoreUrl(url, 'flag', process.cwd())
    switch (spec.kind) {
        case 'sqlite':
            rmSync(spec.target, { force: true })
            rmSync(`${spec.target}-wal`, { force: true })
            rmSync(`${spec.target}-shm`, { force: true })
            if (dirname(spec.target).startsWith(join(tmpdir(), 'zapo-'))) {
                rmSync(dirname(spec.target), { recursive: true, force: true })
            }
            return
        case 'postgres': {
            if (!spec.tablePrefix)
                throw new Error('dropStore refuses a postgres URL without tablePrefix')
            const { default: pg } = await import('pg')
            const pool = new pg.Pool({ connectionString: spec.target, max: 1 })
            try {
                const { rows } = await pool.query(
                    `SELECT table_name FROM information_schema.tables
                     WHERE table_schema = current_schema() AND table_name LIKE $1 ESCAPE '\\'`,
                    [`${likeEscape(spec.tablePrefix)}%`]
                )
                for (const row of rows)
                    await pool.query(`DROP TABLE IF EXISTS "${row.table_name}" CASCADE`)
            } finally {
                await pool.end()
            }
            return
        }
        case 'mysql': {
            if (!spec.tablePrefix)
                throw new Error('dropStore refuses a mysql URL without tablePrefix')
            const mysql = await import('mysql2/promise')
            const conn = await mysql.createConnection({ uri: spec.target })
            try {
                const [rows] = await conn.query(
                    `SELECT table_name AS name FROM information_schema.tables
                     WHERE table_schema = DATABASE() AND table_name LIKE ?`,
                    [`${likeEscape(spec.tablePrefix)}%`]
                )
                for (const row of rows) await conn.query(`DROP TABLE IF EXISTS \`${row.name}\``)
            } finally {
                await conn.end()
            }
            return
        }
        case 'redis': {
            if (!spec.keyPrefix) throw new Error('dropStore refuses a redis URL without keyPrefix')
            const { Redis } = await import('ioredis')
            const redis = new Redis(spec.target, { lazyConnect: true, maxRetriesPerRequest: 1 })
            try {
                await redis.connect()
                const pattern = `${spec.keyPrefix.replace(/[*?[\]\\]/g, ch => `\\${ch}`)}*`
                let cursor = '0'
                do {
                    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000)
                    cursor = next
                    if (keys.length > 0) await redis.unlink(...keys)
                } while (cursor !== '0')
            } finally {
                redis.disconnect()
            }
            return
        }
        case 'mongo': {
            if (!spec.collectionPrefix)
                throw new Error('dropStore refuses a mongo URL without collectionPrefix')
            const { MongoClient } = await import('mongodb')
            const client = new MongoClient(spec.target)
            try {
                await client.connect()
                const db = client.db()
                const names = await db.listCollections({}, { nameOnly: true }).toArray()
                for (const { name } of names) {
                    if (name.startsWith(spec.collectionPrefix)) await db.dropCollection(name)
                }
            } finally {
                await client.close()
            }
        }
    }
}
