/**
 * `zapo logs`: tail the live events of one or many paired sessions.
 *
 * One WaClient per session, all on one opened store. Each client's events become records
 * (client/event-json.ts), pass the filters and go to `onRecord` as they happen. Each session owns a
 * ReconnectPolicy: 515 reconnects at once, transient closes back off, a fatal close stops that
 * session (the others go on). The run ends when --count matching events were seen, --timeout
 * passed, the caller aborts (Ctrl-C), or every session stopped by itself.
 *
 * Ending means `disconnect()` for every client (write-behind flushed, device still linked);
 * nothing here ever calls `logout()` or clears the store (see KEEP_STORE_ON_CLOSE).
 * Never prints, prompts or exits: the command renders the records.
 */

import type { WaClient } from 'zapo-js'
import {
    failureClassification,
    failureLine,
    watchConnect,
    type ConnectFailure,
    type ConnectWatch,
    type SocketDrop
} from '../client/connect-failure.js'
import {
    createWaClient,
    type ClientTuning,
    type WaServerOverride
} from '../client/create-client.js'
import type { ClientLogger } from '../client/logger.js'
import { demoteBookkeeping, isSupersededConnect } from '../client/messages.js'
import { SILENT_LOGGER } from '../client/silent-logger.js'
import {
    classifyClose,
    CLOSE_REASONS,
    closeForFailure,
    type CloseClassification
} from '../client/reasons.js'
import {
    KEEP_STORE_ON_CLOSE,
    ReconnectPolicy,
    type ReconnectDecision,
    type ReconnectPolicyOptions
} from '../client/reconnect.js'
import { toError, worstExit, ZapoError, type ZapoErrorCode } from '../errors.js'
import type { StoreSpec } from '../store/address.js'
import { assertWritable, type OpenedStore } from '../store/open.js'
import { sessionFailure } from '../store/failures.js'
import {
    CLIENT_EVENT_TYPES,
    errorRecord,
    jidMatches,
    OPT_IN_TYPES,
    reconnectRecord,
    isStatusRecord,
    stoppedRecord,
    toEventRecord,
    withClass,
    withDowntime,
    type EventRecord,
    type EventType
} from '../client/event-json.js'
import { inShard, type Shard } from '../util/shard.js'

export interface LogsOptions {
    readonly storeSpec: StoreSpec
    /** how long to wait for sessions another zapo run holds (their leases), in ms */
    readonly waitMs?: number
    /** session ids, or every paired session of the store */
    readonly sessions: readonly string[] | 'all'
    /** with sessions 'all': only the sessions of this shard (src/util/shard.ts) */
    readonly shard?: Shard | null
    readonly server: WaServerOverride | null
    /** null: every type except the opt-in ones */
    readonly types: ReadonlySet<EventType> | null
    /** normalised JIDs (see normalizeJidFlag) */
    readonly chat: string | null
    readonly from: string | null
    readonly count: number | null
    readonly timeoutMs: number | null
    readonly raw: boolean
}

export interface LogsDeps {
    /** every matching record, in order, as it happens */
    readonly onRecord: (record: EventRecord) => void
    /** the sessions are resolved and about to connect */
    readonly onConnecting?: (sessionIds: readonly string[]) => void
    /** aborting ends the run like --timeout does (Ctrl-C, SIGTERM, a closed stdout) */
    readonly signal?: AbortSignal
    readonly policy?: ReconnectPolicyOptions
    /** the clients' log lines (one child per session); default: none */
    readonly logger?: ClientLogger
    readonly tuning?: ClientTuning
}

export type LogsEnd = 'count' | 'timeout' | 'aborted' | 'sessions_ended'

export interface SessionOutcome {
    readonly sessionId: string
    /** 'running' until the end; 'stopped' when a fatal reason (or exhausted retries) ended it */
    readonly state: 'running' | 'stopped'
    readonly stoppedBy: CloseClassification | null
    readonly records: number
    readonly reconnects: number
}

