/**
 * Reading what a session's credentials say, for the read-only commands
 * (sessions list, creds show, check). Light: no zapo-js code is loaded here,
 * only its types; the records come through the store contracts.
 */

import type { WaAuthCredentials } from 'zapo-js'
import type { RegistrationInfo, SignedPreKeyRecord } from 'zapo-js/signal'
import type { ZapoError } from '../errors.js'
import { sessionFailure } from '../store/failures.js'
import type { SessionCounts } from '../store/records.types.js'
import type { ReadableStore } from './read-store.js'

/** The records `creds show`, `sessions list` and `check` read for a session. */
export interface SessionAuthRecords {
    readonly credentials: WaAuthCredentials | null
    readonly registration: RegistrationInfo | null
    readonly signedPreKey: SignedPreKeyRecord | null
    /** ms since the epoch, as zapo-js stores it; null when never stamped */
    readonly signedPreKeyRotationTs: number | null
}

/**
 * Reads a session's auth and Signal records through the store contracts.
 * Domains whose records the catalog does not see are not touched (the store
 * packages would create their tables on first use).
 */
export async function readSessionAuth(
    readable: ReadableStore,
    sessionId: string,
    counts?: SessionCounts,
    options: {
        readonly registration?: boolean
        /** the rotation time when the caller read it already (catalog.signedPreKeyRotations) */
        readonly signedPreKeyRotationTs?: number | null
    } = {}
): Promise<SessionAuthRecords> {
    const c = counts ?? (await readable.catalog.counts(sessionId))
    const credentials = c.credentials ? await readable.store.domain('auth', sessionId).load() : null
    const signal =
        c.registration || c.signedPreKey ? readable.store.domain('signal', sessionId) : null
    // registration: false skips the Signal registration (a listing does not show it)
    const withRegistration = options.registration !== false
    const [registration, signedPreKey, signedPreKeyRotationTs] = signal
        ? await Promise.all([
              withRegistration && c.registration
                  ? signal.getRegistrationInfo()
                  : Promise.resolve(null),
              c.signedPreKey ? signal.getSignedPreKey() : Promise.resolve(null),
              options.signedPreKeyRotationTs !== undefined
                  ? Promise.resolve(options.signedPreKeyRotationTs)
                  : signal.getSignedPreKeyRotationTs()
          ])
        : [null, null, null]
    return { credentials, registration, signedPreKey, signedPreKeyRotationTs }
}

/**
 * Every listed session's signed-prekey rotation time in one pass, where the catalog of the
 * backend holding the signal domain reads it (SQL); null when it must be read per session.
 */
export async function signedPreKeyRotations(
    readable: ReadableStore,
    sessionIds: readonly string[]
): Promise<ReadonlyMap<string, number | null> | null> {
    const catalog = readable.store.backendFor('signal').catalog()
    if (catalog.signedPreKeyRotations === undefined || sessionIds.length === 0) return null
    return catalog.signedPreKeyRotations(sessionIds)
}

/** seconds or milliseconds since the epoch → ISO; zapo-js stores login times in seconds (the server's `t`). */
export function toIso(value: number | null | undefined): string | null {
    if (value === null || value === undefined || !Number.isFinite(value) || value <= 0) return null
    const ms = value < 1e12 ? value * 1000 : value
    return new Date(ms).toISOString()
}

/**
 * A failure reading a session's credentials, as the store layer's one rule classifies it: the
 * store's (STORE_UNAVAILABLE) or a record that does not decode (INTEGRITY).
 */
export function undecodable(error: unknown, sessionId: string, store: string): ZapoError {
    return sessionFailure(error, { sessionId, store, what: 'credentials' })
}
