/**
 * Reading and writing a whole session's durable records through the zapo-js store contracts.
 *
 * The catalog (catalog.ts) says which keys exist; every record is read with the contract's own
 * getters and written with its own setters, so the store package does all encoding. Writing is
 * idempotent: every setter is an upsert, so re-writing the same batches (a migrate rerun, a
 * repeated import) leaves the same records and no duplicates.
 *
 * Digests: a canonical, order-independent encoding of the records (each record keyed, the
 * list sorted by key, hashed with SHA-256) so that two stores can be compared domain by domain.
 */

import { createHash, hash } from 'node:crypto'
import type { WaAuthCredentials } from 'zapo-js'
import type { WaAppStateSyncKey } from 'zapo-js/appstate'
import type {
    PreKeyRecord,
    SenderKeyRecord,
    SignalAddress,
    SignalSessionRecord
} from 'zapo-js/signal'
import { zapoProto, zapoSignal } from '../zapo-cjs.js'
import type { AnyDomain, DurableDomain, StoreDomain } from './address.js'
import { DURABLE_DOMAINS } from './address.js'
import { backendAdapter } from './backends/registry.js'
import { catalogFor } from './catalog.js'
import type { OpenedBackend, OpenedStore } from './open.js'
import { putPreKeys } from './prekey-bulk.js'
import type { SessionKeyLists, StoredRecord } from './catalog/types.js'
import type { RecordBatch, SessionCatalog, SessionCounts } from './records.types.js'

export type { RecordBatch } from './records.types.js'

export interface ReadOptions {
    /** durable domains to read (default: all); archive domains in the list are ignored */
    readonly domains?: readonly StoreDomain[]
    /** records per batch (default 500) */
    readonly batchSize?: number
    /** the session's counts when the caller already has them (saves a catalog pass) */
    readonly counts?: SessionCounts
}

const DEFAULT_BATCH_SIZE = 500

/**
 * Prekeys are read (and so written) in pages of at least this many: the prekey contract's batch
 * write (`getOrGenPreKeys`, prekey-bulk.ts) re-reads every not-uploaded key the session holds on
 * each call, so a session's stock (812 keys from a fresh client) costs least in one call. A
 * prekey record is about 100 bytes.
 */
const PREKEY_PAGE_MIN = 2_000

/** The durable domain a batch belongs to (`appStateCollections` batches belong to `appState`). */
function batchDomain(batch: RecordBatch): DurableDomain {
    return batch.domain === 'appStateCollections' ? 'appState' : batch.domain
}

/** Number of records a batch carries (auth and signal count as one each). */
export function batchSizeOf(batch: RecordBatch): number {
    switch (batch.domain) {
        case 'auth':
            return 1
        case 'signal':
            return (batch.registration ? 1 : 0) + (batch.signedPreKey ? 1 : 0)
        case 'preKey':
            return batch.records.length
        case 'session':
        case 'identity':
            return batch.entries.length
        case 'senderKey':
            return batch.senderKeys.length + batch.distributions.length
        case 'appState':
            return batch.syncKeys.length
        case 'appStateCollections':
            return batch.collections.length
        case 'privacyToken':
            return batch.records.length
    }
}

/**
 * Reads every durable record of one session, in batches, through the store contracts.
 * Domains the catalog reports empty are not touched (so a store whose tables for that domain
 * do not exist is not migrated by reading it).
 */
