/**
 * PostgreSQL, through `@zapo-js/store-postgres` on a pg Pool the tool owns. Tables are
 * `<tablePrefix><name>` in the connection's current schema.
 */

import { userInfo } from 'node:os'
import type { BackendSpec } from '../address.js'
import type {
    BackendAdapter,
    BackendTransaction,
    DomainStores,
    OpenedBackend,
    StoreIdentity
} from './types.js'
import { CONNECT_TIMEOUT_MS, loadStorePackage, SERVER_BACKEND, socketErrorClass } from './shared.js'
import type { SqlDialect } from './sql.js'
import { columnsByTable, readyPool, sqlBackend } from './sql.js'

export const postgresBackend: BackendAdapter<'postgres'> = {
    kind: 'postgres',
    title: 'PostgreSQL',
    packageName: '@zapo-js/store-postgres',
    driver: 'pg',
    schemes: ['postgres:', 'postgresql:'],
    names: ['postgres', 'postgresql', 'pg'],
    ...SERVER_BACKEND,
    prefixOption: 'tablePrefix',
    envHint: 'DATABASE_URL (or PGHOST/PGDATABASE…)',
    fromEnv: env => {
        if (env.DATABASE_URL && /^postgres(ql)?:/i.test(env.DATABASE_URL))
            return { url: env.DATABASE_URL, variable: 'DATABASE_URL' }
        if (env.POSTGRES_URL) return { url: env.POSTGRES_URL, variable: 'POSTGRES_URL' }
        if (env.PGHOST || env.PGDATABASE || env.PGUSER || env.PGPORT || env.PGSERVICE) {
            const display = `postgres://${env.PGUSER ? `${env.PGUSER}@` : ''}${env.PGHOST ?? 'localhost'}${env.PGPORT ? `:${env.PGPORT}` : ''}/${env.PGDATABASE ?? env.PGUSER ?? ''} (from PG* variables)`
            return { spec: { kind: 'postgres', target: '', display }, variable: 'PG* variables' }
        }
        return null
    },
    open: openPostgres,
    patternClears: false,
    classify: error => {
        const err = error as { code?: unknown; message?: unknown; name?: unknown } | null
        const code = typeof err?.code === 'string' ? err.code : ''
        const message = typeof err?.message === 'string' ? err.message : ''
        const socket = socketErrorClass(error)
        if (socket !== null) return socket
        if (code === '28P01' || code === '28000' || /password authentication/i.test(message))
            return 'credentials'
        if (code === '3D000') return 'no-database'
        if (code === '42501') return 'permission'
        if (/timeout expired|connection timeout/i.test(message)) return 'timeout'
        if (
            /^(08|57P)/.test(code) ||
            /Connection terminated|connection is closed|not queryable|connection error/i.test(
                message
            )
        )
            return 'lost'
        // a SQLSTATE (five characters) is the server's answer; pg's own errors carry none
        if (/^[0-9A-Z]{5}$/.test(code) || err?.name === 'DatabaseError') return 'driver'
        return null
    }
}

