/**
 * `zapo migrate`: moves sessions from one store to another through the
 * official store packages, verified, restartable, streaming.
 *
 * plan   → which sessions, how many records per domain, what the target holds
 * copy   → per session: mark "copying" in the target, (clear a partial copy),
 *          stream batches source → target (auth credentials last), then read
 *          the session back from the target and compare per-domain digests
 *          with what was read from the source; mark "verified"
 * delete → only with --delete-source, only after every session verified:
 *          mark "deleting-source", clear the source session, mark "moved"
 *
 * The source is opened read-only and never written (except by
 * --delete-source). Writes to the target are upserts, so a rerun after an
 * interruption (Ctrl-C, kill -9, the target going away) copies again what
 * the marks say was not verified, with no duplicates.
 *
 * This module never prints, prompts or exits: it reports through callbacks
 * and returns a result (or throws a ZapoError).
 */

import { zapoCommand } from '../hints.js'
import { ZapoError } from '../errors.js'
import { classifyDriverError } from '../store/backends/registry.js'
import { storeProblem } from '../store/failures.js'
import { LIVE_LOGIN_WINDOW_MS, lastLoginMs, liveSince } from '../store/last-login.js'
import { conversionNotes, lastWrittenByForeign } from '../store/backends/foreign.js'
import { inShard, type Shard } from '../util/shard.js'
import { identifyStore, storesOverlap } from '../store/identity.js'
import { foreignFolderHolding } from '../store/identity.js'
import { assertNewSessionIds } from '../store/session-ids.js'
import type { DurableDomain, StoreSpec } from '../store/address.js'
import { catalogForStore, COUNT_FIELDS } from '../store/catalog.js'
import type { MigrationMark, MigrationMarks } from '../store/migration-marks.js'
import { migrationMarksFor } from '../store/migration-marks.js'
import type { OpenedStore } from '../store/open.js'
import { assertWritable, openStore, storeExists } from '../store/open.js'
import { takeLeases, type HeldLeases } from '../store/lease.js'
import { emptyCounts, readBackBatch, sessionReadBack, tallyBatch } from '../store/read-back.js'
import {
    batchSizeOf,
    clearSession,
    digestSessionRecords,
    readSessionRecords,
    writeSessionRecords
} from '../store/records.js'
import type { DomainDigest } from '../store/records.js'
import type { RecordBatch, SessionCounts } from '../store/records.types.js'
import type { ZapoSessionCatalog } from '../store/catalog.js'
// archive domains (--archive): src/store/archive.ts, ./migrate-archive.ts
import type { ArchiveDomain, StoreDomain } from '../store/address.js'
import type { ArchiveCatalog } from '../store/archive.js'
import {
    archiveCatalogFor,
    archiveRecordsByDomain,
    clearArchive,
    EMPTY_ARCHIVE_COUNTS,
    warmUpArchive
} from '../store/archive.js'
import type { ArchiveCopyResult } from './migrate-archive.js'
import { archiveLeftovers, copyArchiveSession, digestArchiveOf } from './migrate-archive.js'

export type ExistingPolicy = 'refuse' | 'skip' | 'overwrite'
export type MigrateMode = 'copy' | 'dry-run' | 'verify-only'

export interface MigrateOptions {
    readonly from: StoreSpec
    readonly to: StoreSpec
    /** explicit session ids, or 'all' for every session of the source */
    readonly sessions: readonly string[] | 'all'
    readonly domains: readonly DurableDomain[]
    /** archive domains copied as well (messages, threads, contacts); none by default */
    readonly archive?: readonly ArchiveDomain[]
    readonly mode: MigrateMode
    readonly existing: ExistingPolicy
    readonly deleteSource: boolean
    readonly batchSize: number
    /** sessions copied at the same time */
    readonly concurrency?: number
    /** a session whose last successful login is newer than this is named as live */
    readonly liveWindowMs?: number
    /** how long to wait for sessions another zapo run holds (their leases); 0: exit 21 at once */
    readonly waitMs?: number
    /** with sessions 'all': only the sessions of this shard (src/util/shard.ts) */
    readonly shard?: Shard | null
}

/** What happens to one session. */
export type SessionAction =
    | 'copy' // not in the target: copy
    | 'resume' // an earlier run of this migration left it unverified: clear and copy again
    | 'overwrite' // in the target, --overwrite: clear and copy
    | 'skip' // in the target, --skip-existing
    | 'refuse' // in the target, neither flag (the run stops before copying anything)
    | 'reverify' // verified by an earlier run of this migration: verify again, copy nothing
    | 'moved' // an earlier run of this migration moved it and deleted the source
    | 'verify' // --verify-only

export interface PlannedSession {
    readonly sessionId: string
    readonly action: SessionAction
    readonly inTarget: boolean
    /** the earlier mark in the target, when one exists */
    readonly mark: MigrationMark | null
    /** records per domain in the source */
    readonly records: Readonly<Partial<Record<StoreDomain, number>>>
    readonly total: number
    /** last successful login (ms since epoch) when recent enough to look live */
    readonly liveSince: number | null
    /**
     * what the source holds for the session that has no zapo-js counterpart (a foreign store,
     * store/backends/foreign.ts), one line each; empty for zapo stores
     */
    readonly notCarried: readonly string[]
}

