/**
 * Account and client refusals end to end: the sandbox refuses a login (or ends a live connection)
 * with `<failure reason=…>` and the built binary exits with the documented code: 12 for banned
 * (406) and locked (403), 13 for client too old (405) and bad user agent (409). `zapo check
 * --connect` reports the server's reason; `zapo logs` stops at once with one stderr line naming the
 * reason and what to do. Neither deletes the stored credentials (KEEP_STORE_ON_CLOSE), although
 * zapo-js clears them on 403 and 406 by default.
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { test } from 'node:test'

import { classifyClose, closeForFailure } from '../../dist/client/reasons.js'
import { EXIT_CODES } from '../../dist/errors.js'
import { openStore } from '../../dist/store/open.js'
import { parseStoreUrl, singleStore } from '../../dist/store/address.js'
import { REPO_ROOT, runZapo } from '../helpers/run.js'
import { pairWithQr, startTestSandbox, tempDir } from '../sandbox/helpers.js'

const env = {
    ZAPO_STORE: undefined,
    ZAPO_SESSION: undefined,
    ZAPO_CONFIG: undefined,
    ZAPO_SERVER: undefined,
    ZAPO_SERVER_ROOT_CA: undefined
}

const CASES = [
    {
        kind: 'banned',
        exit: 12,
        code: 'ACCOUNT_BLOCKED',
        reason: 'failure_banned',
        status: 406,
        summary: 'the account is banned',
        hint: /the account cannot connect; do not retry from this tool/
    },
    {
        kind: 'locked',
        exit: 12,
        code: 'ACCOUNT_BLOCKED',
        reason: 'failure_locked',
        status: 403,
        summary: 'the account is locked',
        hint: /unlock the account on the phone, then re-pair: zapo pair --session \S+/
    },
    {
        kind: 'client_too_old',
        exit: 13,
        code: 'CLIENT_REJECTED',
        reason: 'failure_client_too_old',
        status: 405,
        summary: 'the server rejected the client as too old',
        hint: /upgrade zapo-js \(zapo doctor shows the installed version\)/
    },
    {
        kind: 'bad_user_agent',
        exit: 13,
        code: 'CLIENT_REJECTED',
        reason: 'failure_bad_user_agent',
        status: 409,
        summary: 'the server rejected the client’s user agent',
        hint: /check the device\/browser settings the client announces, or upgrade zapo-js/
    },
    {
        // zapo-js 0.3 emits no close event for 402, only `failure`: zapo stops on that
        kind: 'temp_banned',
        exit: 12,
        code: 'ACCOUNT_BLOCKED',
        reason: 'failure_temp_banned',
        status: 402,
        summary: 'the account is temporarily banned',
        hint: /wait \(hours\) before connecting again; retrying now makes it worse/
    }
]

const STATUS = Object.fromEntries(CASES.map(c => [c.kind, c.status]))

test('the close events zapo-js emits for these refusals classify as fatal with exit 12 / 13', () => {
    for (const c of CASES) {
        // what zapo-js 0.3 emits (client/incoming.js), or, for 402, what closeForFailure stands in with
        const event =
            c.status === 402
                ? closeForFailure({ failureReason: 402 })
                : {
                      reason: c.reason,
                      code: c.status,
                      isLogout: c.status === 403 || c.status === 406
                  }
        const classification = classifyClose(event, 'tenant-7')
        assert.deepEqual(
            [classification.class, classification.exit, EXIT_CODES[classification.exit]],
            ['fatal', c.code, c.exit],
            c.kind
        )
        assert.equal(classification.summary, c.summary)
        assert.match(classification.hint, c.hint)
        assert.doesNotMatch(classification.hint, /<session>/)
    }
    // the library closes by itself for these: no stand-in close
    for (const failureReason of [401, 403, 405, 406, 409, 503, undefined]) {
        assert.equal(closeForFailure({ failureReason }), null, String(failureReason))
    }
})

/** One sandbox, one SQLite file, one paired session per id (paired, then let go of). */
async function setup(t, ids) {
    const sandbox = await startTestSandbox(t)
    const dir = tempDir(t)
    const path = join(dir, 'zapo.sqlite')
    const jids = {}
    for (const id of ids) {
        const handle = await pairWithQr(t, sandbox, { path, sessionId: id })
        await handle.cleanup()
        jids[id] = handle.jid
    }
    const server = ['--server', sandbox.url, '--server-root-ca', sandbox.rootCa]
    /** `zapo --store … <command> <args…> --server … --server-root-ca …` */
    const zapo = (command, args, options = {}) =>
        runZapo(['--store', `sqlite:${path}`, command, ...args, ...server], {
            cwd: dir,
            env,
            timeoutMs: 30_000,
            ...options
        })
    return { sandbox, path, jids, zapo }
}

