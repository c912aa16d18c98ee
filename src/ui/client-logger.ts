/**
 * Where the client's log lines go and how they look: zapo's line format (ui/log-pretty.ts) on
 * stderr for people,
 * one pino JSON object per line on stderr with `--json`. The logger itself is
 * client/logger.ts's; this module only picks its destination.
 */

import pino from 'pino'
import type { Writable } from 'node:stream'

import { pinoClientLogger, type ClientLogger, type LogLevelName } from '../client/logger.js'
import { prettyLogStream } from './log-pretty.js'

export interface ClientLoggerOptions {
    readonly level: LogLevelName
    /** JSON lines instead of pretty ones */
    readonly json: boolean
    readonly color: boolean
    /** people's lines show the session binding in a column (default true) */
    readonly sessionColumn?: boolean | (() => boolean)
    readonly sessionWidth?: () => number
    /** people's lines wrap to this width (the terminal's), read at each line; null: none */
    readonly width?: () => number | null
    /** fields on every line, e.g. { session: 't1' } */
    readonly bindings?: Readonly<Record<string, string>>
    /** where lines go (default: stderr); tests pass a stream */
    readonly stream?: Writable
}

export function createClientLogger(options: ClientLoggerOptions): ClientLogger {
    const destination: pino.DestinationStream = options.json
        ? (options.stream ?? pino.destination({ dest: 2, sync: true }))
        : (prettyLogStream({
              color: options.color,
              ...(options.sessionColumn !== undefined
                  ? { sessionColumn: options.sessionColumn }
                  : {}),
              ...(options.sessionWidth !== undefined ? { sessionWidth: options.sessionWidth } : {}),
              ...(options.width !== undefined ? { width: options.width } : {}),
              ...(options.stream ? { stream: options.stream } : {})
          }) as pino.DestinationStream)
    return pinoClientLogger(destination, options.level, options.bindings)
}
