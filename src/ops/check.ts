/**
 * `zapo check`: smoke checks of one session or a whole store, for CI and cron.
 *
 * The checks are data (`SESSION_CHECKS`, a `{ name, run }` list) run in order
 * by one function over a `SessionProbe` (everything read once through the
 * store contracts and the catalog). Each check returns a status
 * (pass | warn | fail | skip), a value and its threshold; a failed check names
 * the error code it stands for, and a session's result is the most severe of
 * those codes (`worstExit`, errors.ts). `--connect` adds a real login through the
 * library's client. Nothing here prints, prompts or exits.
 *
 * A check never removes anything: the login probe disables the library's
 * clean-up on a logout answer (`logoutStoreClear`), so a refused login leaves
 * the stored state as it was. Only `zapo logout` removes a session's state.
 */

import { formatDuration } from '../util/duration.js'
import { createRequire } from 'node:module'
import type { Logger, WaAuthCredentials } from 'zapo-js'
import { zapoProto } from '../zapo-cjs.js'
import type { RegistrationInfo, SignedPreKeyRecord } from 'zapo-js/signal'
import { EXIT_CODES, ZapoError, worstExit, type ZapoErrorCode } from '../errors.js'
import { lastLoginMs } from '../store/last-login.js'
import { takeLeases } from '../store/lease.js'
import type { StoreSpec } from '../store/address.js'
import { sessionFailure } from '../store/failures.js'
import { assertWritable, type OpenedStore } from '../store/open.js'
import type { SessionCatalog, SessionCounts } from '../store/records.types.js'
import { checkCredentialIntegrity } from './integrity.js'
import { readInstalledPackage } from './doctor.js'
import { openForReading } from './read-store.js'
import { probeLogin, type LoginProbeResult, type ServerOverride } from '../client/login-probe.js'
import { mapBounded, startRate } from '../util/concurrency.js'
import { inShard, shardOf, type Shard } from '../util/shard.js'

export { mapBounded }

export type CheckStatus = 'pass' | 'warn' | 'fail' | 'skip'

/** One line of the report. Durations are in milliseconds (`unit: 'ms'`). */
export interface CheckResult {
    readonly name: string
    readonly status: CheckStatus
    readonly value: number | string | boolean | null
    readonly threshold: number | string | null
    readonly unit: 'ms' | 'keys' | null
    /** one line for people; never key material */
    readonly detail: string
    /** for a failed check: the error code it stands for */
    readonly code: ZapoErrorCode | null
}

export interface CheckThresholds {
    /** the signed prekey may be at most this old (ms) */
    readonly maxSignedPreKeyAgeMs: number
    /** low-water mark of uploaded, unused one-time prekeys */
    readonly minPreKeys: number
    /** the last successful login may be at most this long ago (ms) */
    readonly maxSinceLoginMs: number
}

export interface ConnectOptions {
    readonly server: ServerOverride | null
    /** the login must complete within this (ms) */
    readonly timeoutMs: number
    /** stay connected this long after the login to catch an immediate refusal (ms) */
    readonly settleMs: number
    /** logins started per second at most (--rate), null for as fast as --concurrency allows */
    readonly rate?: number | null
    readonly logger?: Logger
    /** how long to wait for the session's lease when another zapo run holds it (ms) */
    readonly waitMs?: number
}

/** Everything the checks look at, read once per session. */
export interface SessionProbe {
    readonly sessionId: string
    readonly now: number
    readonly credentials: WaAuthCredentials | null
    readonly registration: RegistrationInfo | null
    readonly signedPreKey: SignedPreKeyRecord | null
    /** the signal domain's last signed prekey rotation (ms since epoch), null when none is stored */
    readonly signedPreKeyRotationTs: number | null
    readonly counts: SessionCounts
    readonly thresholds: CheckThresholds
    /** results so far, for checks that depend on earlier ones */
    readonly earlier: readonly CheckResult[]
}

export interface SessionCheck {
    readonly name: string
    run(probe: SessionProbe): Promise<CheckResult | readonly CheckResult[]>
}

type Outcome = Omit<CheckResult, 'name'>

const result = (
    status: CheckStatus,
    detail: string,
    extra: {
        value?: CheckResult['value']
        threshold?: CheckResult['threshold']
        unit?: CheckResult['unit']
        code?: ZapoErrorCode | null
    } = {}
): Outcome => ({
    status,
    value: extra.value ?? null,
    threshold: extra.threshold ?? null,
    unit: extra.unit ?? null,
    detail,
    code: status === 'fail' ? (extra.code ?? 'CHECK_FAILED') : null
})