export interface LogsResult {
    readonly ended: LogsEnd
    /** records counted by --count (every record except connection/reconnect/stopped) */
    readonly matched: number
    readonly sessions: readonly SessionOutcome[]
    /** OK unless every session stopped by itself: then the most severe of their exit codes */
    readonly exit: ZapoErrorCode
}

/** the shared silent logger, with the child() a ClientLogger has */
const SILENT: ClientLogger = Object.freeze({ ...SILENT_LOGGER, child: () => SILENT })

export async function runLogs(options: LogsOptions, deps: LogsDeps): Promise<LogsResult> {
    assertWritable(options.storeSpec, 'be connected from (a connected client writes its state)')
    const sessionIds = await resolveSessions(
        options.storeSpec,
        options.sessions,
        options.shard ?? null
    )
    if (deps.signal?.aborted) return { ended: 'aborted', matched: 0, sessions: [], exit: 'OK' }
    deps.onConnecting?.(sessionIds)

    const { openStore } = await import('../store/open.js')
    const store = await openStore(options.storeSpec, 'write')
    // one connection per device: the sessions' leases, all or none, for as long as logs runs
    const { takeLeases } = await import('../store/lease.js')
    const held = await takeLeases(store.primary, sessionIds, {
        command: 'logs',
        waitMs: options.waitMs ?? 0,
        ...(deps.signal ? { signal: deps.signal } : {})
    }).catch(async (error: unknown) => {
        await store.close()
        throw error
    })
    const baseLogger: ClientLogger = deps.logger ?? SILENT
    const runners: SessionRunner[] = []
    let matched = 0
    let finishing = false
    let resolveEnd: (end: LogsEnd) => void = () => undefined
    const ended = new Promise<LogsEnd>(resolve => (resolveEnd = resolve))
    const finish = (end: LogsEnd) => {
        if (finishing) return
        finishing = true
        resolveEnd(end)
    }

    const emit = (record: EventRecord): void => {
        if (finishing || !passes(record, options)) return
        deps.onRecord(record)
        if (isStatusRecord(record)) return
        matched += 1
        if (options.count !== null && matched >= options.count) finish('count')
    }

    const onAbort = () => finish('aborted')
    deps.signal?.addEventListener('abort', onAbort, { once: true })
    const timer =
        options.timeoutMs !== null ? setTimeout(() => finish('timeout'), options.timeoutMs) : null

    try {
        // archive domains are not kept: a tail that runs for days must not grow with what it saw
        const waStore = await store.createWaStore({ archive: 'none' })
        for (const sessionId of sessionIds) {
            const runner = new SessionRunner(sessionId, {
                emit,
                raw: options.raw,
                policy: deps.policy ?? {},
                onStopped: () => {
                    if (runners.every(r => r.state === 'stopped')) finish('sessions_ended')
                },
                build: watch =>
                    createWaClient({
                        store: waStore,
                        sessionId,
                        server: options.server,
                        logger: watchConnect(
                            demoteBookkeeping(
                                baseLogger.child({ session: sessionId }),
                                () => finishing
                            ),
                            options.server,
                            watch
                        ),
                        tuning: {
                            ...(deps.tuning ?? {}),
                            logoutStoreClear: KEEP_STORE_ON_CLOSE
                        }
                    })
            })
            runners.push(runner)
        }
        for (const runner of runners) runner.start()
        const end = await ended
        await Promise.all(runners.map(r => r.shutdown()))
        const outcomes = runners.map(r => r.outcome())
        const exit =
            end === 'sessions_ended'
                ? worstExit(outcomes.map(o => o.stoppedBy?.exit ?? 'OK'))
                : 'OK'
        return { ended: end, matched, sessions: outcomes, exit }
    } finally {
        if (timer) clearTimeout(timer)
        deps.signal?.removeEventListener('abort', onAbort)
        finishing = true
        await Promise.all(runners.map(r => r.shutdown()))
        await held.release()
        await store.close()
    }
}

