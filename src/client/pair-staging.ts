/**
 * The staging store of a pairing: a zapo-js memory `WaStore` the pairing client writes into,
 * so that nothing reaches the real store before the pairing has completed.
 *
 * A fresh device writes its credentials, registration, signed prekey and first prekey at
 * `connect()`, long before a phone scans anything; pairing straight into the real store would
 * leave an unpaired credentials row and orphaned prekeys behind every aborted attempt. Here
 * the client sees memory stores wrapped by recorders that note which keys it touched (the
 * memory stores have no enumeration), and `snapshot()` reads the finished state back out as
 * `RecordBatch`es, through the same contracts, for the data layer (records.ts) to write into
 * the real store.
 */

import type { WaAuthCredentials } from 'zapo-js'
import type { WaStore, WaStoreSession } from 'zapo-js/store'
import type { PreKeyRecord } from 'zapo-js/signal'
import type { RecordBatch } from '../store/records.types.js'
import { zapoRoot } from '../zapo-cjs.js'

interface CollectionVersion {
    readonly version: number
    readonly hash: Uint8Array
    readonly indexValueMap: Readonly<Record<string, Uint8Array>>
}

type SignalAddress = { readonly user: string; readonly server?: string; readonly device: number }

export interface StagingStore {
    /** the WaStore to hand to the pairing client */
    readonly store: WaStore
    /** resolves the first time the client records its signed-prekey rotation time (last write of the post-login tasks) */
    readonly settled: Promise<void>
    /** the finished state of the session, as batches for the real store */
    snapshot(): Promise<readonly RecordBatch[]>
    destroy(): Promise<void>
}

function addressKey(address: SignalAddress): string {
    return `${address.user}@${address.server ?? ''}:${address.device}`
}

/**
 * Wraps `target` so that each named method first runs its hook with the call's arguments
 * (and, for `after` hooks, the result). The object the client sees behaves exactly as the
 * memory store does.
 */
function recorded<T extends object>(
    target: T,
    before: { readonly [K in keyof T]?: (...args: never[]) => void },
    after: { readonly [K in keyof T]?: (result: never, ...args: never[]) => void } = {}
): T {
    return new Proxy(target, {
        get(object, property, receiver) {
            const value = Reflect.get(object, property, receiver) as unknown
            if (typeof value !== 'function') return value
            const pre = (before as Record<PropertyKey, ((...args: unknown[]) => void) | undefined>)[
                property
            ]
            const post = (
                after as Record<
                    PropertyKey,
                    ((result: unknown, ...args: unknown[]) => void) | undefined
                >
            )[property]
            if (!pre && !post) return (value as (...args: unknown[]) => unknown).bind(object)
            return async (...args: unknown[]) => {
                pre?.(...args)
                const result = await (value as (...args: unknown[]) => Promise<unknown>).apply(
                    object,
                    args
                )
                post?.(result, ...args)
                return result
            }
        }
    })
}

