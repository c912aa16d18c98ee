/**
 * What a `connection` close event means for whoever stays connected (`logs`, `check --connect`).
 *
 * zapo-js emits `{ status: 'close', reason, code, isLogout }`; the library's error guide sorts
 * the reasons into four classes, and each class decides what the reconnect policy does:
 * - routine: 515 "reconnect now" (after pairing and sometimes later) → reconnect at once
 * - transient: stream errors (ack, xml, other), 503, 500, comms stopped, a dropped socket or a
 *   failed connect → back off, then reconnect
 * - fatal: replaced, device removed, forced logout (516), not authorised (401), banned (406),
 *   temporarily banned (402), locked (403), client too old (405), bad user agent (409), primary
 *   identity changed, or any other close flagged `isLogout` → stop at once
 * - expected: `client_disconnected`, our own `disconnect()` → nothing to do
 *
 * The classification is pure data: no zapo-js import, so tests and light modules can use it.
 */

import { zapoCommand } from '../hints.js'
import type { ZapoErrorCode } from '../errors.js'

export type ReasonClass = 'routine' | 'transient' | 'fatal' | 'expected'

/** The fields of a zapo-js `connection` close event this module reads. */
export interface CloseEventLike {
    readonly reason: string
    readonly code?: number | null
    readonly isLogout?: boolean
}

export interface CloseClassification {
    readonly class: ReasonClass
    /** the close reason as zapo-js named it (or one of ours: connect_failed, socket_closed) */
    readonly reason: string
    readonly code: number | null
    /** the exit code to end with: the fatal class's code, CONNECTION_FAILED when retries run out, OK when expected */
    readonly exit: ZapoErrorCode
    /** what happened, in a few words, for people */
    readonly summary: string
    /** what to do next, one line */
    readonly hint: string
}

/** zapo-js's `WA_DISCONNECT_REASONS` values (copied: this module loads no zapo-js) plus four of ours. */
export const CLOSE_REASONS = Object.freeze({
    CLIENT_DISCONNECTED: 'client_disconnected',
    COMMS_STOPPED: 'comms_stopped',
    STREAM_ERROR_REPLACED: 'stream_error_replaced',
    STREAM_ERROR_DEVICE_REMOVED: 'stream_error_device_removed',
    STREAM_ERROR_ACK: 'stream_error_ack',
    STREAM_ERROR_XML_NOT_WELL_FORMED: 'stream_error_xml_not_well_formed',
    STREAM_ERROR_OTHER: 'stream_error_other',
    STREAM_ERROR_FORCE_LOGIN: 'stream_error_force_login',
    STREAM_ERROR_FORCE_LOGOUT: 'stream_error_force_logout',
    FAILURE_LOCKED: 'failure_locked',
    FAILURE_NOT_AUTHORIZED: 'failure_not_authorized',
    FAILURE_BANNED: 'failure_banned',
    FAILURE_CLIENT_TOO_OLD: 'failure_client_too_old',
    FAILURE_BAD_USER_AGENT: 'failure_bad_user_agent',
    FAILURE_SERVICE_UNAVAILABLE: 'failure_service_unavailable',
    PRIMARY_IDENTITY_KEY_CHANGE: 'primary_identity_key_change',
    /** ours: `connect()` threw (server unreachable, handshake failed, timed out) */
    CONNECT_FAILED: 'connect_failed',
    /** ours: the socket went away without a reason from the server */
    SOCKET_CLOSED: 'socket_closed',
    /** ours: a paired session's client asked for a QR: its stored credentials are gone */
    CREDENTIALS_MISSING: 'credentials_missing',
    /** ours: `<failure reason="402">`, which zapo-js 0.3 reports only as a `failure` event */
    FAILURE_TEMP_BANNED: 'failure_temp_banned'
} as const)

interface Rule {
    /** the reason in a few words for a log line ("server asked to reconnect"); the code follows it */
    readonly label: string
    readonly class: ReasonClass
    readonly exit: ZapoErrorCode
    readonly summary: string
    readonly hint: string
}

const REPAIR = 're-pair the device: zapo pair --session <session>'

