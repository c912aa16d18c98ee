/**
 * One line per event for people: time, session (when several are tailed), type, who, and a
 * short summary in words.
 *
 *     14:02:11  message       Bob <15559990000@s.whatsapp.net>  "see you at 6"
 *     14:02:12  receipt       15559990000@s.whatsapp.net  read 3EB0…
 *     14:02:15  reconnect     connection lost: server asked to reconnect (515) — reconnecting now
 *     14:02:15  connection    reconnected after 68ms
 *
 * The words are for people: close reasons through client/reasons.ts ("logged out on the phone
 * (401)"), durations through util/duration.ts, times as local HH:MM:SS (localTime below, the one
 * style of every time shown here). `--json` keeps the protocol names and ISO UTC times: the line
 * is built from the same record, so both always agree on what happened.
 *
 * On a terminal a long line wraps at word boundaries under the summary column (a hanging indent)
 * instead of running past the width; a file or pipe gets one line per record. Colour per event
 * type through the palette (off when not a TTY, NO_COLOR or --no-color).
 */

import wrapAnsi from 'wrap-ansi'

import { describeFailure, describeReason } from '../client/reasons.js'
import type { EventRecord } from '../client/event-json.js'
import { formatDuration } from '../util/duration.js'
import { palette, type Palette } from './color.js'
import { visibleLength } from './format.js'

const TYPE_WIDTH = 12
const TEXT_LIMIT = 200
/** below this many columns for the summary, wrapping would make more noise than it saves */
const MIN_SUMMARY_WIDTH = 20

const COLOUR_OF: Readonly<Record<string, string>> = Object.freeze({
    group: 'group',
    stopped: 'error',
    failure: 'error',
    error: 'error',
    stanza_error: 'error'
})

export interface EventLineOptions {
    /** a session column (when several sessions are tailed); default true; a function: read at each line */
    readonly sessionColumn?: boolean | (() => boolean)
    /** pad the session column to this width (the longest id; a function: read at each line) */
    readonly sessionWidth?: number | (() => number)
    /**
     * the terminal's width, read at each line (a resized terminal takes effect at once); null or
     * absent: no wrapping (a file or a pipe)
     */
    readonly width?: () => number | null
    /**
     * the server's protocol bulletins (`ib.offline` after every login, …: notifications classified
     * `info_bulletin`) are shown; default false (--json always has them)
     */
    readonly bulletins?: boolean
    /**
     * a `reconnect` line follows every close that is not fatal: the close itself is not shown,
     * the reconnect line says why ("connection lost: … — reconnecting in 2.0s"); default false
     */
    readonly reconnectLines?: boolean
    /** "now" for the date part of times shown (tests); default Date.now */
    readonly now?: () => number
}

export interface EventLineFormatter {
    /** the line(s) for a record, without the final newline; null when it is not shown to people */
    format(record: EventRecord): string | null
}

export function eventLineFormatter(
    color: boolean,
    options: EventLineOptions = {}
): EventLineFormatter {
    const p = palette(color)
    const sessionColumn = (): boolean =>
        typeof options.sessionColumn === 'function'
            ? options.sessionColumn()
            : (options.sessionColumn ?? true)
    const sessionWidth = (): number =>
        typeof options.sessionWidth === 'function'
            ? options.sessionWidth()
            : (options.sessionWidth ?? 0)
    const now = options.now ?? Date.now
    return {
        format: record => {
            if (!shown(record, options)) return null
            const prefix = [
                p.dim(localTime(record.ts, now())),
                ...(sessionColumn() ? [p.session(record.session.padEnd(sessionWidth()))] : []),
                p.event(COLOUR_OF[record.type] ?? record.type, record.type.padEnd(TYPE_WIDTH))
            ].join('  ')
            const rest = [whoOf(record, p), summaryOf(record, p, now())]
                .filter(part => part !== '')
                .join('  ')
            const line = rest === '' ? prefix.trimEnd() : `${prefix}  ${rest}`
            const width = options.width?.() ?? null
            return width === null ? line : wrapUnder(prefix, rest, width)
        }
    }
}

/** Whether people see a record at all (`--json` shows every record). */
function shown(record: EventRecord, options: EventLineOptions): boolean {
    if (record.type === 'notification' && record.classification === 'info_bulletin')
        return options.bulletins === true
    // the end of a session is told once, on stderr, by the command
    if (record.type === 'stopped') return false
    if (
        record.type === 'connection' &&
        record.status === 'close' &&
        options.reconnectLines === true &&
        (record.class === 'routine' || record.class === 'transient')
    )
        return false
    return true
}

/** `prefix  rest`, the rest wrapped at word boundaries to `width`, continuation lines under it. */
export function wrapUnder(prefix: string, rest: string, width: number): string {
    const indent = visibleLength(prefix) + 2
    const room = width - indent
    if (rest === '') return prefix.trimEnd()
    if (room < MIN_SUMMARY_WIDTH)
        return wrapAnsi(`${prefix}  ${rest}`, width, { hard: true, trim: true })
    const pad = ' '.repeat(indent)
    return wrapAnsi(rest, room, { hard: true, trim: true })
        .split('\n')
        .map((line, i) => (i === 0 ? `${prefix}  ${line}` : pad + line))
        .join('\n')
}

const pad2 = (n: number): string => String(n).padStart(2, '0')

/**
 * A time for people: local `HH:MM:SS`, with the local date in front when it is not today
 * (`2026-11-27 18:02:11`). Every time a human line shows (the line's own, a presence's last
 * seen, a call's, …) is written this way; `--json` keeps ISO-8601 UTC.
 */
