/**
 * `zapo check`, run as the built binary: offline checks over real stores (SQLite, PostgreSQL,
 * MariaDB, Redis; MongoDB when MONGODB_URI is set), every exit code, --all with the worst
 * result, --shard partitions, and --connect against the sandbox (success, refusals, timeout).
 */

import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { runCheck, shardOf } from '../../dist/ops/check.js'
import { parseShard } from '../../dist/commands/check.js'
import { parseStoreUrl, singleStore } from '../../dist/store/address.js'
import { EXIT_CODES, SEVERITY } from '../../dist/errors.js'
import { startSandbox } from '../../dist/sandbox/index.js'
import { dropStore, makeSession, openTestStore, storeUrls } from '../helpers/fixtures.js'
import { runZapo } from '../helpers/run.js'

const cwd = mkdtempSync(join(tmpdir(), 'zapo-check-'))
const env = {
    ZAPO_STORE: undefined,
    ZAPO_SESSION: undefined,
    ZAPO_CONFIG: undefined,
    ZAPO_SERVER: undefined,
    ZAPO_SERVER_ROOT_CA: undefined
}
const zapo = (args, options = {}) => runZapo(args, { cwd, env, ...options })

const HEALTHY = { preKeys: 40, uploaded: 30 }

/** The three sessions of the done-when: healthy, unpaired, corrupted signed prekey. */
async function makeFleet(store) {
    await makeSession(store, 'healthy', HEALTHY)
    await makeSession(store, 'unpaired', { ...HEALTHY, paired: false })
    const bad = await makeSession(store, 'corrupt', HEALTHY)
    // a different, validly shaped signature in the signal domain: the two domains disagree
    const signature = new Uint8Array(bad.signedPreKey.signature)
    signature[7] ^= 0x5a
    await store.domain('signal', 'corrupt').setSignedPreKey({ ...bad.signedPreKey, signature })
}

function byName(session, name) {
    const check = session.checks.find(c => c.name === name)
    assert.ok(check, `check ${name} in ${session.checks.map(c => c.name).join(', ')}`)
    return check
}

function parseReport(result) {
    assert.doesNotThrow(
        () => JSON.parse(result.stdout),
        `one JSON document on stdout, got: ${result.stdout}\n${result.stderr}`
    )
    return JSON.parse(result.stdout)
}

