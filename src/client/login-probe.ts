/**
 * One login with stored credentials, for `check --connect` and `logout`: build the client,
 * connect, wait for the server's `<success>` within a timeout, stay a moment to catch an
 * immediate refusal, and hand the live client to the caller (or disconnect).
 *
 * The library does not reconnect by itself, except that zapo-js 0.3 restarts the stream on its
 * own after a 515 ("reconnect now"): one such restart right after the login is routine and is
 * followed; a second one is reported. Every other close is classified by client/reasons.ts.
 *
 * `logoutStoreClear` keeps everything (reconnect.ts `KEEP_STORE_ON_CLOSE`): a refused login
 * never wipes the stored state behind the user's back (zapo-js 0.3 would clear it on
 * 401/403/406, 516, device removed, and even on a 515). `zapo logout` passes its own gate.
 */

import type { Logger, WaClient } from 'zapo-js'
import type { WaLogoutStoreClearOptions } from 'zapo-js/client'
import { failureLine, watchConnect } from './connect-failure.js'
import { createWaClient, type ClientTuning } from './create-client.js'
import {
    classifyClose,
    closeForFailure,
    type CloseClassification,
    type CloseEventLike
} from './reasons.js'
import { KEEP_STORE_ON_CLOSE } from './reconnect.js'
import type { ZapoErrorCode } from '../errors.js'
import type { OpenedStore } from '../store/open.js'

export interface ServerOverride {
    readonly url: string
    readonly rootCa: string
}

export interface LoginProbeOptions {
    readonly server: ServerOverride | null
    readonly timeoutMs: number
    /** stay connected this long after `<success>` (ms) */
    readonly settleMs: number
    readonly logger?: Logger
    /**
     * the library's clean-up on a logout answer (zapo-js `logoutStoreClear`): everything kept by
     * default; `zapo logout` passes its own object and opens it once the server confirmed
     */
    readonly storeClear?: WaLogoutStoreClearOptions
    /** keep the client connected and return it (the caller disconnects) */
    readonly keepOpen?: boolean
    /** aborting (Ctrl-C) disconnects and ends the probe with status 'cancelled' */
    readonly signal?: AbortSignal
    /**
     * leave incoming messages to the application: they are neither decrypted nor acknowledged
     * (so the server delivers them again at the next login) and only counted
     */
    readonly holdMessages?: boolean
}

export type LoginProbeResult =
    | {
          readonly status: 'ok'
          readonly loginMs: number
          readonly restarts: number
          readonly client: WaClient | null
          /** messages that arrived and were left unacknowledged (holdMessages) */
          readonly heldMessages?: number
      }
    | {
          readonly status: 'refused'
          readonly code: ZapoErrorCode
          /** the server's reason, as classified */
          readonly reason: string
          readonly hint: string
          readonly classification: CloseClassification
          /** false when the refusal came before `<success>` */
          readonly loggedIn: boolean
      }
    | { readonly status: 'timeout'; readonly detail: string }
    /** no connection: CONNECTION_FAILED, or UNTRUSTED_SERVER for a certificate that does not chain */
    | {
          readonly status: 'failed'
          readonly code: 'CONNECTION_FAILED' | 'UNTRUSTED_SERVER'
          readonly detail: string
      }
    | { readonly status: 'cancelled' }

const DISCONNECT_GRACE_MS = 5_000
const SOCKET_WAIT_MS = 2_000

