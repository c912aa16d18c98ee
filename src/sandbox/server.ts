/**
 * The sandbox protocol server: a WebSocket endpoint speaking the WhatsApp Web companion
 * transport (intro header, 3-byte length-prefixed frames, Noise), the pairing and login flows,
 * the settle-time queries a client sends, and the stanzas a test injects.
 */
import { createServer } from 'node:http'
import type { IncomingMessage, Server as HttpServer } from 'node:http'
import type { AddressInfo } from 'node:net'

import { WebSocketServer } from 'ws'
import type { WebSocket } from 'ws'
import type { Logger } from 'zapo-js'
import { randomBytesAsync } from 'zapo-js/crypto'
import type { BinaryNode } from 'zapo-js/transport'
import { uint8Equal } from 'zapo-js/util'

import { Connection } from './connection.js'
import { SandboxEmitter } from './events.js'
import { Faults, LOGIN_REFUSAL_REASONS } from './faults.js'
import type { FaultKind } from './faults.js'
import {
    HOST_DOMAIN,
    bytesContent,
    child,
    children,
    concat,
    delay,
    noopLogger,
    normalizeUserJid,
    nowSeconds,
    randomHex,
    readUint,
    sha1Sync,
    textContent,
    toNumber,
    uintBytes
} from './nodes.js'
import { createServerIdentity, respondToHandshake } from './noise.js'
import type { ServerIdentity } from './noise.js'
import {
    buildPairSuccessIdentity,
    enterLinkCode,
    finishLinkCode,
    verifyPairDeviceSign
} from './pairing.js'
import type { LinkCodePrimaryState } from './pairing.js'
import { PeerDirectory } from './peers.js'
import type { SignedPreKeyPublic } from './peers.js'
import { DeviceRegistry } from './registry.js'
import type { Account, DeviceRecord, RegistrationData } from './registry.js'

export const CHAT_PATH = '/ws/chat'
const RESTART_AFTER_PAIRING_GRACE_MS = 1_500
const QR_REF_COUNT = 6

export interface SandboxServerOptions {
    readonly host: string
    readonly port: number
    /** Delay before the simulated phone scans a QR presented to it with `presentQr`. */
    readonly autoScanMs: number | null
    /** Push fresh QR refs this often; null leaves rotation to the client's own ref timers. */
    readonly qrRotateMs: number | null
    /** One-time prekeys left on the server when it asks the device for more (default 5). */
    readonly preKeyLowWater: number
    readonly logger: Logger | null
}

export interface LinkCodeSession {
    readonly ref: string
    readonly phone: string
    readonly wrappedCompanionEphemeralPub: Uint8Array
    primary: LinkCodePrimaryState | null
    account: Account | null
}

export interface ScanResult {
    readonly status: 'paired' | 'refused'
    readonly jid: string | null
}

export interface SendMessageInput {
    /** A device JID (`<phone>:<device>@s.whatsapp.net`), an account JID or a bare phone number. */
    readonly to: string
    /** The simulated peer sending the message (`<phone>@s.whatsapp.net`). */
    readonly from: string
    readonly text: string
    readonly id?: string
    readonly pushName?: string
}

export interface SendGroupMessageInput {
    /** Devices in the group: a device JID, an account JID or a bare phone number. */
    readonly to: string
    /** The group: `<id>@g.us` or the bare id. */
    readonly group: string
    /** The group member (a simulated peer) who writes. */
    readonly from: string
    readonly text: string
    readonly id?: string
    readonly pushName?: string
}

export interface SendGroupMessageResult {
    readonly id: string
    /** `distribution`: the 1:1 envelope that carried the sender key, null once the device has it */
    readonly deliveries: readonly {
        readonly jid: string
        readonly distribution: 'pkmsg' | 'msg' | null
        readonly queued: boolean
    }[]
}

export interface SendMessageResult {
    readonly id: string
    readonly deliveries: readonly {
        readonly jid: string
        readonly type: 'pkmsg' | 'msg'
        readonly queued: boolean
    }[]
}

/** The `<skey>` of a prekey upload or signed-prekey rotation. */
function readSignedPreKey(skey: BinaryNode): SignedPreKeyPublic {
    return {
        id: readUint(bytesContent(child(skey, 'id'))),
        publicKey: bytesContent(child(skey, 'value')) ?? new Uint8Array(0),
        signature: bytesContent(child(skey, 'signature')) ?? new Uint8Array(0)
    }
}

export class SandboxServer {
    readonly options: SandboxServerOptions
    readonly events = new SandboxEmitter()
    readonly registry: DeviceRegistry
    readonly peers: PeerDirectory
    readonly faults: Faults
    private readonly logger: Logger
    private identity: ServerIdentity | null = null
    private http: HttpServer | null = null
    private wss: WebSocketServer | null = null
    private nextConnectionId = 1
    private nextStanzaId = 1
    private refuseScans = 0
    private readonly loginRefusals: { readonly target: string; readonly kind: FaultKind }[] = []
    private readonly connections = new Set<Connection>()
    private readonly pendingScans = new Set<NodeJS.Timeout>()
    private boundPort = 0
    private readonly pendingPairings = new Map<string, Promise<void>>()

    constructor(options: SandboxServerOptions) {
        this.options = options
        this.logger = options.logger ?? noopLogger()
        const { events, logger } = this
        this.peers = new PeerDirectory({ events, logger })
        this.registry = new DeviceRegistry({
            events,
            logger,
            stanzaId: () => this.stanzaId(),
            preKeyLowWater: options.preKeyLowWater,
            onDeviceCreated: jid => this.peers.forgetDevice(jid)
        })
        this.faults = new Faults({
            registry: this.registry,
            logger,
            connections: () => this.connections
        })
    }

