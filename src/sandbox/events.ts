/**
 * What the sandbox reports as it runs: one typed event emitter shared by every protocol phase,
 * with `waitFor` (the first matching event, or a timeout) for tests and for the phases that wait
 * on each other (a pairing-code entry waits for `paired` or `pairing-failed`).
 */
import { EventEmitter } from 'node:events'

import type { BinaryNode } from 'zapo-js/transport'

import type { FaultKind } from './faults.js'
import type { HandshakeMode } from './noise.js'
import type { PeerMessage } from './peers.js'

export interface SandboxEvents {
    connection: { connectionId: number; remoteAddress: string }
    qr: { connectionId: number; refs: readonly string[] }
    'pairing-code': { connectionId: number; phone: string; ref: string }
    paired: { jid: string; lid: string; phone: string; connectionId: number; via: 'qr' | 'code' }
    'pairing-failed': { connectionId: number; reason: string }
    login: { jid: string; connectionId: number; handshake: HandshakeMode }
    prekeys: { jid: string; count: number }
    disconnect: { connectionId: number; jid: string | null }
    'client-stanza': { connectionId: number; jid: string | null; node: BinaryNode }
    /** a simulated peer decrypted a message a client sent it */
    'peer-message': PeerMessage
    /** a companion unlinked itself (`WaClient.logout()`: `<remove-companion-device>`) */
    'device-removed': { jid: string; reason: string | null; connectionId: number }
    /** a fault acted on the live connections of `target` (`fault()` / `POST /fault`) */
    fault: { target: string; kind: FaultKind }
    /** a simulated peer sent a text to a device (`sendMessage` / `sendGroupMessage`) */
    message: { to: string; from: string; id: string; group: string | null }
    /** a login answered with `<failure reason=…>` because of `refuseNextLogin` */
    'login-refused': { jid: string; connectionId: number; kind: FaultKind; reason: number }
}

export type SandboxEventName = keyof SandboxEvents
export type SandboxListener<K extends SandboxEventName> = (event: SandboxEvents[K]) => void

export class SandboxEmitter {
    private readonly emitter = new EventEmitter()
    private readonly waitCancels = new Map<number, Set<() => void>>()

    readonly emit = <K extends SandboxEventName>(name: K, event: SandboxEvents[K]): void => {
        this.emitter.emit(name, event)
    }

    readonly on = <K extends SandboxEventName>(name: K, listener: SandboxListener<K>): void => {
        this.emitter.on(name, listener)
    }

    readonly off = <K extends SandboxEventName>(name: K, listener: SandboxListener<K>): void => {
        this.emitter.off(name, listener)
    }

    /**
     * Resolves with the first event of `name` that matches, or rejects after `timeoutMs`. Waits
     * given a `tag` are rejected together by `cancelWaits(tag)`.
     */
    readonly waitFor = <K extends SandboxEventName>(
        name: K,
        predicate: (event: SandboxEvents[K]) => boolean = () => true,
        timeoutMs = 30_000,
        tag: number | null = null
    ): Promise<SandboxEvents[K]> =>
        new Promise((resolve, reject) => {
            const cleanup = () => {
                clearTimeout(timer)
                this.off(name, listener)
                if (tag !== null) this.waitCancels.get(tag)?.delete(cancel)
            }
            const listener = (event: SandboxEvents[K]) => {
                if (!predicate(event)) return
                cleanup()
                resolve(event)
            }
            const cancel = () => {
                cleanup()
                reject(new Error('wait cancelled'))
            }
            const timer = setTimeout(() => {
                cleanup()
                reject(new Error(`timed out waiting for sandbox event ${name}`))
            }, timeoutMs)
            this.on(name, listener)
            if (tag !== null) {
                const set = this.waitCancels.get(tag) ?? new Set()
                set.add(cancel)
                this.waitCancels.set(tag, set)
            }
        })

    cancelWaits(tag: number): void {
        const set = this.waitCancels.get(tag)
        if (!set) return
        this.waitCancels.delete(tag)
        for (const cancel of set) cancel()
    }

    removeAllListeners(): void {
        this.emitter.removeAllListeners()
    }
}
