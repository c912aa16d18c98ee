/**
 * What `zapo sandbox` shows people: the start screen (with one copy-paste `export` line) and one
 * log line per event that matters to someone pairing or testing by hand, with its local time:
 *
 *     12:03:04  qr          #3 waits for a scan: paste its QR string here
 *     12:03:09  paired      15551234567:1@s.whatsapp.net by QR (#3)
 *     12:03:10  login       15551234567:1@s.whatsapp.net (#4)
 *     12:03:11  message     15550001111 → 15551234567:1@s.whatsapp.net
 *     12:03:12  fault       replaced → 15551234567:1@s.whatsapp.net
 *
 * Every line is cut to the terminal's width. Events arrive as plain records (the sandbox's own
 * types stay in src/sandbox/).
 */

import { shellQuote } from '../hints.js'
import { palette, type Palette } from './color.js'
import { localTime } from './event-line.js'
import { fit } from './format.js'

/** Local wall-clock time, HH:MM:SS: zapo's one time style for people (event-line.ts). */
function localClock(at: Date = new Date()): string {
    return localTime(at.getTime())
}

/** A value single-quoted for sh: pasted, it is one word, verbatim (hints.ts, the one quoting). */
const quoted = (value: string): string => shellQuote(value, { always: true })

/**
 * `export ZAPO_SERVER=… ZAPO_SERVER_ROOT_CA=…`: pasted into a shell, the connecting commands use
 * the sandbox. One line; when that is wider than `columns`, two joined by a backslash (a shell
 * reads them as one command), so nothing is cut or wrapped mid-value on the screen.
 */
export function exportLines(
    server: { readonly url: string; readonly rootCa: string },
    columns: number = Number.POSITIVE_INFINITY
): string[] {
    const url = `ZAPO_SERVER=${quoted(server.url)}`
    const rootCa = `ZAPO_SERVER_ROOT_CA=${quoted(server.rootCa)}`
    const one = `export ${url} ${rootCa}`
    return one.length < columns ? [one] : [`export ${url} \\`, `  ${rootCa}`]
}

export interface SandboxStartInfo {
    readonly url: string
    readonly rootCa: string
    readonly controlUrl: string
    readonly autoScanMs: number | null
    /** the sandbox reads QR strings and pairing codes from its standard input */
    readonly readsInput: boolean
}

/**
 * The start screen (stdout). The export line is never cut: it is one line to copy whole, and
 * the terminal wraps it; the other lines fit the width.
 */
export function startScreen(info: SandboxStartInfo, color: boolean, columns: number): string[] {
    const p = palette(color)
    const width = Math.max(20, columns - 1)
    const lines = [
        fit(p.strong('zapo sandbox: a local protocol server (nothing reaches WhatsApp)'), width),
        'Point zapo at it (paste into another terminal):',
        ...exportLines(info, columns),
        fit(`control API  ${info.controlUrl} (loopback only; docs/sandbox.md)`, width)
    ]
    if (info.autoScanMs !== null)
        lines.push(fit(`auto scan    ${info.autoScanMs} ms after a QR is handed over`, width))
    if (info.readsInput)
        lines.push(
            fit('To scan: paste the QR string (or type the pairing code) zapo pair shows.', width)
        )
    lines.push(p.dim('Stop with Ctrl-C.'))
    return lines
}

const NAME_WIDTH = 10

type SandboxEvent = Readonly<Record<string, unknown>>

const str = (value: unknown): string => (typeof value === 'string' ? value : '')
const conn = (event: SandboxEvent): string =>
    typeof event.connectionId === 'number' ? `#${event.connectionId}` : ''

/**
 * One log line for a sandbox event, or null for events people need not see (every
 * connection, an unpaired disconnect, stanza traffic, QR rotations after the first).
 */
export function sandboxLogLine(
    name: string,
    event: SandboxEvent,
    options: {
        readonly color: boolean
        readonly columns: number
        readonly at?: Date
        /** a person can paste into the sandbox (its input is a terminal): say so */
        readonly pasting?: boolean
    }
): string | null {
    const p = palette(options.color)
    const text = describe(name, event, p, options.pasting === true)
    if (text === null) return null
    const width = Math.max(20, options.columns - 1)
    const line = `${p.dim(localClock(options.at))}  ${text.label.padEnd(NAME_WIDTH)}  ${text.detail}`
    return fit(line, width)
}

/** A line the sandbox writes about its own doing (a scan typed in, a refused input). */
export function sandboxNoteLine(
    label: string,
    detail: string,
    options: { readonly color: boolean; readonly columns: number; readonly at?: Date }
): string {
    const p = palette(options.color)
    const width = Math.max(20, options.columns - 1)
    return fit(`${p.dim(localClock(options.at))}  ${label.padEnd(NAME_WIDTH)}  ${detail}`, width)
}

function describe(
    name: string,
    event: SandboxEvent,
    p: Palette,
    pasting: boolean
): { readonly label: string; readonly detail: string } | null {
    switch (name) {
        case 'qr':
            return {
                label: 'qr',
                detail: `${conn(event)} waits for a scan${pasting ? ': paste its QR string here' : ''}`
            }
        case 'pairing-code':
            return {
                label: 'code',
                detail: `${conn(event)} asked for a pairing code for +${str(event.phone)}${pasting ? ': type the code here' : ''}`
            }
        case 'paired':
            return {
                label: 'paired',
                detail: `${p.jid(str(event.jid))} by ${event.via === 'code' ? 'code' : 'QR'} (${conn(event)})`
            }
        case 'pairing-failed':
            return {
                label: 'refused',
                detail: `${conn(event)} pairing failed: ${str(event.reason)}`
            }
        case 'login':
            return { label: 'login', detail: `${p.jid(str(event.jid))} (${conn(event)})` }
        case 'login-refused':
            return {
                label: 'refused',
                detail: `login of ${p.jid(str(event.jid))}: ${str(event.kind)} (${String(event.reason)})`
            }
        case 'disconnect':
            return typeof event.jid === 'string'
                ? { label: 'disconnect', detail: `${p.jid(event.jid)} (${conn(event)})` }
                : null
        case 'fault':
            return {
                label: 'fault',
                detail: `${p.warn(str(event.kind))} → ${p.jid(str(event.target))}`
            }
        case 'message':
            return {
                label: 'message',
                detail: `${str(event.from)} → ${p.jid(str(event.to))}${typeof event.group === 'string' ? ` in ${event.group}` : ''}`
            }
        case 'peer-message':
            return {
                label: 'reply',
                detail: `${p.jid(str(event.from))} → ${str(event.peer)}`
            }
        case 'device-removed':
            return { label: 'unlinked', detail: `${p.jid(str(event.jid))} logged out` }
        default:
            return null
    }
}
