// `zapo migrate`: every ordered pair of backends, the plan, the existing-session policies,
// verification, restart after kill -9, Ctrl-C and --delete-source. The binary is spawned; what
// the target holds is read back through the zapo-js store contracts, not through zapo's reader.

import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'

import { runAndKill, seed, snapshot, urlsFor, withStore } from '../helpers/export.js'
import { openTestStore } from '../helpers/fixtures.js'
import { runZapo, ZAPO_BIN } from '../helpers/run.js'
import { catalogFor } from '../../dist/store/catalog.js'
import { parseStoreUrl } from '../../dist/store/address.js'

const KINDS = [
    'sqlite',
    'postgres',
    'mysql',
    'redis',
    ...(process.env.MONGODB_URI ? ['mongo'] : [])
]

function cwd(t) {
    const dir = mkdtempSync(join(tmpdir(), 'zapo-migrate-'))
    t.after(() => rmSync(dir, { recursive: true, force: true }))
    return dir
}

function catalog(store, url) {
    return catalogFor(store.primary, parseStoreUrl(url, 'flag', process.cwd()))
}

async function counts(url, sessionId) {
    return withStore(url, store => catalog(store, url).counts(sessionId), 'read')
}

async function sessionIds(url) {
    return withStore(url, store => catalog(store, url).listSessionIds(), 'read')
}

async function assertSameSessions(srcUrl, dstUrl, fixtures) {
    for (const fixture of fixtures) {
        const [a, b] = await Promise.all([
            withStore(srcUrl, s => snapshot(s, fixture), 'read'),
            withStore(dstUrl, s => snapshot(s, fixture), 'read')
        ])
        assert.ok(a.credentials, 'the source fixture has credentials')
        assert.deepEqual(b, a, `session ${fixture.sessionId} differs between source and target`)
        assert.deepEqual(
            await counts(dstUrl, fixture.sessionId),
            await counts(srcUrl, fixture.sessionId)
        )
    }
}

function json(result) {
    assert.ok(result.stdout.trim().length > 0, `no stdout; stderr: ${result.stderr}`)
    return JSON.parse(result.stdout)
}

for (const from of KINDS) {
    for (const to of KINDS) {
        if (from === to) continue
        test(`migrate ${from} → ${to}: every record arrives and verifies`, async t => {
            const urls = urlsFor(t)
            const fixtures = await seed(urls[from], ['tenant-a', 'tenant-b'])
            const result = await runZapo(
                ['migrate', '--from', urls[from], '--to', urls[to], '--all', '--json'],
                { cwd: cwd(t) }
            )
            assert.equal(result.code, 0, result.stderr)
            const out = json(result)
            assert.equal(out.status, 'migrated')
            assert.deepEqual(
                out.sessions.map(s => [s.sessionId, s.action, s.verified]),
                [
                    ['tenant-a', 'copy', true],
                    ['tenant-b', 'copy', true]
                ]
            )
            assert.equal(out.totals.copiedRecords, out.recordsToCopy)
            assert.ok(out.sessions[0].digests.preKey.count > 0)
            assert.match(out.sessions[0].digests.preKey.sha256, /^[0-9a-f]{64}$/)
            await assertSameSessions(urls[from], urls[to], fixtures)
            // source untouched
            assert.deepEqual(await sessionIds(urls[from]), ['tenant-a', 'tenant-b'])
        })
    }
}

if (!process.env.MONGODB_URI) {
    test('migrate to and from MongoDB (every pair with the others)', t =>
        t.skip('MONGODB_URI not set'))
}

