/**
 * Reading a Baileys multi-file auth folder (`useMultiFileAuthState`) and converting one session
 * into zapo-js records. Nothing here writes: files are only listed and read.
 *
 * The format, as Baileys 6.x/7.x writes it (its src/Utils/use-multi-file-auth-state.ts):
 * one JSON file per record, `creds.json` plus `<type>-<id>.json`, with `/` in an id written `__`
 * and `:` written `-`; bytes are `{ "type": "Buffer", "data": "<base64>" }` (its BufferJSON).
 * Signal sessions are libsignal-node's JSON session records (its session_record.js); sender keys
 * are arrays of libsignal `SenderKeyStateStructure` objects, the last one current.
 */

import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import type { WaAuthCredentials } from 'zapo-js'
import type { WaAppStateSyncKey } from 'zapo-js/appstate'
import type { WaStoredPrivacyTokenRecord } from 'zapo-js/store'
import type {
    PreKeyRecord,
    SenderKeyDistributionRecord,
    SenderKeyRecord,
    SignalAddress
} from 'zapo-js/signal'
import { errorLine, ZapoError } from '../../../errors.js'
import type {
    AddressedIdentity,
    AddressedSession,
    CollectionState,
    ForeignSession
} from '../foreign.js'
import { addressKey } from '../foreign.js'
import {
    addressOfJid,
    key32,
    messageKeyFromSeed,
    parseProtocolAddress,
    rawPublicKey,
    serializedPublicKey,
    sessionRecordOf,
    toNumber,
    type SessionState
} from '../foreign-convert.js'

/** The record files of a Baileys folder, by the type prefix of their names. */
const FILE_TYPES = Object.freeze([
    'pre-key',
    'session',
    'sender-key-memory',
    'sender-key',
    'app-state-sync-key',
    'app-state-sync-version',
    'lid-mapping',
    'device-list',
    'tctoken',
    'identity-key'
] as const)
type FileType = (typeof FILE_TYPES)[number]

/** Whether a file name is one Baileys writes (creds.json or a record file). */
export function isBaileysFile(name: string): boolean {
    return name === 'creds.json' || typeOf(name) !== null
}

function typeOf(name: string): { type: FileType; id: string } | null {
    if (!name.endsWith('.json')) return null
    const base = name.slice(0, -'.json'.length)
    // longest prefix first: sender-key-memory before sender-key
    for (const type of [...FILE_TYPES].sort((a, b) => b.length - a.length)) {
        if (base.startsWith(`${type}-`)) return { type, id: base.slice(type.length + 1) }
    }
    return null
}

/** A record id as Baileys wrote it into a file name, back (`__` was `/`; `-` may have been `:`). */
function unfixName(id: string): string {
    return id.replace(/__/g, '/')
}

/** Baileys's BufferJSON: `{type:'Buffer', data}` (base64 or a byte array) and `{buffer:true,value}`. */
function reviveBytes(_key: string, value: unknown): unknown {
    if (typeof value === 'object' && value !== null) {
        const v = value as { type?: unknown; buffer?: unknown; data?: unknown; value?: unknown }
        if (v.type === 'Buffer' || v.buffer === true) {
            const data = v.data ?? v.value
            if (typeof data === 'string') return new Uint8Array(Buffer.from(data, 'base64'))
            if (Array.isArray(data)) return new Uint8Array(data as number[])
            return new Uint8Array(0)
        }
    }
    return value
}

function bytesFrom(value: unknown, what: string): Uint8Array {
    if (value instanceof Uint8Array) return value
    if (typeof value === 'string') return new Uint8Array(Buffer.from(value, 'base64'))
    throw new Error(`${what} is missing`)
}

function hexOf(bytes: Uint8Array): string {
    return Buffer.from(bytes).toString('hex')
}

function damaged(folder: string, file: string, problem: string): ZapoError {
    return new ZapoError(
        'INTEGRITY',
        `${join(folder, file)} ${problem}: the Baileys folder is damaged (a write cut short?); restore it from a backup, or stop the app that writes it and retry`,
        { folder, file }
    )
}

