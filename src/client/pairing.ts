/**
 * The pairing state machine: one zapo-js client, writing into a staging store
 * (pair-staging.ts), driven from its events — `auth_qr` (a QR to show, or the moment a pairing
 * code may be requested), `auth_pairing_refresh`, `auth_paired` (the phone confirmed), then the
 * post-pairing login (a 515 restart is routine, a fatal close undoes the pairing), `failure`,
 * `client_error` and `connection`. What each ending is called (ZapoError codes and lines) is
 * decided here; ops/pair.ts only orchestrates (is the session free, then store the result).
 */

import type { Logger, WaAuthCredentials } from 'zapo-js'
import type { WaClient } from 'zapo-js/client'

import { ZapoError, toError, usageError } from '../errors.js'
import type { RecordBatch } from '../store/records.types.js'
import { watchConnect, type ConnectFailure } from './connect-failure.js'
import { isPairingFailureMessage, isTimeoutMessage } from './messages.js'
import { createStagingStore } from './pair-staging.js'
import { classifyClose } from './reasons.js'
import { KEEP_STORE_ON_CLOSE } from './reconnect.js'
import { formatDuration } from '../util/duration.js'

export type PairMethod =
    { readonly kind: 'qr' } | { readonly kind: 'phone'; readonly phone: string }

export interface PairingOptions {
    readonly sessionId: string
    readonly method: PairMethod
    readonly timeoutMs: number
    /** a test server (zapo sandbox): its URL and root CA; null = the production service */
    readonly server: { readonly url: string; readonly rootCa: string } | null
    /** longest wait, after the phone confirmed, for the post-pairing login to settle */
    readonly settleMs?: number
}

export type PairProgress =
    | { readonly type: 'connecting'; readonly server: string | null }
    | { readonly type: 'qr'; readonly qr: string; readonly expiresInMs: number }
    | { readonly type: 'pairing_code'; readonly code: string; readonly expiresInMs: number }
    | { readonly type: 'scanned'; readonly meJid: string }
    | { readonly type: 'saving' }

export interface PairingDeps {
    readonly onProgress: (event: PairProgress) => void
    /** aborting cancels the pairing (Ctrl-C) until the phone confirmed; after, it saves at once */
    readonly signal?: AbortSignal
    readonly logger?: Logger
}

/** How long a pairing code stays usable (zapo-js refuses a primary hello after 180 s). */
const PAIRING_CODE_TTL_MS = 180_000
const DEFAULT_SETTLE_MS = 15_000
const QR_EXPIRY_GRACE_MS = 3_000
const SOCKET_WAIT_MS = 2_000

/** What a refused or failed pairing is called, from a `<failure reason>` code. */
function failureError(reason: number | undefined, during: 'pairing'): ZapoError {
    const code = reason ?? 0
    if (code === 503 || code === 500) {
        return new ZapoError(
            'CONNECTION_FAILED',
            `the server is unavailable (${code}) during ${during}: try again in a few minutes`,
            { reason: code }
        )
    }
    if (code === 405 || code === 409) {
        return new ZapoError(
            'CLIENT_REJECTED',
            `the server rejected this client (${code}): update zapo / zapo-js`,
            { reason: code }
        )
    }
    return new ZapoError(
        'PAIRING_REFUSED',
        `the pairing was refused (server failure ${code}): nothing was stored; run zapo pair again and confirm on the phone`,
        {
            reason: code
        }
    )
}

export interface StagedPairing {
    readonly batches: readonly RecordBatch[]
    readonly settled: boolean
    readonly pairedMs: number
}

/** The error of a pairing cancelled before the phone linked the device. */
export function pairingCancelled(): ZapoError {
    return new ZapoError('CANCELLED', 'pairing cancelled: nothing was stored')
}

/**
 * Runs one pairing against the server into a staging store: resolves with the finished state
 * (as batches for the real store) once the phone confirmed and the post-pairing login settled
 * (or `settleMs` passed); rejects with a ZapoError on a timeout, a cancel before the phone
 * confirmed, a refused or failed connection, or a refused pairing. The client is disconnected
 * (never logged out) and the staging store destroyed either way.
 */