    get port(): number {
        return this.boundPort
    }

    get rootCa(): { readonly publicKey: Uint8Array; readonly serial: number } {
        if (!this.identity) throw new Error('sandbox is not started')
        return this.identity.rootCa
    }

    async start(): Promise<void> {
        this.identity = await createServerIdentity()
        const http = createServer((_req, res) => {
            res.writeHead(426, { 'content-type': 'text/plain' })
            res.end('zapo sandbox: connect with a WebSocket to ' + CHAT_PATH + '\n')
        })
        const wss = new WebSocketServer({ server: http, path: CHAT_PATH })
        wss.on('connection', (ws, request) => this.accept(ws, request))
        this.http = http
        this.wss = wss
        await new Promise<void>((resolve, reject) => {
            http.once('error', reject)
            http.listen(this.options.port, this.options.host, () => {
                http.off('error', reject)
                resolve()
            })
        })
        this.boundPort = (http.address() as AddressInfo).port
        this.logger.info('sandbox listening', { host: this.options.host, port: this.boundPort })
    }

    async close(): Promise<void> {
        for (const timer of this.pendingScans) clearTimeout(timer)
        this.pendingScans.clear()
        const closing = [...this.connections].map(async conn => {
            conn.close(1001, 'sandbox_shutdown')
            await conn.waitClosed(1_500)
        })
        await Promise.all(closing)
        for (const conn of this.connections) conn.terminate()
        await new Promise<void>(resolve => (this.wss ? this.wss.close(() => resolve()) : resolve()))
        await new Promise<void>(resolve => {
            if (!this.http) return resolve()
            this.http.close(() => resolve())
            this.http.closeAllConnections()
        })
        this.events.removeAllListeners()
    }

    // ---- public test surface -------------------------------------------------------------

    refuseNextScan(): void {
        this.refuseScans += 1
    }

    /** The phone scans a QR string (`ref,noisePub,identityPub,advSecret[,platform]`). */
    async scan(qr: string, options: { readonly phone?: string } = {}): Promise<ScanResult> {
        const parts = qr.trim().split(',')
        if (parts.length < 4) throw new Error('not a WhatsApp Web QR string')
        const [ref, noiseB64, identityB64, advB64] = parts as [string, string, string, string]
        const conn = [...this.connections].find(
            entry => !entry.closed && entry.registration !== null && entry.refs.includes(ref)
        )
        if (!conn || !conn.registration) {
            throw new Error('QR is expired or unknown: no pairing connection shows that ref')
        }
        const noisePub = new Uint8Array(Buffer.from(noiseB64, 'base64'))
        const identityPub = new Uint8Array(Buffer.from(identityB64, 'base64'))
        const advSecret = new Uint8Array(Buffer.from(advB64, 'base64'))
        if (
            !uint8Equal(noisePub, conn.registration.noisePub) ||
            !uint8Equal(identityPub, conn.registration.identityPub)
        ) {
            throw new Error('QR keys do not match the connection that shows the ref')
        }
        if (advSecret.length !== 32) throw new Error('QR ADV secret must be 32 bytes')
        if (this.refuseScans > 0) {
            this.refuseScans -= 1
            this.logger.info('sandbox refused scan', { connectionId: conn.id })
            await this.sendPairDevice(conn)
            return { status: 'refused', jid: null }
        }
        const account = await this.registry.accountFor(options.phone ?? null)
        const device = await this.completePairing(conn, account, advSecret, 'qr')
        return { status: 'paired', jid: device.jid }
    }

    /** Schedules a scan `autoScanMs` later (immediately when auto-scan is off). */
    presentQr(qr: string, options: { readonly phone?: string } = {}): Promise<ScanResult> {
        const delayMs = this.options.autoScanMs ?? 0
        return new Promise((resolve, reject) => {
            const timer = setTimeout(() => {
                this.pendingScans.delete(timer)
                this.scan(qr, options).then(resolve, reject)
            }, delayMs)
            this.pendingScans.add(timer)
        })
    }

    /** The phone user types the pairing code the companion displays. */
    async enterPairingCode(
        code: string,
        options: { readonly phone?: string } = {}
    ): Promise<ScanResult> {
        const candidates = [...this.connections].filter(
            entry =>
                !entry.closed &&
                entry.linkCode !== null &&
                entry.linkCode.primary === null &&
                (options.phone === undefined || entry.linkCode.phone === options.phone)
        )
        const conn = candidates[candidates.length - 1]
        if (!conn || !conn.linkCode) {
            throw new Error('no companion is waiting for a pairing code')
        }
        const session = conn.linkCode
        const account = await this.registry.accountFor(session.phone)
        session.account = account
        session.primary = await enterLinkCode(code, session.wrappedCompanionEphemeralPub)
        const paired = this.events.waitFor(
            'paired',
            event => event.connectionId === conn.id,
            30_000,
            conn.id
        )
        await conn.send({
            tag: 'notification',
            attrs: {
                from: HOST_DOMAIN,
                id: this.stanzaId(),
                type: 'link_code_companion_reg',
                t: nowSeconds()
            },
            content: [
                {
                    tag: 'link_code_companion_reg',
                    attrs: { stage: 'primary_hello' },
                    content: [
                        { tag: 'link_code_pairing_ref', attrs: {}, content: session.ref },
                        {
                            tag: 'link_code_pairing_wrapped_primary_ephemeral_pub',
                            attrs: {},
                            content: session.primary.wrappedPrimaryEphemeralPub
                        },
                        { tag: 'primary_identity_pub', attrs: {}, content: account.identity.pubKey }
                    ]
                }
            ]
        })
        const failed = this.events.waitFor(
            'pairing-failed',
            event => event.connectionId === conn.id,
            30_000,
            conn.id
        )
        paired.catch(() => undefined)
        failed.catch(() => undefined)
        try {
            const outcome = await Promise.race([
                paired.then(event => ({ ok: true as const, jid: event.jid })),
                failed.then(event => ({ ok: false as const, reason: event.reason }))
            ])
            if (!outcome.ok) throw new Error(`pairing code was not accepted (${outcome.reason})`)
            return { status: 'paired', jid: outcome.jid }
        } finally {
            this.events.cancelWaits(conn.id)
        }
    }