function passes(record: EventRecord, options: LogsOptions): boolean {
    // the end of a session is always reported, whatever the filters
    if (record.type === 'stopped') return true
    if (options.types === null ? OPT_IN_TYPES.has(record.type) : !options.types.has(record.type))
        return false
    if (isStatusRecord(record)) return true
    if (options.chat !== null && !jidMatches(record.chat, options.chat)) return false
    if (options.from !== null && !jidMatches(record.from, options.from)) return false
    return true
}

interface ConnectionEventLike {
    readonly status: string
    readonly reason: string
    readonly code: number | null
    readonly isLogout: boolean
}

interface RunnerDeps {
    readonly emit: (record: EventRecord) => void
    readonly raw: boolean
    readonly policy: ReconnectPolicyOptions
    readonly onStopped: () => void
    /** the session's client; `watch` hears of each connection attempt that failed */
    readonly build: (watch: ConnectWatch) => WaClient
}

/** One session: its client, its reconnect policy, its timers. */
class SessionRunner {
    private readonly policy: ReconnectPolicy
    private client: WaClient | null = null
    private timer: NodeJS.Timeout | null = null
    private shuttingDown: Promise<void> | null = null
    private disconnecting: Promise<void> | null = null
    private records = 0
    private reconnects = 0
    /** the session was logged in at least once */
    private everOpened = false
    /** why the last connection attempt failed, for the error record of a failed connect() */
    private lastFailure: ConnectFailure | null = null
    /** when the open connection was lost (a close, or a dropped socket), until the next login */
    private lostAt: number | null = null
    /** socket drops zapo-js's transport is reconnecting from (0: none under way) */
    private drops = 0

    constructor(
        readonly sessionId: string,
        private readonly deps: RunnerDeps
    ) {
        this.policy = new ReconnectPolicy(deps.policy)
    }

    private stopped(): boolean {
        return this.policy.state === 'stopped'
    }

    get state(): 'running' | 'stopped' {
        return this.policy.state === 'stopped' ? 'stopped' : 'running'
    }

    outcome(): SessionOutcome {
        return {
            sessionId: this.sessionId,
            state: this.policy.stoppedBy ? 'stopped' : 'running',
            stoppedBy: this.policy.stoppedBy,
            records: this.records,
            reconnects: this.reconnects
        }
    }

    start(): void {
        const client = this.deps.build({
            onFailure: failure => this.onConnectFailure(failure),
            // before the first login a failure stops the session with its own line; later the
            // library's lines show it while the session backs off
            quiet: () => !this.everOpened,
            onDropped: drop => this.onDropped(drop),
            onLoggedIn: () => this.onTransportResumed()
        })
        this.client = client
        for (const name of Object.keys(CLIENT_EVENT_TYPES)) {
            if (name === 'connection') continue
            client.on(name as 'message', (payload: unknown) => this.forward(name, payload))
        }
        client.on('connection', (event: ConnectionEventLike) => this.onConnection(event))
        // a paired session never shows a QR: if it does, its credentials are gone
        client.on('auth_qr', () =>
            this.onFatal({ reason: CLOSE_REASONS.CREDENTIALS_MISSING, code: null, isLogout: true })
        )
        // a temporary ban (402) comes with no close event: stop on the failure itself
        client.on('failure', (event: { readonly failureReason?: number }) => {
            const close = closeForFailure(event)
            if (close)
                this.onFatal({
                    reason: close.reason,
                    code: close.code ?? null,
                    isLogout: close.isLogout === true
                })
        })
        void this.connect()
    }

    private forward(name: string, payload: unknown): void {
        if (this.policy.state === 'stopped') return
        const record = toEventRecord(this.sessionId, name, payload, { raw: this.deps.raw })
        if (record === null) return
        this.records += 1
        this.deps.emit(record)
    }

    private onConnection(event: ConnectionEventLike): void {
        if (event.status === 'open') {
            if (this.policy.state === 'stopped') {
                // the library restarted on its own after a fatal close (zapo-js 0.3 does after 516)
                void this.disconnect()
                return
            }
            this.everOpened = true
            this.lastFailure = null
            // our connect() joining the library's own restart reports a second open: show one
            const already = this.policy.state === 'open'
            this.policy.opened()
            this.drops = 0
            if (!already) this.emitOpen(event)
            return
        }
        if (this.policy.state === 'stopped') return
        const decision = this.policy.closed(event, this.sessionId)
        if (decision.action === 'none') return
        this.lostAt ??= Date.now()
        const record = toEventRecord(this.sessionId, 'connection', event, { raw: false })
        if (record) {
            this.records += 1
            this.deps.emit(withClass(record, decision.classification))
        }
        this.act(decision)
    }

