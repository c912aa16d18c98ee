// `runMigrate` in-process (options parsing, progress, cancellation, the journal) and the flag
// parser, against real SQLite stores. The spawned-binary tests are in test/commands/migrate.test.js.

import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'

import { makeSession, openTestStore } from '../helpers/fixtures.js'
import { runMigrate } from '../../dist/ops/migrate.js'
import {
    formatProgress,
    parseArchiveDomains,
    parseDomains,
    prepare
} from '../../dist/commands/migrate.js'
import { DURABLE_DOMAINS, parseStoreUrl, singleStore } from '../../dist/store/address.js'
import { migrationMarksFor } from '../../dist/store/migration-marks.js'

function dir(t) {
    const d = mkdtempSync(join(tmpdir(), 'zapo-migrate-ops-'))
    t.after(() => rmSync(d, { recursive: true, force: true }))
    return d
}

const spec = url => singleStore(parseStoreUrl(url, 'flag', process.cwd()))

async function seeded(path, ids, shape) {
    const store = await openTestStore(`sqlite:${path}`, 'write')
    try {
        for (const id of ids) await makeSession(store, id, shape)
    } finally {
        await store.close()
    }
}

function options(from, to, extra = {}) {
    return {
        from: spec(`sqlite:${from}`),
        to: spec(`sqlite:${to}`),
        sessions: 'all',
        domains: [...DURABLE_DOMAINS],
        mode: 'copy',
        existing: 'refuse',
        deleteSource: false,
        batchSize: 20,
        ...extra
    }
}

test('progress runs to the total, one onSession per session, the journal marks them verified; nothing on stdout', async t => {
    const d = dir(t)
    await seeded(join(d, 'a.sqlite'), ['s1', 's2', 's3'])
    const writes = []
    const original = process.stdout.write
    process.stdout.write = (chunk, ...rest) => (
        writes.push(String(chunk)),
        original.call(process.stdout, chunk, ...rest)
    )
    const progress = []
    const sessions = []
    let plan
    let result
    try {
        result = await runMigrate(options(join(d, 'a.sqlite'), join(d, 'b.sqlite')), {
            onPlan: p => (plan = p),
            onProgress: p => progress.push(p),
            onSession: o => sessions.push(o.sessionId)
        })
    } finally {
        process.stdout.write = original
    }
    assert.deepEqual(
        writes.filter(w => !w.startsWith('#') && !w.startsWith('ok') && w.trim() !== ''),
        []
    )
    assert.equal(result.status, 'migrated')
    assert.deepEqual(
        plan.sessions.map(s => s.action),
        ['copy', 'copy', 'copy']
    )
    assert.deepEqual([...sessions].sort(), ['s1', 's2', 's3'])
    const last = progress[progress.length - 1]
    assert.equal(last.done, plan.recordsToCopy)
    assert.equal(last.total, plan.recordsToCopy)
    assert.ok(
        progress.every((p, i) => i === 0 || p.done >= progress[i - 1].done),
        'done never goes back'
    )
    assert.ok(progress.every(p => p.rate >= 0 && (p.etaMs === null || p.etaMs >= 0)))
    const target = await openTestStore(`sqlite:${join(d, 'b.sqlite')}`, 'read')
    try {
        const marks = await migrationMarksFor(target.primary).readAll()
        assert.deepEqual([...marks.values()].map(m => [m.sessionId, m.state]).sort(), [
            ['s1', 'verified'],
            ['s2', 'verified'],
            ['s3', 'verified']
        ])
        assert.ok([...marks.values()].every(m => m.source === `sqlite:${join(d, 'a.sqlite')}`))
    } finally {
        await target.close()
    }
})

test('an abort stops after the current batch: status cancelled, the unfinished session stays "copying" and the rerun resumes it', async t => {
    const d = dir(t)
    await seeded(join(d, 'a.sqlite'), ['big'], { preKeys: 300, identities: 300 })
    const controller = new AbortController()
    const first = await runMigrate(
        options(join(d, 'a.sqlite'), join(d, 'b.sqlite'), { concurrency: 1 }),
        {
            signal: controller.signal,
            onProgress: p => {
                if (p.done >= 40) controller.abort()
            }
        }
    )
    assert.equal(first.status, 'cancelled')
    assert.deepEqual(first.sessions, [])
    const target = await openTestStore(`sqlite:${join(d, 'b.sqlite')}`, 'read')
    try {
        const marks = await migrationMarksFor(target.primary).readAll()
        assert.equal(marks.get('big')?.state, 'copying')
        // credentials are written last: the half copy does not look like a paired session
        assert.equal(await target.domain('auth', 'big').load(), null)
    } finally {
        await target.close()
    }
    const second = await runMigrate(options(join(d, 'a.sqlite'), join(d, 'b.sqlite')))
    assert.equal(second.status, 'migrated')
    assert.deepEqual(
        second.sessions.map(s => [s.sessionId, s.action, s.verified]),
        [['big', 'resume', true]]
    )
})

