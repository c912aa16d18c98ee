/**
 * What the three SQL backends (sqlite, postgres, mysql) share. Their store packages use one
 * table layout (same tables, columns and keys; see their migrations), so the session catalog,
 * the archive key enumeration and the migration marks are written once here over a dialect
 * that supplies the query functions, identifier quoting, the physical table names (prefix /
 * overrides) and the list of tables that exist. The catalog and the key enumeration only run
 * `SELECT`s: nothing is created or changed by reading.
 */

import type { SignalAddress } from 'zapo-js/signal'
import type { SchemaState } from '../records.types.js'
import type { StoredRecord, ZapoSessionCatalog } from '../catalog/types.js'
import { EMPTY_COUNTS, countsFromRows, sortStrings } from '../catalog/types.js'
import type { ArchiveDomain } from '../domains.js'
import type { MigrationMark, MigrationMarks } from '../migration-marks.js'
import { collectMarks, MARKS_TABLE } from '../migration-marks.js'
import type { BackendSpec } from '../address.js'
import type {
    ArchiveDomainKeys,
    DomainStores,
    DriverErrorClass,
    OpenedBackend,
    StoreIdentity
} from './types.js'
import { clearThroughContracts, connectError } from './shared.js'
import { createTableIdempotently, sqlLeases } from './sql-lease.js'
import { LEASES_TABLE } from '../lease.js'
import { ZapoError } from '../../errors.js'

/** The durable tables of the SQL store packages, by their logical (unprefixed) names. */
const SQL_DURABLE_TABLES = Object.freeze([
    'auth_credentials',
    'signal_meta',
    'signal_registration',
    'signal_signed_prekey',
    'signal_prekey',
    'signal_session',
    'signal_identity',
    'sender_keys',
    'sender_key_distribution',
    'appstate_sync_keys',
    'appstate_collection_versions',
    'appstate_collection_index_values',
    'privacy_tokens'
] as const)
export type SqlTable = (typeof SQL_DURABLE_TABLES)[number]

/** The cache tables of the SQL store packages (zapo keeps caches in memory; named for overrides). */
const SQL_CACHE_TABLES = Object.freeze([
    'retry_outbound_messages',
    'retry_inbound_counters',
    'group_participants_cache',
    'device_list_cache',
    'message_secrets_cache',
    'chat_metadata_cache'
] as const)

/** Tables whose rows make a session "exist" (signal_meta alone is left behind by clear()). */
const SESSION_TABLES: readonly SqlTable[] = SQL_DURABLE_TABLES.filter(
    t => t !== 'signal_meta' && t !== 'appstate_collection_index_values'
)

/** The tables of the archive domains, with the column that keys a record within a session. */
export const SQL_ARCHIVE_TABLES: Readonly<
    Record<ArchiveDomain, { readonly table: string; readonly column: string }>
> = Object.freeze({
    messages: { table: 'mailbox_messages', column: 'message_id' },
    threads: { table: 'mailbox_threads', column: 'jid' },
    contacts: { table: 'mailbox_contacts', column: 'jid' }
})

/** Every table of the SQL store packages' layout (what SQLite `tableNames` may rename). */
export const SQL_TABLES: readonly string[] = Object.freeze([
    'wa_migrations',
    ...SQL_DURABLE_TABLES,
    ...Object.values(SQL_ARCHIVE_TABLES).map(t => t.table),
    ...SQL_CACHE_TABLES
])

