/**
 * Public API of the zapo sandbox: a local WhatsApp Web protocol server for offline tests.
 *
 *     const sandbox = await startSandbox()
 *     const server = { url: sandbox.url, rootCa: sandbox.rootCa }
 *     const client = createWaClient({ store, sessionId, server })
 *     client.on('auth_qr', ({ qr }) => void sandbox.scan(qr))
 *
 * See docs/sandbox.md for the control interface and what is (not) modelled.
 */
import type { Logger } from 'zapo-js'

import { formatRootCa } from '../client/root-ca.js'
import type { NoiseRootCa } from '../client/root-ca.js'
import { startControlServer } from './control.js'
import type { ControlServer } from './control.js'
import type { SandboxEvents } from './events.js'
import { FaultKind, LOGIN_REFUSAL_REASONS, parseFaultKind, parseLoginRefusal } from './faults.js'
import type { PeerMessage } from './peers.js'
import type { DeviceInfo } from './registry.js'
import { CHAT_PATH, SandboxServer } from './server.js'
import type {
    ScanResult,
    SendGroupMessageInput,
    SendGroupMessageResult,
    SendMessageInput,
    SendMessageResult
} from './server.js'

export { FaultKind, LOGIN_REFUSAL_REASONS, parseFaultKind, parseLoginRefusal }
export type {
    DeviceInfo,
    PeerMessage,
    ScanResult,
    SandboxEvents,
    SendGroupMessageInput,
    SendGroupMessageResult,
    SendMessageInput,
    SendMessageResult
}

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

export function isLoopbackHost(host: string): boolean {
    return host === 'localhost' || host === '::1' || host.startsWith('127.')
}

/** The host to put in `url`: a wildcard bind is reached through loopback. */
function urlHostFor(host: string): string {
    if (host === '0.0.0.0' || host === '') return '127.0.0.1'
    if (host === '::') return '[::1]'
    return host.includes(':') ? `[${host}]` : host
}

export class Sandbox {
    /** `ws://host:port/ws/chat`: pass as `--server` / the client's chat socket URL. */
    readonly url: string
    /** `<serial>:<base64 key>`: pass as `--server-root-ca`. */
    readonly rootCa: string
    readonly noiseRootCa: NoiseRootCa
    readonly controlUrl: string
    readonly host: string
    readonly port: number
    /** The protocol server itself; its `events` emit {@link SandboxEvents}. */
    readonly server: SandboxServer
    private readonly control: ControlServer
    private closing: Promise<void> | null = null

    constructor(server: SandboxServer, control: ControlServer, host: string) {
        this.server = server
        this.control = control
        this.host = host
        this.port = server.port
        this.url = `ws://${urlHostFor(host)}:${server.port}${CHAT_PATH}`
        this.noiseRootCa = Object.freeze({
            publicKey: server.rootCa.publicKey,
            serial: server.rootCa.serial
        })
        this.rootCa = formatRootCa(this.noiseRootCa)
        this.controlUrl = control.url
    }

    /** Closes every client connection (WebSocket close 1001), then both listeners. */
    close(): Promise<void> {
        this.closing ??= (async () => {
            await this.server.close()
            await this.control.close()
        })()
        return this.closing
    }

    scan(qr: string, options: { readonly phone?: string } = {}): Promise<ScanResult> {
        return this.server.scan(qr, options)
    }

    presentQr(qr: string, options: { readonly phone?: string } = {}): Promise<ScanResult> {
        return this.server.presentQr(qr, options)
    }

    refuseNextScan(): void {
        this.server.refuseNextScan()
    }

    /** Messages clients sent to simulated peers, decrypted by the peer (newest last). */
    peerMessages(peer: string | null = null): PeerMessage[] {
        return this.server.peers.peerMessages(peer)
    }

    enterPairingCode(code: string, options: { readonly phone?: string } = {}): Promise<ScanResult> {
        return this.server.enterPairingCode(code, options)
    }

    devices(): DeviceInfo[] {
        return this.server.registry.devices()
    }

    sendMessage(input: SendMessageInput): Promise<SendMessageResult> {
        return this.server.sendMessage(input)
    }

    sendGroupMessage(input: SendGroupMessageInput): Promise<SendGroupMessageResult> {
        return this.server.sendGroupMessage(input)
    }

    sendPresence(input: Parameters<SandboxServer['sendPresence']>[0]): Promise<void> {
        return this.server.sendPresence(input)
    }

    sendChatstate(input: Parameters<SandboxServer['sendChatstate']>[0]): Promise<void> {
        return this.server.sendChatstate(input)
    }

    sendReceipt(input: Parameters<SandboxServer['sendReceipt']>[0]): Promise<void> {
        return this.server.sendReceipt(input)
    }

    sendNotification(input: Parameters<SandboxServer['sendNotification']>[0]): Promise<string> {
        return this.server.sendNotification(input)
    }

    sendGroupEvent(input: Parameters<SandboxServer['sendGroupEvent']>[0]): Promise<string> {
        return this.server.sendGroupEvent(input)
    }

    sendCall(input: Parameters<SandboxServer['sendCall']>[0]): Promise<string> {
        return this.server.sendCall(input)
    }

    fault(
        device: string,
        kind: FaultKind | string,
        options: { readonly ms?: number } = {}
    ): Promise<void> {
        return this.server.faults.fault(device, kind, options)
    }

    /**
     * The next login of `device` (device JID, account JID or phone) is refused with
     * `<failure reason=…>`: `locked` (403), `banned` (406), `client_too_old` (405),
     * `bad_user_agent` (409), `not_authorized` (401), `service_unavailable` (503) or
     * `temp_banned` (402: zapo-js 0.3.0 emits `failure` but no close event for it).
     */
    refuseNextLogin(device: string, kind: FaultKind | string): void {
        this.server.refuseNextLogin(device, parseLoginRefusal(kind))
    }

    on<K extends keyof SandboxEvents>(name: K, listener: (event: SandboxEvents[K]) => void): this {
        this.server.events.on(name, listener)
        return this
    }

    off<K extends keyof SandboxEvents>(name: K, listener: (event: SandboxEvents[K]) => void): this {
        this.server.events.off(name, listener)
        return this
    }

    waitFor<K extends keyof SandboxEvents>(
        name: K,
        predicate?: (event: SandboxEvents[K]) => boolean,
        timeoutMs?: number
    ): Promise<SandboxEvents[K]> {
        return this.server.events.waitFor(name, predicate, timeoutMs)
    }

    /**
     * Resolves with a device once it is connected and has uploaded its prekeys (ready to receive
     * messages). `jid` narrows to one device; without it the first ready device wins.
     */
    waitForDevice(jid: string | null = null, timeoutMs = 30_000): Promise<DeviceInfo> {
        return this.server.registry.waitForDevice(jid, timeoutMs)
    }
}

/** Starts the protocol endpoint and the loopback control interface. */
export async function startSandbox(options: StartSandboxOptions = {}): Promise<Sandbox> {
    const host = options.host ?? SANDBOX_DEFAULTS.host
    const server = new SandboxServer({
        host,
        port: options.port ?? SANDBOX_DEFAULTS.port,
        autoScanMs: options.autoScanMs ?? null,
        qrRotateMs: options.qrRotateMs ?? null,
        preKeyLowWater: options.preKeyLowWater ?? SANDBOX_DEFAULTS.preKeyLowWater,
        logger: options.logger ?? null
    })
    await server.start()
    let control: ControlServer
    try {
        control = await startControlServer(server, options.controlPort ?? 0)
    } catch (error) {
        await server.close()
        throw error
    }
    return new Sandbox(server, control, host)
}
