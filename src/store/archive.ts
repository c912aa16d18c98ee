/**
 * The archive domains (messages, threads, contacts): key enumeration per backend, and reading,
 * writing, clearing and digesting a session's archive records through the zapo-js store
 * contracts (`WaMessageStore`, `WaThreadStore`, `WaContactStore`).
 *
 * Key enumeration follows the layouts of the `@zapo-js/store-*` packages (1.x):
 *   SQL (sqlite / postgres / mysql): tables mailbox_messages (session_id, message_id),
 *     mailbox_threads (session_id, jid), mailbox_contacts (session_id, jid); table prefix and
 *     SQLite table-name overrides honoured (the SQLite connection rewrites logical names).
 *   Redis (`<keyPrefix>` then): msg:<sid>:<id> (hash with field `id`, + :message_bytes),
 *     msg:idx:<sid>:<thread> (zset), thread:<sid>:<jid> (hash with field `jid`),
 *     contact:<sid>:<jid> (hash with field `jid`), contact_pn:<sid>:<pn>.
 *     A `msg:<sid>:*` pattern also matches sessions whose id starts with `<sid>:`; a key is
 *     taken only when it equals `msg:<sid>:<the hash's own id field>` (same for jid), which
 *     tells the two apart exactly.
 *   MongoDB: collections <collectionPrefix>mailbox_messages / _threads / _contacts, keyed
 *     `_id: { session_id, message_id | jid }`.
 * Only reads run here (SELECT, SCAN/HGET, find): nothing is created by enumerating. Records
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
import type { OpenedBackend, OpenedStore } from './open.js'
import type { DomainDigest } from './records.js'
import { canonicalJson, refuseSharedKeys } from './records.js'

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

/** Key enumeration of one archive domain in one backend. */
interface DomainKeys {
    /** records per session (sessions without any are absent) */
    countMany(sessionIds: readonly string[]): Promise<ReadonlyMap<string, number>>
    /** the session's keys (message ids / jids), sorted, in pages of at most `pageSize` */
    keys(sessionId: string, pageSize: number): AsyncIterable<readonly string[]>
}

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
    const cache = new Map<string, DomainKeys>()
    const of = (domain: ArchiveDomain): DomainKeys => {
        const backend = store.backendFor(domain)
        const key = `${domain}:${String(store.primary === backend ? 'p' : backend.spec.display)}`
        let keys = cache.get(key)
        if (!keys) cache.set(key, (keys = domainKeys(backend, domain)))
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
// per backend

const TABLES: Readonly<Record<ArchiveDomain, { readonly table: string; readonly column: string }>> =
    Object.freeze({
        messages: { table: 'mailbox_messages', column: 'message_id' },
        threads: { table: 'mailbox_threads', column: 'jid' },
        contacts: { table: 'mailbox_contacts', column: 'jid' }
    })

interface SqlAccess {
    query(sql: string, params: readonly unknown[]): Promise<readonly Record<string, unknown>[]>
    /** the table reference for SQL text */
    ref: string
    /** whether the table exists (checked once, then remembered when present) */
    exists(): Promise<boolean>
    quote(column: string): string
}

function domainKeys(backend: OpenedBackend, domain: ArchiveDomain): DomainKeys {
    const handle = backend.handle
    const spec = backend.spec
    const { table, column } = TABLES[domain]
    switch (handle.kind) {
        case 'sqlite': {
            const db = handle.connection
            const physical = spec.tableNames?.[table] ?? table
            return sqlKeys(column, {
                query: async (sql, params) => db.all(sql, params),
                // the store's connection rewrites logical table names to the configured overrides
                ref: `"${table}"`,
                exists: async () =>
                    db.all(`SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?`, [
                        physical
                    ]).length > 0,
                quote: c => `"${c}"`
            })
        }
        case 'postgres': {
            const pool = handle.pool
            const physical = `${spec.tablePrefix ?? ''}${table}`
            const query = async (
                sql: string,
                params: readonly unknown[]
            ): Promise<readonly Record<string, unknown>[]> => {
                let n = 0
                const result = await pool.query(
                    sql.replace(/\?/g, () => `$${++n}`),
                    params as unknown[]
                )
                return result.rows as Record<string, unknown>[]
            }
            return sqlKeys(column, {
                query,
                ref: `"${physical}"`,
                exists: async () =>
                    (
                        await query(
                            `SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ?`,
                            [physical]
                        )
                    ).length > 0,
                quote: c => `"${c}"`
            })
        }
        case 'mysql': {
            const pool = handle.pool
            const physical = `${spec.tablePrefix ?? ''}${table}`
            const query = async (
                sql: string,
                params: readonly unknown[]
            ): Promise<readonly Record<string, unknown>[]> => {
                const [rows] = await pool.query(sql, params as unknown[])
                return rows as Record<string, unknown>[]
            }
            return sqlKeys(column, {
                query,
                ref: `\`${physical}\``,
                exists: async () =>
                    (
                        await query(
                            `SELECT 1 FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?`,
                            [physical]
                        )
                    ).length > 0,
                quote: c => `\`${c}\``
            })
        }
        case 'redis':
            return redisKeys(handle.redis, spec.keyPrefix ?? '', domain)
        case 'mongo':
            return mongoKeys(handle.db, `${spec.collectionPrefix ?? ''}${table}`, column)
    }
}

const IN_CHUNK = 500

function sqlKeys(column: string, sql: SqlAccess): DomainKeys {
    let present = false
    const exists = async (): Promise<boolean> => (present ||= await sql.exists())
    const col = sql.quote(column)
    return {
        async countMany(ids) {
            const out = new Map<string, number>()
            if (ids.length === 0 || !(await exists())) return out
            for (let at = 0; at < ids.length; at += IN_CHUNK) {
                const chunk = ids.slice(at, at + IN_CHUNK)
                const rows = await sql.query(
                    `SELECT session_id, COUNT(*) AS n FROM ${sql.ref} WHERE session_id IN (${chunk.map(() => '?').join(', ')}) GROUP BY session_id`,
                    chunk
                )
                for (const row of rows) out.set(String(row.session_id), Number(row.n))
            }
            return out
        },
        async *keys(sessionId, pageSize) {
            if (!(await exists())) return
            let cursor: string | null = null
            for (;;) {
                const rows = await sql.query(
                    `SELECT ${col} AS k FROM ${sql.ref} WHERE session_id = ?${cursor !== null ? ` AND ${col} > ?` : ''} ORDER BY ${col} LIMIT ?`,
                    cursor !== null ? [sessionId, cursor, pageSize] : [sessionId, pageSize]
                )
                if (rows.length === 0) return
                const keys = rows.map(r => String(r.k))
                yield keys
                if (rows.length < pageSize) return
                cursor = keys[keys.length - 1]!
            }
        }
    }
}

const REDIS_LAYOUT: Readonly<
    Record<ArchiveDomain, { readonly family: string; readonly field: string }>
> = Object.freeze({
    messages: { family: 'msg', field: 'id' },
    threads: { family: 'thread', field: 'jid' },
    contacts: { family: 'contact', field: 'jid' }
})

const SCAN_COUNT = 1_000

function escapeGlob(value: string): string {
    return value.replace(/[*?[\]\\^]/g, ch => `\\${ch}`)
}

function redisKeys(
    redis: import('ioredis').Redis,
    prefix: string,
    domain: ArchiveDomain
): DomainKeys {
    const { family, field } = REDIS_LAYOUT[domain]
    /** every key of the session in one SCAN, checked against the hash's own key field */
    const list = async (sessionId: string): Promise<string[]> => {
        const head = `${prefix}${family}:${sessionId}:`
        const pattern = `${escapeGlob(head)}*`
        const found: string[] = []
        let cursor = '0'
        do {
            const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT)
            cursor = next
            if (keys.length === 0) continue
            const pipeline = redis.pipeline()
            for (const key of keys) pipeline.hget(key, field)
            const results = (await pipeline.exec()) ?? []
            keys.forEach((key, i) => {
                const [error, value] = results[i] ?? [null, null]
                // WRONGTYPE (a :message_bytes string, an index zset) or no field: not a record key
                if (error || typeof value !== 'string') return
                if (key === `${head}${value}`) found.push(value)
            })
        } while (cursor !== '0')
        return sortUnique(found)
    }
    /** many sessions: one SCAN over the family, each key's session id recovered from its own field */
    const countAll = async (ids: readonly string[]): Promise<Map<string, number>> => {
        const wanted = new Set(ids)
        const head = `${prefix}${family}:`
        const seen = new Set<string>()
        const out = new Map<string, number>()
        let cursor = '0'
        do {
            const [next, keys] = await redis.scan(
                cursor,
                'MATCH',
                `${escapeGlob(head)}*`,
                'COUNT',
                SCAN_COUNT
            )
            cursor = next
            const fresh = keys.filter(k => !seen.has(k))
            if (fresh.length === 0) continue
            const pipeline = redis.pipeline()
            for (const key of fresh) pipeline.hget(key, field)
            const results = (await pipeline.exec()) ?? []
            fresh.forEach((key, i) => {
                seen.add(key)
                const [error, value] = results[i] ?? [null, null]
                if (error || typeof value !== 'string' || !key.endsWith(`:${value}`)) return
                const sid = key.slice(head.length, key.length - value.length - 1)
                if (wanted.has(sid)) out.set(sid, (out.get(sid) ?? 0) + 1)
            })
        } while (cursor !== '0')
        return out
    }
    return {
        async countMany(ids) {
            if (ids.length > 2) return countAll(ids)
            const out = new Map<string, number>()
            for (const id of ids) {
                const n = (await list(id)).length
                if (n > 0) out.set(id, n)
            }
            return out
        },
        async *keys(sessionId, pageSize) {
            const all = await list(sessionId)
            for (let at = 0; at < all.length; at += pageSize) yield all.slice(at, at + pageSize)
        }
    }
}

