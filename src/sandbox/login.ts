/**
 * Login of a registered device: the refusals a test queued (`refuseNextLogin`), removed and
 * unknown devices, the noise key check, `<success>`, a second connection of the same device
 * replacing the first, and the offline queue delivered the way the service does it.
 */
import type { Logger } from 'zapo-js'
import { uint8Equal } from 'zapo-js/util'

import type { Connection } from './connection.js'
import type { SandboxEmitter } from './events.js'
import {
    LOGIN_REFUSAL_REASONS,
    failureNode,
    parseLoginRefusal,
    streamConflict,
    type FaultKind
} from './faults.js'
import { HOST_DOMAIN, nowSeconds } from './nodes.js'
import type { DeviceRegistry } from './registry.js'
import type { LoginHello } from './transport.js'

interface LoginRefusal {
    readonly target: string
    readonly kind: FaultKind
}

export interface LoginOptions {
    readonly events: SandboxEmitter
    readonly registry: DeviceRegistry
    readonly logger: Logger
    /** resolves once a pairing of the device in progress has finished */
    readonly pairingSettled: (jid: string) => Promise<void>
}

export class Login {
    private readonly refusals: LoginRefusal[] = []

    constructor(private readonly options: LoginOptions) {}

    /**
     * The next login of `target` (a device JID, or an account JID / phone number for any of its
     * devices) is answered with `<failure reason=…>` instead of `<success>`: `locked` (403),
     * `banned` (406), `client_too_old` (405), `bad_user_agent` (409), `not_authorized` (401),
     * `service_unavailable` (503) or `temp_banned` (402: zapo-js 0.3.0 emits `failure` but no
     * close event for it). Each call refuses one login; calls queue up.
     */
    readonly refuseNextLogin = (target: string, kind: FaultKind | string): void => {
        const parsed = parseLoginRefusal(kind)
        const trimmed = target.trim()
        if (trimmed === '')
            throw new Error('refuseNextLogin needs a device JID, account JID or phone')
        this.refusals.push({ target: trimmed, kind: parsed })
    }

    async login(conn: Connection, hello: LoginHello): Promise<void> {
        const { events, logger, registry } = this.options
        const { username, deviceId, clientStatic } = hello
        const jid = `${username}:${deviceId}@${HOST_DOMAIN}`
        await this.options.pairingSettled(jid)
        const refusal = this.takeRefusal(jid, String(username))
        if (refusal) {
            const reason = LOGIN_REFUSAL_REASONS[refusal.kind] as number
            logger.info('sandbox refusing login', { jid, kind: refusal.kind, reason })
            events.emit('login-refused', { jid, connectionId: conn.id, kind: refusal.kind, reason })
            await conn.endWith(failureNode(reason))
            return
        }
        if (registry.isRemoved(jid)) {
            await conn.endWith(failureNode(401))
            return
        }
        let device = registry.device(jid)
        if (!device) {
            // The sandbox keeps state in memory; a device paired against an earlier run is adopted.
            const account = await registry.accountFor(String(username))
            account.nextDeviceId = Math.max(account.nextDeviceId, deviceId + 1)
            device = registry.createDevice(account, deviceId, clientStatic, null, 'unknown')
            logger.info('sandbox adopted unknown device', { jid })
        } else if (!uint8Equal(device.noisePub, clientStatic)) {
            await conn.endWith(failureNode(401))
            return
        }
        const previous = device.connection
        if (previous && previous !== conn && !previous.closed) {
            void previous.endWith(streamConflict('replaced'))
        }
        device.connection = conn
        device.logins += 1
        conn.device = device
        // messages the client never acknowledged are delivered again at its next login
        conn.onClosed(() => {
            device.offline.unshift(...conn.unacked.values())
            conn.unacked.clear()
        })
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
        events.emit('login', { jid, connectionId: conn.id, handshake: conn.mode ?? 'xx' })
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

    /** The client asked for the queued stanzas (`<ib><offline_batch>`): send them, then the end. */
    async deliverOffline(conn: Connection): Promise<void> {
        const device = conn.device
        if (!device || !conn.offlineWaiting) return
        conn.offlineWaiting = false
        const queued = device.offline.splice(0)
        for (const node of queued) {
            if (node.tag === 'message' && node.attrs.id) conn.unacked.set(node.attrs.id, node)
            await conn.send({ ...node, attrs: { ...node.attrs, offline: '1' } })
        }
        await conn.send({
            tag: 'ib',
            attrs: {},
            content: [{ tag: 'offline', attrs: { count: String(queued.length) } }]
        })
    }

    private takeRefusal(jid: string, user: string): LoginRefusal | null {
        const index = this.refusals.findIndex(({ target }) => {
            if (target.includes(':')) return target === jid
            return (target.split('@')[0] ?? target) === user
        })
        if (index === -1) return null
        return this.refusals.splice(index, 1)[0] ?? null
    }
}