    /**
     * The next login of `target` (a device JID, or an account JID / phone number for any of its
     * devices) is answered with `<failure reason=…>` instead of `<success>`. Each call refuses
     * one login; calls queue up.
     */
    refuseNextLogin(target: string, kind: FaultKind): void {
        const reason = LOGIN_REFUSAL_REASONS[kind]
        if (reason === undefined) throw new Error(`"${kind}" is not a login refusal`)
        const trimmed = target.trim()
        if (trimmed === '')
            throw new Error('refuseNextLogin needs a device JID, account JID or phone')
        this.loginRefusals.push({ target: trimmed, kind })
    }

    async sendMessage(input: SendMessageInput): Promise<SendMessageResult> {
        const targets = this.registry.resolveDevices(input.to)
        if (targets.length === 0) throw new Error(`no paired device matches ${input.to}`)
        const peerJid = normalizeUserJid(input.from)
        const peer = await this.peers.peerFor(peerJid)
        const id = input.id ?? `3EB0${await randomHex(8)}`
        const deliveries: { jid: string; type: 'pkmsg' | 'msg'; queued: boolean }[] = []
        for (const device of targets) {
            await this.registry.waitForKeys(device, 10_000)
            const envelope = await peer.encryptText(
                device.jid,
                () => this.registry.keyBundle(device),
                input.text
            )
            const node: BinaryNode = {
                tag: 'message',
                attrs: {
                    id,
                    from: peerJid,
                    type: 'text',
                    t: nowSeconds(),
                    ...(input.pushName ? { notify: input.pushName } : {})
                },
                content: [
                    {
                        tag: 'enc',
                        attrs: { v: '2', type: envelope.type },
                        content: envelope.ciphertext
                    }
                ]
            }
            const queued = await this.deliver(device, node)
            deliveries.push({ jid: device.jid, type: envelope.type, queued })
        }
        return { id, deliveries }
    }

    /** A text from `from` in group `group`, to every targeted device (sender keys, `skmsg`). */
    async sendGroupMessage(input: SendGroupMessageInput): Promise<SendGroupMessageResult> {
        const targets = this.registry.resolveDevices(input.to)
        if (targets.length === 0) throw new Error(`no paired device matches ${input.to}`)
        const group = input.group.includes('@') ? input.group : `${input.group}@g.us`
        const peerJid = normalizeUserJid(input.from)
        const peer = await this.peers.peerFor(peerJid)
        const id = input.id ?? `3EB0${await randomHex(8)}`
        for (const device of targets) await this.registry.waitForKeys(device, 10_000)
        const encrypted = await peer.encryptGroupText(
            group,
            input.text,
            targets.map(device => ({
                jid: device.jid,
                bundle: () => this.registry.keyBundle(device)
            }))
        )
        const deliveries: { jid: string; distribution: 'pkmsg' | 'msg' | null; queued: boolean }[] =
            []
        for (const device of targets) {
            const distribution = encrypted.distributions.get(device.jid)
            const content: BinaryNode[] = []
            if (distribution) {
                content.push({
                    tag: 'enc',
                    attrs: { v: '2', type: distribution.type },
                    content: distribution.ciphertext
                })
            }
            content.push({ tag: 'enc', attrs: { v: '2', type: 'skmsg' }, content: encrypted.skmsg })
            const node: BinaryNode = {
                tag: 'message',
                attrs: {
                    id,
                    from: group,
                    participant: peerJid,
                    type: 'text',
                    t: nowSeconds(),
                    ...(input.pushName ? { notify: input.pushName } : {})
                },
                content
            }
            const queued = await this.deliver(device, node)
            deliveries.push({ jid: device.jid, distribution: distribution?.type ?? null, queued })
        }
        return { id, deliveries }
    }

    async sendPresence(input: {
        readonly to: string
        readonly from: string
        readonly type?: 'available' | 'unavailable'
        readonly last?: number
    }): Promise<void> {
        await this.deliverToAll(input.to, {
            tag: 'presence',
            attrs: {
                from: normalizeUserJid(input.from),
                ...(input.type === 'unavailable'
                    ? { type: 'unavailable', last: String(input.last ?? nowSeconds()) }
                    : {})
            }
        })
    }

    async sendChatstate(input: {
        readonly to: string
        readonly from: string
        readonly state?: 'composing' | 'paused' | 'recording'
        readonly participant?: string
    }): Promise<void> {
        const state = input.state ?? 'composing'
        await this.deliverToAll(input.to, {
            tag: 'chatstate',
            attrs: {
                from: input.from.includes('@') ? input.from : normalizeUserJid(input.from),
                ...(input.participant ? { participant: input.participant } : {})
            },
            content: [
                state === 'recording'
                    ? { tag: 'composing', attrs: { media: 'audio' } }
                    : { tag: state, attrs: {} }
            ]
        })
    }

    async sendReceipt(input: {
        readonly to: string
        readonly from: string
        readonly id: string
        readonly type?: 'delivery' | 'read' | 'played'
    }): Promise<void> {
        const type = input.type ?? 'delivery'
        await this.deliverToAll(input.to, {
            tag: 'receipt',
            attrs: {
                from: normalizeUserJid(input.from),
                id: input.id,
                t: nowSeconds(),
                ...(type === 'delivery' ? {} : { type })
            }
        })
    }