    /** A login: `connection` open, with how long the connection was down when it had been lost. */
    private emitOpen(
        event: ConnectionEventLike | { readonly status: 'open'; readonly reason: string }
    ): void {
        const record = toEventRecord(this.sessionId, 'connection', event, { raw: false })
        if (record === null) return
        const lostAt = this.lostAt
        this.lostAt = null
        this.records += 1
        this.deps.emit(lostAt === null ? record : withDowntime(record, Date.now() - lostAt))
    }

    /**
     * The socket of an open connection went away without a close reason (no `connection` event):
     * zapo-js's transport reconnects by itself. Told as a transient close and a reconnect, so a
     * drop reads like any other lost connection; the login that ends it is `onTransportResumed`.
     */
    private onDropped(drop: SocketDrop): void {
        if (this.stopped() || this.shuttingDown || this.policy.state !== 'open') return
        this.lostAt ??= Date.now()
        this.drops += 1
        const close = {
            status: 'close',
            reason: CLOSE_REASONS.SOCKET_CLOSED,
            code: drop.code,
            isLogout: false
        }
        const classification = classifyClose(close, this.sessionId)
        const record = toEventRecord(this.sessionId, 'connection', close, { raw: false })
        if (record) {
            this.records += 1
            this.deps.emit(withClass(record, classification))
        }
        this.deps.emit(
            reconnectRecord(this.sessionId, {
                attempt: this.drops,
                delayMs: drop.reconnectAfterMs ?? 0,
                classification
            })
        )
    }

    /** A login after a dropped socket: zapo-js emits no `connection` open for it. */
    private onTransportResumed(): void {
        if (this.drops === 0 || this.stopped() || this.shuttingDown) return
        this.drops = 0
        this.emitOpen({ status: 'open', reason: 'reconnected' })
    }

    /**
     * A refused socket or an untrusted server. Before the first login it is a wrong --server or
     * --server-root-ca (or no network): stop at once rather than retry it forever. Later a refusal
     * is a server restarting, left to the policy's backoff; an untrusted server always stops.
     */
    private onConnectFailure(failure: ConnectFailure): void {
        if (this.policy.state === 'stopped') return
        if (this.everOpened && failure.kind !== 'untrusted') {
            this.lastFailure = failure
            return
        }
        this.act(this.policy.classified(failureClassification(failure)))
    }

    private onFatal(event: { reason: string; code: number | null; isLogout: boolean }): void {
        if (this.policy.state === 'stopped') return
        this.act(this.policy.closed(event, this.sessionId))
    }

    private act(decision: ReconnectDecision): void {
        if (decision.action === 'none') return
        if (decision.action === 'stop') {
            this.deps.emit(stoppedRecord(this.sessionId, decision.classification))
            this.clearTimer()
            // not from inside the library's own close handling: let it finish first
            setImmediate(() => void this.disconnect())
            this.deps.onStopped()
            return
        }
        this.reconnects += 1
        this.deps.emit(reconnectRecord(this.sessionId, decision))
        this.clearTimer()
        this.timer = setTimeout(() => {
            this.timer = null
            // zapo-js 0.3 restarts on its own after a 515: nothing to do if it is already back
            if (this.policy.state === 'open') return
            this.policy.connecting()
            void this.connect()
        }, decision.delayMs)
    }

