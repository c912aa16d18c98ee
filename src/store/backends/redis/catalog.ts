/**
 * Redis catalog over the key layout of `@zapo-js/store-redis` (`<keyPrefix>` then):
 *   auth:<sid> (+ auth:<sid>:<field>)            signal:reg:<sid> (+ :pub :priv)
 *   signal:spk:<sid> (+ :pub :priv :sig)         signal:meta:<sid>  (next_prekey_id, …)
 *   signal:pk:<sid>:<id>, signal:pk:ids:<sid> (set), signal:pk:avail:<sid> (zset, not uploaded)
 *   signal:sess:<sid>:<user>:<server>:<device>   signal:ident:<sid>:<user>:<server>:<device>
 *   sk:<sid>:<group>:<user>:<server>:<device>    sk:grp:<sid>:<group>   skd:<sid>:<group> (hash)
 *   appstate:key:<sid>:<hex> (+ :data :fp), appstate:key:idx:<sid> (zset of hex ids)
 *   appstate:col:<sid>:<collection> (+ :hash), appstate:idx…   privtoken:<sid>:<jid> (+ :tc_token :nct_salt)
 * Session ids may contain ':'; users, servers, devices, group ids, collections and token JIDs
 * do not, so a key is split from the right. Only SCAN and reads run here.
 */

import type { Redis } from 'ioredis'
import type { SignalAddress } from 'zapo-js/signal'
import type { BackendSpec } from '../../address.js'
import type { SchemaState, SessionCounts } from '../../records.types.js'
import type { SessionKeyLists, ZapoSessionCatalog } from '../../catalog/types.js'
import { EMPTY_COUNTS, sortStrings } from '../../catalog/types.js'

export const SCAN_COUNT = 1_000

export function escapeGlob(value: string): string {
    return value.replace(/[*?[\]\\^]/g, ch => `\\${ch}`)
}

export async function* scan(redis: Redis, pattern: string): AsyncIterable<readonly string[]> {
    let cursor = '0'
    do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT)
        cursor = next
        if (keys.length > 0) yield keys
    } while (cursor !== '0')
}

interface Tally {
    credentials: boolean
    registration: boolean
    signedPreKey: boolean
    preKeySet: boolean
    signalSessions: number
    identities: number
    senderKeys: number
    distributionGroups: string[]
    appStateKeyIndex: boolean
    appStateCollections: number
    privacyTokens: number
}

const newTally = (): Tally => ({
    credentials: false,
    registration: false,
    signedPreKey: false,
    preKeySet: false,
    signalSessions: 0,
    identities: 0,
    senderKeys: 0,
    distributionGroups: [],
    appStateKeyIndex: false,
    appStateCollections: 0,
    privacyTokens: 0
})

/** Splits `<sid>:<n parts>` from the right: the session id, or null when too short. */
function sidOf(rest: string, trailingParts: number): string | null {
    const parts = rest.split(':')
    if (parts.length < trailingParts + 1) return null
    const sid = parts.slice(0, parts.length - trailingParts).join(':')
    return sid === '' ? null : sid
}