function readJson(folder: string, file: string): unknown {
    let text: string
    try {
        text = readFileSync(join(folder, file), 'utf8')
    } catch (error) {
        throw new ZapoError(
            'STORE_UNAVAILABLE',
            `cannot read ${join(folder, file)} (${errorLine(error)}); run zapo as a user who can read the folder`,
            { folder, file }
        )
    }
    try {
        return JSON.parse(text, reviveBytes)
    } catch (error) {
        throw damaged(folder, file, `is not readable JSON (${errorLine(error)})`)
    }
}

interface BaileysCreds {
    readonly noiseKey: { public: Uint8Array; private: Uint8Array }
    readonly signedIdentityKey: { public: Uint8Array; private: Uint8Array }
    readonly signedPreKey: {
        keyPair: { public: Uint8Array; private: Uint8Array }
        signature: Uint8Array
        keyId: number
    }
    readonly registrationId: number
    readonly advSecretKey: string
    readonly [key: string]: unknown
}

function keyPairOf(value: unknown, what: string): { public: Uint8Array; private: Uint8Array } {
    const v = value as { public?: unknown; private?: unknown } | null | undefined
    if (!(v?.public instanceof Uint8Array) || !(v.private instanceof Uint8Array))
        throw new Error(`${what} has no key pair`)
    return { public: v.public, private: v.private }
}

/** creds.json, checked for the keys a session cannot work without. */
function readCreds(folder: string): BaileysCreds {
    const raw = readJson(folder, 'creds.json') as Record<string, unknown> | null
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
        throw damaged(folder, 'creds.json', 'holds no credentials object')
    try {
        keyPairOf(raw.noiseKey, 'noiseKey')
        keyPairOf(raw.signedIdentityKey, 'signedIdentityKey')
        const spk = raw.signedPreKey as Record<string, unknown> | undefined
        keyPairOf(spk?.keyPair, 'signedPreKey')
        bytesFrom(spk?.signature, 'signedPreKey.signature')
        if (typeof spk?.keyId !== 'number') throw new Error('signedPreKey.keyId is missing')
        if (typeof raw.registrationId !== 'number') throw new Error('registrationId is missing')
        if (typeof raw.advSecretKey !== 'string') throw new Error('advSecretKey is missing')
    } catch (error) {
        throw damaged(folder, 'creds.json', `lacks its keys (${errorLine(error)})`)
    }
    return raw as unknown as BaileysCreds
}

/** Bookkeeping of creds.json that zapo-js has no place for (listed, never silently dropped). */
const CREDS_BOOKKEEPING = Object.freeze([
    'processedHistoryMessages',
    'accountSyncCounter',
    'accountSettings',
    'lastAccountSyncTimestamp',
    'lastPropHash',
    'myAppStateKeyId',
    'signalIdentities'
])

function credentialsOf(creds: BaileysCreds): WaAuthCredentials {
    const me = creds.me as { id?: unknown; lid?: unknown; name?: unknown } | undefined
    const identity = creds.signedIdentityKey
    const spk = creds.signedPreKey
    const registered = typeof me?.id === 'string'
    const account = creds.account as Record<string, unknown> | undefined
    return {
        noiseKeyPair: {
            pubKey: rawPublicKey(creds.noiseKey.public, 'noiseKey.public'),
            privKey: key32(creds.noiseKey.private, 'noiseKey.private')
        },
        registrationInfo: {
            registrationId: creds.registrationId,
            identityKeyPair: {
                pubKey: rawPublicKey(identity.public, 'signedIdentityKey.public'),
                privKey: key32(identity.private, 'signedIdentityKey.private')
            }
        },
        signedPreKey: {
            keyId: spk.keyId,
            keyPair: {
                pubKey: rawPublicKey(spk.keyPair.public, 'signedPreKey.public'),
                privKey: key32(spk.keyPair.private, 'signedPreKey.private')
            },
            signature: spk.signature,
            // as the zapo stores give credentials back: the flag lives in the signal domain
            uploaded: false
        },
        advSecretKey: new Uint8Array(Buffer.from(creds.advSecretKey, 'base64')),
        ...(account
            ? {
                  signedIdentity: {
                      details: account.details as Uint8Array | undefined,
                      accountSignatureKey: account.accountSignatureKey as Uint8Array | undefined,
                      accountSignature: account.accountSignature as Uint8Array | undefined,
                      deviceSignature: account.deviceSignature as Uint8Array | undefined
                  }
              }
            : {}),
        ...(registered ? { meJid: me!.id as string } : {}),
        ...(typeof me?.lid === 'string' ? { meLid: me.lid } : {}),
        ...(typeof me?.name === 'string' ? { meDisplayName: me.name } : {}),
        ...(typeof creds.platform === 'string' ? { platform: creds.platform } : {}),
        ...(creds.routingInfo instanceof Uint8Array ? { routingInfo: creds.routingInfo } : {})
    }
}

