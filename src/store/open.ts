/**
 * Opening stores through the official `@zapo-js/store-*` packages.
 *
 * The tool owns every connection it opens (SQLite connection, pg Pool,
 * mysql2 Pool, ioredis client, MongoClient) and hands it to the store
 * package, so that `close()` ends every handle and the process exits by
 * itself. Store packages are imported lazily: a command pays only for the
 * backend it uses.
 *
 * In `read` mode nothing is created: a SQLite path that does not exist is
 * "not found", not a new empty database.
 */

import { closeSync, existsSync, mkdirSync, openSync, statSync } from 'node:fs'
import { timingSafeEqual } from 'node:crypto'
import { createRequire } from 'node:module'
import { userInfo } from 'node:os'
import { dirname } from 'node:path'
import type { WaStore, WaStoreBackend } from 'zapo-js'
import { ZapoError } from '../errors.js'
import { atForcedStop } from '../interrupt.js'
import { zapoRoot } from '../zapo-cjs.js'
import type { AnyDomain, BackendKind, BackendSpec, StoreDomain, StoreSpec } from './address.js'
import { ARCHIVE_DOMAINS, DURABLE_DOMAINS } from './address.js'

export type OpenMode = 'read' | 'write'

/** The per-domain store factories every store package exposes (zapo-js store contracts). */
export type DomainStores = WaStoreBackend['stores']

export type BackendHandle =
    | {
          readonly kind: 'sqlite'
          readonly connection: import('@zapo-js/store-sqlite').WaSqliteConnection
          readonly path: string
      }
    | { readonly kind: 'postgres'; readonly pool: import('pg').Pool }
    | { readonly kind: 'mysql'; readonly pool: import('mysql2/promise').Pool }
    | { readonly kind: 'redis'; readonly redis: import('ioredis').Redis }
    | {
          readonly kind: 'mongo'
          readonly db: import('mongodb').Db
          readonly client: import('mongodb').MongoClient
      }

export interface OpenedBackend {
    readonly spec: BackendSpec
    readonly kind: BackendKind
    readonly stores: DomainStores
    readonly handle: BackendHandle
    close(): Promise<void>
}

export interface OpenedStore {
    readonly spec: StoreSpec
    readonly mode: OpenMode
    /** the backend that holds the auth domain: sessions are enumerated there */
    readonly primary: OpenedBackend
    backendFor(domain: AnyDomain): OpenedBackend
    /** the store contract of one domain for one session, through its backend */
    domain<D extends StoreDomain>(domain: D, sessionId: string): ReturnType<DomainStores[D]>
    /**
     * a zapo-js `WaStore` for a `WaClient` (caches in memory, archive domains as chosen: in memory
     * (default), in the store, or not kept at all — `none` suits clients that only watch)
     */
    createWaStore(options?: { readonly archive?: 'memory' | 'store' | 'none' }): Promise<WaStore>
    close(): Promise<void>
}

const CONNECT_TIMEOUT_MS = 5_000

type StorePackages = {
    '@zapo-js/store-sqlite': typeof import('@zapo-js/store-sqlite')
    '@zapo-js/store-postgres': typeof import('@zapo-js/store-postgres')
    '@zapo-js/store-mysql': typeof import('@zapo-js/store-mysql')
    '@zapo-js/store-redis': typeof import('@zapo-js/store-redis')
    '@zapo-js/store-mongo': typeof import('@zapo-js/store-mongo')
}

/**
 * Loads a store package through its CommonJS build. The ESM builds of the 1.x store packages
 * import `uint8TimingSafeEqual` from `zapo-js/util`, which zapo-js 0.3 does not export, so
 * `import()` fails at link time; the CommonJS build only fails if that path is ever called
 * (app-state MAC comparison, see doctor).
 */
function loadStorePackage<N extends keyof StorePackages>(name: N): StorePackages[N] {
    const require = createRequire(import.meta.url)
    provideMissingZapoHelpers(require)
    return require(name) as StorePackages[N]
}

/**
 * The 1.x store packages compare app-state value MACs with `uint8TimingSafeEqual` from
 * `zapo-js/util`, a helper zapo-js 0.3 lacks: rewriting a collection state that already exists
 * (an idempotent re-import / migrate rerun) would throw "is not a function". Supplies it on
 * zapo-js's CommonJS util exports (the store packages look it up at call time) when absent.
 */
