/**
 * One line per event for people: time, session, type, who, and a short summary.
 *
 *     14:02:11.043  t1  message   Bob <15559990000@s.whatsapp.net>  "see you at 6"
 *     14:02:12.310  t1  receipt   15559990000@s.whatsapp.net  read 3EB0…
 *     14:02:15.000  t1  reconnect  reconnecting in 4s (attempt 3): stream_error_other
 *
 * Colour per event type through the palette (off when not a TTY, NO_COLOR or --no-color).
 * The line is built from the same record as the JSON output, so both always agree.
 */

import { formatReconnect } from '../client/reconnect.js'
import type { EventRecord } from '../client/event-json.js'
import { palette, type Palette } from './color.js'

const TYPE_WIDTH = 12
const TEXT_LIMIT = 200

const COLOUR_OF: Readonly<Record<string, string>> = Object.freeze({
    group: 'group',
    stopped: 'error',
    failure: 'error',
    error: 'error',
    stanza_error: 'error'
})

export interface EventLineFormatter {
    format(record: EventRecord): string
}

export function eventLineFormatter(
    color: boolean,
    options: { readonly sessionWidth?: number } = {}
): EventLineFormatter {
    const p = palette(color)
    const sessionWidth = options.sessionWidth ?? 0
    return {
        format: record => {
            const time = p.dim(clock(record.ts))
            const session = p.session(record.session.padEnd(sessionWidth))
            const type = p.event(
                COLOUR_OF[record.type] ?? record.type,
                record.type.padEnd(TYPE_WIDTH)
            )
            const who = whoOf(record, p)
            const summary = summaryOf(record, p)
            return [time, session, type, who, summary].filter(part => part !== '').join('  ')
        }
    }
}

function clock(ts: string): string {
    const date = new Date(ts)
    if (Number.isNaN(date.getTime())) return ts
    const pad = (n: number, w = 2) => String(n).padStart(w, '0')
    return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`
}

const s = (value: unknown): string | undefined =>
    typeof value === 'string' && value !== '' ? value : undefined

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

function summaryOf(r: EventRecord, p: Palette): string {
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
            return [s(r.receipt) ?? 'delivery', s(r.id)].filter(Boolean).join(' ')
        case 'presence':
            return [s(r.presence), r.lastSeen ? `(last seen ${String(r.lastSeen)})` : undefined]
                .filter(Boolean)
                .join(' ')
        case 'chatstate':
            return s(r.state) ?? ''
        case 'call':
            return [
                s(r.call),
                r.video === true ? 'video' : r.video === false ? 'voice' : undefined,
                s(r.callId)
            ]
                .filter(Boolean)
                .join(' ')
        case 'notification':
            return [
                s(r.notification) ?? 'notification',
                s(r.classification) && r.classification !== 'core'
                    ? `(${String(r.classification)})`
                    : undefined
            ]
                .filter(Boolean)
                .join(' ')
        case 'group': {
            const participants = Array.isArray(r.participants)
                ? (r.participants as { jid?: string; phoneJid?: string }[])
                      .map(x => x.jid ?? x.phoneJid ?? '?')
                      .join(', ')
                : ''
            const subject = s(r.subject) ? quote(String(r.subject)) : ''
            return [s(r.action), participants, subject].filter(Boolean).join(' ')
        }
        case 'connection': {
            if (r.status === 'open')
                return p.ok(`open${r.isNewLogin === true ? ' (new login)' : ''}`)
            const code = typeof r.code === 'number' ? ` ${r.code}` : ''
            return `closed: ${String(r.reason)}${code}${r.class ? ` [${String(r.class)}]` : ''}`
        }
        case 'reconnect':
            return p.warn(
                formatReconnect({
                    attempt: typeof r.attempt === 'number' ? r.attempt : 0,
                    delayMs: typeof r.delayMs === 'number' ? r.delayMs : 0,
                    reason: String(r.reason)
                })
            )
        case 'stopped':
            return p.error(
                `stopped: ${String(r.summary)} (${String(r.reason)}${typeof r.code === 'number' ? ` ${r.code}` : ''}): ${String(r.hint)}`
            )
        case 'error':
            return p.error(String(r.message))
        default:
            return compact(r)
    }
}

const BASE_KEYS = new Set(['ts', 'session', 'type', 'from', 'chat', 'pushName', 'raw'])

function compact(record: EventRecord): string {
    const rest: Record<string, unknown> = {}
    for (const [key, value] of Object.entries(record)) if (!BASE_KEYS.has(key)) rest[key] = value
    const text = JSON.stringify(rest)
    return text === '{}'
        ? ''
        : text.length > TEXT_LIMIT
          ? `${text.slice(0, TEXT_LIMIT - 1)}…`
          : text
}
