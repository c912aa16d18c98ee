/**
 * One client connection: the byte stream (intro header, 3-byte length-prefixed frames), the
 * Noise transport and the wire dialect once the handshake is done, ordered encrypted writes,
 * server-to-client iqs waiting for their answer, and the polite way to end a stream.
 */
import type { RawData, WebSocket } from 'ws'
import type { Logger } from 'zapo-js'
import type { BinaryNode } from 'zapo-js/transport'

import { delay } from './nodes.js'
import type { HandshakeMode, NoiseTransport } from './noise.js'
import type { PairingState } from './pairing-flow.js'
import type { DeviceRecord } from './registry.js'
import type { WireDialect } from './transport.js'

const HANDSHAKE_TIMEOUT_MS = 20_000
const CLIENT_IQ_TIMEOUT_MS = 15_000
const CLOSE_GRACE_MS = 2_000

interface PendingIq {
    readonly resolve: (node: BinaryNode) => void
    readonly reject: (error: Error) => void
    readonly timer: NodeJS.Timeout
}

function rawDataToBytes(data: RawData): Uint8Array {
    if (Array.isArray(data)) return new Uint8Array(Buffer.concat(data))
    if (data instanceof ArrayBuffer) return new Uint8Array(data)
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
}

/** Splits the client's byte stream into frames, after taking the intro header off. */
class FrameReader {
    private buffer: Uint8Array = new Uint8Array(0)
    /** the 4-byte connection header (`WA`, version, dictionary version), once read */
    header: Uint8Array | null = null

    push(chunk: Uint8Array): Uint8Array[] {
        const joined = new Uint8Array(this.buffer.length + chunk.length)
        joined.set(this.buffer, 0)
        joined.set(chunk, this.buffer.length)
        this.buffer = joined
        if (this.header === null) {
            let offset = 0
            if (this.buffer[0] === 0x45 && this.buffer[1] === 0x44) {
                if (this.buffer.length < 7) return []
                const routingLength =
                    ((this.buffer[4] ?? 0) << 16) |
                    ((this.buffer[5] ?? 0) << 8) |
                    (this.buffer[6] ?? 0)
                offset = 7 + routingLength
            }
            if (this.buffer.length < offset + 4) return []
            if (this.buffer[offset] !== 87 || this.buffer[offset + 1] !== 65) {
                throw new Error('connection header is not a WhatsApp Web header')
            }
            this.header = this.buffer.slice(offset, offset + 4)
            this.buffer = this.buffer.subarray(offset + 4)
        }
        const frames: Uint8Array[] = []
        while (this.buffer.length >= 3) {
            const length =
                ((this.buffer[0] ?? 0) << 16) | ((this.buffer[1] ?? 0) << 8) | (this.buffer[2] ?? 0)
            if (this.buffer.length < 3 + length) break
            frames.push(this.buffer.slice(3, 3 + length))
            this.buffer = this.buffer.subarray(3 + length)
        }
        return frames
    }
}

export function frameBytes(payload: Uint8Array): Uint8Array {
    const out = new Uint8Array(3 + payload.length)
    out[0] = (payload.length >> 16) & 0xff
    out[1] = (payload.length >> 8) & 0xff
    out[2] = payload.length & 0xff
    out.set(payload, 3)
    return out
}

export class Connection {
    readonly id: number
    readonly remoteAddress: string
    /** the logged-in device (login.ts), null before login and on pairing connections */
    device: DeviceRecord | null = null
    /** an unregistered companion's pairing (pairing-flow.ts), null on login connections */
    pairing: PairingState | null = null
    mode: HandshakeMode | null = null
    lateMs = 0
    closed = false
    /** set once a terminal stanza (stream error, failure) is sent: later sends are dropped */
    ending = false
    /** true between the offline preview and the client's batch request */
    offlineWaiting = false
    /**
     * `<message>` stanzas sent and not yet acknowledged by the client (a receipt or an ack with
     * their id), by id: queued again for the next login when the connection closes, as the
     * service does
     */
    readonly unacked = new Map<string, BinaryNode>()
    /** the Noise transport and the wire dialect, once the handshake is done */
    private wire: { readonly transport: NoiseTransport; readonly dialect: WireDialect } | null =
        null
    private readonly reader = new FrameReader()
    private readonly handshakeFrames: Uint8Array[] = []
    private handshakeWaiter: ((frame: Uint8Array) => void) | null = null
    private handshakeRejecter: ((error: Error) => void) | null = null
    private writeChain: Promise<void> = Promise.resolve()
    private readChain: Promise<void> = Promise.resolve()
    private readonly pending = new Map<string, PendingIq>()
    private readonly closeWaiters: (() => void)[] = []
    private readonly closeHooks: (() => void)[] = []

    constructor(
        id: number,
        private readonly ws: WebSocket,
        remoteAddress: string,
        private readonly onNode: (conn: Connection, node: BinaryNode) => Promise<void>,
        private readonly logger: Logger
    ) {
        this.id = id
        this.remoteAddress = remoteAddress
    }

    receive(data: RawData): void {
        let frames: Uint8Array[]
        try {
            frames = this.reader.push(rawDataToBytes(data))
        } catch (error) {
            this.logger.warn('sandbox dropped connection with bad framing', {
                connectionId: this.id,
                message: (error as Error).message
            })
            this.terminate()
            return
        }
        for (const frame of frames) {
            const wire = this.wire
            if (!wire) {
                const waiter = this.handshakeWaiter
                if (waiter) {
                    this.handshakeWaiter = null
                    waiter(frame)
                } else {
                    this.handshakeFrames.push(frame)
                }
                continue
            }
            const decrypted = wire.transport.decrypt(frame)
            this.readChain = this.readChain
                .then(async () => {
                    const node = await wire.dialect.decodeNode(await decrypted)
                    await this.onNode(this, node)
                })
                .catch((error: unknown) => {
                    this.logger.warn('sandbox failed to handle client frame', {
                        connectionId: this.id,
                        message: (error as Error).message
                    })
                })
        }
    }