export interface MigratePlan {
    readonly from: string
    readonly to: string
    readonly mode: MigrateMode
    /** the durable domains, then the archive domains when chosen */
    readonly domains: readonly StoreDomain[]
    readonly sessions: readonly PlannedSession[]
    /** records that will be copied (sessions with copy/resume/overwrite) */
    readonly recordsToCopy: number
    /** --delete-source was asked for */
    readonly deleteSource: boolean
    /** the shard of the source's sessions this run took (--shard), null for all */
    readonly shard: Shard | null
}

export interface MigrateProgress {
    readonly phase: 'copy' | 'verify' | 'delete'
    readonly sessionId: string
    readonly sessionDone: number
    readonly sessionTotal: number
    readonly done: number
    readonly total: number
    readonly sessionsDone: number
    readonly sessionsTotal: number
    readonly elapsedMs: number
    /** records per second so far */
    readonly rate: number
    /** ms left at the current rate, null before the first batch */
    readonly etaMs: number | null
}

export interface DigestMismatch {
    readonly domain: string
    readonly source: DomainDigest | null
    readonly target: DomainDigest | null
    /** set when the target holds records the source does not (counted in the target's catalog) */
    readonly extra?: string
}

export interface SessionOutcome {
    readonly sessionId: string
    readonly action: SessionAction
    readonly copied: number
    /** true: target equals source; false: mismatch; null: not verified (skipped, cancelled) */
    readonly verified: boolean | null
    readonly digests: Readonly<Record<string, DomainDigest>>
    readonly mismatches: readonly DigestMismatch[]
    /** this run deleted the session's records from the source (--delete-source) */
    readonly sourceDeleted: boolean
    /** records this run deleted from the source */
    readonly sourceRecordsDeleted: number
    readonly durationMs: number
}

export type MigrateStatus = 'planned' | 'migrated' | 'verified' | 'verify-failed' | 'cancelled'

export interface MigrateResult {
    readonly status: MigrateStatus
    readonly plan: MigratePlan
    readonly sessions: readonly SessionOutcome[]
    readonly totals: {
        readonly sessions: number
        readonly copiedSessions: number
        readonly verifiedSessions: number
        readonly failedSessions: number
        readonly skippedSessions: number
        readonly copiedRecords: number
        /** sessions this run deleted from the source */
        readonly sourceDeleted: number
        /** records this run deleted from the source */
        readonly sourceRecordsDeleted: number
    }
    readonly durationMs: number
    readonly recordsPerSecond: number
}

export interface MigrateDeps {
    /** called once the plan is known, before anything is written; a throw stops the run there */
    readonly onPlan?: (plan: MigratePlan) => void | Promise<void>
    readonly onProgress?: (progress: MigrateProgress) => void
    /** a session finished (copied + verified, skipped, failed) */
    readonly onSession?: (outcome: SessionOutcome) => void
    /** aborting stops after the current batch; the result has status 'cancelled' */
    readonly signal?: AbortSignal
    readonly now?: () => number
}

/** The actions that write a session into the target. */
const COPYING: readonly SessionAction[] = ['copy', 'resume', 'overwrite']

export const DEFAULT_BATCH_SIZE = 500
export const DEFAULT_CONCURRENCY = 4
export const DEFAULT_LIVE_WINDOW_MS = LIVE_LOGIN_WINDOW_MS

/** Records of each domain in SessionCounts terms. */
function recordsByDomain(
    counts: SessionCounts,
    domains: readonly DurableDomain[]
): Partial<Record<DurableDomain, number>> {
    const all: Partial<Record<DurableDomain, number>> = {
        auth: counts.credentials ? 1 : 0,
        signal: (counts.registration ? 1 : 0) + (counts.signedPreKey ? 1 : 0),
        preKey: counts.preKeys,
        session: counts.signalSessions,
        identity: counts.identities,
        senderKey: counts.senderKeys + counts.senderKeyDistributions,
        appState: counts.appStateSyncKeys + counts.appStateCollections,
        privacyToken: counts.privacyTokens
    }
    const out: Partial<Record<DurableDomain, number>> = {}
    for (const domain of domains) out[domain] = all[domain] ?? 0
    return out
}

interface Opened {
    readonly src: OpenedStore
    readonly srcCatalog: ZapoSessionCatalog
    dst: OpenedStore | null
    /** the source opened for writing, holding its leases (--delete-source) */
    srcWritable: OpenedStore | null
    /** the leases this run holds, target first */
    leases: HeldLeases[]
}