    async sendNotification(input: {
        readonly to: string
        readonly type?: string
        readonly from?: string
        readonly content?: readonly BinaryNode[]
    }): Promise<string> {
        const id = this.stanzaId()
        const type = input.type ?? 'picture'
        const from = input.from ? normalizeUserJid(input.from) : HOST_DOMAIN
        await this.deliverToAll(input.to, {
            tag: 'notification',
            attrs: { from, id, type, t: nowSeconds() },
            content: input.content
                ? [...input.content]
                : [{ tag: 'set', attrs: { jid: from, id: String(Date.now()) } }]
        })
        return id
    }

    async sendGroupEvent(input: {
        readonly to: string
        readonly group: string
        readonly action: 'add' | 'remove' | 'promote' | 'demote' | 'subject' | 'announce'
        readonly author: string
        readonly participants?: readonly string[]
        readonly subject?: string
    }): Promise<string> {
        const id = this.stanzaId()
        const group = input.group.includes('@') ? input.group : `${input.group}@g.us`
        let action: BinaryNode
        if (input.action === 'subject') {
            action = {
                tag: 'subject',
                attrs: {
                    subject: input.subject ?? 'sandbox group',
                    s_t: nowSeconds(),
                    s_o: normalizeUserJid(input.author)
                }
            }
        } else if (input.action === 'announce') {
            action = { tag: 'announcement', attrs: {} }
        } else {
            action = {
                tag: input.action,
                attrs: {},
                content: (input.participants ?? []).map(jid => ({
                    tag: 'participant',
                    attrs: { jid: normalizeUserJid(jid) }
                }))
            }
        }
        await this.deliverToAll(input.to, {
            tag: 'notification',
            attrs: {
                from: group,
                id,
                type: 'w:gp2',
                participant: normalizeUserJid(input.author),
                t: nowSeconds()
            },
            content: [action]
        })
        return id
    }

    async sendCall(input: {
        readonly to: string
        readonly from: string
        readonly video?: boolean
    }): Promise<string> {
        const callId = await randomHex(16)
        const from = normalizeUserJid(input.from)
        await this.deliverToAll(input.to, {
            tag: 'call',
            attrs: { from, id: this.stanzaId(), t: nowSeconds() },
            content: [
                {
                    tag: 'offer',
                    attrs: { 'call-id': callId, 'call-creator': from },
                    content: input.video
                        ? [{ tag: 'video', attrs: {} }]
                        : [{ tag: 'audio', attrs: { enc: 'opus', rate: '16000' } }]
                }
            ]
        })
        return callId
    }

    // ---- connections -----------------------------------------------------------------------

    private accept(ws: WebSocket, request: IncomingMessage): void {
        const conn = new Connection(
            this.nextConnectionId++,
            ws,
            request.socket.remoteAddress ?? 'unknown',
            (c, node) => this.handleNode(c, node),
            this.logger
        )
        this.connections.add(conn)
        this.events.emit('connection', { connectionId: conn.id, remoteAddress: conn.remoteAddress })
        ws.on('message', data => conn.receive(data))
        ws.on('error', error => {
            this.logger.debug('sandbox socket error', {
                connectionId: conn.id,
                message: error.message
            })
        })
        ws.on('close', () => {
            this.connections.delete(conn)
            if (conn.device && conn.device.connection === conn) conn.device.connection = null
            void conn.markClosed().then(() => {
                this.events.emit('disconnect', {
                    connectionId: conn.id,
                    jid: conn.device?.jid ?? null
                })
            })
        })
        void this.runHandshake(conn)
    }

    private async runHandshake(conn: Connection): Promise<void> {
        const identity = this.identity
        if (!identity) return
        try {
            const first = await conn.nextHandshakeFrame()
            const result = await respondToHandshake(
                identity,
                first,
                () => conn.nextHandshakeFrame(),
                frame => conn.writeRaw(frame)
            )
            conn.mode = result.mode
            conn.setTransport(result.transport)
            const username = toNumber(result.payload.username)
            if (username !== null && username > 0) {
                await this.login(
                    conn,
                    username,
                    toNumber(result.payload.device) ?? 0,
                    result.clientStatic
                )
                return
            }
            const pairing = result.payload.devicePairingData
            if (!pairing) throw new Error('client payload carries neither login nor registration')
            conn.registration = {
                identityPub: pairing.eIdent ?? new Uint8Array(0),
                registrationId: readUint(pairing.eRegid ?? null),
                signedPreKey: {
                    id: readUint(pairing.eSkeyId ?? null),
                    publicKey: pairing.eSkeyVal ?? new Uint8Array(0),
                    signature: pairing.eSkeySig ?? new Uint8Array(0)
                },
                noisePub: result.clientStatic
            }
            await this.sendPairDevice(conn)
            if (this.options.qrRotateMs !== null) {
                conn.rotateTimer = setInterval(() => {
                    void this.sendPairDevice(conn).catch(() => undefined)
                }, this.options.qrRotateMs)
            }
        } catch (error) {
            if (!conn.closed) {
                this.logger.warn('sandbox handshake failed', {
                    connectionId: conn.id,
                    message: (error as Error).message
                })
                conn.terminate()
            }
        }
    }

    private async sendPairDevice(conn: Connection): Promise<void> {
        const refs: string[] = []
        for (let i = 0; i < QR_REF_COUNT; i += 1) {
            refs.push(`2@${Buffer.from(await randomBytesAsync(36)).toString('base64')}`)
        }
        conn.refs = refs
        await conn.query({
            tag: 'iq',
            attrs: { from: HOST_DOMAIN, id: this.stanzaId(), type: 'set', xmlns: 'md' },
            content: [
                {
                    tag: 'pair-device',
                    attrs: {},
                    content: refs.map(ref => ({ tag: 'ref', attrs: {}, content: ref }))
                }
            ]
        })
        this.events.emit('qr', { connectionId: conn.id, refs })
    }

