/** What every backend catalog offers beyond the shared `SessionCatalog` shape. */

import type { SignalAddress } from 'zapo-js/signal'
import type { BackendKind } from '../address.js'
import type { SessionCatalog, SessionCounts } from '../records.types.js'

export interface ZapoSessionCatalog extends SessionCatalog {
    readonly kind: BackendKind
    /** counts of many sessions at once (one pass per table / over the keyspace) */
    countsMany(sessionIds: readonly string[]): Promise<ReadonlyMap<string, SessionCounts>>
    /** the next one-time prekey id the store will hand out (its counter), null when it keeps none */
    nextPreKeyId(sessionId: string): Promise<number | null>
    /**
     * Every enumerable key of one session in one pass, where the backend can only enumerate by
     * walking its keyspace (Redis: one SCAN instead of one per domain). Absent elsewhere.
     */
    sessionKeys?(sessionId: string): Promise<SessionKeyLists>
    /**
     * A session's Signal sessions or remote identities as the store package stored them (its own
     * encoding: `encodeSignalSessionRecord`, the identity key's bytes), in pages by address,
     * one range read per page. Where the stored bytes are exactly what the contract's getters
     * decode (PostgreSQL, MySQL), a migration verifies a written domain by these instead of
     * reading every record back by key. Absent elsewhere.
     */
    /**
     * Each session's signed-prekey rotation time (ms, null when never stamped or no meta row),
     * in one query per few hundred sessions. The contract's getter costs a write transaction
     * per session on PostgreSQL and MySQL (the store package first inserts the meta row).
     * Absent where the backend has no such table.
     */
    signedPreKeyRotations?(
        sessionIds: readonly string[]
    ): Promise<ReadonlyMap<string, number | null>>
    storedRecords?(
        domain: 'session' | 'identity',
        sessionId: string,
        pageSize: number
    ): AsyncIterable<readonly StoredRecord[]>
}

/** One record as stored: its address and the bytes of its record column. */
export interface StoredRecord {
    readonly address: SignalAddress
    readonly bytes: Uint8Array
}

/** A session's keys, sorted (see `ZapoSessionCatalog.sessionKeys`). */
export interface SessionKeyLists {
    readonly sessionAddresses: readonly SignalAddress[]
    readonly identityAddresses: readonly SignalAddress[]
    readonly senderKeyGroupIds: readonly string[]
    readonly appStateCollections: readonly string[]
    readonly privacyTokenJids: readonly string[]
}

export const EMPTY_COUNTS: SessionCounts = Object.freeze({
    credentials: false,
    registration: false,
    signedPreKey: false,
    preKeys: 0,
    preKeysUploaded: 0,
    signalSessions: 0,
    identities: 0,
    senderKeys: 0,
    senderKeyDistributions: 0,
    appStateSyncKeys: 0,
    appStateCollections: 0,
    privacyTokens: 0
})

/** Sorts by code unit order (not locale), the same on every backend. */
export function sortStrings(values: Iterable<string>): string[] {
    return [...new Set(values)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
}

/** Per-session count rows of one table (`n` its row count, other fields extra sums). */
type CountRows = ReadonlyMap<string, Readonly<Record<string, unknown>>>

/**
 * Catalog counts from the per-table count rows of the row-per-record backends (SQL, MongoDB),
 * in this order: credentials, registration, signed prekey, prekeys (with `up`, the uploaded
 * ones), sessions, identities, sender keys, distributions, sync keys, collections, tokens.
 */
export function countsFromRows(
    ids: readonly string[],
    [auth, reg, spk, pk, sess, ident, sk, skd, keys, cols, tokens]: readonly [
        CountRows,
        CountRows,
        CountRows,
        CountRows,
        CountRows,
        CountRows,
        CountRows,
        CountRows,
        CountRows,
        CountRows,
        CountRows
    ]
): Map<string, SessionCounts> {
    const n = (rows: CountRows, id: string, field = 'n'): number =>
        Number(rows.get(id)?.[field] ?? 0)
    const out = new Map<string, SessionCounts>()
    for (const id of ids) {
        out.set(id, {
            credentials: n(auth, id) > 0,
            registration: n(reg, id) > 0,
            signedPreKey: n(spk, id) > 0,
            preKeys: n(pk, id),
            preKeysUploaded: n(pk, id, 'up'),
            signalSessions: n(sess, id),
            identities: n(ident, id),
            senderKeys: n(sk, id),
            senderKeyDistributions: n(skd, id),
            appStateSyncKeys: n(keys, id),
            appStateCollections: n(cols, id),
            privacyTokens: n(tokens, id)
        })
    }
    return out
}
