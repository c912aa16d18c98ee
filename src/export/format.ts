/**
 * The zapo export format, version 1 (docs/export-format.md is the reference).
 *
 * The plaintext inside the age file is UTF-8 JSON Lines: one JSON object per
 * line, each ending in "\n".
 *
 *   {"type":"header","format":"zapo-export","version":1,…}
 *   {"type":"session","id":"t42","meJid":…}          per session, then its records:
 *   {"type":"record","domain":"preKey","kind":"preKey","data":{…}}
 *   {"type":"sessionEnd","id":"t42","domains":{"preKey":{"records":N,"sha256":"…"}},"counts":{…}}
 *   {"type":"end","sessions":1,"records":N}
 *
 * Record data is canonical JSON: object keys sorted, bytes as `{"$bytes":"<base64>"}`,
 * maps as `{"$map":[[key,value],…]}` sorted by key. Values the store packages keep
 * as protobuf (Signal session records, sender key records, the ADV signed identity,
 * app-state key fingerprints) are stored as the bytes zapo-js's own encoders
 * produce, so the tool never re-implements an encoding. zapo-js comes through its
 * CommonJS build (src/zapo-cjs.ts), the one the store packages load.
 *
 * A domain's digest is the SHA-256 of its record lines, each with its "\n",
 * in file order; import recomputes it after decryption.
 *
 * This module is pure: no I/O.
 */

import { createHash, type Hash } from 'node:crypto'
import type { SignalAddress } from 'zapo-js/signal'
import { ZapoError } from '../errors.js'
import { DURABLE_DOMAINS, type DurableDomain } from '../store/address.js'
import { EMPTY_COUNTS } from '../store/catalog/types.js'
import type { RecordBatch, SessionCounts } from '../store/records.types.js'
import { zapoAppState, zapoProto, zapoSignal } from '../zapo-cjs.js'

export const FORMAT_NAME = 'zapo-export'
export const FORMAT_VERSION = 1

export interface ExportHeader {
    readonly type: 'header'
    readonly format: typeof FORMAT_NAME
    readonly version: number
    readonly createdAt: string
    readonly zapo: string
    readonly zapoJs: string | null
    /** the durable domains this file holds (all of them unless --domains limited the export) */
    readonly domains: readonly DurableDomain[]
    readonly sessions: readonly string[]
}

export interface SessionIntro {
    readonly type: 'session'
    readonly id: string
    readonly meJid: string | null
    readonly meLid: string | null
    readonly paired: boolean
}

export interface DomainSummary {
    readonly records: number
    readonly sha256: string
}

export interface SessionEnd {
    readonly type: 'sessionEnd'
    readonly id: string
    readonly domains: Readonly<Partial<Record<DurableDomain, DomainSummary>>>
    readonly counts: ExportCounts
}

export interface FileEnd {
    readonly type: 'end'
    readonly sessions: number
    readonly records: number
}

/** What a session holds, per record kind (the SessionCounts shape, counted from the file). */
export type ExportCounts = { -readonly [K in keyof SessionCounts]: SessionCounts[K] }

export function emptyCounts(): ExportCounts {
    return { ...EMPTY_COUNTS }
}

/** Whether a session's counts show any record at all (a present flag or a non-zero count). */
export function hasRecords(counts: SessionCounts): boolean {
    return (
        counts.credentials ||
        counts.registration ||
        counts.signedPreKey ||
        Object.values(counts).some(v => typeof v === 'number' && v > 0)
    )
}

/** The record kinds of each durable domain. */
const RECORD_KINDS = Object.freeze({
    auth: ['credentials'],
    signal: ['signal'],
    preKey: ['preKeyState', 'preKey'],
    session: ['session'],
    identity: ['identity'],
    senderKey: ['senderKey', 'senderKeyDistribution'],
    appState: ['syncKey', 'collection'],
    privacyToken: ['privacyToken']
} as const satisfies Record<DurableDomain, readonly string[]>)

export type RecordKind = (typeof RECORD_KINDS)[DurableDomain][number]

// ---------------------------------------------------------------------------------------------
// canonical values

const BASE64_PATTERN = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

function toBase64(bytes: Uint8Array): string {
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')
}

