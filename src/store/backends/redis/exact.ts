/**
 * Deleting one session's state from Redis by its exact keys, never by pattern.
 *
 * `@zapo-js/store-redis`'s own `clear()` deletes what `<head>:<sessionId>:*` patterns match,
 * which also matches every session whose id starts with `<sessionId>:` (and, for ids that are
 * layout words, other sessions' index keys). Here one SCAN lists the keys that contain the
 * session id; each is read against the store's key layout (layout.ts) and deleted only when it
 * reads as a key of this session in one of the given domains and as no key of any other session
 * present. Credentials go last, so a clear that stops half-way leaves the session listed (by its
 * credentials) to be cleared again.
 */

import type { Redis } from 'ioredis'
import type { AnyDomain } from '../../domains.js'
import { escapeGlob, scan } from './catalog.js'
import { readKey } from './layout.js'

const DELETE_CHUNK = 500

export interface SessionKeys {
    /** keys of the session in the given domains, credentials last */
    readonly keys: readonly string[]
    /** keys that read as the session's and as another present session's too: left alone */
    readonly shared: readonly string[]
    /** `signal:meta` when preKey is cleared without signal: reset, not deleted (as the package does) */
    readonly resetMeta: string | null
}

/** The exact keys of one session in the given domains (`present`: the other sessions' ids). */
export async function sessionKeys(
    redis: Redis,
    prefix: string,
    sessionId: string,
    domains: readonly AnyDomain[],
    present: readonly string[]
): Promise<SessionKeys> {
    const wanted = new Set<string>(domains)
    const others = new Set(present.filter(id => id !== sessionId))
    const keys: string[] = []
    const auth: string[] = []
    const shared: string[] = []
    let meta: string | null = null
    const seen = new Set<string>()
    const pattern = `${escapeGlob(prefix)}*:${escapeGlob(sessionId)}*`
    for await (const batch of scan(redis, pattern)) {
        for (const key of batch) {
            if (seen.has(key) || !key.startsWith(prefix)) continue
            seen.add(key)
            const readings = readKey(key.slice(prefix.length))
            const mine = readings.filter(r => r.sessionId === sessionId)
            if (mine.length === 0) continue
            if (readings.some(r => others.has(r.sessionId))) {
                if (mine.some(r => wanted.has(r.family.domain))) shared.push(key)
                continue
            }
            if (mine.some(r => r.family.head === 'signal:meta')) meta = key
            if (!mine.some(r => wanted.has(r.family.domain))) continue
            if (mine.some(r => r.family.domain === 'auth')) auth.push(key)
            else keys.push(key)
        }
    }
    const resetMeta = meta !== null && wanted.has('preKey') && !wanted.has('signal') ? meta : null
    return { keys: [...keys.sort(), ...auth.sort()], shared: shared.sort(), resetMeta }
}

/** Deletes exactly `sessionKeys`'s keys; returns how many keys were removed. */
export async function deleteSessionKeys(redis: Redis, found: SessionKeys): Promise<number> {
    let removed = 0
    for (let at = 0; at < found.keys.length; at += DELETE_CHUNK)
        removed += await redis.del(...found.keys.slice(at, at + DELETE_CHUNK))
    if (found.resetMeta !== null) {
        // what the package's prekey clear() leaves: the counter back at 1, nothing on the server
        await redis.hset(found.resetMeta, 'next_prekey_id', '1', 'server_has_prekeys', '0')
    }
    return removed
}
