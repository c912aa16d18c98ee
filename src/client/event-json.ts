/**
 * The stable NDJSON schema of `zapo logs --json` (documented in docs/logs.md).
 *
 * Every record is `{ ts, session, type, …fields }`:
 * - `ts`: ISO-8601 time zapo saw the event; `session`: the session id; `type`: one of
 *   EVENT_TYPES (zapo-js event names shortened: message_receipt → receipt, group_event → group)
 * - JIDs are strings; `from` is who caused the event, `chat` the conversation it belongs to
 * - bytes are standard base64 strings (output.ts), secret field names are redacted
 * - message content is the decoded protobuf `Message` as JSON (field names as in WAProto,
 *   empty defaults left out, 64-bit integers as strings, enums as numbers)
 * - the raw binary node of the stanza only with `--raw`, as `raw`
 *
 * Fields are only ever added; a field that is unknown for an event is left out, not null.
 */

import type { CloseClassification } from './reasons.js'
import { EXIT_CODES } from '../errors.js'
import { toJsonValue } from '../output.js'

/** Types of events a session produces (the `--type` vocabulary). */
const EVENT_TYPES = Object.freeze([
    'message',
    'receipt',
    'presence',
    'chatstate',
    'call',
    'notification',
    'group',
    'addon',
    'protocol',
    'chat',
    'history_sync',
    'offline_resume',
    'privacy_token',
    'registration_code',
    'takeover_notice',
    'failure',
    'stanza_error',
    'error',
    'unhandled',
    'connection',
    'reconnect',
    'stopped'
] as const)
export type EventType = (typeof EVENT_TYPES)[number]

/** The session's own lifecycle (and zapo's errors): shown whatever --chat/--from say, never counted by --count. */
const STATUS_TYPES: ReadonlySet<EventType> = new Set([
    'connection',
    'reconnect',
    'stopped',
    'error',
    'failure',
    'offline_resume'
])

/**
 * Status records: the STATUS_TYPES, and the server's info bulletins (notifications classified
 * `info_bulletin`, such as the offline preview sent at every login).
 */
export function isStatusRecord(record: {
    readonly type: string
    readonly classification?: unknown
}): boolean {
    return (
        STATUS_TYPES.has(record.type as EventType) ||
        (record.type === 'notification' && record.classification === 'info_bulletin')
    )
}

/** Types left out unless asked for with --type (noisy bookkeeping of the protocol). */
export const OPT_IN_TYPES: ReadonlySet<EventType> = new Set(['unhandled'])

/** zapo-js client event name → record type. */
export const CLIENT_EVENT_TYPES: Readonly<Record<string, EventType>> = Object.freeze({
    message: 'message',
    message_receipt: 'receipt',
    presence: 'presence',
    chatstate: 'chatstate',
    call: 'call',
    notification: 'notification',
    group_event: 'group',
    message_addon: 'addon',
    message_protocol: 'protocol',
    chat_event: 'chat',
    history_sync_chunk: 'history_sync',
    offline_resume: 'offline_resume',
    privacy_token_update: 'privacy_token',
    registration_code_received: 'registration_code',
    account_takeover_notice: 'takeover_notice',
    failure: 'failure',
    stanza_error: 'stanza_error',
    client_error: 'error',
    stanza_unhandled: 'unhandled',
    connection: 'connection'
})

/** Parses `--type a,b,…` (record types or zapo-js event names). */
export function parseEventTypes(values: readonly string[]): ReadonlySet<EventType> | null {
    const out = new Set<EventType>()
    for (const value of values.flatMap(v => v.split(','))) {
        const name = value.trim().toLowerCase()
        if (name === '') continue
        const type = (EVENT_TYPES as readonly string[]).includes(name)
            ? (name as EventType)
            : CLIENT_EVENT_TYPES[name]
        if (type === undefined) {
            throw new TypeError(`unknown event type "${value}": use ${EVENT_TYPES.join(', ')}`)
        }
        out.add(type)
    }
    return out.size === 0 ? null : out
}

export interface EventRecord {
    readonly ts: string
    readonly session: string
    readonly type: EventType
    /** JSON-ready fields (already through the serialiser) */
    readonly [field: string]: unknown
}

export interface RecordOptions {
    /** include the raw binary node as `raw` */
    readonly raw: boolean
    readonly now?: () => number
}

