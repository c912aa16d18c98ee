/**
 * Archive key enumeration in Redis, over the layout of `@zapo-js/store-redis` (`<keyPrefix>`
 * then): msg:<sid>:<id> (hash with field `id`, + :message_bytes), msg:idx:<sid>:<thread>
 * (zset), thread:<sid>:<jid> (hash with field `jid`), contact:<sid>:<jid> (hash with field
 * `jid`), contact_pn:<sid>:<pn>. A `msg:<sid>:*` pattern also matches sessions whose id starts
 * with `<sid>:`; a key is taken only when it equals `msg:<sid>:<the hash's own id field>` (same
 * for jid), which tells the two apart exactly. SCAN and HGET only.
 */

import type { Redis } from 'ioredis'
import type { ArchiveDomain } from '../../domains.js'
import type { ArchiveDomainKeys } from '../types.js'
import { sortStrings } from '../../catalog/types.js'
import { escapeGlob, SCAN_COUNT } from './catalog.js'

const REDIS_LAYOUT: Readonly<
    Record<ArchiveDomain, { readonly family: string; readonly field: string }>
> = Object.freeze({
    messages: { family: 'msg', field: 'id' },
    threads: { family: 'thread', field: 'jid' },
    contacts: { family: 'contact', field: 'jid' }
})

export function redisArchiveKeys(
    redis: Redis,
    prefix: string,
    domain: ArchiveDomain
): ArchiveDomainKeys {
    const { family, field } = REDIS_LAYOUT[domain]
    /** every key of the session in one SCAN, checked against the hash's own key field */
    const list = async (sessionId: string): Promise<string[]> => {
        const head = `${prefix}${family}:${sessionId}:`
        const pattern = `${escapeGlob(head)}*`
        const found: string[] = []
        let cursor = '0'
        do {
            const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT)
            cursor = next
            if (keys.length === 0) continue
            const pipeline = redis.pipeline()
            for (const key of keys) pipeline.hget(key, field)
            const results = (await pipeline.exec()) ?? []
            keys.forEach((key, i) => {
                const [error, value] = results[i] ?? [null, null]
                // WRONGTYPE (a :message_bytes string, an index zset) or no field: not a record key
                if (error || typeof value !== 'string') return
                if (key === `${head}${value}`) found.push(value)
            })
        } while (cursor !== '0')
        return sortStrings(found)
    }
    /** many sessions: one SCAN over the family, each key's session id recovered from its own field */
    const countAll = async (ids: readonly string[]): Promise<Map<string, number>> => {
        const wanted = new Set(ids)
        const head = `${prefix}${family}:`
        const seen = new Set<string>()
        const out = new Map<string, number>()
        let cursor = '0'
        do {
            const [next, keys] = await redis.scan(
                cursor,
                'MATCH',
                `${escapeGlob(head)}*`,
                'COUNT',
                SCAN_COUNT
            )
            cursor = next
            const fresh = keys.filter(k => !seen.has(k))
            if (fresh.length === 0) continue
            const pipeline = redis.pipeline()
            for (const key of fresh) pipeline.hget(key, field)
            const results = (await pipeline.exec()) ?? []
            fresh.forEach((key, i) => {
                seen.add(key)
                const [error, value] = results[i] ?? [null, null]
                if (error || typeof value !== 'string' || !key.endsWith(`:${value}`)) return
                const sid = key.slice(head.length, key.length - value.length - 1)
                if (wanted.has(sid)) out.set(sid, (out.get(sid) ?? 0) + 1)
            })
        } while (cursor !== '0')
        return out
    }
    return {
        async countMany(ids) {
            if (ids.length > 2) return countAll(ids)
            const out = new Map<string, number>()
            for (const id of ids) {
                const n = (await list(id)).length
                if (n > 0) out.set(id, n)
            }
            return out
        },
        async *keys(sessionId, pageSize) {
            const all = await list(sessionId)
            for (let at = 0; at < all.length; at += pageSize) yield all.slice(at, at + pageSize)
        }
    }
}
