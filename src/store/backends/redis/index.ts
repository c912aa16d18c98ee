/**
 * Redis, through `@zapo-js/store-redis` on an ioredis client the tool owns; keys are
 * `<keyPrefix><family>:<sessionId>:…` in the URL's db (layout: catalog.ts, archive.ts).
 */

import type { Redis } from 'ioredis'
import { usageError, type ZapoError } from '../../../errors.js'
import type { BackendSpec } from '../../address.js'
import type { MigrationMark, MigrationMarks } from '../../migration-marks.js'
import { MARKS_REDIS_KEY, toMark } from '../../migration-marks.js'
import { redisLeases } from './lease.js'
import type { BackendAdapter, DomainStores, OpenedBackend, StoreIdentity } from '../types.js'
import {
    CONNECT_TIMEOUT_MS,
    connectError,
    loadStorePackage,
    SERVER_BACKEND,
    socketErrorClass
} from '../shared.js'
import { redisArchiveKeys } from './archive.js'
import { redisCatalog } from './catalog.js'
import { deleteSessionKeys, sessionKeys } from './exact.js'
import { idProblem } from './layout.js'

export const redisBackend: BackendAdapter<'redis'> = {
    kind: 'redis',
    title: 'Redis',
    packageName: '@zapo-js/store-redis',
    driver: 'ioredis',
    schemes: ['redis:', 'rediss:'],
    names: ['redis'],
    ...SERVER_BACKEND,
    prefixOption: 'keyPrefix',
    envHint: 'REDIS_URL',
    fromEnv: env => (env.REDIS_URL ? { url: env.REDIS_URL, variable: 'REDIS_URL' } : null),
    normalizeUrl: url => void dbNumber(url),
    open: openRedis,
    patternClears: true,
    idProblem,
    classify: error => {
        const err = error as { name?: unknown; message?: unknown } | null
        const name = typeof err?.name === 'string' ? err.name : ''
        const message = typeof err?.message === 'string' ? err.message : ''
        const socket = socketErrorClass(error)
        if (socket !== null) return socket
        if (/WRONGPASS|NOAUTH|invalid password/i.test(message)) return 'credentials'
        if (/NOPERM/.test(message)) return 'permission'
        if (/Connection is closed|Stream isn't writeable|enableOfflineQueue/i.test(message))
            return 'lost'
        if (name === 'MaxRetriesPerRequestError') return 'lost'
        if (name === 'ReplyError' || name === 'ParserError') return 'driver'
        return null
    }
}

/** Redis's default `databases` setting: dbs 0-15. */
const DEFAULT_DATABASES = 16

/**
 * The db number of a Redis URL (its path; none is db 0). Anything but a whole number is a usage
 * error here; whether the server has that db is checked when it opens (`selectDb`).
 */
function dbNumber(url: URL): number {
    const path = url.pathname.replace(/^\//, '')
    if (path === '') return 0
    if (!/^\d{1,9}$/.test(path)) {
        throw usageError(
            `Redis database "${decodeURIComponentSafe(path)}" in the store URL is not a database number: use redis://host:port/N with N from 0 to ${DEFAULT_DATABASES - 1} (or up to the server's "databases" setting minus one)`
        )
    }
    return Number(path)
}

function decodeURIComponentSafe(value: string): string {
    try {
        return decodeURIComponent(value)
    } catch {
        return value
    }
}

/**
 * Selects the URL's db after checking that the server has it (CONFIG GET databases; where
 * CONFIG is not allowed, the server's own refusal of SELECT), instead of a client that falls
 * back to db 0 or fails later.
 */
async function selectDb(redis: Redis, spec: BackendSpec, db: number): Promise<void> {
    if (db === 0) return
    let databases: number | null = null
    try {
        const reply = (await redis.config('GET', 'databases')) as unknown as string[]
        const n = Number(reply[1])
        databases = Number.isSafeInteger(n) && n > 0 ? n : null
    } catch {
        // CONFIG disabled or not permitted: SELECT tells
    }
    const outOfRange = (known: boolean): ZapoError =>
        usageError(
            `Redis database ${db} does not exist at ${spec.display}: the server has databases 0-${(databases ?? DEFAULT_DATABASES) - 1}${known ? '' : ' (the default; CONFIG GET databases is not allowed here)'}; use one of those in the store URL`,
            { store: spec.display, db }
        )
    if (databases !== null && db >= databases) throw outOfRange(true)
    try {
        await redis.select(db)
    } catch (error) {
        if (/out of range|invalid DB index/i.test(String((error as Error).message)))
            throw outOfRange(databases !== null)
        throw error
    }
}

async function openRedis(spec: BackendSpec): Promise<OpenedBackend> {
    const { Redis } = await import('ioredis')
    const url = new URL(spec.target)
    const db = dbNumber(url)
    // the db is selected after connecting, once the server says it has it
    url.pathname = ''
    const redis = new Redis(url.toString(), {
        db: 0,
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
    // ioredis says on the console.warn channel, raw, when the server needs no password but the
    // URL carries one ("[WARN] … does not require a password"); the connection works and the
    // password is simply unused: keep the library's line off zapo's stderr
    const warn = console.warn
    console.warn = (...args: unknown[]) => {
        if (/^\[(WARN|ERROR)\] .*(password|'auth')/.test(String(args[0]))) return
        warn(...args)
    }
    try {
        await redis.connect()
        await redis.ping()
    } catch (error) {
        redis.disconnect()
        // ioredis rejects with "Connection is closed"; the cause is the socket error it emitted
        const cause = socketError ?? error
        throw connectError(spec, cause, redisBackend.classify(cause))
    } finally {
        console.warn = warn
    }
    try {
        await selectDb(redis, spec, db)
    } catch (error) {
        redis.disconnect()
        throw error
    }
    const { createRedisStore } = loadStorePackage('@zapo-js/store-redis')
    const result = createRedisStore({
        redis,
        ...(spec.keyPrefix !== undefined ? { keyPrefix: spec.keyPrefix } : {})
    })
    const prefix = spec.keyPrefix ?? ''
    return {
        spec,
        kind: 'redis',
        stores: result.stores as unknown as DomainStores,
        catalog: () => redisCatalog(redis, spec),
        archiveKeys: domain => redisArchiveKeys(redis, prefix, domain),
        marks: () => redisMarks(redis, `${prefix}${MARKS_REDIS_KEY}`),
        leases: () => redisLeases(redis, prefix),
        identity: () => identity(redis, spec, db),
        clearSession: async (sessionId, domains) => {
            const present = await redisCatalog(redis, spec).listSessionIds()
            const found = await sessionKeys(redis, prefix, sessionId, domains, present)
            return { removed: await deleteSessionKeys(redis, found), shared: found.shared }
        },
        foreignObjects: async () => 0,
        close: async () => {
            await redis.quit().catch(() => redis.disconnect())
        }
    }
}

/**
 * The server by its run id (INFO server: random per server process, so two addresses of one
 * running server agree and two servers never do), then the db number, then the key prefix.
 * Prefixes nest: the store package's patterns under one prefix match the keys of any longer
 * prefix it starts.
 */
async function identity(redis: Redis, spec: BackendSpec, db: number): Promise<StoreIdentity> {
    const info = await redis.info('server')
    const runId = /^run_id:(\S+)/m.exec(info)?.[1] ?? ''
    return {
        kind: 'redis',
        instance: `run:${runId}`,
        scope: `db${db}`,
        namespace: spec.keyPrefix ?? '',
        overlap: 'nested',
        basis: 'run id'
    }
}

function redisMarks(redis: Redis, key: string): MigrationMarks {
    return {
        readAll: async () => {
            const fields = await redis.hgetall(key)
            const out = new Map<string, MigrationMark>()
            for (const [sessionId, value] of Object.entries(fields)) {
                try {
                    const parsed = JSON.parse(value) as {
                        source?: unknown
                        state?: unknown
                        updatedAt?: unknown
                    }
                    const mark = toMark({
                        session_id: sessionId,
                        source: parsed.source,
                        state: parsed.state,
                        updated_at: parsed.updatedAt
                    })
                    if (mark) out.set(sessionId, mark)
                } catch {
                    // an unreadable mark is no mark: the session is then treated as pre-existing
                }
            }
            return out
        },
        write: async mark => {
            await redis.hset(
                key,
                mark.sessionId,
                JSON.stringify({
                    source: mark.source,
                    state: mark.state,
                    updatedAt: mark.updatedAt
                })
            )
        },
        remove: async sessionId => {
            await redis.hdel(key, sessionId)
        }
    }
}
