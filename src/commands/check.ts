/**
 * `zapo check`: smoke checks with exit codes for CI and cron. Flags and the config file's
 * `check` object become typed options here; the work is src/ops/check.ts.
 */

import type { Command } from 'commander'
import { helpFooter, SHARED_OPTIONS, sharedOption } from './options.js'
import { handle } from '../cli.js'
import type { CliContext } from '../context.js'
import { parseDuration, parsePositiveInt } from '../context.js'
import { EXIT_CODES, printable, usageError } from '../errors.js'
import { zapoCommand } from '../hints.js'
import { claimInterrupts } from '../interrupt.js'
import { note, printJson, printLine, stdoutColumns, type Io } from '../output.js'
import { wrapLine } from '../ui/format.js'
import { palette, type Palette } from '../ui/color.js'
import { addShardOptions, parseShard, parseShardFlags, type ShardFlags } from '../util/shard.js'
import type { CheckReport, CheckResult, CheckThresholds, SessionReport } from '../ops/check.js'

interface CheckFlags extends ShardFlags {
    readonly session?: string
    readonly all?: boolean
    readonly concurrency?: string
    readonly connect?: boolean
    readonly timeout?: string
    readonly settle?: string
    readonly server?: string
    readonly serverRootCa?: string
    readonly maxSignedPrekeyAge?: string
    readonly minPrekeys?: string
    readonly maxSinceLogin?: string
    readonly strict?: boolean
    readonly logLevel?: string
    readonly metrics?: string
    readonly rate?: string
}

/** The keys of the config file's `check` object (all optional, numbers). */
export const CHECK_CONFIG_KEYS = Object.freeze({
    minPreKeys: 'low-water mark of uploaded one-time prekeys (--min-prekeys)',
    maxSignedPreKeyAgeDays: 'largest signed prekey age in days (--max-signed-prekey-age)',
    maxSinceLoginHours: 'longest time since the last successful login in hours (--max-since-login)',
    timeoutSeconds: 'login timeout of --connect in seconds (--timeout)',
    concurrency: 'sessions checked at once with --all (--concurrency)'
} as const)

export const CHECK_DEFAULTS = Object.freeze({
    maxSignedPreKeyAgeMs: 30 * 86_400_000,
    minPreKeys: 20,
    maxSinceLoginMs: 14 * 86_400_000,
    timeoutMs: 30_000,
    settleMs: 2_000,
    concurrency: 4
} as const)

