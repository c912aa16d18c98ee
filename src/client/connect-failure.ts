/**
 * Why a connection attempt failed before the server said anything: the socket was refused, the
 * host does not resolve or answer, the server is no WebSocket endpoint, or its Noise certificate
 * does not chain to the trusted root.
 *
 * zapo-js 0.3 says none of this to its caller. A refused socket and an untrusted certificate
 * both make it retry every `reconnectIntervalMs` until `connect()` gives up after
 * `connectTimeoutMs` (10 s) with "comms connection timeout"; the cause appears only in its log
 * lines (`socket open error`, `socket open failed`, `noise handshake failed` with the message of
 * `transport/noise/WaNoiseCert.js`), and the socket error itself (ECONNREFUSED, ENOTFOUND, an
 * HTTP status) not even there: WaWebSocket drops the error event. So the client gets a `ws`
 * WebSocket that remembers the error each URL met (`TracedWebSocket`, installed as the global
 * zapo-js looks up), and a logger that reads those lines (`watchConnect`) and reports one
 * `ConnectFailure` per failed attempt, at once.
 */
import { WebSocket as NodeWebSocket } from 'ws'
import type { ClientOptions } from 'ws'
import type { Logger } from 'zapo-js'

import type { ZapoErrorCode } from '../errors.js'
import type { CloseClassification } from './reasons.js'
import { SILENT_LOGGER } from './silent-logger.js'

export const ConnectFailureKind = Object.freeze({
    /** nothing listens there (ECONNREFUSED) */
    REFUSED: 'refused',
    /** the host does not resolve, has no route, or does not answer */
    UNREACHABLE: 'unreachable',
    /** something answered, but not a WebSocket endpoint (an HTTP status, a TLS failure) */
    REJECTED: 'rejected',
    /** the server's Noise certificate does not chain to the trusted root */
    UNTRUSTED: 'untrusted'
} as const)
export type ConnectFailureKind = (typeof ConnectFailureKind)[keyof typeof ConnectFailureKind]

export interface ConnectFailure {
    readonly kind: ConnectFailureKind
    readonly code: Extract<ZapoErrorCode, 'CONNECTION_FAILED' | 'UNTRUSTED_SERVER'>
    /** the URL as configured (routing parameters left out) */
    readonly url: string
    /** what failed and where, e.g. "connection refused by 127.0.0.1:9 (ws://127.0.0.1:9/ws/chat)" */
    readonly summary: string
    /** what to do next */
    readonly hint: string
}

/** The last error a socket to each URL met before it opened (the newest `MAX_TRACED` URLs). */
const socketErrors = new Map<string, Error>()
const MAX_TRACED = 64

/** `ws`, remembering the error a socket meets before it opens (zapo-js drops it). */
class TracedWebSocket extends NodeWebSocket {
    constructor(address: string | URL, protocols?: string | string[], options?: ClientOptions) {
        super(address, protocols, options)
        const url = String(address)
        const onError = (error: Error): void => {
            socketErrors.delete(url)
            socketErrors.set(url, error)
            if (socketErrors.size > MAX_TRACED) {
                const oldest = socketErrors.keys().next()
                if (!oldest.done) socketErrors.delete(oldest.value)
            }
        }
        this.once('error', onError)
        this.once('open', () => {
            this.off('error', onError)
            socketErrors.delete(url)
        })
    }
}

/**
 * zapo-js 0.3 opens its sockets with `globalThis.WebSocket` (its socket-constructor option is not
 * reachable from `WaClientOptions`). Node 20 has none: hand it `ws`, traced. A runtime that has
 * its own gets `ws` too, so every Node version connects the same way.
 */
export function installTracedWebSocket(): void {
    const scope = globalThis as { WebSocket?: unknown }
    if (scope.WebSocket !== TracedWebSocket) scope.WebSocket = TracedWebSocket
}

function takeSocketError(url: string): Error | null {
    const error = socketErrors.get(url) ?? null
    socketErrors.delete(url)
    return error
}

/** `ws://host:port/path` without the `?ED=` routing parameter zapo-js appends. */
function plainUrl(url: string): string {
    return url.replace(/\?ED=[^\s)]*/g, '')
}

function hostPort(url: string): string {
    try {
        const parsed = new URL(url)
        const port = parsed.port || (parsed.protocol === 'wss:' ? '443' : '80')
        return `${parsed.hostname}:${port}`
    } catch {
        return url
    }
}

