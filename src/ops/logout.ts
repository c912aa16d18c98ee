/**
 * `zapo logout`: the one place that unlinks a stored session with `WaClient.logout()` (the other
 * caller, client/pairing.ts, only removes a device its own pairing linked and could not store).
 *
 * Order: read the session (credentials, JID, record counts) → ask the caller to confirm →
 * log in with the stored credentials → `logout()` (the server removes the companion device)
 * → the library ends the stream and clears the stored state (zapo-js `clearStoredState`) →
 * count again and report what was removed, per domain.
 *
 * Nothing is removed unless the server confirmed that the device is gone: a device still linked
 * on the phone with its local state gone is worse than both. The library's clean-up is shut
 * (`logoutStoreClear` all false) until the server answered the removal, because zapo-js 0.3
 * also clears on a routine 515 and on refusals; it is opened right after, except for domains
 * held in a backend whose store package clears by key pattern (Redis: `<sid>:*` also matches
 * the sessions `<sid>:…`). If the library leaves records (a pattern-clearing backend, the stream
 * did not end, or it ended before the gate opened), or the server said at login that the device
 * is already gone, zapo clears the durable domains by their exact keys (store/records.ts
 * `clearSession`) and says so (`clearedBy: 'zapo'`).
 */

import { zapoCommand } from '../hints.js'
import { takeLeases, type HeldLeases } from '../store/lease.js'
import type { Logger, WaClient } from 'zapo-js'
import { ZapoError, type ZapoErrorCode } from '../errors.js'
import { DURABLE_DOMAINS, type AnyDomain, type StoreSpec } from '../store/address.js'
import { assertWritable, clearedByPattern } from '../store/open.js'
import { clearSession } from '../store/records.js'
import type { SessionCatalog, SessionCounts } from '../store/records.types.js'
import { KEEP_STORE_ON_CLOSE } from '../client/reconnect.js'
import { isIqErrorAnswer, isTimeoutMessage } from '../client/messages.js'
import {
    disconnectQuietly,
    probeLogin,
    withTimeout,
    type LoginProbeResult,
    type ServerOverride
} from '../client/login-probe.js'
import { openForReading } from './read-store.js'

export interface LogoutOptions {
    readonly store: StoreSpec
    readonly sessionId: string
    readonly server: ServerOverride | null
    /** for the login and for the server's answer to the removal (ms) */
    readonly timeoutMs: number
    readonly logger?: Logger
    /** how long to wait for the session's lease when another zapo run holds it (ms) */
    readonly waitMs?: number
}

export interface LogoutTarget {
    readonly sessionId: string
    readonly jid: string
    readonly store: string
    readonly counts: SessionCounts
}

export interface LogoutDeps {
    /** asked once the session is known to be paired, before anything connects; false stops with DECLINED */
    readonly confirm: (target: LogoutTarget) => Promise<boolean>
    /** progress lines for stderr */
    readonly onProgress?: (line: string) => void
    /**
     * aborting (Ctrl-C) before the server is asked to remove the device disconnects and ends with
     * CANCELLED, nothing removed; once it has been asked, the logout is finished regardless
     */
    readonly signal?: AbortSignal
}

export type LogoutStatus = 'logged-out' | 'already-logged-out' | 'not-paired'

export interface LogoutResult {
    readonly sessionId: string
    readonly jid: string | null
    readonly store: string
    readonly status: LogoutStatus
    /** who removed the stored state: the library on the server's logout, zapo after the server confirmed, or nobody */
    readonly clearedBy: 'library' | 'zapo' | null
    readonly before: SessionCounts
    readonly after: SessionCounts
    /** records removed, per count field (only fields that changed) */
    readonly removed: Readonly<Partial<Record<keyof SessionCounts, number>>>
    /** count fields still holding records afterwards */
    readonly remaining: readonly (keyof SessionCounts)[]
    readonly result: ZapoErrorCode
    /** the server's reason, when it refused the login because the device was already gone */
    readonly reason: string | null
}