    private async login(
        conn: Connection,
        username: number,
        deviceId: number,
        clientStatic: Uint8Array
    ): Promise<void> {
        const jid = `${username}:${deviceId}@${HOST_DOMAIN}`
        await this.pendingPairings.get(jid)
        const refusal = this.takeLoginRefusal(jid, String(username))
        if (refusal) {
            const reason = LOGIN_REFUSAL_REASONS[refusal.kind] as number
            this.logger.info('sandbox refusing login', { jid, kind: refusal.kind, reason })
            this.events.emit('login-refused', {
                jid,
                connectionId: conn.id,
                kind: refusal.kind,
                reason
            })
            await conn.endWith({
                tag: 'failure',
                attrs: { reason: String(reason), location: 'sandbox' }
            })
            return
        }
        if (this.registry.isRemoved(jid)) {
            await conn.endWith({ tag: 'failure', attrs: { reason: '401', location: 'sandbox' } })
            return
        }
        let device = this.registry.device(jid)
        if (!device) {
            // The sandbox keeps state in memory; a device paired against an earlier run is adopted.
            const account = await this.registry.accountFor(String(username))
            account.nextDeviceId = Math.max(account.nextDeviceId, deviceId + 1)
            device = this.registry.createDevice(account, deviceId, clientStatic, null, 'unknown')
            this.logger.info('sandbox adopted unknown device', { jid })
        } else if (!uint8Equal(device.noisePub, clientStatic)) {
            await conn.endWith({ tag: 'failure', attrs: { reason: '401', location: 'sandbox' } })
            return
        }
        const previous = device.connection
        if (previous && previous !== conn && !previous.closed) {
            void previous.endWith({
                tag: 'stream:error',
                attrs: {},
                content: [{ tag: 'conflict', attrs: { type: 'replaced' } }]
            })
        }
        device.connection = conn
        device.logins += 1
        conn.device = device
        await conn.send({
            tag: 'success',
            attrs: {
                t: nowSeconds(),
                props: '1',
                abprops: '1',
                location: 'sandbox',
                creation: String(Math.floor(device.pairedAt / 1000)),
                lid: device.lid
            }
        })
        this.events.emit('login', { jid, connectionId: conn.id, handshake: conn.mode ?? 'xx' })
        // Offline delivery as the service does it: with nothing queued, only the end marker; else
        // a preview, the client asks for a batch, the queued stanzas follow, then the end marker
        // (the client emits offline_resume events).
        if (device.offline.length === 0) {
            await conn.send({
                tag: 'ib',
                attrs: {},
                content: [{ tag: 'offline', attrs: { count: '0' } }]
            })
            return
        }
        conn.offlineWaiting = true
        await conn.send({
            tag: 'ib',
            attrs: {},
            content: [
                {
                    tag: 'offline_preview',
                    attrs: {
                        count: String(device.offline.length),
                        message: String(device.offline.filter(n => n.tag === 'message').length),
                        notification: '0',
                        receipt: '0',
                        call: '0'
                    }
                }
            ]
        })
    }

    private async deliverOffline(conn: Connection): Promise<void> {
        const device = conn.device
        if (!device || !conn.offlineWaiting) return
        conn.offlineWaiting = false
        const queued = device.offline.splice(0)
        for (const node of queued) {
            await conn.send({ ...node, attrs: { ...node.attrs, offline: '1' } })
        }
        await conn.send({
            tag: 'ib',
            attrs: {},
            content: [{ tag: 'offline', attrs: { count: String(queued.length) } }]
        })
    }

    private async completePairing(
        conn: Connection,
        account: Account,
        advSecret: Uint8Array,
        via: 'qr' | 'code'
    ): Promise<DeviceRecord> {
        const registration = conn.registration
        if (!registration) throw new Error('connection is not pairing')
        const deviceId = account.nextDeviceId++
        const jid = `${account.phone}:${deviceId}@${HOST_DOMAIN}`
        const lid = `${account.lidUser}:${deviceId}@lid`
        const identity = await buildPairSuccessIdentity({
            accountIdentity: account.identity,
            companionIdentityPub: registration.identityPub,
            advSecret,
            keyIndex: deviceId
        })
        if (conn.rotateTimer) clearInterval(conn.rotateTimer)
        conn.rotateTimer = null
        conn.refs = []
        // The companion reconnects as soon as it answered; its login waits for this pairing.
        let settle: () => void = () => undefined
        this.pendingPairings.set(jid, new Promise<void>(resolve => (settle = resolve)))
        try {
            return await this.finishPairing(conn, account, identity, registration, jid, lid, via)
        } finally {
            this.pendingPairings.delete(jid)
            settle()
        }
    }