function hostOf(url: string): string {
    try {
        return new URL(url).hostname
    } catch {
        return url
    }
}

interface Where {
    readonly url: string
    /** a --server override (a test server) rather than WhatsApp's own */
    readonly testServer: boolean
}

function makeFailure(
    kind: ConnectFailureKind,
    where: Where,
    summary: string,
    hint: { readonly test: string; readonly production: string }
): ConnectFailure {
    return Object.freeze({
        kind,
        code: kind === 'untrusted' ? 'UNTRUSTED_SERVER' : 'CONNECTION_FAILED',
        url: where.url,
        summary,
        hint: where.testServer ? hint.test : hint.production
    })
}

const NETWORK_HINT = Object.freeze({
    test: 'check --server (is the test server running there?)',
    production: 'check the network, DNS and any proxy'
})

/** One failed socket to `where.url`, from the error the socket met (null when none was seen). */
function socketFailure(where: Where, error: Error | null, timedOut = false): ConnectFailure {
    const { url } = where
    const code = (error as NodeJS.ErrnoException | null)?.code ?? ''
    if (code === 'ECONNREFUSED') {
        return makeFailure('refused', where, `connection refused by ${hostPort(url)} (${url})`, {
            test: 'nothing listens there: check --server (is zapo sandbox still running?)',
            production: NETWORK_HINT.production
        })
    }
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_NONAME') {
        return makeFailure(
            'unreachable',
            where,
            `cannot resolve ${hostOf(url)} (${code}, ${url})`,
            NETWORK_HINT
        )
    }
    if (timedOut || /^(ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|EHOSTDOWN)$/.test(code)) {
        const why = timedOut ? 'did not answer in time' : `is unreachable (${code})`
        return makeFailure('unreachable', where, `${hostPort(url)} ${why} (${url})`, NETWORK_HINT)
    }
    const status = /Unexpected server response: (\d+)/.exec(error?.message ?? '')?.[1]
    if (status) {
        return makeFailure(
            'rejected',
            where,
            `the server at ${url} answered HTTP ${status} instead of opening a WebSocket`,
            {
                test: 'check the --server URL, path included (zapo sandbox prints it: ws://HOST:PORT/ws/chat)',
                production: 'a proxy or firewall may be in the way: check the network'
            }
        )
    }
    const detail = error ? ` (${code || error.message})` : ''
    return makeFailure(
        'rejected',
        where,
        `could not open a WebSocket to ${url}${detail}`,
        NETWORK_HINT
    )
}

/** The handshake stopped at the certificate chain (`WaNoiseCert.js` says why). */
function certificateFailure(where: Where, reason: string): ConnectFailure {
    return makeFailure(
        'untrusted',
        where,
        `the server at ${where.url} is not trusted: its certificate does not chain to ${where.testServer ? '--server-root-ca' : "WhatsApp's root"} (${reason})`,
        {
            test: "--server-root-ca must be that server's root CA, as it printed it (zapo sandbox --json: rootCa; a sandbox makes a new root at every start)",
            production:
                'something between you and WhatsApp answered in its place (a proxy or interception): do not connect through it'
        }
    )
}

/** How a failure reads as the reason a session stopped (`zapo logs`). */
export function failureClassification(failure: ConnectFailure): CloseClassification {
    return Object.freeze({
        class: 'fatal',
        reason: failure.kind === 'untrusted' ? 'server_untrusted' : `connect_${failure.kind}`,
        code: null,
        exit: failure.code,
        summary: failure.summary,
        hint: failure.hint
    })
}

export interface ConnectWatch {
    /** a connection attempt failed before the server said anything (one call per attempt) */
    readonly onFailure: (failure: ConnectFailure) => void
    /** a socket opened (the server at least answered) */
    readonly onSocketOpen?: () => void
    /**
     * an open connection's socket went away without a close reason from the server (no
     * `connection` event): zapo-js's transport reconnects by itself after `reconnectAfterMs`
     */
    readonly onDropped?: (drop: SocketDrop) => void
    /** the server accepted a login (`<success>`): also the end of a transport reconnect */
    readonly onLoggedIn?: () => void
    /**
     * whether zapo-js's own lines about a reported failure go to debug (default: always, the
     * caller tells the failure in its own words); false keeps them at their level
     */
    readonly quiet?: () => boolean
}

/** A socket that went away under an open connection, as zapo-js's transport reports it. */
export interface SocketDrop {
    /** the WebSocket close code (1006: closed without a close frame) */
    readonly code: number | null
    readonly reconnectAfterMs: number | null
}