export async function* readSessionRecords(
    store: OpenedStore,
    catalog: SessionCatalog,
    sessionId: string,
    options: ReadOptions = {}
): AsyncIterable<RecordBatch> {
    const domains = new Set<string>(options.domains ?? DURABLE_DOMAINS)
    const pageSize = Math.max(1, options.batchSize ?? DEFAULT_BATCH_SIZE)
    const counts: SessionCounts = options.counts ?? (await catalog.counts(sessionId))
    catalog = await withSessionKeys(catalog, sessionId, counts)

    if (domains.has('auth') && counts.credentials) {
        const credentials = await store.domain('auth', sessionId).load()
        if (credentials) yield { domain: 'auth', credentials }
    }

    if (domains.has('signal') && (counts.registration || counts.signedPreKey)) {
        yield await readSignal(store, sessionId)
    }

    if (domains.has('preKey') && (counts.preKeys > 0 || counts.registration)) {
        const preKey = store.domain('preKey', sessionId)
        const serverHasPreKeys = await preKey.getServerHasPreKeys()
        const nextPreKeyId = await nextPreKeyIdOf(catalog, sessionId)
        let any = false
        // the counter rides on the last batch only: a writer raising it early would put the
        // later keys below the counter (and off the bulk path, see prekey-bulk.ts)
        let held: PreKeyRecord[] | null = null
        for await (const ids of catalog.preKeyIds(sessionId, Math.max(pageSize, PREKEY_PAGE_MIN))) {
            const found = await preKey.getPreKeysById(ids)
            const records: PreKeyRecord[] = []
            for (const r of found) {
                if (r)
                    records.push({
                        keyId: r.keyId,
                        keyPair: r.keyPair,
                        uploaded: r.uploaded === true
                    })
            }
            if (records.length === 0) continue
            any = true
            if (held !== null)
                yield { domain: 'preKey', records: held, serverHasPreKeys, nextPreKeyId: null }
            held = records
        }
        if (held !== null) yield { domain: 'preKey', records: held, serverHasPreKeys, nextPreKeyId }
        if (!any && (serverHasPreKeys || (nextPreKeyId !== null && nextPreKeyId > 1))) {
            yield { domain: 'preKey', records: [], serverHasPreKeys, nextPreKeyId }
        }
    }

    if (domains.has('session') && counts.signalSessions > 0) {
        for await (const addresses of catalog.sessionAddresses(sessionId, pageSize)) {
            const found = await getSessions(store, sessionId, addresses)
            const entries = addresses.flatMap((address, i) =>
                found[i] ? [{ address, session: found[i]! }] : []
            )
            if (entries.length > 0) yield { domain: 'session', entries }
        }
    }

    if (domains.has('identity') && counts.identities > 0) {
        for await (const addresses of catalog.identityAddresses(sessionId, pageSize)) {
            const found = await getIdentities(store, sessionId, addresses)
            const entries = addresses.flatMap((address, i) =>
                found[i] ? [{ address, identityKey: found[i]! }] : []
            )
            if (entries.length > 0) yield { domain: 'identity', entries }
        }
    }

    if (domains.has('senderKey') && (counts.senderKeys > 0 || counts.senderKeyDistributions > 0)) {
        const senderKey = store.domain('senderKey', sessionId)
        const groupPage = Math.max(1, Math.floor(pageSize / 16))
        for await (const groupIds of catalog.senderKeyGroupIds(sessionId, groupPage)) {
            const lists = await Promise.all(groupIds.map(g => senderKey.getGroupSenderKeyList(g)))
            const senderKeys = lists.flatMap(l => l.skList)
            const distributions = lists.flatMap(l => l.skDistribList)
            if (senderKeys.length + distributions.length > 0)
                yield { domain: 'senderKey', senderKeys, distributions }
        }
    }

    if (
        domains.has('appState') &&
        (counts.appStateSyncKeys > 0 || counts.appStateCollections > 0)
    ) {
        const appState = store.domain('appState', sessionId)
        if (counts.appStateSyncKeys > 0) {
            for await (const keyIds of catalog.appStateSyncKeyIds(sessionId, pageSize)) {
                const found = await appState.getSyncKeysBatch(keyIds)
                const syncKeys = found.filter(
                    (k: WaAppStateSyncKey | null): k is WaAppStateSyncKey => k !== null
                )
                if (syncKeys.length > 0) yield { domain: 'appState', syncKeys }
            }
        }
        const names =
            counts.appStateCollections > 0 ? await catalog.appStateCollections(sessionId) : []
        if (names.length > 0) {
            const states = await appState.getCollectionStates(names as never)
            const collections = names.flatMap((collection, i) => {
                const s = states[i]
                return s && s.initialized !== false
                    ? [
                          {
                              collection,
                              version: s.version,
                              hash: s.hash,
                              indexValueMap: s.indexValueMap
                          }
                      ]
                    : []
            })
            if (collections.length > 0) yield { domain: 'appStateCollections', collections }
        }
    }

    if (domains.has('privacyToken') && counts.privacyTokens > 0) {
        const tokens = store.domain('privacyToken', sessionId)
        for await (const jids of catalog.privacyTokenJids(sessionId, pageSize)) {
            const found = await Promise.all(jids.map(jid => tokens.getByJid(jid)))
            const records = found.filter(r => r !== null)
            if (records.length > 0) yield { domain: 'privacyToken', records }
        }
    }
}

