/**
 * `zapo migrate --from SRC --to DST [--session ID … | --all]`: flags → typed
 * options → runMigrate (src/ops/migrate.ts) → plan, progress and summary.
 * Progress goes to stderr (a redrawn line on a TTY, periodic plain lines
 * otherwise, nothing with --json); the result goes to stdout.
 */

import type { Command } from 'commander'
import { helpFooter, parseDomainList, sharedOption } from './options.js'
import { handle } from '../cli.js'
import type { CliContext } from '../context.js'
import { parsePositiveInt, validateSessionId } from '../context.js'
import { usageError, ZapoError } from '../errors.js'
import { claimInterrupts } from '../interrupt.js'
import { note, printJson, printLine, type Io } from '../output.js'
import { visibleLength, wrapProse } from '../ui/format.js'
import { describeDomainRecords } from '../ui/counts.js'
import { ProgressLine } from '../ui/progress.js'
import { formatDuration } from '../util/duration.js'
import {
    ARCHIVE_DOMAINS,
    DURABLE_DOMAINS,
    resolveBackend,
    singleStore,
    type ArchiveDomain,
    type DurableDomain
} from '../store/address.js'
import { palette } from '../ui/color.js'
import { addShardOptions, parseShardFlags, type ShardFlags } from '../util/shard.js'
import { listIds } from './session-choice.js'
import type {
    MigrateOptions,
    MigratePlan,
    MigrateProgress,
    MigrateResult,
    SessionOutcome
} from '../ops/migrate.js'

interface MigrateFlags extends ShardFlags {
    readonly from?: string
    readonly to?: string
    readonly session?: readonly string[]
    readonly all?: boolean
    readonly domains?: string
    readonly archive?: boolean
    readonly dryRun?: boolean
    readonly skipExisting?: boolean
    readonly overwrite?: boolean
    readonly verifyOnly?: boolean
    readonly deleteSource?: boolean
    readonly batchSize?: string
    readonly yes?: boolean
}

const DEFAULT_BATCH = 500

export function register(program: Command): void {
    const command = program
        .command('migrate')
        .description(
            'copy sessions between two stores (any backends), verify them, optionally delete the source'
        )
        .option(
            '--from <store>',
            'source store: URL, backend name or .sqlite path (opened read-only)'
        )
        .option(
            '--to <store>',
            'target store: URL, backend name or .sqlite path (schema created by the store package)'
        )
        .addOption(
            sharedOption(
                'sessions',
                'a session to migrate (repeatable; default: ZAPO_SESSION, else every session)'
            )
        )
        .option('--all', 'every session of the source (the default without a session)')
    addShardOptions(command, 'over every session: ')
    command
        .option(
            '--domains <list>',
            `comma-separated domains (default: ${DURABLE_DOMAINS.join(', ')}; archive: ${ARCHIVE_DOMAINS.join(', ')})`
        )
        .option(
            '--archive',
            `also copy the archive domains (${ARCHIVE_DOMAINS.join(', ')}); not part of a default migration`
        )
        .option(
            '--dry-run',
            'print the plan (sessions, records per domain, what the target holds) and stop'
        )
        .option('--skip-existing', 'leave sessions the target already holds as they are')
        .option('--overwrite', 'replace sessions the target already holds')
        .option('--verify-only', 'compare source and target (digests per domain) without copying')
        .option(
            '--delete-source',
            'after every session verified, delete the migrated sessions from the source'
        )
        .option('--batch-size <n>', `records per read/write batch (default ${DEFAULT_BATCH})`)
        .addOption(
            sharedOption('yes', 'without --session or --all: go ahead without asking on a terminal')
        )
        .addHelpText(
            'after',
            helpFooter({
                notes: [
                    'An interrupted run (Ctrl-C, kill -9, lost connection) is completed by running the same command again. Backend names resolve through DATABASE_URL, REDIS_URL, …'
                ],
                examples: [
                    ['zapo migrate --from sqlite --to postgres', 'every session; asks first'],
                    ['zapo migrate --from sqlite:./zapo.sqlite --to postgres://db/zapo --all'],
                    ['zapo migrate --from sqlite --to postgres --all --dry-run'],
                    ['zapo migrate --from postgres --to redis -s tenant-1 --verify-only'],
                    [
                        'zapo migrate --from sqlite --to postgres --all --archive',
                        'messages, threads, contacts too'
                    ]
                ]
            })
        )
        .action(handle<MigrateFlags>(async (flags, ctx) => migrate(flags, ctx)))
}