const RULES_BY_REASON: Readonly<Record<string, Rule>> = Object.freeze({
    client_disconnected: {
        label: 'disconnected by zapo',
        class: 'expected',
        exit: 'OK',
        summary: 'disconnected by zapo',
        hint: 'nothing to do'
    },
    stream_error_force_login: {
        label: 'server asked to reconnect',
        class: 'routine',
        exit: 'CONNECTION_FAILED',
        summary: 'the server asked for a reconnect',
        hint: 'routine: reconnecting with the stored credentials'
    },
    stream_error_replaced: {
        label: 'replaced by another connection',
        class: 'fatal',
        exit: 'REPLACED',
        summary: 'replaced by another connection with the same credentials',
        hint: 'stop the other app or zapo process using this session, then run this again'
    },
    stream_error_device_removed: {
        label: 'device removed on the phone',
        class: 'fatal',
        exit: 'LOGGED_OUT',
        summary: 'the device was removed from the phone’s linked devices',
        hint: REPAIR
    },
    stream_error_force_logout: {
        label: 'logged out by the server',
        class: 'fatal',
        exit: 'LOGGED_OUT',
        summary: 'the server logged the device out',
        hint: REPAIR
    },
    failure_not_authorized: {
        label: 'logged out on the phone',
        class: 'fatal',
        exit: 'LOGGED_OUT',
        summary: 'the server no longer accepts these credentials (not authorised)',
        hint: REPAIR
    },
    primary_identity_key_change: {
        label: 'the phone’s identity key changed',
        class: 'fatal',
        exit: 'LOGGED_OUT',
        summary: 'the account’s primary identity key changed',
        hint: REPAIR
    },
    failure_banned: {
        label: 'account banned',
        class: 'fatal',
        exit: 'ACCOUNT_BLOCKED',
        summary: 'the account is banned',
        hint: 'the account cannot connect; do not retry from this tool'
    },
    failure_locked: {
        label: 'account locked',
        class: 'fatal',
        exit: 'ACCOUNT_BLOCKED',
        summary: 'the account is locked',
        hint: 'unlock the account on the phone, then re-pair: zapo pair --session <session>'
    },
    failure_client_too_old: {
        label: 'client too old',
        class: 'fatal',
        exit: 'CLIENT_REJECTED',
        summary: 'the server rejected the client as too old',
        hint: 'upgrade zapo-js (zapo doctor shows the installed version)'
    },
    failure_bad_user_agent: {
        label: 'user agent refused',
        class: 'fatal',
        exit: 'CLIENT_REJECTED',
        summary: 'the server rejected the client’s user agent',
        hint: 'check the device/browser settings the client announces, or upgrade zapo-js'
    },
    failure_service_unavailable: {
        label: 'service unavailable',
        class: 'transient',
        exit: 'CONNECTION_FAILED',
        summary: 'the service is unavailable',
        hint: 'backing off, then reconnecting'
    },
    stream_error_ack: {
        label: 'stream error (ack)',
        class: 'transient',
        exit: 'CONNECTION_FAILED',
        summary: 'stream error (ack)',
        hint: 'backing off, then reconnecting'
    },
    stream_error_xml_not_well_formed: {
        label: 'stream error (bad XML)',
        class: 'transient',
        exit: 'CONNECTION_FAILED',
        summary: 'stream error (xml not well formed)',
        hint: 'backing off, then reconnecting'
    },
    stream_error_other: {
        label: 'stream error',
        class: 'transient',
        exit: 'CONNECTION_FAILED',
        summary: 'stream error',
        hint: 'backing off, then reconnecting'
    },
    comms_stopped: {
        label: 'connection stopped',
        class: 'transient',
        exit: 'CONNECTION_FAILED',
        summary: 'the connection stopped',
        hint: 'backing off, then reconnecting'
    },
    connect_failed: {
        label: 'could not connect',
        class: 'transient',
        exit: 'CONNECTION_FAILED',
        summary: 'could not connect',
        hint: 'check the network (or --server); backing off, then retrying'
    },
    credentials_missing: {
        label: 'stored credentials gone',
        class: 'fatal',
        exit: 'LOGGED_OUT',
        summary: 'the stored credentials are gone (the client started a new pairing)',
        hint: REPAIR
    },
    socket_closed: {
        label: 'socket closed',
        class: 'transient',
        exit: 'CONNECTION_FAILED',
        summary: 'the socket closed',
        hint: 'backing off, then reconnecting'
    },
    failure_temp_banned: {
        label: 'account temporarily banned',
        class: 'fatal',
        exit: 'ACCOUNT_BLOCKED',
        summary: 'the account is temporarily banned',
        hint: 'wait (hours) before connecting again; retrying now makes it worse'
    }
})

