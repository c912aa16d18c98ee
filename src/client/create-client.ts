import { WebSocket as NodeWebSocket } from 'ws'
import { zapoRoot } from '../zapo-cjs.js'
import type { Logger, WaClient, WaClientOptions, WaStore } from 'zapo-js'

import { parseRootCa } from './root-ca.js'

/** A server override: the chat socket URL and the root CA string printed by `zapo sandbox`. */
export interface WaServerOverride {
    readonly url: string
    readonly rootCa: string
}

export interface CreateWaClientOptions {
    readonly store: WaStore
    readonly sessionId: string
    readonly server?: WaServerOverride | null
    readonly logger?: Logger
    /** Extra client options for tests and tuning; never `dangerous`, never `testHooks`. */
    readonly tuning?: Pick<
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
}

/**
 * zapo-js 0.3 looks up `globalThis.WebSocket` (its socket-constructor option is not reachable
 * from `WaClientOptions`); Node 20 has none, so hand it the `ws` implementation once.
 */
export function ensureWebSocketGlobal(): void {
    const scope = globalThis as { WebSocket?: unknown }
    if (typeof scope.WebSocket !== 'function') {
        scope.WebSocket = NodeWebSocket
    }
}

/** The one place the CLI builds a `WaClient`. No `dangerous.*` option is ever set here. */
export function createWaClient(options: CreateWaClientOptions): WaClient {
    ensureWebSocketGlobal()
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
