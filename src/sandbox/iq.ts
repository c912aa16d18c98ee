/**
 * What the sandbox does with each stanza a client sends once its connection is established:
 * answers to the server's own iqs go back to the waiting query, the client's iqs are answered
 * (pings, `abt` props, usync device lists, `media_conn`, privacy tokens, passive, the `encrypt`
 * prekey upload / rotation / count / digest / key fetch, `remove-companion-device`, and the
 * pairing-code stages through pairing-flow.ts), `<ib><offline_batch>` releases the offline queue,
 * receipts and messages are acked, and messages to simulated peers are decrypted by them.
 */
import type { Logger } from 'zapo-js'
import type { BinaryNode } from 'zapo-js/transport'

import type { Connection } from './connection.js'
import type { SandboxEmitter } from './events.js'
import { streamConflict } from './faults.js'
import type { Login } from './login.js'
import {
    HOST_DOMAIN,
    bytesContent,
    child,
    children,
    concat,
    iqError,
    iqResult,
    nowSeconds,
    randomHex,
    readUint,
    sha1Sync,
    uintBytes
} from './nodes.js'
import type { PairingFlow } from './pairing-flow.js'
import type { PeerDirectory, SignedPreKeyPublic } from './peers.js'
import type { DeviceRecord, DeviceRegistry } from './registry.js'

export interface ClientStanzasOptions {
    readonly events: SandboxEmitter
    readonly registry: DeviceRegistry
    readonly peers: PeerDirectory
    readonly pairing: PairingFlow
    readonly login: Login
    readonly logger: Logger
}

export class ClientStanzas {
    constructor(private readonly options: ClientStanzasOptions) {}