export interface MigrateCommandOptions extends MigrateOptions {
    /** no session was named anywhere: every session, the plan shown (and asked on a terminal) */
    readonly everyByDefault: boolean
    /** --yes: every session by default without asking on a terminal */
    readonly yes: boolean
}

/** Flags → typed options (exported for tests of the option parsing). */
export function prepare(flags: MigrateFlags, ctx: CliContext): MigrateCommandOptions {
    if (!flags.from)
        throw usageError('no source store: pass --from STORE (a URL, backend name or .sqlite path)')
    if (!flags.to)
        throw usageError('no target store: pass --to STORE (a URL, backend name or .sqlite path)')
    const resolveCtx = { config: ctx.config, env: ctx.env, cwd: ctx.cwd }
    const from = singleStore(resolveBackend(flags.from, 'flag', resolveCtx))
    const to = singleStore(resolveBackend(flags.to, 'flag', resolveCtx))
    const ids = flags.session ?? []
    if (ids.length > 0 && flags.all)
        throw usageError('--session and --all exclude each other: pass one')
    // no session named anywhere (--session, ZAPO_SESSION, the config file): every session
    const named = ids.length === 0 && !flags.all ? ctx.optionalSessionId(undefined) : null
    const everyByDefault = ids.length === 0 && !flags.all && named === null
    if (flags.skipExisting && flags.overwrite)
        throw usageError('--skip-existing and --overwrite exclude each other: pass one')
    if (flags.dryRun && flags.verifyOnly)
        throw usageError('--dry-run and --verify-only exclude each other: pass one')
    if (flags.deleteSource && (flags.dryRun || flags.verifyOnly)) {
        throw usageError('--delete-source needs a real migration: drop --dry-run / --verify-only')
    }
    return {
        from,
        to,
        sessions:
            flags.all || everyByDefault
                ? 'all'
                : named !== null
                  ? [named]
                  : ids.map(id => validateSessionId(id)),
        everyByDefault,
        yes: flags.yes === true,
        shard: parseShardFlags(flags, flags.all || everyByDefault ? null : '--all'),
        domains: parseDomains(flags.domains, flags.archive === true),
        archive: parseArchiveDomains(flags.domains, flags.archive === true),
        mode: flags.dryRun ? 'dry-run' : flags.verifyOnly ? 'verify-only' : 'copy',
        existing: flags.skipExisting ? 'skip' : flags.overwrite ? 'overwrite' : 'refuse',
        deleteSource: flags.deleteSource === true,
        waitMs: ctx.waitMs,
        batchSize:
            flags.batchSize !== undefined
                ? parsePositiveInt(flags.batchSize, '--batch-size')
                : DEFAULT_BATCH
    }
}

/** The durable domains to copy (all by default); archive domains are picked by parseArchiveDomains. */
export function parseDomains(value: string | undefined, _archive = false): DurableDomain[] {
    const chosen = parseDomainList(value, [...DURABLE_DOMAINS, ...ARCHIVE_DOMAINS])
    // report in the canonical order, each once
    return chosen === undefined
        ? [...DURABLE_DOMAINS]
        : DURABLE_DOMAINS.filter(d => chosen.includes(d))
}

/** The archive domains to copy: all with --archive, else those named in --domains (default none). */
export function parseArchiveDomains(value: string | undefined, archive: boolean): ArchiveDomain[] {
    if (archive) return [...ARCHIVE_DOMAINS]
    const chosen = (value ?? '').split(',').map(d => d.trim())
    return ARCHIVE_DOMAINS.filter(d => chosen.includes(d))
}