function provideMissingZapoHelpers(require: NodeJS.Require): void {
    provideIsUserJid(require)
    const util = require('zapo-js/util') as Record<string, unknown>
    if (typeof util.uint8TimingSafeEqual === 'function' || !Object.isExtensible(util)) return
    util.uint8TimingSafeEqual = (a: Uint8Array, b: Uint8Array): boolean =>
        a.byteLength === b.byteLength && timingSafeEqual(a, b)
}

/**
 * The 1.x contact stores call `isUserJid` from `zapo-js` when `getByJid` finds no row for the
 * jid, to fall back to a lookup by phone number; zapo-js 0.3 lacks it, so a contact miss would
 * throw "is not a function". Supplied (when absent) following the library's own JID rules, the
 * shape 0.3's `isLidJid` / `isGroupJid` check for their servers: exactly one '@', a non-empty
 * user part, and the phone-number user server (`WA_DEFAULTS.HOST_DOMAIN`, "s.whatsapp.net").
 * Its only effect in the store packages is whether that phone-number fallback runs.
 */
function provideIsUserJid(require: NodeJS.Require): void {
    const root = require('zapo-js') as Record<string, unknown> & {
        WA_DEFAULTS?: { HOST_DOMAIN?: string }
    }
    if (typeof root.isUserJid === 'function' || !Object.isExtensible(root)) return
    const server = root.WA_DEFAULTS?.HOST_DOMAIN ?? 's.whatsapp.net'
    root.isUserJid = (jid: string): boolean => {
        if (typeof jid !== 'string') return false
        const at = jid.length - server.length - 1
        return (
            at >= 1 && jid.charCodeAt(at) === 64 && jid.indexOf('@') === at && jid.endsWith(server)
        )
    }
}

export async function openStore(spec: StoreSpec, mode: OpenMode): Promise<OpenedStore> {
    const opened: OpenedBackend[] = []
    try {
        const primary = await openBackend(spec.primary, mode)
        opened.push(primary)
        const byName = new Map<string, OpenedBackend>()
        for (const [name, backendSpec] of Object.entries(spec.backends)) {
            const backend = await openBackend(backendSpec, mode)
            opened.push(backend)
            byName.set(name, backend)
        }
        const backendFor = (domain: AnyDomain): OpenedBackend => {
            const name = spec.domains[domain]
            return (name !== undefined ? byName.get(name) : undefined) ?? primary
        }
        let closed = false
        // a forced stop (a second Ctrl-C) closes it too: SQLite then leaves no -wal/-shm behind
        const forget = atForcedStop(() => closeAll(opened))
        return {
            spec,
            mode,
            primary,
            backendFor,
            domain: (domain, sessionId) => backendFor(domain).stores[domain](sessionId) as never,
            createWaStore: async options => {
                const { createStore } = zapoRoot()
                const backends: Record<string, WaStoreBackend> = {}
                const providers: Record<string, string> = {}
                for (const domain of [...DURABLE_DOMAINS, ...ARCHIVE_DOMAINS]) {
                    const backend = backendFor(domain)
                    const name = `b${opened.indexOf(backend)}`
                    backends[name] ??= {
                        stores: backend.stores,
                        caches: {} as WaStoreBackend['caches']
                    }
                    const archive = (ARCHIVE_DOMAINS as readonly string[]).includes(domain)
                    // the 1.x store packages' contact store needs zapo-js ≥1.x helpers (see doctor)
                    providers[domain] = !archive
                        ? name
                        : options?.archive === 'none'
                          ? 'none'
                          : options?.archive !== 'store' || domain === 'contacts'
                            ? 'memory'
                            : name
                }
                return createStore({
                    backends,
                    providers: providers as never,
                    cacheProviders: {
                        retry: 'memory',
                        participants: 'memory',
                        deviceList: 'memory',
                        messageSecret: 'memory'
                    }
                })
            },
            close: async () => {
                if (closed) return
                closed = true
                forget()
                await closeAll(opened)
            }
        }
    } catch (error) {
        await closeAll(opened)
        throw error
    }
}

async function closeAll(backends: readonly OpenedBackend[]): Promise<void> {
    for (const backend of [...backends].reverse()) {
        try {
            await backend.close()
        } catch {
            // closing is best effort: the command's own result already stands
        }
    }
}