/** Plain data → canonical JSON value (sorted keys, tagged bytes and maps, undefined dropped). */
export function encodeValue(value: unknown): unknown {
    if (value === null) return null
    switch (typeof value) {
        case 'string':
        case 'boolean':
            return value
        case 'number':
            if (!Number.isFinite(value)) throw new Error('cannot export a non-finite number')
            return value
        case 'object':
            break
        default:
            throw new Error(`cannot export a value of type ${typeof value}`)
    }
    if (value instanceof Uint8Array) return { $bytes: toBase64(value) }
    if (value instanceof Map) {
        const entries = [...value.entries()].map(([k, v]) => [String(k), encodeValue(v)] as const)
        entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
        return { $map: entries }
    }
    if (Array.isArray(value)) return value.map(v => encodeValue(v === undefined ? null : v))
    const out: Record<string, unknown> = {}
    for (const key of Object.keys(value).sort()) {
        const v = (value as Record<string, unknown>)[key]
        if (v === undefined || typeof v === 'function') continue
        out[key] = encodeValue(v)
    }
    return out
}

/** Canonical JSON value → plain data. Throws on malformed tags. */
export function decodeValue(value: unknown): unknown {
    if (value === null || typeof value !== 'object') return value
    if (Array.isArray(value)) return value.map(decodeValue)
    const obj = value as Record<string, unknown>
    if ('$bytes' in obj) {
        const text = obj.$bytes
        if (
            typeof text !== 'string' ||
            !BASE64_PATTERN.test(text) ||
            Object.keys(obj).length !== 1
        ) {
            throw new Error('malformed $bytes value')
        }
        const buf = Buffer.from(text, 'base64')
        return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength)
    }
    if ('$map' in obj) {
        const entries = obj.$map
        if (!Array.isArray(entries) || Object.keys(obj).length !== 1)
            throw new Error('malformed $map value')
        const map = new Map<string, unknown>()
        for (const entry of entries) {
            if (!Array.isArray(entry) || entry.length !== 2 || typeof entry[0] !== 'string')
                throw new Error('malformed $map entry')
            map.set(entry[0], decodeValue(entry[1]))
        }
        return map
    }
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(obj)) out[k] = decodeValue(v)
    return out
}

// ---------------------------------------------------------------------------------------------
// records ↔ lines

export interface EncodedRecord {
    readonly domain: DurableDomain
    readonly kind: RecordKind
    readonly data: unknown
}

/** One RecordBatch → the records it contributes to the file, in order. */
export function encodeBatch(batch: RecordBatch): EncodedRecord[] {
    switch (batch.domain) {
        case 'auth': {
            const { signedIdentity, ...rest } = batch.credentials
            const data = {
                ...rest,
                ...(signedIdentity
                    ? {
                          signedIdentity: zapoProto()
                              .ADVSignedDeviceIdentity.encode(signedIdentity)
                              .finish()
                      }
                    : {})
            }
            return [{ domain: 'auth', kind: 'credentials', data }]
        }
        case 'signal':
            return [
                {
                    domain: 'signal',
                    kind: 'signal',
                    data: {
                        registration: batch.registration,
                        signedPreKey: batch.signedPreKey,
                        signedPreKeyRotationTs: batch.signedPreKeyRotationTs
                    }
                }
            ]
        case 'preKey':
            return batch.records.map(record => ({ domain: 'preKey', kind: 'preKey', data: record }))
        case 'session':
            return batch.entries.map(entry => ({
                domain: 'session',
                kind: 'session',
                data: {
                    address: entry.address,
                    record: zapoSignal().encodeSignalSessionRecord(entry.session)
                }
            }))
        case 'identity':
            return batch.entries.map(entry => ({
                domain: 'identity',
                kind: 'identity',
                data: entry
            }))
        case 'senderKey':
            return [
                ...batch.senderKeys.map(record => ({
                    domain: 'senderKey' as const,
                    kind: 'senderKey' as const,
                    data: {
                        groupId: record.groupId,
                        sender: record.sender,
                        record: zapoSignal().encodeSenderKeyRecord(record)
                    }
                })),
                ...batch.distributions.map(record => ({
                    domain: 'senderKey' as const,
                    kind: 'senderKeyDistribution' as const,
                    data: record
                }))
            ]
        case 'appState':
            return batch.syncKeys.map(key => {
                const { fingerprint, ...rest } = key
                const encoded = zapoAppState().encodeAppStateFingerprint(fingerprint)
                return {
                    domain: 'appState',
                    kind: 'syncKey',
                    data: { ...rest, ...(encoded ? { fingerprint: encoded } : {}) }
                }
            })
        case 'appStateCollections':
            return batch.collections.map(c => ({
                domain: 'appState',
                kind: 'collection',
                data: {
                    collection: c.collection,
                    version: c.version,
                    hash: c.hash,
                    indexValueMap: toMap(c.indexValueMap)
                }
            }))
        case 'privacyToken':
            return batch.records.map(record => ({
                domain: 'privacyToken',
                kind: 'privacyToken',
                data: record
            }))
    }
}