async function migrate(flags: MigrateFlags, ctx: CliContext): Promise<number> {
    const options = prepare(flags, ctx)
    const io = ctx.io
    const signal = claimInterrupts(io, {
        stopping: 'finishing the current batch; run the same command again to resume',
        forced: 'run the same command again to finish the migration'
    })
    const { runMigrate } = await import('../ops/migrate.js')
    const progress = io.json ? null : new ProgressLine(io)
    let result: MigrateResult
    try {
        result = await runMigrate(options, {
            signal,
            onPlan: async plan => {
                warnLive(io, plan)
                if (options.mode === 'dry-run') return
                if (!io.json) note(io, describePlan(plan))
                if (options.everyByDefault && !options.yes) await goAhead(io, plan)
            },
            onProgress: p => progress?.update(formatProgress(p)),
            onSession: outcome => progress?.step(() => outcomeLine(outcome))
        })
    } finally {
        progress?.clear()
    }

    if (io.json) {
        if (result.status === 'verify-failed' || result.status === 'cancelled')
            throw statusError(result)
        printJson(io, summary(result))
        return 0
    }
    if (result.status === 'planned') {
        printPlan(io, result.plan)
        return 0
    }
    printSummary(io, result)
    if (result.status === 'verify-failed' || result.status === 'cancelled')
        throw statusError(result)
    return 0
}

/**
 * Every session by default: on a terminal the plan is shown and the user asked; without one the
 * migration goes ahead (a script that wants one session names it).
 */
async function goAhead(io: Io, plan: MigratePlan): Promise<void> {
    const { canPrompt, confirm } = await import('../ui/prompts.js')
    if (!canPrompt(io) || plan.mode !== 'copy') return
    const ids = plan.sessions.map(s => s.sessionId)
    note(io, `sessions: ${listIds(ids)}`)
    const ok = await confirm({
        message: `Migrate ${ids.length === 1 ? 'this session' : `these ${ids.length} sessions`} to ${plan.to}?`
    })
    if (!ok)
        throw new ZapoError(
            'DECLINED',
            'not migrated: nothing was written; name sessions with --session ID, or pass --yes'
        )
}

function statusError(result: MigrateResult): ZapoError {
    if (result.status === 'cancelled') {
        return new ZapoError(
            'CANCELLED',
            `interrupted after ${result.totals.verifiedSessions} verified session(s) and ${result.totals.copiedRecords} records; run the same command again to finish`,
            { summary: summary(result) }
        )
    }
    const failed = result.sessions.filter(s => s.verified === false)
    const first = failed[0]!
    const detail = first.mismatches
        .map(m =>
            m.extra !== undefined
                ? `${m.domain}: ${m.extra}`
                : `${m.domain}: source ${m.source?.count ?? 0} records, target ${m.target?.count ?? 0}${(m.source?.count ?? 0) === (m.target?.count ?? 0) ? ' (contents differ)' : ''}`
        )
        .join('; ')
    return new ZapoError(
        'VERIFY_FAILED',
        `${failed.length} session(s) differ between source and target (first: ${first.sessionId}: ${detail}); rerun the migration (add --overwrite if the target was changed since) and nothing is deleted until it verifies`,
        {
            summary: summary(result),
            sessions: failed.map(f => ({ sessionId: f.sessionId, mismatches: f.mismatches }))
        }
    )
}

function warnLive(io: Io, plan: MigratePlan): void {
    const live = plan.sessions.filter(s => s.liveSince !== null && s.action !== 'skip')
    if (live.length === 0) return
    const colors = palette(io.colorErr)
    const ids = live.map(s => s.sessionId)
    note(
        io,
        colors.warn(
            `warning: ${ids.length} session(s) logged in recently and may be running: ${ids.slice(0, 10).join(', ')}${ids.length > 10 ? ', …' : ''}; ` +
                'what a running client writes during the copy is not migrated: stop it first, or rerun with --overwrite afterwards'
        )
    )
}

