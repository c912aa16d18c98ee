/**
 * The device registry: the accounts the simulated phones own, their linked companion devices
 * (keyed by device JID), the devices that were removed, and each device's keys on the server
 * (identity, registration id, signed prekey, one-time prekeys) as the server hands them out.
 * State lives in memory for the sandbox's lifetime.
 */
import type { Logger } from 'zapo-js'
import { X25519 } from 'zapo-js/crypto'
import type { BinaryNode } from 'zapo-js/transport'

import type { Connection } from './connection.js'
import type { SandboxEmitter } from './events.js'
import { HOST_DOMAIN, nowSeconds, randomDigits } from './nodes.js'
import type { KeyPair } from './noise.js'
import type { DeviceKeyBundle, SignedPreKeyPublic } from './peers.js'

export interface Account {
    readonly phone: string
    readonly jid: string
    readonly lidUser: string
    readonly identity: KeyPair
    nextDeviceId: number
}

export interface DeviceInfo {
    readonly jid: string
    readonly lid: string
    readonly phone: string
    readonly deviceId: number
    readonly platform: string
    readonly connected: boolean
    readonly registrationId: number
    readonly preKeyCount: number
    readonly hasSignedPreKey: boolean
    readonly pairedAt: number
    readonly logins: number
}

export interface DeviceRecord {
    readonly jid: string
    readonly lid: string
    readonly account: Account
    readonly deviceId: number
    readonly noisePub: Uint8Array
    readonly platform: string
    readonly pairedAt: number
    identityPub: Uint8Array
    registrationId: number
    signedPreKey: SignedPreKeyPublic | null
    preKeys: Map<number, Uint8Array>
    keysUploaded: boolean
    connection: Connection | null
    offline: BinaryNode[]
    logins: number
}

/** What an unregistered companion sends in its handshake payload (`devicePairingData`). */
export interface RegistrationData {
    readonly identityPub: Uint8Array
    readonly registrationId: number
    readonly signedPreKey: SignedPreKeyPublic
    readonly noisePub: Uint8Array
}

export interface DeviceRegistryOptions {
    readonly events: SandboxEmitter
    readonly logger: Logger
    readonly stanzaId: () => string
    /** One-time prekeys left on the server when it asks the device for more. */
    readonly preKeyLowWater: number
    /** A device JID starts over (a new pairing or an adopted device): peers forget their sessions. */
    readonly onDeviceCreated: (jid: string) => void
}

export class DeviceRegistry {
    private readonly accounts = new Map<string, Account>()
    private readonly devicesByJid = new Map<string, DeviceRecord>()
    private readonly removedDevices = new Set<string>()

    constructor(private readonly options: DeviceRegistryOptions) {}

    readonly devices = (): DeviceInfo[] =>
        [...this.devicesByJid.values()].map(device => ({
            jid: device.jid,
            lid: device.lid,
            phone: device.account.phone,
            deviceId: device.deviceId,
            platform: device.platform,
            connected: device.connection !== null && !device.connection.closed,
            registrationId: device.registrationId,
            preKeyCount: device.preKeys.size,
            hasSignedPreKey: device.signedPreKey !== null,
            pairedAt: device.pairedAt,
            logins: device.logins
        }))

    /**
     * Resolves with a device once it is connected and has uploaded its prekeys (ready to receive
     * messages). `jid` narrows to one device; without it the first ready device wins.
     */
    readonly waitForDevice = async (
        jid: string | null = null,
        timeoutMs = 30_000
    ): Promise<DeviceInfo> => {
        const ready = () =>
            this.devices().find(
                device =>
                    (jid === null || device.jid === jid) &&
                    device.connected &&
                    device.hasSignedPreKey &&
                    device.preKeyCount > 0
            ) ?? null
        const found = ready()
        if (found) return found
        const { events } = this.options
        return new Promise((resolve, reject) => {
            const check = () => {
                const device = ready()
                if (!device) return
                cleanup()
                resolve(device)
            }
            const timer = setTimeout(() => {
                cleanup()
                reject(new Error(`timed out waiting for device ${jid ?? '(any)'}`))
            }, timeoutMs)
            const cleanup = () => {
                clearTimeout(timer)
                events.off('prekeys', check)
                events.off('login', check)
            }
            events.on('prekeys', check)
            events.on('login', check)
        })
    }