function toMap(
    value: ReadonlyMap<string, Uint8Array> | Readonly<Record<string, Uint8Array>>
): ReadonlyMap<string, Uint8Array> {
    return value instanceof Map ? value : new Map(Object.entries(value))
}

/**
 * The `preKeyState` record, the last record of the preKey domain: the serverHasPreKeys flag and
 * the store's prekey id counter (null when unknown).
 */
export function preKeyStateRecord(
    serverHasPreKeys: boolean,
    nextPreKeyId: number | null
): EncodedRecord {
    return { domain: 'preKey', kind: 'preKeyState', data: { serverHasPreKeys, nextPreKeyId } }
}

/** The exact bytes of one record line (without the newline). */
export function recordLine(record: EncodedRecord): string {
    return JSON.stringify({
        type: 'record',
        domain: record.domain,
        kind: record.kind,
        data: encodeValue(record.data)
    })
}

/** Counts one record into a session's per-kind counts. */
export function countRecord(counts: ExportCounts, kind: RecordKind, data: unknown): void {
    switch (kind) {
        case 'credentials':
            counts.credentials = true
            return
        case 'signal': {
            const d = data as { registration: unknown; signedPreKey: unknown }
            counts.registration = d.registration !== null && d.registration !== undefined
            counts.signedPreKey = d.signedPreKey !== null && d.signedPreKey !== undefined
            return
        }
        case 'preKeyState':
            return
        case 'preKey':
            counts.preKeys += 1
            if ((data as { uploaded?: unknown }).uploaded === true) counts.preKeysUploaded += 1
            return
        case 'session':
            counts.signalSessions += 1
            return
        case 'identity':
            counts.identities += 1
            return
        case 'senderKey':
            counts.senderKeys += 1
            return
        case 'senderKeyDistribution':
            counts.senderKeyDistributions += 1
            return
        case 'syncKey':
            counts.appStateSyncKeys += 1
            return
        case 'collection':
            counts.appStateCollections += 1
            return
        case 'privacyToken':
            counts.privacyTokens += 1
    }
}

/** Accumulates a session's per-domain record counts and digests as lines are written or read. */
export class DomainDigests {
    private readonly hashes = new Map<DurableDomain, { hash: Hash; records: number }>()

    constructor(domains: readonly DurableDomain[]) {
        for (const domain of domains)
            this.hashes.set(domain, { hash: createHash('sha256'), records: 0 })
    }

    has(domain: DurableDomain): boolean {
        return this.hashes.has(domain)
    }

    add(domain: DurableDomain, line: string | Uint8Array): void {
        const entry = this.hashes.get(domain)
        if (!entry) throw new Error(`domain ${domain} is not part of this export`)
        entry.hash.update(line)
        entry.hash.update('\n')
        entry.records += 1
    }

    summary(): Partial<Record<DurableDomain, DomainSummary>> {
        const out: Partial<Record<DurableDomain, DomainSummary>> = {}
        for (const domain of DURABLE_DOMAINS) {
            const entry = this.hashes.get(domain)
            if (entry) out[domain] = { records: entry.records, sha256: entry.hash.digest('hex') }
        }
        return out
    }
}

// ---------------------------------------------------------------------------------------------
// decoding records back into store writes

export interface DecodedRecord {
    readonly domain: DurableDomain
    readonly kind: RecordKind
    /** decoded data, ready for the store contracts */
    readonly value: unknown
}

function asObject(value: unknown, what: string): Record<string, unknown> {
    if (
        value === null ||
        typeof value !== 'object' ||
        Array.isArray(value) ||
        value instanceof Uint8Array ||
        value instanceof Map
    ) {
        throw new Error(`${what} is not an object`)
    }
    return value as Record<string, unknown>
}

function asBytesField(obj: Record<string, unknown>, key: string, what: string): Uint8Array {
    const value = obj[key]
    if (!(value instanceof Uint8Array)) throw new Error(`${what}.${key} is not bytes`)
    return value
}

