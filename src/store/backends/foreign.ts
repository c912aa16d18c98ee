/**
 * What the foreign stores share (baileys/, whatsmeow/): auth state written by another library,
 * read and converted session by session into the records the zapo-js store contracts take, and
 * never written. A format's adapter lists its sessions and converts one on request
 * (`ForeignSource`); this module turns that into an `OpenedBackend` whose store contracts only
 * read (every writing method throws the read-only refusal) and whose catalog enumerates the
 * converted records.
 *
 * Each session is converted once, on first use, and kept: a command reads one session many
 * times (catalog counts, then the records, then the digests).
 */

import { zapoCommand } from '../../hints.js'
import type { WaAuthCredentials } from 'zapo-js'
import type { WaAppStateSyncKey } from 'zapo-js/appstate'
import type { WaStoredPrivacyTokenRecord } from 'zapo-js/store'
import type {
    PreKeyRecord,
    RegistrationInfo,
    SenderKeyDistributionRecord,
    SenderKeyRecord,
    SignalAddress,
    SignalSessionRecord,
    SignedPreKeyRecord
} from 'zapo-js/signal'
import { usageError, type ZapoError } from '../../errors.js'
import type { BackendSpec } from '../address.js'
import type { ZapoSessionCatalog } from '../catalog/types.js'
import { EMPTY_COUNTS, sortStrings } from '../catalog/types.js'
import type { SessionCounts } from '../records.types.js'
import type { BackendKind } from './registry.js'
import type { DomainStores, OpenedBackend, StoreIdentity } from './types.js'

/** One session of a foreign store, converted into zapo-js records. */
export interface ForeignSession {
    readonly sessionId: string
    readonly credentials: WaAuthCredentials
    readonly registration: RegistrationInfo
    readonly signedPreKey: SignedPreKeyRecord
    readonly signedPreKeyRotationTs: number | null
    /** sorted by key id */
    readonly preKeys: readonly PreKeyRecord[]
    readonly serverHasPreKeys: boolean
    /** the next one-time prekey id the other library would have handed out; null when unknown */
    readonly nextPreKeyId: number | null
    readonly sessions: ReadonlyMap<string, AddressedSession>
    readonly identities: ReadonlyMap<string, AddressedIdentity>
    readonly senderKeys: readonly SenderKeyRecord[]
    readonly distributions: readonly SenderKeyDistributionRecord[]
    readonly syncKeys: readonly WaAppStateSyncKey[]
    readonly collections: ReadonlyMap<string, CollectionState>
    readonly privacyTokens: ReadonlyMap<string, WaStoredPrivacyTokenRecord>
    /**
     * What the source holds that has no zapo-js counterpart, one line each ("3 LID mappings
     * (lid-mapping-*.json): zapo-js 0.3 keeps none; …"): listed by migrate, never dropped silently
     */
    readonly notCarried: readonly string[]
    /**
     * when the other library last wrote the session, where the format tells (a Baileys folder:
     * its creds.json and the folder itself); null when unknown. A recent time means the app may
     * still be running: migrate warns as it does for a recent login.
     */
    readonly lastWrittenMs: number | null
}

export interface AddressedSession {
    readonly address: SignalAddress
    readonly session: SignalSessionRecord
}

export interface AddressedIdentity {
    readonly address: SignalAddress
    readonly identityKey: Uint8Array
}

export interface CollectionState {
    readonly version: number
    readonly hash: Uint8Array
    readonly indexValueMap: ReadonlyMap<string, Uint8Array>
}

/** A foreign store as its format's adapter reads it. */
export interface ForeignSource {
    /** every session id, sorted (cheap: no record is converted) */
    listSessionIds(): Promise<readonly string[]>
    /** one session converted (a ZapoError naming the problem when it cannot be); null: no such id */
    load(sessionId: string): Promise<ForeignSession | null>
    identity(): Promise<StoreIdentity>
    close(): Promise<void>
}

/** The key of a Signal address in the maps of `ForeignSession`. */
export function addressKey(address: SignalAddress): string {
    return `${address.user}@${address.server ?? 's.whatsapp.net'}.${address.device}`
}

