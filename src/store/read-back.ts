/**
 * Reading back, from a store, the records of a batch that was just written to it: the same
 * keys, fetched through the zapo-js store contracts' batch getters. A migration digests what it
 * read from the source and what it reads back here, batch by batch, so verifying a copied
 * session costs one keyed read per batch and no key enumeration of the target (on Redis a key
 * enumeration walks the whole keyspace once per session).
 *
 * A record missing in the store is left out of the read-back batch, so the digests differ in
 * count; a record read back differently differs in sha256.
 */

import type { PreKeyRecord, SenderKeyDistributionRecord, SenderKeyRecord } from 'zapo-js/signal'
import type { WaAppStateSyncKey } from 'zapo-js/appstate'
import { catalogFor } from './catalog.js'
import { EMPTY_COUNTS } from './catalog/types.js'
import type { OpenedStore } from './open.js'
import { getIdentities, getSessions, readSignal, type SessionDigester } from './records.js'
import type { RecordBatch, SessionCounts } from './records.types.js'

export async function readBackBatch(
    store: OpenedStore,
    sessionId: string,
    batch: RecordBatch
): Promise<RecordBatch | null> {
    switch (batch.domain) {
        case 'auth': {
            const credentials = await store.domain('auth', sessionId).load()
            return credentials ? { domain: 'auth', credentials } : null
        }
        case 'signal':
            return readSignal(store, sessionId)
        case 'preKey': {
            const preKey = store.domain('preKey', sessionId)
            const found =
                batch.records.length > 0
                    ? await preKey.getPreKeysById(batch.records.map(r => r.keyId))
                    : []
            const records: PreKeyRecord[] = []
            for (const r of found)
                if (r)
                    records.push({
                        keyId: r.keyId,
                        keyPair: r.keyPair,
                        uploaded: r.uploaded === true
                    })
            const serverHasPreKeys = await preKey.getServerHasPreKeys()
            const nextPreKeyId =
                batch.nextPreKeyId === null || batch.nextPreKeyId === undefined
                    ? null
                    : await catalogFor(store.backendFor('preKey')).nextPreKeyId(sessionId)
            return { domain: 'preKey', records, serverHasPreKeys, nextPreKeyId }
        }
        case 'session': {
            const found = await getSessions(
                store,
                sessionId,
                batch.entries.map(e => e.address)
            )
            const entries = batch.entries.flatMap((e, i) =>
                found[i] ? [{ address: e.address, session: found[i]! }] : []
            )
            return { domain: 'session', entries }
        }
        case 'identity': {
            const found = await getIdentities(
                store,
                sessionId,
                batch.entries.map(e => e.address)
            )
            const entries = batch.entries.flatMap((e, i) =>
                found[i] ? [{ address: e.address, identityKey: found[i]! }] : []
            )
            return { domain: 'identity', entries }
        }
        case 'senderKey': {
            const senderKey = store.domain('senderKey', sessionId)
            const groups = [
                ...new Set([...batch.senderKeys, ...batch.distributions].map(r => r.groupId))
            ]
            const lists = await Promise.all(groups.map(g => senderKey.getGroupSenderKeyList(g)))
            const senderKeys: SenderKeyRecord[] = lists.flatMap(l => [...l.skList])
            const distributions: SenderKeyDistributionRecord[] = lists.flatMap(l => [
                ...l.skDistribList
            ])
            return { domain: 'senderKey', senderKeys, distributions }
        }
        case 'appState': {
            const found = await store
                .domain('appState', sessionId)
                .getSyncKeysBatch(batch.syncKeys.map(k => k.keyId))
            const syncKeys = found.filter(
                (k: WaAppStateSyncKey | null): k is WaAppStateSyncKey => k !== null
            )
            return { domain: 'appState', syncKeys }
        }
        case 'appStateCollections': {
            const names = batch.collections.map(c => c.collection)
            const states = await store
                .domain('appState', sessionId)
                .getCollectionStates(names as never)
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
            return { domain: 'appStateCollections', collections }
        }
        case 'privacyToken': {
            const tokens = store.domain('privacyToken', sessionId)
            const found = await Promise.all(batch.records.map(r => tokens.getByJid(r.jid)))
            return { domain: 'privacyToken', records: found.filter(r => r !== null) }
        }
    }
}

/**
 * The read-back of one session being copied into `store`. Signal sessions and remote identities
 * written to a backend whose catalog reads them as stored (`storedRecords`: PostgreSQL, MySQL)
 * are read back once, after the session's other batches, by range reads over the session's
 * rows, and digested as the store package's own bytes: the contracts' batch getters match the
 * addresses with an OR chain that costs PostgreSQL more than writing the records did. That read
 * sees every row the target holds for the session, so a record left over or missing is a count
 * mismatch as before. Every other batch is read back by its keys (`readBackBatch`).
 */
export interface SessionReadBack {
    /** true when the batch's read-back is left to `finish` (then do not `readBackBatch` it) */
    defer(batch: RecordBatch): boolean
    /** reads back the deferred domains into the target's digest */
    finish(digester: SessionDigester): Promise<void>
}

export function sessionReadBack(
    store: OpenedStore,
    sessionId: string,
    pageSize: number
): SessionReadBack {
    const deferred = new Set<'session' | 'identity'>()
    return {
        defer(batch) {
            if (batch.domain !== 'session' && batch.domain !== 'identity') return false
            if (catalogFor(store.backendFor(batch.domain)).storedRecords === undefined) return false
            deferred.add(batch.domain)
            return true
        },
        async finish(digester) {
            for (const domain of deferred) {
                const catalog = catalogFor(store.backendFor(domain))
                for await (const page of catalog.storedRecords!(domain, sessionId, pageSize))
                    digester.addStored(domain, page)
            }
            deferred.clear()
        }
    }
}

type MutableCounts = { -readonly [K in keyof SessionCounts]: SessionCounts[K] }

/** Adds a batch's records to catalog-shaped counts (to compare with the target's catalog). */
export function tallyBatch(counts: MutableCounts, batch: RecordBatch): void {
    switch (batch.domain) {
        case 'auth':
            counts.credentials = true
            return
        case 'signal':
            counts.registration ||= batch.registration !== null
            counts.signedPreKey ||= batch.signedPreKey !== null
            return
        case 'preKey':
            counts.preKeys += batch.records.length
            counts.preKeysUploaded += batch.records.filter(r => r.uploaded === true).length
            return
        case 'session':
            counts.signalSessions += batch.entries.length
            return
        case 'identity':
            counts.identities += batch.entries.length
            return
        case 'senderKey':
            counts.senderKeys += batch.senderKeys.length
            counts.senderKeyDistributions += batch.distributions.length
            return
        case 'appState':
            counts.appStateSyncKeys += batch.syncKeys.length
            return
        case 'appStateCollections':
            counts.appStateCollections += batch.collections.length
            return
        case 'privacyToken':
            counts.privacyTokens += batch.records.length
            return
    }
}

export function emptyCounts(): MutableCounts {
    return { ...EMPTY_COUNTS }
}
