/**
 * The archive domains (messages, threads, contacts): key enumeration per backend, and reading,
 * writing, clearing and digesting a session's archive records through the zapo-js store
 * contracts (`WaMessageStore`, `WaThreadStore`, `WaContactStore`).
 *
 * Key enumeration follows the layouts of the `@zapo-js/store-*` packages (1.x) and lives in each
 * backend's adapter (store/backends/, `archiveKeys`): SQL tables and Mongo collections
 * mailbox_messages / _threads / _contacts, Redis keys msg: / thread: / contact:. Only reads run
 * there (SELECT, SCAN/HGET, find): nothing is created by enumerating. Records
 * themselves are read with the contracts' own getters and written with their upserts, so the
 * store packages do all the encoding.
 *
 * Archive domains are opt-in for migrate (`--archive`); sessions are still defined by their
 * durable records (a session holding only archive records is not listed).
 */

import { createHash } from 'node:crypto'
import type {
    WaContactStore,
    WaMessageStore,
    WaStoredContactRecord,
    WaStoredMessageRecord,
    WaStoredThreadRecord,
    WaThreadStore
} from 'zapo-js/store'
import type { ArchiveDomain } from './address.js'
import { ARCHIVE_DOMAINS } from './address.js'
import type { ArchiveDomainKeys } from './backends/types.js'
import type { OpenedStore } from './open.js'
import type { DomainDigest } from './records.js'
import { canonicalJson, clearSession } from './records.js'

export type ArchiveCounts = Readonly<Record<ArchiveDomain, number>>

export const EMPTY_ARCHIVE_COUNTS: ArchiveCounts = Object.freeze({
    messages: 0,
    threads: 0,
    contacts: 0
})

/** One batch of a session's archive records, as read through the store contracts. */
export type ArchiveBatch =
    | { readonly domain: 'messages'; readonly records: readonly WaStoredMessageRecord[] }
    | { readonly domain: 'threads'; readonly records: readonly WaStoredThreadRecord[] }
    | { readonly domain: 'contacts'; readonly records: readonly WaStoredContactRecord[] }

export interface ArchiveCatalog {
    counts(sessionId: string): Promise<ArchiveCounts>
    countsMany(sessionIds: readonly string[]): Promise<ReadonlyMap<string, ArchiveCounts>>
    keys(
        domain: ArchiveDomain,
        sessionId: string,
        pageSize: number
    ): AsyncIterable<readonly string[]>
}

/** The archive catalog of an opened store (each domain enumerated in the backend that holds it). */
export function archiveCatalogFor(store: OpenedStore): ArchiveCatalog {
    const cache = new Map<string, ArchiveDomainKeys>()
    const of = (domain: ArchiveDomain): ArchiveDomainKeys => {
        const backend = store.backendFor(domain)
        const key = `${domain}:${String(store.primary === backend ? 'p' : backend.spec.display)}`
        let keys = cache.get(key)
        if (!keys) cache.set(key, (keys = backend.archiveKeys(domain)))
        return keys
    }
    const catalog: ArchiveCatalog = {
        async counts(sessionId) {
            return (await catalog.countsMany([sessionId])).get(sessionId) ?? EMPTY_ARCHIVE_COUNTS
        },
        async countsMany(sessionIds) {
            const ids = [...new Set(sessionIds)]
            const per = await Promise.all(ARCHIVE_DOMAINS.map(d => of(d).countMany(ids)))
            const out = new Map<string, ArchiveCounts>()
            for (const id of ids) {
                out.set(id, {
                    messages: per[0]!.get(id) ?? 0,
                    threads: per[1]!.get(id) ?? 0,
                    contacts: per[2]!.get(id) ?? 0
                })
            }
            return out
        },
        keys: (domain, sessionId, pageSize) => of(domain).keys(sessionId, pageSize)
    }
    return catalog
}

// ---------------------------------------------------------------------------------------------
// records through the contracts

function messageStore(store: OpenedStore, sessionId: string): WaMessageStore {
    return store.domain('messages', sessionId) as unknown as WaMessageStore
}
function threadStore(store: OpenedStore, sessionId: string): WaThreadStore {
    return store.domain('threads', sessionId) as unknown as WaThreadStore
}
function contactStore(store: OpenedStore, sessionId: string): WaContactStore {
    return store.domain('contacts', sessionId) as unknown as WaContactStore
}

/** Reads the records of one domain by their keys (absent keys are left out). */
async function readArchiveByKeys(
    store: OpenedStore,
    sessionId: string,
    domain: ArchiveDomain,
    keys: readonly string[]
): Promise<ArchiveBatch> {
    switch (domain) {
        case 'messages': {
            const s = messageStore(store, sessionId)
            const found = await Promise.all(keys.map(id => s.getById(id)))
            return {
                domain,
                records: found.filter(
                    (r): r is WaStoredMessageRecord => r !== null && r.id !== undefined
                )
            }
        }
        case 'threads': {
            const s = threadStore(store, sessionId)
            const found = await Promise.all(keys.map(jid => s.getByJid(jid)))
            return { domain, records: found.filter((r): r is WaStoredThreadRecord => r !== null) }
        }
        case 'contacts': {
            const s = contactStore(store, sessionId)
            const found = await Promise.all(keys.map(jid => s.getByJid(jid)))
            // a miss by jid falls back to a phone-number lookup in the store: keep exact matches only
            return {
                domain,
                records: found.filter(
                    (r, i): r is WaStoredContactRecord => r !== null && r.jid === keys[i]
                )
            }
        }
    }
}