function mongoKeys(db: import('mongodb').Db, collection: string, column: string): DomainKeys {
    let present = false
    const exists = async (): Promise<boolean> =>
        (present ||=
            (await db.listCollections({ name: collection }, { nameOnly: true }).toArray()).length >
            0)
    const keyPath = `_id.${column}`
    return {
        async countMany(ids) {
            const out = new Map<string, number>()
            if (ids.length === 0 || !(await exists())) return out
            const rows = await db
                .collection(collection)
                .aggregate([
                    { $match: { '_id.session_id': { $in: [...ids] } } },
                    { $group: { _id: '$_id.session_id', n: { $sum: 1 } } }
                ])
                .toArray()
            for (const row of rows) out.set(String(row._id), Number(row.n))
            return out
        },
        async *keys(sessionId, pageSize) {
            if (!(await exists())) return
            let cursor: string | null = null
            for (;;) {
                const filter: Record<string, unknown> = { '_id.session_id': sessionId }
                if (cursor !== null) filter[keyPath] = { $gt: cursor }
                const docs = await db
                    .collection(collection)
                    .find(filter, { projection: { _id: 1 } })
                    .sort({ [keyPath]: 1 })
                    .limit(pageSize)
                    .toArray()
                if (docs.length === 0) return
                const keys = docs.map(d =>
                    String((d._id as unknown as Record<string, unknown>)[column])
                )
                yield keys
                if (docs.length < pageSize) return
                cursor = keys[keys.length - 1]!
            }
        }
    }
}

function sortUnique(values: Iterable<string>): string[] {
    return [...new Set(values)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
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
export async function readArchiveByKeys(
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

export function archiveKeysOf(batch: ArchiveBatch): string[] {
    switch (batch.domain) {
        case 'messages':
            return batch.records.map(r => r.id)
        case 'threads':
        case 'contacts':
            return batch.records.map(r => r.jid)
    }
}

/** Removes a session's records in the given archive domains via each contract's `clear()`. */
export async function clearArchive(
    store: OpenedStore,
    sessionId: string,
    domains: readonly ArchiveDomain[]
): Promise<void> {
    await refuseSharedKeys(store, sessionId, domains, `the archive of session "${sessionId}"`)
    for (const domain of ARCHIVE_DOMAINS) {
        if (domains.includes(domain)) await store.domain(domain, sessionId).clear()
    }
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