/** Classifies one key (without the prefix): which session it belongs to and what it adds. */
function classify(key: string): { sid: string; apply: (t: Tally) => void } | null {
    const after = (p: string): string | null => (key.startsWith(p) ? key.slice(p.length) : null)
    let rest: string | null
    let sid: string | null
    if ((rest = after('auth:')) !== null) {
        if (!rest.endsWith(':noise_pub_key')) return null
        sid = sidOf(rest, 1)
        return sid ? { sid, apply: t => void (t.credentials = true) } : null
    }
    if ((rest = after('signal:reg:')) !== null) {
        if (!rest.endsWith(':pub')) return null
        sid = sidOf(rest, 1)
        return sid ? { sid, apply: t => void (t.registration = true) } : null
    }
    if ((rest = after('signal:spk:')) !== null) {
        if (!rest.endsWith(':sig')) return null
        sid = sidOf(rest, 1)
        return sid ? { sid, apply: t => void (t.signedPreKey = true) } : null
    }
    if ((rest = after('signal:pk:ids:')) !== null) {
        return rest ? { sid: rest, apply: t => void (t.preKeySet = true) } : null
    }
    if ((rest = after('signal:sess:')) !== null) {
        sid = sidOf(rest, 3)
        return sid ? { sid, apply: t => void (t.signalSessions += 1) } : null
    }
    if ((rest = after('signal:ident:')) !== null) {
        sid = sidOf(rest, 3)
        return sid ? { sid, apply: t => void (t.identities += 1) } : null
    }
    if (after('sk:grp:') !== null) return null
    if ((rest = after('sk:')) !== null) {
        sid = sidOf(rest, 4)
        return sid ? { sid, apply: t => void (t.senderKeys += 1) } : null
    }
    if ((rest = after('skd:')) !== null) {
        sid = sidOf(rest, 1)
        const k = key
        return sid ? { sid, apply: t => void t.distributionGroups.push(k) } : null
    }
    if ((rest = after('appstate:key:idx:')) !== null) {
        return rest ? { sid: rest, apply: t => void (t.appStateKeyIndex = true) } : null
    }
    if ((rest = after('appstate:col:')) !== null) {
        if (rest.endsWith(':hash')) return null
        sid = sidOf(rest, 1)
        return sid ? { sid, apply: t => void (t.appStateCollections += 1) } : null
    }
    if ((rest = after('privtoken:')) !== null) {
        if (rest.endsWith(':tc_token') || rest.endsWith(':nct_salt')) return null
        sid = sidOf(rest, 1)
        return sid ? { sid, apply: t => void (t.privacyTokens += 1) } : null
    }
    return null
}

/** The per-session key families enumerated from one key, for `sessionKeys`. */
function keyDetail(
    key: string
): { sid: string; family: keyof SessionKeyLists; tail: string[] } | null {
    const families: readonly [string, keyof SessionKeyLists, number][] = [
        ['signal:sess:', 'sessionAddresses', 3],
        ['signal:ident:', 'identityAddresses', 3],
        ['sk:grp:', 'senderKeyGroupIds', 1],
        ['skd:', 'senderKeyGroupIds', 1],
        ['appstate:col:', 'appStateCollections', 1],
        ['privtoken:', 'privacyTokenJids', 1]
    ]
    for (const [head, family, trailing] of families) {
        if (!key.startsWith(head)) continue
        const rest = key.slice(head.length)
        if (family === 'appStateCollections' && rest.endsWith(':hash')) return null
        if (
            family === 'privacyTokenJids' &&
            (rest.endsWith(':tc_token') || rest.endsWith(':nct_salt'))
        )
            return null
        const sid = sidOf(rest, trailing)
        if (!sid) return null
        const tail = rest.slice(sid.length + 1).split(':')
        return tail.every(p => p !== '') ? { sid, family, tail } : null
    }
    return null
}