function asAddress(value: unknown, what: string): SignalAddress {
    const obj = asObject(value, what)
    if (
        typeof obj.user !== 'string' ||
        typeof obj.device !== 'number' ||
        (obj.server !== undefined && typeof obj.server !== 'string')
    ) {
        throw new Error(`${what} is not a Signal address`)
    }
    return obj as unknown as SignalAddress
}

function checkKeyPair(value: unknown, what: string): void {
    const obj = asObject(value, what)
    asBytesField(obj, 'pubKey', what)
    asBytesField(obj, 'privKey', what)
}

/** Decodes one record's data (already through decodeValue) for the store contracts; throws on a malformed record. */
function decodeRecord(kind: RecordKind, raw: unknown): unknown {
    const data = asObject(raw, kind)
    switch (kind) {
        case 'credentials': {
            checkKeyPair(data.noiseKeyPair, 'credentials.noiseKeyPair')
            const reg = asObject(data.registrationInfo, 'credentials.registrationInfo')
            checkKeyPair(reg.identityKeyPair, 'credentials.registrationInfo.identityKeyPair')
            checkKeyPair(
                asObject(data.signedPreKey, 'credentials.signedPreKey').keyPair,
                'credentials.signedPreKey.keyPair'
            )
            asBytesField(data, 'advSecretKey', 'credentials')
            const { signedIdentity, ...rest } = data
            if (signedIdentity === undefined) return rest
            if (!(signedIdentity instanceof Uint8Array))
                throw new Error('credentials.signedIdentity is not bytes')
            return {
                ...rest,
                signedIdentity: zapoProto().ADVSignedDeviceIdentity.decode(signedIdentity)
            }
        }
        case 'signal': {
            if (data.registration !== null)
                checkKeyPair(
                    asObject(data.registration, 'registration').identityKeyPair,
                    'registration.identityKeyPair'
                )
            if (data.signedPreKey !== null)
                checkKeyPair(
                    asObject(data.signedPreKey, 'signedPreKey').keyPair,
                    'signedPreKey.keyPair'
                )
            if (
                data.signedPreKeyRotationTs !== null &&
                typeof data.signedPreKeyRotationTs !== 'number'
            ) {
                throw new Error('signedPreKeyRotationTs is not a number')
            }
            return {
                registration: data.registration ?? null,
                signedPreKey: data.signedPreKey ?? null,
                signedPreKeyRotationTs: data.signedPreKeyRotationTs ?? null
            }
        }
        case 'preKeyState': {
            if (typeof data.serverHasPreKeys !== 'boolean')
                throw new Error('preKeyState.serverHasPreKeys is not a boolean')
            const next = data.nextPreKeyId ?? null
            if (
                next !== null &&
                (typeof next !== 'number' || !Number.isSafeInteger(next) || next < 1)
            ) {
                throw new Error('preKeyState.nextPreKeyId is not a positive integer')
            }
            return { serverHasPreKeys: data.serverHasPreKeys, nextPreKeyId: next }
        }
        case 'preKey':
            if (typeof data.keyId !== 'number') throw new Error('preKey.keyId is not a number')
            checkKeyPair(data.keyPair, 'preKey.keyPair')
            return data
        case 'session': {
            const address = asAddress(data.address, 'session.address')
            return {
                address,
                session: zapoSignal().decodeSignalSessionRecord(
                    asBytesField(data, 'record', 'session')
                )
            }
        }
        case 'identity':
            return {
                address: asAddress(data.address, 'identity.address'),
                identityKey: asBytesField(data, 'identityKey', 'identity')
            }
        case 'senderKey': {
            if (typeof data.groupId !== 'string')
                throw new Error('senderKey.groupId is not a string')
            const sender = asAddress(data.sender, 'senderKey.sender')
            return zapoSignal().decodeSenderKeyRecord(
                asBytesField(data, 'record', 'senderKey'),
                data.groupId,
                sender
            )
        }
        case 'senderKeyDistribution':
            if (typeof data.groupId !== 'string' || typeof data.keyId !== 'number')
                throw new Error('malformed senderKeyDistribution')
            asAddress(data.sender, 'senderKeyDistribution.sender')
            return data
        case 'syncKey': {
            asBytesField(data, 'keyId', 'syncKey')
            asBytesField(data, 'keyData', 'syncKey')
            if (typeof data.timestamp !== 'number')
                throw new Error('syncKey.timestamp is not a number')
            const { fingerprint, ...rest } = data
            if (fingerprint === undefined) return rest
            return { ...rest, fingerprint: zapoAppState().decodeAppStateFingerprint(fingerprint) }
        }
        case 'collection':
            if (typeof data.collection !== 'string' || typeof data.version !== 'number')
                throw new Error('malformed collection')
            asBytesField(data, 'hash', 'collection')
            if (!(data.indexValueMap instanceof Map))
                throw new Error('collection.indexValueMap is not a map')
            return data
        case 'privacyToken':
            if (typeof data.jid !== 'string') throw new Error('privacyToken.jid is not a string')
            return data
    }
}

