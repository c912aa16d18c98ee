/**
 * Pairing, as the phone and the service do it, for a connection whose handshake registered a
 * new companion: `pair-device` refs (the QR), their rotation, the phone's scan (`pair-success`
 * with an ADV signed identity, the companion's `pair-device-sign` checked), a refused scan, and
 * the pairing-code (link code) exchange. The phone's cryptography is in pairing.ts.
 */
import type { Logger } from 'zapo-js'
import { randomBytesAsync } from 'zapo-js/crypto'
import type { BinaryNode } from 'zapo-js/transport'
import { uint8Equal } from 'zapo-js/util'

import type { Connection } from './connection.js'
import type { SandboxEmitter } from './events.js'
import { failureNode } from './faults.js'
import {
    HOST_DOMAIN,
    bytesContent,
    child,
    delay,
    iqError,
    iqResult,
    nowSeconds,
    textContent
} from './nodes.js'
import {
    buildPairSuccessIdentity,
    enterLinkCode,
    finishLinkCode,
    verifyPairDeviceSign
} from './pairing.js'
import type { LinkCodePrimaryState, PairSuccessIdentity } from './pairing.js'
import type { Account, DeviceRecord, DeviceRegistry, RegistrationData } from './registry.js'

const QR_REF_COUNT = 6
const RESTART_AFTER_PAIRING_GRACE_MS = 1_500
const CODE_ENTRY_WAIT_MS = 30_000

/** What a pairing connection carries until the companion is paired. */
export interface PairingState {
    readonly registration: RegistrationData
    /** the refs of the last `pair-device`: a QR is scannable while its ref is here */
    refs: string[]
    linkCode: LinkCodeSession | null
    linkCodeAdvSecret: Uint8Array | null
    rotateTimer: NodeJS.Timeout | null
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

export interface PairingFlowOptions {
    readonly events: SandboxEmitter
    readonly registry: DeviceRegistry
    readonly logger: Logger
    readonly stanzaId: () => string
    readonly connections: () => Iterable<Connection>
    /** Delay before the simulated phone scans a QR presented to it with `presentQr`. */
    readonly autoScanMs: number | null
    /** Push fresh QR refs this often; null leaves rotation to the client's own ref timers. */
    readonly qrRotateMs: number | null
}

export class PairingFlow {
    private refuseScans = 0
    private readonly pendingScans = new Set<NodeJS.Timeout>()
    private readonly pendingPairings = new Map<string, Promise<void>>()

    constructor(private readonly options: PairingFlowOptions) {}

    /** A new companion connected: show it refs (its QR) and rotate them if asked to. */
    async register(conn: Connection, registration: RegistrationData): Promise<void> {
        const pairing: PairingState = {
            registration,
            refs: [],
            linkCode: null,
            linkCodeAdvSecret: null,
            rotateTimer: null
        }
        conn.pairing = pairing
        conn.onClosed(() => stopRotation(pairing))
        await this.sendPairDevice(conn)
        if (this.options.qrRotateMs !== null && !conn.closed) {
            pairing.rotateTimer = setInterval(() => {
                void this.sendPairDevice(conn).catch(() => undefined)
            }, this.options.qrRotateMs)
        }
    }

    /** Resolves once a pairing of `jid` in progress has finished (its login waits for it). */
    settled(jid: string): Promise<void> {
        return this.pendingPairings.get(jid) ?? Promise.resolve()
    }

    readonly refuseNextScan = (): void => {
        this.refuseScans += 1
    }

    /** The phone scans a QR string (`ref,noisePub,identityPub,advSecret[,platform]`). */
    readonly scan = async (
        qr: string,
        options: { readonly phone?: string } = {}
    ): Promise<ScanResult> => {
        const parts = qr.trim().split(',')
        if (parts.length < 4) throw new Error('not a WhatsApp Web QR string')
        const [ref, noiseB64, identityB64, advB64] = parts as [string, string, string, string]
        const conn = [...this.options.connections()].find(
            entry => !entry.closed && entry.pairing !== null && entry.pairing.refs.includes(ref)
        )
        const registration = conn?.pairing?.registration
        if (!conn || !registration) {
            throw new Error('QR is expired or unknown: no pairing connection shows that ref')
        }
        const noisePub = new Uint8Array(Buffer.from(noiseB64, 'base64'))
        const identityPub = new Uint8Array(Buffer.from(identityB64, 'base64'))
        const advSecret = new Uint8Array(Buffer.from(advB64, 'base64'))
        if (
            !uint8Equal(noisePub, registration.noisePub) ||
            !uint8Equal(identityPub, registration.identityPub)
        ) {
            throw new Error('QR keys do not match the connection that shows the ref')
        }
        if (advSecret.length !== 32) throw new Error('QR ADV secret must be 32 bytes')
        if (this.refuseScans > 0) {
            this.refuseScans -= 1
            this.options.logger.info('sandbox refused scan', { connectionId: conn.id })
            await this.sendPairDevice(conn)
            return { status: 'refused', jid: null }
        }
        const account = await this.options.registry.accountFor(options.phone ?? null)
        const device = await this.completePairing(conn, account, advSecret, 'qr')
        return { status: 'paired', jid: device.jid }
    }