/** A session's registration, signed prekey and its rotation time, through the contract. */
export async function readSignal(
    store: OpenedStore,
    sessionId: string
): Promise<RecordBatch & { domain: 'signal' }> {
    const signal = store.domain('signal', sessionId)
    const [registration, signedPreKey, signedPreKeyRotationTs] = await Promise.all([
        signal.getRegistrationInfo(),
        signal.getSignedPreKey(),
        signal.getSignedPreKeyRotationTs()
    ])
    return { domain: 'signal', registration, signedPreKey, signedPreKeyRotationTs }
}

/**
 * The Signal sessions at the given addresses, through the contract (null where none). On an
 * in-process backend (SQLite: no round trips) one keyed get per address: the package's batch
 * getter matches the addresses with an OR chain that SQLite evaluates against every row of the
 * session, so a batch
 * costs the session's size times the batch's (about 10× the keyed gets for 1,000 sessions).
 * Elsewhere the batch getter (one query or pipeline per 250 addresses) is the cheapest.
 */
export async function getSessions(
    store: OpenedStore,
    sessionId: string,
    addresses: readonly SignalAddress[]
): Promise<readonly (SignalSessionRecord | null)[]> {
    const sessions = store.domain('session', sessionId)
    if (!backendAdapter(store.backendFor('session').kind).inProcess)
        return sessions.getSessionsBatch(addresses)
    return Promise.all(addresses.map(address => sessions.getSession(address)))
}

/** The remote identities at the given addresses (null where none); read as getSessions does. */
export async function getIdentities(
    store: OpenedStore,
    sessionId: string,
    addresses: readonly SignalAddress[]
): Promise<readonly (Uint8Array | null)[]> {
    const identities = store.domain('identity', sessionId)
    if (!backendAdapter(store.backendFor('identity').kind).inProcess)
        return identities.getRemoteIdentities(addresses)
    return Promise.all(addresses.map(address => identities.getRemoteIdentity(address)))
}

/**
 * Where the catalog enumerates a session in one pass (Redis), a view of it that pages over
 * that one pass instead of walking the keyspace once per domain.
 */
async function withSessionKeys(
    catalog: SessionCatalog,
    sessionId: string,
    counts: SessionCounts
): Promise<SessionCatalog> {
    const one = catalog as SessionCatalog & {
        sessionKeys?: (id: string) => Promise<SessionKeyLists>
    }
    const enumerated =
        counts.signalSessions +
        counts.identities +
        counts.senderKeys +
        counts.senderKeyDistributions +
        counts.appStateCollections +
        counts.privacyTokens
    if (typeof one.sessionKeys !== 'function' || enumerated === 0) return catalog
    const keys = await one.sessionKeys(sessionId)
    async function* pages<T>(list: readonly T[], size: number): AsyncIterable<readonly T[]> {
        for (let at = 0; at < list.length; at += size) yield list.slice(at, at + size)
    }
    return Object.assign(Object.create(catalog) as SessionCatalog, {
        sessionAddresses: (_id: string, size: number) => pages(keys.sessionAddresses, size),
        identityAddresses: (_id: string, size: number) => pages(keys.identityAddresses, size),
        senderKeyGroupIds: (_id: string, size: number) => pages(keys.senderKeyGroupIds, size),
        appStateCollections: async () => keys.appStateCollections,
        privacyTokenJids: (_id: string, size: number) => pages(keys.privacyTokenJids, size)
    })
}