    private async finishPairing(
        conn: Connection,
        account: Account,
        identity: Awaited<ReturnType<typeof buildPairSuccessIdentity>>,
        registration: RegistrationData,
        jid: string,
        lid: string,
        via: 'qr' | 'code'
    ): Promise<DeviceRecord> {
        const deviceId = identity.keyIndex
        const answer = await conn.query({
            tag: 'iq',
            attrs: { from: HOST_DOMAIN, id: this.stanzaId(), type: 'set', xmlns: 'md' },
            content: [
                {
                    tag: 'pair-success',
                    attrs: {},
                    content: [
                        { tag: 'device', attrs: { jid, lid } },
                        { tag: 'platform', attrs: { name: 'android' } },
                        {
                            tag: 'device-identity',
                            attrs: { 'key-index': String(deviceId) },
                            content: identity.wrapped
                        }
                    ]
                }
            ]
        })
        const signNode = child(answer, 'pair-device-sign')
        const signed = bytesContent(child(signNode, 'device-identity'))
        if (answer.attrs.type !== 'result' || !signed) {
            throw new Error('companion rejected pair-success')
        }
        const valid = await verifyPairDeviceSign({
            signedIdentityBytes: signed,
            expectedDetails: identity.details,
            companionIdentityPub: registration.identityPub,
            accountIdentityPub: account.identity.pubKey
        })
        if (!valid) {
            await conn.endWith({ tag: 'failure', attrs: { reason: '401', location: 'sandbox' } })
            throw new Error('companion device signature is invalid')
        }
        const device = this.registry.createDevice(
            account,
            deviceId,
            registration.noisePub,
            registration,
            'web'
        )
        this.logger.info('sandbox paired device', { jid, via })
        this.events.emit('paired', { jid, lid, phone: account.phone, connectionId: conn.id, via })
        // The real service restarts the stream with 515; a client that already reconnects on its
        // own (zapo-js does) closes first and never sees it.
        void conn.waitClosed(RESTART_AFTER_PAIRING_GRACE_MS).then(closed => {
            if (!closed) {
                void conn.endWith({ tag: 'stream:error', attrs: { code: '515' } })
            }
        })
        return device
    }

    // ---- client stanzas --------------------------------------------------------------------

    private async handleNode(conn: Connection, node: BinaryNode): Promise<void> {
        this.events.emit('client-stanza', {
            connectionId: conn.id,
            jid: conn.device?.jid ?? null,
            node
        })
        if (node.tag === 'iq') {
            if (
                (node.attrs.type === 'result' || node.attrs.type === 'error') &&
                conn.resolvePending(node)
            ) {
                return
            }
            await this.handleIq(conn, node)
            return
        }
        if (node.tag === 'ib') {
            if (child(node, 'offline_batch')) await this.deliverOffline(conn)
            return
        }
        if (node.tag === 'receipt' || node.tag === 'notification' || node.tag === 'call') {
            if (node.attrs.id && node.tag === 'receipt') {
                await conn.respond({
                    tag: 'ack',
                    attrs: {
                        class: 'receipt',
                        id: node.attrs.id,
                        from: node.attrs.to ?? HOST_DOMAIN,
                        ...(node.attrs.type ? { type: node.attrs.type } : {})
                    }
                })
            }
            return
        }
        if (node.tag === 'message' && node.attrs.id) {
            if (conn.device) await this.peers.receive(conn.device.jid, node)
            await conn.respond({
                tag: 'ack',
                attrs: {
                    class: 'message',
                    id: node.attrs.id,
                    from: node.attrs.to ?? HOST_DOMAIN,
                    t: nowSeconds()
                }
            })
        }
        // presence, ack, chatstate and the rest need no answer.
    }

    private async handleIq(conn: Connection, node: BinaryNode): Promise<void> {
        const id = node.attrs.id ?? ''
        const xmlns = node.attrs.xmlns ?? ''
        const first = children(node)[0]
        const result = (content?: BinaryNode[]): BinaryNode => ({
            tag: 'iq',
            attrs: { from: node.attrs.to ?? HOST_DOMAIN, id, type: 'result' },
            ...(content ? { content } : {})
        })
        const error = (code: number, text: string): BinaryNode => ({
            tag: 'iq',
            attrs: { from: node.attrs.to ?? HOST_DOMAIN, id, type: 'error' },
            content: [{ tag: 'error', attrs: { code: String(code), text } }]
        })
        if (xmlns === 'w:p' || xmlns === 'urn:xmpp:ping') {
            await conn.respond(result())
            return
        }
        if (xmlns === 'md' && first?.tag === 'link_code_companion_reg') {
            await conn.respond(await this.handleLinkCode(conn, first, result, error))
            const account = conn.linkCode?.account ?? null
            const advSecret = conn.linkCodeAdvSecret
            if (first.attrs.stage === 'companion_finish' && account && advSecret) {
                conn.linkCode = null
                conn.linkCodeAdvSecret = null
                // Detached: the client's answer to pair-success arrives through this same
                // ordered read chain. The delay lets it commit the derived ADV secret first.
                void delay(100)
                    .then(() => this.completePairing(conn, account, advSecret, 'code'))
                    .catch((err: unknown) => {
                        this.logger.warn('sandbox pairing-code completion failed', {
                            connectionId: conn.id,
                            message: (err as Error).message
                        })
                    })
            }
            return
        }
        if (xmlns === 'abt') {
            await conn.respond(
                result([
                    {
                        tag: 'props',
                        attrs: {
                            protocol: '1',
                            ab_key: 'sandbox',
                            hash: 'sandbox',
                            refresh: '86400'
                        }
                    }
                ])
            )
            return
        }
        if (xmlns === 'usync' && first?.tag === 'usync') {
            const protocols = children(child(first, 'query')).map(entry => entry.tag)
            if (protocols.length === 1 && protocols[0] === 'devices') {
                await conn.respond(result([this.deviceListNode(first)]))
                return
            }
        }
        if (xmlns === 'w:m' && first?.tag === 'media_conn') {
            // Media transfer is not modelled: the host answers nothing, uploads fail.
            await conn.respond(
                result([
                    {
                        tag: 'media_conn',
                        attrs: { auth: await randomHex(16), ttl: '3600', auth_ttl: '3600' },
                        content: [{ tag: 'host', attrs: { hostname: 'media.sandbox.invalid' } }]
                    }
                ])
            )
            return
        }
        if (xmlns === 'privacy' && node.attrs.type === 'set' && first?.tag === 'tokens') {
            await conn.respond(result())
            return
        }
        if (xmlns === 'passive' || xmlns === 'urn:xmpp:whatsapp:dirty' || xmlns === 'w:stats') {
            await conn.respond(result())
            return
        }
        if (xmlns === 'encrypt' && conn.device) {
            await conn.respond(await this.handleEncrypt(conn.device, node, first, result, error))
            return
        }
        if (xmlns === 'md' && first?.tag === 'remove-companion-device' && conn.device) {
            // A companion may only unlink itself; the server confirms, forgets the device and
            // ends the stream with a device_removed conflict (the client then clears its store).
            const device = conn.device
            const target = first.attrs.jid ?? ''
            if (target.split('@')[0] !== device.jid.split('@')[0]) {
                await conn.respond(error(403, 'forbidden'))
                return
            }
            await conn.respond(result())
            this.registry.removeDevice(device.jid)
            this.events.emit('device-removed', {
                jid: device.jid,
                reason: first.attrs.reason ?? null,
                connectionId: conn.id
            })
            await conn.endWith({
                tag: 'stream:error',
                attrs: {},
                content: [{ tag: 'conflict', attrs: { type: 'device_removed' } }]
            })
            return
        }
        this.logger.debug('sandbox does not model iq', {
            xmlns,
            type: node.attrs.type,
            child: first?.tag
        })
        await conn.respond(error(501, 'feature-not-implemented'))
    }