const KINDS_BY_DOMAIN: ReadonlyMap<string, ReadonlySet<string>> = new Map(
    Object.entries(RECORD_KINDS).map(([domain, kinds]) => [domain, new Set<string>(kinds)])
)

function isRecordKind(domain: string, kind: unknown): kind is RecordKind {
    return typeof kind === 'string' && KINDS_BY_DOMAIN.get(domain)?.has(kind) === true
}

/**
 * Groups decoded records of one session into RecordBatches for the data layer's
 * writer, at most `batchSize` records each, preserving file order.
 */
export function* batchesOf(
    records: Iterable<DecodedRecord>,
    batchSize: number,
    preKeyState: PreKeyState | null = null
): Generator<RecordBatch> {
    // every preKey batch carries the flag; the counter rides on the last one (after all keys)
    const state: PreKeyState = preKeyState ?? { serverHasPreKeys: false, nextPreKeyId: null }
    let pending: { kind: RecordKind; values: unknown[] } | null = null
    let preKeyBatches = 0
    const flush = function* (last = false): Generator<RecordBatch> {
        if (pending === null || pending.values.length === 0) return
        const { kind, values } = pending
        pending = null
        if (kind === 'preKey') {
            preKeyBatches += 1
            yield {
                domain: 'preKey',
                records: values as never,
                serverHasPreKeys: state.serverHasPreKeys,
                nextPreKeyId: last ? state.nextPreKeyId : null
            }
            return
        }
        yield toBatch(kind as Exclude<RecordKind, 'preKey' | 'preKeyState'>, values)
    }
    for (const record of records) {
        if (record.kind === 'preKeyState') {
            // the last record of the preKey domain
            const value = record.value as PreKeyState
            if (pending?.kind === 'preKey') {
                yield* flush(true)
            } else if (preKeyBatches === 0) {
                yield { domain: 'preKey', records: [], ...value }
            }
            continue
        }
        const single = record.kind === 'credentials' || record.kind === 'signal'
        if (
            pending !== null &&
            (pending.kind !== record.kind || pending.values.length >= batchSize || single)
        )
            yield* flush()
        pending ??= { kind: record.kind, values: [] }
        pending.values.push(record.value)
    }
    yield* flush()
}

export interface PreKeyState {
    readonly serverHasPreKeys: boolean
    readonly nextPreKeyId: number | null
}

function toBatch(
    kind: Exclude<RecordKind, 'preKey' | 'preKeyState'>,
    values: unknown[]
): RecordBatch {
    switch (kind) {
        case 'credentials':
            return { domain: 'auth', credentials: values[0] as never }
        case 'signal':
            return { domain: 'signal', ...(values[0] as object) } as RecordBatch
        case 'session':
            return { domain: 'session', entries: values as never }
        case 'identity':
            return { domain: 'identity', entries: values as never }
        case 'senderKey':
            return { domain: 'senderKey', senderKeys: values as never, distributions: [] }
        case 'senderKeyDistribution':
            return { domain: 'senderKey', senderKeys: [], distributions: values as never }
        case 'syncKey':
            return { domain: 'appState', syncKeys: values as never }
        case 'collection':
            return { domain: 'appStateCollections', collections: values as never }
        case 'privacyToken':
            return { domain: 'privacyToken', records: values as never }
    }
}

// ---------------------------------------------------------------------------------------------
// reading a whole plaintext

export interface ParsedSession {
    readonly intro: SessionIntro
    readonly end: SessionEnd
    /** [start, end) byte offsets of each record line in the plaintext */
    readonly lines: readonly (readonly [number, number])[]
    /** the session's preKeyState record (null when the preKey domain was not exported) */
    readonly preKeyState: PreKeyState | null
}

