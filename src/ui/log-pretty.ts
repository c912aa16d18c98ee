/**
 * The human rendering of log lines: pino-pretty writing synchronously to a stream (stderr).
 * Only the UI layer imports pino-pretty; ui/client-logger.ts asks for a stream here.
 */

import pretty from 'pino-pretty'
import type { Writable } from 'node:stream'

export interface PrettyLogStreamOptions {
    readonly color: boolean
    /** file descriptor to write to (default 2, stderr) */
    readonly fd?: number
    /** write into this stream instead of the descriptor (tests) */
    readonly stream?: Writable
}

export function prettyLogStream(options: PrettyLogStreamOptions): NodeJS.WritableStream {
    return pretty({
        colorize: options.color,
        destination: options.stream ?? options.fd ?? 2,
        sync: true,
        translateTime: 'HH:MM:ss.l',
        ignore: 'pid,hostname',
        singleLine: true
    })
}