export function redisCatalog(redis: Redis, spec: BackendSpec): ZapoSessionCatalog {
    const prefix = spec.keyPrefix ?? ''
    const k = (...parts: string[]): string => `${prefix}${parts.join(':')}`

    /** One pass over the prefix's keys, tallied per session (only `wanted` ones when given). */
    const tallyAll = async (wanted: ReadonlySet<string> | null): Promise<Map<string, Tally>> => {
        const tallies = new Map<string, Tally>()
        // a few sessions: let the server filter by session id (one pass per id, fewer keys sent)
        const patterns =
            wanted && wanted.size <= 4
                ? [...wanted].map(id => `${escapeGlob(prefix)}*${escapeGlob(id)}*`)
                : [`${escapeGlob(prefix)}*`]
        // one set across the patterns: `*tenant*` also returns the keys of "tenant:42@x", which
        // that id's own pattern returns again
        const seen = new Set<string>()
        for (const pattern of patterns) await tallyPattern(pattern, wanted, tallies, seen)
        return tallies
    }

    const tallyPattern = async (
        pattern: string,
        wanted: ReadonlySet<string> | null,
        tallies: Map<string, Tally>,
        seen: Set<string>
    ): Promise<void> => {
        for await (const keys of scan(redis, pattern)) {
            for (const full of keys) {
                const hit = classify(full.slice(prefix.length))
                if (!hit || (wanted && !wanted.has(hit.sid))) continue
                // SCAN may return a key more than once (only counted keys are remembered:
                // the bulk of a store, its prekey hashes, is never counted by scanning)
                if (seen.has(full)) continue
                seen.add(full)
                let t = tallies.get(hit.sid)
                if (!t) tallies.set(hit.sid, (t = newTally()))
                hit.apply(t)
            }
        }
    }

    /** Keys `<head>:<sid>:<parts…>` whose tail has exactly `trailing` parts. */
    async function* tails(
        head: string,
        sessionId: string,
        trailing: number
    ): AsyncIterable<readonly string[][]> {
        const base = `${k(head, sessionId)}:`
        for await (const keys of scan(redis, `${escapeGlob(base)}*`)) {
            const out: string[][] = []
            for (const key of keys) {
                const parts = key.slice(base.length).split(':')
                if (parts.length === trailing && parts.every(p => p !== '')) out.push(parts)
            }
            if (out.length > 0) yield out
        }
    }

    async function* paged<T>(
        source: AsyncIterable<readonly T[]>,
        pageSize: number,
        sort?: (a: T, b: T) => number
    ): AsyncIterable<readonly T[]> {
        // SCAN may return a key twice and in any order: collect, dedupe, sort, then page
        const all: T[] = []
        for await (const chunk of source) all.push(...chunk)
        const seen = new Set<string>()
        const unique = all.filter(item => {
            const key = JSON.stringify(item)
            if (seen.has(key)) return false
            seen.add(key)
            return true
        })
        if (sort) unique.sort(sort)
        for (let at = 0; at < unique.length; at += pageSize) yield unique.slice(at, at + pageSize)
    }

    async function* mapped<A, B>(
        source: AsyncIterable<readonly A[]>,
        fn: (a: A) => B
    ): AsyncIterable<readonly B[]> {
        for await (const chunk of source) yield chunk.map(fn)
    }

    const byString = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)
    const byAddress = (a: SignalAddress, b: SignalAddress): number =>
        byString(a.user, b.user) || byString(a.server ?? '', b.server ?? '') || a.device - b.device
    const toAddress = (p: string[]): SignalAddress => ({
        user: p[0]!,
        server: p[1]!,
        device: Number(p[2])
    })

    const catalog: ZapoSessionCatalog = {
        kind: 'redis',
        async schemaState() {
            for await (const keys of scan(redis, `${escapeGlob(prefix)}*`)) {
                if (keys.some(key => classify(key.slice(prefix.length)) !== null)) {
                    return {
                        state: 'ready' as SchemaState,
                        detail: `zapo keys under prefix "${prefix}"`
                    }
                }
            }
            return {
                state: 'missing' as SchemaState,
                detail: `no zapo keys under prefix "${prefix}"`
            }
        },
        async listSessionIds() {
            return sortStrings((await tallyAll(null)).keys())
        },
        async counts(sessionId) {
            return (await catalog.countsMany([sessionId])).get(sessionId) ?? EMPTY_COUNTS
        },
        async countsMany(sessionIds) {
            const ids = [...new Set(sessionIds)]
            const tallies = await tallyAll(new Set(ids))
            const pipeline = redis.pipeline()
            const plan: { id: string; pk: boolean; ask: boolean; groups: number }[] = []
            for (const id of ids) {
                const t = tallies.get(id)
                if (!t) continue
                if (t.preKeySet) {
                    pipeline.scard(k('signal:pk:ids', id))
                    pipeline.zcard(k('signal:pk:avail', id))
                }
                if (t.appStateKeyIndex) pipeline.zcard(k('appstate:key:idx', id))
                for (const g of t.distributionGroups) pipeline.hlen(`${prefix}${g}`)
                plan.push({
                    id,
                    pk: t.preKeySet,
                    ask: t.appStateKeyIndex,
                    groups: t.distributionGroups.length
                })
            }
            const results = plan.length > 0 ? ((await pipeline.exec()) ?? []) : []
            let at = 0
            const next = (): number => {
                const [err, value] = results[at++] ?? [null, 0]
                if (err) throw err
                return Number(value ?? 0)
            }
            const out = new Map<string, SessionCounts>()
            for (const id of ids) out.set(id, EMPTY_COUNTS)
            for (const p of plan) {
                const t = tallies.get(p.id)!
                let preKeys = 0
                let available = 0
                if (p.pk) {
                    preKeys = next()
                    available = next()
                }
                const appStateSyncKeys = p.ask ? next() : 0
                let distributions = 0
                for (let i = 0; i < p.groups; i += 1) distributions += next()
                out.set(p.id, {
                    credentials: t.credentials,
                    registration: t.registration,
                    signedPreKey: t.signedPreKey,
                    preKeys,
                    preKeysUploaded: Math.max(0, preKeys - available),
                    signalSessions: t.signalSessions,
                    identities: t.identities,
                    senderKeys: t.senderKeys,
                    senderKeyDistributions: distributions,
                    appStateSyncKeys,
                    appStateCollections: t.appStateCollections,
                    privacyTokens: t.privacyTokens
                })
            }
            return out
        },
        async sessionKeys(sessionId) {
            const lists: { [F in keyof SessionKeyLists]: Set<string> } = {
                sessionAddresses: new Set(),
                identityAddresses: new Set(),
                senderKeyGroupIds: new Set(),
                appStateCollections: new Set(),
                privacyTokenJids: new Set()
            }
            for await (const keys of scan(
                redis,
                `${escapeGlob(prefix)}*${escapeGlob(sessionId)}:*`
            )) {
                for (const key of keys) {
                    const d = keyDetail(key.slice(prefix.length))
                    if (d && d.sid === sessionId) lists[d.family].add(d.tail.join(':'))
                }
            }
            const addresses = (set: Set<string>): SignalAddress[] =>
                [...set].map(t => toAddress(t.split(':'))).sort(byAddress)
            return {
                sessionAddresses: addresses(lists.sessionAddresses),
                identityAddresses: addresses(lists.identityAddresses),
                senderKeyGroupIds: sortStrings(lists.senderKeyGroupIds),
                appStateCollections: sortStrings(lists.appStateCollections),
                privacyTokenJids: sortStrings(lists.privacyTokenJids)
            }
        },
        async nextPreKeyId(sessionId) {
            const raw = await redis.hget(k('signal:meta', sessionId), 'next_prekey_id')
            return raw === null ? null : Number(raw)
        },
        async *preKeyIds(sessionId, pageSize) {
            const ids = (await redis.smembers(k('signal:pk:ids', sessionId)))
                .map(Number)
                .filter(Number.isSafeInteger)
            ids.sort((a, b) => a - b)
            for (let at = 0; at < ids.length; at += pageSize) yield ids.slice(at, at + pageSize)
        },
        sessionAddresses: (sessionId, pageSize) =>
            paged(mapped(tails('signal:sess', sessionId, 3), toAddress), pageSize, byAddress),
        identityAddresses: (sessionId, pageSize) =>
            paged(mapped(tails('signal:ident', sessionId, 3), toAddress), pageSize, byAddress),
        senderKeyGroupIds: (sessionId, pageSize) => {
            async function* both(): AsyncIterable<readonly string[]> {
                yield* mapped(tails('sk:grp', sessionId, 1), p => p[0]!)
                yield* mapped(tails('skd', sessionId, 1), p => p[0]!)
            }
            return paged(both(), pageSize, byString)
        },
        async *appStateSyncKeyIds(sessionId, pageSize) {
            const hex = await redis.zrange(k('appstate:key:idx', sessionId), 0, -1)
            const ids = sortStrings(hex).map(h => new Uint8Array(Buffer.from(h, 'hex')))
            for (let at = 0; at < ids.length; at += pageSize) yield ids.slice(at, at + pageSize)
        },
        async appStateCollections(sessionId) {
            const out: string[] = []
            for await (const chunk of tails('appstate:col', sessionId, 1))
                out.push(...chunk.map(p => p[0]!))
            return sortStrings(out)
        },
        privacyTokenJids: (sessionId, pageSize) =>
            paged(
                mapped(tails('privtoken', sessionId, 1), p => p[0]!),
                pageSize,
                byString
            )
    }
    return catalog
}