export function localTime(value: string | number, nowMs: number = Date.now()): string {
    const date = new Date(value)
    if (Number.isNaN(date.getTime())) return String(value)
    const clock = `${pad2(date.getHours())}:${pad2(date.getMinutes())}:${pad2(date.getSeconds())}`
    const day = (d: Date) => `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}`
    const today = day(new Date(nowMs))
    return day(date) === today ? clock : `${day(date)} ${clock}`
}

const ISO_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/

const s = (value: unknown): string | undefined =>
    typeof value === 'string' && value !== '' ? value : undefined
const n = (value: unknown): number | null =>
    typeof value === 'number' && Number.isFinite(value) ? value : null

function whoOf(record: EventRecord, p: Palette): string {
    const from = s(record.from)
    const chat = s(record.chat)
    const name = s(record.pushName)
    const parts: string[] = []
    if (from) parts.push(name ? `${name} <${p.jid(from)}>` : p.jid(from))
    if (chat && chat !== from && (!from || !sameUser(chat, from))) parts.push(`in ${p.jid(chat)}`)
    return parts.join(' ')
}

function sameUser(a: string, b: string): boolean {
    const user = (jid: string) => `${jid.split('@')[0]?.split(':')[0]}@${jid.split('@')[1] ?? ''}`
    return user(a) === user(b)
}

function quote(text: string): string {
    const oneLine = text.replace(/\s+/g, ' ').trim()
    return JSON.stringify(
        oneLine.length > TEXT_LIMIT ? `${oneLine.slice(0, TEXT_LIMIT - 1)}…` : oneLine
    )
}

const words = (...parts: (string | undefined | false)[]): string =>
    parts.filter((part): part is string => typeof part === 'string' && part !== '').join(' ')

function summaryOf(r: EventRecord, p: Palette, nowMs: number): string {
    switch (r.type) {
        case 'message': {
            const text = s(r.text)
            const kind = s(r.kind)
            if (text !== undefined)
                return kind && kind !== 'conversation' && kind !== 'extendedTextMessage'
                    ? `[${kind}] ${quote(text)}`
                    : quote(text)
            return kind ? `[${kind}]` : p.dim('[no content]')
        }
        case 'receipt':
            return words(s(r.receipt) ?? 'delivery', s(r.id))
        case 'presence': {
            const last = s(r.lastSeen)
            return words(
                s(r.presence),
                last !== undefined &&
                    `(last seen ${ISO_UTC.test(last) ? localTime(last, nowMs) : last})`
            )
        }
        case 'chatstate':
            return s(r.state) ?? ''
        case 'call':
            return words(
                s(r.call),
                r.video === true ? 'video' : r.video === false ? 'voice' : undefined,
                s(r.callId)
            )
        case 'notification':
            return words(
                s(r.notification) ?? 'notification',
                s(r.classification) !== undefined &&
                    r.classification !== 'core' &&
                    `(${String(r.classification)})`
            )
        case 'group': {
            const participants = Array.isArray(r.participants)
                ? (r.participants as { jid?: string; phoneJid?: string }[])
                      .map(x => x.jid ?? x.phoneJid ?? '?')
                      .join(', ')
                : ''
            return words(s(r.action), participants, s(r.subject) && quote(String(r.subject)))
        }
        case 'connection': {
            if (r.status === 'open') {
                const down = n(r.downMs)
                if (down !== null) return p.ok(`reconnected after ${formatDuration(down)}`)
                return p.ok(r.isNewLogin === true ? 'connected (new login)' : 'connected')
            }
            const why = describeReason(String(r.reason), n(r.code))
            return r.class === 'fatal'
                ? p.error(`connection closed: ${why}`)
                : `connection lost: ${why}`
        }
        case 'reconnect': {
            const delay = n(r.delayMs) ?? 0
            const attempt = n(r.attempt) ?? 1
            return p.warn(
                `connection lost: ${describeReason(String(r.reason), n(r.code))} — ${
                    delay <= 0 ? 'reconnecting now' : `reconnecting in ${formatDuration(delay)}`
                }${attempt > 1 ? ` (attempt ${attempt})` : ''}`
            )
        }
        case 'failure':
            return p.error(
                words(
                    describeFailure(n(r.failureReason)),
                    s(r.failureMessage) && `(${String(r.failureMessage)})`
                )
            )
        case 'offline_resume':
            return words(
                'offline messages',
                s(r.status),
                n(r.totalStanzas) !== null && `(${String(r.totalStanzas)} stanzas)`
            )
        case 'history_sync':
            return words(
                'history sync',
                s(r.syncType),
                n(r.messagesCount) !== null && `${String(r.messagesCount)} messages`,
                n(r.progress) !== null && `${String(r.progress)}%`
            )
        case 'stopped':
            return p.error(
                `stopped: ${String(r.summary)}${typeof r.code === 'number' ? ` (${r.code})` : ''}: ${String(r.hint)}`
            )
        case 'error':
            return p.error(String(r.message))
        default:
            return compact(r, nowMs)
    }
}

const BASE_KEYS = new Set(['ts', 'session', 'type', 'from', 'chat', 'pushName', 'raw'])

/** The other fields as `key=value`, times in the local style, cut to TEXT_LIMIT. */
function compact(record: EventRecord, nowMs: number): string {
    const parts: string[] = []
    for (const [key, value] of Object.entries(record)) {
        if (BASE_KEYS.has(key) || value === undefined) continue
        const shownValue =
            typeof value === 'string'
                ? ISO_UTC.test(value)
                    ? localTime(value, nowMs)
                    : value
                : JSON.stringify(value)
        parts.push(`${key}=${shownValue}`)
    }
    const text = parts.join(' ')
    return text.length > TEXT_LIMIT ? `${text.slice(0, TEXT_LIMIT - 1)}…` : text
}