/** Connects `sessionId` from `store` once; never throws for a network or server outcome. */
export async function probeLogin(
    store: Pick<OpenedStore, 'createWaStore'>,
    sessionId: string,
    options: LoginProbeOptions
): Promise<LoginProbeResult> {
    if (options.signal?.aborted) return { status: 'cancelled' }
    let socketOpened = false
    // a refused socket or an untrusted certificate ends the probe at once (zapo-js would retry
    // until its 10 s connect timeout): see client/connect-failure.ts
    const logger = watchConnect(options.logger ?? null, options.server, {
        onFailure: failure =>
            finish({ status: 'failed', code: failure.code, detail: failureLine(failure) }),
        onSocketOpen: () => {
            socketOpened = true
        }
    })
    const waStore = await store.createWaStore()
    const tuning: ClientTuning = {
        // zapo-js waits this long for a socket to open and, after a server-side close, for the
        // close handshake it never sees (10 s by default): keep a refused probe from lingering
        timeoutIntervalMs: Math.max(1_000, Math.min(options.timeoutMs, SOCKET_WAIT_MS)),
        logoutStoreClear: options.storeClear ?? KEEP_STORE_ON_CLOSE
    }
    const client = createWaClient({
        store: waStore,
        sessionId,
        server: options.server,
        logger,
        tuning
    })

    // zapo-js 0.3 decrypts an incoming <message>, advances its Signal session and acknowledges it
    // in the handler of the tag; a handler put before it that claims the node stops all three,
    // and the server, never acknowledged, delivers the message again at the next login
    let heldMessages = 0
    if (options.holdMessages) {
        client.registerIncomingHandler({
            tag: 'message',
            prepend: true,
            handler: async () => {
                heldMessages += 1
                return true
            }
        })
    }
    const started = Date.now()
    let loginAt: number | null = null
    let restarts = 0
    let settle: ((r: LoginProbeResult) => void) | null = null
    const outcome = new Promise<LoginProbeResult>(resolve => {
        settle = r => {
            settle = null
            resolve(r)
        }
    })
    const finish = (r: LoginProbeResult): void => settle?.(r)

    client.on('connection_success', () => {
        loginAt ??= Date.now()
    })
    client.on('auth_qr', () => {
        // stored credentials the server does not know: it offers pairing instead of logging in
        const classification = classifyClose(
            { reason: 'failure_not_authorized', code: 401, isLogout: true },
            sessionId
        )
        finish({
            status: 'refused',
            code: 'LOGGED_OUT',
            reason: 'the server offered a new pairing instead of logging the stored device in',
            hint: classification.hint,
            classification,
            loggedIn: false
        })
    })
    client.on('failure', (event: { readonly failureReason?: number }) => {
        // a temporary ban (402) comes with no close event (see closeForFailure)
        const close = closeForFailure(event)
        if (close) finish(refused(classifyClose(close, sessionId), null, loginAt !== null))
    })
    client.on('connection', (raw: unknown) => {
        const event = raw as CloseEventLike & { readonly status: 'open' | 'close' }
        if (event.status !== 'close') return
        const classification = classifyClose(event, sessionId)
        if (classification.class === 'expected') return
        if (classification.class === 'routine' && restarts === 0) {
            // a 515 right after the login: zapo-js restarts the stream itself; follow it once
            restarts += 1
            loginAt = null
            return
        }
        if (classification.class === 'routine') {
            finish(
                refused(
                    classification,
                    'the server asked for a reconnect (515) again right after it',
                    loginAt !== null
                )
            )
            return
        }
        finish(refused(classification, null, loginAt !== null))
    })

    const timer = setTimeout(() => {
        if (loginAt !== null) return
        finish({
            status: 'timeout',
            detail: socketOpened
                ? 'the server accepted the socket but did not log the device in'
                : 'no answer from the server'
        })
    }, options.timeoutMs)

    // after <success>: wait `settleMs` for an immediate refusal, then report the login time
    const waitLogin = setInterval(() => {
        if (loginAt !== null && Date.now() - loginAt >= options.settleMs) {
            finish({
                status: 'ok',
                loginMs: loginAt - started,
                restarts,
                client: null,
                heldMessages
            })
        }
    }, 25)

    const onAbort = (): void => finish({ status: 'cancelled' })
    options.signal?.addEventListener('abort', onAbort, { once: true })

    client.connect().catch((error: unknown) => {
        const message = error instanceof Error ? error.message : String(error)
        finish({ status: 'failed', code: 'CONNECTION_FAILED', detail: message })
    })

    let result = await outcome
    clearTimeout(timer)
    clearInterval(waitLogin)
    options.signal?.removeEventListener('abort', onAbort)
    if (result.status === 'ok' && options.keepOpen) return { ...result, client }
    await disconnectQuietly(client)
    if (result.status === 'ok') result = { ...result, client: null, heldMessages }
    return result
}

function refused(
    classification: CloseClassification,
    reason: string | null,
    loggedIn: boolean
): LoginProbeResult {
    const code: ZapoErrorCode =
        classification.class === 'fatal' ? classification.exit : 'CONNECTION_FAILED'
    const because =
        classification.code !== null &&
        !classification.summary.includes(String(classification.code))
            ? `${classification.summary} (${classification.code})`
            : classification.summary
    return {
        status: 'refused',
        code,
        reason: reason ?? because,
        hint: classification.hint,
        classification,
        loggedIn
    }
}

/** `disconnect()` (write-behind flushed, device still linked), given up on after a grace period. */
export async function disconnectQuietly(client: WaClient): Promise<void> {
    await withTimeout(client.disconnect(), DISCONNECT_GRACE_MS).catch(() => undefined)
}

export function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms)
        promise.then(
            value => {
                clearTimeout(timer)
                resolve(value)
            },
            error => {
                clearTimeout(timer)
                reject(error)
            }
        )
    })
}