/**
 * The one refusal of every write to a foreign store: exit 2 (USAGE), before anything is touched.
 * `action` names what the user asked ("pair into it", "import into it", …).
 */
export function readOnlyRefusal(spec: BackendSpec, title: string, action: string): ZapoError {
    return usageError(
        `${spec.display} is ${title}, which zapo only reads: it cannot ${action}; migrate it into a zapo store first (${zapoCommand('migrate', '--from', spec.display, '--to', 'sqlite:./zapo.sqlite', '--all')})`,
        { store: spec.display, backend: spec.kind, readOnly: true }
    )
}

/** Pages of at most `size` items. */
async function* pages<T>(items: readonly T[], size: number): AsyncIterable<readonly T[]> {
    for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size)
}

function compareAddress(a: SignalAddress, b: SignalAddress): number {
    const ka = [a.user, a.server ?? '', a.device] as const
    const kb = [b.user, b.server ?? '', b.device] as const
    for (let i = 0; i < 3; i++) {
        if (ka[i]! < kb[i]!) return -1
        if (ka[i]! > kb[i]!) return 1
    }
    return 0
}

function hex(bytes: Uint8Array): string {
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
}

/**
 * An `OpenedBackend` over a foreign source: read-only store contracts and a catalog over the
 * converted sessions. Every writing method of every contract, the migration marks and clearing a
 * session throw `refuse()` (exit 2).
 */
export function foreignBackend(
    spec: BackendSpec,
    kind: BackendKind,
    source: ForeignSource,
    refuse: (action: string) => ZapoError
): ForeignOpened {
    const loaded = new Map<string, Promise<ForeignSession | null>>()
    const load = (sessionId: string): Promise<ForeignSession | null> => {
        let found = loaded.get(sessionId)
        if (found === undefined) {
            found = source.load(sessionId)
            loaded.set(sessionId, found)
        }
        return found
    }
    const stores = readOnlyStores(load, refuse)
    const catalog = foreignCatalog(kind, source, load)
    return {
        spec,
        kind,
        stores,
        catalog: () => catalog,
        archiveKeys: () => ({
            countMany: async () => new Map(),
            async *keys() {
                // a foreign store keeps no message archive zapo can read
            }
        }),
        marks: () => ({
            readAll: async () => new Map(),
            write: async () => {
                throw refuse('hold migration marks')
            },
            remove: async () => {
                throw refuse('hold migration marks')
            }
        }),
        identity: () => source.identity(),
        clearSession: async () => {
            throw refuse('have a session deleted')
        },
        foreignObjects: async () => 0,
        close: () => source.close(),
        notCarried: async sessionId => (await load(sessionId))?.notCarried ?? [],
        lastWritten: async sessionId => (await load(sessionId))?.lastWrittenMs ?? null
    }
}

