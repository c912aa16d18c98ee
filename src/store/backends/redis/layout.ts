/**
 * The key layout of `@zapo-js/store-redis` 1.3 (read from its dist/*.js), as data: every key
 * family, durable, archive and cache. A key is `<keyPrefix><head>:<sessionId>` followed by the
 * family's tail. Session ids may contain ':'; the tails' parts do not (users, servers, devices,
 * group ids, hex ids, collections, message ids, JIDs), except a device JID `user:device@server`
 * in `retry:in`, which the tail rule allows.
 *
 * Parsing a key gives every (session, family) reading the layout allows. Most keys have one; a
 * key has two only when a session id is itself a layout token or ends in a key name (`signal:
 * pk:ids:5` is the prekey index of session "5" and prekey 5 of session "ids"). zapo deletes
 * exactly the keys that read as the session's and as no other session's present (exact.ts),
 * and refuses new session ids that would create such readings (`idProblem`).
 */

import type { AnyDomain } from '../../domains.js'

/** The binary sub-keys of an auth hash (auth.store.js BINARY_FIELDS). */
const AUTH_FIELDS = Object.freeze([
    'noise_pub_key',
    'noise_priv_key',
    'identity_pub_key',
    'identity_priv_key',
    'signed_prekey_pub_key',
    'signed_prekey_priv_key',
    'signed_prekey_signature',
    'adv_secret_key',
    'signed_identity',
    'companion_enc_static',
    'server_static_key',
    'routing_info'
] as const)

/** What follows `<head>:<sessionId>`. */
interface Tail {
    /** `:`-separated parts after the session id (0: the key ends with the session id) */
    readonly parts: number
    /** exactly one part, from this list (sub-keys of a hash: auth fields, pub/priv/sig) */
    readonly names?: readonly string[]
    /** an optional last part, from this list (binary sub-keys of a record: data, fp, hash, …) */
    readonly suffixes?: readonly string[]
    /** the last part may be a device JID `user:device@server` (one more ':') */
    readonly deviceJid?: boolean
    /** the parts must match this (prekey ids are integers, sync key ids hex) */
    readonly part?: RegExp
}

export interface KeyFamily {
    readonly head: string
    /** the domain whose clear() removes the family (`signal:meta` is also reset by preKey) */
    readonly domain: AnyDomain | 'chatMetadata'
    readonly tail: Tail
}

const NONE: Tail = { parts: 0 }
const one = (extra: Omit<Tail, 'parts'> = {}): Tail => ({ parts: 1, ...extra })

const REDIS_FAMILIES: readonly KeyFamily[] = Object.freeze([
    // durable
    { head: 'auth', domain: 'auth', tail: NONE },
    { head: 'auth', domain: 'auth', tail: one({ names: AUTH_FIELDS }) },
    { head: 'signal:reg', domain: 'signal', tail: NONE },
    { head: 'signal:reg', domain: 'signal', tail: one({ names: ['pub', 'priv'] }) },
    { head: 'signal:spk', domain: 'signal', tail: NONE },
    { head: 'signal:spk', domain: 'signal', tail: one({ names: ['pub', 'priv', 'sig'] }) },
    { head: 'signal:meta', domain: 'signal', tail: NONE },
    { head: 'signal:pk', domain: 'preKey', tail: one({ part: /^\d+$/ }) },
    { head: 'signal:pk:ids', domain: 'preKey', tail: NONE },
    { head: 'signal:pk:avail', domain: 'preKey', tail: NONE },
    { head: 'signal:sess', domain: 'session', tail: { parts: 3 } },
    { head: 'signal:ident', domain: 'identity', tail: { parts: 3 } },
    { head: 'sk', domain: 'senderKey', tail: { parts: 4 } },
    { head: 'sk:grp', domain: 'senderKey', tail: one() },
    { head: 'skd', domain: 'senderKey', tail: one() },
    {
        head: 'appstate:key',
        domain: 'appState',
        tail: one({ part: /^[0-9a-f]+$/i, suffixes: ['data', 'fp'] })
    },
    { head: 'appstate:key:idx', domain: 'appState', tail: NONE },
    { head: 'appstate:col', domain: 'appState', tail: one({ suffixes: ['hash'] }) },
    { head: 'appstate:idx', domain: 'appState', tail: { parts: 2 } },
    { head: 'appstate:idx:set', domain: 'appState', tail: one() },
    {
        head: 'privtoken',
        domain: 'privacyToken',
        tail: one({ suffixes: ['tc_token', 'nct_salt'] })
    },
    // archive
    { head: 'msg', domain: 'messages', tail: one({ suffixes: ['message_bytes', 'plaintext'] }) },
    { head: 'msg:idx', domain: 'messages', tail: one() },
    { head: 'thread', domain: 'threads', tail: one() },
    { head: 'contact', domain: 'contacts', tail: one() },
    { head: 'contact_pn', domain: 'contacts', tail: one() },
    // caches
    { head: 'retry:out', domain: 'retry', tail: one({ suffixes: ['replay_payload'] }) },
    { head: 'retry:in', domain: 'retry', tail: { parts: 2, deviceJid: true } },
    { head: 'participants', domain: 'participants', tail: one() },
    { head: 'devlist', domain: 'deviceList', tail: one() },
    { head: 'devlistalt', domain: 'deviceList', tail: one() },
    { head: 'msgsecret', domain: 'messageSecret', tail: one() },
    { head: 'chat_metadata', domain: 'chatMetadata', tail: one() }
])