export interface ParsedExport {
    readonly header: ExportHeader
    readonly sessions: readonly ParsedSession[]
    readonly records: number
    readonly bytes: number
}

function badFile(message: string, meta: Record<string, unknown> = {}): ZapoError {
    return new ZapoError('BAD_FILE', message, meta)
}

function notOurs(detail: string): ZapoError {
    return new ZapoError(
        'BAD_FILE',
        `the file decrypts, but it is not a zapo export (${detail}); pass a file written by \`zapo export\``,
        { reason: 'not-a-zapo-export' }
    )
}

/**
 * Parses and verifies a decrypted plaintext: header, format version, the
 * session/record/end structure, every record's encoding, and each domain's
 * count and SHA-256. Throws BAD_FILE / UNSUPPORTED_VERSION; never touches a store.
 */
export function parseExport(plaintext: Uint8Array): ParsedExport {
    const buf = Buffer.from(plaintext.buffer, plaintext.byteOffset, plaintext.byteLength)
    let offset = 0
    const nextLine = (): readonly [number, number] | null => {
        if (offset >= buf.length) return null
        const nl = buf.indexOf(0x0a, offset)
        if (nl < 0)
            throw badFile(
                'the export ends in the middle of a line: the file is truncated; use a complete copy',
                { reason: 'truncated' }
            )
        const range = [offset, nl] as const
        offset = nl + 1
        return range
    }
    const parseLine = (range: readonly [number, number], what: string): Record<string, unknown> => {
        let value: unknown
        try {
            value = JSON.parse(buf.toString('utf8', range[0], range[1]))
        } catch {
            throw badFile(`${what} is not valid JSON: the file is damaged; use an intact copy`, {
                reason: 'malformed'
            })
        }
        if (value === null || typeof value !== 'object' || Array.isArray(value)) {
            throw badFile(`${what} is not a JSON object: the file is damaged; use an intact copy`, {
                reason: 'malformed'
            })
        }
        return value as Record<string, unknown>
    }

    // header: anything else means "not ours"
    if (buf.length === 0 || buf[0] !== 0x7b)
        throw notOurs('its content is not a zapo export document')
    const headerRange = nextLine()
    if (headerRange === null) throw notOurs('it is empty')
    let headerValue: Record<string, unknown>
    try {
        headerValue = parseLine(headerRange, 'the header')
    } catch {
        throw notOurs('its first line is not a zapo export header')
    }
    if (headerValue.format !== FORMAT_NAME)
        throw notOurs('its header does not name the zapo-export format')
    const version = headerValue.version
    if (typeof version !== 'number' || !Number.isInteger(version) || version < 1) {
        throw badFile(
            'the export header carries no valid format version: the file is damaged; use an intact copy',
            { reason: 'malformed' }
        )
    }
    if (version > FORMAT_VERSION) {
        throw new ZapoError(
            'UNSUPPORTED_VERSION',
            `the export uses format version ${version}, this zapo reads up to version ${FORMAT_VERSION}: upgrade zapo to import it`,
            { version, supported: FORMAT_VERSION }
        )
    }
    const header = headerValue as unknown as ExportHeader
    const rawDomains: unknown = headerValue.domains
    const rawSessions: unknown = headerValue.sessions
    if (
        headerValue.type !== 'header' ||
        typeof header.createdAt !== 'string' ||
        !Array.isArray(rawDomains) ||
        !rawDomains.every(d => (DURABLE_DOMAINS as readonly string[]).includes(d)) ||
        !Array.isArray(rawSessions) ||
        !rawSessions.every(s => typeof s === 'string')
    ) {
        throw badFile('the export header is malformed: the file is damaged; use an intact copy', {
            reason: 'malformed'
        })
    }

    const sessions: ParsedSession[] = []
    let totalRecords = 0
    let ended: FileEnd | null = null
    let lineNo = 1
    for (let range = nextLine(); range !== null; range = nextLine()) {
        lineNo += 1
        if (ended !== null)
            throw badFile(
                `line ${lineNo} follows the end marker: the file was altered; use an intact copy`,
                { reason: 'malformed' }
            )
        const line = parseLine(range, `line ${lineNo}`)
        if (line.type === 'end') {
            ended = line as unknown as FileEnd
            continue
        }
        if (line.type !== 'session' || typeof line.id !== 'string') {
            throw badFile(
                `line ${lineNo} should start a session: the file is damaged; use an intact copy`,
                { reason: 'malformed' }
            )
        }
        const intro = line as unknown as SessionIntro
        const digests = new DomainDigests(header.domains)
        const counts = emptyCounts()
        const lines: (readonly [number, number])[] = []
        let preKeyState: PreKeyState | null = null
        let end: SessionEnd | null = null
        for (let r = nextLine(); r !== null; r = nextLine()) {
            lineNo += 1
            const rec = parseLine(r, `line ${lineNo}`)
            if (rec.type === 'sessionEnd') {
                end = rec as unknown as SessionEnd
                break
            }
            const domain = rec.domain
            if (
                rec.type !== 'record' ||
                typeof domain !== 'string' ||
                !digests.has(domain as DurableDomain) ||
                !isRecordKind(domain, rec.kind)
            ) {
                throw badFile(
                    `line ${lineNo} is not a record of an exported domain: the file is damaged; use an intact copy`,
                    { reason: 'malformed' }
                )
            }
            let value: unknown
            try {
                value = decodeRecord(rec.kind, decodeValue(rec.data))
            } catch (error) {
                throw badFile(
                    `record on line ${lineNo} (${domain}/${rec.kind}) cannot be decoded (${(error as Error).message}): the file is damaged; use an intact copy`,
                    { reason: 'malformed' }
                )
            }
            if (preKeyState !== null && domain === 'preKey') {
                throw badFile(
                    `line ${lineNo}: a preKey record follows the preKey state: the file is damaged; use an intact copy`,
                    { reason: 'malformed' }
                )
            }
            if (rec.kind === 'preKeyState') preKeyState = value as PreKeyState
            countRecord(counts, rec.kind, value)
            digests.add(domain as DurableDomain, buf.subarray(r[0], r[1]))
            lines.push(r)
        }
        if (end === null)
            throw badFile(
                `the export ends inside session "${intro.id}": the file is truncated; use a complete copy`,
                { reason: 'truncated' }
            )
        if (end.id !== intro.id)
            throw badFile(
                `session "${intro.id}" is closed as "${String(end.id)}": the file is damaged; use an intact copy`,
                { reason: 'malformed' }
            )
        const actual = digests.summary()
        for (const domain of header.domains) {
            const expected = end.domains?.[domain]
            const got = actual[domain]!
            if (
                expected === undefined ||
                expected.records !== got.records ||
                expected.sha256 !== got.sha256
            ) {
                throw badFile(
                    `digest mismatch in domain ${domain} of session "${intro.id}": the file was altered after it was written; use an intact copy`,
                    { reason: 'digest-mismatch', session: intro.id, domain }
                )
            }
        }
        totalRecords += lines.length
        sessions.push({ intro, end: { ...end, counts }, lines, preKeyState })
    }
    if (ended === null)
        throw badFile('the export has no end marker: the file is truncated; use a complete copy', {
            reason: 'truncated'
        })
    if (ended.sessions !== sessions.length || ended.records !== totalRecords) {
        throw badFile(
            'the export end marker does not match its content: the file was altered; use an intact copy',
            { reason: 'digest-mismatch' }
        )
    }
    const ids = sessions.map(s => s.intro.id)
    if (
        ids.length !== header.sessions.length ||
        ids.some((id, i) => header.sessions[i] !== id) ||
        new Set(ids).size !== ids.length
    ) {
        throw badFile(
            'the sessions in the export do not match its header: the file was altered; use an intact copy',
            { reason: 'malformed' }
        )
    }
    return { header, sessions, records: totalRecords, bytes: buf.length }
}

/** Decodes the record lines of one parsed session, in file order (parseExport has already validated them). */
export function* decodedRecords(
    plaintext: Uint8Array,
    session: ParsedSession
): Generator<DecodedRecord> {
    const buf = Buffer.from(plaintext.buffer, plaintext.byteOffset, plaintext.byteLength)
    for (const [start, end] of session.lines) {
        const rec = JSON.parse(buf.toString('utf8', start, end)) as {
            domain: DurableDomain
            kind: RecordKind
            data: unknown
        }
        yield {
            domain: rec.domain,
            kind: rec.kind,
            value: decodeRecord(rec.kind, decodeValue(rec.data))
        }
    }
}
