import type { Logger } from 'zapo-js'

/** A zapo-js Logger that drops everything (zapo-js 0.3 does not export its own no-op logger). */
export const SILENT_LOGGER: Logger = Object.freeze({
    level: 'error' as const,
    trace: () => undefined,
    debug: () => undefined,
    info: () => undefined,
    warn: () => undefined,
    error: () => undefined
})