/** zapo's own key (migration marks), under the same prefix. */
const ZAPO_KEYS = Object.freeze(['zapo:migrate:marks'])

/**
 * Words that must not be a `:`-segment of a new session id: every segment of a family head
 * (`idx`, `ids`, `avail`, `grp`, `set`, `key`, `col`, `meta`, `reg`, `spk`, `pk`, `sess`, …),
 * every sub-key name (`noise_priv_key`, `pub`, `data`, `hash`, …) and zapo's own key's words.
 */
const RESERVED_SEGMENTS: ReadonlySet<string> = new Set([
    ...REDIS_FAMILIES.flatMap(f => f.head.split(':')),
    ...REDIS_FAMILIES.flatMap(f => [...(f.tail.names ?? []), ...(f.tail.suffixes ?? [])]),
    ...ZAPO_KEYS.flatMap(k => k.split(':'))
])

export interface KeyReading {
    readonly sessionId: string
    readonly family: KeyFamily
    /** the parts after the session id */
    readonly tail: readonly string[]
}

/** Every reading of one key (without the prefix) that the layout allows. */
export function readKey(key: string): KeyReading[] {
    const out: KeyReading[] = []
    for (const family of REDIS_FAMILIES) {
        if (!key.startsWith(`${family.head}:`)) continue
        const rest = key.slice(family.head.length + 1)
        const parts = rest.split(':')
        for (const tailParts of tailLengths(family.tail)) {
            if (parts.length <= tailParts) continue
            const sessionId = parts.slice(0, parts.length - tailParts).join(':')
            const tail = parts.slice(parts.length - tailParts)
            if (sessionId === '' || !tailMatches(family.tail, tail)) continue
            out.push({ sessionId, family, tail })
        }
    }
    return out
}

/** How many parts a tail may take (a suffix adds one; a device JID adds one). */
function tailLengths(tail: Tail): number[] {
    const lengths = [tail.parts]
    if (tail.suffixes) lengths.push(tail.parts + 1)
    if (tail.deviceJid) lengths.push(tail.parts + 1)
    return lengths
}

function tailMatches(rule: Tail, tail: readonly string[]): boolean {
    if (tail.some(p => p === '')) return false
    if (rule.names) return tail.length === 1 && rule.names.includes(tail[0]!)
    let parts = tail
    if (tail.length === rule.parts + 1) {
        const last = tail[tail.length - 1]!
        if (rule.suffixes?.includes(last)) parts = tail.slice(0, -1)
        else if (rule.deviceJid && /^\d+@/.test(last) && !tail[tail.length - 2]!.includes('@'))
            parts = [...tail.slice(0, -2), `${tail[tail.length - 2]}:${last}`]
        else return false
    }
    if (parts.length !== rule.parts) return false
    return rule.part === undefined || parts.every(p => rule.part!.test(p))
}

/**
 * Why a new session id must not be written to a Redis store (null when it may): a `:`-segment
 * that is a layout word or a key name would make its keys read as another session's, and an id
 * that another present id extends with ':' (or that extends one) shares its key patterns.
 */
export function idProblem(sessionId: string, present: readonly string[]): string | null {
    const reserved = sessionId.split(':').find(segment => RESERVED_SEGMENTS.has(segment))
    if (reserved !== undefined) {
        return `"${reserved}" is a word of the Redis store's key layout, so some keys of "${sessionId}" would read as another session's`
    }
    const nested = present.find(
        other =>
            other !== sessionId &&
            (other.startsWith(`${sessionId}:`) || sessionId.startsWith(`${other}:`))
    )
    if (nested !== undefined) {
        return `it and "${nested}" are one a prefix of the other at a ':', so the Redis store's key patterns for one match the other's keys`
    }
    return null
}