type Node = {
    readonly tag: string
    readonly attrs: Readonly<Record<string, string>>
    readonly content?: unknown
}
type AnyEvent = Readonly<Record<string, unknown>> & { readonly rawNode?: Node }

/** One client event → one record (null for events the schema does not show). */
export function toEventRecord(
    session: string,
    clientEvent: string,
    payload: unknown,
    options: RecordOptions
): EventRecord | null {
    const type = CLIENT_EVENT_TYPES[clientEvent]
    if (type === undefined) return null
    const event = (payload ?? {}) as AnyEvent
    const fields = FIELDS[type]?.(event) ?? genericFields(event)
    return makeRecord(session, type, fields, options.raw ? event.rawNode : undefined, options.now)
}

/** The policy's decision to reconnect, as a record. */
export function reconnectRecord(
    session: string,
    decision: {
        readonly attempt: number
        readonly delayMs: number
        readonly classification: CloseClassification
    },
    now?: () => number
): EventRecord {
    const c = decision.classification
    return makeRecord(
        session,
        'reconnect',
        {
            attempt: decision.attempt,
            delayMs: decision.delayMs,
            reason: c.reason,
            code: c.code ?? undefined,
            class: c.class
        },
        undefined,
        now
    )
}

/** The session stopped for good (fatal reason, or retries ran out), as a record. */
export function stoppedRecord(
    session: string,
    classification: CloseClassification,
    now?: () => number
): EventRecord {
    return makeRecord(
        session,
        'stopped',
        {
            reason: classification.reason,
            code: classification.code ?? undefined,
            class: classification.class,
            exit: classification.exit,
            exitCode: EXIT_CODES[classification.exit],
            summary: classification.summary,
            hint: classification.hint
        },
        undefined,
        now
    )
}

/** A failure of zapo's own (e.g. `connect()` threw), as an `error` record. */
export function errorRecord(session: string, message: string, now?: () => number): EventRecord {
    return makeRecord(session, 'error', { message }, undefined, now)
}

/** Adds how long the connection was down (ms) to the open `connection` record that ends it. */
export function withDowntime(record: EventRecord, downMs: number): EventRecord {
    return { ...record, downMs: Math.max(0, Math.round(downMs)) }
}

/** Adds the policy's class to a close `connection` record. */
export function withClass(record: EventRecord, classification: CloseClassification): EventRecord {
    return { ...record, class: classification.class }
}

function makeRecord(
    session: string,
    type: EventType,
    fields: Record<string, unknown>,
    raw: Node | undefined,
    now?: () => number
): EventRecord {
    const body: Record<string, unknown> = {
        ts: new Date((now ?? Date.now)()).toISOString(),
        session,
        type
    }
    for (const [key, value] of Object.entries(fields)) {
        if (value === undefined) continue
        // an event field never overwrites ts/session/type: `type` becomes `eventType`, and so on
        body[key in body ? `event${key[0]?.toUpperCase()}${key.slice(1)}` : key] = value
    }
    if (raw !== undefined) body.raw = raw
    return toJsonValue(body) as EventRecord
}

const str = (value: unknown): string | undefined =>
    typeof value === 'string' && value !== '' ? value : undefined
const num = (value: unknown): number | undefined =>
    typeof value === 'number' && Number.isFinite(value) ? value : undefined
const isoSeconds = (value: unknown): string | undefined => {
    const n = num(value)
    return n === undefined ? undefined : new Date(n * 1_000).toISOString()
}
const attr = (event: AnyEvent, name: string): string | undefined =>
    str(event.rawNode?.attrs?.[name])
const firstChild = (event: AnyEvent): Node | undefined => {
    const content = event.rawNode?.content
    return Array.isArray(content) ? (content[0] as Node | undefined) : undefined
}

/** The decoded protobuf as plain JSON-ready data: Long → string, empty defaults dropped. */
export function protoToPlain(value: unknown): unknown {
    if (value === null || value === undefined) return undefined
    if (typeof value !== 'object') return value
    if (value instanceof Uint8Array) return value
    if (isLong(value)) return String(value)
    if (Array.isArray(value)) return value.length === 0 ? undefined : value.map(protoToPlain)
    const out: Record<string, unknown> = {}
    for (const [key, child] of Object.entries(value)) {
        const plain = protoToPlain(child)
        if (plain !== undefined) out[key] = plain
    }
    return out
}

