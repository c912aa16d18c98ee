/**
 * Public API of the zapo sandbox: a local WhatsApp Web protocol server for offline tests.
 *
 *     const sandbox = await startSandbox()
 *     const server = { url: sandbox.url, rootCa: sandbox.rootCa }
 *     const client = createWaClient({ store, sessionId, server })
 *     client.on('auth_qr', ({ qr }) => void sandbox.scan(qr))
 *
 * `startSandbox` puts the protocol phases together; each lives in its own module:
 * transport.ts (listener, Noise handshake, wire dialect), pairing-flow.ts (QR and pairing code),
 * login.ts, iq.ts (the client's stanzas), inject.ts (what peers and the service send), faults.ts,
 * registry.ts (accounts and devices), peers.ts (simulated peers), events.ts, control.ts (the
 * loopback HTTP interface). See docs/sandbox.md for the control interface and what is (not)
 * modelled.
 */
import type { Logger } from 'zapo-js'

import { formatRootCa } from '../client/root-ca.js'
import type { NoiseRootCa } from '../client/root-ca.js'
import type { Connection } from './connection.js'
import { startControlServer } from './control.js'
import type { ControlServer } from './control.js'
import { SandboxEmitter } from './events.js'
import { Faults } from './faults.js'
import { Injector } from './inject.js'
import type { SendGroupMessageInput, SendMessageInput } from './inject.js'
import { ClientStanzas } from './iq.js'
import { Login } from './login.js'
import { noopLogger } from './nodes.js'
import { PairingFlow } from './pairing-flow.js'
import { PeerDirectory } from './peers.js'
import { DeviceRegistry } from './registry.js'
import { CHAT_PATH, Transport } from './transport.js'

export { FaultKind, LOGIN_REFUSAL_REASONS, parseFaultKind, parseLoginRefusal } from './faults.js'
export type { SandboxEvents } from './events.js'
export type {
    SendGroupMessageInput,
    SendGroupMessageResult,
    SendInitialSyncInput,
    SendInitialSyncResult,
    SendMessageInput,
    SendMessageResult
} from './inject.js'
export type { ScanResult } from './pairing-flow.js'
export type { PeerMessage } from './peers.js'
export type { DeviceInfo } from './registry.js'

export const SANDBOX_DEFAULTS = Object.freeze({
    host: '127.0.0.1',
    port: 0,
    preKeyLowWater: 5
} as const)

export interface StartSandboxOptions {
    /** Interface of the protocol endpoint (default 127.0.0.1); the control API stays on loopback. */
    readonly host?: string
    /** Port for the protocol endpoint (default 0: any free port). */
    readonly port?: number
    /** Port for the loopback control API (default 0: any free port). */
    readonly controlPort?: number
    /** Delay before the phone scans a QR handed over with `presentQr` / `POST /scan {delayed}`. */
    readonly autoScanMs?: number | null
    /** Push fresh QR refs every N ms; null (default) leaves rotation to the client's timers. */
    readonly qrRotateMs?: number | null
    /** One-time prekeys left when the sandbox asks a device to upload more (default 5). */
    readonly preKeyLowWater?: number
    readonly logger?: Logger
}

/** What a test or the control interface can do to a running sandbox. */
export interface SandboxApi {
    readonly scan: PairingFlow['scan']
    readonly presentQr: PairingFlow['presentQr']
    readonly refuseNextScan: PairingFlow['refuseNextScan']
    readonly enterPairingCode: PairingFlow['enterPairingCode']
    readonly devices: DeviceRegistry['devices']
    readonly waitForDevice: DeviceRegistry['waitForDevice']
    readonly peerMessages: PeerDirectory['peerMessages']
    readonly sendMessage: Injector['sendMessage']
    readonly sendGroupMessage: Injector['sendGroupMessage']
    readonly sendInitialSync: Injector['sendInitialSync']
    readonly sendPresence: Injector['sendPresence']
    readonly sendChatstate: Injector['sendChatstate']
    readonly sendReceipt: Injector['sendReceipt']
    readonly sendNotification: Injector['sendNotification']
    readonly sendGroupEvent: Injector['sendGroupEvent']
    readonly sendCall: Injector['sendCall']
    readonly fault: Faults['fault']
    readonly refuseNextLogin: Login['refuseNextLogin']
    /** events: see {@link SandboxEvents} */
    readonly on: SandboxEmitter['on']
    readonly off: SandboxEmitter['off']
    readonly waitFor: SandboxEmitter['waitFor']
}

