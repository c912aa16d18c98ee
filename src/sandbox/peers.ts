/**
 * Simulated peers: accounts that message the companion. Each peer owns a Signal identity and
 * in-memory Signal stores; its session with a device is built by X3DH against the prekeys that
 * device uploaded to the sandbox (`pkmsg`) and then ratchets (`msg`). Peers live as long as the
 * sandbox, so a peer keeps its session across client reconnects.
 */
import { proto } from 'zapo-js'
import type { Logger } from 'zapo-js'
import type { SignalAddress } from 'zapo-js/signal'
import {
    SenderKeyManager,
    SignalProtocol,
    generatePreKeyPair,
    generateRegistrationInfo,
    generateSignedPreKey
} from 'zapo-js/signal'
import {
    SenderKeyMemoryStore,
    WaIdentityMemoryStore,
    WaPreKeyMemoryStore,
    WaSessionMemoryStore,
    WaSignalMemoryStore
} from 'zapo-js/store'
import { randomBytesAsync, toRawPubKey } from 'zapo-js/crypto'
import type { BinaryNode } from 'zapo-js/transport'

import type { SandboxEmitter } from './events.js'
import { HOST_DOMAIN, bytesContent, child, children, normalizeUserJid } from './nodes.js'

const INBOX_LIMIT = 1_000

/** The public half of a signed prekey, as uploaded in `<skey>` and handed out in key fetches. */
export interface SignedPreKeyPublic {
    readonly id: number
    readonly publicKey: Uint8Array
    readonly signature: Uint8Array
}

export interface DeviceKeyBundle {
    readonly registrationId: number
    readonly identity: Uint8Array
    readonly signedPreKey: SignedPreKeyPublic
    /** Takes one one-time prekey out of the device's server-side list, as the real service does. */
    readonly takeOneTimeKey: () => { readonly id: number; readonly publicKey: Uint8Array } | null
}

/** What the server hands out for a peer in a key fetch (`<iq xmlns=encrypt><key>`). */
export interface PeerKeyBundle {
    readonly registrationId: number
    readonly identity: Uint8Array
    readonly signedPreKey: SignedPreKeyPublic
    readonly oneTimeKey: { readonly id: number; readonly publicKey: Uint8Array }
}

export interface EncryptedEnvelope {
    readonly type: 'pkmsg' | 'msg'
    readonly ciphertext: Uint8Array
}

export function addressOfJid(jid: string): SignalAddress {
    const at = jid.indexOf('@')
    if (at <= 0) throw new Error(`invalid jid: ${jid}`)
    const server = jid.slice(at + 1)
    const local = jid.slice(0, at)
    const colon = local.indexOf(':')
    const userPart = colon === -1 ? local : local.slice(0, colon)
    const device = colon === -1 ? 0 : Number(local.slice(colon + 1))
    const user = userPart.split('_')[0] ?? userPart
    if (!Number.isSafeInteger(device) || device < 0) throw new Error(`invalid jid device: ${jid}`)
    return { user, server, device }
}

async function padMessage(bytes: Uint8Array): Promise<Uint8Array> {
    const seed = await randomBytesAsync(1)
    const padLength = ((seed[0] ?? 0) & 0x0f) + 1
    const out = new Uint8Array(bytes.length + padLength)
    out.set(bytes, 0)
    out.fill(padLength, bytes.length)
    return out
}

export class SimulatedPeer {
    readonly jid: string
    private readonly protocol: SignalProtocol
    private readonly sessions: WaSessionMemoryStore
    private readonly signal: WaSignalMemoryStore
    private readonly preKeys: WaPreKeyMemoryStore
    private readonly established = new Set<string>()
    private readonly senderKeys = new SenderKeyManager(new SenderKeyMemoryStore())
    /** `<group>|<sender key id>|<device jid>` the peer already gave its sender key to */
    private readonly distributed = new Set<string>()

    private constructor(
        jid: string,
        stores: {
            signal: WaSignalMemoryStore
            preKey: WaPreKeyMemoryStore
            session: WaSessionMemoryStore
            identity: WaIdentityMemoryStore
        }
    ) {
        this.jid = jid
        this.sessions = stores.session
        this.signal = stores.signal
        this.preKeys = stores.preKey
        this.protocol = new SignalProtocol(stores)
    }

