/**
 * MySQL and MariaDB, through `@zapo-js/store-mysql` on a mysql2 pool the tool owns. Tables are
 * `<tablePrefix><name>` in the connection's database. `mariadb://` is an alias of `mysql://`.
 */

import type { BackendSpec } from '../address.js'
import type { BackendAdapter, DomainStores, OpenedBackend, StoreIdentity } from './types.js'
import { CONNECT_TIMEOUT_MS, loadStorePackage, SERVER_BACKEND, socketErrorClass } from './shared.js'
import type { SqlDialect } from './sql.js'
import { columnsByTable, readyPool, sqlBackend } from './sql.js'

type Pool = import('mysql2/promise').Pool

export const mysqlBackend: BackendAdapter<'mysql'> = {
    kind: 'mysql',
    title: 'MySQL / MariaDB',
    packageName: '@zapo-js/store-mysql',
    driver: 'mysql2',
    schemes: ['mysql:', 'mariadb:'],
    names: ['mysql', 'mariadb'],
    ...SERVER_BACKEND,
    prefixOption: 'tablePrefix',
    envHint: 'MYSQL_URL',
    fromEnv: env => {
        if (env.MYSQL_URL) return { url: env.MYSQL_URL, variable: 'MYSQL_URL' }
        if (env.MARIADB_URL) return { url: env.MARIADB_URL, variable: 'MARIADB_URL' }
        if (env.DATABASE_URL && /^(mysql|mariadb):/i.test(env.DATABASE_URL))
            return { url: env.DATABASE_URL, variable: 'DATABASE_URL' }
        return null
    },
    normalizeUrl: url => {
        if (url.protocol === 'mariadb:') url.protocol = 'mysql:'
    },
    open: openMysql,
    patternClears: false,
    classify: error => {
        const err = error as {
            code?: unknown
            sqlState?: unknown
            errno?: unknown
            fatal?: unknown
            message?: unknown
        } | null
        const code = typeof err?.code === 'string' ? err.code : ''
        const socket = socketErrorClass(error)
        if (socket !== null) return socket
        if (code.startsWith('ER_ACCESS_DENIED') || err?.sqlState === '28000') return 'credentials'
        if (code === 'ER_BAD_DB_ERROR') return 'no-database'
        if (code === 'ER_TABLEACCESS_DENIED_ERROR' || code === 'ER_DBACCESS_DENIED_ERROR')
            return 'permission'
        if (code.startsWith('PROTOCOL_') || err?.fatal === true) return 'lost'
        if (code.startsWith('ER_') || typeof err?.errno === 'number') return 'driver'
        return null
    }
}

async function openMysql(spec: BackendSpec): Promise<OpenedBackend> {
    const mysql = await import('mysql2/promise')
    const pool = mysql.createPool({
        uri: spec.target,
        connectTimeout: CONNECT_TIMEOUT_MS,
        connectionLimit: 4,
        supportBigNumbers: true,
        bigNumberStrings: false
    })
    const dialect = mysqlDialect(pool, spec)
    await readyPool(pool, spec, dialect, mysqlBackend.classify)
    const { createMysqlStore } = loadStorePackage('@zapo-js/store-mysql')
    const result = createMysqlStore({
        pool,
        ...(spec.tablePrefix !== undefined ? { tablePrefix: spec.tablePrefix } : {})
    })
    return sqlBackend({
        spec,
        stores: result.stores as unknown as DomainStores,
        dialect,
        identity: () => identity(pool, spec),
        idProblems: (ids, present) => collationTwins(dialect, ids, present),
        close: () => pool.end()
    })
}

/**
 * The server by its own id: MySQL's @@server_uuid (generated at the first start, kept in the data
 * directory); MariaDB has none and reports @@server_uid instead (a hash of a network interface's
 * MAC address and the port: one per host and port, the same after a restart, shared by two
 * servers only on one machine and one port, which cannot run at once); neither: the host name,
 * port and data directory the server reports. Then the database, then the table prefix.
 */
async function identity(pool: Pool, spec: BackendSpec): Promise<StoreIdentity> {
    const first = async (sql: string): Promise<Record<string, unknown> | null> => {
        try {
            const [rows] = await pool.query(sql)
            return (rows as Record<string, unknown>[])[0] ?? null
        } catch {
            return null
        }
    }
    const db = String((await first('SELECT DATABASE() AS db'))?.db ?? '')
    const uuid = (await first('SELECT @@server_uuid AS id'))?.id
    const uid = uuid ? null : (await first('SELECT @@server_uid AS id'))?.id
    let instance: string
    let basis: string
    if (uuid) {
        instance = `uuid:${String(uuid)}`
        basis = 'server UUID'
    } else if (uid) {
        instance = `uid:${String(uid)}`
        basis = 'server_uid (MariaDB: host MAC address and port)'
    } else {
        const where = await first('SELECT @@hostname AS host, @@port AS port, @@datadir AS dir')
        instance = `host:${String(where?.host ?? '')}:${String(where?.port ?? '')}:${String(where?.dir ?? '')}`
        basis = 'host name, port and data directory'
    }
    return {
        kind: 'mysql',
        instance,
        scope: db,
        namespace: spec.tablePrefix ?? '',
        overlap: 'equal',
        basis
    }
}