export interface ArchiveReadOptions {
    readonly domains?: readonly ArchiveDomain[]
    readonly batchSize?: number
    /** the session's archive counts when the caller already has them */
    readonly counts?: ArchiveCounts
}

/** Reads every archive record of one session, in batches, through the store contracts. */
export async function* readArchiveRecords(
    store: OpenedStore,
    catalog: ArchiveCatalog,
    sessionId: string,
    options: ArchiveReadOptions = {}
): AsyncIterable<ArchiveBatch> {
    const domains = options.domains ?? ARCHIVE_DOMAINS
    const pageSize = Math.max(1, options.batchSize ?? 500)
    const counts = options.counts ?? (await catalog.counts(sessionId))
    for (const domain of ARCHIVE_DOMAINS) {
        // an empty domain is not opened (reading through a contract creates its tables)
        if (!domains.includes(domain) || counts[domain] === 0) continue
        for await (const keys of catalog.keys(domain, sessionId, pageSize)) {
            const batch = await readArchiveByKeys(store, sessionId, domain, keys)
            if (batch.records.length > 0) yield batch
        }
    }
}

/** Writes one batch with the contract's upsert (re-writing the same batch changes nothing). */
export async function writeArchiveRecords(
    store: OpenedStore,
    sessionId: string,
    batch: ArchiveBatch
): Promise<void> {
    if (batch.records.length === 0) return
    switch (batch.domain) {
        case 'messages':
            return messageStore(store, sessionId).upsertBatch(batch.records)
        case 'threads':
            return threadStore(store, sessionId).upsertBatch(batch.records)
        case 'contacts':
            return contactStore(store, sessionId).upsertBatch(batch.records)
    }
}

/** Reads a written batch back from `store` by its keys (for verification as the copy runs). */
export async function readBackArchiveBatch(
    store: OpenedStore,
    sessionId: string,
    batch: ArchiveBatch
): Promise<ArchiveBatch> {
    return readArchiveByKeys(store, sessionId, batch.domain, archiveKeysOf(batch))
}

function archiveKeysOf(batch: ArchiveBatch): string[] {
    switch (batch.domain) {
        case 'messages':
            return batch.records.map(r => r.id)
        case 'threads':
        case 'contacts':
            return batch.records.map(r => r.jid)
    }
}

/** Removes a session's records in the given archive domains, by exact keys (see clearSession). */
export async function clearArchive(
    store: OpenedStore,
    sessionId: string,
    domains: readonly ArchiveDomain[]
): Promise<void> {
    await clearSession(store, sessionId, {
        domains: ARCHIVE_DOMAINS.filter(d => domains.includes(d))
    })
}

const PROBE_SESSION = '__zapo_migrate_probe__'

/**
 * Lets the target's store package create the archive schema before sessions are copied in
 * parallel (tables are created on first use; concurrent first uses race). Reads only.
 */
export async function warmUpArchive(
    store: OpenedStore,
    domains: readonly ArchiveDomain[]
): Promise<void> {
    if (domains.includes('messages')) await messageStore(store, PROBE_SESSION).getById('0')
    if (domains.includes('threads')) await threadStore(store, PROBE_SESSION).getByJid('0@g.us')
    // a group jid: a miss does not fall back to the phone-number lookup
    if (domains.includes('contacts')) await contactStore(store, PROBE_SESSION).getByJid('0@g.us')
}

// ---------------------------------------------------------------------------------------------
// digests

/** An incremental, order-independent digest of archive records (same shape as the durable one). */
export interface ArchiveDigester {
    add(batch: ArchiveBatch): void
    result(): Record<string, DomainDigest>
}

export function digestArchiveRecords(): ArchiveDigester {
    const entries = new Map<ArchiveDomain, Map<string, string>>()
    return {
        add(batch) {
            let m = entries.get(batch.domain)
            if (!m) entries.set(batch.domain, (m = new Map()))
            const keys = archiveKeysOf(batch)
            batch.records.forEach((record, i) => {
                m!.set(keys[i]!, createHash('sha256').update(canonicalJson(record)).digest('hex'))
            })
        },
        result() {
            const out: Record<string, DomainDigest> = {}
            for (const domain of ARCHIVE_DOMAINS) {
                const m = entries.get(domain)
                if (!m || m.size === 0) continue
                const hash = createHash('sha256')
                for (const key of [...m.keys()].sort()) hash.update(`${key}\n${m.get(key)}\n`)
                out[domain] = { count: m.size, sha256: hash.digest('hex') }
            }
            return out
        }
    }
}

/** Records per archive domain (for the plan), in the order of ARCHIVE_DOMAINS. */
export function archiveRecordsByDomain(
    counts: ArchiveCounts,
    domains: readonly ArchiveDomain[]
): Partial<Record<ArchiveDomain, number>> {
    const out: Partial<Record<ArchiveDomain, number>> = {}
    for (const domain of ARCHIVE_DOMAINS) if (domains.includes(domain)) out[domain] = counts[domain]
    return out
}

/** Domains whose records in the target differ in number from what was copied. */
export function compareArchiveCounts(
    copied: Readonly<Record<string, DomainDigest>>,
    target: ArchiveCounts,
    domains: readonly ArchiveDomain[]
): { readonly domain: ArchiveDomain; readonly copied: number; readonly target: number }[] {
    return domains
        .map(domain => ({ domain, copied: copied[domain]?.count ?? 0, target: target[domain] }))
        .filter(d => d.copied !== d.target)
}
