/**
 * The one way zapo writes a duration for people: "250ms", "1.5s", "42s", "4m", "2.5h", "36h",
 * "3.5d", "30d". One decimal below 10 of a unit (minutes are always whole), never a trailing
 * ".0". Used by check's details, migrate's progress and summary, the reconnect delays and
 * downtimes of logs, the validity of a QR or pairing code, relative times ("3m ago") and the
 * live-session refusals.
 */
export function formatDuration(ms: number): string {
    const abs = Math.abs(ms)
    if (abs < 1_000) return `${Math.round(ms)}ms`
    if (abs < 60_000) return `${tenths(ms / 1_000)}s`
    if (abs < 3_600_000) return `${Math.round(ms / 60_000)}m`
    if (abs < 2 * 86_400_000) return `${tenths(ms / 3_600_000)}h`
    return `${tenths(ms / 86_400_000)}d`
}

/** One decimal below 10, whole numbers from 10 on, no ".0". */
function tenths(value: number): string {
    return String(Math.abs(value) < 10 ? Math.round(value * 10) / 10 : Math.round(value))
}

/**
 * A countdown clock, "4:05", "0:42": the time left of a QR or pairing code, redrawn each second
 * (a clock, not a duration: its width stays put while it counts down).
 */
export function formatCountdown(ms: number): string {
    const total = Math.max(0, Math.ceil(ms / 1000))
    return `${Math.floor(total / 60)}:${String(total % 60).padStart(2, '0')}`
}
