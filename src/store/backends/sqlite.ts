/**
 * SQLite, through `@zapo-js/store-sqlite` on better-sqlite3. The store is one file; the tool
 * opens it itself (a read-only probe first, so a file that is not SQLite is refused before the
 * store package touches it) and hands the connection to the store package.
 *
 * In `read` mode nothing is created: a path that does not exist is "not found", not a new empty
 * database, and the file keeps its journal mode (the package's default would switch it to WAL).
 *
 * The connection of `@zapo-js/store-sqlite` rewrites the logical table names in SQL text to the
 * configured `tableNames` overrides, so queries name logical tables; existence checks bind
 * physical names as parameters (which are not rewritten).
 */

import {
    accessSync,
    closeSync,
    constants,
    existsSync,
    openSync,
    readFileSync,
    rmSync,
    statSync
} from 'node:fs'
import { dirname, isAbsolute, resolve } from 'node:path'
import { osProblem, usageError, ZapoError } from '../../errors.js'
import type { BackendSpec, SpecSource } from '../address.js'
import type {
    BackendAdapter,
    DomainStores,
    OpenMode,
    OpenedBackend,
    StoreIdentity
} from './types.js'
import {
    addressPath,
    loadStorePackage,
    pathIdentity,
    requireDriver,
    splitQuery,
    unavailable
} from './shared.js'
import type { SqlDialect } from './sql.js'
import { assertZapoSchema, layoutTables, SQL_TABLES, sqlBackend } from './sql.js'

type Connection = import('@zapo-js/store-sqlite').WaSqliteConnection

/** The embedded default: a SQLite file in the working directory. */
export const DEFAULT_SQLITE_FILE = 'zapo.sqlite'

export const sqliteBackend: BackendAdapter<'sqlite'> = {
    kind: 'sqlite',
    title: 'SQLite',
    packageName: '@zapo-js/store-sqlite',
    driver: 'better-sqlite3',
    schemes: ['sqlite:', 'file:'],
    names: ['sqlite', 'sqlite3'],
    inProcess: true,
    prefixOption: null,
    envHint: 'ZAPO_SQLITE',
    fromEnv: env => (env.ZAPO_SQLITE ? { url: env.ZAPO_SQLITE } : null),
    fallback: cwd => {
        const path = resolve(cwd, DEFAULT_SQLITE_FILE)
        return { kind: 'sqlite', target: path, display: `sqlite:${path}`, source: 'default' }
    },
    parseAddress: sqliteSpec,
    open: openSqlite,
    exists: spec => existsSync(spec.target),
    unwritable,
    identityOf: spec => fileIdentity(spec),
    probeDriver: async () => {
        const Database = requireDriver('better-sqlite3') as typeof import('better-sqlite3')
        const db = new Database(':memory:')
        db.prepare('SELECT 1').get()
        db.close()
        return { ok: true, detail: ', native module loads' }
    },
    patternClears: false,
    classify: error => {
        const code = (error as { code?: unknown } | null)?.code
        if (typeof code !== 'string' || !code.startsWith('SQLITE_')) return null
        if (code.startsWith('SQLITE_CANTOPEN') || code.startsWith('SQLITE_PERM'))
            return 'permission'
        if (code.startsWith('SQLITE_READONLY')) return 'permission'
        if (code === 'SQLITE_FULL') return 'disk-full'
        return 'driver'
    }
}