const named = (name: string, outcome: Outcome): CheckResult => ({ name, ...outcome })

function isPaired(credentials: WaAuthCredentials | null): boolean {
    return typeof credentials?.meJid === 'string' && credentials.meJid !== ''
}

function hasFailed(probe: SessionProbe, name: string): boolean {
    return probe.earlier.some(
        c => c.status === 'fail' && (c.name === name || c.name.startsWith(`${name}.`))
    )
}

/** Why the threshold checks do not apply to this session, or null when they do. */
function thresholdPrecondition(probe: SessionProbe): string | null {
    if (!probe.credentials) return 'no credentials'
    if (!isPaired(probe.credentials)) return 'not paired'
    return null
}

/** The offline checks, in the order they run and are reported. */
const SESSION_CHECKS: readonly SessionCheck[] = Object.freeze([
    {
        name: 'credentials',
        run: async probe => {
            if (probe.credentials)
                return named(
                    'credentials',
                    result('pass', 'the auth domain holds credentials', { value: true })
                )
            const others = Object.entries(probe.counts).filter(
                ([k, v]) => k !== 'credentials' && v !== false && v !== 0
            ).length
            const detail =
                others > 0
                    ? `no credentials in the auth domain, but ${others} other domain(s) hold records (a half-written or half-removed session)`
                    : 'no credentials in the auth domain'
            return named(
                'credentials',
                result('fail', detail, { value: false, code: 'SESSION_NOT_FOUND' })
            )
        }
    },
    {
        name: 'paired',
        run: async probe => {
            if (!probe.credentials) return named('paired', result('skip', 'no credentials'))
            if (isPaired(probe.credentials)) {
                return named(
                    'paired',
                    result('pass', `paired as ${probe.credentials.meJid}`, {
                        value: probe.credentials.meJid ?? null
                    })
                )
            }
            return named(
                'paired',
                result('fail', 'the credentials are not paired with a phone: run zapo pair', {
                    value: false,
                    code: 'NOT_PAIRED'
                })
            )
        }
    },
    {
        name: 'integrity',
        run: async probe => {
            if (!probe.credentials) return named('integrity', result('skip', 'no credentials'))
            const report = await checkCredentialIntegrity({
                credentials: probe.credentials,
                registration: probe.registration,
                signedPreKey: probe.signedPreKey
            })
            return report.checks.map(c =>
                named(
                    `integrity.${c.name}`,
                    result(c.status, c.detail, { value: c.status !== 'fail', code: 'INTEGRITY' })
                )
            )
        }
    },
    {
        name: 'signed-prekey-age',
        run: async probe => {
            const name = 'signed-prekey-age'
            const threshold = probe.thresholds.maxSignedPreKeyAgeMs
            const why = thresholdPrecondition(probe)
            if (why) return named(name, result('skip', why, { threshold, unit: 'ms' }))
            if (hasFailed(probe, 'integrity'))
                return named(
                    name,
                    result('skip', 'credentials are inconsistent', { threshold, unit: 'ms' })
                )
            let since: number | null = probe.signedPreKeyRotationTs
            let source = 'last rotation recorded in the signal domain'
            if (since === null) {
                since = pairingTimeMs(probe.credentials)
                source =
                    'no rotation recorded; the pairing time from the ADV identity (a lower bound of the key age)'
            }
            if (since === null) {
                return named(
                    name,
                    result(
                        'warn',
                        'no rotation time recorded and no pairing time known: the library records one at its next login',
                        {
                            threshold,
                            unit: 'ms'
                        }
                    )
                )
            }
            const age = Math.max(0, probe.now - since)
            const detail = `${formatDuration(age)} old (${source}; limit ${formatDuration(threshold)})`
            if (age > threshold) {
                return named(
                    name,
                    result(
                        'fail',
                        `${detail}: log in (the library rotates it when due) or re-pair`,
                        { value: age, threshold, unit: 'ms' }
                    )
                )
            }
            return named(
                name,
                result(probe.signedPreKeyRotationTs === null ? 'warn' : 'pass', detail, {
                    value: age,
                    threshold,
                    unit: 'ms'
                })
            )
        }
    },
    {
        name: 'prekey-stock',
        run: async probe => {
            const name = 'prekey-stock'
            const threshold = probe.thresholds.minPreKeys
            const why = thresholdPrecondition(probe)
            if (why) return named(name, result('skip', why, { threshold, unit: 'keys' }))
            const uploaded = probe.counts.preKeysUploaded
            const detail = `${uploaded} uploaded unused one-time prekeys (${probe.counts.preKeys} stored; low-water mark ${threshold})`
            if (uploaded < threshold) {
                return named(
                    name,
                    result('fail', `${detail}: log in so the library uploads more`, {
                        value: uploaded,
                        threshold,
                        unit: 'keys'
                    })
                )
            }
            return named(name, result('pass', detail, { value: uploaded, threshold, unit: 'keys' }))
        }
    },
    {
        name: 'since-login',
        run: async probe => {
            const name = 'since-login'
            const threshold = probe.thresholds.maxSinceLoginMs
            const why = thresholdPrecondition(probe)
            if (why) return named(name, result('skip', why, { threshold, unit: 'ms' }))
            const lastMs = lastLoginMs(probe.credentials)
            if (lastMs === null) {
                return named(
                    name,
                    result('warn', 'no successful login recorded in the credentials', {
                        threshold,
                        unit: 'ms'
                    })
                )
            }
            const age = Math.max(0, probe.now - lastMs)
            const detail = `last successful login ${formatDuration(age)} ago (limit ${formatDuration(threshold)})`
            if (age > threshold) {
                return named(
                    name,
                    result(
                        'fail',
                        `${detail}: the session is not being run; start it or check its host`,
                        { value: age, threshold, unit: 'ms' }
                    )
                )
            }
            return named(name, result('pass', detail, { value: age, threshold, unit: 'ms' }))
        }
    }
])