export async function runMigrate(
    options: MigrateOptions,
    deps: MigrateDeps = {}
): Promise<MigrateResult> {
    const now = deps.now ?? Date.now
    const started = now()
    if (options.mode === 'copy') assertWritable(options.to, 'be migrated into (migrate --to)')
    if (options.deleteSource)
        assertWritable(options.from, 'have sessions deleted (--delete-source)')
    await refuseSameStore(options)
    const src = await openStore(options.from, 'read').catch((error: unknown) => {
        if (error instanceof ZapoError && error.code === 'SESSION_NOT_FOUND') {
            throw new ZapoError(
                'SESSION_NOT_FOUND',
                `the source ${options.from.label} does not exist: check --from`,
                error.meta
            )
        }
        throw error
    })
    const opened: Opened = {
        src,
        srcCatalog: catalogForStore(src),
        dst: null,
        srcWritable: null,
        leases: []
    }
    try {
        // plan against what the target holds, read-only: a target that does not exist yet is
        // planned as empty, and created (or opened for writing) only once the plan stands
        opened.dst = storeExists(options.to) === false ? null : await openStore(options.to, 'read')
        const planCatalog = opened.dst ? catalogForStore(opened.dst) : null
        const planMarks = opened.dst ? migrationMarksFor(opened.dst.primary) : null
        let plan = await makePlan(options, opened.srcCatalog, src, planCatalog, planMarks, now())
        // a copy shows (and, on a terminal, confirms) the plan made again under the leases
        if (options.mode !== 'copy') await deps.onPlan?.(plan)
        if (options.mode === 'dry-run') return finish('planned', plan, [], started, now())
        if (options.mode === 'verify-only' && opened.dst === null) {
            throw new ZapoError(
                'SESSION_NOT_FOUND',
                `the target ${options.to.label} does not exist: there is nothing to verify; run the migration first`,
                {
                    store: options.to.label
                }
            )
        }
        const refused = plan.sessions.filter(s => s.action === 'refuse')
        if (refused.length > 0) throw existsError(refused, options.to.label)
        if (options.mode === 'copy') {
            const writes = plan.sessions.filter(s => COPYING.includes(s.action))
            if (opened.dst !== null)
                await assertNewSessionIds(
                    opened.dst,
                    writes.map(s => s.sessionId)
                )
            // nothing to write into a target that does not exist: leave it so
            if (opened.dst === null && writes.length === 0)
                return finish('migrated', plan, [], started, now())
            await opened.dst?.close()
            opened.dst = null
            opened.dst = await openStore(options.to, 'write')
            // one writer per session: the plan is made again under the leases, so a session
            // another live run is copying is never "resumed" here, and one it finished meanwhile
            // is seen as verified or moved
            plan = await planUnderLeases(options, deps, opened, plan, now)
            await deps.onPlan?.(plan)
        }
        const dst = opened.dst!
        const dstCatalog = catalogForStore(dst)
        const marks = migrationMarksFor(dst.primary)

        const runner = new Runner(
            options,
            deps,
            plan,
            src,
            opened.srcCatalog,
            dst,
            dstCatalog,
            marks,
            now,
            started
        )
        const outcomes = await runner.run().catch((error: unknown) => {
            // the target's schema or marks failed before any session's copy (a full disk, a
            // server gone): the store's failure, said as one, not an internal error
            if (error instanceof ZapoError || classifyDriverError(error) === null) throw error
            throw copyFailed('', error, 0)
        })
        const failed = outcomes.filter(o => o.verified === false)
        const cancelled = deps.signal?.aborted === true
        if (cancelled) return finish('cancelled', plan, outcomes, started, now())
        if (failed.length > 0) return finish('verify-failed', plan, outcomes, started, now())
        // (no source opened for writing: the plan had nothing to copy, verify or delete)
        if (options.deleteSource && options.mode === 'copy' && opened.srcWritable !== null) {
            for (const held of opened.leases) await held.confirm()
            const deleted = await runner.deleteSources(outcomes, opened.srcWritable, opened.leases)
            if (deleted.some(o => o.verified === false))
                return finish('verify-failed', plan, deleted, started, now())
            const final = finish(
                deps.signal?.aborted ? 'cancelled' : 'migrated',
                plan,
                deleted,
                started,
                now()
            )
            return final
        }
        return finish(
            options.mode === 'verify-only' ? 'verified' : 'migrated',
            plan,
            outcomes,
            started,
            now()
        )
    } finally {
        for (const held of opened.leases.reverse()) await held.release().catch(() => undefined)
        await opened.srcWritable?.close()
        await opened.dst?.close()
        await src.close()
    }
}

/**
 * Takes the leases of every session the run writes — in the target, and in the source too
 * with --delete-source (all or none, target first) — then makes the plan again under them.
 */
async function planUnderLeases(
    options: MigrateOptions,
    deps: MigrateDeps,
    opened: Opened,
    first: MigratePlan,
    now: () => number
): Promise<MigratePlan> {
    const dst = opened.dst!
    const ids = first.sessions
        .filter(s => s.action !== 'skip' && s.action !== 'refuse' && s.action !== 'moved')
        .map(s => s.sessionId)
    if (ids.length === 0) return first
    const leaseOptions = {
        command: 'migrate',
        waitMs: options.waitMs ?? 0,
        ...(deps.signal ? { signal: deps.signal } : {})
    }
    opened.leases.push(await takeLeases(dst.primary, ids, leaseOptions))
    if (options.deleteSource) {
        opened.srcWritable = await openStore(options.from, 'write')
        opened.leases.push(await takeLeases(opened.srcWritable.primary, ids, leaseOptions))
    }
    const plan = await makePlan(
        options,
        opened.srcCatalog,
        opened.src,
        catalogForStore(dst),
        migrationMarksFor(dst.primary),
        now()
    )
    const refused = plan.sessions.filter(s => s.action === 'refuse')
    if (refused.length > 0) throw existsError(refused, options.to.label)
    return plan
}

/**
 * --from and --to must be different stores by what they are (store/identity.ts), not by how
 * they are spelled: `data/./m.sqlite` and a symlink to it, `localhost` and `127.0.0.1`, Redis
 * prefixes of which one starts the other. Both are identified before either is opened, and
 * without writing to them.
 */