    /** `identity`: the peer's identity key pair (an account's phone uses the account key). */
    static async create(
        jid: string,
        identity: { readonly pubKey: Uint8Array; readonly privKey: Uint8Array } | null = null
    ): Promise<SimulatedPeer> {
        const signal = new WaSignalMemoryStore()
        const generated = await generateRegistrationInfo()
        const registration = identity ? { ...generated, identityKeyPair: identity } : generated
        await signal.setRegistrationInfo(registration)
        await signal.setSignedPreKey(
            await generateSignedPreKey(1, registration.identityKeyPair.privKey)
        )
        return new SimulatedPeer(jid, {
            signal,
            preKey: new WaPreKeyMemoryStore(),
            session: new WaSessionMemoryStore(),
            identity: new WaIdentityMemoryStore()
        })
    }

    /** The peer's bundle with a fresh one-time prekey, as the service hands it to a sender. */
    async keyBundle(): Promise<PeerKeyBundle> {
        const [registration, signed] = await Promise.all([
            this.signal.getRegistrationInfo(),
            this.signal.getSignedPreKey()
        ])
        if (!registration || !signed) throw new Error('peer keys are missing')
        const oneTime = await this.preKeys.getOrGenSinglePreKey(generatePreKeyPair)
        await this.preKeys.markKeyAsUploaded(oneTime.keyId)
        return {
            registrationId: registration.registrationId,
            identity: toRawPubKey(registration.identityKeyPair.pubKey),
            signedPreKey: {
                id: signed.keyId,
                publicKey: toRawPubKey(signed.keyPair.pubKey),
                signature: signed.signature
            },
            oneTimeKey: { id: oneTime.keyId, publicKey: toRawPubKey(oneTime.keyPair.pubKey) }
        }
    }

    /** Decrypts what a device sent this peer; the peer's session with it then ratchets (`msg`). */
    async decrypt(fromDeviceJid: string, envelope: EncryptedEnvelope): Promise<Uint8Array> {
        const padded = await this.protocol.decryptMessage(addressOfJid(fromDeviceJid), envelope)
        this.established.add(fromDeviceJid)
        const padLength = padded[padded.length - 1] ?? 0
        if (padLength === 0 || padLength > padded.length) throw new Error('bad message padding')
        return padded.subarray(0, padded.length - padLength)
    }

    /** Forgets the session with a device (after the device re-paired with new keys). */
    forget(deviceJid: string): void {
        this.established.delete(deviceJid)
        for (const key of this.distributed) {
            if (key.endsWith(`|${deviceJid}`)) this.distributed.delete(key)
        }
        void this.sessions.deleteSession(addressOfJid(deviceJid)).catch(() => undefined)
    }

    /**
     * A group text from this peer: one sender-key ciphertext (`skmsg`) for every recipient, plus,
     * for each device that has not got this peer's sender key yet, a 1:1 envelope carrying the
     * SenderKeyDistributionMessage.
     */
    async encryptGroupText(
        groupJid: string,
        text: string,
        devices: readonly { readonly jid: string; readonly bundle: () => DeviceKeyBundle | null }[]
    ): Promise<{
        readonly skmsg: Uint8Array
        readonly distributions: ReadonlyMap<string, EncryptedEnvelope>
    }> {
        const plaintext = await padMessage(proto.Message.encode({ conversation: text }).finish())
        const prepared = await this.senderKeys.prepareGroupEncryption(
            groupJid,
            addressOfJid(this.jid),
            plaintext
        )
        const distributions = new Map<string, EncryptedEnvelope>()
        for (const device of devices) {
            const key = `${groupJid}|${prepared.keyId}|${device.jid}`
            if (this.distributed.has(key)) continue
            const distribution = proto.Message.encode({
                senderKeyDistributionMessage: prepared.distributionMessage
            }).finish()
            distributions.set(
                device.jid,
                await this.encrypt(device.jid, device.bundle, distribution)
            )
            this.distributed.add(key)
        }
        return { skmsg: prepared.ciphertext.ciphertext, distributions }
    }

    async encryptText(
        deviceJid: string,
        bundle: () => DeviceKeyBundle | null,
        text: string
    ): Promise<EncryptedEnvelope> {
        const plaintext = proto.Message.encode({ conversation: text }).finish()
        return this.encrypt(deviceJid, bundle, plaintext)
    }

