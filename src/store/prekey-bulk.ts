/**
 * Writing many one-time prekeys with their own ids and `uploaded` flags, fast, through the
 * prekey contract only.
 *
 * The contract's per-record write (`putPreKey`) is one transaction per key (about 1 ms on
 * PostgreSQL / MySQL), which made prekeys 90 % of a migration's time. Its batch write is
 * `getOrGenPreKeys(count, generator)`: the store inserts `count - available` keys that the
 * generator hands out (keeping each record's own key id) in one statement, and raises its
 * id counter past them. This module drives it as a bulk insert:
 *
 *  - only when every key of the batch is at or above the target's id counter (then no key can
 *    collide, and the counter ends exactly past the highest key, as in the source);
 *  - the records go in as not-uploaded, and `count` is grown until every record was handed out
 *    (the store first counts the not-uploaded keys it already has, which are not known here);
 *  - then `markKeyAsUploaded(maxUploadedId)` flags the uploaded ones, only when that flags no
 *    other key (uploaded keys are a prefix of the ids, as the client marks them).
 *
 * Whatever the fast path cannot guarantee goes through `putPreKey`, one key at a time. A
 * migration verifies every record afterwards, so a store behaving differently is caught.
 */

import type { PreKeyRecord } from 'zapo-js/signal'
import type { WaPreKeyStore } from 'zapo-js/store'
import { catalogFor } from './catalog.js'
import type { OpenedStore } from './open.js'

/** Below this many records the per-key path is as fast. */
const FAST_PATH_MIN = 8

export async function putPreKeys(
    store: OpenedStore,
    sessionId: string,
    records: readonly PreKeyRecord[]
): Promise<void> {
    const preKey = store.domain('preKey', sessionId) as unknown as WaPreKeyStore
    const sorted = [...records].sort((a, b) => a.keyId - b.keyId)
    const slow = async (list: readonly PreKeyRecord[]): Promise<void> => {
        for (const r of list)
            await preKey.putPreKey({
                keyId: r.keyId,
                keyPair: r.keyPair,
                uploaded: r.uploaded === true
            })
    }
    if (sorted.length < FAST_PATH_MIN) return slow(sorted)
    const next = await catalogFor(store.backendFor('preKey')).nextPreKeyId(sessionId)
    if (next !== null && sorted[0]!.keyId < next) return slow(sorted)
    if (new Set(sorted.map(r => r.keyId)).size !== sorted.length) return slow(sorted)

    let handed = 0
    const generator = (): PreKeyRecord => {
        const r = sorted[handed]
        if (r === undefined) throw new Exhausted()
        handed += 1
        return { keyId: r.keyId, keyPair: r.keyPair, uploaded: false }
    }
    // the store inserts `count - (keys it holds not uploaded)`: start from what the previous
    // batch of this session left (exact unless someone else changes the session meanwhile),
    // and grow count until every record was handed out
    const known = notUploaded(store)
    let count = (known.get(sessionId) ?? 0) + sorted.length
    let available: readonly PreKeyRecord[] = []
    try {
        for (let round = 0; handed < sorted.length; round += 1) {
            if (round > 64) {
                known.delete(sessionId)
                return await slow(sorted.slice(handed))
            }
            available = await preKey.getOrGenPreKeys(count, generator)
            // inserted or not, the store now holds at least `count` not-uploaded keys
            count += sorted.length - handed
        }
    } catch (error) {
        known.delete(sessionId)
        if (!(error instanceof Exhausted)) throw error
        // the store held fewer not-uploaded keys than expected: write the rest one by one
        // (its id counter may now be past the source's: verification reports it, a rerun fixes it)
        return slow(sorted.slice(handed))
    }
    if (available.length < count) {
        // the final call did not return every not-uploaded key: the flag check below cannot be made
        known.delete(sessionId)
        return slow(sorted.filter(r => r.uploaded === true))
    }
    known.set(sessionId, count)

    const uploaded = sorted.filter(r => r.uploaded === true)
    if (uploaded.length === 0) return
    const maxUploaded = uploaded[uploaded.length - 1]!.keyId
    const wanted = new Set(uploaded.map(r => r.keyId))
    // markKeyAsUploaded(id) flags every key up to id: only when those are exactly the wanted ones
    const wouldFlag = available.filter(r => r.keyId <= maxUploaded)
    if (wouldFlag.every(r => wanted.has(r.keyId))) {
        await preKey.markKeyAsUploaded(maxUploaded)
        known.set(sessionId, count - wouldFlag.length)
        return
    }
    known.delete(sessionId)
    await slow(uploaded)
}

class Exhausted extends Error {
    override readonly name = 'Exhausted'
}

/** Not-uploaded keys each session of a store held after the last bulk write (a hint, never trusted blindly). */
const NOT_UPLOADED = new WeakMap<OpenedStore, Map<string, number>>()

function notUploaded(store: OpenedStore): Map<string, number> {
    let map = NOT_UPLOADED.get(store)
    if (!map) NOT_UPLOADED.set(store, (map = new Map()))
    return map
}