test('--dry-run prints the plan and writes nothing to the target', async t => {
    const urls = urlsFor(t)
    const fixtures = await seed(urls.sqlite, ['t1', 't2'])
    const preKeys = fixtures[0].counts.preKeys
    // t2 logged in a minute ago: it may be running
    await withStore(urls.sqlite, s =>
        s
            .domain('auth', 't2')
            .save({ ...fixtures[1].credentials, lastSuccessTs: Math.floor(Date.now() / 1000) - 60 })
    )
    const dir = cwd(t)
    const human = await runZapo(
        ['migrate', '--from', urls.sqlite, '--to', urls.postgres, '--all', '--dry-run'],
        { cwd: dir }
    )
    assert.equal(human.code, 0, human.stderr)
    assert.match(human.stdout, /t1\s+\d+\s+copy/)
    assert.match(human.stdout, new RegExp(`preKey ${preKeys}, session 5`))
    assert.match(human.stdout, /nothing was written/)
    assert.match(human.stderr, /warning: 1 session\(s\) logged in recently and may be running: t2;/)
    assert.match(human.stdout, /t2 .*looks live/)
    const machine = await runZapo(
        ['migrate', '--from', urls.sqlite, '--to', urls.postgres, '--all', '--dry-run', '--json'],
        { cwd: dir }
    )
    assert.equal(machine.code, 0, machine.stderr)
    const plan = json(machine)
    assert.equal(plan.status, 'planned')
    assert.deepEqual(
        plan.sessions.map(s => s.sessionId),
        ['t1', 't2']
    )
    assert.equal(plan.sessions[0].records.preKey, preKeys)
    assert.equal(plan.sessions[0].records.auth, 1)
    // no table with the target's prefix exists
    const { default: pg } = await import('pg')
    const spec = parseStoreUrl(urls.postgres, 'flag', process.cwd())
    const pool = new pg.Pool({ connectionString: spec.target, max: 1 })
    try {
        const { rows } = await pool.query(
            `SELECT table_name FROM information_schema.tables WHERE table_name LIKE $1`,
            [`${spec.tablePrefix}%`]
        )
        assert.deepEqual(rows, [])
    } finally {
        await pool.end()
    }
    // a SQLite target file is not even created
    const sqliteTarget = await runZapo(
        ['migrate', '--from', urls.postgres, '--to', join(dir, 'new.sqlite'), '--all', '--dry-run'],
        { cwd: dir }
    )
    assert.equal(sqliteTarget.code, 0, sqliteTarget.stderr)
    const { existsSync } = await import('node:fs')
    assert.equal(existsSync(join(dir, 'new.sqlite')), false)
})

test('sessions already in the target: refused by default, --skip-existing leaves them, --overwrite replaces them', async t => {
    const urls = urlsFor(t)
    const dir = cwd(t)
    const fixtures = await seed(urls.sqlite, ['keep', 'fresh'])
    // the target already holds a different "keep" (other keys, more prekeys)
    const other = await seed(urls.redis, ['keep'], { preKeys: 40 })
    const before = await withStore(urls.redis, s => snapshot(s, other[0]), 'read')

    const refused = await runZapo(['migrate', '--from', urls.sqlite, '--to', urls.redis, '--all'], {
        cwd: dir
    })
    assert.equal(refused.code, 7, refused.stderr)
    assert.match(refused.stderr, /keep/)
    assert.match(refused.stderr, /--skip-existing/)
    assert.match(refused.stderr, /--overwrite/)
    assert.deepEqual(await sessionIds(urls.redis), ['keep'], 'nothing was copied')

    const skipped = await runZapo(
        [
            'migrate',
            '--from',
            urls.sqlite,
            '--to',
            urls.redis,
            '--all',
            '--skip-existing',
            '--json'
        ],
        { cwd: dir }
    )
    assert.equal(skipped.code, 0, skipped.stderr)
    const out = json(skipped)
    assert.deepEqual(
        out.sessions.map(s => [s.sessionId, s.action, s.verified]),
        [
            ['fresh', 'copy', true],
            ['keep', 'skip', null]
        ]
    )
    assert.deepEqual(
        await withStore(urls.redis, s => snapshot(s, other[0]), 'read'),
        before,
        '"keep" untouched'
    )
    await assertSameSessions(urls.sqlite, urls.redis, [fixtures[1]])

    const overwritten = await runZapo(
        [
            'migrate',
            '--from',
            urls.sqlite,
            '--to',
            urls.redis,
            '--session',
            'keep',
            '--overwrite',
            '--json'
        ],
        { cwd: dir }
    )
    assert.equal(overwritten.code, 0, overwritten.stderr)
    assert.deepEqual(
        json(overwritten).sessions.map(s => [s.sessionId, s.action, s.verified]),
        [['keep', 'overwrite', true]]
    )
    await assertSameSessions(urls.sqlite, urls.redis, [fixtures[0]])
    // the old "keep"'s extra prekeys are gone
    assert.equal((await counts(urls.redis, 'keep')).preKeys, fixtures[0].counts.preKeys)
})