/** Numeric codes (failure reasons and stream error codes) that decide on their own. */
const RULES_BY_CODE: Readonly<Record<number, Rule>> = Object.freeze({
    515: RULES_BY_REASON.stream_error_force_login as Rule,
    516: RULES_BY_REASON.stream_error_force_logout as Rule,
    401: RULES_BY_REASON.failure_not_authorized as Rule,
    402: RULES_BY_REASON.failure_temp_banned as Rule,
    403: RULES_BY_REASON.failure_locked as Rule,
    405: RULES_BY_REASON.failure_client_too_old as Rule,
    406: RULES_BY_REASON.failure_banned as Rule,
    409: RULES_BY_REASON.failure_bad_user_agent as Rule,
    500: {
        label: 'server error',
        class: 'transient',
        exit: 'CONNECTION_FAILED',
        summary: 'internal server error',
        hint: 'backing off, then reconnecting'
    },
    503: RULES_BY_REASON.failure_service_unavailable as Rule
})

const UNKNOWN_LOGOUT: Rule = {
    label: 'logged out',
    class: 'fatal',
    exit: 'LOGGED_OUT',
    summary: 'the server logged the device out',
    hint: REPAIR
}

const UNKNOWN_TRANSIENT: Rule = {
    label: 'connection closed',
    class: 'transient',
    exit: 'CONNECTION_FAILED',
    summary: 'the connection closed',
    hint: 'backing off, then reconnecting'
}

/**
 * Classifies a close event. `sessionId` fills the `zapo pair --session …` hints.
 *
 * Order matters: zapo-js 0.3 flags a 515 close with `isLogout: true` (it then re-pairs unless
 * the client keeps its store, see reconnect.ts), so a known reason or code wins over `isLogout`.
 */
export function classifyClose(
    event: CloseEventLike,
    sessionId: string | null = null
): CloseClassification {
    const code = typeof event.code === 'number' && Number.isFinite(event.code) ? event.code : null
    const rule =
        RULES_BY_REASON[event.reason] ??
        (code !== null ? RULES_BY_CODE[code] : undefined) ??
        (event.isLogout === true ? UNKNOWN_LOGOUT : UNKNOWN_TRANSIENT)
    // a known session: the re-pair command, with this run's --store and server, works pasted
    const hint =
        sessionId === null
            ? rule.hint
            : rule.hint.replace(
                  'zapo pair --session <session>',
                  zapoCommand('pair', '--session', sessionId)
              )
    return Object.freeze({
        class: rule.class,
        reason: event.reason,
        code,
        exit: rule.exit,
        summary: rule.summary,
        hint
    })
}

/**
 * A close reason in a few words, with its code: "server asked to reconnect (515)", "logged out on
 * the phone (401)". For people only: `--json` keeps zapo-js's names (`stream_error_force_login`).
 */
export function describeReason(reason: string, code: number | null = null): string {
    const rule = RULES_BY_REASON[reason] ?? (code !== null ? RULES_BY_CODE[code] : undefined)
    const label = rule?.label ?? reason.replace(/_/g, ' ')
    return code !== null ? `${label} (${code})` : label
}

/** A `<failure reason=N>` stanza (a refused login) for people: "login failed: service unavailable (503)". */
export function describeFailure(failureReason: number | null): string {
    if (failureReason === null) return 'login failed'
    const rule = RULES_BY_CODE[failureReason]
    return rule
        ? `login failed: ${rule.label} (${failureReason})`
        : `login failed (reason ${failureReason})`
}

/**
 * The close a `failure` event stands for when zapo-js emits no close event of its own.
 *
 * zapo-js 0.3 closes (and emits `connection` close) for failure reasons 401, 403, 405, 406, 409
 * and 503 only. For 402 (temporarily banned) it emits `failure`, even `connection` open, and
 * reconnects by itself once the server ends the socket: a watcher that waits for a close event
 * would keep logging in to a banned account. Returns null when the library closes by itself.
 */
export function closeForFailure(event: {
    readonly failureReason?: number | null
}): CloseEventLike | null {
    if (event.failureReason === 402)
        return { reason: CLOSE_REASONS.FAILURE_TEMP_BANNED, code: 402, isLogout: false }
    return null
}