async function refuseSameStore(options: MigrateOptions): Promise<void> {
    const sourceBackends = [options.from.primary, ...Object.values(options.from.backends)]
    for (const target of [options.to.primary, ...Object.values(options.to.backends)]) {
        if (target.kind !== 'sqlite') continue
        const folder = foreignFolderHolding(sourceBackends, target.target)
        if (folder !== null)
            throw new ZapoError(
                'USAGE',
                `--to ${options.to.label} would write into the foreign store ${folder} that --from reads: nothing is ever written to a foreign store; pass a path outside it`,
                { from: options.from.label, to: options.to.label }
            )
    }
    const sources = await identifyStore(options.from)
    const targets = await identifyStore(options.to)
    for (const a of sources) {
        const b = targets.find(t => storesOverlap(a, t))
        if (b === undefined) continue
        throw new ZapoError(
            'USAGE',
            `--from ${options.from.label} and --to ${options.to.label} are the same store (the same ${a.kind} ${a.basis}${a.namespace !== b.namespace ? `, overlapping prefixes "${a.namespace}" and "${b.namespace}"` : ''}): pass a different target`,
            { from: options.from.label, to: options.to.label, kind: a.kind }
        )
    }
}

function existsError(refused: readonly PlannedSession[], target: string): ZapoError {
    const ids = refused.map(s => s.sessionId)
    const shown = ids.slice(0, 5).join(', ') + (ids.length > 5 ? ` and ${ids.length - 5} more` : '')
    return new ZapoError(
        'EXISTS',
        `${ids.length === 1 ? 'session' : `${ids.length} sessions`} already in ${target}: ${shown}; pass --skip-existing to leave them, --overwrite to replace them, or --session to choose others`,
        { sessions: ids, target }
    )
}

async function makePlan(
    options: MigrateOptions,
    srcCatalog: ZapoSessionCatalog,
    src: OpenedStore,
    dstCatalog: ZapoSessionCatalog | null,
    marks: MigrationMarks | null,
    nowMs: number
): Promise<MigratePlan> {
    const source = options.from.label
    const srcIds = await srcCatalog.listSessionIds()
    const srcSet = new Set(srcIds)
    const targetState = dstCatalog ? await dstCatalog.schemaState() : null
    const dstIds =
        dstCatalog && targetState?.state !== 'missing'
            ? new Set(await dstCatalog.listSessionIds())
            : new Set<string>()
    const allMarks = marks ? await marks.readAll() : new Map<string, MigrationMark>()
    const ours = (id: string): MigrationMark | null => {
        const mark = allMarks.get(id)
        return mark !== undefined && mark.source === source ? mark : null
    }

    let ids: readonly string[]
    if (options.sessions === 'all') {
        ids = inShard(srcIds, options.shard ?? null)
    } else {
        const missing = options.sessions.filter(id => !srcSet.has(id) && !isMoved(ours(id)))
        if (missing.length > 0) {
            throw new ZapoError(
                'SESSION_NOT_FOUND',
                `no session ${missing.map(id => `"${id}"`).join(', ')} in ${source}: check the id (${zapoCommand('sessions', 'list', '--store', options.from.primary.display)}) or use --all`,
                { sessions: missing, store: source }
            )
        }
        ids = [...new Set(options.sessions)]
    }

    const liveWindow = options.liveWindowMs ?? DEFAULT_LIVE_WINDOW_MS
    // one pass over the source for every session's counts
    const allCounts = await srcCatalog.countsMany(ids.filter(id => srcSet.has(id)))
    const archive = options.archive ?? []
    const archiveCounts =
        archive.length > 0
            ? await archiveCatalogFor(src).countsMany(ids.filter(id => srcSet.has(id)))
            : null
    const sessions: PlannedSession[] = []
    let recordsToCopy = 0
    for (const sessionId of ids) {
        const mark = allMarks.get(sessionId) ?? null
        const own = ours(sessionId)
        const inTarget = dstIds.has(sessionId)
        const inSource = srcSet.has(sessionId)
        let action: SessionAction
        if (options.mode === 'verify-only') action = 'verify'
        else if (isMoved(own)) action = 'moved'
        else if (own?.state === 'verified' && inTarget) action = 'reverify'
        else if (own?.state === 'copying') action = 'resume'
        else if (inTarget)
            action =
                options.existing === 'skip'
                    ? 'skip'
                    : options.existing === 'overwrite'
                      ? 'overwrite'
                      : 'refuse'
        else action = 'copy'

        let records: Partial<Record<StoreDomain, number>> = {}
        let liveSince: number | null = null
        let notCarried: readonly string[] = []
        if (inSource) {
            notCarried = (await conversionNotes(src.primary, sessionId)) ?? []
            const counts = allCounts.get(sessionId) ?? (await srcCatalog.counts(sessionId))
            records = recordsByDomain(counts, options.domains)
            if (archiveCounts !== null) {
                records = {
                    ...records,
                    ...archiveRecordsByDomain(
                        archiveCounts.get(sessionId) ?? EMPTY_ARCHIVE_COUNTS,
                        archive
                    )
                }
            }
            liveSince = await lastSuccess(src, sessionId, nowMs, liveWindow)
        }
        const total = Object.values(records).reduce((n, v) => n + (v ?? 0), 0)
        if (COPYING.includes(action)) recordsToCopy += total
        sessions.push({ sessionId, action, inTarget, mark, records, total, liveSince, notCarried })
    }
    return {
        from: source,
        to: options.to.label,
        mode: options.mode,
        domains: [...options.domains, ...archive],
        sessions,
        recordsToCopy,
        deleteSource: options.deleteSource,
        shard: options.shard ?? null
    }
}

