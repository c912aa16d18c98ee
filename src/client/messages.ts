/**
 * What zapo-js says in its log lines and error messages, read as facts. The library gives no
 * codes for these: each rule below matches the wording of zapo-js 0.3, and is the one place to
 * revisit when the library changes its messages (see docs/architecture.md). The lines that tell
 * why a connection attempt failed are read in connect-failure.ts.
 */

import type { ClientLogger } from './logger.js'

/** A request that ran out of time: an IQ timeout, a socket or pairing-code request timeout. */
export function isTimeoutMessage(message: string): boolean {
    return /timed? ?out|timeout/i.test(message)
}

/** The server answered an IQ with an error (`iq failed (<code>)`): it did answer. */
export function isIqErrorAnswer(message: string): boolean {
    return /iq failed \(/.test(message)
}

/** A `connect()` that the library's own restart (after a 515) took over: not a failure. */
export function isSupersededConnect(message: string): boolean {
    return /superseded/i.test(message)
}

/** A `client_error` raised by the pairing exchange itself (pair-success, companion finish, …). */
export function isPairingFailureMessage(message: string): boolean {
    return /pair-success|companion_finish|primary_hello|pairing code|primary hello/i.test(message)
}

/** Library log lines that are bookkeeping for a long-running tail, not warnings for its user. */
const BOOKKEEPING_LOG_MESSAGES: ReadonlySet<string> = new Set([
    'clearing pending node queries',
    // after a 515 zapo-js 0.3 has destroyed its write-behind (archive domains are not kept here)
    'write-behind discarded pending write',
    'auth client clearing stored credentials'
])

/**
 * Demotes the library's bookkeeping lines to debug, and every warning once `ending()` says the
 * run is ending: queries cut short by our own disconnect ("client disconnected") are its
 * expected echo.
 */
export function demoteBookkeeping(logger: ClientLogger, ending: () => boolean): ClientLogger {
    const quiet = (message: string): boolean => ending() || BOOKKEEPING_LOG_MESSAGES.has(message)
    return {
        ...logger,
        warn: (message, context) =>
            quiet(message) ? logger.debug(message, context) : logger.warn(message, context),
        info: (message, context) =>
            quiet(message) ? logger.debug(message, context) : logger.info(message, context)
    }
}