    /** The account of `phone`, created on first use; null makes a new account with a random number. */
    async accountFor(phone: string | null): Promise<Account> {
        const resolved = phone ?? `1555${await randomDigits(7)}`
        const existing = this.accounts.get(resolved)
        if (existing) return existing
        const identity = await X25519.generateKeyPair()
        const account: Account = {
            phone: resolved,
            jid: `${resolved}@${HOST_DOMAIN}`,
            lidUser: `1${await randomDigits(13)}`,
            identity,
            nextDeviceId: 1
        }
        this.accounts.set(resolved, account)
        return account
    }

    /** Whether `phone` is an account of this sandbox (not a simulated peer). */
    isAccount(phone: string): boolean {
        return this.accounts.has(phone)
    }

    device(jid: string): DeviceRecord | null {
        return this.devicesByJid.get(jid) ?? null
    }

    isRemoved(jid: string): boolean {
        return this.removedDevices.has(jid)
    }

    createDevice(
        account: Account,
        deviceId: number,
        noisePub: Uint8Array,
        registration: RegistrationData | null,
        platform: string
    ): DeviceRecord {
        const jid = `${account.phone}:${deviceId}@${HOST_DOMAIN}`
        const device: DeviceRecord = {
            jid,
            lid: `${account.lidUser}:${deviceId}@lid`,
            account,
            deviceId,
            noisePub,
            platform,
            pairedAt: Date.now(),
            identityPub: registration?.identityPub ?? new Uint8Array(0),
            registrationId: registration?.registrationId ?? 0,
            signedPreKey: registration?.signedPreKey ?? null,
            preKeys: new Map(),
            keysUploaded: false,
            connection: null,
            offline: [],
            logins: 0
        }
        this.devicesByJid.set(jid, device)
        this.removedDevices.delete(jid)
        this.options.onDeviceCreated(jid)
        return device
    }

    /** Forgets a device: its next login is refused (401) until it pairs again. */
    removeDevice(jid: string): void {
        this.devicesByJid.delete(jid)
        this.removedDevices.add(jid)
    }

    /** A device JID, or an account JID / bare phone number (every device of that account). */
    resolveDevices(target: string): DeviceRecord[] {
        const exact = this.devicesByJid.get(target)
        if (exact) return [exact]
        const user = target.split('@')[0]?.split(':')[0] ?? target
        return [...this.devicesByJid.values()].filter(device => device.account.phone === user)
    }

    /** The bundle a peer's X3DH uses; each call may take one of the device's one-time prekeys. */
    keyBundle(device: DeviceRecord): DeviceKeyBundle | null {
        const signed = device.signedPreKey
        if (!device.keysUploaded || !signed) return null
        return {
            registrationId: device.registrationId,
            identity: device.identityPub,
            signedPreKey: signed,
            takeOneTimeKey: () => {
                const first = device.preKeys.entries().next()
                if (first.done) return null
                const [id, publicKey] = first.value
                device.preKeys.delete(id)
                if (device.preKeys.size === this.options.preKeyLowWater) this.askForPreKeys(device)
                return { id, publicKey }
            }
        }
    }

    async waitForKeys(device: DeviceRecord, timeoutMs: number): Promise<void> {
        if (device.keysUploaded) return
        await this.options.events
            .waitFor('prekeys', event => event.jid === device.jid, timeoutMs)
            .catch(() => {
                throw new Error(`device ${device.jid} has not uploaded prekeys; is it logged in?`)
            })
    }

    /** Low on one-time prekeys: `<notification type=encrypt><count>` makes the client upload. */
    private askForPreKeys(device: DeviceRecord): void {
        const conn = device.connection
        if (!conn || conn.closed) return
        this.options.logger.info('sandbox asks a device for prekeys', {
            jid: device.jid,
            left: device.preKeys.size
        })
        void conn
            .send({
                tag: 'notification',
                attrs: {
                    from: HOST_DOMAIN,
                    id: this.options.stanzaId(),
                    type: 'encrypt',
                    t: nowSeconds()
                },
                content: [{ tag: 'count', attrs: { value: String(device.preKeys.size) } }]
            })
            .catch(() => undefined)
    }
}
