/**
 * Session leases in Redis (store/lease.ts): one string key per leased session,
 * `<keyPrefix>zapo:lease:<sessionId>`, holding the lease as JSON, taken with `SET … NX PX`
 * (it expires by itself) and renewed or released by Lua scripts that compare the token first,
 * so a holder never renews or deletes a lease another took since. The key reads as no session
 * in the store package's layout (layout.ts).
 */

import type { Redis } from 'ioredis'
import { LEASE_REDIS_KEY, toLease, type LeaseRecord, type SessionLeases } from '../../lease.js'

const RENEW = `local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local lease = cjson.decode(v)
if lease.token ~= ARGV[1] then return 0 end
lease.expires = tonumber(ARGV[2])
redis.call('SET', KEYS[1], cjson.encode(lease), 'PX', ARGV[3])
return 1`

const RELEASE = `local v = redis.call('GET', KEYS[1])
if not v then return 0 end
if cjson.decode(v).token ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])`

function parse(value: string | null): LeaseRecord | null {
    if (value === null) return null
    try {
        return toLease(JSON.parse(value) as Record<string, unknown>)
    } catch {
        return null
    }
}

export function redisLeases(redis: Redis, prefix: string): SessionLeases {
    const key = (sessionId: string): string => `${prefix}${LEASE_REDIS_KEY}${sessionId}`
    return {
        take: async (sessionId, lease, now) => {
            const ttl = Math.max(1, lease.expires - now)
            for (;;) {
                const set = await redis.set(key(sessionId), JSON.stringify(lease), 'PX', ttl, 'NX')
                if (set === 'OK') return null
                const held = parse(await redis.get(key(sessionId)))
                // expired or released between the two commands: try again
                if (held !== null) return held
                if ((await redis.exists(key(sessionId))) === 1) {
                    // a value zapo cannot read: someone else's, never overwritten
                    return {
                        token: '?',
                        command: 'an unknown holder',
                        host: '?',
                        pid: 0,
                        since: now,
                        expires: now + ttl
                    }
                }
            }
        },
        renew: async (sessionId, token, expires) => {
            const ttl = Math.max(1, expires - Date.now())
            const done = await redis.eval(
                RENEW,
                1,
                key(sessionId),
                token,
                String(expires),
                String(ttl)
            )
            return Number(done) === 1
        },
        release: async (sessionId, token) => {
            await redis.eval(RELEASE, 1, key(sessionId), token)
        },
        read: async (sessionId, now) => {
            const held = parse(await redis.get(key(sessionId)))
            // the key expires with the lease: a key that is there is live
            void now
            return held
        }
    }
}
