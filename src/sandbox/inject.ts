/**
 * What a test makes simulated peers and the service send to the sandbox's devices: 1:1 and group
 * texts (Signal-encrypted by the peer), presence, chat states, receipts, notifications, group
 * events and call offers. A stanza for a device that is offline (or not done with its offline
 * queue) is queued and delivered at its next login.
 */
import { proto } from 'zapo-js'
import { randomBytesAsync } from 'zapo-js/crypto'
import type { BinaryNode } from 'zapo-js/transport'

import type { DeviceRecord, DeviceRegistry } from './registry.js'
import { HOST_DOMAIN, concat, normalizeUserJid, nowSeconds, randomHex, uintBytes } from './nodes.js'
import type { PeerDirectory } from './peers.js'

/** How long a message waits for a target device to upload its prekeys. */
const KEYS_WAIT_MS = 10_000

export interface SendMessageInput {
    /** A device JID (`<phone>:<device>@s.whatsapp.net`), an account JID or a bare phone number. */
    readonly to: string
    /** The simulated peer sending the message (`<phone>@s.whatsapp.net`). */
    readonly from: string
    readonly text: string
    readonly id?: string
    readonly pushName?: string
}

export interface SendMessageResult {
    readonly id: string
    readonly deliveries: readonly {
        readonly jid: string
        readonly type: 'pkmsg' | 'msg'
        readonly queued: boolean
    }[]
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

export interface SendInitialSyncInput {
    /** The companion(s): a device JID, an account JID or a bare phone number. */
    readonly to: string
}

export interface SendInitialSyncResult {
    /** the app-state sync key id shared (base64), the same for every device of the call */
    readonly appStateKeyId: string
    readonly deliveries: readonly {
        readonly jid: string
        readonly keyShare: 'pkmsg' | 'msg'
        readonly historySync: 'pkmsg' | 'msg'
        readonly queued: boolean
    }[]
}

export interface SendPresenceInput {
    readonly to: string
    readonly from: string
    readonly type?: 'available' | 'unavailable'
    readonly last?: number
}

export interface SendChatstateInput {
    readonly to: string
    readonly from: string
    readonly state?: 'composing' | 'paused' | 'recording'
    readonly participant?: string
}

export interface SendReceiptInput {
    readonly to: string
    readonly from: string
    readonly id: string
    readonly type?: 'delivery' | 'read' | 'played'
}

export interface SendNotificationInput {
    readonly to: string
    readonly type?: string
    readonly from?: string
    readonly content?: readonly BinaryNode[]
}

export const GROUP_ACTIONS = Object.freeze([
    'add',
    'remove',
    'promote',
    'demote',
    'subject',
    'announce'
] as const)
export type GroupAction = (typeof GROUP_ACTIONS)[number]

export interface SendGroupEventInput {
    readonly to: string
    readonly group: string
    readonly action: GroupAction
    readonly author: string
    readonly participants?: readonly string[]
    readonly subject?: string
}

export interface SendCallInput {
    readonly to: string
    readonly from: string
    readonly video?: boolean
}

export interface InjectorOptions {
    readonly registry: DeviceRegistry
    readonly peers: PeerDirectory
    readonly stanzaId: () => string
}

export class Injector {
    /** the last app-state sync key epoch each account's phone shared */
    private readonly keyEpochs = new Map<string, number>()

    constructor(private readonly options: InjectorOptions) {}