function isLong(value: object): boolean {
    const v = value as { low?: unknown; high?: unknown; unsigned?: unknown }
    return (
        typeof v.low === 'number' && typeof v.high === 'number' && typeof v.unsigned === 'boolean'
    )
}

/** The kind of a message's content: the first content field of the protobuf (conversation, imageMessage, …). */
function contentKind(message: Readonly<Record<string, unknown>> | undefined): string | undefined {
    if (!message) return undefined
    for (const [key, value] of Object.entries(message)) {
        if (key === 'messageContextInfo' || value === null || value === undefined) continue
        if (Array.isArray(value) && value.length === 0) continue
        return key
    }
    return undefined
}

/** The human text of a message: conversation, extended text, or a caption. */
function messageText(message: Readonly<Record<string, unknown>> | undefined): string | undefined {
    if (!message) return undefined
    const m = unwrap(message)
    if (typeof m.conversation === 'string') return m.conversation
    for (const key of ['extendedTextMessage', 'imageMessage', 'videoMessage', 'documentMessage']) {
        const inner = m[key] as Record<string, unknown> | undefined
        const text = inner ? (str(inner.text) ?? str(inner.caption)) : undefined
        if (text !== undefined) return text
    }
    return undefined
}

/** ephemeral / view-once / edited wrappers hold the real message one level down. */
function unwrap(message: Readonly<Record<string, unknown>>): Readonly<Record<string, unknown>> {
    for (const key of [
        'ephemeralMessage',
        'viewOnceMessage',
        'viewOnceMessageV2',
        'documentWithCaptionMessage',
        'editedMessage'
    ]) {
        const wrapper = message[key] as { message?: Record<string, unknown> } | undefined
        if (wrapper?.message) return unwrap(wrapper.message)
    }
    return message
}

function genericFields(event: AnyEvent): Record<string, unknown> {
    const out: Record<string, unknown> = {}
    for (const [key, value] of Object.entries(event)) {
        if (
            key === 'rawNode' ||
            key === 'rawActionNode' ||
            key === 'raw' ||
            typeof value === 'function'
        )
            continue
        out[key] = value
    }
    return out
}