    private async connect(): Promise<void> {
        const client = this.client
        if (!client || this.policy.state === 'stopped' || this.shuttingDown) return
        try {
            await client.connect()
        } catch (error) {
            if (this.stopped() || this.shuttingDown) return
            // the library's own restart (after a 515) took over this connect: not a failure
            if (isSupersededConnect(toError(error).message)) return
            const decision = this.policy.connectFailed(this.sessionId)
            const why = this.lastFailure ? failureLine(this.lastFailure) : toError(error).message
            this.lastFailure = null
            this.deps.emit(errorRecord(this.sessionId, `connect failed: ${why}`))
            this.act(decision)
        }
    }

    /** one disconnect() at a time: two concurrent ones make the second wait out write-behind timeouts */
    private disconnect(): Promise<void> {
        const client = this.client
        if (!client) return Promise.resolve()
        if (this.disconnecting) return this.disconnecting
        const running = client
            .disconnect()
            .catch(() => undefined)
            .finally(() => {
                this.disconnecting = null
            })
        this.disconnecting = running
        return running
    }

    private clearTimer(): void {
        if (this.timer) clearTimeout(this.timer)
        this.timer = null
    }

    /** disconnect(): flushes write-behind, keeps the device linked. Never logout(). */
    shutdown(): Promise<void> {
        this.shuttingDown ??= (async () => {
            this.clearTimer()
            if (this.policy.state !== 'stopped') this.policy.stop()
            // wait for a disconnect already under way, then make sure the client is down; a
            // disconnect that hangs in the library must not keep the command from ending
            if (this.disconnecting) await bounded(this.disconnecting, SHUTDOWN_WAIT_MS)
            await bounded(this.disconnect(), SHUTDOWN_WAIT_MS)
        })()
        return this.shuttingDown
    }
}

const SHUTDOWN_WAIT_MS = 5_000

function bounded(promise: Promise<void>, ms: number): Promise<void> {
    return new Promise(resolve => {
        // a ref'd timer: the process must not end before the command has its result
        const timer = setTimeout(resolve, ms)
        void promise.finally(() => {
            clearTimeout(timer)
            resolve()
        })
    })
}

/** The sessions to tail, refused before anything connects when one is missing or unpaired. */
async function resolveSessions(
    spec: StoreSpec,
    wanted: readonly string[] | 'all',
    shard: Shard | null
): Promise<readonly string[]> {
    const { openForReading } = await import('./read-store.js')
    const readable = await openForReading(spec)
    try {
        const { store, catalog } = readable
        const where = spec.primary.display
        if (wanted === 'all') {
            const ids = readable.schema === 'missing' ? [] : await catalog.listSessionIds()
            const paired: string[] = []
            for (const id of inShard(ids, shard))
                if ((await pairedState(store, id)) === 'paired') paired.push(id)
            if (paired.length === 0) {
                throw new ZapoError(
                    'SESSION_NOT_FOUND',
                    shard !== null
                        ? `no paired session of shard ${shard.index}/${shard.count} in ${where} (the store holds ${ids.length} sessions in all)`
                        : `no paired session in ${where}: pair one first (zapo pair --session ID)`,
                    { store: where, shard }
                )
            }
            return paired
        }
        for (const id of wanted) {
            const state = readable.schema === 'missing' ? 'missing' : await pairedState(store, id)
            if (state === 'missing') {
                throw new ZapoError(
                    'SESSION_NOT_FOUND',
                    `no session "${id}" in ${where}: pair it first (zapo pair --session ${id}) or pass the right --store`,
                    {
                        session: id,
                        store: where
                    }
                )
            }
            if (state === 'unpaired') {
                throw new ZapoError(
                    'NOT_PAIRED',
                    `session "${id}" in ${where} is not paired: run zapo pair --session ${id}`,
                    { session: id, store: where }
                )
            }
        }
        return [...new Set(wanted)]
    } finally {
        await readable.close()
    }
}

async function pairedState(
    store: OpenedStore,
    sessionId: string
): Promise<'paired' | 'unpaired' | 'missing'> {
    let credentials
    try {
        credentials = await store.domain('auth', sessionId).load()
    } catch (error) {
        throw sessionFailure(error, { sessionId, store: store.spec.label, what: 'credentials' })
    }
    if (credentials === null) return 'missing'
    return credentials.meJid ? 'paired' : 'unpaired'
}