test('--verify-only passes on a migrated store and finds a tampered record (exit 19)', async t => {
    const urls = urlsFor(t)
    const dir = cwd(t)
    const fixtures = await seed(urls.postgres, ['v1', 'v2'])
    const copy = await runZapo(['migrate', '--from', urls.postgres, '--to', urls.mysql, '--all'], {
        cwd: dir
    })
    assert.equal(copy.code, 0, copy.stderr)
    assert.match(copy.stdout, /2\/2 session\(s\) verified/)

    const ok = await runZapo(
        [
            'migrate',
            '--from',
            urls.postgres,
            '--to',
            urls.mysql,
            '--all',
            '--verify-only',
            '--json'
        ],
        { cwd: dir }
    )
    assert.equal(ok.code, 0, ok.stderr)
    assert.equal(json(ok).status, 'verified')
    assert.equal(json(ok).totals.copiedRecords, 0)

    // tamper: one identity key in the target changes
    await withStore(urls.mysql, s =>
        s
            .domain('identity', 'v2')
            .setRemoteIdentity(fixtures[1].identityAddresses[0], new Uint8Array(33).fill(5))
    )
    const bad = await runZapo(
        ['migrate', '--from', urls.postgres, '--to', urls.mysql, '--all', '--verify-only'],
        { cwd: dir }
    )
    assert.equal(bad.code, 19, bad.stderr)
    assert.match(bad.stderr, /v2/)
    assert.match(bad.stderr, /identity/)
    assert.match(bad.stdout, /v1 .*verified/)
    assert.match(bad.stdout, /v2 .*MISMATCH/)
    const badJson = await runZapo(
        [
            'migrate',
            '--from',
            urls.postgres,
            '--to',
            urls.mysql,
            '--all',
            '--verify-only',
            '--json'
        ],
        { cwd: dir }
    )
    assert.equal(badJson.code, 19)
    const envelope = json(badJson)
    assert.equal(envelope.error.code, 'VERIFY_FAILED')
    assert.deepEqual(
        envelope.error.meta.sessions.map(s => [s.sessionId, s.mismatches.map(m => m.domain)]),
        [['v2', ['identity']]]
    )
    const m = envelope.error.meta.sessions[0].mismatches[0]
    assert.equal(m.source.count, m.target.count)
    assert.notEqual(m.source.sha256, m.target.sha256)

    // a record missing in the target is found too (counts differ)
    await withStore(urls.mysql, s =>
        s.domain('session', 'v1').deleteSession(fixtures[0].sessionAddresses[0])
    )
    const missing = await runZapo(
        [
            'migrate',
            '--from',
            urls.postgres,
            '--to',
            urls.mysql,
            '--session',
            'v1',
            '--verify-only',
            '--json'
        ],
        { cwd: dir }
    )
    assert.equal(missing.code, 19)
    const mm = json(missing).error.meta.sessions[0].mismatches[0]
    assert.equal(mm.domain, 'session')
    assert.equal(mm.target.count, mm.source.count - 1)
})

const BIG = { preKeys: 600, uploaded: 500, signalSessions: 2, identities: 1500 }

test('kill -9 in the middle of a copy into MySQL: the same command again finishes, verified, no duplicates', async t => {
    const urls = urlsFor(t)
    const dir = cwd(t)
    const fixtures = await seed(urls.sqlite, ['k1', 'k2', 'k3'], BIG)
    const args = [
        'migrate',
        '--from',
        urls.sqlite,
        '--to',
        urls.mysql,
        '--all',
        '--batch-size',
        '100'
    ]
    const killed = await runAndKill(args, { cwd: dir, signal: 'SIGKILL' })
    assert.equal(
        killed.signal,
        'SIGKILL',
        `the copy finished before it could be killed: ${killed.stderr}`
    )
    // something, but not everything, arrived
    const partial = await sessionIds(urls.mysql)
    assert.ok(partial.length >= 1, 'the killed run wrote something')

    const rerun = await runZapo([...args, '--json'], { cwd: dir, timeoutMs: 60_000 })
    assert.equal(rerun.code, 0, rerun.stderr)
    const out = json(rerun)
    assert.equal(out.status, 'migrated')
    assert.ok(
        out.sessions.every(s => s.verified === true),
        JSON.stringify(out.sessions.map(s => [s.sessionId, s.action, s.verified]))
    )
    assert.ok(
        out.sessions.some(s => s.action === 'resume'),
        'the interrupted session is resumed, not refused as pre-existing'
    )
    await assertSameSessions(urls.sqlite, urls.mysql, fixtures)

    // and again: nothing left to copy, everything re-verified
    const third = await runZapo([...args, '--json'], { cwd: dir, timeoutMs: 60_000 })
    assert.equal(third.code, 0, third.stderr)
    assert.ok(json(third).sessions.every(s => s.action === 'reverify' && s.verified === true))
    assert.equal(json(third).totals.copiedRecords, 0)
})