function sqliteSpec(rest: string, source: SpecSource, cwd: string): BackendSpec {
    const { head, query } = splitQuery(rest)
    const pathPart = addressPath(head, rest, 'SQLite path') // sqlite:///abs/path → /abs/path
    if (pathPart === '') throw usageError('SQLite store has no path: use sqlite:./zapo.sqlite')
    if (pathPart === ':memory:')
        throw usageError(
            'an in-memory SQLite store holds nothing between runs: give a file path such as sqlite:./zapo.sqlite'
        )
    const path = isAbsolute(pathPart) ? pathPart : resolve(cwd, pathPart)
    const tableNames: Record<string, string> = {}
    for (const [key, value] of new URLSearchParams(query)) {
        if (key.startsWith('table.')) {
            const table = key.slice('table.'.length)
            if (!SQL_TABLES.includes(table))
                throw usageError(
                    `unknown SQLite table "${table}" in ${key}: the tables are ${SQL_TABLES.join(', ')}`
                )
            if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(value))
                throw usageError(
                    `table name "${value}" for ${key} may only contain letters, digits and underscores`
                )
            tableNames[key.slice('table.'.length)] = value
        } else {
            throw usageError(
                `unknown SQLite store option "${key}": SQLite takes only table.<name>=<table> overrides`
            )
        }
    }
    const hasNames = Object.keys(tableNames).length > 0
    return {
        kind: 'sqlite',
        target: path,
        display: `sqlite:${path}${
            hasNames
                ? ` (tables: ${Object.entries(tableNames)
                      .map(([k, v]) => `${k}=${v}`)
                      .join(', ')})`
                : ''
        }`,
        source,
        ...(hasNames ? { tableNames } : {})
    }
}

/**
 * Why the store could not be written, checked before work that would need it (a pairing): the
 * file, or when it does not exist yet its directory, which must exist (the rule `export -o`
 * follows too) and be writable.
 */
function unwritable(spec: BackendSpec): ZapoError | null {
    const exists = existsSync(spec.target)
    if (!exists) {
        const missing = missingDirectory(spec)
        if (missing !== null) return missing
    }
    const target = exists ? spec.target : dirname(spec.target)
    try {
        accessSync(target, constants.W_OK)
        return null
    } catch (error) {
        return unavailable(
            spec,
            `cannot write ${target}: ${osProblem(error)}`,
            'pick a writable --store or fix its permissions'
        )
    }
}

/** A new store's directory must exist: refused, not created (one rule with `export -o`). */
function missingDirectory(spec: BackendSpec): ZapoError | null {
    if (existsSync(dirname(spec.target))) return null
    return usageError(
        `cannot create ${spec.target}: its directory does not exist; create it or choose another path`,
        { store: spec.display }
    )
}

/**
 * The file itself (shared.ts, pathIdentity). Table-name overrides rename some tables and share
 * the others: any two addresses of one file overlap.
 */
function fileIdentity(spec: BackendSpec): StoreIdentity {
    const namespace = Object.entries(spec.tableNames ?? {})
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([k, v]) => `${k}=${v}`)
        .join(',')
    return pathIdentity('sqlite', spec.target, { namespace, overlap: 'always' })
}

async function openSqlite(spec: BackendSpec, mode: OpenMode): Promise<OpenedBackend> {
    const path = spec.target
    let probe: SqliteProbe | null = null
    let created = false
    // a path that names something unreachable (a symlink loop, a file where a directory should
    // be, a directory the user cannot enter) is said as such, not as "no SQLite store"
    const unreachable = pathProblem(path)
    if (unreachable !== null)
        throw unavailable(
            spec,
            `cannot open ${path}: ${unreachable}`,
            'check the path and its permissions'
        )
    if (existsSync(path)) {
        if (!statSync(path).isFile())
            throw unavailable(spec, `${path} is not a file`, 'pass the path of a .sqlite file')
        probe = await probeSqliteFile(spec, mode)
    } else {
        if (mode === 'read') {
            throw new ZapoError(
                'SESSION_NOT_FOUND',
                `no SQLite store at ${path}: pair a session first (zapo pair) or pass --store`,
                {
                    store: spec.display
                }
            )
        }
        // one rule with `export -o`: a missing directory is refused, not created (a mistyped
        // path must not grow a tree of directories holding private keys)
        const missing = missingDirectory(spec)
        if (missing !== null) throw missing
        try {
            // the file holds private keys: create it readable by its owner only
            closeSync(openSync(path, 'wx', 0o600))
            created = true
        } catch (error) {
            const code = (error as NodeJS.ErrnoException).code
            if (code !== 'EEXIST')
                throw unavailable(
                    spec,
                    `cannot create ${path} (${code ?? 'error'})`,
                    'check the directory and its permissions'
                )
        }
    }
    const { openSqliteConnection, createSqliteStore } = loadStorePackage('@zapo-js/store-sqlite')
    let connection: Connection
    try {
        connection = await openSqliteConnection({
            // a snapshot in memory where the file can be read but not opened in place (below)
            path: (probe?.snapshot ?? path) as string,
            sessionId: 'zapo',
            driver: 'better-sqlite3',
            // reading must not change the file: keep its journal mode (the package's default is WAL)
            ...(mode === 'read' && probe?.journalMode != null
                ? { pragmas: { journal_mode: probe.journalMode } }
                : {}),
            ...(spec.tableNames ? { tableNames: spec.tableNames as never } : {})
        })
    } catch (error) {
        // a store this call created and could not set up is not left behind (empty)
        if (created) rmSync(path, { force: true })
        if (sqliteBackend.classify(error) === 'disk-full')
            throw unavailable(
                spec,
                `cannot write ${path}: the disk is full`,
                'free some space and run the command again'
            )
        throw unavailable(
            spec,
            `cannot open ${path}: ${(error as Error).message}`,
            'check that the file is a SQLite database you can write'
        )
    }
    const result = createSqliteStore({ connection })
    return sqlBackend({
        spec,
        stores: result.stores as unknown as DomainStores,
        dialect: sqliteDialect(connection, spec),
        identity: async () => fileIdentity(spec),
        foreignObjects: async () => {
            const [row] = connection.all<{ n: number }>(
                "SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
                []
            )
            return Number(row?.n ?? 0)
        },
        close: async () => connection.close()
    })
}