const LIBRARY_CLEAR_WAIT_MS = 10_000
const POLL_MS = 100
const SETTLE_MS = 1_000
const STABLE_MS = 1_500

export async function runLogout(options: LogoutOptions, deps: LogoutDeps): Promise<LogoutResult> {
    const progress = deps.onProgress ?? (() => undefined)
    assertWritable(options.store, 'be logged out (logout wipes the session)')
    const readable = await openForReading(options.store)
    const { store, catalog } = readable
    let client: WaClient | null = null
    let held: HeldLeases | null = null
    try {
        // one writer per session: nothing else writes it or connects as its device meanwhile
        held = await takeLeases(store.primary, [options.sessionId], {
            command: 'logout',
            waitMs: options.waitMs ?? 0,
            ...(deps.signal ? { signal: deps.signal } : {})
        })
        // the catalog first: the store packages create their tables on first use of a contract
        const before = await catalog.counts(options.sessionId)
        const credentials = before.credentials
            ? await store.domain('auth', options.sessionId).load()
            : null
        if (!credentials) {
            throw new ZapoError(
                'SESSION_NOT_FOUND',
                `no session "${options.sessionId}" in ${options.store.label}: check --session and --store (${zapoCommand('sessions', 'list')} shows what the store holds)`,
                { sessionId: options.sessionId, store: options.store.label }
            )
        }
        const jid =
            typeof credentials.meJid === 'string' && credentials.meJid !== ''
                ? credentials.meJid
                : null
        const base = { sessionId: options.sessionId, store: options.store.label, before }
        if (jid === null) {
            return finish({
                ...base,
                jid: null,
                status: 'not-paired',
                clearedBy: null,
                after: before,
                result: 'NOT_PAIRED',
                reason: null
            })
        }
        if (
            !(await deps.confirm({
                sessionId: options.sessionId,
                jid,
                store: options.store.label,
                counts: before
            }))
        ) {
            throw new ZapoError('DECLINED', 'logout not confirmed; nothing was changed')
        }
        const interrupted = (): ZapoError =>
            new ZapoError(
                'CANCELLED',
                `logout interrupted before the server was asked to remove ${jid}: nothing was removed, the device stays linked`
            )
        if (deps.signal?.aborted) throw interrupted()

        const nothingRemoved =
            'nothing was removed: the device stays linked on the phone, and deleting only its local state would leave it there'
        // One more attempt when the connection drops between the removal request and its answer:
        // the server may or may not have removed the device, and the next login tells which.
        // one gate for every attempt: a reused client holds the same object
        const gate: Record<string, boolean> = { ...KEEP_STORE_ON_CLOSE }
        let reuse: WaClient | null = null
        for (let attempt = 1; ; attempt += 1) {
            progress(
                `connecting ${options.sessionId} to ${options.server ? options.server.url : 'WhatsApp'}${attempt > 1 ? ' again' : ''}`
            )
            // The library's clean-up stays shut until the server has confirmed the removal: zapo-js 0.3
            // would otherwise wipe the store on a routine 515 or any refusal while the device is linked.
            const openGate = (): void => {
                for (const key of Object.keys(gate))
                    gate[key] = !clearedByPattern(store, key as AnyDomain)
            }
            const login: LoginProbeResult = reuse
                ? { status: 'ok', loginMs: 0, restarts: 1, client: reuse }
                : await probeLogin(store, options.sessionId, {
                      server: options.server,
                      timeoutMs: options.timeoutMs,
                      // a routine 515 right after the login is followed before the removal is asked for
                      settleMs: SETTLE_MS,
                      storeClear: gate,
                      keepOpen: true,
                      ...(options.logger ? { logger: options.logger } : {}),
                      // after a first removal request the logout must finish: no interrupt then
                      ...(deps.signal && attempt === 1 ? { signal: deps.signal } : {})
                  })
            reuse = null
            if (login.status === 'cancelled') throw interrupted()
            if (login.status === 'failed' || login.status === 'timeout') {
                const what =
                    login.status === 'timeout'
                        ? `no login within ${options.timeoutMs} ms (${login.detail})`
                        : login.detail
                throw new ZapoError(
                    login.status === 'failed' ? login.code : 'CONNECTION_FAILED',
                    `cannot reach the server to unlink ${options.sessionId}: ${what}; ${nothingRemoved}; rerun when it is reachable`,
                    {
                        sessionId: options.sessionId,
                        jid
                    }
                )
            }
            if (login.status === 'refused') {
                if (login.code === 'LOGGED_OUT') {
                    // the server says the device is gone (already, or by our first attempt): nothing is
                    // linked any more, so the stored state goes too (the library kept it, its clean-up was shut)
                    progress(
                        `the server says ${jid} is logged out (${login.reason}); removing its stored state`
                    )
                    await clearSession(store, options.sessionId)
                    const after = await catalog.counts(options.sessionId)
                    const status: LogoutStatus = attempt > 1 ? 'logged-out' : 'already-logged-out'
                    return finish({
                        ...base,
                        jid,
                        status,
                        clearedBy: 'zapo',
                        after,
                        result: 'OK',
                        reason: login.reason
                    })
                }
                throw new ZapoError(
                    login.code,
                    `the server refused the login of ${options.sessionId}: ${login.reason}; ${nothingRemoved}; ${login.hint}`,
                    { sessionId: options.sessionId, jid, reason: login.classification.reason }
                )
            }

            client = login.client
            if (!client) throw new Error('login probe returned no client')
            if (attempt === 1 && deps.signal?.aborted) throw interrupted()
            const loggedOut = waitForLogoutClose(client, LIBRARY_CLEAR_WAIT_MS)
            progress(`logged in; asking the server to remove ${jid}`)
            try {
                await withTimeout(client.logout(), options.timeoutMs)
            } catch (error) {
                loggedOut.cancel()
                const message =
                    (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? ''
                const timedOut = isTimeoutMessage(message)
                const answered = isIqErrorAnswer(message)
                if (!timedOut && !answered && attempt === 1) {
                    // the connection went away before the answer: after a 515 zapo-js logs in again by
                    // itself (then ask again on that connection); otherwise start a new login
                    progress(
                        `the connection dropped before the server answered (${message}); checking with a new login`
                    )
                    if (await nextLogin(client, Math.min(options.timeoutMs, 10_000))) {
                        reuse = client
                    } else {
                        await disconnectQuietly(client)
                    }
                    client = null
                    continue
                }
                throw new ZapoError(
                    timedOut ? 'TIMEOUT' : 'CONNECTION_FAILED',
                    timedOut
                        ? `the server did not confirm the removal of ${jid} within ${options.timeoutMs} ms; nothing was removed locally; check the phone's linked devices and run ${zapoCommand('logout', '--session', options.sessionId)} again`
                        : answered
                          ? `the server refused to remove ${jid} (${message}); nothing was removed locally; check the phone's linked devices and run ${zapoCommand('logout', '--session', options.sessionId)} again`
                          : `the connection dropped twice before the server answered the removal of ${jid} (${message}); nothing was removed locally; run ${zapoCommand('logout', '--session', options.sessionId)} again`,
                    { sessionId: options.sessionId, jid }
                )
            }
            // confirmed: from now on the library's own clean-up may run (on the stream end that follows)
            openGate()
            const closedByServer = await loggedOut.promise
            let clearedBy: 'library' | 'zapo'
            let after: SessionCounts = await catalog.counts(options.sessionId)
            // the library keeps its hands off pattern-clearing backends: zapo clears those
            const byPattern = DURABLE_DOMAINS.some(d => clearedByPattern(store, d))
            if (closedByServer) {
                if (!byPattern)
                    after = await settleCounts(catalog, options.sessionId, LIBRARY_CLEAR_WAIT_MS)
                clearedBy = 'library'
                if (byPattern || !isEmpty(after)) {
                    // a pattern-clearing backend, or the stream ended before the gate opened
                    progress(
                        byPattern
                            ? 'clearing the stored state by its exact keys (the Redis store would clear by key pattern)'
                            : 'the library left records behind; clearing them by their exact keys'
                    )
                    await clearSession(store, options.sessionId)
                    after = await catalog.counts(options.sessionId)
                    clearedBy = 'zapo'
                }
            } else {
                // the server confirmed the removal but kept the stream open: the library cleared nothing
                progress(
                    'the server confirmed the removal but did not end the stream; clearing the stored state through the store contracts'
                )
                await disconnectQuietly(client)
                client = null
                await clearSession(store, options.sessionId)
                after = await catalog.counts(options.sessionId)
                clearedBy = 'zapo'
            }
            return finish({
                ...base,
                jid,
                status: 'logged-out',
                clearedBy,
                after,
                result: 'OK',
                reason: null
            })
        }
    } finally {
        if (client) await disconnectQuietly(client)
        await held?.release()
        await readable.close()
    }
}

function finish(
    input: Omit<LogoutResult, 'removed' | 'remaining' | 'result'> & {
        readonly result: ZapoErrorCode
    }
): LogoutResult {
    const removed: Partial<Record<keyof SessionCounts, number>> = {}
    const remaining: (keyof SessionCounts)[] = []
    for (const key of Object.keys(input.before) as (keyof SessionCounts)[]) {
        const b = Number(input.before[key])
        const a = Number(input.after[key])
        if (b > a) removed[key] = b - a
        if (a > 0) remaining.push(key)
    }
    let result = input.result
    if (result === 'OK' && input.status !== 'not-paired' && remaining.length > 0)
        result = 'VERIFY_FAILED'
    return { ...input, removed, remaining, result }
}

/** Resolves true when the client logs in again (zapo-js restarts the stream itself after a 515). */
function nextLogin(client: WaClient, timeoutMs: number): Promise<boolean> {
    return new Promise(resolve => {
        const onSuccess = (): void => {
            clearTimeout(timer)
            client.off('connection_success', onSuccess)
            // let the library finish its post-login step before the next query
            setTimeout(() => resolve(true), 200)
        }
        const timer = setTimeout(() => {
            client.off('connection_success', onSuccess)
            resolve(false)
        }, timeoutMs)
        client.on('connection_success', onSuccess)
    })
}

/** Resolves true on the library's logout close (`isLogout`), false when none comes in time. */
function waitForLogoutClose(
    client: WaClient,
    timeoutMs: number
): { promise: Promise<boolean>; cancel(): void } {
    let done: ((value: boolean) => void) | null = null
    const listener = (raw: unknown): void => {
        const event = raw as { readonly status?: string; readonly isLogout?: boolean }
        if (event.status === 'close' && event.isLogout === true) done?.(true)
    }
    const promise = new Promise<boolean>(resolve => {
        const timer = setTimeout(() => done?.(false), timeoutMs)
        done = value => {
            done = null
            clearTimeout(timer)
            client.off('connection', listener)
            resolve(value)
        }
    })
    client.on('connection', listener)
    return { promise, cancel: () => done?.(false) }
}

/**
 * The library clears domain after domain once the stream ended; nothing signals the end of it.
 * Poll the counts until every domain is empty, or until they stop changing for a while.
 */
async function settleCounts(
    catalog: SessionCatalog,
    sessionId: string,
    timeoutMs: number
): Promise<SessionCounts> {
    const deadline = Date.now() + timeoutMs
    let last = await catalog.counts(sessionId)
    let stableSince = Date.now()
    while (Date.now() < deadline) {
        if (isEmpty(last)) return last
        await new Promise(resolve => setTimeout(resolve, POLL_MS))
        const next = await catalog.counts(sessionId)
        if (JSON.stringify(next) !== JSON.stringify(last)) {
            last = next
            stableSince = Date.now()
        } else if (Date.now() - stableSince > STABLE_MS) {
            return last
        }
    }
    return last
}

function isEmpty(counts: SessionCounts): boolean {
    return Object.values(counts).every(v => v === false || v === 0)
}