/** How long a failed handshake's socket may take to close before the failure is told anyway. */
const CLOSE_WAIT_MS = 1_000

const LEVELS = Object.freeze(['trace', 'debug', 'info', 'warn', 'error'] as const)
type Level = (typeof LEVELS)[number]
type Context = Readonly<Record<string, unknown>>

/**
 * The logger to give a client that connects to `server` (null: WhatsApp's own): every line goes
 * on to `inner`, and the lines that tell why an attempt failed are reported to `watch`, one
 * `ConnectFailure` per failed attempt; those lines go on at debug level (see `quiet`).
 */
export function watchConnect(
    inner: Logger | null,
    server: { readonly url: string } | null,
    watch: ConnectWatch
): Logger {
    const base = inner ?? SILENT_LOGGER
    const floor = LEVELS.indexOf(base.level as Level)
    const testServer = server !== null
    // the failures of this attempt's sockets, by URL (zapo-js may race several URLs)
    let attempt = new Map<string, ConnectFailure>()
    // the URL whose socket opened last: where a handshake failure happened
    let opened: string | null = null
    const note = (url: string, make: (where: Where) => ConnectFailure): void => {
        const plain = plainUrl(url)
        if (!attempt.has(plain)) attempt.set(plain, make({ url: plain, testServer }))
    }
    let untrusted: ConnectFailure | null = null
    const reportUntrusted = (): void => {
        const failure = untrusted
        untrusted = null
        if (failure) watch.onFailure(failure)
    }
    /** Reads one line; true when it is a failure this watch reports (then it is logged at debug). */
    const read = (message: string, context: Context | undefined): boolean => {
        const url = typeof context?.url === 'string' ? context.url : null
        switch (message) {
            case 'socket open start':
                reportUntrusted()
                attempt = new Map()
                return false
            case 'socket open error':
            case 'socket closed before open':
                if (url) note(url, where => socketFailure(where, takeSocketError(url)))
                return true
            case 'socket connect timeout':
                if (url) note(url, where => socketFailure(where, null, true))
                return true
            case 'socket open failed': {
                // every URL of the attempt failed: report the first cause seen
                const first = attempt.values().next()
                const target = plainUrl(server?.url ?? 'the WhatsApp service')
                watch.onFailure(
                    first.done ? socketFailure({ url: target, testServer }, null) : first.value
                )
                attempt = new Map()
                return true
            }
            case 'noise handshake failed': {
                const reason = typeof context?.message === 'string' ? context.message : ''
                if (!/certificate/i.test(reason)) return false
                const where = {
                    url: plainUrl(opened ?? server?.url ?? 'the WhatsApp service'),
                    testServer
                }
                // told once zapo-js has closed that socket: a disconnect() before would close it
                // a second time, and the first close's timer would keep the process alive
                untrusted = certificateFailure(where, reason)
                setTimeout(reportUntrusted, CLOSE_WAIT_MS).unref()
                return true
            }
            case 'socket runtime closed':
                reportUntrusted()
                return false
            case 'socket closed, scheduling reconnect':
                watch.onDropped?.({
                    code: finite(context?.code),
                    reconnectAfterMs: finite(context?.reconnectAfterMs)
                })
                return false
            case 'received success node':
                watch.onLoggedIn?.()
                return false
            default:
                if (message.startsWith('socket open success')) opened = url
                if (
                    message.startsWith('socket open success') ||
                    message.startsWith('noise session')
                )
                    watch.onSocketOpen?.()
                return false
        }
    }
    const at =
        (level: Level) =>
        (message: string, context?: Context): void => {
            // a reported failure is the caller's to tell: zapo-js's own lines go to debug
            const reported = read(message, context)
            const shown = reported && (watch.quiet?.() ?? true) ? 'debug' : level
            if (floor === -1 || LEVELS.indexOf(shown) >= floor) base[shown](message, context)
        }
    return {
        level: 'debug',
        trace: at('trace'),
        debug: at('debug'),
        info: at('info'),
        warn: at('warn'),
        error: at('error')
    }
}

function finite(value: unknown): number | null {
    return typeof value === 'number' && Number.isFinite(value) ? value : null
}

/** One line for people: what failed and where, then what to do. */
export function failureLine(failure: ConnectFailure): string {
    return `${failure.summary}: ${failure.hint}`
}
