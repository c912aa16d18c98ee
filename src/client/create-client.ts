import { zapoRoot } from '../zapo-cjs.js'
import type { Logger, WaClient, WaStore } from 'zapo-js'
import type { WaClientOptions } from 'zapo-js/client'

import { installTracedWebSocket } from './connect-failure.js'
import { parseRootCa } from './root-ca.js'

/** A server override: the chat socket URL and the root CA string printed by `zapo sandbox`. */
export interface WaServerOverride {
    readonly url: string
    readonly rootCa: string
}

/**
 * The client options the CLI may tune (timeouts, what a logout close clears, the device name):
 * never `dangerous`, never `testHooks` (a --server override sets the test root CA itself).
 */
export type ClientTuning = Pick<
    WaClientOptions,
    | 'connectTimeoutMs'
    | 'timeoutIntervalMs'
    | 'iqTimeoutMs'
    | 'keepAliveIntervalMs'
    | 'deadSocketTimeoutMs'
    | 'reconnectIntervalMs'
    | 'deviceBrowser'
    | 'deviceOsDisplayName'
    | 'history'
    | 'logoutStoreClear'
>

export interface CreateWaClientOptions {
    readonly store: WaStore
    readonly sessionId: string
    readonly server?: WaServerOverride | null
    readonly logger?: Logger
    readonly tuning?: ClientTuning
}

/** The one place the CLI builds a `WaClient`. No `dangerous.*` option is ever set here. */
export function createWaClient(options: CreateWaClientOptions): WaClient {
    installTracedWebSocket()
    const server = options.server ?? null
    const base: WaClientOptions = {
        ...(options.tuning ?? {}),
        store: options.store,
        sessionId: options.sessionId
    }
    if (server === null) {
        return new (zapoRoot().WaClient)(base, options.logger)
    }
    let url: URL
    try {
        url = new URL(server.url)
    } catch {
        throw new Error(`invalid server URL "${server.url}": expected ws://host:port/ws/chat`)
    }
    if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
        throw new Error(`invalid server URL "${server.url}": the scheme must be ws: or wss:`)
    }
    const noiseRootCa = parseRootCa(server.rootCa)
    return new (zapoRoot().WaClient)(
        {
            ...base,
            chatSocketUrls: [url.toString()],
            testHooks: { noiseRootCa }
        },
        options.logger
    )
}