async function nextPreKeyIdOf(catalog: SessionCatalog, sessionId: string): Promise<number | null> {
    const withCounter = catalog as SessionCatalog & {
        nextPreKeyId?: (id: string) => Promise<number | null>
    }
    return typeof withCounter.nextPreKeyId === 'function'
        ? withCounter.nextPreKeyId(sessionId)
        : null
}

/** Writes one batch through the store contracts (upserts: re-writing the same batch is a no-op). */
export async function writeSessionRecords(
    store: OpenedStore,
    sessionId: string,
    batch: RecordBatch
): Promise<void> {
    switch (batch.domain) {
        case 'auth':
            await store.domain('auth', sessionId).save(batch.credentials)
            return
        case 'signal': {
            const signal = store.domain('signal', sessionId)
            if (batch.registration) await signal.setRegistrationInfo(batch.registration)
            if (batch.signedPreKey) await signal.setSignedPreKey(batch.signedPreKey)
            await signal.setSignedPreKeyRotationTs(batch.signedPreKeyRotationTs)
            return
        }
        case 'preKey': {
            const preKey = store.domain('preKey', sessionId)
            // each record keeps its own id and `uploaded` flag; the store's id counter ends past
            // them (bulk through getOrGenPreKeys when safe, else putPreKey per key: prekey-bulk.ts)
            await putPreKeys(store, sessionId, batch.records)
            await raisePreKeyCounter(preKey, batch.nextPreKeyId ?? null)
            await preKey.setServerHasPreKeys(batch.serverHasPreKeys)
            return
        }
        case 'session':
            if (batch.entries.length > 0)
                await store.domain('session', sessionId).setSessionsBatch(batch.entries)
            return
        case 'identity':
            if (batch.entries.length > 0)
                await store.domain('identity', sessionId).setRemoteIdentities(batch.entries)
            return
        case 'senderKey': {
            const senderKey = store.domain('senderKey', sessionId)
            for (const record of batch.senderKeys) await senderKey.upsertSenderKey(record)
            if (batch.distributions.length > 0)
                await senderKey.upsertSenderKeyDistributions(batch.distributions)
            return
        }
        case 'appState':
            if (batch.syncKeys.length > 0)
                await store.domain('appState', sessionId).upsertSyncKeys(batch.syncKeys)
            return
        case 'appStateCollections':
            if (batch.collections.length > 0) {
                await store
                    .domain('appState', sessionId)
                    .setCollectionStates(batch.collections as never)
            }
            return
        case 'privacyToken':
            if (batch.records.length > 0)
                await store.domain('privacyToken', sessionId).upsertBatch(batch.records)
            return
    }
}

/**
 * Makes the target's prekey id counter at least `next`, through the contract: a store raises
 * its counter past every id put into it, so put a throw-away key at `next - 1` and consume it
 * again, unless a real key already holds that id (then the counter is already past it). If the
 * real key at that id arrives in a later batch, its put simply stores it again.
 */
async function raisePreKeyCounter(
    preKey: ReturnType<OpenedStore['domain']> & import('zapo-js/store').WaPreKeyStore,
    next: number | null
): Promise<void> {
    if (next === null || !Number.isSafeInteger(next) || next <= 1) return
    const top = next - 1
    if ((await preKey.getPreKeyById(top)) !== null) return
    const placeholder = await zapoSignal().generatePreKeyPair(top)
    await preKey.putPreKey({ ...placeholder, uploaded: true })
    await preKey.consumePreKeyById(top)
}

