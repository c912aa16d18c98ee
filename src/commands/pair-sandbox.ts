/**
 * `zapo pair --sandbox`: an in-process sandbox whose phone links the device by itself, to try
 * the whole flow without a phone. The pairing itself (ops/pair.ts) only sees a server URL and a
 * root CA; this module starts the sandbox and plays the phone from the pairing's progress: it
 * scans each QR shown, or types the pairing code, `scanMs` later.
 *
 * One of the sandbox's two entry points in product code (the other is commands/sandbox.ts).
 */
import type { PairProgress } from '../ops/pair.js'

/** How long the sandbox's phone takes to scan a QR or type a code, like a person would. */
export const SANDBOX_PHONE_DELAY_MS = 3_000

export interface SandboxPhone {
    /** pass to runPair as `server` */
    readonly server: { readonly url: string; readonly rootCa: string }
    /** feed every pairing progress event: QRs are scanned, codes typed, after the delay */
    readonly onProgress: (event: PairProgress) => void
    close(): Promise<void>
}

export async function startSandboxPhone(options: {
    /** the --phone of a pairing-code pairing, null for a QR */
    readonly phone: string | null
    readonly delayMs?: number
}): Promise<SandboxPhone> {
    const { startSandbox } = await import('../sandbox/index.js')
    const delayMs = options.delayMs ?? SANDBOX_PHONE_DELAY_MS
    const sandbox = await startSandbox({ autoScanMs: delayMs })
    const timers = new Set<NodeJS.Timeout>()
    return {
        server: { url: sandbox.url, rootCa: sandbox.rootCa },
        onProgress: event => {
            if (event.type === 'qr') {
                void sandbox.presentQr(event.qr).catch(() => undefined)
            } else if (event.type === 'pairing_code' && options.phone !== null) {
                const phone = options.phone
                const timer = setTimeout(() => {
                    timers.delete(timer)
                    void sandbox.enterPairingCode(event.code, { phone }).catch(() => undefined)
                }, delayMs)
                timers.add(timer)
            }
        },
        close: async () => {
            for (const timer of timers) clearTimeout(timer)
            timers.clear()
            await sandbox.close().catch(() => undefined)
        }
    }
}
