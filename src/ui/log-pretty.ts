/**
 * The human rendering of log lines (zapo-js's own, with --log-level / --debug): pino-pretty
 * writing synchronously to a stream (stderr), each line in zapo's line format, the one `zapo logs`
 * uses for events: local time, session (when several are shown), level in the type column, the
 * message, then the context as `key=value`.
 *
 *     14:02:15  t1  warn          socket closed, scheduling reconnect  code=1006 reconnectAfterMs=2000
 *
 * Only the UI layer imports pino-pretty; ui/client-logger.ts asks for a stream here.
 */

import pretty from 'pino-pretty'
import type { Writable } from 'node:stream'

import { palette } from './color.js'
import { localTime, wrapUnder } from './event-line.js'

export interface PrettyLogStreamOptions {
    readonly color: boolean
    /** a session column (the `session` binding), as the event lines have one; default true */
    readonly sessionColumn?: boolean | (() => boolean)
    /** pad the session column to this width (read at each line: known once sessions are) */
    readonly sessionWidth?: () => number
    /** the terminal's width, read at each line: long lines wrap under the message; null: none */
    readonly width?: () => number | null
    /** file descriptor to write to (default 2, stderr) */
    readonly fd?: number
    /** write into this stream instead of the descriptor (tests) */
    readonly stream?: Writable
}

/** as wide as the type column of the event lines, so both kinds of line align */
const LEVEL_WIDTH = 12
const CONTEXT_LIMIT = 400
const OWN_KEYS = new Set(['level', 'time', 'msg', 'session', 'pid', 'hostname'])

export function prettyLogStream(options: PrettyLogStreamOptions): NodeJS.WritableStream {
    const p = palette(options.color)
    const tone = (level: string): ((text: string) => string) =>
        level === 'error' || level === 'fatal' ? p.error : level === 'warn' ? p.warn : p.dim
    return pretty({
        colorize: false,
        destination: options.stream ?? options.fd ?? 2,
        sync: true,
        ignore: 'time,level,pid,hostname',
        hideObject: true,
        // one line a record: the message format is the whole line (no object after it)
        messageFormat: (log, messageKey) => {
            const level = String(log.level ?? 'info')
            const time =
                typeof log.time === 'string' || typeof log.time === 'number' ? log.time : Date.now()
            const session = typeof log.session === 'string' ? log.session : ''
            const context = Object.entries(log)
                .filter(([key]) => !OWN_KEYS.has(key) && key !== messageKey)
                .map(
                    ([key, value]) =>
                        `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`
                )
                .join(' ')
            const prefix = [
                p.dim(localTime(time)),
                ...((typeof options.sessionColumn === 'function'
                    ? !options.sessionColumn()
                    : options.sessionColumn === false) || session === ''
                    ? []
                    : [p.session(session.padEnd(options.sessionWidth?.() ?? 0))]),
                tone(level)(level.padEnd(LEVEL_WIDTH))
            ].join('  ')
            const rest = [
                String(log[messageKey] ?? ''),
                context.length > CONTEXT_LIMIT ? `${context.slice(0, CONTEXT_LIMIT - 1)}…` : context
            ]
                .filter(part => part !== '')
                .join('  ')
            const width = options.width?.() ?? null
            return width === null ? `${prefix}  ${rest}` : wrapUnder(prefix, rest, width)
        }
    })
}
