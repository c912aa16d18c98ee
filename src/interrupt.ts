/**
 * The one interrupt path of the tool (docs/interrupts.md is the user's view of it).
 *
 * main.ts installs the process's SIGINT and SIGTERM handlers once, before any command runs;
 * both signals mean the same thing.
 * - While no command has claimed interrupts, a signal is a forced stop.
 * - A long-running command claims them with `claimInterrupts(io, …)` once it starts work that
 *   must stop at a safe point. The first signal then aborts the claim's AbortSignal (the ops
 *   stop at their next safe point and throw CANCELLED, or end cleanly) and prints one line,
 *   `zapo: stopping: …`; the second signal is a forced stop.
 * - A forced stop runs the last-resort clean-ups registered with `atForcedStop` (a temporary
 *   file, an open store) and hands over to main.ts, which ends the process with exit 130.
 *
 * This module never exits the process and never picks an exit code: main.ts does both.
 */

import { note, type Io } from './output.js'

const INTERRUPT_SIGNALS = Object.freeze(['SIGINT', 'SIGTERM'] as const)

export type InterruptSignal = (typeof INTERRUPT_SIGNALS)[number]

export interface InterruptClaim {
    /** what the first signal starts, for the `zapo: stopping: …` line */
    readonly stopping: string
    /** what a forced stop (the second signal) leaves behind and how to recover, if anything */
    readonly forced?: string
}

export interface ForcedStop {
    readonly signal: InterruptSignal
    /** the claim that was stopping when the second signal came; null when nothing was claimed */
    readonly claim: InterruptClaim | null
}

interface Claimed {
    readonly io: Io
    readonly claim: InterruptClaim
    readonly controller: AbortController
}

let claimed: Claimed | null = null
let announced = false
const lastResorts = new Set<() => unknown>()

/**
 * Installs the SIGINT / SIGTERM handlers (main.ts, once per process). `onForcedStop` is called
 * for a signal while nothing is claimed, and for the second signal of a claimed run.
 */
export function installInterrupts(onForcedStop: (stop: ForcedStop) => void): void {
    const handler = (signal: InterruptSignal): void => {
        const current = claimed
        if (current !== null && !current.controller.signal.aborted) {
            current.controller.abort(signal)
            announced = true
            const again =
                signal === 'SIGINT'
                    ? 'Ctrl-C again to quit at once'
                    : 'a second SIGTERM quits at once'
            note(current.io, `zapo: stopping: ${current.claim.stopping}; ${again}`)
            return
        }
        onForcedStop({ signal, claim: current?.claim ?? null })
    }
    for (const signal of INTERRUPT_SIGNALS) process.on(signal, handler)
}

/**
 * Claims interrupts for a long-running command: the returned signal aborts on the first
 * SIGINT / SIGTERM. The claim lasts until main.ts releases it when the command has returned.
 */
export function claimInterrupts(io: Io, claim: InterruptClaim): AbortSignal {
    const controller = new AbortController()
    claimed = { io, claim, controller }
    return controller.signal
}

/** Ends the current claim (main.ts, once the command has returned). */
export function releaseInterrupts(): void {
    claimed = null
}

/** Whether a first signal printed its `stopping` line (the CANCELLED after it is not repeated). */
export function interruptAnnounced(): boolean {
    return announced
}

/**
 * Registers a last-resort clean-up for a forced stop: something that must not outlive the
 * process even when it ends at once (remove a temporary file, close a store). It must be quick;
 * it may be async. Returns the function that unregisters it (call it once the resource is gone).
 */
export function atForcedStop(cleanup: () => unknown): () => void {
    lastResorts.add(cleanup)
    return () => void lastResorts.delete(cleanup)
}

/** Runs every registered last-resort clean-up, newest first, for at most `budgetMs` in all. */
export async function runLastResorts(budgetMs: number): Promise<void> {
    const cleanups = [...lastResorts].reverse()
    lastResorts.clear()
    const each = Promise.all(
        cleanups.map(async cleanup => {
            try {
                await cleanup()
            } catch {
                // best effort: the process ends right after
            }
        })
    )
    let timer: NodeJS.Timeout | undefined
    const budget = new Promise<void>(resolve => {
        timer = setTimeout(resolve, budgetMs)
    })
    await Promise.race([each, budget])
    clearTimeout(timer)
}
