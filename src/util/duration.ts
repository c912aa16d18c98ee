/**
 * The one way zapo writes a duration for people: "250ms", "1.5s", "4m", "2.5h", "3.0d". Used by
 * check's details, migrate's progress and summary, the reconnect delays and downtimes of logs
 * (countdowns such as the QR's "0:42" keep their own short form).
 */
export function formatDuration(ms: number): string {
    const abs = Math.abs(ms)
    if (abs < 1_000) return `${Math.round(ms)}ms`
    if (abs < 60_000) return `${(ms / 1_000).toFixed(1)}s`
    if (abs < 3_600_000) return `${Math.round(ms / 60_000)}m`
    if (abs < 2 * 86_400_000) return `${(ms / 3_600_000).toFixed(1)}h`
    return `${(ms / 86_400_000).toFixed(1)}d`
}