/** libsignal-node's JSON of one session state (its SessionEntry.serialize()). */
interface SessionEntryJson {
    registrationId?: number
    currentRatchet: {
        ephemeralKeyPair: { pubKey: string; privKey: string }
        lastRemoteEphemeralKey: string
        previousCounter: number
        rootKey: string
    }
    indexInfo: {
        baseKey: string
        baseKeyType: number
        closed: number
        used: number
        created: number
        remoteIdentityKey: string
    }
    _chains: Record<
        string,
        {
            chainKey: { counter: number; key?: string }
            chainType: number
            messageKeys: Record<string, string>
        }
    >
    pendingPreKey?: { baseKey: string; signedKeyId: number; preKeyId?: number }
}

const CHAIN_SENDING = 1
const b64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64'))

/**
 * One libsignal-node session state as a libsignal `SessionStructure`. Counters: libsignal-node
 * keeps the index of the last message key it derived (-1 for none), the protobuf the index of
 * the next one. Skipped message keys are kept as seeds there and expanded here (HKDF
 * "WhisperMessageKeys"). A receiving chain libsignal-node closed has no chain key left: it keeps
 * its skipped keys and a zero chain key (no further message on it can decrypt, as before).
 */
function stateOf(entry: SessionEntryJson, local: { regId: number; pubKey: Uint8Array }) {
    const ratchet = entry.currentRatchet
    const sendingKey = ratchet.ephemeralKeyPair.pubKey
    const chains = Object.entries(entry._chains ?? {})
    const sending = entry._chains?.[sendingKey]
    if (!sending || sending.chainType !== CHAIN_SENDING || sending.chainKey.key === undefined)
        return null
    const receiverChains = chains
        .filter(([, c]) => c.chainType !== CHAIN_SENDING)
        .map(([ratchetKey, c]) => ({
            senderRatchetKey: b64(ratchetKey),
            chainKey: {
                index: c.chainKey.counter + 1,
                key: c.chainKey.key !== undefined ? b64(c.chainKey.key) : new Uint8Array(32)
            },
            messageKeys: Object.entries(c.messageKeys ?? {}).map(([index, seed]) =>
                messageKeyFromSeed(Number(index), b64(seed))
            )
        }))
    const state: SessionState = {
        sessionVersion: 3,
        localIdentityPublic: local.pubKey,
        remoteIdentityPublic: b64(entry.indexInfo.remoteIdentityKey),
        rootKey: b64(ratchet.rootKey),
        previousCounter: Math.max(0, ratchet.previousCounter ?? 0),
        senderChain: {
            senderRatchetKey: b64(sendingKey),
            senderRatchetKeyPrivate: b64(ratchet.ephemeralKeyPair.privKey),
            chainKey: { index: sending.chainKey.counter + 1, key: b64(sending.chainKey.key) },
            messageKeys: []
        },
        receiverChains,
        remoteRegistrationId: entry.registrationId ?? 0,
        localRegistrationId: local.regId,
        aliceBaseKey: b64(entry.indexInfo.baseKey),
        ...(entry.pendingPreKey
            ? {
                  pendingPreKey: {
                      baseKey: b64(entry.pendingPreKey.baseKey),
                      signedPreKeyId: entry.pendingPreKey.signedKeyId,
                      ...(entry.pendingPreKey.preKeyId !== undefined
                          ? { preKeyId: entry.pendingPreKey.preKeyId }
                          : {})
                  }
              }
            : {})
    }
    return state
}

