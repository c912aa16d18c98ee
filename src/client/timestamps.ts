/**
 * Timestamps as zapo-js stores them. Its credentials carry server times in seconds
 * (`lastSuccessTs`, `accountCreationTs`: the `t` attributes of the server's stanzas), while the
 * signal domain's signed-prekey rotation time is in milliseconds (`Date.now()`), and stores
 * written by other tools or versions may hold either. One rule for all of them: a value below
 * 10^12 is seconds (10^12 ms is September 2001, 10^12 s is far beyond any real date).
 */

/** A stored timestamp as milliseconds since the epoch; null when absent, zero or not a number. */
export function timestampMs(value: unknown): number | null {
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) return null
    return value < 1e12 ? value * 1000 : value
}