async function openPostgres(spec: BackendSpec): Promise<OpenedBackend> {
    const pg = await import('pg')
    const Pool = pg.default.Pool
    const pool = new Pool({
        ...(spec.target ? { connectionString: withDefaultUser(spec.target) } : {}),
        ...(spec.target === '' && !process.env.PGUSER && !process.env.USER
            ? { user: userInfo().username }
            : {}),
        connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
        // one connection more than a migration's sessions in flight (each may hold one in its
        // session transaction) for the journal, leases and catalog reads beside them
        max: 5,
        idleTimeoutMillis: 1_000,
        allowExitOnIdle: true
    })
    pool.on('error', () => undefined)
    // a checked-out client whose connection dies (server restart, terminated backend) emits
    // 'error' too; its in-flight query rejects with the same error, which the caller handles
    pool.on('connect', client => void client.on('error', () => undefined))
    // schema changes serialised across processes, the migration check once per run
    // zapo's own tables (marks, leases) are created under the same lock as the package's
    const serialised = schemaSerialised(pool)
    const migrations = migrationsOnce(serialised, spec.tablePrefix ?? '')
    const dialect = postgresDialect(serialised, spec)
    await readyPool(pool, spec, dialect, postgresBackend.classify)
    const { createPostgresStore } = loadStorePackage('@zapo-js/store-postgres')
    const storesOn = (on: import('pg').Pool): DomainStores =>
        createPostgresStore({
            pool: on,
            ...(spec.tablePrefix !== undefined ? { tablePrefix: spec.tablePrefix } : {})
        }).stores as unknown as DomainStores
    // which tables exist, once all of them do (a session transaction's catalog asks first)
    const present = new Set<string>()
    const allTables = async (
        names: readonly string[],
        on: SqlDialect
    ): Promise<ReadonlySet<string>> => {
        if (names.every(n => present.has(n))) return new Set(names)
        const found = await on.existingTables(names)
        if (found.size === names.length) for (const n of found) present.add(n)
        return found
    }
    const sessionTransaction = async (): Promise<BackendTransaction> => {
        const client = await serialised.connect()
        try {
            await client.query('BEGIN')
        } catch (error) {
            client.release(error as Error)
            throw error
        }
        const bound = oneTransaction(client, migrations)
        const boundDialect = postgresDialect(bound, spec)
        let spent = false
        return {
            backend: sqlBackend({
                spec,
                stores: storesOn(bound),
                dialect: {
                    ...boundDialect,
                    existingTables: names => allTables(names, boundDialect)
                },
                identity: () => identity(pool, spec),
                close: async () => undefined
            }),
            commit: async () => {
                if (spent) throw new Error('postgres: session transaction already ended')
                spent = true
                try {
                    // COMMIT of a transaction an error aborted answers ROLLBACK, not an error
                    const result = await client.query('COMMIT')
                    if (result.command !== 'COMMIT')
                        throw new Error('postgres: the session transaction was rolled back')
                } catch (error) {
                    client.release(error as Error)
                    throw error
                }
                client.release()
            },
            rollback: async () => {
                if (spent) return
                spent = true
                try {
                    await client.query('ROLLBACK')
                    client.release()
                } catch (error) {
                    client.release(error as Error)
                }
            }
        }
    }
    return sqlBackend({
        spec,
        stores: storesOn(migrations),
        dialect,
        identity: () => identity(pool, spec),
        sessionTransaction,
        close: () => pool.end()
    })
}

/**
 * The pool as the store package gets it inside a session transaction: every statement runs on
 * the one connection, the package's own transactions (BEGIN … COMMIT around a batch write) are
 * part of the outer one (their BEGIN and COMMIT are not sent; a failure inside one fails the
 * whole session, which is rolled back), and its migration check is answered as on the pool
 * (`migrationsOnce`).
 */
function oneTransaction(
    client: import('pg').PoolClient,
    pool: import('pg').Pool
): import('pg').Pool {
    const send = client.query.bind(client) as (...args: QueryArgs) => Promise<unknown>
    // one statement at a time (pg queues overlapping queries on a client itself, but warns)
    let last: Promise<unknown> = Promise.resolve()
    const run = (...args: QueryArgs): Promise<unknown> => {
        const result = last.then(
            () => send(...args),
            () => send(...args)
        )
        last = result.catch(() => undefined)
        return result
    }
    const query = (...args: QueryArgs): Promise<unknown> => {
        const text = sqlText(args[0])
        if (args.length === 1 && MIGRATION_CHECK.test(text))
            return (pool.query as (...a: QueryArgs) => Promise<unknown>)(...args)
        const control = TRANSACTION_CONTROL.exec(text)
        if (control !== null)
            return Promise.resolve({ command: control[1]!.toUpperCase(), rows: [], rowCount: null })
        return run(...args)
    }
    const inner = { query, release: () => undefined }
    return {
        query,
        connect: async () => inner,
        on: () => undefined,
        end: async () => undefined
    } as unknown as import('pg').Pool
}

/** The store package's migration check (`ensurePgMigrations`): answered once per run. */
const MIGRATION_CHECK = /^\s*(CREATE TABLE IF NOT EXISTS|SELECT name FROM)\s+"[^"]*_migrations"/
/** What the store package sends around a batch write. */
const TRANSACTION_CONTROL = /^\s*(BEGIN|COMMIT|ROLLBACK)\s*;?\s*$/i

/**
 * The pool as the store package sees it: the same pool, except that its migration check (the
 * package runs `CREATE TABLE IF NOT EXISTS "<prefix>_migrations"` and reads that table on the first
 * query of every store object, and it builds one per session and domain) reaches the server once
 * per run instead of twice per session and domain: over 10,000 sessions that was half of all
 * queries of `sessions list`, and the DDL takes a catalog lock. The list of applied migrations is
 * read again after the package records a new one.
 */