    /** Schedules a scan `autoScanMs` later (immediately when auto-scan is off). */
    readonly presentQr = (
        qr: string,
        options: { readonly phone?: string } = {}
    ): Promise<ScanResult> => {
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
    readonly enterPairingCode = async (
        code: string,
        options: { readonly phone?: string } = {}
    ): Promise<ScanResult> => {
        const candidates = [...this.options.connections()].filter(
            entry =>
                !entry.closed &&
                entry.pairing?.linkCode != null &&
                entry.pairing.linkCode.primary === null &&
                (options.phone === undefined || entry.pairing.linkCode.phone === options.phone)
        )
        const conn = candidates[candidates.length - 1]
        const session = conn?.pairing?.linkCode
        if (!conn || !session) {
            throw new Error('no companion is waiting for a pairing code')
        }
        const { events } = this.options
        const account = await this.options.registry.accountFor(session.phone)
        session.account = account
        session.primary = await enterLinkCode(code, session.wrappedCompanionEphemeralPub)
        const paired = events.waitFor(
            'paired',
            event => event.connectionId === conn.id,
            CODE_ENTRY_WAIT_MS,
            conn.id
        )
        await conn.send({
            tag: 'notification',
            attrs: {
                from: HOST_DOMAIN,
                id: this.options.stanzaId(),
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
        const failed = events.waitFor(
            'pairing-failed',
            event => event.connectionId === conn.id,
            CODE_ENTRY_WAIT_MS,
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
            events.cancelWaits(conn.id)
        }
    }

    /**
     * `<iq xmlns=md><link_code_companion_reg stage=…>`: the companion's side of the pairing-code
     * exchange. After `companion_finish` the phone completes the pairing as a scan would.
     */
    async linkCodeIq(conn: Connection, node: BinaryNode, reg: BinaryNode): Promise<void> {
        await conn.respond(await this.linkCodeAnswer(conn, node, reg))
        const pairing = conn.pairing
        const account = pairing?.linkCode?.account ?? null
        const advSecret = pairing?.linkCodeAdvSecret ?? null
        if (reg.attrs.stage === 'companion_finish' && pairing && account && advSecret) {
            pairing.linkCode = null
            pairing.linkCodeAdvSecret = null
            // Detached: the client's answer to pair-success arrives through this same
            // ordered read chain. The delay lets it commit the derived ADV secret first.
            void delay(100)
                .then(() => this.completePairing(conn, account, advSecret, 'code'))
                .catch((err: unknown) => {
                    this.options.logger.warn('sandbox pairing-code completion failed', {
                        connectionId: conn.id,
                        message: (err as Error).message
                    })
                })
        }
    }

    /** Stops scans scheduled by `presentQr`. */
    close(): void {
        for (const timer of this.pendingScans) clearTimeout(timer)
        this.pendingScans.clear()
    }

    private async sendPairDevice(conn: Connection): Promise<void> {
        const pairing = conn.pairing
        if (!pairing) return
        const refs: string[] = []
        for (let i = 0; i < QR_REF_COUNT; i += 1) {
            refs.push(`2@${Buffer.from(await randomBytesAsync(36)).toString('base64')}`)
        }
        pairing.refs = refs
        await conn.query({
            tag: 'iq',
            attrs: { from: HOST_DOMAIN, id: this.options.stanzaId(), type: 'set', xmlns: 'md' },
            content: [
                {
                    tag: 'pair-device',
                    attrs: {},
                    content: refs.map(ref => ({ tag: 'ref', attrs: {}, content: ref }))
                }
            ]
        })
        this.options.events.emit('qr', { connectionId: conn.id, refs })
    }

    private async linkCodeAnswer(
        conn: Connection,
        node: BinaryNode,
        reg: BinaryNode
    ): Promise<BinaryNode> {
        const stage = reg.attrs.stage
        if (stage === 'get_country_code') {
            return iqResult(node, [{ tag: 'country_code', attrs: { iso: 'US' } }])
        }
        if (stage === 'companion_hello') {
            const phone = (reg.attrs.jid ?? '').split('@')[0]?.split(':')[0] ?? ''
            const wrapped = bytesContent(
                child(reg, 'link_code_pairing_wrapped_companion_ephemeral_pub')
            )
            if (!conn.pairing || !/^\d{6,15}$/.test(phone) || !wrapped) {
                return iqError(node, 400, 'bad-request')
            }
            const ref = `2@${Buffer.from(await randomBytesAsync(24)).toString('base64')}`
            conn.pairing.linkCode = {
                ref,
                phone,
                wrappedCompanionEphemeralPub: wrapped,
                primary: null,
                account: null
            }
            this.options.events.emit('pairing-code', { connectionId: conn.id, phone, ref })
            return iqResult(node, [
                {
                    tag: 'link_code_companion_reg',
                    attrs: {},
                    content: [{ tag: 'link_code_pairing_ref', attrs: {}, content: ref }]
                }
            ])
        }
        if (stage === 'companion_finish') {
            const session = conn.pairing?.linkCode
            const wrappedBundle = bytesContent(child(reg, 'link_code_pairing_wrapped_key_bundle'))
            const companionIdentity = bytesContent(child(reg, 'companion_identity_public'))
            const ref = textContent(child(reg, 'link_code_pairing_ref'))
            if (
                !conn.pairing ||
                !session ||
                !session.primary ||
                !session.account ||
                !wrappedBundle ||
                !companionIdentity ||
                ref !== session.ref
            ) {
                return iqError(node, 400, 'bad-request')
            }
            try {
                conn.pairing.linkCodeAdvSecret = await finishLinkCode({
                    state: session.primary,
                    accountIdentity: session.account.identity,
                    wrappedKeyBundle: wrappedBundle,
                    companionIdentityPub: companionIdentity
                })
                return iqResult(node)
            } catch {
                // The code typed on the phone did not match: the bundle does not decrypt.
                session.primary = null
                this.options.events.emit('pairing-failed', {
                    connectionId: conn.id,
                    reason: 'wrong_code'
                })
                return iqError(node, 401, 'not-authorized')
            }
        }
        return iqError(node, 400, 'bad-request')
    }

    private async completePairing(
        conn: Connection,
        account: Account,
        advSecret: Uint8Array,
        via: 'qr' | 'code'
    ): Promise<DeviceRecord> {
        const pairing = conn.pairing
        if (!pairing) throw new Error('connection is not pairing')
        const deviceId = account.nextDeviceId++
        const jid = `${account.phone}:${deviceId}@${HOST_DOMAIN}`
        const identity = await buildPairSuccessIdentity({
            accountIdentity: account.identity,
            companionIdentityPub: pairing.registration.identityPub,
            advSecret,
            keyIndex: deviceId
        })
        stopRotation(pairing)
        pairing.refs = []
        // The companion reconnects as soon as it answered; its login waits for this pairing.
        let settle: () => void = () => undefined
        this.pendingPairings.set(jid, new Promise<void>(resolve => (settle = resolve)))
        try {
            return await this.finishPairing(conn, account, identity, pairing.registration, via)
        } finally {
            this.pendingPairings.delete(jid)
            settle()
        }
    }

    private async finishPairing(
        conn: Connection,
        account: Account,
        identity: PairSuccessIdentity,
        registration: RegistrationData,
        via: 'qr' | 'code'
    ): Promise<DeviceRecord> {
        const deviceId = identity.keyIndex
        const jid = `${account.phone}:${deviceId}@${HOST_DOMAIN}`
        const lid = `${account.lidUser}:${deviceId}@lid`
        const answer = await conn.query({
            tag: 'iq',
            attrs: { from: HOST_DOMAIN, id: this.options.stanzaId(), type: 'set', xmlns: 'md' },
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
            await conn.endWith(failureNode(401))
            throw new Error('companion device signature is invalid')
        }
        const device = this.options.registry.createDevice(
            account,
            deviceId,
            registration.noisePub,
            registration,
            'web'
        )
        this.options.logger.info('sandbox paired device', { jid, via })
        this.options.events.emit('paired', {
            jid,
            lid,
            phone: account.phone,
            connectionId: conn.id,
            via
        })
        // The real service restarts the stream with 515; a client that already reconnects on its
        // own (zapo-js does) closes first and never sees it.
        void conn.waitClosed(RESTART_AFTER_PAIRING_GRACE_MS).then(closed => {
            if (!closed) {
                void conn.endWith({ tag: 'stream:error', attrs: { code: '515' } })
            }
        })
        return device
    }
}

function stopRotation(pairing: PairingState): void {
    if (pairing.rotateTimer) clearInterval(pairing.rotateTimer)
    pairing.rotateTimer = null
}