export function register(program: Command): void {
    const command = program
        .command('check')
        .description(
            'smoke-check a session (or every session) for CI and cron: credentials, pairing, key age, prekey stock, last login; --connect logs in once'
        )
        .addOption(
            sharedOption(
                'session',
                'the session to check (default: ZAPO_SESSION, else every session)'
            )
        )
        .option('--all', 'check every session in the store (the default without a session)')
    addShardOptions(command, 'over every session: ')
    command
        .option(
            '--concurrency <n>',
            `sessions checked at once over a fleet (default ${CHECK_DEFAULTS.concurrency})`
        )
        .option(
            '--rate <n>',
            'with --connect: start at most N logins per second (e.g. 2, or 0.5 for one every 2s)'
        )
        .option(
            '--metrics <file>',
            'also write the results in the Prometheus text format to FILE, replaced atomically ("-": stdout; docs/fleet.md)'
        )
        .option(
            '--connect',
            'also log in once with the stored credentials, then disconnect (a running app with this session is kicked while it lasts)'
        )
        .addOption(
            sharedOption(
                'timeout',
                'with --connect: the login must finish within this (default 30s)'
            )
        )
        .option(
            '--settle <duration>',
            'with --connect: stay logged in this long to catch an immediate refusal (default 2s)'
        )
        .addOption(
            sharedOption(
                'server',
                'with --connect: a test server (zapo sandbox) instead of WhatsApp (or ZAPO_SERVER)'
            )
        )
        .addOption(sharedOption('serverRootCa'))
        .option(
            '--max-signed-prekey-age <duration>',
            'fail when the signed prekey is older (default 30d; config check.maxSignedPreKeyAgeDays)'
        )
        .option(
            '--min-prekeys <n>',
            'fail when fewer uploaded one-time prekeys remain (default 20; config check.minPreKeys)'
        )
        .option(
            '--max-since-login <duration>',
            'fail when the last successful login is older (default 14d; config check.maxSinceLoginHours)'
        )
        .option('--strict', 'warnings fail the check too (exit 9)')
        .addOption(sharedOption('logLevel', `with --connect: ${SHARED_OPTIONS.logLevel.help}`))
        .addHelpText(
            'after',
            helpFooter({
                notes: [
                    'Without --session every session of the store is checked, as with --all; then the most severe result wins (docs/check.md).'
                ],
                exitCodes: [
                    'OK',
                    'SESSION_BUSY',
                    'USAGE',
                    'SESSION_NOT_FOUND',
                    'STORE_UNAVAILABLE',
                    'INTEGRITY',
                    'NOT_PAIRED',
                    'TIMEOUT',
                    'CHECK_FAILED',
                    'LOGGED_OUT',
                    'REPLACED',
                    'ACCOUNT_BLOCKED',
                    'CLIENT_REJECTED',
                    'CONNECTION_FAILED',
                    'UNTRUSTED_SERVER'
                ],
                examples: [
                    ['zapo check', 'every session, offline checks'],
                    ['zapo check -s tenant-42 --connect --json', 'one session, with a real login'],
                    ['zapo check --shard 1/4 --json', 'a quarter of the fleet']
                ]
            })
        )
        .action(handle<CheckFlags>(runCheckCommand))
}

async function runCheckCommand(flags: CheckFlags, ctx: CliContext): Promise<number> {
    const options = await prepare(flags, ctx)
    const metrics = await metricsTarget(flags.metrics, options.store, ctx)
    const started = Date.now()
    const { runCheck } = await import('../ops/check.js')
    const colors = palette(ctx.io.colorOut)
    if (options.connect) {
        // a read-only (foreign) store is refused before the notice that a login follows
        const { assertWritable } = await import('../store/open.js')
        assertWritable(options.store, 'be logged in from (check --connect)')
        const target = options.connect.server
            ? `the test server ${options.connect.server.url}`
            : 'WhatsApp'
        const who = options.sessions.all
            ? 'each checked session'
            : `session ${options.sessions.sessionId}`
        note(
            ctx.io,
            `zapo: --connect logs ${who} in to ${target} with its stored credentials: an app running with the same session is disconnected ("replaced") while the check is connected`
        )
    }
    const signal = options.connect
        ? claimInterrupts(ctx.io, { stopping: 'disconnecting the login checks' })
        : undefined
    const report = await runCheck(options, signal ? { signal } : {})
    if (metrics !== null) {
        const { checkMetricsText } = await import('../ops/check-metrics.js')
        const finishedAt = Date.now()
        const text = await checkMetricsText(report, {
            durationMs: finishedAt - started,
            finishedAt
        })
        await metrics.write(text)
    }
    // with --metrics -, the metrics are the result on stdout and the report goes to stderr
    const shown = metrics?.stdout ? { ...ctx.io, stdout: ctx.io.stderr } : ctx.io
    if (ctx.io.json) {
        printJson(ctx.io, report)
    } else {
        render(report, options.sessions.all, shown, colors)
    }
    // a mismatch zapo works around (doctor's info line): said only with --debug, always in JSON
    const lib = report.library
    if (lib.satisfied === false && !ctx.io.json && ctx.io.debug) {
        note(
            ctx.io,
            `zapo: note: ${lib.storePackage} ${lib.storePackageVersion} declares peer zapo-js ${lib.peerRange}, installed zapo-js ${lib.zapoJs} does not satisfy it (zapo doctor lists what that breaks)`
        )
    }
    // a named session the store does not hold: the report shows the failed check, and the one
    // error line on stderr says where to look (as creds show does)
    const missing = options.sessions.all
        ? undefined
        : report.sessions.find(s =>
              s.checks.some(c => c.name === 'credentials' && c.code === 'SESSION_NOT_FOUND')
          )
    if (missing && !ctx.io.json) {
        note(
            ctx.io,
            `zapo: no credentials for session "${printable(missing.sessionId)}" in ${report.store}; list what it holds with ${zapoCommand('sessions', 'list')}`
        )
    }
    if (report.shard && report.sessions.length === 0) {
        note(
            ctx.io,
            `zapo: shard ${report.shard.index}/${report.shard.count} holds none of the store's ${report.storeSessions} sessions`
        )
    }
    return report.summary.exitCode
}

