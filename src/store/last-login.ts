/**
 * When a session last logged in, as its credentials record it: the one reader of
 * `WaAuthCredentials.lastSuccessTs`. zapo-js 0.3 stores the `t` attribute of the server's
 * `<success>` node there, in seconds; a value of 1e12 or more is read as milliseconds (what a
 * store written by other tools, or a later library version, may hold). No zapo-js code is
 * loaded here, only its types.
 */

import type { WaAuthCredentials } from 'zapo-js'

/** Seconds below this, milliseconds from it (1e12 s is the year 33658; 1e12 ms is 2001). */
const MS_FROM = 1e12

/** The last successful login in ms since the epoch, or null when none is recorded. */
export function lastLoginMs(
    credentials: Pick<WaAuthCredentials, 'lastSuccessTs'> | null | undefined
): number | null {
    const ts: unknown = credentials?.lastSuccessTs
    if (typeof ts !== 'number' || !Number.isFinite(ts) || ts <= 0) return null
    return ts < MS_FROM ? ts * 1000 : ts
}

/**
 * A session whose last login is more recent than this looks live: an application is probably
 * running it (zapo-js stamps the time at every login). `pair --force` and `import --force` refuse
 * to replace it without --overwrite-live; `migrate` names it.
 */
export const LIVE_LOGIN_WINDOW_MS = 10 * 60_000

/** The last login when it is within the live window at `now`, else null. */
export function liveSince(
    credentials: Pick<WaAuthCredentials, 'lastSuccessTs'> | null | undefined,
    now: number,
    windowMs = LIVE_LOGIN_WINDOW_MS
): number | null {
    const ms = lastLoginMs(credentials)
    return ms !== null && now - ms <= windowMs ? ms : null
}