    async encrypt(
        deviceJid: string,
        bundle: () => DeviceKeyBundle | null,
        messageBytes: Uint8Array
    ): Promise<EncryptedEnvelope> {
        const address = addressOfJid(deviceJid)
        if (!this.established.has(deviceJid)) {
            const existing = await this.sessions.getSession(address)
            if (!existing) {
                const keys = bundle()
                if (!keys) {
                    throw new Error('device has not uploaded its prekeys to the sandbox yet')
                }
                const oneTime = keys.takeOneTimeKey()
                await this.protocol.establishOutgoingSession(address, {
                    regId: keys.registrationId,
                    identity: keys.identity,
                    signedKey: keys.signedPreKey,
                    ...(oneTime ? { oneTimeKey: oneTime } : {})
                })
            }
            this.established.add(deviceJid)
        }
        const padded = await padMessage(messageBytes)
        const result = await this.protocol.encryptMessage(address, padded)
        return { type: result.type, ciphertext: result.ciphertext }
    }
}

/** A message a client sent to a simulated peer, as the peer decrypted it. */
export interface PeerMessage {
    readonly peer: string
    readonly from: string
    readonly id: string
    readonly type: 'pkmsg' | 'msg'
    readonly text: string | null
    readonly message: proto.IMessage
    readonly at: number
}

/**
 * Every simulated peer of a sandbox, one Signal identity per JID for the sandbox's lifetime, and
 * the messages clients sent them (the newest `INBOX_LIMIT`).
 */
export class PeerDirectory {
    private readonly peers = new Map<string, Promise<SimulatedPeer>>()
    private readonly inbox: PeerMessage[] = []

    constructor(
        private readonly options: { readonly events: SandboxEmitter; readonly logger: Logger }
    ) {}

    /** The peer of `jid`, made on first use (with `identity` when given then). */
    peerFor(
        jid: string,
        identity: { readonly pubKey: Uint8Array; readonly privKey: Uint8Array } | null = null
    ): Promise<SimulatedPeer> {
        let peer = this.peers.get(jid)
        if (!peer) {
            peer = SimulatedPeer.create(jid, identity)
            this.peers.set(jid, peer)
        }
        return peer
    }

    /** A device JID starts over (paired again): every peer forgets its session with it. */
    forgetDevice(deviceJid: string): void {
        for (const peer of this.peers.values()) {
            void peer.then(p => p.forget(deviceJid)).catch(() => undefined)
        }
    }

    /** Messages clients sent to simulated peers (newest last), optionally for one peer. */
    readonly peerMessages = (peer: string | null = null): PeerMessage[] => {
        const jid = peer === null ? null : normalizeUserJid(peer)
        return this.inbox.filter(entry => jid === null || entry.peer === jid)
    }

    /** A `<message>` device `fromJid` sent: the peers it is addressed to decrypt and keep it. */
    async receive(fromJid: string, node: BinaryNode): Promise<void> {
        const to = node.attrs.to
        if (!to) return
        const targets: { jid: string; enc: BinaryNode }[] = []
        for (const entry of children(node)) {
            if (entry.tag === 'enc') targets.push({ jid: to, enc: entry })
            if (entry.tag === 'participants') {
                for (const participant of children(entry)) {
                    const enc = child(participant, 'enc')
                    if (participant.attrs.jid && enc)
                        targets.push({ jid: participant.attrs.jid, enc })
                }
            }
        }
        for (const target of targets) {
            const user = target.jid.split('@')[0]?.split(':')[0] ?? ''
            const peerJid = `${user}@${HOST_DOMAIN}`
            const type = target.enc.attrs.type
            const ciphertext = bytesContent(target.enc)
            if (!this.peers.has(peerJid) || (type !== 'pkmsg' && type !== 'msg') || !ciphertext)
                continue
            try {
                const peer = await this.peerFor(peerJid)
                const plaintext = await peer.decrypt(fromJid, { type, ciphertext })
                const message = proto.Message.decode(plaintext)
                const entry: PeerMessage = {
                    peer: peerJid,
                    from: fromJid,
                    id: node.attrs.id ?? '',
                    type,
                    text: message.conversation ?? message.extendedTextMessage?.text ?? null,
                    message,
                    at: Date.now()
                }
                this.inbox.push(entry)
                if (this.inbox.length > INBOX_LIMIT)
                    this.inbox.splice(0, this.inbox.length - INBOX_LIMIT)
                this.options.events.emit('peer-message', entry)
            } catch (err) {
                this.options.logger.warn('sandbox peer could not decrypt a client message', {
                    peer: peerJid,
                    from: fromJid,
                    message: (err as Error).message
                })
            }
        }
    }
}