function isMoved(mark: MigrationMark | null): boolean {
    return mark !== null && (mark.state === 'moved' || mark.state === 'deleting-source')
}

async function lastSuccess(
    src: OpenedStore,
    sessionId: string,
    nowMs: number,
    windowMs: number
): Promise<number | null> {
    try {
        const credentials = await src.domain('auth', sessionId).load()
        // a foreign store (a Baileys folder) tells when its app last wrote the session instead
        const written = await lastWrittenByForeign(src.primary, sessionId)
        if (written === null) return liveSince(credentials, nowMs, windowMs)
        const ms = Math.max(lastLoginMs(credentials) ?? 0, written)
        return nowMs - ms <= windowMs ? ms : null
    } catch {
        return null
    }
}

function finish(
    status: MigrateStatus,
    plan: MigratePlan,
    outcomes: readonly SessionOutcome[],
    started: number,
    ended: number
): MigrateResult {
    const copiedRecords = outcomes.reduce((n, o) => n + o.copied, 0)
    const durationMs = Math.max(0, ended - started)
    return {
        status,
        plan,
        sessions: outcomes,
        totals: {
            sessions: plan.sessions.length,
            copiedSessions: outcomes.filter(o => COPYING.includes(o.action) && o.verified === true)
                .length,
            verifiedSessions: outcomes.filter(o => o.verified === true).length,
            failedSessions: outcomes.filter(o => o.verified === false).length,
            skippedSessions: plan.sessions.filter(s => s.action === 'skip').length,
            copiedRecords,
            sourceDeleted: outcomes.filter(o => o.sourceDeleted).length,
            sourceRecordsDeleted: outcomes.reduce((n, o) => n + o.sourceRecordsDeleted, 0)
        },
        durationMs,
        recordsPerSecond: durationMs > 0 ? Math.round((copiedRecords * 1000) / durationMs) : 0
    }
}

class Runner {
    private done = 0
    private sessionsDone = 0
    private readonly total: number
    private readonly sessionsTotal: number
    private readonly archive: readonly ArchiveDomain[]
    private readonly srcArchive: ArchiveCatalog
    private readonly dstArchive: ArchiveCatalog

    constructor(
        private readonly options: MigrateOptions,
        private readonly deps: MigrateDeps,
        private readonly plan: MigratePlan,
        private readonly src: OpenedStore,
        private readonly srcCatalog: ZapoSessionCatalog,
        private readonly dst: OpenedStore,
        private readonly dstCatalog: ZapoSessionCatalog,
        private readonly marks: MigrationMarks,
        private readonly now: () => number,
        private readonly started: number
    ) {
        // progress counts records copied, and records compared for sessions only verified
        this.total =
            plan.recordsToCopy +
            plan.sessions
                .filter(s => s.action === 'verify' || s.action === 'reverify')
                .reduce((n, s) => n + s.total, 0)
        this.sessionsTotal = plan.sessions.filter(s => s.action !== 'skip').length
        this.archive = options.archive ?? []
        this.srcArchive = archiveCatalogFor(src)
        this.dstArchive = archiveCatalogFor(dst)
    }

    private get aborted(): boolean {
        return this.deps.signal?.aborted === true
    }

    async run(): Promise<SessionOutcome[]> {
        if (this.options.mode === 'copy') await warmUp(this.dst, this.options.domains)
        if (this.options.mode === 'copy' && this.archive.length > 0)
            await warmUpArchive(this.dst, this.archive)
        const queue = this.plan.sessions.filter(s => s.action !== 'skip' && s.action !== 'refuse')
        const outcomes = new Map<string, SessionOutcome>()
        let next = 0
        const failures: { sessionId: string; error: unknown }[] = []
        const worker = async (): Promise<void> => {
            while (next < queue.length && !this.aborted && failures.length === 0) {
                const planned = queue[next++]!
                let outcome: SessionOutcome | null
                try {
                    outcome = await this.session(planned)
                } catch (error) {
                    failures.push({ sessionId: planned.sessionId, error })
                    return
                }
                if (outcome === null) continue
                outcomes.set(planned.sessionId, outcome)
                this.sessionsDone += 1
                this.deps.onSession?.(outcome)
            }
        }
        const concurrency = Math.max(
            1,
            Math.min(this.options.concurrency ?? DEFAULT_CONCURRENCY, queue.length)
        )
        await Promise.all(Array.from({ length: concurrency }, () => worker()))
        const failed = failures[0]
        if (failed !== undefined) throw copyFailed(failed.sessionId, failed.error, outcomes.size)
        // keep the plan's order
        return queue
            .map(s => outcomes.get(s.sessionId))
            .filter((o): o is SessionOutcome => o !== undefined)
    }