/** The pairing time from the ADV device identity details (seconds in the record), or null. */
function pairingTimeMs(credentials: WaAuthCredentials | null): number | null {
    const details = credentials?.signedIdentity?.details
    if (!(details instanceof Uint8Array) || details.length === 0) return null
    try {
        const decoded = zapoProto().ADVDeviceIdentity.decode(details)
        const seconds = Number(decoded.timestamp ?? 0)
        return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : null
    } catch {
        return null
    }
}

export interface SessionReport {
    readonly sessionId: string
    readonly jid: string | null
    /** OK, or the most severe failure's code */
    readonly result: ZapoErrorCode
    readonly exitCode: number
    readonly checks: readonly CheckResult[]
    /** names of the failed checks (and, with strict, the warned ones) */
    readonly failures: readonly string[]
    readonly durationMs: number
}

export interface CheckOptions {
    readonly store: StoreSpec
    /** one session, or every session in the store */
    readonly sessions: { readonly all: true } | { readonly all: false; readonly sessionId: string }
    /** only the sessions of this shard (src/util/shard.ts) */
    readonly shard: Shard | null
    readonly concurrency: number
    readonly thresholds: CheckThresholds
    readonly connect: ConnectOptions | null
    /** warnings count as failures (CHECK_FAILED) */
    readonly strict: boolean
}

export interface CheckDeps {
    readonly now?: () => number
    /** called as each session's report is ready (in completion order) */
    readonly onSession?: (report: SessionReport) => void
    /** called just before a login probe starts, per session */
    readonly onConnect?: (sessionId: string) => void
    /** aborting (Ctrl-C) disconnects the login probes and ends the run with CANCELLED */
    readonly signal?: AbortSignal
}

export interface FleetSummary {
    readonly sessions: number
    readonly ok: number
    readonly failed: number
    readonly byResult: Readonly<Partial<Record<ZapoErrorCode, number>>>
    readonly worst: ZapoErrorCode
    readonly exitCode: number
}

export interface CheckReport {
    readonly store: string
    readonly checkedAt: string
    readonly thresholds: CheckThresholds & { readonly connectTimeoutMs: number | null }
    readonly shard: Shard | null
    /** sessions in the store before sharding (null when one session was named) */
    readonly storeSessions: number | null
    /** the installed zapo-js and the primary backend's store package, and whether its peer range holds */
    readonly library: LibraryVersions
    readonly sessions: readonly SessionReport[]
    readonly summary: FleetSummary
}

export interface LibraryVersions {
    readonly zapoJs: string | null
    readonly storePackage: string
    readonly storePackageVersion: string | null
    /** the store package's peer range for zapo-js */
    readonly peerRange: string | null
    /** null when a version or the range is unknown */
    readonly satisfied: boolean | null
}

/** The installed versions behind the store (NOTES: 1.x store packages over zapo-js 0.3 is a known mismatch). */
function libraryVersions(kind: StoreSpec['primary']['kind']): LibraryVersions {
    const storePackage = `@zapo-js/store-${kind}`
    const zapoJs = readInstalledPackage('zapo-js')?.version ?? null
    const pkg = readInstalledPackage(storePackage)
    const peerRange =
        ((pkg?.json.peerDependencies ?? {}) as Record<string, string>)['zapo-js'] ?? null
    let satisfied: boolean | null = null
    if (zapoJs !== null && peerRange !== null) {
        const semver = createRequire(import.meta.url)('semver') as {
            satisfies(v: string, r: string): boolean
        }
        satisfied = semver.satisfies(zapoJs, peerRange)
    }
    return { zapoJs, storePackage, storePackageVersion: pkg?.version ?? null, peerRange, satisfied }
}