/** Why `path` cannot be looked at (in words), or null when it exists or simply is not there. */
function pathProblem(path: string): string | null {
    try {
        statSync(path)
        return null
    } catch (error) {
        const code = (error as NodeJS.ErrnoException).code
        return code === 'ENOENT' ? null : osProblem(error)
    }
}

/** The columns of the given tables that exist, by PRAGMA table_info (on any connection). */
function columnsOf(
    db: { all(sql: string): readonly Record<string, unknown>[] },
    tables: readonly string[]
): Map<string, Set<string>> {
    const out = new Map<string, Set<string>>()
    for (const table of tables) {
        const cols = db.all(`PRAGMA table_info("${table.replace(/"/g, '""')}")`)
        if (cols.length > 0) out.set(table, new Set(cols.map(c => String(c.name))))
    }
    return out
}

function sqliteDialect(db: Connection, spec: BackendSpec): SqlDialect {
    return {
        kind: 'sqlite',
        query: async (sql, params) => db.all(sql, params),
        execute: async (sql, params) => db.run(sql, params),
        // the connection rewrites logical names to the configured overrides
        table: name => `"${name}"`,
        physical: name => spec.tableNames?.[name] ?? name,
        existingTables: async names => {
            if (names.length === 0) return new Set()
            const rows = db.all<{ name: string }>(
                `SELECT name FROM sqlite_master WHERE type = 'table' AND name IN (${names.map(() => '?').join(', ')})`,
                names
            )
            return new Set(rows.map(r => r.name))
        },
        tableColumns: async names => columnsOf(db, names),
        quote: column => `"${column}"`,
        uploadedTrue: 'uploaded <> 0',
        where: `in ${spec.target}`,
        marksTableDdl: ref =>
            `CREATE TABLE IF NOT EXISTS ${ref} (session_id TEXT PRIMARY KEY, source TEXT NOT NULL, state TEXT NOT NULL, updated_at INTEGER NOT NULL)`,
        marksUpsert: ref =>
            `INSERT INTO ${ref} (session_id, source, state, updated_at) VALUES (?, ?, ?, ?)
             ON CONFLICT (session_id) DO UPDATE SET source = excluded.source, state = excluded.state, updated_at = excluded.updated_at`
    }
}

interface SqliteProbe {
    /** the file's journal mode, kept by reading commands (null: unknown, leave the default) */
    readonly journalMode: string | null
    /** the file's bytes, when a reading command must read it from memory (see below) */
    readonly snapshot: Buffer | null
}

/**
 * Looks at the file before any store package touches (and migrates) it, reading only:
 * refuses a file the user cannot read ("permission denied"), a file that is not
 * SQLite, and a file holding a table with one of zapo's names but another schema (nothing is
 * written: no journal-mode switch, no table). A WAL database whose directory the user cannot
 * write (SQLite needs to create its -shm file there) is read from a copy in memory when nothing
 * is pending in its -wal: reading commands still work, and nothing is written anywhere.
 */