export interface SqlDialect {
    readonly kind: 'sqlite' | 'postgres' | 'mysql'
    /** runs a SELECT with `?` placeholders */
    query(sql: string, params: readonly unknown[]): Promise<readonly Record<string, unknown>[]>
    /** runs a statement that writes (`?` placeholders) */
    execute(sql: string, params: readonly unknown[]): Promise<void>
    /** the table reference to put in SQL text for a logical table (any table of the layout) */
    table(name: string): string
    /** the physical table name, as the database lists it */
    physical(name: string): string
    /** the physical names (of the given ones) that exist */
    existingTables(physicalNames: readonly string[]): Promise<ReadonlySet<string>>
    quote(column: string): string
    /** SQL expression true when the `uploaded` column is set */
    readonly uploadedTrue: string
    readonly where: string
    /** the columns of the given physical tables that exist (information_schema / PRAGMA) */
    tableColumns(physicalNames: readonly string[]): Promise<Map<string, Set<string>>>
    /** CREATE TABLE IF NOT EXISTS for the marks table (its reference given) */
    marksTableDdl(ref: string): string
    /** the upsert of one mark row (session_id, source, state, updated_at) */
    marksUpsert(ref: string): string
}

const IN_CHUNK = 500

function createSqlCatalog(dialect: SqlDialect): ZapoSessionCatalog {
    let present: ReadonlySet<SqlTable> | null = null
    const presentTables = async (): Promise<ReadonlySet<SqlTable>> => {
        if (present !== null && present.size === SQL_DURABLE_TABLES.length) return present
        const physical = SQL_DURABLE_TABLES.map(t => dialect.physical(t))
        const existing = await dialect.existingTables(physical)
        const lowered = new Set([...existing].map(n => n.toLowerCase()))
        present = new Set(
            SQL_DURABLE_TABLES.filter(t => lowered.has(dialect.physical(t).toLowerCase()))
        )
        return present
    }
    const has = async (table: SqlTable): Promise<boolean> => (await presentTables()).has(table)
    const q = dialect.quote

    const countBy = async (
        table: SqlTable,
        ids: readonly string[],
        extra = ''
    ): Promise<Map<string, Record<string, unknown>>> => {
        const out = new Map<string, Record<string, unknown>>()
        if (!(await has(table)) || ids.length === 0) return out
        for (let at = 0; at < ids.length; at += IN_CHUNK) {
            const chunk = ids.slice(at, at + IN_CHUNK)
            const rows = await dialect.query(
                `SELECT session_id, COUNT(*) AS n${extra} FROM ${dialect.table(table)}
                 WHERE session_id IN (${chunk.map(() => '?').join(', ')}) GROUP BY session_id`,
                chunk
            )
            for (const row of rows) out.set(String(row.session_id), row)
        }
        return out
    }

    async function* pages<T>(
        table: SqlTable,
        sessionId: string,
        columns: readonly string[],
        pageSize: number,
        toItem: (row: Record<string, unknown>) => T,
        cursorOf: (item: T) => readonly unknown[],
        extra: readonly string[] = []
    ): AsyncIterable<readonly T[]> {
        if (!(await has(table))) return
        const cols = columns.map(q)
        const tuple = cols.length === 1 ? cols[0]! : `(${cols.join(', ')})`
        const marks = cols.length === 1 ? '?' : `(${cols.map(() => '?').join(', ')})`
        const selected = [...cols, ...extra.map(q)].join(', ')
        let cursor: readonly unknown[] | null = null
        for (;;) {
            const rows = await dialect.query(
                `SELECT ${selected} FROM ${dialect.table(table)}
                 WHERE session_id = ?${cursor ? ` AND ${tuple} > ${marks}` : ''}
                 ORDER BY ${cols.join(', ')} LIMIT ?`,
                [sessionId, ...(cursor ?? []), pageSize]
            )
            if (rows.length === 0) return
            const items = rows.map(toItem)
            yield items
            if (rows.length < pageSize) return
            cursor = cursorOf(items[items.length - 1]!)
        }
    }

    const toAddress = (row: Record<string, unknown>): SignalAddress => ({
        user: String(row.user),
        server: String(row.server),
        device: Number(row.device)
    })

    const storedRecords = (
        domain: 'session' | 'identity',
        sessionId: string,
        pageSize: number
    ): AsyncIterable<readonly StoredRecord[]> => {
        const [table, column] =
            domain === 'session'
                ? (['signal_session', 'record'] as const)
                : (['signal_identity', 'identity_key'] as const)
        return pages(
            table,
            sessionId,
            ['user', 'server', 'device'],
            pageSize,
            (row): StoredRecord => {
                const value = row[column]
                return {
                    address: toAddress(row),
                    bytes: value instanceof Uint8Array ? value : toBytes(value)
                }
            },
            r => [r.address.user, r.address.server, r.address.device],
            [column]
        )
    }

    const catalog: ZapoSessionCatalog = {
        kind: dialect.kind,
        // store-sqlite decodes a stored identity (decodeSignalRemoteIdentity): its bytes are not
        // what the contract returns, and an in-process read by key costs no round trip anyway
        ...(dialect.kind === 'sqlite' ? {} : { storedRecords }),
        async schemaState() {
            const existing = await presentTables()
            if (existing.size === 0) {
                return {
                    state: 'missing' as SchemaState,
                    detail: `no zapo tables ${dialect.where}`
                }
            }
            const missing = SQL_DURABLE_TABLES.filter(t => !existing.has(t)).map(t =>
                dialect.physical(t)
            )
            if (missing.length > 0) {
                return {
                    state: 'partial' as SchemaState,
                    detail: `missing tables ${dialect.where}: ${missing.join(', ')}`
                }
            }
            return {
                state: 'ready' as SchemaState,
                detail: `${SQL_DURABLE_TABLES.length} durable tables ${dialect.where}`
            }
        },
        async listSessionIds() {
            const existing = await presentTables()
            const tables = SESSION_TABLES.filter(t => existing.has(t))
            if (tables.length === 0) return []
            const rows = await dialect.query(
                tables
                    .map(t => `SELECT DISTINCT session_id FROM ${dialect.table(t)}`)
                    .join(' UNION '),
                []
            )
            return sortStrings(rows.map(r => String(r.session_id)))
        },
        async counts(sessionId) {
            const all = await catalog.countsMany([sessionId])
            return all.get(sessionId) ?? EMPTY_COUNTS
        },
        async countsMany(sessionIds) {
            const ids = [...new Set(sessionIds)]
            const rows = await Promise.all([
                countBy('auth_credentials', ids),
                countBy('signal_registration', ids),
                countBy('signal_signed_prekey', ids),
                countBy(
                    'signal_prekey',
                    ids,
                    `, SUM(CASE WHEN ${dialect.uploadedTrue} THEN 1 ELSE 0 END) AS up`
                ),
                countBy('signal_session', ids),
                countBy('signal_identity', ids),
                countBy('sender_keys', ids),
                countBy('sender_key_distribution', ids),
                countBy('appstate_sync_keys', ids),
                countBy('appstate_collection_versions', ids),
                countBy('privacy_tokens', ids)
            ])
            return countsFromRows(ids, rows)
        },
        async signedPreKeyRotations(sessionIds) {
            const out = new Map<string, number | null>()
            const ids = [...new Set(sessionIds)]
            if (!(await has('signal_meta'))) return out
            for (let at = 0; at < ids.length; at += IN_CHUNK) {
                const chunk = ids.slice(at, at + IN_CHUNK)
                const rows = await dialect.query(
                    `SELECT session_id, signed_prekey_rotation_ts FROM ${dialect.table('signal_meta')}
                     WHERE session_id IN (${chunk.map(() => '?').join(', ')})`,
                    chunk
                )
                for (const row of rows) {
                    const ts = row.signed_prekey_rotation_ts
                    out.set(
                        String(row.session_id),
                        ts === null || ts === undefined ? null : Number(ts)
                    )
                }
            }
            return out
        },
        async nextPreKeyId(sessionId) {
            if (!(await has('signal_meta'))) return null
            const rows = await dialect.query(
                `SELECT next_prekey_id FROM ${dialect.table('signal_meta')} WHERE session_id = ?`,
                [sessionId]
            )
            return rows[0] ? Number(rows[0].next_prekey_id) : null
        },
        preKeyIds: (sessionId, pageSize) =>
            pages(
                'signal_prekey',
                sessionId,
                ['key_id'],
                pageSize,
                r => Number(r.key_id),
                id => [id]
            ),
        sessionAddresses: (sessionId, pageSize) =>
            pages(
                'signal_session',
                sessionId,
                ['user', 'server', 'device'],
                pageSize,
                toAddress,
                a => [a.user, a.server, a.device]
            ),
        identityAddresses: (sessionId, pageSize) =>
            pages(
                'signal_identity',
                sessionId,
                ['user', 'server', 'device'],
                pageSize,
                toAddress,
                a => [a.user, a.server, a.device]
            ),
        async *senderKeyGroupIds(sessionId, pageSize) {
            const existing = await presentTables()
            const tables = (['sender_keys', 'sender_key_distribution'] as const).filter(t =>
                existing.has(t)
            )
            if (tables.length === 0) return
            let cursor: string | null = null
            for (;;) {
                const params: unknown[] = []
                const parts = tables.map(t => {
                    params.push(sessionId)
                    if (cursor !== null) params.push(cursor)
                    return `SELECT group_id FROM ${dialect.table(t)} WHERE session_id = ?${cursor !== null ? ' AND group_id > ?' : ''}`
                })
                params.push(pageSize)
                const rows = await dialect.query(
                    `SELECT DISTINCT group_id FROM (${parts.join(' UNION ')}) g ORDER BY group_id LIMIT ?`,
                    params
                )
                if (rows.length === 0) return
                const ids = rows.map(r => String(r.group_id))
                yield ids
                if (rows.length < pageSize) return
                cursor = ids[ids.length - 1]!
            }
        },
        appStateSyncKeyIds: (sessionId, pageSize) =>
            pages(
                'appstate_sync_keys',
                sessionId,
                ['key_id'],
                pageSize,
                r => toBytes(r.key_id),
                id => [Buffer.from(id)]
            ),
        async appStateCollections(sessionId) {
            if (!(await has('appstate_collection_versions'))) return []
            const rows = await dialect.query(
                `SELECT collection FROM ${dialect.table('appstate_collection_versions')} WHERE session_id = ? ORDER BY collection`,
                [sessionId]
            )
            return rows.map(r => String(r.collection))
        },
        privacyTokenJids: (sessionId, pageSize) =>
            pages(
                'privacy_tokens',
                sessionId,
                ['jid'],
                pageSize,
                r => String(r.jid),
                jid => [jid]
            )
    }
    return catalog
}