/** The shard (1..count) a session id belongs to: the one rule of src/util/shard.ts. */
export { shardOf }

export async function runCheck(options: CheckOptions, deps: CheckDeps = {}): Promise<CheckReport> {
    const now = deps.now ?? Date.now
    // a login writes the session's state (prekeys, the server's answers): offline checks only
    if (options.connect !== null)
        assertWritable(options.store, 'be logged in from (check --connect)')
    const readable = await openForReading(options.store)
    const { store, catalog } = readable
    try {
        let ids: readonly string[]
        let storeSessions: number | null = null
        if (options.sessions.all) {
            const all = await catalog.listSessionIds()
            storeSessions = all.length
            if (all.length === 0) {
                throw new ZapoError(
                    'SESSION_NOT_FOUND',
                    `the store ${options.store.label} holds no sessions: pair one (zapo pair) or fix --store`,
                    {
                        store: options.store.label
                    }
                )
            }
            ids = inShard(all, options.shard)
        } else {
            ids = [options.sessions.sessionId]
        }
        // every session's counts in one pass per table (one query per table and 500 sessions)
        // instead of a catalog pass per session: over a fleet that was most of a check's queries
        // (a failure here is reported per session, where each session reads its own counts)
        const countsById = ids.length > 1 ? await catalog.countsMany(ids).catch(() => null) : null
        // --rate: login starts spaced evenly, whatever --concurrency lets run at once
        const loginSlot =
            options.connect?.rate != null ? startRate(options.connect.rate, deps.signal) : null
        const reports = await mapBounded(ids, Math.max(1, options.concurrency), async id => {
            const report = await checkSession(
                store,
                catalog,
                id,
                options,
                deps,
                now,
                countsById?.get(id),
                loginSlot
            )
            deps.onSession?.(report)
            return report
        })
        if (deps.signal?.aborted)
            throw new ZapoError('CANCELLED', 'check interrupted: its logins were disconnected')
        return {
            store: options.store.label,
            checkedAt: new Date(now()).toISOString(),
            thresholds: {
                ...options.thresholds,
                connectTimeoutMs: options.connect?.timeoutMs ?? null
            },
            shard: options.shard,
            storeSessions,
            library: libraryVersions(options.store.primary.kind),
            sessions: reports,
            summary: summarize(reports)
        }
    } finally {
        await readable.close()
    }
}

function summarize(reports: readonly SessionReport[]): FleetSummary {
    const byResult: Partial<Record<ZapoErrorCode, number>> = {}
    let worst: ZapoErrorCode = 'OK'
    for (const r of reports) {
        byResult[r.result] = (byResult[r.result] ?? 0) + 1
        worst = worstExit([worst, r.result])
    }
    const ok = byResult.OK ?? 0
    return {
        sessions: reports.length,
        ok,
        failed: reports.length - ok,
        byResult,
        worst,
        exitCode: EXIT_CODES[worst]
    }
}