// PostgreSQL: a session is written in one transaction, so a killed copy leaves whole sessions
// (verified ones) or nothing of a session, never part of one
test('kill -9 in the middle of a copy into PostgreSQL: no session half-written; the same command again finishes', async t => {
    const urls = urlsFor(t)
    const dir = cwd(t)
    const fixtures = await seed(urls.sqlite, ['k1', 'k2', 'k3'], BIG)
    const args = [
        'migrate',
        '--from',
        urls.sqlite,
        '--to',
        urls.postgres,
        '--all',
        '--batch-size',
        '100'
    ]
    const killed = await runAndKill(args, { cwd: dir, signal: 'SIGKILL' })
    assert.equal(
        killed.signal,
        'SIGKILL',
        `the copy finished before it could be killed: ${killed.stderr}`
    )
    const arrived = await sessionIds(urls.postgres)
    assert.ok(arrived.length < 3, 'the kill came before the last session committed')
    for (const id of arrived)
        assert.deepEqual(await counts(urls.postgres, id), await counts(urls.sqlite, id), id)
    // the rows of the session in flight were rolled back with its transaction
    const spec = parseStoreUrl(urls.postgres, 'flag', process.cwd())
    const { default: pg } = await import('pg')
    const pool = new pg.Pool({ connectionString: spec.target, max: 1 })
    const rows = await pool
        .query(`SELECT DISTINCT session_id FROM "${spec.tablePrefix}signal_identity"`)
        .then(
            r => r.rows.map(row => row.session_id).sort(),
            error => {
                if (error.code === '42P01') return [] // no table yet
                throw error
            }
        )
        .finally(() => pool.end())
    assert.deepEqual(rows, [...arrived].sort(), 'no identities of a session left half-copied')

    const rerun = await runZapo([...args, '--json'], { cwd: dir, timeoutMs: 60_000 })
    assert.equal(rerun.code, 0, rerun.stderr)
    const out = json(rerun)
    assert.equal(out.status, 'migrated')
    assert.ok(
        out.sessions.every(s => s.verified === true),
        JSON.stringify(out.sessions.map(s => [s.sessionId, s.action, s.verified]))
    )
    await assertSameSessions(urls.sqlite, urls.postgres, fixtures)
})

test('Ctrl-C stops after the current batch with exit 130; the rerun completes', async t => {
    const urls = urlsFor(t)
    const dir = cwd(t)
    const fixtures = await seed(urls.sqlite, ['c1', 'c2'], BIG)
    const args = [
        'migrate',
        '--from',
        urls.sqlite,
        '--to',
        urls.redis,
        '--all',
        '--batch-size',
        '100'
    ]
    const interrupted = await runAndKill(args, { cwd: dir, signal: 'SIGINT' })
    assert.equal(interrupted.code, 130, interrupted.stderr)
    // one line says what the interrupt does; the summary (stdout) says what was done
    assert.match(
        interrupted.stderr,
        /^zapo: stopping: finishing the current batch; .*same command/m
    )
    assert.match(interrupted.stdout, /interrupted/)
    const rerun = await runZapo(args, { cwd: dir, timeoutMs: 60_000 })
    assert.equal(rerun.code, 0, rerun.stderr)
    await assertSameSessions(urls.sqlite, urls.redis, fixtures)
})