    /** An encrypted 1:1 text from peer `from` to every device `to` names. */
    readonly sendMessage = async (input: SendMessageInput): Promise<SendMessageResult> => {
        const { registry } = this.options
        const targets = this.targets(input.to)
        const peerJid = normalizeUserJid(input.from)
        const peer = await this.options.peers.peerFor(peerJid)
        const id = input.id ?? `3EB0${await randomHex(8)}`
        const deliveries: { jid: string; type: 'pkmsg' | 'msg'; queued: boolean }[] = []
        for (const device of targets) {
            await registry.waitForKeys(device, KEYS_WAIT_MS)
            const envelope = await peer.encryptText(
                device.jid,
                () => registry.keyBundle(device),
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
    readonly sendGroupMessage = async (
        input: SendGroupMessageInput
    ): Promise<SendGroupMessageResult> => {
        const { registry } = this.options
        const targets = this.targets(input.to)
        const group = groupJid(input.group)
        const peerJid = normalizeUserJid(input.from)
        const peer = await this.options.peers.peerFor(peerJid)
        const id = input.id ?? `3EB0${await randomHex(8)}`
        for (const device of targets) await registry.waitForKeys(device, KEYS_WAIT_MS)
        const encrypted = await peer.encryptGroupText(
            group,
            input.text,
            targets.map(device => ({ jid: device.jid, bundle: () => registry.keyBundle(device) }))
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

    /**
     * What the account's phone (its primary device, device 0) sends a companion after linking:
     * an app-state sync key share, then a history-sync notification, each a `protocolMessage`
     * Signal-encrypted by the phone in its own 1:1 session with the companion (`category=peer`).
     * Baileys 6.x surfaces no `messages.upsert` on a fresh pairing until both arrived (and it
     * synced the app state, which the sandbox answers with empty collections). The notification
     * is of type NON_BLOCKING_DATA and names no blob (the sandbox serves no media): it announces
     * history without any to download.
     */
    readonly sendInitialSync = async (
        input: SendInitialSyncInput
    ): Promise<SendInitialSyncResult> => {
        const { registry } = this.options
        const targets = this.targets(input.to)
        // a key id is 2 bytes, then the key's epoch as a 32-bit number the phone counts up (1, 2,
        // …): stores keep the epoch in a 32-bit signed column, a random one would not fit there
        const account = targets[0]?.account.phone ?? ''
        const epoch = (this.keyEpochs.get(account) ?? 0) + 1
        this.keyEpochs.set(account, epoch)
        const keyId = concat([new Uint8Array([0, 0]), uintBytes(4, epoch)])
        const keyData = await randomBytesAsync(32)
        const now = Date.now()
        const keyShare = proto.Message.encode({
            protocolMessage: {
                type: proto.Message.ProtocolMessage.Type.APP_STATE_SYNC_KEY_SHARE,
                appStateSyncKeyShare: {
                    keys: [
                        {
                            keyId: { keyId },
                            keyData: {
                                keyData,
                                fingerprint: { rawId: 1, currentIndex: 0, deviceIndexes: [0] },
                                timestamp: now
                            }
                        }
                    ]
                }
            }
        }).finish()
        const history = proto.Message.encode({
            protocolMessage: {
                type: proto.Message.ProtocolMessage.Type.HISTORY_SYNC_NOTIFICATION,
                historySyncNotification: {
                    syncType: proto.HistorySync.HistorySyncType.NON_BLOCKING_DATA,
                    chunkOrder: 0,
                    progress: 100,
                    fileLength: 0
                }
            }
        }).finish()
        const deliveries: {
            jid: string
            keyShare: 'pkmsg' | 'msg'
            historySync: 'pkmsg' | 'msg'
            queued: boolean
        }[] = []
        for (const device of targets) {
            await registry.waitForKeys(device, KEYS_WAIT_MS)
            const primaryJid = device.account.jid
            // the phone's Signal identity is the account key it signs companions with
            const primary = await this.options.peers.peerFor(primaryJid, device.account.identity)
            const bundle = () => registry.keyBundle(device)
            let queued = false
            const types: ('pkmsg' | 'msg')[] = []
            for (const bytes of [keyShare, history]) {
                const envelope = await primary.encrypt(device.jid, bundle, bytes)
                types.push(envelope.type)
                const node: BinaryNode = {
                    tag: 'message',
                    attrs: {
                        id: `3EB0${await randomHex(8)}`,
                        from: primaryJid,
                        type: 'text',
                        category: 'peer',
                        t: nowSeconds()
                    },
                    content: [
                        {
                            tag: 'enc',
                            attrs: { v: '2', type: envelope.type },
                            content: envelope.ciphertext
                        }
                    ]
                }
                queued = (await this.deliver(device, node)) || queued
            }
            deliveries.push({
                jid: device.jid,
                keyShare: types[0] ?? 'pkmsg',
                historySync: types[1] ?? 'msg',
                queued
            })
        }
        return { appStateKeyId: Buffer.from(keyId).toString('base64'), deliveries }
    }

    /** `<presence>` (`available` / `unavailable`). */
    readonly sendPresence = async (input: SendPresenceInput): Promise<void> => {
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

    /** `<chatstate>` (`composing` / `paused` / `recording`). */
    readonly sendChatstate = async (input: SendChatstateInput): Promise<void> => {
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

    /** `<receipt>` (`delivery` / `read` / `played`). */
    readonly sendReceipt = async (input: SendReceiptInput): Promise<void> => {
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

    /** `<notification>` (default type `picture`); resolves the stanza id. */
    readonly sendNotification = async (input: SendNotificationInput): Promise<string> => {
        const id = this.options.stanzaId()
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

    /** A `w:gp2` notification; resolves the stanza id. */
    readonly sendGroupEvent = async (input: SendGroupEventInput): Promise<string> => {
        const id = this.options.stanzaId()
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
                from: groupJid(input.group),
                id,
                type: 'w:gp2',
                participant: normalizeUserJid(input.author),
                t: nowSeconds()
            },
            content: [action]
        })
        return id
    }

    /** `<call><offer>`; resolves the call id. */
    readonly sendCall = async (input: SendCallInput): Promise<string> => {
        const callId = await randomHex(16)
        const from = normalizeUserJid(input.from)
        await this.deliverToAll(input.to, {
            tag: 'call',
            attrs: { from, id: this.options.stanzaId(), t: nowSeconds() },
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

    private targets(to: string): DeviceRecord[] {
        const devices = this.options.registry.resolveDevices(to)
        if (devices.length === 0) throw new Error(`no paired device matches ${to}`)
        return devices
    }

    /** Sends now, or queues for the device's next login; resolves true when queued. */
    private async deliver(device: DeviceRecord, node: BinaryNode): Promise<boolean> {
        const conn = device.connection
        if (conn && !conn.closed && !conn.offlineWaiting) {
            if (node.tag === 'message' && node.attrs.id) conn.unacked.set(node.attrs.id, node)
            await conn.send(node)
            return false
        }
        device.offline.push(node)
        return true
    }

    private async deliverToAll(target: string, node: BinaryNode): Promise<void> {
        for (const device of this.targets(target)) await this.deliver(device, node)
    }
}

function groupJid(group: string): string {
    return group.includes('@') ? group : `${group}@g.us`
}