    private async handleLinkCode(
        conn: Connection,
        reg: BinaryNode,
        result: (content?: BinaryNode[]) => BinaryNode,
        error: (code: number, text: string) => BinaryNode
    ): Promise<BinaryNode> {
        const stage = reg.attrs.stage
        if (stage === 'get_country_code') {
            return result([{ tag: 'country_code', attrs: { iso: 'US' } }])
        }
        if (stage === 'companion_hello') {
            const phone = (reg.attrs.jid ?? '').split('@')[0]?.split(':')[0] ?? ''
            const wrapped = bytesContent(
                child(reg, 'link_code_pairing_wrapped_companion_ephemeral_pub')
            )
            if (!conn.registration || !/^\d{6,15}$/.test(phone) || !wrapped) {
                return error(400, 'bad-request')
            }
            const ref = `2@${Buffer.from(await randomBytesAsync(24)).toString('base64')}`
            conn.linkCode = {
                ref,
                phone,
                wrappedCompanionEphemeralPub: wrapped,
                primary: null,
                account: null
            }
            this.events.emit('pairing-code', { connectionId: conn.id, phone, ref })
            return result([
                {
                    tag: 'link_code_companion_reg',
                    attrs: {},
                    content: [{ tag: 'link_code_pairing_ref', attrs: {}, content: ref }]
                }
            ])
        }
        if (stage === 'companion_finish') {
            const session = conn.linkCode
            const wrappedBundle = bytesContent(child(reg, 'link_code_pairing_wrapped_key_bundle'))
            const companionIdentity = bytesContent(child(reg, 'companion_identity_public'))
            const ref = textContent(child(reg, 'link_code_pairing_ref'))
            if (
                !session ||
                !session.primary ||
                !session.account ||
                !wrappedBundle ||
                !companionIdentity ||
                ref !== session.ref
            ) {
                return error(400, 'bad-request')
            }
            try {
                const advSecret = await finishLinkCode({
                    state: session.primary,
                    accountIdentity: session.account.identity,
                    wrappedKeyBundle: wrappedBundle,
                    companionIdentityPub: companionIdentity
                })
                conn.linkCodeAdvSecret = advSecret
                return result()
            } catch {
                // The code typed on the phone did not match: the bundle does not decrypt.
                session.primary = null
                this.events.emit('pairing-failed', { connectionId: conn.id, reason: 'wrong_code' })
                return error(401, 'not-authorized')
            }
        }
        return error(400, 'bad-request')
    }

    private async handleEncrypt(
        device: DeviceRecord,
        node: BinaryNode,
        first: BinaryNode | undefined,
        result: (content?: BinaryNode[]) => BinaryNode,
        error: (code: number, text: string) => BinaryNode
    ): Promise<BinaryNode> {
        if (node.attrs.type === 'get' && first?.tag === 'key') {
            const users: BinaryNode[] = []
            for (const user of children(first)) {
                const jid = user.attrs.jid
                if (!jid) continue
                users.push(await this.peerKeyNode(jid))
            }
            return result([{ tag: 'list', attrs: {}, content: users }])
        }
        if (node.attrs.type === 'set' && child(node, 'list')) {
            const identity = bytesContent(child(node, 'identity'))
            const registration = bytesContent(child(node, 'registration'))
            const skey = child(node, 'skey')
            if (!identity || !registration || !skey) return error(400, 'bad-request')
            device.identityPub = identity
            device.registrationId = readUint(registration)
            device.signedPreKey = readSignedPreKey(skey)
            for (const key of children(child(node, 'list'))) {
                const keyId = readUint(bytesContent(child(key, 'id')))
                const value = bytesContent(child(key, 'value'))
                if (value) device.preKeys.set(keyId, value)
            }
            device.keysUploaded = true
            this.events.emit('prekeys', { jid: device.jid, count: device.preKeys.size })
            return result()
        }
        if (node.attrs.type === 'set' && first?.tag === 'rotate') {
            const skey = child(first, 'skey')
            if (!skey) return error(400, 'bad-request')
            device.signedPreKey = readSignedPreKey(skey)
            return result()
        }
        if (node.attrs.type === 'get' && first?.tag === 'count') {
            return result([{ tag: 'count', attrs: { value: String(device.preKeys.size) } }])
        }
        if (node.attrs.type === 'get' && first?.tag === 'digest') {
            if (!device.keysUploaded || !device.signedPreKey) return error(404, 'item-not-found')
            return result([this.digestNode(device)])
        }
        return error(501, 'feature-not-implemented')
    }

