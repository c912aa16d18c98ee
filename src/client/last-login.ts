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