function migrationsOnce(pool: import('pg').Pool, prefix: string): import('pg').Pool {
    const table = `"${prefix}_migrations"`
    const create = `CREATE TABLE IF NOT EXISTS ${table}`
    const select = `SELECT name FROM ${table}`
    let created: Promise<unknown> | null = null
    let applied: Promise<unknown> | null = null
    pool.on('connect', client => {
        const query = client.query.bind(client) as (...args: unknown[]) => unknown
        ;(client as unknown as { query: unknown }).query = (...args: unknown[]) => {
            const text = typeof args[0] === 'string' ? args[0] : ''
            if (text.includes(`INSERT INTO ${table}`)) applied = null
            return query(...args)
        }
    })
    const query = (...args: unknown[]): unknown => {
        const text = typeof args[0] === 'string' ? args[0].trim() : null
        if (text !== null && args.length === 1) {
            if (text.startsWith(create)) {
                created ??= pool.query(args[0] as string)
                return created.catch((error: unknown) => {
                    created = null
                    throw error
                })
            }
            if (text === select) {
                applied ??= pool.query(select)
                return applied.catch((error: unknown) => {
                    applied = null
                    throw error
                })
            }
        }
        return (pool.query as (...a: unknown[]) => unknown)(...args)
    }
    return {
        query,
        connect: (...args: unknown[]) => (pool.connect as (...a: unknown[]) => unknown)(...args),
        on: (...args: unknown[]) => (pool.on as (...a: unknown[]) => unknown)(...args),
        end: () => pool.end()
    } as unknown as import('pg').Pool
}

/** pg takes the user from the URL, PGUSER or USER; psql also falls back to the OS user, and so does zapo. */
function withDefaultUser(target: string): string {
    if (process.env.PGUSER || process.env.USER) return target
    try {
        const url = new URL(target)
        if (url.username !== '' || url.searchParams.has('user')) return target
        url.username = encodeURIComponent(userInfo().username)
        return url.toString()
    } catch {
        return target
    }
}

/**
 * The cluster by its system identifier (pg_control_system(), executable by every role unless an
 * administrator revoked it; a streaming replica shares its primary's, which is right: writing
 * one changes the other), then the database and schema of the connection, then the table
 * prefix. Without the system identifier: the server's own address and port as it reports them.
 */
async function identity(pool: import('pg').Pool, spec: BackendSpec): Promise<StoreIdentity> {
    const { rows } = await pool.query<{ db: string; schema: string | null }>(
        'SELECT current_database() AS db, current_schema() AS schema'
    )
    let instance: string
    let basis: string
    try {
        const system = await pool.query<{ id: string }>(
            'SELECT system_identifier::text AS id FROM pg_control_system()'
        )
        instance = `system:${system.rows[0]!.id}`
        basis = 'system identifier'
    } catch {
        const server = await pool.query<{ addr: string | null; port: number | null }>(
            'SELECT host(inet_server_addr()) AS addr, inet_server_port() AS port'
        )
        const row = server.rows[0]
        // a Unix socket has no address: the data directory's socket is one server per machine
        instance = `server:${row?.addr ?? 'local'}:${row?.port ?? ''}`
        basis = 'server address'
    }
    return {
        kind: 'postgres',
        instance,
        scope: `${rows[0]?.db ?? ''}.${rows[0]?.schema ?? ''}`,
        namespace: spec.tablePrefix ?? '',
        overlap: 'equal',
        basis
    }
}

function postgresDialect(pool: import('pg').Pool, spec: BackendSpec): SqlDialect {
    const prefix = spec.tablePrefix ?? ''
    const physical = (name: string): string => `${prefix}${name}`
    const toDollar = (sql: string): string => {
        let n = 0
        return sql.replace(/\?/g, () => `$${++n}`)
    }
    return {
        kind: 'postgres',
        query: async (sql, params) => {
            const result = await pool.query(toDollar(sql), params as unknown[])
            return result.rows as Record<string, unknown>[]
        },
        execute: async (sql, params) => {
            await pool.query(toDollar(sql), params as unknown[])
        },
        table: name => `"${physical(name)}"`,
        physical,
        existingTables: async names => {
            const result = await pool.query<{ table_name: string }>(
                `SELECT table_name FROM information_schema.tables
                 WHERE table_schema = current_schema() AND table_name = ANY($1)`,
                [names]
            )
            return new Set(result.rows.map(r => String(r.table_name)))
        },
        tableColumns: async names => {
            const result = await pool.query<{ table_name: string; column_name: string }>(
                `SELECT table_name, column_name FROM information_schema.columns
                 WHERE table_schema = current_schema() AND table_name = ANY($1)`,
                [names]
            )
            return columnsByTable(result.rows)
        },
        quote: column => `"${column}"`,
        uploadedTrue: 'uploaded',
        where: prefix ? `with prefix "${prefix}"` : 'in the current schema',
        marksTableDdl: ref =>
            `CREATE TABLE IF NOT EXISTS ${ref} (session_id TEXT PRIMARY KEY, source TEXT NOT NULL, state TEXT NOT NULL, updated_at BIGINT NOT NULL)`,
        marksUpsert: ref =>
            `INSERT INTO ${ref} (session_id, source, state, updated_at) VALUES (?, ?, ?, ?)
             ON CONFLICT (session_id) DO UPDATE SET source = EXCLUDED.source, state = EXCLUDED.state, updated_at = EXCLUDED.updated_at`
    }
}

