/**
 * zapo-js through its CommonJS build. The 1.x store packages can only be
 * loaded as CommonJS against zapo-js 0.3 (see store/backends/shared.ts), and they load
 * zapo-js's CommonJS build; importing its ESM build as well would load the
 * library twice (about 0.3 s and tens of MB). Everything that runs next to a
 * store therefore takes zapo-js from here. Each getter loads on first use.
 */

import { createRequire } from 'node:module'

const requireCjs = createRequire(import.meta.url)

export const zapoRoot = (): typeof import('zapo-js') =>
    requireCjs('zapo-js') as typeof import('zapo-js')
export const zapoSignal = (): typeof import('zapo-js/signal') =>
    requireCjs('zapo-js/signal') as typeof import('zapo-js/signal')
export const zapoAppState = (): typeof import('zapo-js/appstate') =>
    requireCjs('zapo-js/appstate') as typeof import('zapo-js/appstate')
export const zapoCrypto = (): typeof import('zapo-js/crypto') =>
    requireCjs('zapo-js/crypto') as typeof import('zapo-js/crypto')
export const zapoProto = (): (typeof import('zapo-js/proto'))['proto'] =>
    (requireCjs('zapo-js/proto') as typeof import('zapo-js/proto')).proto