describe(
    'zapo check --all over a store with one healthy, one unpaired and one corrupted session',
    { concurrency: true },
    () => {
        const urls = storeUrls()
        for (const backend of ['sqlite', 'postgres', 'mysql', 'redis', 'mongo']) {
            test(`${backend}: worst exit code and a report naming each failure`, async t => {
                if (!urls[backend]) return t.skip('MONGODB_URI not set')
                const store = await openTestStore(urls[backend], 'write')
                try {
                    await makeFleet(store)
                } finally {
                    await store.close()
                }
                t.after(() => dropStore(urls[backend]))

                const result = await zapo(['--store', urls[backend], 'check', '--all', '--json'])
                assert.equal(result.code, 5, `INTEGRITY is the worst result\n${result.stderr}`)
                const report = parseReport(result)
                assert.deepEqual(
                    report.sessions.map(s => [s.sessionId, s.result, s.exitCode]),
                    [
                        ['corrupt', 'INTEGRITY', 5],
                        ['healthy', 'OK', 0],
                        ['unpaired', 'NOT_PAIRED', 6]
                    ]
                )
                const [corrupt, healthy, unpaired] = report.sessions
                assert.deepEqual(corrupt.failures, ['integrity.signal-signed-prekey'])
                assert.match(
                    byName(corrupt, 'integrity.signal-signed-prekey').detail,
                    /signed prekey .*differs/
                )
                assert.deepEqual(unpaired.failures, ['paired'])
                assert.equal(byName(unpaired, 'paired').status, 'fail')
                assert.equal(byName(unpaired, 'prekey-stock').status, 'skip')
                assert.deepEqual(healthy.failures, [])
                assert.ok(
                    healthy.checks.every(c => c.status === 'pass'),
                    JSON.stringify(healthy.checks)
                )
                assert.equal(healthy.jid, `${healthy.jid.split(':')[0]}:12@s.whatsapp.net`)
                assert.deepEqual(report.summary, {
                    sessions: 3,
                    ok: 1,
                    failed: 2,
                    byResult: { INTEGRITY: 1, OK: 1, NOT_PAIRED: 1 },
                    worst: 'INTEGRITY',
                    exitCode: 5
                })
                // every check carries status, value and threshold
                for (const s of report.sessions) {
                    for (const c of s.checks) {
                        assert.ok(['pass', 'warn', 'fail', 'skip'].includes(c.status), c.name)
                        assert.ok('value' in c && 'threshold' in c, c.name)
                    }
                }
                assert.equal(report.library.storePackage, `@zapo-js/store-${backend}`)
                assert.equal(typeof report.library.zapoJs, 'string')
                const stock = byName(healthy, 'prekey-stock')
                assert.deepEqual([stock.value, stock.threshold, stock.unit], [30, 20, 'keys'])
            })
        }

        test('human output: one line per session, failures named, a fleet summary', async t => {
            const url = storeUrls().sqlite
            const store = await openTestStore(url, 'write')
            await makeFleet(store)
            await store.close()
            t.after(() => dropStore(url))
            const result = await zapo(['--store', url, 'check', '--all', '--concurrency', '2'])
            assert.equal(result.code, 5)
            assert.match(
                result.stdout,
                /✗ corrupt .* INTEGRITY\n\s+✗ integrity\.signal-signed-prekey/
            )
            assert.match(result.stdout, /✓ healthy .* OK\n/)
            assert.match(result.stdout, /✗ unpaired\s+NOT_PAIRED\n\s+✗ paired\s+.*zapo pair/)
            assert.match(
                result.stdout,
                /3 sessions: 1 ok, 2 failed \(INTEGRITY 1, NOT_PAIRED 1\); worst INTEGRITY → exit 5\n$/
            )
            // stderr: at most the installed-version note (zapo-js 0.3 under 1.x store packages), never a result
            assert.match(
                result.stderr,
                /^(zapo: note: @zapo-js\/store-sqlite \S+ declares peer zapo-js \S+, installed zapo-js \S+ does not satisfy it \(zapo doctor lists what that breaks\)\n)?$/
            )
        })
    }
)