test('the target going away mid-copy fails with exit 4; the same command then finishes, verified', async t => {
    const urls = urlsFor(t)
    const dir = cwd(t)
    const fixtures = await seed(urls.sqlite, ['g1', 'g2'], BIG)
    const app = `zapo_mig_${Math.random().toString(36).slice(2, 10)}`
    const target = `${urls.postgres}&application_name=${app}`
    const args = ['migrate', '--from', urls.sqlite, '--to', target, '--all', '--batch-size', '100']
    const { default: pg } = await import('pg')
    const admin = new pg.Pool({
        connectionString: parseStoreUrl(urls.postgres, 'flag', process.cwd()).target,
        max: 1
    })
    t.after(() => admin.end())
    let stop = false
    const child = spawn(process.execPath, [ZAPO_BIN, ...args], {
        cwd: dir,
        env: { ...process.env, NO_COLOR: '1' },
        stdio: ['ignore', 'pipe', 'pipe']
    })
    let stderr = ''
    const killer = (async () => {
        // once the copy runs, keep cutting the target's connections until zapo gives up
        while (!stop && !/^copy .*records/m.test(stderr)) await new Promise(r => setTimeout(r, 20))
        while (!stop) {
            await admin.query(
                'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1',
                [app]
            )
            await new Promise(r => setTimeout(r, 30))
        }
    })()
    child.stderr.setEncoding('utf8').on('data', d => (stderr += d))
    const code = await new Promise(resolve => child.on('close', resolve))
    stop = true
    await killer
    assert.equal(code, 4, stderr)
    assert.match(stderr, /a store failed while migrating session g\d/)
    assert.match(stderr, /run the same command again/)

    const rerun = await runZapo([...args, '--json'], { cwd: dir, timeoutMs: 60_000 })
    assert.equal(rerun.code, 0, rerun.stderr)
    assert.ok(json(rerun).sessions.every(s => s.verified === true))
    await assertSameSessions(urls.sqlite, urls.postgres, fixtures)
})

test('--delete-source clears the source only after verification; a rerun reports the sessions as moved', async t => {
    const urls = urlsFor(t)
    const dir = cwd(t)
    const fixtures = await seed(urls.mysql, ['d1', 'd2'])
    const reference = await Promise.all(
        fixtures.map(f => withStore(urls.mysql, s => snapshot(s, f), 'read'))
    )
    const args = [
        'migrate',
        '--from',
        urls.mysql,
        '--to',
        urls.sqlite,
        '--all',
        '--delete-source',
        '--json'
    ]
    const moved = await runZapo(args, { cwd: dir })
    assert.equal(moved.code, 0, moved.stderr)
    const out = json(moved)
    assert.ok(out.sessions.every(s => s.verified === true && s.sourceDeleted === true))
    assert.deepEqual(await sessionIds(urls.mysql), [], 'the source holds no session any more')
    for (let i = 0; i < fixtures.length; i += 1) {
        assert.deepEqual(
            await withStore(urls.sqlite, s => snapshot(s, fixtures[i]), 'read'),
            reference[i]
        )
    }
    const again = await runZapo(
        [
            'migrate',
            '--from',
            urls.mysql,
            '--to',
            urls.sqlite,
            '--session',
            'd1',
            '--delete-source',
            '--json'
        ],
        { cwd: dir }
    )
    assert.equal(again.code, 0, again.stderr)
    assert.deepEqual(
        json(again).sessions.map(s => [s.sessionId, s.action]),
        [['d1', 'moved']]
    )
})

test('usage errors name the flag', async t => {
    const dir = cwd(t)
    const same = await runZapo(
        ['migrate', '--from', join(dir, 'a.sqlite'), '--to', join(dir, 'a.sqlite'), '--all'],
        { cwd: dir }
    )
    assert.equal(same.code, 2)
    assert.match(same.stderr, /same store/)
    const none = await runZapo(
        ['migrate', '--from', 'sqlite:x.sqlite', '--to', 'sqlite:y.sqlite'],
        { cwd: dir }
    )
    // no session named: every session of the source (issue 16), so the missing source is the error
    assert.equal(none.code, 3)
    assert.match(none.stderr, /x\.sqlite does not exist/)
    const both = await runZapo(
        [
            'migrate',
            '--from',
            'a.sqlite',
            '--to',
            'b.sqlite',
            '--all',
            '--skip-existing',
            '--overwrite'
        ],
        { cwd: dir }
    )
    assert.equal(both.code, 2)
    const domains = await runZapo(
        ['migrate', '--from', 'a.sqlite', '--to', 'b.sqlite', '--all', '--domains', 'auth,bogus'],
        { cwd: dir }
    )
    assert.equal(domains.code, 2)
    assert.match(domains.stderr, /bogus/)
})