export interface Sandbox extends SandboxApi {
    /** `ws://host:port/ws/chat`: pass as `--server` / the client's chat socket URL. */
    readonly url: string
    /** `<serial>:<base64 key>`: pass as `--server-root-ca`. */
    readonly rootCa: string
    readonly noiseRootCa: NoiseRootCa
    readonly controlUrl: string
    readonly host: string
    readonly port: number
    /** Closes every client connection (WebSocket close 1001), then both listeners. */
    close(): Promise<void>
}

export function isLoopbackHost(host: string): boolean {
    return host === 'localhost' || host === '::1' || host.startsWith('127.')
}

/** The host to put in `url`: a wildcard bind is reached through loopback. */
function urlHostFor(host: string): string {
    if (host === '0.0.0.0' || host === '') return '127.0.0.1'
    if (host === '::') return '[::1]'
    return host.includes(':') ? `[${host}]` : host
}

/** Starts the protocol endpoint and the loopback control interface. */
export async function startSandbox(options: StartSandboxOptions = {}): Promise<Sandbox> {
    const host = options.host ?? SANDBOX_DEFAULTS.host
    const logger = options.logger ?? noopLogger()
    const events = new SandboxEmitter()
    let nextStanzaId = 1
    const stanzaId = () => `sbx.${(nextStanzaId++).toString(36)}`
    const transport: Transport = new Transport({
        host,
        port: options.port ?? SANDBOX_DEFAULTS.port,
        events,
        logger,
        handlers: {
            login: (conn, hello) => login.login(conn, hello),
            register: (conn, registration) => pairing.register(conn, registration),
            stanza: (conn, node) => stanzas.handle(conn, node)
        }
    })
    const connections: () => Iterable<Connection> = transport.connections
    const peers = new PeerDirectory({ events, logger })
    const registry = new DeviceRegistry({
        events,
        logger,
        stanzaId,
        preKeyLowWater: options.preKeyLowWater ?? SANDBOX_DEFAULTS.preKeyLowWater,
        onDeviceCreated: jid => peers.forgetDevice(jid)
    })
    const pairing: PairingFlow = new PairingFlow({
        events,
        registry,
        logger,
        stanzaId,
        connections,
        autoScanMs: options.autoScanMs ?? null,
        qrRotateMs: options.qrRotateMs ?? null
    })
    const login: Login = new Login({
        events,
        registry,
        logger,
        pairingSettled: jid => pairing.settled(jid)
    })
    const stanzas = new ClientStanzas({ events, registry, peers, pairing, login, logger })
    const inject = new Injector({ registry, peers, stanzaId })
    const faults = new Faults({ registry, logger, connections, events })
    const api: SandboxApi = Object.freeze({
        scan: pairing.scan,
        presentQr: pairing.presentQr,
        refuseNextScan: pairing.refuseNextScan,
        enterPairingCode: pairing.enterPairingCode,
        devices: registry.devices,
        waitForDevice: registry.waitForDevice,
        peerMessages: peers.peerMessages,
        sendMessage: async (input: SendMessageInput) => {
            const sent = await inject.sendMessage(input)
            events.emit('message', { to: input.to, from: input.from, id: sent.id, group: null })
            return sent
        },
        sendGroupMessage: async (input: SendGroupMessageInput) => {
            const sent = await inject.sendGroupMessage(input)
            events.emit('message', {
                to: input.to,
                from: input.from,
                id: sent.id,
                group: input.group
            })
            return sent
        },
        sendInitialSync: inject.sendInitialSync,
        sendPresence: inject.sendPresence,
        sendChatstate: inject.sendChatstate,
        sendReceipt: inject.sendReceipt,
        sendNotification: inject.sendNotification,
        sendGroupEvent: inject.sendGroupEvent,
        sendCall: inject.sendCall,
        fault: faults.fault,
        refuseNextLogin: login.refuseNextLogin,
        on: events.on,
        off: events.off,
        waitFor: events.waitFor
    })

    await transport.start()
    const stopServer = async () => {
        pairing.close()
        await transport.close()
        events.removeAllListeners()
    }
    let control: ControlServer
    try {
        control = await startControlServer(api, options.controlPort ?? 0)
    } catch (error) {
        await stopServer()
        throw error
    }
    let closing: Promise<void> | null = null
    const noiseRootCa: NoiseRootCa = Object.freeze({
        publicKey: transport.rootCa.publicKey,
        serial: transport.rootCa.serial
    })
    return Object.freeze({
        ...api,
        url: `ws://${urlHostFor(host)}:${transport.port}${CHAT_PATH}`,
        rootCa: formatRootCa(noiseRootCa),
        noiseRootCa,
        controlUrl: control.url,
        host,
        port: transport.port,
        close: () => {
            closing ??= (async () => {
                await stopServer()
                await control.close()
            })()
            return closing
        }
    })
}
