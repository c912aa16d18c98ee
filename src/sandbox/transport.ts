/**
 * The protocol endpoint: a WebSocket listener on `/ws/chat`, each accepted socket a Connection,
 * its Noise handshake as responder (the server identity and certificate chain are made at
 * start), and the hand-over of an established connection to login or pairing according to what
 * its handshake payload carries.
 *
 * What a connection speaks on the wire (the prologue hashed into its handshake, the binary node
 * codec) is its WireDialect, chosen from the connection header it sent (`dialectFor`): `WA 6 3`
 * (zapo-js, WhatsApp Web: token dictionary version 3) or `WA 6 2` (Baileys 6.x: version 2).
 */
import { createServer } from 'node:http'
import type { IncomingMessage, Server as HttpServer } from 'node:http'
import type { AddressInfo } from 'node:net'

import { WebSocketServer } from 'ws'
import type { WebSocket } from 'ws'
import type { Logger } from 'zapo-js'
import { decodeBinaryNodeStanza, encodeBinaryNodeStanza } from 'zapo-js/transport'
import type { BinaryNode } from 'zapo-js/transport'

import { Connection } from './connection.js'
import { DICTIONARIES_V2, SINGLE_BYTE_TOKENS_V2 } from './dictionary-v2.js'
import type { SandboxEmitter } from './events.js'
import { delay, readUint, toNumber } from './nodes.js'
import { createServerIdentity, respondToHandshake } from './noise.js'
import type { HandshakeResult, ServerIdentity } from './noise.js'
import type { RegistrationData } from './registry.js'
import { createNodeCodec } from './wire-codec.js'

export const CHAT_PATH = '/ws/chat'

/** What one connection speaks on the wire once its header is read. */
export interface WireDialect {
    readonly name: string
    /** hashed into the Noise handshake before anything else */
    readonly prologue: Uint8Array
    readonly encodeNode: (node: BinaryNode) => Uint8Array
    readonly decodeNode: (bytes: Uint8Array) => Promise<BinaryNode>
    /**
     * How long to wait after the handshake before the first stanza. Baileys 6.x switches its
     * Noise state to transport keys without awaiting it after its finish message (two WebCrypto
     * HKDF calls, slow on a loaded machine): a stanza that arrives before that is decrypted with
     * handshake keys and breaks the connection. Over a real network the round trip does this.
     */
    readonly settleMs: number
}

/** zapo-js (and WhatsApp Web): header `WA 6 3`, token dictionary version 3. */
const WA_6_3: WireDialect = Object.freeze({
    name: 'wa-6-3',
    prologue: new Uint8Array([87, 65, 6, 3]),
    encodeNode: encodeBinaryNodeStanza,
    decodeNode: decodeBinaryNodeStanza,
    settleMs: 0
})

const V2_CODEC = createNodeCodec({
    singleByte: SINGLE_BYTE_TOKENS_V2,
    dictionaries: DICTIONARIES_V2
})

/** Baileys 6.x: header `WA 6 2`, token dictionary version 2. */
const WA_6_2: WireDialect = Object.freeze({
    name: 'wa-6-2',
    prologue: new Uint8Array([87, 65, 6, 2]),
    encodeNode: V2_CODEC.encodeStanza,
    decodeNode: V2_CODEC.decodeStanza,
    settleMs: 250
})

const DIALECTS: readonly WireDialect[] = Object.freeze([WA_6_3, WA_6_2])

/**
 * The dialect of a connection, from the 4-byte header it sent (`WA`, protocol version, token
 * dictionary version); null for a header no known client sends (the connection is refused).
 */
export function dialectFor(header: Uint8Array): WireDialect | null {
    return (
        DIALECTS.find(
            dialect =>
                header.length === dialect.prologue.length &&
                dialect.prologue.every((byte, i) => header[i] === byte)
        ) ?? null
    )
}

/** An established connection of a registered device: it logs in. */
export interface LoginHello {
    readonly username: number
    readonly deviceId: number
    readonly clientStatic: Uint8Array
}

export interface TransportHandlers {
    /** the handshake payload names a registered device */
    readonly login: (conn: Connection, hello: LoginHello) => Promise<void>
    /** the handshake payload registers a new companion: pairing starts */
    readonly register: (conn: Connection, registration: RegistrationData) => Promise<void>
    /** every stanza the client sends once the connection is established */
    readonly stanza: (conn: Connection, node: BinaryNode) => Promise<void>
}

export interface TransportOptions {
    readonly host: string
    readonly port: number
    readonly events: SandboxEmitter
    readonly logger: Logger
    readonly handlers: TransportHandlers
}

export class Transport {
    private identity: ServerIdentity | null = null
    private http: HttpServer | null = null
    private wss: WebSocketServer | null = null
    private nextConnectionId = 1
    private boundPort = 0
    private readonly live = new Set<Connection>()

