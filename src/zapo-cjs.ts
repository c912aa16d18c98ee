/**
 * zapo-js through its CommonJS build. The 1.x store packages can only be
 * loaded as CommonJS against zapo-js 0.3 (see store/backends/shared.ts), and they load
 * zapo-js's CommonJS build; importing its ESM build as well would load the
 * library twice (about 0.3 s and tens of MB). Everything that runs next to a
 * store therefore takes zapo-js from here. Each getter loads on first use.
 */

import { createRequire } from 'node:module'

const requireCjs = createRequire(import.meta.url)

/**
 * The module, loaded on the first call and kept: `require` of a package export resolves the
 * specifier through the package's exports map on every call, which cost a migration a fifth of
 * its CPU when called per record.
 */
function once<T>(load: () => T): () => T {
    let loaded: { readonly value: T } | null = null
    return () => (loaded ??= { value: load() }).value
}

export const zapoRoot = once(() => requireCjs('zapo-js') as typeof import('zapo-js'))
export const zapoSignal = once(
    () => requireCjs('zapo-js/signal') as typeof import('zapo-js/signal')
)
export const zapoAppState = once(
    () => requireCjs('zapo-js/appstate') as typeof import('zapo-js/appstate')
)
export const zapoCrypto = once(
    () => requireCjs('zapo-js/crypto') as typeof import('zapo-js/crypto')
)
export const zapoProto = once(
    () => (requireCjs('zapo-js/proto') as typeof import('zapo-js/proto')).proto
)
