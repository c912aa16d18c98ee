/**
 * The client's own log lines, and zapo's, through pino. The result implements zapo-js's
 * `Logger` (level, trace/debug/info/warn/error(message, context)) and is what createWaClient
 * gets as `logger`. Where the lines go and how they look (pretty for people, JSON lines with
 * `--json`) is the UI's choice: ui/client-logger.ts builds the destination and calls
 * `pinoClientLogger`.
 *
 * Context objects go through output.ts's serialiser before pino sees them: bytes become
 * base64, and every field named in SECRET_FIELDS is redacted whatever its depth, so no key
 * material reaches a log line even at trace level.
 */

import pino from 'pino'
import type { Logger } from 'zapo-js'
import type { Origin } from '../config.js'
import { usageError } from '../errors.js'
import { toJsonValue } from '../output.js'

export const LOG_LEVELS = Object.freeze([
    'trace',
    'debug',
    'info',
    'warn',
    'error',
    'silent'
] as const)
export type LogLevelName = (typeof LOG_LEVELS)[number]
type ZapoLogLevel = Logger['level']

/** The library's own log lines are shown only when asked for (--log-level, --debug). */
export const DEFAULT_LOG_LEVEL: LogLevelName = 'silent'

/**
 * The client library's log level: --log-level LEVEL, else debug with --debug, else none. The one
 * rule for every command that connects (logs, check --connect, logout) and for `zapo config`.
 */
export function resolveLogLevel(
    flag: string | undefined,
    debug: boolean
): { readonly value: LogLevelName; readonly origin: Origin } {
    if (flag !== undefined)
        return { value: parseLogLevel(flag), origin: { source: 'flag', name: '--log-level' } }
    if (debug) return { value: 'debug', origin: { source: 'flag', name: '--debug' } }
    return { value: DEFAULT_LOG_LEVEL, origin: { source: 'default' } }
}

export function parseLogLevel(value: string, flag = '--log-level'): LogLevelName {
    const level = value.trim().toLowerCase()
    if (!(LOG_LEVELS as readonly string[]).includes(level)) {
        throw usageError(`${flag} "${value}" is not a level: use one of ${LOG_LEVELS.join(', ')}`)
    }
    return level as LogLevelName
}

export interface ClientLogger extends Logger {
    /** the same sink with more bound fields (one per session) */
    child(bindings: Readonly<Record<string, string>>): ClientLogger
}

/** A pino root writing to `destination`, wrapped as a zapo-js Logger. */
export function pinoClientLogger(
    destination: pino.DestinationStream,
    level: LogLevelName,
    bindings?: Readonly<Record<string, string>>
): ClientLogger {
    const root = pino(
        {
            level,
            base: null,
            timestamp: pino.stdTimeFunctions.isoTime,
            formatters: { level: label => ({ level: label }) }
        },
        destination
    )
    return adapt(bindings ? root.child(bindings) : root)
}

function adapt(log: pino.Logger): ClientLogger {
    const write =
        (method: 'trace' | 'debug' | 'info' | 'warn' | 'error') =>
        (message: string, context?: Readonly<Record<string, unknown>>): void => {
            if (!log.isLevelEnabled(method)) return
            if (context === undefined) log[method](message)
            else log[method](toJsonValue(context) as Record<string, unknown>, message)
        }
    const level = log.level as string
    return {
        // zapo-js reads `level` to decide on costly trace work; 'silent' maps to its quietest
        level: (level === 'silent' || level === 'fatal' ? 'error' : level) as ZapoLogLevel,
        trace: write('trace'),
        debug: write('debug'),
        info: write('info'),
        warn: write('warn'),
        error: write('error'),
        child: bindings => adapt(log.child(bindings))
    }
}