export interface ClearOptions {
    /** domains to clear (default: every durable domain) */
    readonly domains?: readonly AnyDomain[]
}

/**
 * Removes a session's records in the given domains (default: every durable domain), each in the
 * backend that holds it, by exact keys (the backend adapters' `clearSession`: never a key
 * pattern), credentials last. Returns what a backend left alone because it is also another
 * session's (Redis keys that read both ways).
 */
export async function clearSession(
    store: OpenedStore,
    sessionId: string,
    domains: readonly AnyDomain[] | ClearOptions = DURABLE_DOMAINS
): Promise<{ readonly shared: readonly string[] }> {
    const list: readonly AnyDomain[] = Array.isArray(domains)
        ? domains
        : ((domains as ClearOptions).domains ?? DURABLE_DOMAINS)
    const byBackend = new Map<OpenedBackend, AnyDomain[]>()
    for (const domain of list) {
        const backend = store.backendFor(domain)
        byBackend.set(backend, [...(byBackend.get(backend) ?? []), domain])
    }
    // the backend holding the credentials last: a session interrupted half-way still shows up
    // (by its credentials) to be cleared again
    const auth = store.backendFor('auth')
    const order = [...byBackend.keys()].sort((a, b) => Number(a === auth) - Number(b === auth))
    const shared: string[] = []
    for (const backend of order)
        shared.push(...(await backend.clearSession(sessionId, byBackend.get(backend)!)).shared)
    return { shared }
}

// ---------------------------------------------------------------------------------------------
// counting and digests

export type RecordCounts = Readonly<Partial<Record<DurableDomain, number>>>

/** Records per durable domain over the given batches. */
export async function countRecords(
    batches: Iterable<RecordBatch> | AsyncIterable<RecordBatch>
): Promise<RecordCounts> {
    const out: Partial<Record<DurableDomain, number>> = {}
    for await (const batch of batches) {
        const d = batchDomain(batch)
        out[d] = (out[d] ?? 0) + batchSizeOf(batch)
    }
    return out
}

export interface DomainDigest {
    /** records (prekeys, sessions, …; the registration and the signed prekey count one each) */
    readonly count: number
    /** over the records and the domain's properties */
    readonly sha256: string
}

/** Entries of `canonicalRecords` that are a domain's properties, not records. */
const PROPERTY_KEYS: ReadonlySet<string> = new Set([
    'signedPreKeyRotationTs',
    'serverHasPreKeys',
    'nextPreKeyId'
])

/** An incremental digest: `add(batch)` as batches arrive, `result()` at the end. */
export interface SessionDigester {
    add(batch: RecordBatch): void
    /**
     * Adds Signal sessions or remote identities as a store stored them (see
     * `ZapoSessionCatalog.storedRecords`): the same entries `add` makes of the decoded records.
     */
    addStored(domain: 'session' | 'identity', records: readonly StoredRecord[]): void
    result(): Record<string, DomainDigest>
}

