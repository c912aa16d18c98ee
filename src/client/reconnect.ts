/**
 * The reconnect policy of everything that stays connected (`logs`, `check --connect`).
 *
 * zapo-js does not reconnect by itself after a close; the owner decides. This is a small
 * state machine with no timers of its own: the caller reports what happened (`opened`,
 * `closed`, `connectFailed`) and gets back what to do (reconnect after `delayMs`, stop, or
 * nothing). The caller schedules; tests inject `random` and `now` and stay deterministic.
 *
 * - routine (515): reconnect at once, the first time since the last stable connection; a 515
 *   loop falls back to backoff so a misbehaving server is not hammered
 * - transient: exponential backoff with full jitter, `random() × min(capMs, baseMs × 2^(n-1))`
 * - fatal: stop at once
 * - expected (our own disconnect): nothing
 * - attempts reset once a connection stayed open for `stableMs`
 */

import type { WaLogoutStoreClearOptions } from 'zapo-js/client'
import {
    classifyClose,
    CLOSE_REASONS,
    type CloseClassification,
    type CloseEventLike
} from './reasons.js'

export interface ReconnectPolicyOptions {
    /** first backoff step (default 1 s) */
    readonly baseMs?: number
    /** largest backoff step (default 60 s) */
    readonly capMs?: number
    /** give up after this many attempts in a row without a stable connection (default: never) */
    readonly maxAttempts?: number
    /** a connection open this long resets the attempt counter (default 10 s) */
    readonly stableMs?: number
    /** [0, 1) source for the jitter (default Math.random) */
    readonly random?: () => number
    /** clock in ms (default Date.now) */
    readonly now?: () => number
}

const RECONNECT_DEFAULTS = Object.freeze({
    baseMs: 1_000,
    capMs: 60_000,
    maxAttempts: Number.POSITIVE_INFINITY,
    stableMs: 10_000
} as const)

export type ReconnectState = 'connecting' | 'open' | 'waiting' | 'stopped'

export type ReconnectDecision =
    | {
          readonly action: 'reconnect'
          /** 1 for the first reconnect since the last stable connection */
          readonly attempt: number
          readonly delayMs: number
          readonly classification: CloseClassification
      }
    /** fatal reason, or `maxAttempts` reached (then `classification.exit` is CONNECTION_FAILED) */
    | {
          readonly action: 'stop'
          readonly attempt: number
          readonly classification: CloseClassification
          readonly gaveUp: boolean
      }
    /** our own disconnect, or a close reported after the policy stopped */
    | { readonly action: 'none'; readonly classification: CloseClassification }

export class ReconnectPolicy {
    private readonly baseMs: number
    private readonly capMs: number
    private readonly maxAttempts: number
    private readonly stableMs: number
    private readonly random: () => number
    private readonly now: () => number
    private attempt = 0
    private openedAt: number | null = null
    private current: ReconnectState = 'connecting'
    private stopClassification: CloseClassification | null = null

    constructor(options: ReconnectPolicyOptions = {}) {
        this.baseMs = options.baseMs ?? RECONNECT_DEFAULTS.baseMs
        this.capMs = options.capMs ?? RECONNECT_DEFAULTS.capMs
        this.maxAttempts = options.maxAttempts ?? RECONNECT_DEFAULTS.maxAttempts
        this.stableMs = options.stableMs ?? RECONNECT_DEFAULTS.stableMs
        this.random = options.random ?? Math.random
        this.now = options.now ?? Date.now
    }

    get state(): ReconnectState {
        return this.current
    }

    /** why the policy stopped (null while it runs) */
    get stoppedBy(): CloseClassification | null {
        return this.stopClassification
    }

    /** the connection is open (zapo-js `connection` with status open) */
    opened(): void {
        if (this.current === 'stopped') return
        this.current = 'open'
        this.openedAt = this.now()
    }

    /** a reconnect is being attempted now (the delay of the last decision has passed) */
    connecting(): void {
        if (this.current === 'stopped') return
        this.current = 'connecting'
    }

    /** the owner stops on its own (Ctrl-C, --count, --timeout): later closes are ignored */
    stop(): void {
        this.current = 'stopped'
    }

    /** a zapo-js `connection` close event arrived */
    closed(event: CloseEventLike, sessionId: string | null = null): ReconnectDecision {
        return this.decide(classifyClose(event, sessionId))
    }

    /** `connect()` threw: a transient `connect_failed` */
    connectFailed(sessionId: string | null = null): ReconnectDecision {
        return this.decide(
            classifyClose(
                { reason: CLOSE_REASONS.CONNECT_FAILED, code: null, isLogout: false },
                sessionId
            )
        )
    }

    /** the owner classified an outcome itself (a connect failure it knows is final) */
    classified(classification: CloseClassification): ReconnectDecision {
        return this.decide(classification)
    }

    /** the full-jitter delay bound for an attempt (exposed for docs and tests) */
    backoffCeilingMs(attempt: number): number {
        return Math.min(this.capMs, this.baseMs * 2 ** Math.max(0, attempt - 1))
    }

    private decide(classification: CloseClassification): ReconnectDecision {
        if (this.current === 'stopped' || classification.class === 'expected') {
            return { action: 'none', classification }
        }
        if (this.openedAt !== null && this.now() - this.openedAt >= this.stableMs) this.attempt = 0
        this.openedAt = null
        if (classification.class === 'fatal') {
            this.current = 'stopped'
            this.stopClassification = classification
            return { action: 'stop', attempt: this.attempt, classification, gaveUp: false }
        }
        this.attempt += 1
        if (this.attempt > this.maxAttempts) {
            this.current = 'stopped'
            const gaveUp = {
                ...classification,
                class: 'fatal' as const,
                exit: 'CONNECTION_FAILED' as const
            }
            this.stopClassification = gaveUp
            return {
                action: 'stop',
                attempt: this.attempt - 1,
                classification: gaveUp,
                gaveUp: true
            }
        }
        this.current = 'waiting'
        const immediate = classification.class === 'routine' && this.attempt === 1
        const delayMs = immediate
            ? 0
            : Math.floor(this.random() * this.backoffCeilingMs(this.attempt))
        return { action: 'reconnect', attempt: this.attempt, delayMs, classification }
    }
}

/**
 * `logoutStoreClear` for clients that only watch (`logs`, `check --connect`): nothing is
 * cleared from the store on a server-side close.
 *
 * zapo-js 0.3 treats a 515 "reconnect now" as a logout: it wipes the stored credentials and
 * starts a new pairing (upstream documents 515 as routine). With this option the credentials
 * stay, the library logs in again with them, and fatal reasons leave the stale credentials in
 * place for `zapo pair` to overwrite or `zapo logout` to remove: watching never deletes data.
 */
type StoreClearOptions = WaLogoutStoreClearOptions

export const KEEP_STORE_ON_CLOSE: Readonly<Required<StoreClearOptions>> = Object.freeze({
    auth: false,
    signal: false,
    preKey: false,
    session: false,
    identity: false,
    senderKey: false,
    appState: false,
    retry: false,
    participants: false,
    deviceList: false,
    messages: false,
    messageSecret: false,
    threads: false,
    contacts: false,
    privacyToken: false
})