function describePlan(plan: MigratePlan): string {
    const count = (action: string): number => plan.sessions.filter(s => s.action === action).length
    const parts = [
        `${count('copy')} to copy`,
        count('resume') ? `${count('resume')} to resume` : '',
        count('overwrite') ? `${count('overwrite')} to overwrite` : '',
        count('reverify') ? `${count('reverify')} already migrated (verified again)` : '',
        count('skip') ? `${count('skip')} skipped (in target)` : '',
        count('moved') ? `${count('moved')} moved earlier` : '',
        count('verify') ? `${count('verify')} to verify` : ''
    ].filter(Boolean)
    return `${plan.mode === 'verify-only' ? 'verifying' : 'migrating'} ${plan.sessions.length} session(s) from ${plan.from} to ${plan.to}: ${parts.join(', ')}; ${plan.recordsToCopy} records to copy`
}

const ACTION_TEXT: Readonly<Record<string, string>> = Object.freeze({
    copy: 'copy',
    resume: 'resume (unfinished earlier run)',
    overwrite: 'overwrite (in target)',
    skip: 'skip (in target)',
    refuse: 'REFUSED: in target (pass --skip-existing or --overwrite)',
    reverify: 'already migrated (verify again)',
    moved: 'moved earlier',
    verify: 'verify'
})

function printPlan(io: Io, plan: MigratePlan): void {
    const colors = palette(io.colorOut)
    printLine(io, `plan: ${plan.from} → ${plan.to}`)
    printLine(io, `domains: ${plan.domains.join(', ')}`)
    const width = Math.max(7, ...plan.sessions.map(s => s.sessionId.length))
    printLine(io, colors.dim(`${'session'.padEnd(width)}  ${'records'.padStart(8)}  action`))
    for (const s of plan.sessions) {
        const action = ACTION_TEXT[s.action] ?? s.action
        printLine(
            io,
            `${colors.session(s.sessionId.padEnd(width))}  ${String(s.total).padStart(8)}  ${s.action === 'refuse' ? colors.warn(action) : action}${s.liveSince !== null ? colors.warn(' (looks live)') : ''}`
        )
        const detail = describeDomainRecords(s.records, plan.domains)
        printLine(io, colors.dim(`${''.padEnd(width)}  ${''.padStart(8)}  ${detail}`))
        for (const line of s.notCarried)
            printLine(io, `${''.padEnd(width)}  ${''.padStart(8)}  not carried: ${line}`)
    }
    printLine(
        io,
        `${plan.sessions.length} session(s), ${plan.recordsToCopy} records to copy; nothing was written (dry run)`
    )
}

function printSummary(io: Io, result: MigrateResult): void {
    const colors = palette(io.colorOut)
    const t = result.totals
    // on a terminal every line fits its width: a long session id gets a line of its own
    const columns = (io.stdout as { readonly columns?: number }).columns
    const width = io.stdout.isTTY && columns ? columns - 1 : Number.POSITIVE_INFINITY
    const idThen = (id: string, detail: string): void => {
        const line = `${colors.session(id)}  ${detail}`
        if (visibleLength(line) <= width) printLine(io, line)
        else {
            printLine(io, colors.session(id))
            printLine(io, `  ${detail}`)
        }
    }
    for (const s of result.sessions) {
        const mark =
            s.verified === true
                ? colors.ok('verified')
                : s.verified === false
                  ? colors.error('MISMATCH')
                  : colors.dim('not verified')
        idThen(
            s.sessionId,
            `${ACTION_TEXT[s.action] ?? s.action}  ${s.copied} copied  ${mark}${s.sourceDeleted ? '  source deleted' : ''}`
        )
        for (const m of s.mismatches) {
            if (m.extra !== undefined) {
                printLine(io, `  ${m.domain}: ${m.extra}`)
                continue
            }
            printLine(
                io,
                `  ${m.domain}: source ${m.source?.count ?? 0} (${m.source?.sha256.slice(0, 12) ?? '-'}), target ${m.target?.count ?? 0} (${m.target?.sha256.slice(0, 12) ?? '-'})`
            )
        }
    }
    for (const p of result.plan.sessions.filter(p => p.notCarried.length > 0)) {
        printLine(io, colors.warn(`${p.sessionId}: not carried over (no zapo-js counterpart):`))
        for (const line of p.notCarried) printLine(io, `  ${line}`)
    }
    for (const s of result.plan.sessions.filter(p => p.action === 'skip')) {
        idThen(s.sessionId, ACTION_TEXT.skip ?? 'skip')
    }
    const verb =
        result.status === 'verified'
            ? 'verified'
            : result.status === 'cancelled'
              ? 'interrupted'
              : result.status === 'verify-failed'
                ? 'verification FAILED'
                : 'migrated and verified'
    const total =
        `${verb}: ${t.verifiedSessions}/${t.sessions - t.skippedSessions} session(s) verified, ${t.copiedRecords} records copied in ${formatDuration(result.durationMs)}` +
        (t.copiedRecords > 0 ? ` (${result.recordsPerSecond} records/s)` : '') +
        (t.skippedSessions ? `, ${t.skippedSessions} skipped` : '') +
        sourceText(result)
    printLine(io, width === Number.POSITIVE_INFINITY ? total : wrapProse(total, width))
}