const FIELDS: Partial<Record<EventType, (event: AnyEvent) => Record<string, unknown>>> = {
    message: event => {
        const message = protoToPlain(event.message) as Record<string, unknown> | undefined
        const chat = str(event.chatJid)
        return {
            id: str(event.stanzaId),
            chat,
            from: str(event.senderJid) ?? attr(event, 'participant') ?? chat,
            pushName: attr(event, 'notify'),
            timestamp: isoSeconds(event.timestampSeconds),
            isGroup: event.isGroupChat === true,
            isBroadcast: event.isBroadcastChat === true,
            encryption: str(event.encryptionType),
            kind: contentKind(message),
            text: messageText(message),
            message
        }
    },
    protocol: event => {
        const protocol = protoToPlain(event.protocolMessage) as Record<string, unknown> | undefined
        return {
            id: str(event.stanzaId),
            chat: str(event.chatJid),
            from: str(event.senderJid) ?? str(event.chatJid),
            timestamp: isoSeconds(event.timestampSeconds),
            protocolType: protocol?.type,
            protocol
        }
    },
    receipt: event => ({
        id: str(event.stanzaId),
        chat: str(event.chatJid),
        from: str(event.participantJid) ?? str(event.chatJid),
        receipt: str(event.stanzaType) ?? 'delivery',
        recipient: str(event.recipientJid),
        timestamp: isoSeconds(Number(attr(event, 't')))
    }),
    presence: event => {
        const last = attr(event, 'last')
        return {
            chat: str(event.chatJid),
            from: str(event.chatJid),
            presence: attr(event, 'type') ?? 'available',
            lastSeen:
                last !== undefined && /^\d+$/.test(last)
                    ? new Date(Number(last) * 1_000).toISOString()
                    : last
        }
    },
    chatstate: event => {
        const child = firstChild(event)
        const state =
            child?.tag === 'composing' && child.attrs.media === 'audio' ? 'recording' : child?.tag
        return {
            chat: str(event.chatJid),
            from: str(event.participantJid) ?? attr(event, 'participant') ?? str(event.chatJid),
            state
        }
    },
    call: event => {
        const child = firstChild(event)
        const video =
            Array.isArray(child?.content) && (child.content as Node[]).some(c => c.tag === 'video')
        return {
            id: str(event.stanzaId),
            chat: str(event.chatJid),
            from: str(event.chatJid),
            callId: child?.attrs['call-id'],
            call: child?.tag,
            video: child?.tag === 'offer' ? video : undefined,
            timestamp: isoSeconds(Number(attr(event, 't')))
        }
    },
    notification: event => ({
        id: str(event.stanzaId),
        from: str(event.chatJid),
        notification: str(event.notificationType),
        classification: str(event.classification as string | undefined),
        details: event.details
    }),
    group: event => {
        const {
            rawNode: _raw,
            rawActionNode: _action,
            stanzaId,
            chatJid,
            stanzaType: _type,
            groupJid,
            authorJid,
            timestampSeconds,
            ...rest
        } = event
        return {
            id: str(stanzaId),
            chat: str(groupJid) ?? str(chatJid),
            from: str(authorJid),
            timestamp: isoSeconds(timestampSeconds),
            ...rest
        }
    },
    privacy_token: event => ({
        jid: str(event.jid),
        timestamp: isoSeconds(event.timestampS),
        tokenType: str(event.type),
        source: str(event.source)
    }),
    registration_code: event => ({
        // the code itself is a credential of the account: never shown
        from: str(event.fromDeviceId),
        expires:
            num(event.expiryTimestampMs) !== undefined
                ? new Date(event.expiryTimestampMs as number).toISOString()
                : undefined
    }),
    takeover_notice: event => ({
        attemptAt:
            num(event.attemptTimestampMs) !== undefined
                ? new Date(event.attemptTimestampMs as number).toISOString()
                : undefined,
        newDeviceName: str(event.newDeviceName),
        newDevicePlatform: str(event.newDevicePlatform),
        newDeviceAppVersion: str(event.newDeviceAppVersion)
    }),
    error: event => {
        const error = event.error as Error | undefined
        return { message: error?.message ?? String(error) }
    },
    unhandled: event => ({
        id: str(event.stanzaId),
        chat: str(event.chatJid),
        tag: event.rawNode?.tag,
        reason: str(event.reason)
    }),
    stanza_error: event => ({
        id: str(event.stanzaId),
        chat: str(event.chatJid),
        tag: event.rawNode?.tag,
        stanzaType: str(event.stanzaType),
        errorCode: attr(event, 'code')
    }),
    failure: event => ({
        failureReason: num(event.failureReason),
        failureCode: num(event.failureCode),
        failureMessage: str(event.failureMessage),
        failureUrl: str(event.failureUrl)
    }),
    addon: event => ({
        id: str(event.stanzaId),
        chat: str(event.chatJid),
        from: str(event.senderJid),
        kind: str(event.kind),
        targetMessageId: str(event.targetMessageId),
        addon: protoToPlain(event.decrypted)
    }),
    connection: event => ({
        status: str(event.status),
        reason: str(event.reason),
        code: num(event.code),
        isLogout: event.isLogout === true,
        isNewLogin: event.isNewLogin === true
    })
}

/** Normalises a JID given on the command line: a bare phone number becomes a user JID. */
export function normalizeJidFlag(value: string): string {
    const v = value.trim()
    if (v.includes('@')) return v.toLowerCase()
    const digits = v.replace(/[^\d]/g, '')
    if (digits === '')
        throw new TypeError(
            `"${value}" is not a JID or phone number: use e.g. 15551234567@s.whatsapp.net`
        )
    return `${digits}@s.whatsapp.net`
}

/** Whether an event JID matches a wanted one: the same user (any device), or exactly the same. */
export function jidMatches(eventJid: unknown, wanted: string): boolean {
    if (typeof eventJid !== 'string' || eventJid === '') return false
    const a = eventJid.toLowerCase()
    if (a === wanted) return true
    return userOf(a) === userOf(wanted)
}

function userOf(jid: string): string {
    const at = jid.indexOf('@')
    const user = at === -1 ? jid : jid.slice(0, at)
    const server = at === -1 ? '' : jid.slice(at + 1)
    return `${user.split(':')[0]?.split('_')[0]}@${server}`
}