describe('zapo check --session: one outcome per exit code', { concurrency: true }, () => {
    const url = storeUrls().sqlite
    const store = { url }

    before(async () => {
        const s = await openTestStore(url, 'write')
        try {
            await makeFleet(s)
            await makeSession(s, 'low-stock', { preKeys: 12, uploaded: 5 })
            const stale = await makeSession(s, 'stale', HEALTHY)
            await s
                .domain('signal', 'stale')
                .setSignedPreKeyRotationTs(Date.now() - 40 * 86_400_000)
            await s.domain('auth', 'stale').save({
                ...stale.credentials,
                lastSuccessTs: Math.floor(Date.now() / 1000) - 20 * 86_400
            })
            // the same age written in milliseconds (other tools and versions do): the same verdict
            const staleMs = await makeSession(s, 'stale-ms', HEALTHY)
            await s.domain('auth', 'stale-ms').save({
                ...staleMs.credentials,
                lastSuccessTs: Date.now() - 20 * 86_400_000
            })
            const norotation = await makeSession(s, 'no-rotation', HEALTHY)
            await s.domain('signal', 'no-rotation').setSignedPreKeyRotationTs(null)
            assert.ok(norotation)
        } finally {
            await s.close()
        }
    })
    after(() => dropStore(url))

    test('healthy: exit 0, every check listed', async () => {
        const result = await zapo(['--store', store.url, 'check', '--session', 'healthy'])
        assert.equal(result.code, 0, result.stderr)
        for (const name of [
            'credentials',
            'paired',
            'integrity',
            'signed-prekey-age',
            'prekey-stock',
            'since-login'
        ]) {
            assert.match(result.stdout, new RegExp(`✓ ${name}\\b`), name)
        }
        assert.match(result.stdout, /ok: every check passed \(exit 0\)/)
    })

    test('unpaired → 6, corrupted → 5, missing → 3', async () => {
        const unpaired = await zapo(['--store', store.url, 'check', '--session', 'unpaired'])
        assert.equal(unpaired.code, 6)
        assert.match(unpaired.stdout, /✗ paired .*not paired.*zapo pair/)
        const corrupt = await zapo([
            '--store',
            store.url,
            'check',
            '--session',
            'corrupt',
            '--json'
        ])
        assert.equal(corrupt.code, 5)
        assert.equal(parseReport(corrupt).sessions[0].result, 'INTEGRITY')
        const missing = await zapo(['--store', store.url, 'check', '--session', 'nobody', '--json'])
        assert.equal(missing.code, 3)
        const report = parseReport(missing)
        assert.equal(byName(report.sessions[0], 'credentials').status, 'fail')
        assert.equal(report.sessions[0].result, 'SESSION_NOT_FOUND')
    })

    test('prekey stock below the low-water mark → 9; the flag and the config file move the mark', async () => {
        const low = await zapo(['--store', store.url, 'check', '--session', 'low-stock', '--json'])
        assert.equal(low.code, 9)
        const stock = byName(parseReport(low).sessions[0], 'prekey-stock')
        assert.deepEqual([stock.status, stock.value, stock.threshold], ['fail', 5, 20])

        const flag = await zapo([
            '--store',
            store.url,
            'check',
            '--session',
            'low-stock',
            '--min-prekeys',
            '5'
        ])
        assert.equal(flag.code, 0, flag.stdout)

        const dir = mkdtempSync(join(tmpdir(), 'zapo-check-config-'))
        writeFileSync(
            join(dir, 'zapo.config.json'),
            JSON.stringify({ store: store.url, check: { minPreKeys: 4 } })
        )
        const config = await runZapo(['check', '--session', 'low-stock', '--json'], {
            cwd: dir,
            env
        })
        assert.equal(config.code, 0, config.stdout)
        assert.equal(parseReport(config).thresholds.minPreKeys, 4)

        writeFileSync(
            join(dir, 'zapo.config.json'),
            JSON.stringify({ store: store.url, check: { minPrekeys: 4 } })
        )
        const typo = await runZapo(['check', '--session', 'low-stock'], { cwd: dir, env })
        assert.equal(typo.code, 2)
        assert.match(typo.stderr, /unknown key check\.minPrekeys \(known: minPreKeys/)
    })

    test('old signed prekey and old last login → 9 with values and thresholds', async () => {
        const result = await zapo(['--store', store.url, 'check', '--session', 'stale', '--json'])
        assert.equal(result.code, 9)
        const session = parseReport(result).sessions[0]
        assert.deepEqual(session.failures, ['signed-prekey-age', 'since-login'])
        const age = byName(session, 'signed-prekey-age')
        assert.equal(age.threshold, 30 * 86_400_000)
        assert.ok(
            age.value >= 40 * 86_400_000 - 60_000 && age.value < 41 * 86_400_000,
            String(age.value)
        )
        const login = byName(session, 'since-login')
        assert.equal(login.threshold, 14 * 86_400_000)
        assert.ok(login.value >= 20 * 86_400_000 - 60_000, String(login.value))

        const relaxed = await zapo([
            '--store',
            store.url,
            'check',
            '--session',
            'stale',
            '--max-signed-prekey-age',
            '45d',
            '--max-since-login',
            '21d'
        ])
        assert.equal(relaxed.code, 0, relaxed.stdout)
    })

    test('a last login stored in milliseconds is read as such (one timestamp rule): 20 days old → 9', async () => {
        const result = await zapo([
            '--store',
            store.url,
            'check',
            '--session',
            'stale-ms',
            '--json'
        ])
        assert.equal(result.code, 9, result.stdout + result.stderr)
        const session = parseReport(result).sessions[0]
        assert.deepEqual(session.failures, ['since-login'])
        const login = byName(session, 'since-login')
        assert.ok(
            login.value >= 20 * 86_400_000 - 60_000 && login.value < 21 * 86_400_000,
            String(login.value)
        )
    })

    test('no rotation time stored: the pairing time is used and said so (a warning; --strict fails it)', async () => {
        const result = await zapo([
            '--store',
            store.url,
            'check',
            '--session',
            'no-rotation',
            '--json'
        ])
        assert.equal(result.code, 0)
        const age = byName(parseReport(result).sessions[0], 'signed-prekey-age')
        assert.equal(age.status, 'warn')
        assert.match(age.detail, /no rotation recorded; the pairing time from the ADV identity/)
        assert.ok(age.value >= 86_400_000 - 60_000, 'the fixture pairs a day ago')
        const strict = await zapo([
            '--store',
            store.url,
            'check',
            '--session',
            'no-rotation',
            '--strict'
        ])
        assert.equal(strict.code, 9)
        assert.match(strict.stdout, /CHECK_FAILED \(exit 9\): signed-prekey-age/)
    })

    test('store unreachable → 4; bad flags → 2', async () => {
        const down = await zapo([
            '--store',
            'postgres://127.0.0.1:1/none',
            'check',
            '--session',
            'healthy',
            '--json'
        ])
        assert.equal(down.code, 4)
        assert.equal(JSON.parse(down.stdout).error.code, 'STORE_UNAVAILABLE')
        const missingFile = await zapo([
            '--store',
            join(cwd, 'nothing-here.sqlite'),
            'check',
            '--all'
        ])
        assert.equal(missingFile.code, 3)
        for (const args of [
            ['--all', '--session', 'x'],
            ['--session', 'x', '--shard', '1/2'],
            ['--all', '--shard', '0/2'],
            ['--all', '--shard', '3/2'],
            ['--all', '--shard', 'half'],
            ['--session', 'x', '--timeout', '5s'],
            ['--session', 'x', '--min-prekeys', 'many'],
            ['--all', '--concurrency', '0']
        ]) {
            const result = await zapo(['--store', store.url, 'check', ...args])
            assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`)
            assert.match(result.stderr, /^zapo: .*\n$/, args.join(' '))
        }
    })
})

test('a database without zapo tables: no such session (3), and nothing is created', async () => {
    const urls = storeUrls()
    const pg = await import('pg')
    for (const args of [['--session', 'x'], ['--all']]) {
        const result = await zapo(['--store', urls.postgres, 'check', ...args, '--json'])
        assert.equal(result.code, 3, result.stdout + result.stderr)
    }
    const prefix = new URL(urls.postgres).searchParams.get('tablePrefix')
    const pool = new pg.default.Pool({
        connectionString: urls.postgres.replace(/\?.*$/, ''),
        max: 1
    })
    try {
        const { rows } = await pool.query(
            'SELECT count(*)::int AS n FROM information_schema.tables WHERE table_name LIKE $1',
            [`${prefix}%`]
        )
        assert.equal(rows[0].n, 0, 'no table created by a check')
    } finally {
        await pool.end()
        await dropStore(urls.postgres)
    }
})

describe('zapo check --all --shard K/N', () => {
    const url = storeUrls().sqlite
    const ids = Array.from({ length: 14 }, (_, i) => `tenant-${String(i).padStart(2, '0')}`)
    before(async () => {
        const s = await openTestStore(url, 'write')
        try {
            // unpaired sessions are the cheapest to make; sharding does not look at health
            for (const id of ids) {
                await makeSession(s, id, {
                    paired: false,
                    preKeys: 1,
                    uploaded: 0,
                    signalSessions: 0,
                    identities: 0,
                    senderKeys: 0,
                    distributions: 0,
                    appStateKeys: 0,
                    collections: 0,
                    privacyTokens: 0
                })
            }
        } finally {
            await s.close()
        }
    })
    after(() => dropStore(url))

    test('the union over K = 1..N is every session, and the parts are disjoint', async () => {
        for (const n of [1, 4]) {
            const parts = []
            const runs = await Promise.all(
                Array.from({ length: n }, (_, i) =>
                    zapo(['--store', url, 'check', '--all', '--shard', `${i + 1}/${n}`, '--json'])
                )
            )
            for (let k = 1; k <= n; k += 1) {
                const result = runs[k - 1]
                const report = parseReport(result)
                assert.deepEqual(report.shard, { index: k, count: n })
                assert.equal(report.storeSessions, ids.length)
                const got = report.sessions.map(s => s.sessionId)
                assert.deepEqual(
                    got,
                    ids.filter(id => shardOf(id, n) === k),
                    'sha256(id) mod N == K-1'
                )
                assert.equal(result.code, got.length > 0 ? 6 : 0)
                parts.push(got)
            }
            const all = parts.flat()
            assert.equal(new Set(all).size, all.length, `disjoint for N=${n}`)
            assert.deepEqual([...all].sort(), ids, `union for N=${n}`)
            if (n === 4)
                assert.ok(
                    parts.filter(p => p.length > 0).length >= 3,
                    'the hash spreads 14 ids over the parts'
                )
        }
    })
})

describe('zapo check --connect against the sandbox', () => {
    const url = storeUrls().sqlite
    let sandbox
    before(async () => {
        sandbox = await startSandbox()
        const s = await openTestStore(url, 'write')
        try {
            for (const id of ['ok', 'forced-out', 'replaced', 'slow'])
                await makeSession(s, id, HEALTHY)
            await makeSession(s, 'unpaired', { ...HEALTHY, paired: false })
        } finally {
            await s.close()
        }
    })
    after(async () => {
        await sandbox.close()
        await dropStore(url)
    })
    const server = () => ['--server', sandbox.url, '--server-root-ca', sandbox.rootCa]

    test('a real login: time reported, disconnect afterwards, a warning on stderr first', async () => {
        const logins = []
        const onLogin = e => logins.push(e.jid)
        sandbox.on('login', onLogin)
        const result = await zapo([
            '--store',
            url,
            'check',
            '--session',
            'ok',
            '--connect',
            ...server(),
            '--settle',
            '200ms',
            '--json'
        ])
        sandbox.off('login', onLogin)
        assert.equal(result.code, 0, result.stderr)
        const session = parseReport(result).sessions[0]
        const login = byName(session, 'login')
        assert.equal(login.status, 'pass')
        assert.equal(typeof login.value, 'number')
        assert.ok(login.value > 0 && login.value < 30_000, String(login.value))
        assert.deepEqual([login.threshold, login.unit], [30_000, 'ms'])
        assert.match(login.detail, /logged in in \d+(ms|\.\ds), then disconnected/)
        assert.match(
            result.stderr,
            /an app running with the same session is disconnected \("replaced"\)/
        )
        assert.deepEqual(logins, [session.jid])
        const device = sandbox.devices().find(d => d.jid === session.jid)
        assert.equal(device.connected, false, 'disconnected after the check')
    })

    test('the server logs the device out right after the login (516) → 10, and nothing is removed locally', async () => {
        const inject = e => void sandbox.fault(e.jid, 'force_logout').catch(() => undefined)
        sandbox.on('login', inject)
        const result = await zapo([
            '--store',
            url,
            'check',
            '--session',
            'forced-out',
            '--connect',
            ...server()
        ])
        sandbox.off('login', inject)
        assert.equal(result.code, 10, result.stdout + result.stderr)
        assert.match(
            result.stdout,
            /✗ login\s+the server refused the login: the server logged the device out \(516\); re-pair the device: zapo pair --session forced-out/
        )
        assert.match(result.stdout, /LOGGED_OUT \(exit 10\): login/)
        // a check never wipes: the credentials are still there (the library would clear them)
        const s = await openTestStore(url, 'read')
        try {
            assert.ok(await s.domain('auth', 'forced-out').load(), 'credentials kept')
            assert.ok(
                await s.domain('signal', 'forced-out').getRegistrationInfo(),
                'signal state kept'
            )
        } finally {
            await s.close()
        }
        // the device is gone on the server now: the next check is refused at login (401) → 10
        const again = await zapo([
            '--store',
            url,
            'check',
            '--session',
            'forced-out',
            '--connect',
            ...server(),
            '--json'
        ])
        assert.equal(again.code, 10)
        assert.equal(
            byName(parseReport(again).sessions[0], 'login').value,
            'failure_not_authorized'
        )
    })

    test('another connection takes over → 11', async () => {
        const inject = e => void sandbox.fault(e.jid, 'replaced').catch(() => undefined)
        sandbox.on('login', inject)
        const result = await zapo([
            '--store',
            url,
            'check',
            '--session',
            'replaced',
            '--connect',
            ...server(),
            '--json'
        ])
        sandbox.off('login', inject)
        assert.equal(result.code, 11, result.stderr)
        const login = byName(parseReport(result).sessions[0], 'login')
        assert.equal(login.value, 'stream_error_replaced')
        assert.match(login.detail, /replaced by another connection.*stop the other app/)
    })

    test('a transient refusal (503) → 14, reported as worth a later retry', async () => {
        const inject = e => void sandbox.fault(e.jid, 'service_unavailable').catch(() => undefined)
        sandbox.on('login', inject)
        const result = await zapo([
            '--store',
            url,
            'check',
            '--session',
            'ok',
            '--connect',
            ...server(),
            '--json'
        ])
        sandbox.off('login', inject)
        assert.equal(result.code, 14, result.stderr)
        const login = byName(parseReport(result).sessions[0], 'login')
        assert.equal(login.code, 'CONNECTION_FAILED')
        assert.match(
            login.detail,
            /the service is unavailable \(503\); a transient answer: run the check again later/
        )
    })

    test('a routine 515 right after the login is followed once', async () => {
        let injected = 0
        const inject = e => {
            if (injected++ === 0) void sandbox.fault(e.jid, 'restart').catch(() => undefined)
        }
        sandbox.on('login', inject)
        const result = await zapo([
            '--store',
            url,
            'check',
            '--session',
            'slow',
            '--connect',
            ...server(),
            '--settle',
            '500ms',
            '--json'
        ])
        sandbox.off('login', inject)
        assert.equal(result.code, 0, result.stdout)
        assert.match(
            byName(parseReport(result).sessions[0], 'login').detail,
            /after 1 routine 515 restart/
        )
    })

    test('a server that accepts the socket but never answers → 8 within --timeout', async t => {
        const silent = createServer()
        silent.on('upgrade', () => undefined) // hold the WebSocket upgrade forever
        await new Promise(resolve => silent.listen(0, '127.0.0.1', resolve))
        t.after(() => {
            silent.closeAllConnections()
            silent.close()
        })
        const started = Date.now()
        const result = await zapo([
            '--store',
            url,
            'check',
            '--session',
            'ok',
            '--connect',
            '--timeout',
            '1s',
            '--server',
            `ws://127.0.0.1:${silent.address().port}/ws/chat`,
            '--server-root-ca',
            sandbox.rootCa,
            '--json'
        ])
        assert.equal(result.code, 8, result.stdout)
        assert.ok(Date.now() - started < 10_000, "gave up at the timeout, not the library's own")
        const login = byName(parseReport(result).sessions[0], 'login')
        assert.equal(login.code, 'TIMEOUT')
        assert.match(login.detail, /no login within 1s/)
    })

    test('nothing listens at the server address → 14', async () => {
        const result = await zapo([
            '--store',
            url,
            'check',
            '--session',
            'ok',
            '--connect',
            '--timeout',
            '1s',
            '--server',
            'ws://127.0.0.1:1/ws/chat',
            '--server-root-ca',
            sandbox.rootCa
        ])
        assert.equal(result.code, 14, result.stdout)
        assert.match(
            result.stdout,
            /✗ login\s+could not connect: connection refused by 127\.0\.0\.1:1 \(ws:\/\/127\.0\.0\.1:1\/ws\/chat\)/
        )
    })

    test('--all --connect: logins run concurrently, the worst refusal is the exit code', async t => {
        const fleetUrl = storeUrls().sqlite
        t.after(() => dropStore(fleetUrl))
        const s = await openTestStore(fleetUrl, 'write')
        const made = []
        try {
            for (const id of ['fleet-a', 'fleet-b', 'fleet-c', 'fleet-d'])
                made.push(await makeSession(s, id, HEALTHY))
        } finally {
            await s.close()
        }
        const kicked = made[1].credentials.meJid
        const inject = e => {
            if (e.jid === kicked) void sandbox.fault(e.jid, 'replaced').catch(() => undefined)
        }
        sandbox.on('login', inject)
        const result = await zapo([
            '--store',
            fleetUrl,
            'check',
            '--all',
            '--connect',
            '--concurrency',
            '4',
            '--settle',
            '500ms',
            ...server(),
            '--json'
        ])
        sandbox.off('login', inject)
        assert.equal(result.code, 11, result.stderr)
        const report = parseReport(result)
        assert.deepEqual(
            report.sessions.map(x => [x.sessionId, x.result]),
            [
                ['fleet-a', 'OK'],
                ['fleet-b', 'REPLACED'],
                ['fleet-c', 'OK'],
                ['fleet-d', 'OK']
            ]
        )
        assert.deepEqual(report.summary.byResult, { OK: 3, REPLACED: 1 })
        for (const x of report.sessions.filter(x => x.result === 'OK'))
            assert.equal(typeof byName(x, 'login').value, 'number')
    })

    test('an unpaired session is never connected (no pairing starts)', async () => {
        let connected = 0
        const count = () => (connected += 1)
        sandbox.on('login', count)
        sandbox.on('qr', count)
        const result = await zapo([
            '--store',
            url,
            'check',
            '--session',
            'unpaired',
            '--connect',
            ...server(),
            '--json'
        ])
        sandbox.off('login', count)
        sandbox.off('qr', count)
        assert.equal(result.code, 6)
        const login = byName(parseReport(result).sessions[0], 'login')
        assert.equal(login.status, 'skip')
        assert.match(login.detail, /not attempted: paired failed/)
        assert.equal(connected, 0)
    })
})