export async function createStagingStore(sessionId: string): Promise<StagingStore> {
    const { createStore } = zapoRoot()
    // zapo-js has no memory auth store: credentials are one value, held here
    let stagedCredentials: WaAuthCredentials | null = null
    const auth = {
        load: async () => stagedCredentials,
        save: async (credentials: WaAuthCredentials) => {
            stagedCredentials = credentials
        },
        clear: async () => {
            stagedCredentials = null
        }
    }
    const memory = createStore({
        backends: { staging: { stores: { auth: () => auth }, caches: {} } as never },
        providers: {
            auth: 'staging',
            signal: 'memory',
            preKey: 'memory',
            session: 'memory',
            identity: 'memory',
            senderKey: 'memory',
            appState: 'memory',
            privacyToken: 'memory',
            messages: 'none',
            threads: 'none',
            contacts: 'memory'
        },
        cacheProviders: {
            retry: 'memory',
            participants: 'memory',
            deviceList: 'memory',
            messageSecret: 'memory'
        }
    })

    const preKeyIds = new Set<number>()
    let uploadedUpTo: number | null = null
    const sessionAddresses = new Map<string, SignalAddress>()
    const identityAddresses = new Map<string, SignalAddress>()
    const senderKeyGroups = new Set<string>()
    const privacyTokenJids = new Set<string>()
    let markSettled: () => void = () => undefined
    const settled = new Promise<void>(resolve => {
        markSettled = resolve
    })

    const base = memory.session(sessionId)
    const notePreKeys = (records: readonly { readonly keyId: number }[]): void => {
        for (const record of records) preKeyIds.add(record.keyId)
    }
    const session: WaStoreSession = {
        auth: base.auth,
        signal: recorded(base.signal, {
            setSignedPreKeyRotationTs: (() => markSettled()) as never
        }),
        preKey: recorded(
            base.preKey,
            {
                putPreKey: ((record: { keyId: number }) => preKeyIds.add(record.keyId)) as never,
                markKeyAsUploaded: ((keyId: number) => {
                    uploadedUpTo = Math.max(uploadedUpTo ?? 0, keyId)
                }) as never
            },
            {
                getOrGenPreKeys: ((records: readonly { keyId: number }[]) =>
                    notePreKeys(records)) as never,
                getOrGenSinglePreKey: ((record: { keyId: number }) =>
                    notePreKeys([record])) as never
            }
        ),
        session: recorded(base.session, {
            setSession: ((address: SignalAddress) =>
                sessionAddresses.set(addressKey(address), address)) as never,
            setSessionsBatch: ((entries: readonly { address: SignalAddress }[]) => {
                for (const entry of entries)
                    sessionAddresses.set(addressKey(entry.address), entry.address)
            }) as never
        }),
        identity: recorded(base.identity, {
            setRemoteIdentity: ((address: SignalAddress) =>
                identityAddresses.set(addressKey(address), address)) as never,
            setRemoteIdentities: ((entries: readonly { address: SignalAddress }[]) => {
                for (const entry of entries)
                    identityAddresses.set(addressKey(entry.address), entry.address)
            }) as never
        }),
        senderKey: recorded(base.senderKey, {
            upsertSenderKey: ((record: { groupId: string }) =>
                senderKeyGroups.add(record.groupId)) as never,
            upsertSenderKeyDistribution: ((record: { groupId: string }) =>
                senderKeyGroups.add(record.groupId)) as never,
            upsertSenderKeyDistributions: ((records: readonly { groupId: string }[]) => {
                for (const record of records) senderKeyGroups.add(record.groupId)
            }) as never
        }),
        appState: base.appState,
        privacyToken: recorded(base.privacyToken, {
            upsert: ((record: { jid: string }) => privacyTokenJids.add(record.jid)) as never,
            upsertBatch: ((records: readonly { jid: string }[]) => {
                for (const record of records) privacyTokenJids.add(record.jid)
            }) as never
        }),
        retry: base.retry,
        participants: base.participants,
        deviceList: base.deviceList,
        messages: base.messages,
        messageSecret: base.messageSecret,
        threads: base.threads,
        contacts: base.contacts,
        destroyCaches: () => base.destroyCaches(),
        destroy: () => base.destroy()
    }

    const store: WaStore = {
        session: id => {
            if (id !== sessionId) throw new Error('staging store holds one session only')
            return session
        },
        destroyCaches: () => memory.destroyCaches(),
        destroy: () => memory.destroy()
    }

    const snapshot = async (): Promise<readonly RecordBatch[]> => {
        const credentials = await base.auth.load()
        if (!credentials) throw new Error('staging store holds no credentials')
        const batches: RecordBatch[] = [{ domain: 'auth', credentials }]
        batches.push({
            domain: 'signal',
            registration: await base.signal.getRegistrationInfo(),
            signedPreKey: await base.signal.getSignedPreKey(),
            signedPreKeyRotationTs: await base.signal.getSignedPreKeyRotationTs()
        })
        const ids = [...preKeyIds].sort((a, b) => a - b)
        const found: readonly (PreKeyRecord | null)[] =
            ids.length > 0 ? await base.preKey.getPreKeysById(ids) : []
        const records = found
            .filter((record): record is PreKeyRecord => record !== null)
            .map((record: PreKeyRecord) => ({
                ...record,
                uploaded: uploadedUpTo !== null && record.keyId <= uploadedUpTo
            }))
        batches.push({
            domain: 'preKey',
            records,
            serverHasPreKeys: await base.preKey.getServerHasPreKeys(),
            nextPreKeyId: ids.length > 0 ? (ids[ids.length - 1] ?? 0) + 1 : null
        })
        const addresses = [...sessionAddresses.values()]
        if (addresses.length > 0) {
            const sessions = await base.session.getSessionsBatch(addresses)
            const entries = addresses.flatMap((address, i) => {
                const record = sessions[i]
                return record ? [{ address, session: record }] : []
            })
            if (entries.length > 0) batches.push({ domain: 'session', entries })
        }
        const identities = [...identityAddresses.values()]
        if (identities.length > 0) {
            const keys = await base.identity.getRemoteIdentities(identities)
            const entries = identities.flatMap((address, i) => {
                const identityKey = keys[i]
                return identityKey ? [{ address, identityKey }] : []
            })
            if (entries.length > 0) batches.push({ domain: 'identity', entries })
        }
        for (const groupId of senderKeyGroups) {
            const list = await base.senderKey.getGroupSenderKeyList(groupId)
            if (list.skList.length + list.skDistribList.length > 0) {
                batches.push({
                    domain: 'senderKey',
                    senderKeys: list.skList,
                    distributions: list.skDistribList
                })
            }
        }
        const appState = await base.appState.exportData()
        if (appState.keys.length > 0) batches.push({ domain: 'appState', syncKeys: appState.keys })
        const versions = appState.collections as Readonly<
            Record<string, CollectionVersion | undefined>
        >
        const collections = Object.entries(versions).flatMap(([collection, state]) =>
            state
                ? [
                      {
                          collection,
                          version: state.version,
                          hash: state.hash,
                          indexValueMap: new Map(Object.entries(state.indexValueMap))
                      }
                  ]
                : []
        )
        if (collections.length > 0) batches.push({ domain: 'appStateCollections', collections })
        if (privacyTokenJids.size > 0) {
            const tokens: import('zapo-js/store').WaStoredPrivacyTokenRecord[] = []
            for (const jid of privacyTokenJids) {
                const record = await base.privacyToken.getByJid(jid)
                if (record) tokens.push(record)
            }
            if (tokens.length > 0) batches.push({ domain: 'privacyToken', records: tokens })
        }
        return batches
    }

    return { store, settled, snapshot, destroy: () => memory.destroy() }
}

/** The credentials a snapshot carries. */
export function credentialsOf(batches: readonly RecordBatch[]): WaAuthCredentials {
    const auth = batches.find(batch => batch.domain === 'auth')
    if (!auth || auth.domain !== 'auth') throw new Error('snapshot holds no credentials')
    return auth.credentials
}