/** Counts what the sandbox sees of one device: connections, logins and refused logins. */
function watch(sandbox, jid) {
    const seen = { connections: 0, logins: 0, refused: 0 }
    const onConnection = () => (seen.connections += 1)
    const onLogin = e => e.jid === jid && (seen.logins += 1)
    const onRefused = e => e.jid === jid && (seen.refused += 1)
    sandbox.on('connection', onConnection)
    sandbox.on('login', onLogin)
    sandbox.on('login-refused', onRefused)
    seen.stop = () => {
        sandbox.off('connection', onConnection)
        sandbox.off('login', onLogin)
        sandbox.off('login-refused', onRefused)
    }
    return seen
}

/** The session's stored state, read back from the SQLite file. */
async function stored(path, sessionId) {
    const opened = await openStore(
        singleStore(parseStoreUrl(`sqlite:${path}`, 'flag', REPO_ROOT)),
        'read'
    )
    try {
        const credentials = await opened.domain('auth', sessionId).load()
        const registration = await opened.domain('signal', sessionId).getRegistrationInfo()
        return {
            meJid: credentials?.meJid ?? null,
            registrationId: registration?.registrationId ?? null
        }
    } finally {
        await opened.close()
    }
}

async function assertKept(path, id, jid, before) {
    const after = await stored(path, id)
    assert.equal(after.meJid, jid, `${id}: credentials kept`)
    assert.equal(after.registrationId, before.registrationId, `${id}: signal registration kept`)
}

function parseReport(result) {
    assert.doesNotThrow(
        () => JSON.parse(result.stdout),
        `one JSON document on stdout, got: ${result.stdout}\n${result.stderr}`
    )
    return JSON.parse(result.stdout)
}

test('zapo check --connect: a refused login exits 12 (banned, locked, temporarily banned) or 13 (client too old, bad user agent) with the server’s reason', async t => {
    const { sandbox, path, jids, zapo } = await setup(
        t,
        CASES.map(c => c.kind)
    )
    for (const c of CASES) {
        await t.test(c.kind, async () => {
            const id = c.kind
            const before = await stored(path, id)
            sandbox.refuseNextLogin(jids[id], c.kind)
            const seen = watch(sandbox, jids[id])
            const result = await zapo('check', ['--session', id, '--connect', '--json'])
            seen.stop()
            assert.equal(result.code, c.exit, result.stdout + result.stderr)
            const report = parseReport(result)
            const session = report.sessions[0]
            assert.equal(session.jid, jids[id])
            const login = session.checks.find(check => check.name === 'login')
            assert.ok(login, JSON.stringify(session.checks))
            assert.equal(login.status, 'fail')
            assert.equal(login.value, c.reason)
            assert.equal(login.code, c.code)
            assert.ok(
                login.detail.startsWith(
                    `the server refused the login: ${c.summary} (${c.status}); `
                ),
                login.detail
            )
            assert.match(login.detail, c.hint)
            if (c.kind === 'locked')
                // the re-pair command carries this run's store and server: it works pasted
                assert.match(
                    login.detail,
                    new RegExp(
                        `zapo pair --session ${id} --store sqlite:\\S+ --server ws://\\S+ --server-root-ca \\S+$`
                    )
                )
            assert.deepEqual(
                [seen.refused, seen.logins],
                [1, 0],
                'the one login was refused, no other attempt'
            )
            await assertKept(path, id, jids[id], before)
        })
    }
})

test('zapo check --connect: banned, locked, temp_banned sent on the live connection right after the login → 12, credentials kept', async t => {
    const ids = ['live-banned', 'live-locked', 'live-temp_banned']
    const { sandbox, path, jids, zapo } = await setup(t, ids)
    for (const id of ids) {
        const kind = id.replace('live-', '')
        const before = await stored(path, id)
        const inject = e =>
            e.jid === jids[id] && void sandbox.fault(e.jid, kind).catch(() => undefined)
        sandbox.on('login', inject)
        const result = await zapo('check', [
            '--session',
            id,
            '--connect',
            '--settle',
            '2s',
            '--json'
        ])
        sandbox.off('login', inject)
        assert.equal(result.code, 12, result.stdout + result.stderr)
        const login = parseReport(result).sessions[0].checks.find(check => check.name === 'login')
        assert.equal(login.value, `failure_${kind}`)
        assert.equal(login.code, 'ACCOUNT_BLOCKED')
        assert.match(
            login.detail,
            new RegExp(
                `the account is ${kind.replace('temp_', 'temporarily ')} \\(${STATUS[kind]}\\)`
            )
        )
        await assertKept(path, id, jids[id], before)
    }
})

/** The stderr lines that name a close reason (the client's own log lines are JSON with --json). */
function reasonLines(stderr, reason) {
    return stderr.split('\n').filter(line => line.includes(reason))
}