async function probeSqliteFile(spec: BackendSpec, mode: OpenMode): Promise<SqliteProbe> {
    const path = spec.target
    try {
        accessSync(path, constants.R_OK)
    } catch {
        throw unavailable(
            spec,
            `cannot read ${path}: permission denied`,
            'run zapo as a user who can read the file, or fix its permissions'
        )
    }
    const { default: Database } = await import('better-sqlite3')
    let db: import('better-sqlite3').Database
    let snapshot: Buffer | null = null
    try {
        // not `readonly`: a read-only connection to a WAL database leaves the -wal and -shm
        // files it opened behind; this one only reads, and as the last connection to close it
        // removes them (SQLite opens it read-only by itself where the file cannot be written)
        db = new Database(path, { fileMustExist: true })
        // the first read makes SQLite open the WAL files, where it can fail
        db.prepare('SELECT name FROM sqlite_master LIMIT 1').all()
    } catch (error) {
        snapshot = mode === 'read' ? walSnapshot(spec, error) : null
        if (snapshot === null) throw walUnreadable(spec, error) ?? notSqlite(spec, error)
        db = new Database(snapshot)
    }
    try {
        const journalMode = db.pragma('journal_mode', { simple: true })
        const physical = (name: string): string => spec.tableNames?.[name] ?? name
        const probe = { all: (sql: string) => db.prepare(sql).all() as Record<string, unknown>[] }
        assertZapoSchema(spec.display, columnsOf(probe, layoutTables(physical)), physical)
        return {
            journalMode:
                typeof journalMode === 'string' && /^[a-z]+$/.test(journalMode)
                    ? journalMode
                    : null,
            snapshot
        }
    } catch (error) {
        if (error instanceof ZapoError) throw error
        throw notSqlite(spec, error)
    } finally {
        db.close()
    }
}

function notSqlite(spec: BackendSpec, error: unknown): ZapoError {
    return unavailable(
        spec,
        `${spec.target} is not a SQLite database (${(error as Error).message})`,
        'point --store at the zapo SQLite file'
    )
}

/**
 * Why SQLite could not open a WAL database whose directory is not writable (it must create the
 * -shm file there) and whose -wal still holds changes (so no copy of the main file alone is the
 * database), said as such; null for any other failure.
 */
function walUnreadable(spec: BackendSpec, error: unknown): ZapoError | null {
    const code = (error as { code?: unknown } | null)?.code
    if (typeof code !== 'string' || !/^SQLITE_(CANTOPEN|READONLY)/.test(code)) return null
    const dir = dirname(spec.target)
    try {
        accessSync(dir, constants.W_OK)
        return null
    } catch {
        // not writable: the case this is for
    }
    return unavailable(
        spec,
        `cannot read ${spec.target}: it is a WAL database with changes still in its -wal file, and SQLite must create its -shm file in ${dir}, which this user cannot write`,
        'run zapo as a user who can write that directory, or have its owner checkpoint the database (PRAGMA wal_checkpoint(TRUNCATE))'
    )
}

/**
 * The file's bytes as a rollback-journal database, for reading in memory, when SQLite could not
 * open it in place only because it is in WAL mode and its directory is not writable (no -shm can
 * be created) and its -wal holds nothing; else null.
 */
function walSnapshot(spec: BackendSpec, error: unknown): Buffer | null {
    const code = (error as { code?: unknown } | null)?.code
    // no -shm can be created: SQLite says it cannot open (or cannot initialise) the WAL index
    if (typeof code !== 'string' || !/^SQLITE_(CANTOPEN|READONLY)/.test(code)) return null
    const path = spec.target
    try {
        accessSync(dirname(path), constants.W_OK)
        return null // the directory is writable: the failure is something else
    } catch {
        // not writable: the case this is for
    }
    try {
        if (statSync(`${path}-wal`).size > 0) return null
    } catch {
        // no -wal: every record is in the main file
    }
    const bytes = readFileSync(path)
    // header bytes 18-19: file format write/read version, 2 = WAL; 1 = rollback journal
    if (bytes.length < 100 || bytes[18] !== 2 || bytes[19] !== 2) return null
    bytes[18] = 1
    bytes[19] = 1
    return bytes
}