    /** null when cancelled before the session finished */
    private async session(planned: PlannedSession): Promise<SessionOutcome | null> {
        const t0 = this.now()
        const base = {
            sessionId: planned.sessionId,
            action: planned.action,
            sourceDeleted: false,
            sourceRecordsDeleted: 0
        }
        switch (planned.action) {
            case 'moved':
                return {
                    ...base,
                    copied: 0,
                    verified: true,
                    digests: {},
                    mismatches: [],
                    // an earlier run deleted the source (the mark says how far it got)
                    durationMs: 0
                }
            case 'verify':
            case 'reverify': {
                const result = await this.verify(planned)
                if (result === null) return null
                if (result.mismatches.length === 0 && planned.action === 'reverify') {
                    // a clean re-verification stands; nothing to write
                } else if (planned.action === 'reverify' && this.options.existing === 'overwrite') {
                    // the target changed since the earlier run and --overwrite asks for a fresh copy
                    return this.copy({ ...planned, action: 'overwrite' }, t0)
                }
                return {
                    ...base,
                    copied: 0,
                    verified: result.mismatches.length === 0,
                    ...result,
                    durationMs: this.now() - t0
                }
            }
            default:
                return this.copy(planned, t0)
        }
    }

    private async copy(planned: PlannedSession, t0: number): Promise<SessionOutcome | null> {
        const { sessionId } = planned
        await this.marks.write({
            sessionId,
            source: this.plan.from,
            state: 'copying',
            updatedAt: this.now()
        })
        if (planned.action !== 'copy' && this.archive.length > 0)
            await clearArchive(this.dst, sessionId, this.archive)
        // the session's writes in one transaction where the target has them (PostgreSQL): a few
        // commits instead of one per statement, and a copy that fails leaves nothing half-written
        // (archive copies write through this.dst, so those sessions go without)
        const tx = this.archive.length === 0 ? await this.dst.sessionTransaction() : null
        const dst = tx?.store ?? this.dst
        let committed = false
        try {
            return await this.copyInto(planned, t0, dst, async () => {
                if (tx !== null) await tx.commit()
                committed = true
            })
        } finally {
            if (tx !== null && !committed) await tx.rollback()
        }
    }

    private async copyInto(
        planned: PlannedSession,
        t0: number,
        dst: OpenedStore,
        commit: () => Promise<void>
    ): Promise<SessionOutcome | null> {
        const { sessionId } = planned
        const domains = this.options.domains
        if (planned.action !== 'copy') await clearSession(dst, sessionId, { domains })

        // verification runs along: every written batch is read back from the target by its keys
        const sourceDigest = digestSessionRecords()
        const targetDigest = digestSessionRecords()
        const copiedCounts = emptyCounts()
        let authBatch: RecordBatch | null = null
        let copied = 0
        let archived: ArchiveCopyResult | null = null
        // a batch is read back while the next one is written (one read-back in flight)
        let verifying: Promise<void> | null = null
        const settle = async (): Promise<void> => {
            const pending = verifying
            verifying = null
            if (pending !== null) await pending
        }
        const readBack = sessionReadBack(dst, sessionId, this.options.batchSize)
        const put = async (batch: RecordBatch): Promise<void> => {
            await writeSessionRecords(dst, sessionId, batch)
            await settle()
            if (!readBack.defer(batch)) {
                verifying = readBackBatch(dst, sessionId, batch).then(back => {
                    if (back !== null) targetDigest.add(back)
                })
                verifying.catch(() => undefined)
            }
            const n = batchSizeOf(batch)
            copied += n
            this.advance('copy', sessionId, copied, planned.total, n)
        }
        const iterator = readSessionRecords(this.src, this.srcCatalog, sessionId, {
            domains,
            batchSize: this.options.batchSize
        })[Symbol.asyncIterator]()
        try {
            // read the next batch while the current one is written
            let pending = iterator.next()
            while (true) {
                const step = await pending
                if (step.done) break
                if (this.aborted) return null
                pending = iterator.next()
                pending.catch(() => undefined)
                const batch = step.value
                sourceDigest.add(batch)
                tallyBatch(copiedCounts, batch)
                if (batch.domain === 'auth') {
                    // credentials go last: a half-copied session never looks paired
                    authBatch = batch
                    continue
                }
                await put(batch)
            }
            if (this.archive.length > 0) {
                // archive records before the credentials too
                archived = await copyArchiveSession(this.archiveContext(), sessionId, n => {
                    copied += n
                    this.advance('copy', sessionId, copied, planned.total, n)
                })
                if (archived === null) return null
            }
            // every other record is read back before the credentials are written
            await settle()
            await readBack.finish(targetDigest)
            if (authBatch !== null) {
                if (this.aborted) return null
                await put(authBatch)
                await settle()
            }
        } finally {
            await iterator.return?.()
        }
        if (this.aborted) return null
        await commit()
        if (this.aborted) return null
        const source = { ...sourceDigest.result(), ...archived?.source }
        const target = { ...targetDigest.result(), ...archived?.target }
        const mismatches = compareDigests(source, target)
        const empty = nothingCompared(planned, source, target)
        if (empty !== null) mismatches.push(empty)
        if (planned.action !== 'copy' && mismatches.length === 0) {
            // the target held this session before: prove the clear left nothing behind
            mismatches.push(
                ...compareCounts(
                    copiedCounts,
                    await this.dstCatalog.counts(sessionId),
                    domains,
                    source
                )
            )
            if (archived !== null)
                mismatches.push(
                    ...(await archiveLeftovers(
                        this.dstArchive,
                        sessionId,
                        archived.source,
                        this.archive
                    ))
                )
        }
        if (mismatches.length === 0) {
            await this.marks.write({
                sessionId,
                source: this.plan.from,
                state: 'verified',
                updatedAt: this.now()
            })
        }
        return {
            sessionId,
            action: planned.action,
            copied,
            verified: mismatches.length === 0,
            digests: source,
            mismatches,
            sourceDeleted: false,
            sourceRecordsDeleted: 0,
            durationMs: this.now() - t0
        }
    }