/**
 * New ids the session_id column's collation cannot tell from another id (present or new): a
 * case-insensitive collation makes `A` and `a` one key, PAD SPACE makes `a` and `a ` one, an
 * accent-insensitive one `é` and `e` — writing one would overwrite the other's rows. The server
 * decides, with the collation of the column (or, before the tables exist, the one a new
 * utf8mb4 table gets).
 */
async function collationTwins(
    dialect: SqlDialect,
    ids: readonly string[],
    present: readonly string[]
): Promise<ReadonlyMap<string, string>> {
    const out = new Map<string, string>()
    if (ids.length === 0) return out
    const [column] = await dialect.query(
        `SELECT collation_name AS c FROM information_schema.columns
         WHERE table_schema = DATABASE() AND table_name = ? AND column_name = 'session_id'`,
        [dialect.physical('auth_credentials')]
    )
    const [fallback] = column
        ? [column]
        : await dialect.query("SELECT COLLATION(CONVERT('' USING utf8mb4)) AS c", [])
    const collation = String(column?.c ?? fallback?.c ?? '')
    if (!/^[A-Za-z0-9_]+$/.test(collation)) return out
    const others = [...new Set([...present, ...ids])]
    const list = (n: number): string =>
        Array.from({ length: n }, () => 'SELECT CONVERT(? USING utf8mb4) AS id').join(' UNION ALL ')
    const rows = await dialect.query(
        `SELECT a.id AS id, b.id AS other FROM (${list(ids.length)}) a JOIN (${list(others.length)}) b
         ON a.id COLLATE ${collation} = b.id COLLATE ${collation}
         AND CAST(a.id AS BINARY) <> CAST(b.id AS BINARY)`,
        [...ids, ...others]
    )
    for (const row of rows) {
        const id = String(row.id)
        if (out.has(id)) continue
        out.set(
            id,
            `the store's collation (${collation}) makes it the same key as "${String(row.other)}"`
        )
    }
    return out
}

function mysqlDialect(pool: Pool, spec: BackendSpec): SqlDialect {
    const prefix = spec.tablePrefix ?? ''
    const physical = (name: string): string => `${prefix}${name}`
    const query = async (
        sql: string,
        params: readonly unknown[]
    ): Promise<readonly Record<string, unknown>[]> => {
        const [rows] = await pool.query(sql, params as unknown[])
        return rows as Record<string, unknown>[]
    }
    return {
        kind: 'mysql',
        query,
        execute: async (sql, params) => {
            await pool.query(sql, params as unknown[])
        },
        table: name => `\`${physical(name)}\``,
        physical,
        existingTables: async names => {
            if (names.length === 0) return new Set()
            const rows = await query(
                `SELECT table_name AS name FROM information_schema.tables
                 WHERE table_schema = DATABASE() AND table_name IN (${names.map(() => '?').join(', ')})`,
                names
            )
            return new Set(rows.map(r => String(r.name)))
        },
        tableColumns: async names => {
            if (names.length === 0) return new Map()
            const rows = await query(
                `SELECT table_name AS table_name, column_name AS column_name FROM information_schema.columns
                 WHERE table_schema = DATABASE() AND table_name IN (${names.map(() => '?').join(', ')})`,
                names
            )
            return columnsByTable(rows as { table_name: string; column_name: string }[])
        },
        quote: column => `\`${column}\``,
        uploadedTrue: 'uploaded <> 0',
        where: prefix ? `with prefix "${prefix}"` : 'in the database',
        marksTableDdl: ref =>
            `CREATE TABLE IF NOT EXISTS ${ref} (session_id VARCHAR(191) NOT NULL PRIMARY KEY, source TEXT NOT NULL, state VARCHAR(32) NOT NULL, updated_at BIGINT NOT NULL)`,
        marksUpsert: ref =>
            `INSERT INTO ${ref} (session_id, source, state, updated_at) VALUES (?, ?, ?, ?)
             ON DUPLICATE KEY UPDATE source = VALUES(source), state = VALUES(state), updated_at = VALUES(updated_at)`
    }
}