/** Read methods of the zapo-js store contracts, over converted sessions; writes refused. */
function readOnlyStores(
    load: (sessionId: string) => Promise<ForeignSession | null>,
    refuse: (action: string) => ZapoError
): DomainStores {
    const guard = <T extends object>(reads: T): T =>
        new Proxy(reads, {
            get(target, key, receiver) {
                if (typeof key !== 'string' || key in target)
                    return Reflect.get(target, key, receiver) as unknown
                if (key === 'then') return undefined
                // every other method of a contract writes (save, set…, upsert…, put…, clear, …)
                return async () => {
                    throw refuse('be written')
                }
            }
        })
    const empty = <T>(): readonly T[] => []
    return {
        auth: (id: string) =>
            guard({
                load: async () => (await load(id))?.credentials ?? null
            }) as never,
        signal: (id: string) =>
            guard({
                getRegistrationInfo: async () => (await load(id))?.registration ?? null,
                getSignedPreKey: async () => (await load(id))?.signedPreKey ?? null,
                getSignedPreKeyById: async (keyId: number) => {
                    const spk = (await load(id))?.signedPreKey ?? null
                    return spk !== null && spk.keyId === keyId ? spk : null
                },
                getSignedPreKeyRotationTs: async () =>
                    (await load(id))?.signedPreKeyRotationTs ?? null
            }) as never,
        preKey: (id: string) => {
            const byId = async (keyId: number): Promise<PreKeyRecord | null> =>
                (await load(id))?.preKeys.find(k => k.keyId === keyId) ?? null
            return guard({
                getPreKeyById: byId,
                getPreKeysById: async (keyIds: readonly number[]) => {
                    const keys = new Map(((await load(id))?.preKeys ?? []).map(k => [k.keyId, k]))
                    return keyIds.map(k => keys.get(k) ?? null)
                },
                getServerHasPreKeys: async () => (await load(id))?.serverHasPreKeys ?? false
            }) as never
        },
        session: (id: string) => {
            const get = async (a: SignalAddress): Promise<SignalSessionRecord | null> =>
                (await load(id))?.sessions.get(addressKey(a))?.session ?? null
            return guard({
                hasSession: async (a: SignalAddress) => (await get(a)) !== null,
                hasSessions: async (as: readonly SignalAddress[]) =>
                    Promise.all(as.map(async a => (await get(a)) !== null)),
                getSession: get,
                getSessionsBatch: async (as: readonly SignalAddress[]) => Promise.all(as.map(get))
            }) as never
        },
        identity: (id: string) => {
            const get = async (a: SignalAddress): Promise<Uint8Array | null> =>
                (await load(id))?.identities.get(addressKey(a))?.identityKey ?? null
            return guard({
                getRemoteIdentity: get,
                getRemoteIdentities: async (as: readonly SignalAddress[]) =>
                    Promise.all(as.map(get))
            }) as never
        },
        senderKey: (id: string) =>
            guard({
                getGroupSenderKeyList: async (groupId: string) => {
                    const s = await load(id)
                    return {
                        skList: (s?.senderKeys ?? empty<SenderKeyRecord>()).filter(
                            k => k.groupId === groupId
                        ),
                        skDistribList: (
                            s?.distributions ?? empty<SenderKeyDistributionRecord>()
                        ).filter(d => d.groupId === groupId)
                    }
                },
                getDeviceSenderKey: async (groupId: string, sender: SignalAddress) =>
                    (await load(id))?.senderKeys.find(
                        k => k.groupId === groupId && compareAddress(k.sender, sender) === 0
                    ) ?? null,
                getDeviceSenderKeyDistributions: async (
                    groupId: string,
                    senders: readonly SignalAddress[]
                ) => {
                    const s = await load(id)
                    return senders.map(
                        sender =>
                            s?.distributions.find(
                                d => d.groupId === groupId && compareAddress(d.sender, sender) === 0
                            ) ?? null
                    )
                }
            }) as never,
        appState: (id: string) => {
            const key = async (keyId: Uint8Array): Promise<WaAppStateSyncKey | null> =>
                (await load(id))?.syncKeys.find(k => hex(k.keyId) === hex(keyId)) ?? null
            const state = async (collection: string) => {
                const c = (await load(id))?.collections.get(collection)
                return c
                    ? { initialized: true, ...c }
                    : {
                          initialized: false,
                          version: 0,
                          hash: new Uint8Array(128),
                          indexValueMap: new Map<string, Uint8Array>()
                      }
            }
            return guard({
                getSyncKeysBatch: async (keyIds: readonly Uint8Array[]) =>
                    Promise.all(keyIds.map(key)),
                getSyncKeyData: async (keyId: Uint8Array) => (await key(keyId))?.keyData ?? null,
                getSyncKeyDataBatch: async (keyIds: readonly Uint8Array[]) =>
                    Promise.all(keyIds.map(async k => (await key(k))?.keyData ?? null)),
                getActiveSyncKey: async () => {
                    const keys = (await load(id))?.syncKeys ?? []
                    return keys.reduce<WaAppStateSyncKey | null>(
                        (best, k) => (best === null || k.timestamp > best.timestamp ? k : best),
                        null
                    )
                },
                getCollectionState: state,
                getCollectionStates: async (names: readonly string[]) =>
                    Promise.all(names.map(state))
            }) as never
        },
        privacyToken: (id: string) =>
            guard({
                getByJid: async (jid: string) => (await load(id))?.privacyTokens.get(jid) ?? null
            }) as never,
        messages: () => guard({}) as never,
        threads: () => guard({}) as never,
        contacts: () => guard({}) as never
    }
}