test('flag parsing: domains, exclusive flags, bare backend names through the environment', () => {
    assert.deepEqual(parseDomains(undefined, false), [...DURABLE_DOMAINS])
    assert.deepEqual(parseDomains('session, auth', false), ['auth', 'session'])
    assert.throws(() => parseDomains('auth,nope', false), /unknown domain "nope"/)
    // archive domains: opt-in with --archive or by name in --domains (test/commands/migrate-archive.test.js)
    assert.deepEqual(parseDomains(undefined, true), [...DURABLE_DOMAINS])
    assert.deepEqual(parseArchiveDomains(undefined, false), [])
    assert.deepEqual(parseArchiveDomains(undefined, true), ['messages', 'threads', 'contacts'])
    assert.deepEqual(parseDomains('contacts,auth,messages', false), ['auth'])
    assert.deepEqual(parseArchiveDomains('contacts,auth,messages', false), ['messages', 'contacts'])
    const ctx = {
        config: { path: null, backends: {}, domains: {}, check: {} },
        env: {
            DATABASE_URL: 'postgres://db.example/zapo',
            REDIS_URL: 'redis://cache.example:6379'
        },
        cwd: '/srv/app',
        optionalSessionId: () => null
    }
    const parsed = prepare({ from: 'sqlite', to: 'postgres', all: true }, ctx)
    assert.equal(parsed.from.primary.target, '/srv/app/zapo.sqlite')
    assert.equal(parsed.to.primary.kind, 'postgres')
    assert.equal(parsed.sessions, 'all')
    assert.equal(parsed.mode, 'copy')
    assert.equal(parsed.existing, 'refuse')
    assert.equal(
        prepare({ from: 'redis', to: 'sqlite', session: ['a', 'b'], overwrite: true }, ctx)
            .existing,
        'overwrite'
    )
    assert.equal(
        prepare({ from: 'redis', to: 'sqlite', all: true, dryRun: true }, ctx).mode,
        'dry-run'
    )
    assert.throws(() => prepare({ to: 'postgres', all: true }, ctx), /--from STORE/)
    // no session named anywhere: every session, and the command shows the plan first
    const every = prepare({ from: 'sqlite', to: 'postgres' }, ctx)
    assert.equal(every.sessions, 'all')
    assert.equal(every.everyByDefault, true)
    assert.equal(parsed.everyByDefault, false, '--all is not a default')
    // ZAPO_SESSION / the config file's session wins over that default
    const named = prepare(
        { from: 'sqlite', to: 'postgres' },
        { ...ctx, optionalSessionId: () => 'tenant-7' }
    )
    assert.deepEqual(named.sessions, ['tenant-7'])
    assert.equal(named.everyByDefault, false)
    assert.throws(
        () => prepare({ from: 'sqlite', to: 'postgres', all: true, session: ['x'] }, ctx),
        /exclude/
    )
    assert.throws(
        () =>
            prepare(
                { from: 'sqlite', to: 'postgres', all: true, deleteSource: true, dryRun: true },
                ctx
            ),
        /--delete-source/
    )
    assert.throws(() => prepare({ from: 'sqlite', to: 'mysql', all: true }, ctx), /MYSQL_URL/)
    assert.throws(
        () => prepare({ from: 'sqlite', to: 'postgres', session: ['bad id'] }, ctx),
        /invalid session id/
    )
    assert.throws(
        () => prepare({ from: 'sqlite', to: 'postgres', all: true, batchSize: '0' }, ctx),
        /--batch-size/
    )
})

test('formatProgress shows records, sessions, rate and ETA (none before 2 s), the session last', () => {
    const progress = {
        phase: 'copy',
        sessionId: 'tenant-1',
        sessionDone: 500,
        sessionTotal: 2800,
        done: 14_000,
        total: 28_000,
        sessionsDone: 4,
        sessionsTotal: 10,
        elapsedMs: 2_000,
        rate: 7_000,
        etaMs: 125_000
    }
    assert.equal(
        formatProgress(progress),
        'copy 14000/28000 records (50%), sessions 4/10, 7000 rec/s, ETA 2m | tenant-1 (500/2800)'
    )
    assert.equal(
        formatProgress({ ...progress, elapsedMs: 300 }),
        'copy 14000/28000 records (50%), sessions 4/10, 7000 rec/s | tenant-1 (500/2800)',
        'no ETA from the first few hundred milliseconds'
    )
})