async function checkSession(
    store: OpenedStore,
    catalog: SessionCatalog,
    sessionId: string,
    options: CheckOptions,
    deps: CheckDeps,
    now: () => number,
    known?: SessionCounts,
    loginSlot: (() => Promise<void>) | null = null
): Promise<SessionReport> {
    const started = now()
    const checks: CheckResult[] = []
    let jid: string | null = null
    try {
        // the catalog first: a store contract is only used where the catalog saw records, because
        // the store packages create their tables on first use (a check writes nothing)
        const counts = known ?? (await catalog.counts(sessionId))
        const signal = store.domain('signal', sessionId)
        const hasSignal = counts.registration || counts.signedPreKey
        const credentials = counts.credentials ? await store.domain('auth', sessionId).load() : null
        const registration = counts.registration ? await signal.getRegistrationInfo() : null
        const signedPreKey = counts.signedPreKey ? await signal.getSignedPreKey() : null
        const signedPreKeyRotationTs = hasSignal ? await signal.getSignedPreKeyRotationTs() : null
        jid = credentials?.meJid ?? null
        for (const check of SESSION_CHECKS) {
            const probe: SessionProbe = {
                sessionId,
                now: now(),
                credentials,
                registration,
                signedPreKey,
                signedPreKeyRotationTs,
                counts,
                thresholds: options.thresholds,
                earlier: checks
            }
            const out = await check.run(probe)
            for (const c of Array.isArray(out) ? out : [out as CheckResult]) checks.push(c)
        }
        if (options.connect) {
            const blocking = checks.find(c => c.status === 'fail' && c.code !== 'CHECK_FAILED')
            if (blocking) {
                checks.push(
                    named(
                        'login',
                        result('skip', `not attempted: ${blocking.name} failed`, {
                            threshold: options.connect.timeoutMs,
                            unit: 'ms'
                        })
                    )
                )
            } else {
                if (loginSlot !== null) await loginSlot()
                // one connection per device: the probe holds the session's lease while connected
                const held = await takeLeases(store.primary, [sessionId], {
                    command: 'check --connect',
                    waitMs: options.connect.waitMs ?? 0,
                    ...(deps.signal ? { signal: deps.signal } : {})
                }).catch((error: unknown) => {
                    if (!(error instanceof ZapoError) || error.code !== 'SESSION_BUSY') throw error
                    checks.push(
                        named(
                            'login',
                            result('fail', `not attempted: ${error.message}`, {
                                threshold: options.connect!.timeoutMs,
                                unit: 'ms',
                                code: 'SESSION_BUSY'
                            })
                        )
                    )
                    return null
                })
                if (held !== null) {
                    try {
                        deps.onConnect?.(sessionId)
                        const probe = await probeLogin(store, sessionId, {
                            ...options.connect,
                            holdMessages: true,
                            ...(deps.signal ? { signal: deps.signal } : {})
                        })
                        checks.push(loginResult(probe, options.connect.timeoutMs))
                    } finally {
                        await held.release()
                    }
                }
            }
        }
    } catch (error) {
        checks.push(named('store', storeFailure(error, sessionId, store.spec.label)))
    }
    return finishReport(sessionId, jid, checks, options.strict, now() - started)
}

/** What a probe did with the messages that arrived during its login (none were taken). */
function heldLine(held: number): string {
    if (held === 0) return ''
    return `; ${held} incoming message${held === 1 ? '' : 's'} left unread and unacknowledged for the application (the server delivers ${held === 1 ? 'it' : 'them'} again at the next login)`
}

function loginResult(probe: LoginProbeResult, timeoutMs: number): CheckResult {
    const base = { threshold: timeoutMs, unit: 'ms' as const }
    switch (probe.status) {
        case 'ok':
            return named(
                'login',
                result(
                    'pass',
                    `logged in in ${formatDuration(probe.loginMs)}${probe.restarts > 0 ? ` (after ${probe.restarts} routine 515 restart)` : ''}, then disconnected${heldLine(probe.heldMessages ?? 0)}`,
                    { ...base, value: probe.loginMs }
                )
            )
        case 'refused':
            return named(
                'login',
                result(
                    'fail',
                    `the server refused the login: ${probe.reason}; ${probe.classification.class === 'fatal' ? probe.hint : 'a transient answer: run the check again later'}`,
                    {
                        ...base,
                        value: probe.classification.reason,
                        code: probe.code
                    }
                )
            )
        case 'timeout':
            return named(
                'login',
                result('fail', `no login within ${formatDuration(timeoutMs)}: ${probe.detail}`, {
                    ...base,
                    code: 'TIMEOUT'
                })
            )
        case 'failed':
            return named(
                'login',
                result('fail', `could not connect: ${probe.detail}`, { ...base, code: probe.code })
            )
        case 'cancelled':
            return named('login', result('skip', 'interrupted before the login finished', base))
    }
}

/** A failure reading the session: the store's or the data's, by the store layer's one rule. */
function storeFailure(error: unknown, sessionId: string, store: string): Outcome {
    const failure = sessionFailure(error, { sessionId, store })
    return result('fail', failure.message, { code: failure.code })
}

function finishReport(
    sessionId: string,
    jid: string | null,
    checks: readonly CheckResult[],
    strict: boolean,
    durationMs: number
): SessionReport {
    let worst: ZapoErrorCode = 'OK'
    const failures: string[] = []
    for (const c of checks) {
        if (c.status === 'fail') {
            failures.push(c.name)
            worst = worstExit([worst, c.code ?? 'CHECK_FAILED'])
        } else if (c.status === 'warn' && strict) {
            failures.push(c.name)
            worst = worstExit([worst, 'CHECK_FAILED'])
        }
    }
    return {
        sessionId,
        jid,
        result: worst,
        exitCode: EXIT_CODES[worst],
        checks,
        failures,
        durationMs
    }
}