test('zapo logs: a refused login stops at once (no reconnect) with exit 12 or 13 and one stderr line', async t => {
    const { sandbox, path, jids, zapo } = await setup(
        t,
        CASES.map(c => c.kind)
    )
    for (const c of CASES) {
        await t.test(c.kind, async () => {
            const id = c.kind
            const before = await stored(path, id)
            sandbox.refuseNextLogin(jids[id], c.kind)
            const seen = watch(sandbox, jids[id])
            const started = Date.now()
            const result = await zapo('logs', ['--session', id, '--json'])
            const elapsed = Date.now() - started
            // anything the tool would still try shows up here
            await new Promise(resolve => setTimeout(resolve, 300))
            seen.stop()
            assert.equal(result.code, c.exit, result.stdout + result.stderr)
            const records = result.stdout
                .split('\n')
                .filter(Boolean)
                .map(line => JSON.parse(line))
            assert.deepEqual(
                records.filter(r => r.type === 'reconnect'),
                [],
                'no reconnect'
            )
            const stops = records.filter(r => r.type === 'stopped')
            assert.equal(stops.length, 1, result.stdout)
            assert.equal(stops[0].session, id)
            assert.equal(stops[0].reason, c.reason)
            assert.equal(stops[0].code, c.status)
            assert.equal(stops[0].exit, c.code)
            assert.equal(stops[0].exitCode, c.exit)
            const lines = reasonLines(result.stderr, c.reason)
            assert.equal(lines.length, 1, result.stderr)
            assert.equal(
                lines[0].startsWith(`zapo: ${id}: ${c.summary} (${c.reason} ${c.status}): `),
                true,
                lines[0]
            )
            assert.match(lines[0], c.hint)
            assert.deepEqual(
                [seen.connections, seen.refused, seen.logins],
                [1, 1, 0],
                'one connection, refused, never retried'
            )
            assert.ok(elapsed < 15_000, `stopped at once (${elapsed} ms)`)
            await assertKept(path, id, jids[id], before)
        })
    }
})

test('zapo logs: banned, locked, temp_banned on the live connection stop the tail with 12, credentials kept', async t => {
    const ids = ['live-banned', 'live-locked', 'live-temp_banned']
    const { sandbox, path, jids, zapo } = await setup(t, ids)
    for (const id of ids) {
        const kind = id.replace('live-', '')
        const before = await stored(path, id)
        const seen = watch(sandbox, jids[id])
        const running = zapo('logs', ['--session', id, '--json'])
        await sandbox.waitForDevice(jids[id], 20_000)
        await sandbox.fault(jids[id], kind)
        const result = await running
        await new Promise(resolve => setTimeout(resolve, 300))
        seen.stop()
        assert.equal(result.code, 12, result.stdout + result.stderr)
        const records = result.stdout
            .split('\n')
            .filter(Boolean)
            .map(line => JSON.parse(line))
        assert.deepEqual(
            records.filter(r => r.type === 'reconnect'),
            []
        )
        assert.deepEqual(
            records
                .filter(r => r.type === 'stopped')
                .map(r => [r.reason, r.code, r.exit, r.exitCode]),
            [[`failure_${kind}`, STATUS[kind], 'ACCOUNT_BLOCKED', 12]]
        )
        assert.equal(reasonLines(result.stderr, `failure_${kind}`).length, 1, result.stderr)
        assert.equal(seen.logins, 1, 'no login after the fatal close')
        await assertKept(path, id, jids[id], before)
    }
})

test('one severity order: a banned account and a logged-out device in one run exit 12 under both check --all --connect and logs --all', async t => {
    // the same mix of outcomes must exit the same way whichever command meets it (errors.ts
    // SEVERITY); check once ranked LOGGED_OUT (10) above ACCOUNT_BLOCKED (12), logs the other way
    const ids = ['mix-logged-out', 'mix-banned']
    const { sandbox, path, jids, zapo } = await setup(t, ids)
    const refuse = () => {
        sandbox.refuseNextLogin(jids['mix-logged-out'], 'not_authorized')
        sandbox.refuseNextLogin(jids['mix-banned'], 'banned')
    }
    const before = {}
    for (const id of ids) before[id] = await stored(path, id)

    refuse()
    const check = await zapo('check', ['--all', '--connect', '--json'])
    assert.equal(check.code, 12, check.stdout + check.stderr)
    const report = parseReport(check)
    const results = Object.fromEntries(report.sessions.map(s => [s.sessionId, s.result]))
    assert.deepEqual(results, { 'mix-logged-out': 'LOGGED_OUT', 'mix-banned': 'ACCOUNT_BLOCKED' })

    refuse()
    const logs = await zapo('logs', ['--all', '--json'])
    assert.equal(logs.code, 12, logs.stdout + logs.stderr)
    const stops = logs.stdout
        .split('\n')
        .filter(Boolean)
        .map(line => JSON.parse(line))
        .filter(r => r.type === 'stopped')
    assert.deepEqual(Object.fromEntries(stops.map(r => [r.session, r.exit])), {
        'mix-logged-out': 'LOGGED_OUT',
        'mix-banned': 'ACCOUNT_BLOCKED'
    })
    for (const id of ids) await assertKept(path, id, jids[id], before[id])
})