type PreparedOptions = Parameters<typeof import('../ops/check.js').runCheck>[0]

/** Flags + config file → typed options. Exported for tests of the option parsing. */
export async function prepare(flags: CheckFlags, ctx: CliContext): Promise<PreparedOptions> {
    const config = ctx.config.check
    for (const key of Object.keys(config)) {
        if (!(key in CHECK_CONFIG_KEYS)) {
            throw usageError(
                `config file ${ctx.config.path}: unknown key check.${key} (known: ${Object.keys(CHECK_CONFIG_KEYS).join(', ')})`
            )
        }
    }
    if (flags.all && flags.session !== undefined)
        throw usageError('--all and --session exclude each other: pass one of them')
    // no session named anywhere: every session, as --all
    const named = flags.all ? null : ctx.optionalSessionId(flags.session)
    const shard = parseShardFlags(
        flags,
        named === null
            ? null
            : `every session, not one (${flags.session !== undefined ? '--session' : 'ZAPO_SESSION or the config file'} names ${named})`
    )
    if (!flags.connect) {
        for (const [flag, value] of [
            ['--timeout', flags.timeout],
            ['--settle', flags.settle],
            ['--server', flags.server],
            ['--server-root-ca', flags.serverRootCa],
            ['--log-level', flags.logLevel],
            ['--rate', flags.rate]
        ] as const) {
            if (value !== undefined)
                throw usageError(
                    `${flag} only applies with --connect: add --connect or drop ${flag}`
                )
        }
    }
    const sessions =
        named === null ? ({ all: true } as const) : ({ all: false, sessionId: named } as const)
    const thresholds: CheckThresholds = {
        maxSignedPreKeyAgeMs:
            flags.maxSignedPrekeyAge !== undefined
                ? parseDuration(flags.maxSignedPrekeyAge, '--max-signed-prekey-age')
                : config.maxSignedPreKeyAgeDays !== undefined
                  ? Math.round(config.maxSignedPreKeyAgeDays * 86_400_000)
                  : CHECK_DEFAULTS.maxSignedPreKeyAgeMs,
        minPreKeys:
            flags.minPrekeys !== undefined
                ? parseCount(flags.minPrekeys, '--min-prekeys')
                : config.minPreKeys !== undefined
                  ? Math.floor(config.minPreKeys)
                  : CHECK_DEFAULTS.minPreKeys,
        maxSinceLoginMs:
            flags.maxSinceLogin !== undefined
                ? parseDuration(flags.maxSinceLogin, '--max-since-login')
                : config.maxSinceLoginHours !== undefined
                  ? Math.round(config.maxSinceLoginHours * 3_600_000)
                  : CHECK_DEFAULTS.maxSinceLoginMs
    }
    const concurrency =
        flags.concurrency !== undefined
            ? parsePositiveInt(flags.concurrency, '--concurrency')
            : config.concurrency !== undefined
              ? Math.max(1, Math.floor(config.concurrency))
              : CHECK_DEFAULTS.concurrency
    const timeoutMs =
        flags.timeout !== undefined
            ? parseDuration(flags.timeout, '--timeout')
            : config.timeoutSeconds !== undefined
              ? Math.round(config.timeoutSeconds * 1000)
              : CHECK_DEFAULTS.timeoutMs
    if (timeoutMs <= 0) throw usageError('--timeout must be longer than 0: use e.g. 30s')
    const settleMs =
        flags.settle !== undefined
            ? parseDuration(flags.settle, '--settle')
            : CHECK_DEFAULTS.settleMs
    const connect = flags.connect
        ? {
              server: ctx.server(flags),
              timeoutMs,
              settleMs,
              waitMs: ctx.waitMs ?? 0,
              rate: flags.rate !== undefined ? parseRate(flags.rate) : null,
              ...(await clientLogger(ctx, flags.logLevel))
          }
        : null
    return {
        store: ctx.storeSpec(),
        sessions,
        shard,
        concurrency,
        thresholds,
        connect,
        strict: flags.strict === true
    }
}