/**
 * A libsignal-node session record (`{ _sessions, version }`) as a zapo-js record: the open
 * session (closed = -1) current, the others previous, most recently used first (libsignal's
 * order). When every state is closed the most recently used one is made current (libsignal
 * Java keeps its last state current the same way). Null with a reason when none is usable.
 */
function convertSession(
    json: unknown,
    local: { regId: number; pubKey: Uint8Array }
): { record: AddressedSession['session']; identity: Uint8Array } | { skipped: string } {
    const sessions = (json as { _sessions?: Record<string, SessionEntryJson> } | null)?._sessions
    if (!sessions || typeof sessions !== 'object') throw new Error('no _sessions in the record')
    const entries = Object.values(sessions).sort(
        (a, b) => (b.indexInfo.used ?? 0) - (a.indexInfo.used ?? 0)
    )
    const open = entries.find(e => e.indexInfo.closed === -1) ?? entries[0]
    if (open === undefined) return { skipped: 'holds no session state' }
    const current = stateOf(open, local)
    if (current === null) return { skipped: 'has no sending chain yet' }
    const previous = entries
        .filter(e => e !== open)
        .map(e => stateOf(e, local))
        .filter((s): s is SessionState => s !== null)
    return {
        record: sessionRecordOf(current, previous),
        identity: b64(open.indexInfo.remoteIdentityKey)
    }
}

/** A sender-key file's id (`<group>::<user>::<device>` with `:` written `-`). */
function parseSenderKeyName(id: string): { groupId: string; sender: SignalAddress } | null {
    const m = /^(.+@[a-z.]+)--([^-]+)--(\d+)$/.exec(unfixName(id))
    if (!m) return null
    const sender = parseProtocolAddress(`${m[2]}.${m[3]}`)
    return sender ? { groupId: m[1]!, sender } : null
}

interface SenderKeyStateJson {
    senderKeyId?: unknown
    senderChainKey?: { iteration?: unknown; seed?: unknown }
    senderSigningKey?: { public?: unknown; private?: unknown }
    senderMessageKeys?: { iteration?: unknown; seed?: unknown }[]
}

/** The current state of a Baileys sender-key record (the last of its states). */
function senderKeyOf(
    json: unknown,
    groupId: string,
    sender: SignalAddress
): { record: SenderKeyRecord; older: number } | null {
    const states = Array.isArray(json) ? (json as SenderKeyStateJson[]) : null
    if (states === null) throw new Error('not a list of sender-key states')
    const state = states[states.length - 1]
    if (state === undefined) return null
    const priv = state.senderSigningKey?.private
    return {
        record: {
            groupId,
            sender,
            keyId: toNumber(state.senderKeyId) ?? 0,
            iteration: toNumber(state.senderChainKey?.iteration) ?? 0,
            chainKey: bytesFrom(state.senderChainKey?.seed, 'senderChainKey.seed'),
            signingPublicKey: bytesFrom(state.senderSigningKey?.public, 'senderSigningKey.public'),
            ...((priv instanceof Uint8Array && priv.byteLength > 0) ||
            (typeof priv === 'string' && priv !== '')
                ? { signingPrivateKey: bytesFrom(priv, 'senderSigningKey.private') }
                : {}),
            unusedMessageKeys: (state.senderMessageKeys ?? []).map(k => ({
                iteration: toNumber(k.iteration) ?? 0,
                seed: bytesFrom(k.seed, 'senderMessageKeys.seed')
            }))
        },
        older: states.length - 1
    }
}

function mtimeMs(folder: string, file: string): number {
    try {
        return Math.floor(statSync(join(folder, file)).mtimeMs)
    } catch {
        return 0
    }
}

/** Counts of what is not carried over, turned into the lines `notCarried` holds. */
class Losses {
    private readonly lines: string[] = []
    private readonly counts = new Map<string, number>()
    add(what: string, n = 1): void {
        this.counts.set(what, (this.counts.get(what) ?? 0) + n)
    }
    line(text: string): void {
        this.lines.push(text)
    }
    list(): string[] {
        return [...this.lines, ...[...this.counts].map(([what, n]) => `${n} ${what}`)]
    }
}