/** Starts an incremental, order-independent digest of a session's records. */
export function digestSessionRecords(): SessionDigester {
    const entries = new Map<DurableDomain, Map<string, string>>()
    const put = (domain: DurableDomain, key: string, value: unknown): void => {
        let m = entries.get(domain)
        if (!m) entries.set(domain, (m = new Map()))
        // bytes (the store packages' own encodings) are hashed as they are; the few structured
        // records go through the canonical JSON. One-shot hashing: a Hash object per record
        // cost more than the hashing itself
        const hashed = value instanceof Uint8Array ? value : canonicalJson(value)
        m.set(key, hash('sha256', hashed, 'base64'))
    }
    return {
        add(batch) {
            for (const [key, value] of canonicalRecords(batch)) put(batchDomain(batch), key, value)
        },
        addStored(domain, records) {
            for (const r of records) put(domain, `${domain}:${addressKey(r.address)}`, r.bytes)
        },
        result() {
            const out: Record<string, DomainDigest> = {}
            for (const domain of DURABLE_DOMAINS) {
                const m = entries.get(domain)
                if (!m || m.size === 0) continue
                const lines = [...m.keys()].sort().map(key => `${key}\n${m.get(key)}\n`)
                out[domain] = {
                    // records only, as the catalog and a migration plan count them; the domain's
                    // properties (rotation time, prekey counter, server flag) are in the hash
                    count: [...m.keys()].filter(key => !PROPERTY_KEYS.has(key)).length,
                    sha256: createHash('sha256').update(lines.join('')).digest('hex')
                }
            }
            return out
        }
    }
}

/**
 * A session's digest as it is in `store`: Signal sessions and remote identities read as stored
 * where the backend's catalog offers it (`storedRecords`: one range read per page instead of a
 * key enumeration plus keyed batch reads), every other domain through `readSessionRecords`.
 * Equal to digesting `readSessionRecords` over the same domains.
 */
export async function digestSession(
    store: OpenedStore,
    catalog: SessionCatalog,
    sessionId: string,
    options: ReadOptions = {}
): Promise<Record<string, DomainDigest>> {
    const digester = digestSessionRecords()
    const domains = new Set<string>(options.domains ?? DURABLE_DOMAINS)
    const pageSize = Math.max(1, options.batchSize ?? DEFAULT_BATCH_SIZE)
    const stored: ('session' | 'identity')[] = []
    for (const domain of ['session', 'identity'] as const) {
        const own = catalogFor(store.backendFor(domain))
        if (!domains.has(domain) || own.storedRecords === undefined) continue
        stored.push(domain)
        domains.delete(domain)
        for await (const page of own.storedRecords(domain, sessionId, pageSize))
            digester.addStored(domain, page)
    }
    const rest =
        stored.length === 0 ? options : { ...options, domains: [...domains] as StoreDomain[] }
    for await (const batch of readSessionRecords(store, catalog, sessionId, rest))
        digester.add(batch)
    return digester.result()
}

/** Per-domain `{ count, sha256 }` over the given batches (order-independent). */
export async function digestRecords(
    batches: Iterable<RecordBatch> | AsyncIterable<RecordBatch>
): Promise<Record<string, DomainDigest>> {
    const digester = digestSessionRecords()
    for await (const batch of batches) digester.add(batch)
    return digester.result()
}

const addressKey = (a: SignalAddress): string =>
    `${a.user}@${a.server ?? 's.whatsapp.net'}.${a.device}`

/**
 * The records of a batch as `[key, canonical value]` pairs. Signal sessions and sender keys are
 * compared in the encoding the store packages persist them in (zapo-js's own encoders); the bulk
 * records (prekeys, sessions, identities, sender keys) as bytes, the rest as structured values
 * (canonical JSON).
 */