/** The client's own log lines go to stderr only when asked for (--log-level, or --debug). */
export async function clientLogger(
    ctx: CliContext,
    flag: string | undefined
): Promise<{ logger?: import('zapo-js').Logger }> {
    const [{ resolveLogLevel }, { createClientLogger }] = await Promise.all([
        import('../client/logger.js'),
        import('../ui/client-logger.js')
    ])
    const level = resolveLogLevel(flag, ctx.io.debug).value
    if (level === 'silent') return {}
    return { logger: createClientLogger({ level, json: ctx.io.json, color: ctx.io.colorErr }) }
}

/** --rate N: logins started per second, a positive number up to 1000 (0.5 = one every 2 s). */
export function parseRate(value: string): number {
    const n = /^\s*\d+(\.\d+)?\s*$/.test(value) ? Number(value) : NaN
    if (!(n > 0 && n <= 1000))
        throw usageError(
            `--rate "${value}" must be a number of logins per second above 0 and at most 1000 (e.g. 2, or 0.5 for one every 2s)`
        )
    return n
}

/**
 * Where --metrics writes: stdout for "-", else a file replaced atomically (temporary file, then
 * rename) with mode 0644 so that node_exporter can read it. Checked before the run: a directory
 * that does not exist, or a path that is the store's own file, is a usage error up front.
 */
async function metricsTarget(
    value: string | undefined,
    store: PreparedOptions['store'],
    ctx: CliContext
): Promise<{ readonly stdout: boolean; write(text: string): Promise<void> } | null> {
    if (value === undefined) return null
    if (value === '') throw usageError('--metrics needs a file (or "-" for stdout)')
    if (value === '-') {
        if (ctx.io.json)
            throw usageError(
                '--json and --metrics - both write to stdout: pass --metrics FILE to keep the JSON report'
            )
        return {
            stdout: true,
            write: async text => {
                ctx.io.stdout.write(text)
            }
        }
    }
    const { dirname, join, resolve } = await import('node:path')
    const { statSync } = await import('node:fs')
    const path = resolve(ctx.cwd, value)
    const { refuseOwnInputs, storeInputs, writeFileAtomic } = await import('../export/files.js')
    let dir: import('node:fs').Stats | undefined
    try {
        dir = statSync(dirname(path))
    } catch {
        dir = undefined
    }
    if (!dir?.isDirectory())
        throw usageError(
            `--metrics ${value}: the directory ${dirname(path)} does not exist: create it or pass another path`
        )
    if (statSync(path, { throwIfNoEntry: false })?.isDirectory())
        throw usageError(
            `--metrics ${value} is a directory: name the file to write (e.g. ${join(value, 'zapo.prom')})`
        )
    const inputs = storeInputs(store)
    refuseOwnInputs(path, inputs)
    return {
        stdout: false,
        write: async text => {
            const bytes = new TextEncoder().encode(text)
            await writeFileAtomic(
                path,
                (async function* () {
                    yield bytes
                })(),
                { force: true, inputs, mode: 0o644 }
            )
        }
    }
}

function parseCount(value: string, flag: string): number {
    if (!/^\d+$/.test(value.trim()))
        throw usageError(`${flag} "${value}" must be a whole number (0 or more)`)
    return Number(value)
}

/** "K/N" with 1 ≤ K ≤ N (the one parser: src/util/shard.ts). */
export { parseShard }