function toBytes(value: unknown): Uint8Array {
    if (value instanceof Uint8Array) return new Uint8Array(value)
    if (value instanceof ArrayBuffer) return new Uint8Array(value.slice(0))
    if (typeof value === 'string') return new Uint8Array(Buffer.from(value, 'binary'))
    throw new Error('catalog: expected binary column')
}

const ARCHIVE_IN_CHUNK = 500

/** Key enumeration of one archive domain in a SQL backend (its table may not exist yet). */
function sqlArchiveKeys(dialect: SqlDialect, domain: ArchiveDomain): ArchiveDomainKeys {
    const { table, column } = SQL_ARCHIVE_TABLES[domain]
    const ref = dialect.table(table)
    let present = false
    const exists = async (): Promise<boolean> =>
        (present ||= (await dialect.existingTables([dialect.physical(table)])).size > 0)
    const col = dialect.quote(column)
    return {
        async countMany(ids) {
            const out = new Map<string, number>()
            if (ids.length === 0 || !(await exists())) return out
            for (let at = 0; at < ids.length; at += ARCHIVE_IN_CHUNK) {
                const chunk = ids.slice(at, at + ARCHIVE_IN_CHUNK)
                const rows = await dialect.query(
                    `SELECT session_id, COUNT(*) AS n FROM ${ref} WHERE session_id IN (${chunk.map(() => '?').join(', ')}) GROUP BY session_id`,
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
                const rows = await dialect.query(
                    `SELECT ${col} AS k FROM ${ref} WHERE session_id = ?${cursor !== null ? ` AND ${col} > ?` : ''} ORDER BY ${col} LIMIT ?`,
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

/**
 * The migration marks in a SQL backend: table `<tablePrefix>zapo_migrate_marks` (SQLite: never
 * renamed by table-name overrides). Reading never creates it.
 */
function sqlMarks(dialect: SqlDialect): MigrationMarks {
    const ref = dialect.table(MARKS_TABLE)
    const physical = dialect.physical(MARKS_TABLE)
    // one CREATE per process: concurrent first writes would race in the database catalog
    let created: Promise<unknown> | null = null
    const ensure = async (): Promise<void> => {
        created ??= createTableIdempotently(dialect, physical, () =>
            dialect.execute(dialect.marksTableDdl(ref), [])
        ).catch(error => {
            created = null
            throw error
        })
        await created
    }
    const exists = async (): Promise<boolean> => (await dialect.existingTables([physical])).size > 0
    return {
        readAll: async () => {
            if (!(await exists())) return new Map<string, MigrationMark>()
            return collectMarks(
                await dialect.query(`SELECT session_id, source, state, updated_at FROM ${ref}`, [])
            )
        },
        write: async mark => {
            await ensure()
            await dialect.execute(dialect.marksUpsert(ref), [
                mark.sessionId,
                mark.source,
                mark.state,
                mark.updatedAt
            ])
        },
        remove: async sessionId => {
            if (!(await exists())) return
            await dialect.execute(`DELETE FROM ${ref} WHERE session_id = ?`, [sessionId])
        }
    }
}

/**
 * The columns each table of the SQL layout must have for zapo and its store package to use it:
 * the session id and the record's key (what every query of the packages and the catalog
 * names). Columns the packages add or drop between versions are not required.
 */
const SQL_KEY_COLUMNS: Readonly<Record<string, readonly string[]>> = Object.freeze({
    auth_credentials: ['session_id', 'noise_pub_key', 'identity_pub_key'],
    signal_meta: ['session_id', 'next_prekey_id'],
    signal_registration: ['session_id', 'registration_id'],
    signal_signed_prekey: ['session_id', 'key_id'],
    signal_prekey: ['session_id', 'key_id', 'uploaded'],
    signal_session: ['session_id', 'user', 'server', 'device'],
    signal_identity: ['session_id', 'user', 'server', 'device'],
    sender_keys: ['session_id', 'group_id'],
    sender_key_distribution: ['session_id', 'group_id'],
    appstate_sync_keys: ['session_id', 'key_id'],
    appstate_collection_versions: ['session_id', 'collection'],
    appstate_collection_index_values: ['session_id', 'collection'],
    privacy_tokens: ['session_id', 'jid'],
    mailbox_messages: ['session_id', 'message_id'],
    mailbox_threads: ['session_id', 'jid'],
    mailbox_contacts: ['session_id', 'jid'],
    wa_migrations: ['id'],
    [MARKS_TABLE]: ['session_id', 'source', 'state', 'updated_at'],
    [LEASES_TABLE]: ['session_id', 'token', 'expires']
})

/**
 * The first table with one of zapo's names that lacks columns zapo's layout needs (another
 * application's table), or null. `columns` maps physical table names (as the database lists
 * them; compared case-insensitively) to their column names.
 */
function foreignTable(
    columns: ReadonlyMap<string, ReadonlySet<string>>,
    physical: (name: string) => string
): { readonly table: string; readonly missing: readonly string[] } | null {
    const lowered = new Map(
        [...columns].map(([t, cols]) => [
            t.toLowerCase(),
            new Set([...cols].map(c => c.toLowerCase()))
        ])
    )
    for (const [name, required] of Object.entries(SQL_KEY_COLUMNS)) {
        const table = physical(name)
        const have = lowered.get(table.toLowerCase())
        if (have === undefined) continue
        const missing = required.filter(c => !have.has(c))
        if (missing.length > 0) return { table, missing }
    }
    return null
}

/** `{ table_name, column_name }` rows (information_schema.columns) as columns by table. */
export function columnsByTable(
    rows: readonly { readonly table_name: string; readonly column_name: string }[]
): Map<string, Set<string>> {
    const out = new Map<string, Set<string>>()
    for (const row of rows) {
        const name = String(row.table_name)
        let cols = out.get(name)
        if (!cols) out.set(name, (cols = new Set()))
        cols.add(String(row.column_name))
    }
    return out
}

/** The tables of the layout, by physical name, whose columns `foreignTable` checks. */
export function layoutTables(physical: (name: string) => string): string[] {
    return Object.keys(SQL_KEY_COLUMNS).map(physical)
}

/** Refuses a store that holds a table with one of zapo's names and another schema (exit 4). */
export function assertZapoSchema(
    where: string,
    columns: ReadonlyMap<string, ReadonlySet<string>>,
    physical: (name: string) => string
): void {
    const found = foreignTable(columns, physical)
    if (found === null) return
    throw new ZapoError(
        'STORE_UNAVAILABLE',
        `${where} is not a zapo store: its table "${found.table}" has no column ${found.missing.join(', ')}; point --store at a zapo store${where.startsWith('sqlite:') ? '' : ' or use another tablePrefix'}`,
        { store: where, table: found.table, missing: found.missing }
    )
}

/** A pool of a SQL server (pg / mysql2): what opening needs of it. */
interface SqlPool {
    query(sql: string): Promise<unknown>
    end(): Promise<void>
}

/**
 * Makes sure a freshly created pool answers and holds no foreign schema under zapo's table
 * names (ending the pool and throwing otherwise), before a store package is given it.
 */
export async function readyPool(
    pool: SqlPool,
    spec: BackendSpec,
    dialect: SqlDialect,
    classify: (error: unknown) => DriverErrorClass | null
): Promise<void> {
    try {
        await pool.query('SELECT 1')
    } catch (error) {
        await pool.end().catch(() => undefined)
        throw connectError(spec, error, classify(error))
    }
    try {
        const physical = dialect.physical
        assertZapoSchema(spec.display, await dialect.tableColumns(layoutTables(physical)), physical)
    } catch (error) {
        await pool.end().catch(() => undefined)
        throw error
    }
}

/** The `OpenedBackend` of a SQL backend: its store package's stores over the shared SQL parts. */
export function sqlBackend(parts: {
    readonly spec: BackendSpec
    readonly stores: DomainStores
    readonly dialect: SqlDialect
    readonly identity: () => Promise<StoreIdentity>
    readonly foreignObjects?: () => Promise<number>
    readonly idProblems?: OpenedBackend['idProblems']
    readonly sessionTransaction?: OpenedBackend['sessionTransaction']
    readonly close: () => Promise<void>
}): OpenedBackend {
    const { spec, stores, dialect } = parts
    // one catalog per opened backend: it remembers which tables exist, and callers ask for it
    // per batch (prekey counters, read-back); a fresh one re-read information_schema each time
    let catalog: ZapoSessionCatalog | null = null
    return {
        spec,
        kind: dialect.kind,
        stores,
        catalog: () => (catalog ??= createSqlCatalog(dialect)),
        archiveKeys: domain => sqlArchiveKeys(dialect, domain),
        marks: () => sqlMarks(dialect),
        leases: () => sqlLeases(dialect),
        identity: parts.identity,
        clearSession: (sessionId, domains) => clearThroughContracts(stores, sessionId, domains),
        foreignObjects: parts.foreignObjects ?? (async () => 0),
        ...(parts.idProblems ? { idProblems: parts.idProblems } : {}),
        ...(parts.sessionTransaction ? { sessionTransaction: parts.sessionTransaction } : {}),
        close: parts.close
    }
}