export async function openBackend(spec: BackendSpec, mode: OpenMode): Promise<OpenedBackend> {
    switch (spec.kind) {
        case 'sqlite':
            return openSqlite(spec, mode)
        case 'postgres':
            return openPostgres(spec)
        case 'mysql':
            return openMysql(spec)
        case 'redis':
            return openRedis(spec)
        case 'mongo':
            return openMongo(spec)
    }
}

async function openSqlite(spec: BackendSpec, mode: OpenMode): Promise<OpenedBackend> {
    const path = spec.target
    let journalMode: string | null = null
    if (existsSync(path)) {
        if (!statSync(path).isFile())
            throw unavailable(spec, `${path} is not a file`, 'pass the path of a .sqlite file')
        journalMode = await probeSqliteFile(spec)
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
        try {
            mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
            // the file holds private keys: create it readable by its owner only
            closeSync(openSync(path, 'wx', 0o600))
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
    let connection: import('@zapo-js/store-sqlite').WaSqliteConnection
    try {
        connection = await openSqliteConnection({
            path,
            sessionId: 'zapo',
            driver: 'better-sqlite3',
            // reading must not change the file: keep its journal mode (the package's default is WAL)
            ...(mode === 'read' && journalMode !== null
                ? { pragmas: { journal_mode: journalMode } }
                : {}),
            ...(spec.tableNames ? { tableNames: spec.tableNames as never } : {})
        })
    } catch (error) {
        throw unavailable(
            spec,
            `cannot open ${path}: ${(error as Error).message}`,
            'check that the file is a SQLite database you can write'
        )
    }
    const result = createSqliteStore({ connection })
    return {
        spec,
        kind: 'sqlite',
        stores: result.stores as unknown as DomainStores,
        handle: { kind: 'sqlite', connection, path },
        close: async () => connection.close()
    }
}

/** Refuses a file that is not SQLite, before any store package touches (and migrates) it. */
async function probeSqliteFile(spec: BackendSpec): Promise<string | null> {
    const { default: Database } = await import('better-sqlite3')
    let db: import('better-sqlite3').Database | null = null
    try {
        db = new Database(spec.target, { readonly: true, fileMustExist: true })
        db.prepare('SELECT name FROM sqlite_master LIMIT 1').all()
        const mode = db.pragma('journal_mode', { simple: true })
        return typeof mode === 'string' && /^[a-z]+$/.test(mode) ? mode : null
    } catch (error) {
        const message = (error as Error).message
        throw unavailable(
            spec,
            `${spec.target} is not a SQLite database (${message})`,
            'point --store at the zapo SQLite file'
        )
    } finally {
        db?.close()
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
        max: 4,
        idleTimeoutMillis: 1_000,
        allowExitOnIdle: true
    })
    pool.on('error', () => undefined)
    // a checked-out client whose connection dies (server restart, terminated backend) emits
    // 'error' too; its in-flight query rejects with the same error, which the caller handles
    pool.on('connect', client => void client.on('error', () => undefined))
    await pingPool(spec, pool)
    const { createPostgresStore } = loadStorePackage('@zapo-js/store-postgres')
    const result = createPostgresStore({
        pool,
        ...(spec.tablePrefix !== undefined ? { tablePrefix: spec.tablePrefix } : {})
    })
    return {
        spec,
        kind: 'postgres',
        stores: result.stores as unknown as DomainStores,
        handle: { kind: 'postgres', pool },
        close: () => pool.end()
    }
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

async function openMysql(spec: BackendSpec): Promise<OpenedBackend> {
    const mysql = await import('mysql2/promise')
    const pool = mysql.createPool({
        uri: spec.target,
        connectTimeout: CONNECT_TIMEOUT_MS,
        connectionLimit: 4,
        supportBigNumbers: true,
        bigNumberStrings: false
    })
    await pingPool(spec, pool)
    const { createMysqlStore } = loadStorePackage('@zapo-js/store-mysql')
    const result = createMysqlStore({
        pool,
        ...(spec.tablePrefix !== undefined ? { tablePrefix: spec.tablePrefix } : {})
    })
    return {
        spec,
        kind: 'mysql',
        stores: result.stores as unknown as DomainStores,
        handle: { kind: 'mysql', pool },
        close: () => pool.end()
    }
}

async function openRedis(spec: BackendSpec): Promise<OpenedBackend> {
    const { Redis } = await import('ioredis')
    const redis = new Redis(spec.target, {
        lazyConnect: true,
        connectTimeout: CONNECT_TIMEOUT_MS,
        maxRetriesPerRequest: 1,
        enableOfflineQueue: false,
        retryStrategy: () => null
    })
    let socketError: unknown = null
    redis.on('error', (error: unknown) => {
        socketError ??= error
    })
    try {
        await redis.connect()
        await redis.ping()
    } catch (error) {
        redis.disconnect()
        // ioredis rejects with "Connection is closed"; the cause is the socket error it emitted
        throw connectError(spec, socketError ?? error)
    }
    const { createRedisStore } = loadStorePackage('@zapo-js/store-redis')
    const result = createRedisStore({
        redis,
        ...(spec.keyPrefix !== undefined ? { keyPrefix: spec.keyPrefix } : {})
    })
    return {
        spec,
        kind: 'redis',
        stores: result.stores as unknown as DomainStores,
        handle: { kind: 'redis', redis },
        close: async () => {
            await redis.quit().catch(() => redis.disconnect())
        }
    }
}

async function openMongo(spec: BackendSpec): Promise<OpenedBackend> {
    const { MongoClient } = await import('mongodb')
    const client = new MongoClient(spec.target, {
        serverSelectionTimeoutMS: CONNECT_TIMEOUT_MS,
        connectTimeoutMS: CONNECT_TIMEOUT_MS
    })
    let db: import('mongodb').Db
    try {
        await client.connect()
        db = client.db()
        await db.command({ ping: 1 })
    } catch (error) {
        await client.close().catch(() => undefined)
        throw connectError(spec, error)
    }
    const { createMongoStore } = loadStorePackage('@zapo-js/store-mongo')
    const result = createMongoStore({
        db,
        ...(spec.collectionPrefix !== undefined ? { collectionPrefix: spec.collectionPrefix } : {})
    })
    return {
        spec,
        kind: 'mongo',
        stores: result.stores as unknown as DomainStores,
        handle: { kind: 'mongo', db, client },
        close: () => client.close()
    }
}

/** Checks that a SQL pool answers; closes it and throws the connect error when it does not. */
async function pingPool(
    spec: BackendSpec,
    pool: { query(sql: string): Promise<unknown>; end(): Promise<void> }
): Promise<void> {
    try {
        await pool.query('SELECT 1')
    } catch (error) {
        await pool.end().catch(() => undefined)
        throw connectError(spec, error)
    }
}

function unavailable(spec: BackendSpec, problem: string, fix: string): ZapoError {
    return new ZapoError('STORE_UNAVAILABLE', `${problem}; ${fix}`, {
        store: spec.display,
        backend: spec.kind
    })
}

/** Turns a driver's connection error into one line naming the problem and the fix. */
export function connectError(spec: BackendSpec, error: unknown): ZapoError {
    const err = error as { code?: string; sqlState?: string; message?: string }
    const code = err.code ?? ''
    const message = err.message ?? String(error)
    const where = spec.display
    let line: string
    if (code === 'ECONNREFUSED' || /ECONNREFUSED/.test(message)) {
        line = `cannot reach ${spec.kind} at ${where}: connection refused; start the server or fix the host and port`
    } else if (
        code === 'ENOTFOUND' ||
        code === 'EAI_AGAIN' ||
        /ENOTFOUND|EAI_AGAIN/.test(message)
    ) {
        line = `cannot reach ${spec.kind} at ${where}: unknown host; fix the host name in the store URL`
    } else if (code === 'ETIMEDOUT' || /timeout|timed out/i.test(message)) {
        line = `cannot reach ${spec.kind} at ${where}: timed out after ${CONNECT_TIMEOUT_MS / 1000}s; check the host, port and firewall`
    } else if (
        code === '28P01' ||
        code === '28000' ||
        err.sqlState === '28000' ||
        /WRONGPASS|NOAUTH|Authentication failed|password authentication/i.test(message)
    ) {
        line = `${spec.kind} at ${where} rejected the credentials; fix the user name and password in the store URL`
    } else if (code === '3D000' || code === 'ER_BAD_DB_ERROR') {
        line = `${spec.kind} at ${where} has no such database; create it or fix the database name in the store URL`
    } else {
        line = `cannot open ${spec.kind} store at ${where}: ${message.split('\n')[0]}; check the store URL`
    }
    return new ZapoError(
        'STORE_UNAVAILABLE',
        line,
        { store: where, backend: spec.kind, driverCode: code || null },
        { cause: error }
    )
}