// ---------------------------------------------------------------------------------------------
// rendering (human mode)

const MARK: Readonly<Record<CheckResult['status'], string>> = Object.freeze({
    pass: '✓',
    warn: '!',
    fail: '✗',
    skip: '-'
})

function mark(status: CheckResult['status'], c: Palette): string {
    const m = MARK[status]
    return status === 'pass'
        ? c.ok(m)
        : status === 'warn'
          ? c.warn(m)
          : status === 'fail'
            ? c.error(m)
            : c.dim(m)
}

/** Where a check line's detail starts: "  ✓ " and the name column (checkLines). */
const DETAIL_COLUMN = 2 + 1 + 1 + 34 + 1

function render(report: CheckReport, fleet: boolean, io: Io, c: Palette): void {
    // on a terminal a long detail wraps at word boundaries under the detail column
    const columns = stdoutColumns(io)
    const checkLine = (line: string): void => printLine(io, wrapLine(line, columns, DETAIL_COLUMN))
    if (!fleet) {
        const s = report.sessions[0]
        if (!s) return
        printLine(
            io,
            wrapLine(
                `session ${c.session(s.sessionId)}${s.jid ? ` (${c.jid(s.jid)})` : ''} in ${c.path(report.store)}`,
                columns,
                2
            )
        )
        for (const line of checkLines(s, c, true)) checkLine(line)
        printLine(io, wrapLine(verdict(s, c), columns, 2))
        return
    }
    for (const s of report.sessions) {
        const head = `${mark(s.result === 'OK' ? 'pass' : 'fail', c)} ${c.session(s.sessionId)}${s.jid ? ` ${c.dim(s.jid)}` : ''}  ${
            s.result === 'OK' ? c.ok('OK') : c.error(s.result)
        }`
        printLine(io, head)
        for (const line of checkLines(s, c, false)) checkLine(line)
    }
    const sum = report.summary
    const parts = Object.entries(sum.byResult)
        .filter(([code]) => code !== 'OK')
        .map(([code, n]) => `${code} ${n}`)
    const shard = report.shard
        ? ` (shard ${report.shard.index}/${report.shard.count} of ${report.storeSessions})`
        : ''
    printLine(
        io,
        `${sum.sessions} session${sum.sessions === 1 ? '' : 's'}${shard}: ${c.ok(`${sum.ok} ok`)}, ${
            sum.failed > 0 ? c.error(`${sum.failed} failed`) : `${sum.failed} failed`
        }${parts.length > 0 ? ` (${parts.join(', ')})` : ''}; worst ${sum.worst} → exit ${sum.exitCode}`
    )
}

/** Lines for one session's checks: all of them for one session, only the non-passing ones in a fleet. */
function checkLines(s: SessionReport, c: Palette, all: boolean): string[] {
    const lines: string[] = []
    const integrity = s.checks.filter(k => k.name.startsWith('integrity.'))
    const integrityOk = integrity.length > 0 && integrity.every(k => k.status !== 'fail')
    let integrityShown = false
    for (const k of s.checks) {
        if (k.name.startsWith('integrity.') && integrityOk) {
            if (!all || integrityShown) continue
            integrityShown = true
            const passed = integrity.filter(i => i.status === 'pass').length
            const skipped = integrity.length - passed
            lines.push(
                `  ${mark('pass', c)} ${'integrity'.padEnd(34)} ${passed} checks pass${skipped > 0 ? `, ${skipped} skipped` : ''}`
            )
            continue
        }
        if (!all && (k.status === 'pass' || k.status === 'skip')) continue
        lines.push(
            `  ${mark(k.status, c)} ${k.name.padEnd(34)} ${k.status === 'skip' ? c.dim(`skipped: ${k.detail}`) : k.detail}`
        )
    }
    return lines
}

function verdict(s: SessionReport, c: Palette): string {
    if (s.result === 'OK') return c.ok(`ok: every check passed (exit ${EXIT_CODES.OK})`)
    return c.error(`${s.result} (exit ${s.exitCode}): ${s.failures.join(', ')}`)
}
