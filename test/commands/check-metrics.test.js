/**
 * `zapo check --metrics FILE|-`: the Prometheus text exposition format, parsed back with a
 * parser library and compared with the JSON report of the same run; written atomically with
 * mode 0644; `-` puts the metrics on stdout and the human report on stderr. And --rate: bad
 * values refused, the start rate spacing waiters.
 */

import assert from 'node:assert/strict'
import { readdirSync, statSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import parsePrometheus from 'parse-prometheus-text-format'
import { startRate } from '../../dist/util/concurrency.js'
import { assertOneErrorLine } from '../helpers/cli-assert.js'
import { tempDir } from '../helpers/export.js'
import { dropStore, makeSession, openTestStore, storeUrls } from '../helpers/fixtures.js'
import { runZapo } from '../helpers/run.js'
import { UNPAIRED_SHAPE } from '../helpers/shapes.js'

/** name → [{ labels, value (number) }] */
function parse(text) {
    const out = new Map()
    for (const family of parsePrometheus(text)) {
        assert.equal(family.type, 'GAUGE', family.name)
        assert.ok(family.help.length > 0, `${family.name} has a HELP line`)
        out.set(
            family.name,
            family.metrics.map(m => ({ labels: m.labels, value: Number(m.value) }))
        )
    }
    return out
}

function value(metrics, name, labels) {
    const found = (metrics.get(name) ?? []).filter(m =>
        Object.entries(labels).every(([k, v]) => m.labels[k] === v)
    )
    assert.equal(found.length, 1, `${name} ${JSON.stringify(labels)}: ${found.length} series`)
    return found[0].value
}

describe('zapo check --metrics', () => {
    const url = storeUrls().sqlite
    before(async () => {
        const store = await openTestStore(url, 'write')
        try {
            // healthy, short of prekeys (12 < 20), never paired
            await makeSession(store, 'm-ok', { preKeys: 30, uploaded: 25 })
            await makeSession(store, 'm-low', { preKeys: 30, uploaded: 12 })
            await makeSession(store, 'm-new', { ...UNPAIRED_SHAPE, preKeys: 1 })
        } finally {
            await store.close()
        }
    })
    after(() => dropStore(url))

    test('FILE: the exposition format, the same numbers as the JSON report', async t => {
        const dir = tempDir(t)
        const file = join(dir, 'zapo.prom')
        writeFileSync(file, 'stale\n')
        const run = await runZapo(['--store', url, 'check', '--all', '--json', '--metrics', file])
        const report = JSON.parse(run.stdout)
        assert.equal(run.code, 6, run.stderr)
        assert.equal(statSync(file).mode & 0o777, 0o644, 'node_exporter can read it')
        assert.deepEqual(readdirSync(dir), ['zapo.prom'], 'no temporary file left')
        const m = parse(readFileSync(file, 'utf8'))

        for (const s of report.sessions) {
            const session = s.sessionId
            assert.equal(value(m, 'zapo_session_exit_code', { session }), s.exitCode)
            assert.equal(value(m, 'zapo_session_result', { session, result: s.result }), 1)
            for (const c of s.checks)
                assert.equal(
                    value(m, 'zapo_check_outcome', { session, check: c.name, outcome: c.status }),
                    1
                )
            assert.equal(
                m.get('zapo_check_outcome').filter(x => x.labels.session === session).length,
                s.checks.length,
                'one outcome per check'
            )
        }
        assert.equal(value(m, 'zapo_session_paired', { session: 'm-ok' }), 1)
        assert.equal(value(m, 'zapo_session_paired', { session: 'm-new' }), 0)
        assert.equal(value(m, 'zapo_session_prekeys_uploaded', { session: 'm-ok' }), 25)
        assert.equal(value(m, 'zapo_session_prekeys_uploaded', { session: 'm-low' }), 12)
        assert.equal(
            value(m, 'zapo_check_outcome', {
                session: 'm-low',
                check: 'prekey-stock',
                outcome: 'fail'
            }),
            1
        )
        assert.equal(value(m, 'zapo_session_exit_code', { session: 'm-low' }), 9)
        assert.equal(value(m, 'zapo_session_exit_code', { session: 'm-new' }), 6)
        // the fixture's last login is an hour ago; its signed prekey rotated two days ago
        const since = value(m, 'zapo_session_since_login_seconds', { session: 'm-ok' })
        assert.ok(since >= 3_600 && since < 3_700, `since login ${since}`)
        const age = value(m, 'zapo_session_signed_prekey_age_seconds', { session: 'm-ok' })
        assert.ok(age >= 2 * 86_400 && age < 2 * 86_400 + 120, `signed prekey age ${age}`)
        // an unpaired session has no login or key age to measure: left out, not 0
        assert.equal(
            m.get('zapo_session_since_login_seconds').some(x => x.labels.session === 'm-new'),
            false
        )

        // the run
        const shard = { shard: 'all' }
        assert.equal(value(m, 'zapo_check_run_exit_code', shard), run.code)
        for (const [result, n] of Object.entries(report.summary.byResult))
            assert.equal(value(m, 'zapo_check_run_sessions', { ...shard, result }), n)
        assert.equal(value(m, 'zapo_check_run_sessions', { ...shard, result: 'OK' }), 1)
        const duration = value(m, 'zapo_check_run_duration_seconds', shard)
        assert.ok(duration > 0 && duration < 120, `duration ${duration}`)
        const at = value(m, 'zapo_check_run_timestamp_seconds', shard)
        assert.ok(Math.abs(at - Date.now() / 1000) < 120, `timestamp ${at}`)
    })

    test('-: metrics on stdout, the human report on stderr; shards label the run', async () => {
        const run = await runZapo([
            '--store',
            url,
            'check',
            '--all',
            '--shard',
            '1/1',
            '--metrics',
            '-'
        ])
        assert.equal(run.code, 6)
        const m = parse(run.stdout)
        assert.equal(value(m, 'zapo_check_run_exit_code', { shard: '1/1' }), 6)
        assert.match(run.stderr, /3 sessions \(shard 1\/1 of 3\)/)
        assert.doesNotMatch(run.stdout, /sessions \(shard/)
    })

    test('bad --metrics and --rate: one usage line, exit 2, no file', async t => {
        const dir = tempDir(t)
        const sqlitePath = url.slice('sqlite:'.length)
        for (const [args, pattern] of [
            [['--metrics', '-', '--json'], /both write to stdout/],
            [['--metrics', join(dir, 'nope', 'x.prom')], /does not exist/],
            [['--metrics', dir], /is a directory/],
            [['--metrics', sqlitePath], /refusing to write/],
            [['--rate', '2'], /only applies with --connect/],
            [['--connect', '--rate', '0'], /--rate "0"/],
            [['--connect', '--rate', 'fast'], /--rate "fast"/],
            [['--connect', '--rate', '1e9'], /--rate "1e9"/]
        ]) {
            const run = await runZapo(['--store', url, 'check', '--all', ...args])
            assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`)
            assertOneErrorLine(run, pattern)
        }
        assert.deepEqual(readdirSync(dir), [])
        assert.ok(statSync(sqlitePath).size > 0, 'the store is untouched')
    })
})

describe('startRate (check --rate)', () => {
    test('the first start is immediate, the next ones 1/N s apart', async () => {
        const slot = startRate(20)
        const t0 = performance.now()
        const times = []
        await Promise.all(
            Array.from({ length: 5 }, () => slot().then(() => times.push(performance.now() - t0)))
        )
        times.sort((a, b) => a - b)
        assert.ok(times[0] < 40, `first at ${times[0]} ms`)
        for (let i = 1; i < times.length; i += 1)
            assert.ok(times[i] >= i * 50 - 5, `start ${i} at ${times[i]} ms, not before ${i * 50}`)
    })

    test('aborting releases the waiters at once', async () => {
        const controller = new AbortController()
        const slot = startRate(0.1, controller.signal)
        await slot()
        const t0 = performance.now()
        const waiting = slot()
        controller.abort()
        await waiting
        assert.ok(performance.now() - t0 < 1_000)
    })
})