function countsOf(s: ForeignSession): SessionCounts {
    return {
        credentials: true,
        registration: true,
        signedPreKey: true,
        preKeys: s.preKeys.length,
        preKeysUploaded: s.preKeys.filter(k => k.uploaded === true).length,
        signalSessions: s.sessions.size,
        identities: s.identities.size,
        senderKeys: s.senderKeys.length,
        senderKeyDistributions: s.distributions.length,
        appStateSyncKeys: s.syncKeys.length,
        appStateCollections: s.collections.size,
        privacyTokens: s.privacyTokens.size
    }
}

function foreignCatalog(
    kind: BackendKind,
    source: ForeignSource,
    load: (sessionId: string) => Promise<ForeignSession | null>
): ZapoSessionCatalog {
    const of = async <T>(id: string, pick: (s: ForeignSession) => readonly T[]): Promise<T[]> => {
        const s = await load(id)
        return s === null ? [] : [...pick(s)]
    }
    const catalog: ZapoSessionCatalog = {
        kind,
        schemaState: async () => ({ state: 'ready', detail: 'a foreign store, read-only' }),
        listSessionIds: () => source.listSessionIds(),
        counts: async id => {
            const s = await load(id)
            return s === null ? EMPTY_COUNTS : countsOf(s)
        },
        countsMany: async ids => {
            const out = new Map<string, SessionCounts>()
            for (const id of ids) out.set(id, await catalog.counts(id))
            return out
        },
        nextPreKeyId: async id => (await load(id))?.nextPreKeyId ?? null,
        preKeyIds: async function* (id, n) {
            yield* pages(await of(id, s => s.preKeys.map(k => k.keyId)), n)
        },
        sessionAddresses: async function* (id, n) {
            const list = await of(id, s => [...s.sessions.values()].map(e => e.address))
            yield* pages(list.sort(compareAddress), n)
        },
        identityAddresses: async function* (id, n) {
            const list = await of(id, s => [...s.identities.values()].map(e => e.address))
            yield* pages(list.sort(compareAddress), n)
        },
        senderKeyGroupIds: async function* (id, n) {
            const groups = await of(id, s => [
                ...s.senderKeys.map(k => k.groupId),
                ...s.distributions.map(d => d.groupId)
            ])
            yield* pages(sortStrings(groups), n)
        },
        appStateSyncKeyIds: async function* (id, n) {
            const keys = await of(id, s => s.syncKeys.map(k => k.keyId))
            yield* pages(
                keys.sort((a, b) => (hex(a) < hex(b) ? -1 : 1)),
                n
            )
        },
        appStateCollections: async id => sortStrings(await of(id, s => [...s.collections.keys()])),
        privacyTokenJids: async function* (id, n) {
            yield* pages(sortStrings(await of(id, s => [...s.privacyTokens.keys()])), n)
        }
    }
    return catalog
}

/** The conversion notes of a session of an opened backend, when it is a foreign one. */
export async function conversionNotes(
    backend: OpenedBackend,
    sessionId: string
): Promise<readonly string[] | null> {
    const notes = (backend as Partial<ForeignOpened>).notCarried
    return notes === undefined ? null : notes(sessionId)
}

/** A foreign `OpenedBackend` also tells what of a session it could not carry over. */
export interface ForeignOpened extends OpenedBackend {
    notCarried(sessionId: string): Promise<readonly string[]>
    lastWritten(sessionId: string): Promise<number | null>
}

/** When the other library last wrote a session of a foreign backend; null elsewhere. */
export async function lastWrittenByForeign(
    backend: OpenedBackend,
    sessionId: string
): Promise<number | null> {
    const lastWritten = (backend as Partial<ForeignOpened>).lastWritten
    return lastWritten === undefined ? null : lastWritten(sessionId)
}