/** Statements that change the schema (the store package creates its tables on first use). */
const SCHEMA_CHANGE = /^\s*(CREATE|ALTER)\s/i
/** One lock per database for zapo's and the store package's schema changes. */
const SCHEMA_LOCK = "SELECT pg_advisory_xact_lock(hashtext('zapo:schema'))"

type QueryArgs = [unknown, unknown?]

function sqlText(query: unknown): string {
    if (typeof query === 'string') return query
    const text = (query as { text?: unknown } | null)?.text
    return typeof text === 'string' ? text : ''
}

/**
 * The pool as the store package gets it: its schema changes (CREATE / ALTER … IF NOT EXISTS, run
 * lazily by every process on first use) wait for one transaction-level advisory lock, so two
 * processes creating the same tables at once run one after the other instead of failing on
 * PostgreSQL's catalog (`duplicate key … pg_type_typname_nsp_index`). Other statements pass
 * through untouched.
 */
function schemaSerialised(pool: import('pg').Pool): import('pg').Pool {
    const wrapped = new WeakSet<object>()
    const inTransaction = new WeakMap<object, boolean>()
    const wrapClient = (client: import('pg').PoolClient): import('pg').PoolClient => {
        if (wrapped.has(client)) return client
        wrapped.add(client)
        const query = client.query.bind(client) as (...args: QueryArgs) => Promise<unknown>
        const locked = async (...args: QueryArgs): Promise<unknown> => {
            if (inTransaction.get(client) === true) {
                await query(SCHEMA_LOCK)
                return query(...args)
            }
            await query('BEGIN')
            try {
                await query(SCHEMA_LOCK)
                const result = await query(...args)
                await query('COMMIT')
                return result
            } catch (error) {
                await query('ROLLBACK').catch(() => undefined)
                throw error
            }
        }
        // the client stays wrapped when it goes back to the pool, and pg's own pool.query calls
        // it with a callback: a schema change answers that callback only once it is committed
        // (answered at the CREATE, the caller's next statement on another connection could run
        // before the COMMIT and find no table)
        const serialised = (...args: unknown[]): unknown => {
            const text = sqlText(args[0])
            if (/^\s*BEGIN\b/i.test(text)) inTransaction.set(client, true)
            else if (/^\s*(COMMIT|ROLLBACK)\b/i.test(text)) inTransaction.set(client, false)
            if (!SCHEMA_CHANGE.test(text)) return (query as (...a: unknown[]) => unknown)(...args)
            const last = args[args.length - 1]
            if (typeof last !== 'function') return locked(...(args as QueryArgs))
            const callback = last as (error: unknown, result?: unknown) => void
            locked(...(args.slice(0, -1) as QueryArgs)).then(
                result => callback(null, result),
                (error: unknown) => callback(error)
            )
            return undefined
        }
        ;(client as unknown as { query: unknown }).query = serialised
        return client
    }
    return new Proxy(pool, {
        get(target, prop) {
            if (prop === 'connect') return async () => wrapClient(await target.connect())
            if (prop === 'query')
                return async (...args: QueryArgs) => {
                    if (!SCHEMA_CHANGE.test(sqlText(args[0])))
                        return (target.query as (...a: QueryArgs) => Promise<unknown>)(...args)
                    const client = wrapClient(await target.connect())
                    try {
                        return await (client.query as (...a: QueryArgs) => Promise<unknown>)(
                            ...args
                        )
                    } finally {
                        client.release()
                    }
                }
            const value: unknown = Reflect.get(target, prop, target)
            return typeof value === 'function' ? (value as Function).bind(target) : value
        }
    })
}
