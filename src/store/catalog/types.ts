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
     * Other sessions whose records the store package's own `clear()` of `sessionId` would also
     * delete (Redis: clear() matches `<type>:<sid>:*`, which covers session ids starting with
     * `<sid>:`). Empty on backends without that hazard.
     */
    sessionsSharingKeys(sessionId: string): Promise<readonly string[]>
    /**
     * Every enumerable key of one session in one pass, where the backend can only enumerate by
     * walking its keyspace (Redis: one SCAN instead of one per domain). Absent elsewhere.
     */
    sessionKeys?(sessionId: string): Promise<SessionKeyLists>
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