describe('the programmatic API and the option parsing', () => {
    test('runCheck returns the report and never writes to stdout or stderr', async t => {
        const url = storeUrls().sqlite
        const store = await openTestStore(url, 'write')
        await makeFleet(store)
        await store.close()
        t.after(() => dropStore(url))
        const writes = []
        const out = process.stdout.write
        const err = process.stderr.write
        process.stdout.write = chunk => (writes.push(String(chunk)), true)
        process.stderr.write = chunk => (writes.push(String(chunk)), true)
        let report
        try {
            report = await runCheck({
                store: singleStore(parseStoreUrl(url, 'flag', cwd)),
                sessions: { all: true },
                shard: null,
                concurrency: 2,
                thresholds: {
                    maxSignedPreKeyAgeMs: 30 * 86_400_000,
                    minPreKeys: 20,
                    maxSinceLoginMs: 14 * 86_400_000
                },
                connect: null,
                strict: false
            })
        } finally {
            process.stdout.write = out
            process.stderr.write = err
        }
        assert.deepEqual(writes, [])
        assert.equal(report.summary.worst, 'INTEGRITY')
        assert.equal(report.summary.exitCode, 5)
    })

    test('--shard K/N parsing', () => {
        assert.deepEqual(parseShard('2/4'), { index: 2, count: 4 })
        assert.deepEqual(parseShard(' 1 / 1 '), { index: 1, count: 1 })
        for (const bad of ['0/4', '5/4', '1/0', '1', '1/2/3', 'a/b', '-1/2'])
            assert.throws(() => parseShard(bad), { code: 'USAGE' }, bad)
    })

    test('the severity order covers every result a check can end with, OK last', () => {
        assert.equal(SEVERITY.at(-1), 'OK')
        for (const code of SEVERITY) assert.ok(code in EXIT_CODES, code)
        assert.ok(SEVERITY.indexOf('STORE_UNAVAILABLE') < SEVERITY.indexOf('INTEGRITY'))
        assert.ok(SEVERITY.indexOf('INTEGRITY') < SEVERITY.indexOf('LOGGED_OUT'))
        assert.ok(SEVERITY.indexOf('LOGGED_OUT') < SEVERITY.indexOf('NOT_PAIRED'))
        assert.ok(SEVERITY.indexOf('NOT_PAIRED') < SEVERITY.indexOf('CHECK_FAILED'))
    })
})