/** Converts the Baileys session in `folder` (its creds.json and record files). */
export function loadBaileysSession(folder: string, sessionId: string): ForeignSession {
    const creds = readCreds(folder)
    const credentials = credentialsOf(creds)
    const losses = new Losses()
    const bookkeeping = CREDS_BOOKKEEPING.filter(k => creds[k] !== undefined && creds[k] !== null)
    if (bookkeeping.length > 0)
        losses.line(
            `creds.json bookkeeping zapo-js keeps elsewhere or not at all: ${bookkeeping.join(', ')}`
        )
    const localPub = serializedPublicKey(
        credentials.registrationInfo.identityKeyPair.pubKey,
        'signedIdentityKey.public'
    )
    const local = { regId: creds.registrationId, pubKey: localPub }
    const firstUnuploaded = toNumber(creds.firstUnuploadedPreKeyId) ?? 1
    const nextPreKeyId = toNumber(creds.nextPreKeyId)

    const preKeys: PreKeyRecord[] = []
    const sessions = new Map<string, AddressedSession>()
    const identities = new Map<string, AddressedIdentity>()
    const ownSenderKeys = new Map<string, number>()
    const senderKeys: SenderKeyRecord[] = []
    const memories: { groupId: string; file: string; devices: string[] }[] = []
    const syncKeys: WaAppStateSyncKey[] = []
    const collections = new Map<string, CollectionState>()
    const privacyTokens = new Map<string, WaStoredPrivacyTokenRecord>()
    const meAddress = credentials.meJid ? addressOfJid(credentials.meJid) : null
    const meLidAddress = credentials.meLid ? addressOfJid(credentials.meLid) : null

    const names = readdirSync(folder).sort()
    for (const file of names) {
        if (file === 'creds.json') continue
        const typed = typeOf(file)
        if (typed === null) {
            losses.add('other files in the folder (not Baileys records)')
            continue
        }
        const { type, id } = typed
        try {
            switch (type) {
                case 'pre-key': {
                    if (!/^\d+$/.test(id)) throw new Error('its id is not a number')
                    const keyId = Number(id)
                    const pair = keyPairOf(readJson(folder, file), 'the prekey')
                    preKeys.push({
                        keyId,
                        keyPair: {
                            pubKey: rawPublicKey(pair.public, 'public'),
                            privKey: key32(pair.private, 'private')
                        },
                        uploaded: keyId < firstUnuploaded
                    })
                    break
                }
                case 'session': {
                    const address = parseProtocolAddress(unfixName(id))
                    if (address === null) throw new Error('its name is not a Signal address')
                    const converted = convertSession(readJson(folder, file), local)
                    if ('skipped' in converted) {
                        losses.add(`Signal session records that ${converted.skipped}`)
                        break
                    }
                    const key = addressKey(address)
                    sessions.set(key, { address, session: converted.record })
                    if (!identities.has(key))
                        identities.set(key, { address, identityKey: converted.identity })
                    break
                }
                case 'identity-key': {
                    const address = parseProtocolAddress(unfixName(id))
                    if (address === null) throw new Error('its name is not a Signal address')
                    const key = bytesFrom(readJson(folder, file), 'the identity key')
                    identities.set(addressKey(address), {
                        address,
                        identityKey: serializedPublicKey(key, 'the identity key')
                    })
                    break
                }
                case 'sender-key': {
                    const name = parseSenderKeyName(id)
                    if (name === null) throw new Error('its name is not <group>::<user>::<device>')
                    const found = senderKeyOf(readJson(folder, file), name.groupId, name.sender)
                    if (found === null) {
                        losses.add('empty sender-key records')
                        break
                    }
                    senderKeys.push(found.record)
                    if (found.older > 0)
                        losses.add(
                            'older sender-key states (zapo-js keeps the current one)',
                            found.older
                        )
                    const own = [meAddress, meLidAddress].some(
                        m =>
                            m !== null &&
                            m.user === name.sender.user &&
                            m.device === name.sender.device
                    )
                    if (own) ownSenderKeys.set(name.groupId, found.record.keyId)
                    break
                }
                case 'sender-key-memory': {
                    const value = readJson(folder, file) as Record<string, unknown> | null
                    if (value === null || typeof value !== 'object')
                        throw new Error('not an object of device JIDs')
                    memories.push({
                        groupId: unfixName(id),
                        file,
                        devices: Object.keys(value).filter(k => value[k] === true)
                    })
                    break
                }
                case 'app-state-sync-key': {
                    const value = readJson(folder, file) as Record<string, unknown> | null
                    const keyData = bytesFrom(value?.keyData, 'keyData')
                    syncKeys.push({
                        keyId: new Uint8Array(Buffer.from(unfixName(id), 'base64')),
                        keyData,
                        timestamp: toNumber(value?.timestamp) ?? 0,
                        ...(value?.fingerprint
                            ? { fingerprint: value.fingerprint as WaAppStateSyncKey['fingerprint'] }
                            : {})
                    })
                    break
                }
                case 'app-state-sync-version': {
                    const value = readJson(folder, file) as {
                        version?: unknown
                        hash?: unknown
                        indexValueMap?: Record<string, { valueMac?: unknown }>
                    } | null
                    const map = new Map<string, Uint8Array>()
                    for (const [indexMac, v] of Object.entries(value?.indexValueMap ?? {}))
                        map.set(
                            hexOf(new Uint8Array(Buffer.from(indexMac, 'base64'))),
                            bytesFrom(v?.valueMac, 'valueMac')
                        )
                    collections.set(id, {
                        version: toNumber(value?.version) ?? 0,
                        hash: bytesFrom(value?.hash, 'hash'),
                        indexValueMap: map
                    })
                    break
                }
                case 'tctoken': {
                    const value = readJson(folder, file) as Record<string, unknown> | null
                    const jid = unfixName(id)
                    const token = value?.token
                    if (!(token instanceof Uint8Array)) throw new Error('it holds no token')
                    const ts = toNumber(value?.timestamp)
                    privacyTokens.set(jid, {
                        jid,
                        tcToken: token,
                        ...(ts !== null ? { tcTokenTimestamp: ts } : {}),
                        updatedAtMs: mtimeMs(folder, file)
                    })
                    break
                }
                case 'lid-mapping':
                    losses.add(
                        'LID mappings (lid-mapping-*.json): zapo-js 0.3 keeps none; the server sends them again'
                    )
                    break
                case 'device-list':
                    losses.add(
                        'device lists (device-list-*.json): zapo-js keeps them as a cache and asks the server again'
                    )
                    break
            }
        } catch (error) {
            if (error instanceof ZapoError) throw error
            throw damaged(folder, file, `does not convert (${errorLine(error)})`)
        }
    }

    const distributions: SenderKeyDistributionRecord[] = []
    for (const memory of memories) {
        const keyId = ownSenderKeys.get(memory.groupId)
        if (keyId === undefined) {
            losses.add('sender-key memories of groups without an own sender key')
            continue
        }
        const timestampMs = mtimeMs(folder, memory.file)
        for (const jid of memory.devices) {
            const sender = addressOfJid(jid)
            if (sender === null) {
                losses.add('sender-key memory entries that are not device JIDs')
                continue
            }
            distributions.push({ groupId: memory.groupId, sender, keyId, timestampMs })
        }
    }

    preKeys.sort((a, b) => a.keyId - b.keyId)
    return {
        sessionId,
        credentials,
        registration: credentials.registrationInfo,
        signedPreKey: { ...credentials.signedPreKey, uploaded: credentials.meJid !== undefined },
        signedPreKeyRotationTs: null,
        preKeys,
        serverHasPreKeys: credentials.meJid !== undefined && firstUnuploaded > 1,
        nextPreKeyId,
        sessions,
        identities,
        senderKeys,
        distributions,
        syncKeys,
        collections,
        privacyTokens,
        notCarried: losses.list(),
        lastWrittenMs: Math.max(mtimeMs(folder, 'creds.json'), mtimeMs(folder, '.')) || null
    }
}