    private async verify(
        planned: PlannedSession
    ): Promise<{ digests: Record<string, DomainDigest>; mismatches: DigestMismatch[] } | null> {
        const [source, target] = await Promise.all([
            this.digestOf(this.src, this.srcCatalog, planned.sessionId),
            this.digestOf(this.dst, this.dstCatalog, planned.sessionId)
        ])
        if (source === null || target === null) return null
        this.advance('verify', planned.sessionId, planned.total, planned.total, planned.total)
        const mismatches = compareDigests(source, target)
        const empty = nothingCompared(planned, source, target)
        if (empty !== null) mismatches.push(empty)
        return { digests: source, mismatches }
    }

    private async digestOf(
        store: OpenedStore,
        catalog: ZapoSessionCatalog,
        sessionId: string
    ): Promise<Record<string, DomainDigest> | null> {
        const digest = digestSessionRecords()
        for await (const batch of readSessionRecords(store, catalog, sessionId, {
            domains: this.options.domains,
            batchSize: this.options.batchSize
        })) {
            if (this.aborted) return null
            digest.add(batch)
        }
        if (this.archive.length === 0) return digest.result()
        const archive = await digestArchiveOf(
            store,
            store === this.src
                ? this.srcArchive
                : store === this.dst
                  ? this.dstArchive
                  : archiveCatalogFor(store),
            sessionId,
            this.archive,
            this.options.batchSize,
            () => this.aborted
        )
        return archive === null ? null : { ...digest.result(), ...archive }
    }

    private archiveContext(): import('./migrate-archive.js').ArchiveCopyContext {
        return {
            src: this.src,
            srcCatalog: this.srcArchive,
            dst: this.dst,
            dstCatalog: this.dstArchive,
            domains: this.archive,
            batchSize: this.options.batchSize,
            aborted: () => this.aborted
        }
    }

    private advance(
        phase: MigrateProgress['phase'],
        sessionId: string,
        sessionDone: number,
        sessionTotal: number,
        n: number
    ): void {
        this.done += n
        const elapsedMs = Math.max(1, this.now() - this.started)
        const rate = (this.done * 1000) / elapsedMs
        const left = Math.max(0, this.total - this.done)
        this.deps.onProgress?.({
            phase,
            sessionId,
            sessionDone,
            sessionTotal,
            done: this.done,
            total: this.total,
            sessionsDone: this.sessionsDone,
            sessionsTotal: this.sessionsTotal,
            elapsedMs,
            rate,
            etaMs: this.done > 0 ? Math.round((left / rate) * 1000) : null
        })
    }

    /** Records of one session in `store`, in the migrated domains (as the plan counts them). */
    private async recordsIn(store: OpenedStore, sessionId: string): Promise<number> {
        const counts = recordsByDomain(
            await catalogForStore(store).counts(sessionId),
            this.options.domains
        )
        const archived =
            this.archive.length > 0
                ? archiveRecordsByDomain(
                      await archiveCatalogFor(store).counts(sessionId),
                      this.archive
                  )
                : {}
        return [...Object.values(counts), ...Object.values(archived)].reduce(
            (n, v) => n + (v ?? 0),
            0
        )
    }

    /**
     * Deletes the source of every verified session (the whole run verified), through `writable`
     * (the source opened for writing, holding the sessions' leases). Right before each delete,
     * under the lease, the source session is read again: one whose digest is no longer the one
     * verified (an application wrote to it during the copy) is not deleted; its mark goes back
     * to "copying" so the same command copies it again, and the run fails.
     */
    async deleteSources(
        outcomes: readonly SessionOutcome[],
        writable: OpenedStore,
        leases: readonly HeldLeases[]
    ): Promise<SessionOutcome[]> {
        const out: SessionOutcome[] = []
        const writableCatalog = catalogForStore(writable)
        for (const outcome of outcomes) {
            if (this.aborted || outcome.verified !== true || outcome.sourceDeleted) {
                out.push(outcome)
                continue
            }
            const { sessionId } = outcome
            for (const held of leases) held.assertHeld()
            const now = await this.digestOf(writable, writableCatalog, sessionId)
            if (now === null) {
                out.push(outcome)
                continue
            }
            const changed = compareDigests(outcome.digests, now)
            if (changed.length > 0) {
                await this.marks.write({
                    sessionId,
                    source: this.plan.from,
                    state: 'copying',
                    updatedAt: this.now()
                })
                out.push({
                    ...outcome,
                    verified: false,
                    mismatches: changed.map(m => ({
                        ...m,
                        extra: 'the source changed after it was copied and verified: it was not deleted; run the same command again to copy it again'
                    }))
                })
                continue
            }
            await this.marks.write({
                sessionId,
                source: this.plan.from,
                state: 'deleting-source',
                updatedAt: this.now()
            })
            if (this.archive.length > 0) await clearArchive(writable, sessionId, this.archive)
            await clearSession(writable, sessionId, { domains: this.options.domains })
            await this.marks.write({
                sessionId,
                source: this.plan.from,
                state: 'moved',
                updatedAt: this.now()
            })
            this.advance('delete', sessionId, 0, 0, 0)
            // what the source holds now, against what the plan counted there
            const planned = this.plan.sessions.find(p => p.sessionId === sessionId)
            const left = await this.recordsIn(writable, sessionId)
            const removed = Math.max(0, (planned?.total ?? 0) - left)
            out.push({ ...outcome, sourceDeleted: removed > 0, sourceRecordsDeleted: removed })
        }
        return out
    }
}