export async function pairIntoStaging(
    options: PairingOptions,
    deps: PairingDeps
): Promise<StagedPairing> {
    const { sessionId, method } = options
    const staging = await createStagingStore(sessionId)
    let client: WaClient | null = null
    let finished = false
    // a refused socket or an untrusted certificate, reported as it happens (see below)
    let connectFailed: (failure: ConnectFailure) => void = () => undefined
    const timers = new Set<NodeJS.Timeout>()
    const later = (ms: number, fn: () => void): void => {
        const timer = setTimeout(() => {
            timers.delete(timer)
            fn()
        }, ms)
        timers.add(timer)
    }
    try {
        const server = options.server
        const { createWaClient } = await import('./create-client.js')
        try {
            client = createWaClient({
                store: staging.store,
                sessionId,
                server,
                logger: watchConnect(deps.logger ?? null, server, {
                    onFailure: failure => connectFailed(failure)
                }),
                // zapo-js waits this long for a socket to open (then retries) and, after the server
                // closed first, for a close handshake it never sees: keep a refused pairing from
                // lingering 10 s after its result
                tuning: {
                    timeoutIntervalMs: Math.max(1_000, Math.min(options.timeoutMs, SOCKET_WAIT_MS)),
                    // a 515 "reconnect now" right after pairing must not wipe the staged device
                    logoutStoreClear: KEEP_STORE_ON_CLOSE
                }
            }) as WaClient
        } catch (error) {
            throw usageError(
                `${toError(error).message}: check --server and --server-root-ca (zapo sandbox --json prints both)`
            )
        }
        const active = client
        deps.onProgress({ type: 'connecting', server: server?.url ?? null })

        const started = Date.now()
        let paired: WaAuthCredentials | null = null
        let pairedAt = 0
        let lastQrExpiresAt = 0
        let codeRequested = false
        let connected = false

        const outcome = await new Promise<StagedPairing>((resolve, reject) => {
            const fail = (error: ZapoError): void => {
                if (finished) return
                finished = true
                reject(error)
            }
            const succeed = async (settledInTime: boolean): Promise<void> => {
                if (finished) return
                finished = true
                try {
                    // flushes write-behind and closes the socket; the device stays linked
                    await active.disconnect()
                    resolve({
                        batches: await staging.snapshot(),
                        settled: settledInTime,
                        pairedMs: pairedAt - started
                    })
                } catch (error) {
                    reject(error)
                }
            }

            const onAbort = (): void => {
                if (paired) {
                    // the phone already linked the device: finish saving rather than strand it
                    void succeed(false)
                    return
                }
                fail(pairingCancelled())
            }
            deps.signal?.addEventListener('abort', onAbort, { once: true })
            // zapo-js would retry a refused socket or an untrusted server until its connect
            // timeout: before the phone confirmed, either ends the pairing at once
            connectFailed = failure => {
                if (paired) return
                fail(
                    new ZapoError(
                        failure.code,
                        `cannot pair: ${failure.summary}; nothing was stored: ${failure.hint}`,
                        { server: failure.url, failure: failure.kind }
                    )
                )
            }
            later(options.timeoutMs, () => {
                if (paired) return
                if (!connected) {
                    fail(
                        new ZapoError(
                            'CONNECTION_FAILED',
                            `could not connect to ${server?.url ?? 'the WhatsApp service'} within ${formatDuration(options.timeoutMs)} (--timeout): check the network${server ? ', --server and --server-root-ca' : ''}`,
                            { server: server?.url ?? null, timeoutMs: options.timeoutMs }
                        )
                    )
                    return
                }
                fail(
                    new ZapoError(
                        'TIMEOUT',
                        `no ${method.kind === 'qr' ? 'scan' : 'pairing code entry'} within ${formatDuration(options.timeoutMs)} (--timeout): nothing was stored; run zapo pair again`,
                        { timeoutMs: options.timeoutMs }
                    )
                )
            })

            const requestCode = async (phone: string): Promise<void> => {
                try {
                    const code = await active.requestPairingCode(phone)
                    if (finished) return
                    deps.onProgress({
                        type: 'pairing_code',
                        code,
                        expiresInMs: PAIRING_CODE_TTL_MS
                    })
                } catch (error) {
                    if (finished) return
                    const err = toError(error)
                    if (isTimeoutMessage(err.message)) {
                        fail(
                            new ZapoError(
                                'CONNECTION_FAILED',
                                `the server did not answer the pairing-code request (${err.message}): check the connection and try again`,
                                {},
                                { cause: err }
                            )
                        )
                        return
                    }
                    fail(
                        new ZapoError(
                            'PAIRING_REFUSED',
                            `the server refused a pairing code for +${phone} (${err.message}): check the number (country code included) and that it has WhatsApp`,
                            { phone },
                            { cause: err }
                        )
                    )
                }
            }

            active.on('auth_qr', ({ qr, ttlMs }) => {
                connected = true
                if (finished || paired) return
                lastQrExpiresAt = Date.now() + ttlMs
                if (method.kind === 'phone') {
                    // the server has asked for manual pairing (pair-device): the code can be requested now
                    if (!codeRequested) {
                        codeRequested = true
                        void requestCode(method.phone)
                    }
                    return
                }
                deps.onProgress({ type: 'qr', qr, expiresInMs: ttlMs })
                later(ttlMs + QR_EXPIRY_GRACE_MS, () => {
                    if (finished || paired || Date.now() < lastQrExpiresAt + QR_EXPIRY_GRACE_MS)
                        return
                    fail(
                        new ZapoError(
                            'TIMEOUT',
                            'every QR code expired without a scan: nothing was stored; run zapo pair again',
                            {}
                        )
                    )
                })
            })
            active.on('auth_pairing_refresh', () => {
                if (finished || paired || method.kind !== 'phone') return
                void requestCode(method.phone)
            })
            active.on('auth_paired', ({ credentials }) => {
                if (finished) return
                paired = credentials
                pairedAt = Date.now()
                deps.onProgress({ type: 'scanned', meJid: credentials.meJid ?? '' })
                const settleMs = options.settleMs ?? DEFAULT_SETTLE_MS
                let settledInTime = false
                void Promise.race([
                    staging.settled.then(() => {
                        settledInTime = true
                    }),
                    new Promise<void>(r => later(settleMs, r))
                ]).then(() => succeed(settledInTime))
            })
            active.on('failure', event => {
                if (paired) return
                fail(failureError(event.failureReason, 'pairing'))
            })
            active.on('client_error', ({ error }) => {
                if (paired || finished) return
                if (isPairingFailureMessage(error.message)) {
                    fail(
                        new ZapoError(
                            'PAIRING_REFUSED',
                            `the pairing failed (${error.message}): nothing was stored; run zapo pair again`,
                            {},
                            { cause: error }
                        )
                    )
                }
            })
            active.on('connection', event => {
                if (event.status === 'open') connected = true
                if (event.status !== 'close' || finished) return
                if (paired) {
                    // after the phone confirmed: a 515 restart and transient drops are routine
                    // (the client logs in again); only a fatal close undoes the pairing
                    const close = classifyClose(event, sessionId)
                    if (close.class === 'fatal') {
                        fail(
                            new ZapoError(
                                'PAIRING_REFUSED',
                                `the server ended the new device's first login (${close.summary}): nothing was stored; remove it on the phone and pair again`,
                                { reason: event.reason }
                            )
                        )
                    }
                    return
                }
                if (String(event.reason).startsWith('failure_')) {
                    fail(failureError(event.code ?? undefined, 'pairing'))
                    return
                }
                fail(
                    new ZapoError(
                        'CONNECTION_FAILED',
                        `the connection closed during pairing (${event.reason}): nothing was stored; check the network and run zapo pair again`,
                        { reason: event.reason }
                    )
                )
            })

            active.connect().catch((error: unknown) => {
                const err = toError(error)
                fail(
                    new ZapoError(
                        'CONNECTION_FAILED',
                        `cannot connect to ${server?.url ?? 'the WhatsApp service'} (${err.message.split('\n')[0]}): check the network${server ? ', --server and --server-root-ca' : ''}`,
                        { server: server?.url ?? null },
                        { cause: err }
                    )
                )
            })
        })
        return outcome
    } finally {
        finished = true
        for (const timer of timers) clearTimeout(timer)
        if (client) {
            client.removeAllListeners()
            await client.disconnect().catch(() => undefined)
        }
        await staging.destroy().catch(() => undefined)
    }
}
