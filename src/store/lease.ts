/**
 * Session leases: one writer per session (docs/concurrency.md is the user's view).
 *
 * Every zapo command that writes a session or connects as its device first takes the session's
 * lease, held IN the store that holds the session's credentials (the primary backend), so two
 * zapo processes on any hosts that reach the same store see each other. A lease names its
 * holder (a random token, the command, host, pid, since when) and expires `LEASE_TTL_MS` after
 * its last renewal; the holder renews it every third of that. A holder that crashes leaves a
 * lease that expires by itself; one that stalls past the expiry finds it lost at the next renewal
 * and stops before writing more (`assertHeld`).
 *
 * Taking several sessions' leases is all-or-none: they are taken in sorted order and, when one
 * is held by another, the ones already taken are released before waiting or failing.
 *
 * Where each backend keeps them (its adapter implements `SessionLeases`):
 *   sqlite / postgres / mysql   table `<tablePrefix>zapo_session_leases` (sql-lease.ts)
 *   redis                       key `<keyPrefix>zapo:lease:<sessionId>`, SET NX PX (redis/lease.ts)
 *   mongo                       collection `<collectionPrefix>zapo_session_leases`
 * None of them reads as a session: catalogs, export and migrate never see them.
 */

import { randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import { ZapoError } from '../errors.js'
import { atForcedStop } from '../interrupt.js'
import type { OpenedBackend } from './backends/types.js'
import { LIVE_LOGIN_WINDOW_MS } from './last-login.js'
import { formatDuration } from '../util/duration.js'

/** How long a lease lives without renewal; renewed every third of it. */
export const LEASE_TTL_MS = 30_000

/** The table / collection of the leases (SQL, Mongo), under the store's prefix. */
export const LEASES_TABLE = 'zapo_session_leases'
/** The Redis key of one session's lease is this, then the session id, under the key prefix. */
export const LEASE_REDIS_KEY = 'zapo:lease:'

/** One lease as stored. Times in ms since the epoch (the holder's clock). */
export interface LeaseRecord {
    readonly token: string
    /** what holds it: `zapo migrate`, or an application's own name */
    readonly command: string
    readonly host: string
    readonly pid: number
    readonly since: number
    readonly expires: number
}

/** The lease primitives of one backend (its adapter). */
export interface SessionLeases {
    /**
     * Takes the session's lease when it is free or expired (at `now`): null when taken, else
     * the live lease in the way.
     */
    take(sessionId: string, lease: LeaseRecord, now: number): Promise<LeaseRecord | null>
    /** Moves the expiry of a lease still held under `token`; false when it is not. */
    renew(sessionId: string, token: string, expires: number): Promise<boolean>
    /** Ends a lease still held under `token` (another's is left alone). */
    release(sessionId: string, token: string): Promise<void>
    /** The session's lease when one is live at `now`, else null. Reading creates nothing. */
    read(sessionId: string, now: number): Promise<LeaseRecord | null>
}

export interface TakeLeasesOptions {
    /** what takes it, for the other writer's message: 'migrate', 'pair', … */
    readonly command: string
    /** how long to wait for leases held by others (0: fail at once) */
    readonly waitMs?: number
    readonly signal?: AbortSignal
    /** for tests and benches: a shorter lease */
    readonly ttlMs?: number
}

export interface HeldLeases {
    readonly sessionIds: readonly string[]
    /** the lease of these sessions, as this process holds them */
    readonly lease: LeaseRecord
    /** throws SESSION_BUSY when a renewal found a lease lost (it expired while this run stalled) */
    assertHeld(): void
    /** renews now and throws as `assertHeld` when a lease is no longer this run's */
    confirm(): Promise<void>
    /** releases every lease (once; later calls do nothing) */
    release(): Promise<void>
    /**
     * Calls `listener` once, when a renewal finds a lease no longer this run's (taken by another
     * holder after it expired, or expired while the store did not answer), with the SESSION_BUSY
     * error naming the holder now in place. Returns a function that removes the listener.
     */
    onLost(listener: (error: ZapoError) => void): () => void
}

function leasesOf(backend: OpenedBackend): SessionLeases {
    if (!backend.leases) {
        throw new ZapoError(
            'USAGE',
            `${backend.spec.display} cannot hold session leases: zapo only reads it; write to a zapo store instead`,
            { store: backend.spec.display }
        )
    }
    return backend.leases()
}

/** The message naming the holder of a session's lease (exit 21). */
export function busyError(sessionId: string, held: LeaseRecord): ZapoError {
    return new ZapoError(
        'SESSION_BUSY',
        `session "${sessionId}" is in use by ${describeHolder(held)} since ${new Date(held.since).toISOString()}: wait for it to finish, or rerun with --wait DURATION`,
        { sessionId, holder: holderDetails(held) }
    )
}

/** The holder as an error's details carry it (JSON: times as ISO strings). */
function holderDetails(held: LeaseRecord): Record<string, string | number> {
    return {
        command: held.command,
        host: held.host,
        pid: held.pid,
        since: new Date(held.since).toISOString(),
        expires: new Date(held.expires).toISOString()
    }
}

function describeHolder(held: LeaseRecord): string {
    const command = held.command.startsWith('zapo ') ? `\`${held.command}\`` : held.command
    return `${command} on host ${held.host} (pid ${held.pid})`
}

function lostError(sessionId: string, holder: LeaseRecord | null = null): ZapoError {
    if (holder !== null)
        return new ZapoError(
            'SESSION_BUSY',
            `the lease of session "${sessionId}" was taken by ${describeHolder(holder)} since ${new Date(holder.since).toISOString()} (it expired while this run stalled): stopped before writing more; rerun when the session is free`,
            { sessionId, holder: holderDetails(holder) }
        )
    return new ZapoError(
        'SESSION_BUSY',
        `the lease of session "${sessionId}" expired while this run stalled and may now be another writer's: stopped before writing more; rerun when the session is free`,
        { sessionId }
    )
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise(resolve => {
        const timer = setTimeout(done, ms)
        function done(): void {
            clearTimeout(timer)
            signal?.removeEventListener('abort', done)
            resolve()
        }
        signal?.addEventListener('abort', done, { once: true })
    })
}

/**
 * Takes the leases of `sessionIds` in `backend` for this process, all or none, waiting up to
 * `waitMs` for leases others hold. Throws SESSION_BUSY naming the holder, or CANCELLED when
 * `signal` aborts while waiting. The leases are renewed until `release()`; a forced stop
 * releases them too.
 */
export async function takeLeases(
    backend: OpenedBackend,
    sessionIds: readonly string[],
    options: TakeLeasesOptions
): Promise<HeldLeases> {
    const leases = leasesOf(backend)
    const ids = [...new Set(sessionIds)].sort()
    const ttl = options.ttlMs ?? LEASE_TTL_MS
    const deadline = Date.now() + (options.waitMs ?? 0)
    const base = {
        token: randomUUID(),
        command: `zapo ${options.command}`,
        host: hostname(),
        pid: process.pid
    }
    const freed = new Set<string>()
    for (;;) {
        const now = Date.now()
        const lease: LeaseRecord = { ...base, since: now, expires: now + ttl }
        const taken: string[] = []
        let blocked: { id: string; held: LeaseRecord } | null = null
        try {
            for (const id of ids) {
                const held = await leases.take(id, lease, now)
                if (held !== null) {
                    blocked = { id, held }
                    break
                }
                taken.push(id)
            }
        } catch (error) {
            await releaseAll(leases, taken, base.token)
            throw error
        }
        if (blocked === null) return hold(leases, ids, lease, ttl)
        await releaseAll(leases, taken, base.token)
        // one dead holder may have left several sessions' leases under its one token: each is
        // freed once, by session and token
        const stale = `${blocked.id}\u0000${blocked.held.token}`
        if (!freed.has(stale) && deadHolder(blocked.held)) {
            freed.add(stale)
            // left by a process of this host that no longer runs (kill -9, a crash): free now,
            // by its token (a lease someone else took since is left alone)
            await leases.release(blocked.id, blocked.held.token)
            continue
        }
        if (options.signal?.aborted) throw cancelledWaiting(blocked.id)
        const left = deadline - Date.now()
        if (left <= 0) throw busyError(blocked.id, blocked.held)
        await sleep(Math.min(left, Math.max(100, Math.min(1_000, ttl / 10))), options.signal)
        if (options.signal?.aborted) throw cancelledWaiting(blocked.id)
    }
}

/** A lease held by a process of this host that is gone (`kill -9`, a crash). */
function deadHolder(held: LeaseRecord): boolean {
    if (held.host !== hostname() || !Number.isInteger(held.pid) || held.pid <= 0) return false
    if (held.pid === process.pid) return false
    try {
        process.kill(held.pid, 0)
        return false
    } catch (error) {
        // EPERM: it runs, as another user
        return (error as { code?: unknown }).code === 'ESRCH'
    }
}

function cancelledWaiting(sessionId: string): ZapoError {
    return new ZapoError('CANCELLED', `interrupted while waiting for session "${sessionId}"`, {
        sessionId
    })
}

async function releaseAll(
    leases: SessionLeases,
    ids: readonly string[],
    token: string
): Promise<void> {
    await Promise.all(ids.map(id => leases.release(id, token).catch(() => undefined)))
}

function hold(
    leases: SessionLeases,
    ids: readonly string[],
    first: LeaseRecord,
    ttl: number
): HeldLeases {
    let lost: string | null = null
    let lostWith: ZapoError | null = null
    let released = false
    const listeners = new Set<(error: ZapoError) => void>()
    // the last renewal that succeeded for every session: past its expiry the leases are gone
    let validUntil = first.expires
    const markLost = async (id: string, ask: boolean): Promise<void> => {
        lost = id
        // who holds it now, for the message (a store that does not answer names nobody)
        const holder = ask ? await leases.read(id, Date.now()).catch(() => null) : null
        lostWith = lostError(id, holder !== null && holder.token !== first.token ? holder : null)
        if (released) return
        for (const listener of [...listeners]) listener(lostWith)
        listeners.clear()
    }
    const renew = async (): Promise<void> => {
        const expires = Date.now() + ttl
        for (const id of ids) {
            if (released || lost !== null) return
            let ok: boolean
            try {
                ok = await leases.renew(id, first.token, expires)
            } catch {
                // the store did not answer: the lease stands until validUntil
                if (Date.now() > validUntil) await markLost(id, false)
                return
            }
            if (!ok) await markLost(id, true)
        }
        if (lost === null) validUntil = expires
    }
    let renewing: Promise<void> = Promise.resolve()
    const timer = setInterval(
        () => {
            renewing = renewing.then(renew)
        },
        Math.max(50, Math.floor(ttl / 3))
    )
    timer.unref()
    const release = async (): Promise<void> => {
        if (released) return
        released = true
        clearInterval(timer)
        forget()
        await renewing.catch(() => undefined)
        await releaseAll(leases, ids, first.token)
    }
    const forget = atForcedStop(release)
    const assertHeld = (): void => {
        if (lost === null && Date.now() > validUntil) lost = ids[0] ?? null
        if (lost !== null) throw lostWith ?? lostError(lost)
    }
    return {
        sessionIds: ids,
        lease: first,
        assertHeld,
        confirm: async () => {
            renewing = renewing.then(renew)
            await renewing
            assertHeld()
        },
        release,
        onLost: listener => {
            listeners.add(listener)
            return () => listeners.delete(listener)
        }
    }
}

/** The live lease of a session in a backend, or null (nothing is created by reading). */
export async function readLease(
    backend: OpenedBackend,
    sessionId: string
): Promise<LeaseRecord | null> {
    if (!backend.leases) return null
    return backend.leases().read(sessionId, Date.now())
}

/** A stored lease from loosely typed fields, or null when it is not one zapo can read. */
export function toLease(fields: Record<string, unknown> | null | undefined): LeaseRecord | null {
    if (!fields) return null
    const { token, command, host, pid, since, expires } = fields
    if (typeof token !== 'string' || token === '') return null
    const n = (v: unknown): number => (typeof v === 'string' ? Number(v) : Number(v ?? NaN))
    if (!Number.isFinite(n(expires))) return null
    return {
        token,
        command: typeof command === 'string' ? command : 'an unnamed holder',
        host: typeof host === 'string' ? host : '?',
        pid: Number.isFinite(n(pid)) ? n(pid) : 0,
        since: Number.isFinite(n(since)) ? n(since) : n(expires),
        expires: n(expires)
    }
}

/**
 * Refuses to replace a session that looks live — its last login within the live window
 * (store/last-login.ts) — unless `overwriteLive`: an application that runs it would write its
 * own state over the replacement, or be kicked by it (exit 21).
 */
export function assertNotLive(
    sessionId: string,
    lastLogin: number | null,
    options: { readonly overwriteLive: boolean; readonly command: string; readonly now?: number }
): void {
    if (lastLogin === null || options.overwriteLive) return
    const now = options.now ?? Date.now()
    if (now - lastLogin > LIVE_LOGIN_WINDOW_MS) return
    const ago = formatDuration(Math.max(0, now - lastLogin))
    throw new ZapoError(
        'SESSION_BUSY',
        `session "${sessionId}" looks live: it logged in ${ago} ago (within ${formatDuration(LIVE_LOGIN_WINDOW_MS)}), so an application may be running it and would write over or be kicked by what ${options.command} stores; stop that application, or pass --overwrite-live to replace it anyway`,
        { sessionId, lastLoginAt: new Date(lastLogin).toISOString() }
    )
}