/**
 * A store failing in the middle of the copy (the target going away, a lost connection) ends
 * the run; the marks make the same command finish the job. (A source record that does not
 * decode arrives as the store layer's INTEGRITY error, from the guarded store contracts.)
 */
function copyFailed(sessionId: string, error: unknown, done: number): ZapoError {
    if (error instanceof ZapoError) return error
    return new ZapoError(
        'STORE_UNAVAILABLE',
        `a store failed while migrating ${sessionId === '' ? 'before the first session' : `session ${sessionId}`} (${storeProblem(error)}); ${done} session(s) finished before it. Fix the store and run the same command again: it resumes where this run stopped`,
        { session: sessionId, finishedSessions: done },
        { cause: error }
    )
}

const PROBE_SESSION = '__zapo_migrate_probe__'
const PROBE_ADDRESS = { user: '0', server: 's.whatsapp.net', device: 0 }

/**
 * Lets the target's store package create its schema before sessions are copied in parallel
 * (the packages create tables lazily, on first use; concurrent first uses race in the
 * database catalog). Reads only: nothing is stored for the probe session.
 */
async function warmUp(store: OpenedStore, domains: readonly DurableDomain[]): Promise<void> {
    const probes: Readonly<Record<DurableDomain, () => Promise<unknown>>> = {
        auth: () => store.domain('auth', PROBE_SESSION).load(),
        signal: () => store.domain('signal', PROBE_SESSION).getRegistrationInfo(),
        preKey: () => store.domain('preKey', PROBE_SESSION).getPreKeyById(1),
        session: () => store.domain('session', PROBE_SESSION).hasSession(PROBE_ADDRESS),
        identity: () => store.domain('identity', PROBE_SESSION).getRemoteIdentity(PROBE_ADDRESS),
        senderKey: () => store.domain('senderKey', PROBE_SESSION).getGroupSenderKeyList('0@g.us'),
        appState: () => store.domain('appState', PROBE_SESSION).getSyncKeyData(new Uint8Array([0])),
        privacyToken: () => store.domain('privacyToken', PROBE_SESSION).getByJid('0@s.whatsapp.net')
    }
    for (const domain of domains) await probes[domain]()
}

/** Domains where the target's catalog counts more (or other) records than were copied. */
function compareCounts(
    copied: SessionCounts,
    target: SessionCounts,
    domains: readonly DurableDomain[],
    digests: Readonly<Record<string, DomainDigest>>
): DigestMismatch[] {
    const out: DigestMismatch[] = []
    for (const domain of domains) {
        const differ = COUNT_FIELDS[domain].filter(f => copied[f] !== target[f])
        if (differ.length === 0) continue
        out.push({
            domain,
            source: digests[domain] ?? null,
            target: null,
            extra: differ
                .map(f => `${f}: copied ${String(copied[f])}, target holds ${String(target[f])}`)
                .join('; ')
        })
    }
    return out
}

/**
 * A session the plan counted records for, that came out with none read from the source or none
 * found in the target, was not migrated, whatever its (empty) digests say: a verification that
 * compares nothing with nothing never passes.
 */
function nothingCompared(
    planned: PlannedSession,
    source: Readonly<Record<string, DomainDigest>>,
    target: Readonly<Record<string, DomainDigest>>
): DigestMismatch | null {
    if (planned.total === 0) return null
    const count = (d: Readonly<Record<string, DomainDigest>>): number =>
        Object.values(d).reduce((n, digest) => n + digest.count, 0)
    const read = count(source)
    const found = count(target)
    if (read > 0 && found > 0) return null
    return {
        domain: 'session',
        source: null,
        target: null,
        extra: `the plan counted ${planned.total} records in the source; ${read} were read from it and ${found} found in the target`
    }
}

/**
 * Domains whose count or sha256 differ (a domain missing on one side counts as empty; a domain
 * holding only properties, count 0, still compares by its hash).
 */
function compareDigests(
    source: Readonly<Record<string, DomainDigest>>,
    target: Readonly<Record<string, DomainDigest>>
): DigestMismatch[] {
    const out: DigestMismatch[] = []
    for (const domain of new Set([...Object.keys(source), ...Object.keys(target)])) {
        const a = source[domain] ?? null
        const b = target[domain] ?? null
        // a domain holding only properties (a prekey counter, no keys) counts 0 and still compares
        if (a === null && b === null) continue
        if ((a?.count ?? 0) !== (b?.count ?? 0) || a?.sha256 !== b?.sha256)
            out.push({ domain, source: a, target: b })
    }
    return out
}