    readonly handle = async (conn: Connection, node: BinaryNode): Promise<void> => {
        this.options.events.emit('client-stanza', {
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
            await this.iq(conn, node)
            return
        }
        if (node.tag === 'ib') {
            if (child(node, 'offline_batch')) await this.options.login.deliverOffline(conn)
            return
        }
        if ((node.tag === 'receipt' || node.tag === 'ack') && node.attrs.id) {
            // the client has the message: it is not delivered again
            conn.unacked.delete(node.attrs.id)
        }
        if (node.tag === 'receipt' || node.tag === 'notification' || node.tag === 'call') {
            if (node.attrs.id && node.tag === 'receipt') {
                await conn.respond(ack(node, node.attrs.type ? { type: node.attrs.type } : {}))
            }
            return
        }
        if (node.tag === 'message' && node.attrs.id) {
            if (conn.device) await this.options.peers.receive(conn.device.jid, node)
            await conn.respond(ack(node, { t: nowSeconds() }))
        }
        // presence, ack, chatstate and the rest need no answer.
    }

    private async iq(conn: Connection, node: BinaryNode): Promise<void> {
        const xmlns = node.attrs.xmlns ?? ''
        const first = children(node)[0]
        if (xmlns === 'w:p' || xmlns === 'urn:xmpp:ping') {
            await conn.respond(iqResult(node))
            return
        }
        if (xmlns === 'md' && first?.tag === 'link_code_companion_reg') {
            await this.options.pairing.linkCodeIq(conn, node, first)
            return
        }
        if (xmlns === 'abt') {
            await conn.respond(
                iqResult(node, [
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
        if (xmlns === 'w' && first?.tag === 'props') {
            // the newer props query (Baileys 6.x): no experiment flags on the sandbox
            await conn.respond(
                iqResult(node, [
                    { tag: 'props', attrs: { protocol: '2', hash: 'sandbox', refresh: '86400' } }
                ])
            )
            return
        }
        if (xmlns === 'blocklist' && node.attrs.type === 'get') {
            await conn.respond(iqResult(node, [{ tag: 'list', attrs: {} }]))
            return
        }
        if (xmlns === 'privacy' && node.attrs.type === 'get' && first?.tag === 'privacy') {
            await conn.respond(iqResult(node, [{ tag: 'privacy', attrs: {} }]))
            return
        }
        if (xmlns === 'w:sync:app:state' && first?.tag === 'sync') {
            await conn.respond(iqResult(node, [appStateAnswer(first)]))
            return
        }
        if (xmlns === 'usync' && first?.tag === 'usync') {
            const protocols = children(child(first, 'query')).map(entry => entry.tag)
            if (protocols.length === 1 && protocols[0] === 'devices') {
                await conn.respond(iqResult(node, [this.deviceListNode(first)]))
                return
            }
        }
        if (xmlns === 'w:m' && first?.tag === 'media_conn') {
            // Media transfer is not modelled: the host answers nothing, uploads fail.
            await conn.respond(
                iqResult(node, [
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
            await conn.respond(iqResult(node))
            return
        }
        if (xmlns === 'passive' || xmlns === 'urn:xmpp:whatsapp:dirty' || xmlns === 'w:stats') {
            await conn.respond(iqResult(node))
            return
        }
        if (xmlns === 'encrypt' && conn.device) {
            await conn.respond(await this.encrypt(conn.device, node, first))
            return
        }
        if (xmlns === 'md' && first?.tag === 'remove-companion-device' && conn.device) {
            await this.removeCompanion(conn, conn.device, node, first)
            return
        }
        this.options.logger.debug('sandbox does not model iq', {
            xmlns,
            type: node.attrs.type,
            child: first?.tag
        })
        await conn.respond(iqError(node, 501, 'feature-not-implemented'))
    }

    /**
     * A companion may only unlink itself; the server confirms, forgets the device and ends the
     * stream with a device_removed conflict (the client then clears its store).
     */
    private async removeCompanion(
        conn: Connection,
        device: DeviceRecord,
        node: BinaryNode,
        request: BinaryNode
    ): Promise<void> {
        const target = request.attrs.jid ?? ''
        if (target.split('@')[0] !== device.jid.split('@')[0]) {
            await conn.respond(iqError(node, 403, 'forbidden'))
            return
        }
        await conn.respond(iqResult(node))
        this.options.registry.removeDevice(device.jid)
        this.options.events.emit('device-removed', {
            jid: device.jid,
            reason: request.attrs.reason ?? null,
            connectionId: conn.id
        })
        await conn.endWith(streamConflict('device_removed'))
    }

    /** `xmlns=encrypt`: the device's keys on the server, and key fetches for simulated peers. */
    private async encrypt(
        device: DeviceRecord,
        node: BinaryNode,
        first: BinaryNode | undefined
    ): Promise<BinaryNode> {
        if (node.attrs.type === 'get' && first?.tag === 'key') {
            const users: BinaryNode[] = []
            for (const user of children(first)) {
                const jid = user.attrs.jid
                if (!jid) continue
                users.push(await this.peerKeyNode(jid))
            }
            return iqResult(node, [{ tag: 'list', attrs: {}, content: users }])
        }
        if (node.attrs.type === 'set' && child(node, 'list')) {
            const identity = bytesContent(child(node, 'identity'))
            const registration = bytesContent(child(node, 'registration'))
            const skey = child(node, 'skey')
            if (!identity || !registration || !skey) return iqError(node, 400, 'bad-request')
            device.identityPub = identity
            device.registrationId = readUint(registration)
            device.signedPreKey = readSignedPreKey(skey)
            for (const key of children(child(node, 'list'))) {
                const keyId = readUint(bytesContent(child(key, 'id')))
                const value = bytesContent(child(key, 'value'))
                if (value) device.preKeys.set(keyId, value)
            }
            device.keysUploaded = true
            this.options.events.emit('prekeys', { jid: device.jid, count: device.preKeys.size })
            return iqResult(node)
        }
        if (node.attrs.type === 'set' && first?.tag === 'rotate') {
            const skey = child(first, 'skey')
            if (!skey) return iqError(node, 400, 'bad-request')
            device.signedPreKey = readSignedPreKey(skey)
            return iqResult(node)
        }
        if (node.attrs.type === 'get' && first?.tag === 'count') {
            return iqResult(node, [{ tag: 'count', attrs: { value: String(device.preKeys.size) } }])
        }
        if (node.attrs.type === 'get' && first?.tag === 'digest') {
            if (!device.keysUploaded || !device.signedPreKey)
                return iqError(node, 404, 'item-not-found')
            return iqResult(node, [digestNode(device)])
        }
        return iqError(node, 501, 'feature-not-implemented')
    }

    /**
     * usync `devices`: a simulated peer has one device (its phone, id 0). Sandbox accounts answer
     * an empty list: companions of the same account do not receive each other's messages here.
     */
    private deviceListNode(usync: BinaryNode): BinaryNode {
        const users = children(child(usync, 'list')).map((user): BinaryNode => {
            const jid = user.attrs.jid ?? ''
            const phone = jid.split('@')[0]?.split(':')[0] ?? ''
            const isPeer =
                jid.endsWith(`@${HOST_DOMAIN}`) && !this.options.registry.isAccount(phone)
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
            this.options.registry.isAccount(user) ||
            (deviceId && deviceId !== '0')
        ) {
            return {
                tag: 'user',
                attrs: { jid },
                content: [{ tag: 'error', attrs: { code: '404', text: 'item-not-found' } }]
            }
        }
        const peer = await this.options.peers.peerFor(`${user}@${HOST_DOMAIN}`)
        const bundle = await peer.keyBundle()
        return {
            tag: 'user',
            attrs: { jid },
            content: [
                { tag: 'registration', attrs: {}, content: uintBytes(4, bundle.registrationId) },
                { tag: 'type', attrs: {}, content: new Uint8Array([5]) },
                { tag: 'identity', attrs: {}, content: bundle.identity },
                skeyNode(bundle.signedPreKey),
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
}

/**
 * The answer to an app-state sync: every collection asked for is empty at the version the client
 * has (no snapshot, no patches). The sandbox keeps no app state; a client that syncs from scratch
 * ends up with empty collections, as on an account that never changed a setting.
 */
function appStateAnswer(sync: BinaryNode): BinaryNode {
    return {
        tag: 'sync',
        attrs: {},
        content: children(sync)
            .filter(entry => entry.tag === 'collection' && entry.attrs.name)
            .map(entry => ({
                tag: 'collection',
                attrs: { name: entry.attrs.name ?? '', version: entry.attrs.version ?? '0' }
            }))
    }
}

/** The server's `<ack>` of a client's receipt or message. */
function ack(node: BinaryNode, extra: Readonly<Record<string, string>>): BinaryNode {
    return {
        tag: 'ack',
        attrs: {
            class: node.tag,
            id: node.attrs.id ?? '',
            from: node.attrs.to ?? HOST_DOMAIN,
            ...extra
        }
    }
}

/** The `<skey>` of a prekey upload or signed-prekey rotation. */
function readSignedPreKey(skey: BinaryNode): SignedPreKeyPublic {
    return {
        id: readUint(bytesContent(child(skey, 'id'))),
        publicKey: bytesContent(child(skey, 'value')) ?? new Uint8Array(0),
        signature: bytesContent(child(skey, 'signature')) ?? new Uint8Array(0)
    }
}

function skeyNode(signed: SignedPreKeyPublic): BinaryNode {
    return {
        tag: 'skey',
        attrs: {},
        content: [
            { tag: 'id', attrs: {}, content: uintBytes(3, signed.id) },
            { tag: 'value', attrs: {}, content: signed.publicKey },
            { tag: 'signature', attrs: {}, content: signed.signature }
        ]
    }
}

/** The answer to `<digest>`: what the server holds of the device's keys, and their SHA-1. */
function digestNode(device: DeviceRecord): BinaryNode {
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
            skeyNode(signed),
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