    /** The connection header the client sent (available once its first frame arrived). */
    get header(): Uint8Array | null {
        return this.reader.header
    }

    nextHandshakeFrame(): Promise<Uint8Array> {
        const queued = this.handshakeFrames.shift()
        if (queued) return Promise.resolve(queued)
        if (this.closed) return Promise.reject(new Error('connection closed'))
        return new Promise((resolve, reject) => {
            const timer = setTimeout(() => {
                this.handshakeWaiter = null
                this.handshakeRejecter = null
                reject(new Error('handshake frame timeout'))
            }, HANDSHAKE_TIMEOUT_MS)
            this.handshakeWaiter = frame => {
                clearTimeout(timer)
                this.handshakeRejecter = null
                resolve(frame)
            }
            this.handshakeRejecter = error => {
                clearTimeout(timer)
                this.handshakeWaiter = null
                reject(error)
            }
        })
    }

    writeRaw(payload: Uint8Array): void {
        if (this.closed) return
        this.ws.send(frameBytes(payload))
    }

    setTransport(transport: NoiseTransport, dialect: WireDialect): void {
        this.wire = { transport, dialect }
        // Frames that raced the end of the handshake were queued as handshake frames.
        const early = this.handshakeFrames.splice(0)
        for (const frame of early) this.receive(frameBytes(frame) as unknown as RawData)
    }

    /** Encrypts and sends nodes strictly in order (the client decrypts with sequential nonces). */
    send(node: BinaryNode): Promise<void> {
        const wire = this.wire
        if (!wire || this.closed || this.ending) return Promise.resolve()
        // The nonce is taken now, in call order; encryption runs in parallel, writes stay ordered.
        const encrypted = wire.transport.encrypt(wire.dialect.encodeNode(node))
        const result = this.writeChain.then(async () => {
            const bytes = await encrypted
            if (this.closed) return
            this.ws.send(frameBytes(bytes))
        })
        this.writeChain = result.catch(() => undefined)
        return result
    }

    /** Sends a response to a client request, honouring an injected `late` fault. */
    async respond(node: BinaryNode): Promise<void> {
        if (this.lateMs > 0) await delay(this.lateMs)
        await this.send(node)
    }

    /** Sends an iq to the client and waits for its result/error. */
    query(node: BinaryNode, timeoutMs = CLIENT_IQ_TIMEOUT_MS): Promise<BinaryNode> {
        const id = node.attrs.id
        if (!id) return Promise.reject(new Error('iq needs an id'))
        return new Promise((resolve, reject) => {
            const timer = setTimeout(() => {
                this.pending.delete(id)
                reject(new Error('client did not answer the iq in time'))
            }, timeoutMs)
            this.pending.set(id, { resolve, reject, timer })
            this.send(node).catch((error: unknown) => {
                clearTimeout(timer)
                this.pending.delete(id)
                reject(error as Error)
            })
        })
    }

    resolvePending(node: BinaryNode): boolean {
        const id = node.attrs.id
        if (!id) return false
        const pending = this.pending.get(id)
        if (!pending) return false
        clearTimeout(pending.timer)
        this.pending.delete(id)
        pending.resolve(node)
        return true
    }

    /** Waits until the client closes the socket, up to `timeoutMs`. Resolves true if it did. */
    waitClosed(timeoutMs: number): Promise<boolean> {
        if (this.closed) return Promise.resolve(true)
        return new Promise(resolve => {
            const timer = setTimeout(() => resolve(false), timeoutMs)
            this.closeWaiters.push(() => {
                clearTimeout(timer)
                resolve(true)
            })
        })
    }

    /** Sends a terminal stanza, lets the client read it and close, then closes if it did not. */
    async endWith(node: BinaryNode | null, code = 1000): Promise<void> {
        if (this.ending) return
        const sent = node ? this.send(node) : Promise.resolve()
        // Nothing follows a terminal stanza on the real service.
        this.ending = true
        await sent.catch(() => undefined)
        const closedByClient = await this.waitClosed(CLOSE_GRACE_MS)
        if (!closedByClient) this.close(code)
    }

    close(code = 1000, reason = ''): void {
        if (this.ws.readyState === this.ws.OPEN || this.ws.readyState === this.ws.CONNECTING) {
            this.ws.close(code, reason)
        }
        // A peer that never answers the close handshake must not keep the process alive.
        const ws = this.ws
        setTimeout(() => {
            if (ws.readyState !== ws.CLOSED) ws.terminate()
        }, 1_000).unref()
    }

    terminate(): void {
        this.ws.terminate()
    }

    /** Runs `hook` once, as soon as the socket is closed (before pending answers are failed). */
    onClosed(hook: () => void): void {
        if (this.closed) hook()
        else this.closeHooks.push(hook)
    }

    /** Marks the socket closed; answers already received are handled before pendings fail. */
    markClosed(): Promise<void> {
        if (this.closed) return Promise.resolve()
        this.closed = true
        for (const hook of this.closeHooks.splice(0)) hook()
        const rejectHandshake = this.handshakeRejecter
        this.handshakeWaiter = null
        this.handshakeRejecter = null
        rejectHandshake?.(new Error('connection closed'))
        return this.readChain.then(() => {
            for (const [id, pending] of this.pending) {
                clearTimeout(pending.timer)
                pending.reject(new Error('connection closed'))
                this.pending.delete(id)
            }
            for (const waiter of this.closeWaiters.splice(0)) waiter()
        })
    }
}