    /**
     * usync `devices`: a simulated peer has one device (its phone, id 0). Sandbox accounts answer
     * an empty list: companions of the same account do not receive each other's messages here.
     */
    private deviceListNode(usync: BinaryNode): BinaryNode {
        const users = children(child(usync, 'list')).map((user): BinaryNode => {
            const jid = user.attrs.jid ?? ''
            const phone = jid.split('@')[0]?.split(':')[0] ?? ''
            const isPeer = jid.endsWith(`@${HOST_DOMAIN}`) && !this.registry.isAccount(phone)
            return {
                tag: 'user',
                attrs: { jid },
                content: [
                    {
                        tag: 'devices',
                        attrs: {},
                        content: [
                            {
                                tag: 'device-list',
                                attrs: {},
                                content: isPeer ? [{ tag: 'device', attrs: { id: '0' } }] : []
                            }
                        ]
                    }
                ]
            }
        })
        return {
            tag: 'usync',
            attrs: {
                sid: usync.attrs.sid ?? '',
                index: '0',
                last: 'true',
                mode: usync.attrs.mode ?? 'query'
            },
            content: [
                { tag: 'result', attrs: {}, content: [{ tag: 'devices', attrs: {} }] },
                { tag: 'list', attrs: {}, content: users }
            ]
        }
    }

    /** A key-fetch `<user>` for a simulated peer; sandbox accounts are not handed out. */
    private async peerKeyNode(jid: string): Promise<BinaryNode> {
        const user = jid.split('@')[0]?.split(':')[0] ?? ''
        const deviceId = jid.split('@')[0]?.split(':')[1]
        if (
            !jid.endsWith(`@${HOST_DOMAIN}`) ||
            this.registry.isAccount(user) ||
            (deviceId && deviceId !== '0')
        ) {
            return {
                tag: 'user',
                attrs: { jid },
                content: [{ tag: 'error', attrs: { code: '404', text: 'item-not-found' } }]
            }
        }
        const peer = await this.peers.peerFor(`${user}@${HOST_DOMAIN}`)
        const bundle = await peer.keyBundle()
        return {
            tag: 'user',
            attrs: { jid },
            content: [
                { tag: 'registration', attrs: {}, content: uintBytes(4, bundle.registrationId) },
                { tag: 'type', attrs: {}, content: new Uint8Array([5]) },
                { tag: 'identity', attrs: {}, content: bundle.identity },
                {
                    tag: 'skey',
                    attrs: {},
                    content: [
                        { tag: 'id', attrs: {}, content: uintBytes(3, bundle.signedPreKey.id) },
                        { tag: 'value', attrs: {}, content: bundle.signedPreKey.publicKey },
                        { tag: 'signature', attrs: {}, content: bundle.signedPreKey.signature }
                    ]
                },
                {
                    tag: 'key',
                    attrs: {},
                    content: [
                        { tag: 'id', attrs: {}, content: uintBytes(3, bundle.oneTimeKey.id) },
                        { tag: 'value', attrs: {}, content: bundle.oneTimeKey.publicKey }
                    ]
                }
            ]
        }
    }

    private digestNode(device: DeviceRecord): BinaryNode {
        const signed = device.signedPreKey
        if (!signed) throw new Error('device has no signed prekey')
        const ids = [...device.preKeys.keys()]
        const hashInput = [device.identityPub, signed.publicKey, signed.signature]
        for (const keyId of ids) hashInput.push(device.preKeys.get(keyId) ?? new Uint8Array(0))
        const hash = sha1Sync(concat(hashInput)).subarray(0, 20)
        return {
            tag: 'digest',
            attrs: {},
            content: [
                { tag: 'type', attrs: {}, content: new Uint8Array([5]) },
                { tag: 'registration', attrs: {}, content: uintBytes(4, device.registrationId) },
                { tag: 'identity', attrs: {}, content: device.identityPub },
                {
                    tag: 'skey',
                    attrs: {},
                    content: [
                        { tag: 'id', attrs: {}, content: uintBytes(3, signed.id) },
                        { tag: 'value', attrs: {}, content: signed.publicKey },
                        { tag: 'signature', attrs: {}, content: signed.signature }
                    ]
                },
                {
                    tag: 'list',
                    attrs: {},
                    content: ids.map(keyId => ({
                        tag: 'id',
                        attrs: {},
                        content: uintBytes(3, keyId)
                    }))
                },
                { tag: 'hash', attrs: {}, content: hash }
            ]
        }
    }

    // ---- helpers ---------------------------------------------------------------------------

    private stanzaId(): string {
        return `sbx.${(this.nextStanzaId++).toString(36)}`
    }

    private takeLoginRefusal(
        jid: string,
        user: string
    ): { readonly target: string; readonly kind: FaultKind } | null {
        const index = this.loginRefusals.findIndex(({ target }) => {
            if (target.includes(':')) return target === jid
            return (target.split('@')[0] ?? target) === user
        })
        if (index === -1) return null
        return this.loginRefusals.splice(index, 1)[0] ?? null
    }

    private async deliver(device: DeviceRecord, node: BinaryNode): Promise<boolean> {
        const conn = device.connection
        if (conn && !conn.closed && !conn.offlineWaiting) {
            await conn.send(node)
            return false
        }
        device.offline.push(node)
        return true
    }

    private async deliverToAll(target: string, node: BinaryNode): Promise<void> {
        const devices = this.registry.resolveDevices(target)
        if (devices.length === 0) throw new Error(`no paired device matches ${target}`)
        for (const device of devices) await this.deliver(device, node)
    }
}

export { Connection, HOST_DOMAIN, normalizeUserJid }
export type { Account, DeviceRecord, RegistrationData }