/** What --delete-source did, said as it is: how much it deleted, or that it deleted nothing. */
function sourceText(result: MigrateResult): string {
    const t = result.totals
    if (t.sourceDeleted > 0)
        return `, ${t.sourceDeleted} deleted from the source (${t.sourceRecordsDeleted} records)`
    if (!result.plan.deleteSource || result.status !== 'migrated') return ''
    const moved = result.sessions.filter(s => s.action === 'moved').map(s => s.sessionId)
    return moved.length > 0
        ? `, nothing deleted from the source: ${moved.join(', ')} ${moved.length === 1 ? 'was' : 'were'} moved by an earlier run`
        : ', nothing deleted from the source: it held none of the records any more'
}

/** The --json document (also the `summary` in an error's meta). */
export function summary(result: MigrateResult): Record<string, unknown> {
    const outcomes = new Map(result.sessions.map(s => [s.sessionId, s]))
    return {
        status: result.status,
        from: result.plan.from,
        to: result.plan.to,
        mode: result.plan.mode,
        domains: result.plan.domains,
        shard: result.plan.shard,
        sessions: result.plan.sessions.map(p => {
            const o = outcomes.get(p.sessionId)
            return {
                sessionId: p.sessionId,
                action: p.action,
                inTarget: p.inTarget,
                live: p.liveSince !== null,
                records: p.records,
                notCarried: p.notCarried,
                copied: o?.copied ?? 0,
                verified: o?.verified ?? null,
                sourceDeleted: o?.sourceDeleted ?? false,
                digests: o?.digests ?? null,
                mismatches: o?.mismatches ?? []
            }
        }),
        totals: result.totals,
        recordsToCopy: result.plan.recordsToCopy,
        durationMs: result.durationMs,
        recordsPerSecond: result.recordsPerSecond
    }
}

/** A session's line when it finished (without a terminal; on one the progress line clears). */
function outcomeLine(outcome: SessionOutcome): string {
    return `session ${outcome.sessionId}: ${outcome.copied} records copied, ${outcome.verified === true ? 'verified' : outcome.verified === false ? 'MISMATCH' : 'not verified'}`
}

/** No ETA is shown before the copy has run this long (a rate needs some batches behind it). */
const ETA_AFTER_MS = 2_000

export function formatProgress(p: MigrateProgress): string {
    const pct = p.total > 0 ? Math.min(100, Math.floor((p.done * 100) / p.total)) : 100
    // an ETA from the first batch or two is noise: none until the rate has run a while
    const eta =
        p.etaMs === null || p.elapsedMs < ETA_AFTER_MS ? '' : `, ETA ${formatDuration(p.etaMs)}`
    const session = p.sessionTotal > 0 ? ` (${p.sessionDone}/${p.sessionTotal})` : ''
    // the session id last: a line cut to the terminal's width loses the end of a long id first
    return `${p.phase} ${p.done}/${p.total} records (${pct}%), sessions ${p.sessionsDone}/${p.sessionsTotal}, ${Math.round(p.rate)} rec/s${eta} | ${p.sessionId}${session}`
}