function canonicalRecords(batch: RecordBatch): [string, unknown][] {
    switch (batch.domain) {
        case 'auth':
            return [['credentials', canonicalCredentials(batch.credentials)]]
        case 'signal': {
            const out: [string, unknown][] = []
            if (batch.registration) out.push(['registration', batch.registration])
            if (batch.signedPreKey)
                out.push([
                    'signedPreKey',
                    { ...batch.signedPreKey, uploaded: batch.signedPreKey.uploaded === true }
                ])
            out.push(['signedPreKeyRotationTs', batch.signedPreKeyRotationTs])
            return out
        }
        case 'preKey': {
            const out: [string, unknown][] = batch.records.map(r => [
                `prekey:${String(r.keyId).padStart(10, '0')}`,
                preKeyBytes(r)
            ])
            out.push(['serverHasPreKeys', batch.serverHasPreKeys])
            if (batch.nextPreKeyId !== undefined && batch.nextPreKeyId !== null)
                out.push(['nextPreKeyId', batch.nextPreKeyId])
            return out
        }
        case 'session':
            return batch.entries.map(e => [
                `session:${addressKey(e.address)}`,
                encodeSession(e.session)
            ])
        case 'identity':
            return batch.entries.map(e => [`identity:${addressKey(e.address)}`, e.identityKey])
        case 'senderKey':
            return [
                ...batch.senderKeys.map((r): [string, unknown] => [
                    `sk:${r.groupId}:${addressKey(r.sender)}`,
                    encodeSenderKey(r)
                ]),
                ...batch.distributions.map((r): [string, unknown] => [
                    `skd:${r.groupId}:${addressKey(r.sender)}`,
                    { keyId: r.keyId, timestampMs: r.timestampMs }
                ])
            ]
        case 'appState':
            return batch.syncKeys.map(k => [`key:${Buffer.from(k.keyId).toString('hex')}`, k])
        case 'appStateCollections':
            return batch.collections.map(c => [
                `collection:${c.collection}`,
                {
                    version: c.version,
                    hash: c.hash,
                    index: [...c.indexValueMap.entries()].sort(([a], [b]) => (a < b ? -1 : 1))
                }
            ])
        case 'privacyToken':
            return batch.records.map(r => [`token:${r.jid}`, r])
    }
}

/** keyId (u32), uploaded (u8), then the public and private key, each after its length (u16). */
function preKeyBytes(record: PreKeyRecord): Uint8Array {
    const { pubKey, privKey } = record.keyPair
    const out = Buffer.allocUnsafe(4 + 1 + 2 + pubKey.length + 2 + privKey.length)
    let at = out.writeUInt32BE(record.keyId >>> 0, 0)
    at = out.writeUInt8(record.uploaded === true ? 1 : 0, at)
    at = out.writeUInt16BE(pubKey.length, at)
    out.set(pubKey, at)
    at = out.writeUInt16BE(privKey.length, at + pubKey.length)
    out.set(privKey, at)
    return out
}

function encodeSession(session: SignalSessionRecord): Uint8Array {
    return zapoSignal().encodeSignalSessionRecord(session)
}

function encodeSenderKey(record: SenderKeyRecord): Uint8Array {
    return zapoSignal().encodeSenderKeyRecord(record)
}

function canonicalCredentials(credentials: WaAuthCredentials): unknown {
    const { signedIdentity, ...rest } = credentials
    if (!signedIdentity) return rest
    return {
        ...rest,
        signedIdentity: zapoProto().ADVSignedDeviceIdentity.encode(signedIdentity).finish()
    }
}

/** JSON with sorted keys, bytes as hex, undefined/null fields dropped, Maps as sorted pairs. */
export function canonicalJson(value: unknown): string {
    return JSON.stringify(canonical(value))
}

function canonical(value: unknown): unknown {
    if (value === null || value === undefined) return null
    if (value instanceof Uint8Array)
        return `hex:${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex')}`
    if (typeof value === 'bigint') return value.toString()
    if (
        typeof value === 'object' &&
        value !== null &&
        'toNumber' in value &&
        typeof (value as { toNumber: unknown }).toNumber === 'function'
    ) {
        return (value as { toNumber(): number }).toNumber()
    }
    if (Array.isArray(value)) return value.map(canonical)
    if (value instanceof Map) {
        return [...value.entries()]
            .map(([k, v]) => [String(k), canonical(v)])
            .sort(([a], [b]) => ((a as string) < (b as string) ? -1 : 1))
    }
    if (typeof value === 'object') {
        const out: Record<string, unknown> = {}
        for (const key of Object.keys(value as object).sort()) {
            const v = (value as Record<string, unknown>)[key]
            if (v === undefined || v === null || typeof v === 'function') continue
            out[key] = canonical(v)
        }
        return out
    }
    return value
}