test('a session paired through the sandbox and talking to peers is migrated sqlite → postgres → redis → mysql, and after each move connects without pairing and decrypts new messages', async t => {
    const { startTestSandbox, pairWithQr, nextEvent, testLogger } =
        await import('../sandbox/helpers.js')
    const { createWaClient } = await import('../../dist/client/create-client.js')
    const urls = urlsFor(t)
    const dir = cwd(t)
    const sandbox = await startTestSandbox(t)
    const srcPath = join(dir, 'source.sqlite')
    const paired = await pairWithQr(t, sandbox, { path: srcPath, sessionId: 'tenant' })
    const peerA = '15550007001@s.whatsapp.net'
    const peerB = '15550007002@s.whatsapp.net'
    // peer A opens a session to the device (X3DH on its uploaded prekeys)
    const first = nextEvent(paired.client, 'message')
    assert.equal(
        (await sandbox.sendMessage({ to: paired.jid, from: peerA, text: 'ping' })).deliveries[0]
            .type,
        'pkmsg'
    )
    assert.equal((await first).message.conversation, 'ping')
    // the device opens a session to peer B, who answers on it
    const atB = sandbox.waitFor('peer-message', m => m.peer === peerB)
    await paired.client.sendMessage(peerB, { conversation: 'hello B' })
    assert.equal((await atB).text, 'hello B')
    const replyB = nextEvent(paired.client, 'message')
    await sandbox.sendMessage({ to: paired.jid, from: peerB, text: 'hi device' })
    assert.equal((await replyB).message.conversation, 'hi device')
    await paired.cleanup() // disconnect (flushes write-behind) and close the source store

    const migrated = await runZapo(
        ['migrate', '--from', `sqlite:${srcPath}`, '--to', urls.postgres, '--all', '--json'],
        { cwd: dir }
    )
    assert.equal(migrated.code, 0, migrated.stderr)
    const out = json(migrated)
    assert.deepEqual(
        out.sessions.map(s => [s.sessionId, s.verified]),
        [['tenant', true]]
    )
    assert.ok(out.sessions[0].digests.session.count >= 2, 'both peer sessions were migrated')

    // the migrated session, from the target only: no QR, logs in, and decrypts on the old sessions
    const connectFrom = async url => {
        const target = await openTestStore(url, 'write')
        const client = createWaClient({
            store: await target.createWaStore(),
            sessionId: 'tenant',
            server: { url: sandbox.url, rootCa: sandbox.rootCa },
            logger: testLogger('migrated'),
            tuning: { timeoutIntervalMs: 1_000 }
        })
        let closed = false
        const close = async () => {
            if (closed) return
            closed = true
            await client.disconnect().catch(() => undefined)
            await target.close()
        }
        t.after(close)
        let qrShown = false
        client.on('auth_qr', () => (qrShown = true))
        const login = sandbox.waitFor('login', e => e.jid === paired.jid, 15_000)
        await client.connect()
        await login
        assert.equal(qrShown, false, `the session migrated to ${url} had to pair again`)
        return { client, close }
    }
    const expectDecrypts = async (client, round, typeA) => {
        for (const [peer, text, type] of [
            [peerA, `round ${round}, A`, typeA],
            [peerB, `round ${round}, B`, 'msg']
        ]) {
            const received = nextEvent(client, 'message', m => m.message?.conversation === text)
            const sent = await sandbox.sendMessage({ to: paired.jid, from: peer, text })
            assert.equal(sent.deliveries[0].type, type)
            assert.equal((await received).message.conversation, text)
        }
    }
    // A never got an answer, so it still sends prekey messages naming the one-time prekey the
    // device consumed before the move: only the migrated session can decrypt them. B got one, so
    // it ratchets on (msg).
    const onPostgres = await connectFrom(urls.postgres)
    await expectDecrypts(onPostgres.client, 1, 'pkmsg')
    await onPostgres.close()

    // and on: postgres → redis → mysql, the session keeps working after each move
    let from = urls.postgres
    for (const [round, to] of [
        [2, urls.redis],
        [3, urls.mysql]
    ]) {
        const moved = await runZapo(['migrate', '--from', from, '--to', to, '--all', '--json'], {
            cwd: dir
        })
        assert.equal(moved.code, 0, moved.stderr)
        assert.deepEqual(
            json(moved).sessions.map(s => [s.sessionId, s.verified]),
            [['tenant', true]]
        )
        const next = await connectFrom(to)
        await expectDecrypts(next.client, round, 'pkmsg')
        await next.close()
        from = to
    }
})
