/**
 * `zapo check --metrics`: a check report as the Prometheus text exposition format (for
 * node_exporter's textfile collector, a Pushgateway, or any scraper), built with prom-client on a
 * registry of its own. Pure: report in, text out; the command writes it (atomically).
 *
 * Per session (label `session`):
 *   zapo_check_outcome{session,check,outcome}        1 for each check's outcome (pass|warn|fail|skip)
 *   zapo_session_result{session,result}              1 for the session's result (OK or an error code)
 *   zapo_session_exit_code{session}                  the exit code of that result
 *   zapo_session_paired{session}                     1 paired, 0 not (or no credentials)
 *   zapo_session_prekeys_uploaded{session}           uploaded one-time prekeys not used yet
 *   zapo_session_signed_prekey_age_seconds{session}  age of the current signed prekey
 *   zapo_session_since_login_seconds{session}        time since the last successful login
 *   zapo_session_login_seconds{session}              with --connect: how long the login took
 * Per run (label `shard`: "K/N", or "all", so that the files of several shards can sit in one
 * textfile directory without two of them exporting the same series):
 *   zapo_check_run_sessions{shard,result}            sessions per result (OK is always present)
 *   zapo_check_run_exit_code{shard}                  the run's exit code
 *   zapo_check_run_duration_seconds{shard}           how long the run took
 *   zapo_check_run_timestamp_seconds{shard}          when it finished (for "no recent run" alerts)
 * A value a check could not measure (skipped, nothing recorded) is left out, not exported as 0.
 */

import type { CheckReport } from './check.js'

export interface MetricsOptions {
    /** how long the run took (ms) */
    readonly durationMs: number
    /** when it finished (ms since epoch) */
    readonly finishedAt: number
}

export async function checkMetricsText(
    report: CheckReport,
    options: MetricsOptions
): Promise<string> {
    const { Gauge, Registry } = (await import('prom-client')).default
    const registry = new Registry()
    const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
        new Gauge<L>({ name, help, labelNames: [...labelNames], registers: [registry] })

    const outcome = gauge(
        'zapo_check_outcome',
        'Outcome of one check of one session: 1 for the outcome it had (pass, warn, fail, skip).',
        ['session', 'check', 'outcome']
    )
    const result = gauge(
        'zapo_session_result',
        "The session's result: 1 for OK or the code of its most severe failure.",
        ['session', 'result']
    )
    const exitCode = gauge(
        'zapo_session_exit_code',
        'The exit code a check of this session alone returns (0 when every check passed).',
        ['session']
    )
    const paired = gauge(
        'zapo_session_paired',
        'Whether the stored credentials are paired with a phone (1) or not (0).',
        ['session']
    )
    const preKeys = gauge(
        'zapo_session_prekeys_uploaded',
        'Uploaded one-time prekeys the server can still hand out (below the low-water mark the check fails).',
        ['session']
    )
    const signedAge = gauge(
        'zapo_session_signed_prekey_age_seconds',
        'Age of the current signed prekey in seconds.',
        ['session']
    )
    const sinceLogin = gauge(
        'zapo_session_since_login_seconds',
        'Seconds since the last successful login recorded in the credentials.',
        ['session']
    )
    const login = gauge('zapo_session_login_seconds', 'With --connect: seconds the login took.', [
        'session'
    ])
    const runSessions = gauge(
        'zapo_check_run_sessions',
        'Sessions of the run per result (OK or an error code).',
        ['shard', 'result']
    )
    const runExit = gauge('zapo_check_run_exit_code', "The run's exit code.", ['shard'])
    const runDuration = gauge(
        'zapo_check_run_duration_seconds',
        'How long the run took in seconds.',
        ['shard']
    )
    const runTimestamp = gauge(
        'zapo_check_run_timestamp_seconds',
        'When the run finished, in seconds since the Unix epoch.',
        ['shard']
    )

    for (const s of report.sessions) {
        const session = s.sessionId
        for (const c of s.checks) outcome.set({ session, check: c.name, outcome: c.status }, 1)
        result.set({ session, result: s.result }, 1)
        exitCode.set({ session }, s.exitCode)
        const byName = new Map(s.checks.map(c => [c.name, c]))
        const pairedCheck = byName.get('paired')
        paired.set({ session }, pairedCheck?.status === 'pass' ? 1 : 0)
        const number = (name: string): number | null => {
            const v = byName.get(name)?.value
            return typeof v === 'number' && Number.isFinite(v) ? v : null
        }
        const stock = number('prekey-stock')
        if (stock !== null) preKeys.set({ session }, stock)
        const age = number('signed-prekey-age')
        if (age !== null) signedAge.set({ session }, age / 1000)
        const since = number('since-login')
        if (since !== null) sinceLogin.set({ session }, since / 1000)
        const loginMs = byName.get('login')?.status === 'pass' ? number('login') : null
        if (loginMs !== null) login.set({ session }, loginMs / 1000)
    }
    const shard = report.shard ? `${report.shard.index}/${report.shard.count}` : 'all'
    runSessions.set({ shard, result: 'OK' }, report.summary.byResult.OK ?? 0)
    for (const [code, n] of Object.entries(report.summary.byResult))
        runSessions.set({ shard, result: code }, n ?? 0)
    runExit.set({ shard }, report.summary.exitCode)
    runDuration.set({ shard }, options.durationMs / 1000)
    runTimestamp.set({ shard }, Math.floor(options.finishedAt / 1000))
    return registry.metrics()
}