    constructor(private readonly options: TransportOptions) {}

    get port(): number {
        return this.boundPort
    }

    get rootCa(): { readonly publicKey: Uint8Array; readonly serial: number } {
        if (!this.identity) throw new Error('sandbox is not started')
        return this.identity.rootCa
    }

    /** The open connections. */
    readonly connections = (): Iterable<Connection> => this.live

    async start(): Promise<void> {
        this.identity = await createServerIdentity()
        const http = createServer((_req, res) => {
            res.writeHead(426, { 'content-type': 'text/plain' })
            res.end('zapo sandbox: connect with a WebSocket to ' + CHAT_PATH + '\n')
        })
        // listen first: a listen error (port in use, host unknown) rejects here, with its code
        await new Promise<void>((resolve, reject) => {
            http.once('error', reject)
            http.listen(this.options.port, this.options.host, () => {
                http.off('error', reject)
                resolve()
            })
        })
        this.http = http
        const wss = new WebSocketServer({ server: http, path: CHAT_PATH })
        wss.on('connection', (ws, request) => this.accept(ws, request))
        wss.on('error', error => {
            this.options.logger.warn('sandbox listener error', { message: error.message })
        })
        this.wss = wss
        this.boundPort = (http.address() as AddressInfo).port
        this.options.logger.info('sandbox listening', {
            host: this.options.host,
            port: this.boundPort
        })
    }

    /** Closes every connection (WebSocket close 1001, then terminated), then the listener. */
    async close(): Promise<void> {
        const closing = [...this.live].map(async conn => {
            conn.close(1001, 'sandbox_shutdown')
            await conn.waitClosed(1_500)
        })
        await Promise.all(closing)
        for (const conn of this.live) conn.terminate()
        await new Promise<void>(resolve => (this.wss ? this.wss.close(() => resolve()) : resolve()))
        await new Promise<void>(resolve => {
            if (!this.http) return resolve()
            this.http.close(() => resolve())
            this.http.closeAllConnections()
        })
    }

    private accept(ws: WebSocket, request: IncomingMessage): void {
        const { events, logger, handlers } = this.options
        const conn = new Connection(
            this.nextConnectionId++,
            ws,
            request.socket.remoteAddress ?? 'unknown',
            handlers.stanza,
            logger
        )
        this.live.add(conn)
        events.emit('connection', { connectionId: conn.id, remoteAddress: conn.remoteAddress })
        ws.on('message', data => conn.receive(data))
        ws.on('error', error => {
            logger.debug('sandbox socket error', { connectionId: conn.id, message: error.message })
        })
        ws.on('close', () => {
            this.live.delete(conn)
            if (conn.device && conn.device.connection === conn) conn.device.connection = null
            void conn.markClosed().then(() => {
                events.emit('disconnect', { connectionId: conn.id, jid: conn.device?.jid ?? null })
            })
        })
        void this.handshake(conn)
    }

    private async handshake(conn: Connection): Promise<void> {
        const identity = this.identity
        if (!identity) return
        try {
            const first = await conn.nextHandshakeFrame()
            const header = conn.header ?? new Uint8Array(0)
            const dialect = dialectFor(header)
            if (!dialect) {
                throw new Error(
                    `unsupported connection header ${Buffer.from(header).toString('hex')}`
                )
            }
            const result = await respondToHandshake(
                identity,
                dialect.prologue,
                first,
                () => conn.nextHandshakeFrame(),
                frame => conn.writeRaw(frame)
            )
            conn.mode = result.mode
            conn.setTransport(result.transport, dialect)
            if (dialect.settleMs > 0) await delay(dialect.settleMs)
            const login = loginHello(result)
            if (login) await this.options.handlers.login(conn, login)
            else await this.options.handlers.register(conn, registrationOf(result))
        } catch (error) {
            if (!conn.closed) {
                this.options.logger.warn('sandbox handshake failed', {
                    connectionId: conn.id,
                    message: (error as Error).message
                })
                conn.terminate()
            }
        }
    }
}

function loginHello(result: HandshakeResult): LoginHello | null {
    const username = toNumber(result.payload.username)
    if (username === null || username <= 0) return null
    return {
        username,
        deviceId: toNumber(result.payload.device) ?? 0,
        clientStatic: result.clientStatic
    }
}

function registrationOf(result: HandshakeResult): RegistrationData {
    const pairing = result.payload.devicePairingData
    if (!pairing) throw new Error('client payload carries neither login nor registration')
    return {
        identityPub: pairing.eIdent ?? new Uint8Array(0),
        registrationId: readUint(pairing.eRegid ?? null),
        signedPreKey: {
            id: readUint(pairing.eSkeyId ?? null),
            publicKey: pairing.eSkeyVal ?? new Uint8Array(0),
            signature: pairing.eSkeySig ?? new Uint8Array(0)
        },
        noisePub: result.clientStatic
    }
}
