// `zapo migrate --archive`: messages, threads and contacts move with the session and verify;
// a default migration leaves them behind. The binary is spawned; what the target holds is
// read back through the zapo-js store contracts (WaMessageStore, WaThreadStore, WaContactStore).

import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'

import { makeArchive, normalizeRecord, snapshotArchive } from '../helpers/archive.js'
import { runAndKill, urlsFor, withStore } from '../helpers/export.js'
import { makeSession } from '../helpers/fixtures.js'
import { runZapo } from '../helpers/run.js'
import { archiveCatalogFor } from '../../dist/store/archive.js'

function cwd(t) {
    const dir = mkdtempSync(join(tmpdir(), 'zapo-migrate-archive-'))
    t.after(() => rmSync(dir, { recursive: true, force: true }))
    return dir
}

/** Sessions with durable records (the shared fixture) and archive records (written one at a time). */
async function seed(url, ids, shape) {
    return withStore(url, async store => {
        const out = []
        for (const id of ids) {
            await makeSession(store, id, {
                preKeys: 20,
                uploaded: 10,
                sessions: 2,
                identities: 2,
                groups: 1
            })
            out.push(await makeArchive(store, id, shape))
        }
        return out
    })
}

async function archiveCounts(url, ids) {
    return withStore(
        url,
        async store => Object.fromEntries(await archiveCatalogFor(store).countsMany(ids)),
        'read'
    )
}

function json(result) {
    assert.ok(result.stdout.trim().length > 0, `no stdout; stderr: ${result.stderr}`)
    return JSON.parse(result.stdout)
}

async function assertArchiveEqual(srcUrl, dstUrl, fixtures) {
    for (const fixture of fixtures) {
        const [a, b] = await Promise.all([
            withStore(srcUrl, s => snapshotArchive(s, fixture), 'read'),
            withStore(dstUrl, s => snapshotArchive(s, fixture), 'read')
        ])
        // the source holds exactly what the fixture wrote
        assert.deepEqual(
            a,
            normalizeRecord(fixture.records),
            `source archive of ${fixture.sessionId}`
        )
        assert.deepEqual(b, a, `archive of ${fixture.sessionId} differs between source and target`)
    }
}

const PAIRS = [
    ['sqlite', 'postgres'],
    ['postgres', 'redis'],
    ['redis', 'mysql']
]

for (const [from, to] of PAIRS) {
    test(`migrate --archive ${from} → ${to}: every message, thread and contact arrives and verifies`, async t => {
        const urls = urlsFor(t)
        // on Redis, 'acme:2' shares the key pattern of 'acme': neither may pick up the other's records
        const ids = from === 'redis' ? ['acme', 'acme:2'] : ['tenant-a', 'tenant-b']
        const fixtures = await seed(urls[from], ids, { messages: 30 + (from === 'redis' ? 7 : 0) })
        const dir = cwd(t)
        const args = [
            'migrate',
            '--from',
            urls[from],
            '--to',
            urls[to],
            '--all',
            '--archive',
            '--json',
            '--batch-size',
            '8'
        ]
        const result = await runZapo(args, { cwd: dir, timeoutMs: 120_000 })
        assert.equal(result.code, 0, result.stderr)
        const out = json(result)
        assert.equal(out.status, 'migrated')
        assert.deepEqual(out.domains.slice(-3), ['messages', 'threads', 'contacts'])
        assert.deepEqual(
            out.sessions.map(s => [s.sessionId, s.action, s.verified]),
            ids.map(id => [id, 'copy', true])
        )
        assert.equal(out.totals.copiedRecords, out.recordsToCopy)
        for (const [i, fixture] of fixtures.entries()) {
            const s = out.sessions[i]
            assert.deepEqual(
                {
                    messages: s.records.messages,
                    threads: s.records.threads,
                    contacts: s.records.contacts
                },
                fixture.counts,
                `plan counts of ${fixture.sessionId}`
            )
            for (const domain of ['messages', 'threads', 'contacts']) {
                assert.equal(
                    s.digests[domain].count,
                    fixture.counts[domain],
                    `${domain} digest count of ${fixture.sessionId}`
                )
                assert.match(s.digests[domain].sha256, /^[0-9a-f]{64}$/)
            }
        }
        await assertArchiveEqual(urls[from], urls[to], fixtures)
        assert.deepEqual(
            await archiveCounts(urls[to], ids),
            Object.fromEntries(fixtures.map(f => [f.sessionId, f.counts]))
        )

        // the rerun re-verifies, copies nothing; --verify-only --archive passes too
        const again = json(await runZapo(args, { cwd: dir, timeoutMs: 120_000 }))
        assert.equal(again.status, 'migrated')
        assert.deepEqual(
            again.sessions.map(s => [s.action, s.verified]),
            ids.map(() => ['reverify', true])
        )
        assert.equal(again.totals.copiedRecords, 0)
        const verify = await runZapo(
            [
                'migrate',
                '--from',
                urls[from],
                '--to',
                urls[to],
                '--all',
                '--archive',
                '--verify-only',
                '--json'
            ],
            {
                cwd: dir,
                timeoutMs: 120_000
            }
        )
        assert.equal(verify.code, 0, verify.stderr)
        assert.equal(json(verify).status, 'verified')
    })
}

test('a default migrate (no --archive) leaves the target archive empty', async t => {
    const urls = urlsFor(t)
    const fixtures = await seed(urls.sqlite, ['solo'])
    const result = await runZapo(
        ['migrate', '--from', urls.sqlite, '--to', urls.postgres, '--all', '--json'],
        { cwd: cwd(t) }
    )
    assert.equal(result.code, 0, result.stderr)
    const out = json(result)
    assert.equal(out.status, 'migrated')
    assert.ok(!out.domains.includes('messages'))
    assert.equal(out.sessions[0].digests.messages, undefined)
    assert.equal(out.sessions[0].records.messages, undefined)
    assert.deepEqual(await archiveCounts(urls.postgres, ['solo']), {
        solo: { messages: 0, threads: 0, contacts: 0 }
    })
    // through the contracts too: nothing there
    const snap = await withStore(urls.postgres, s => snapshotArchive(s, fixtures[0]), 'read')
    assert.ok(
        snap.messages.every(m => m === null) &&
            snap.threads.every(m => m === null) &&
            snap.contacts.every(m => m === null)
    )
    // the source still holds its archive
    assert.deepEqual(await archiveCounts(urls.sqlite, ['solo']), { solo: fixtures[0].counts })
})

test('--domains messages copies only the messages; --verify-only --archive names the missing domains', async t => {
    const urls = urlsFor(t)
    const fixtures = await seed(urls.sqlite, ['m1'])
    const dir = cwd(t)
    const result = await runZapo(
        [
            'migrate',
            '--from',
            urls.sqlite,
            '--to',
            urls.redis,
            '--all',
            '--domains',
            'auth,messages',
            '--json'
        ],
        { cwd: dir }
    )
    assert.equal(result.code, 0, result.stderr)
    const out = json(result)
    assert.deepEqual(out.domains, ['auth', 'messages'])
    assert.equal(out.totals.copiedRecords, 1 + fixtures[0].counts.messages)
    assert.deepEqual(await archiveCounts(urls.redis, ['m1']), {
        m1: { messages: fixtures[0].counts.messages, threads: 0, contacts: 0 }
    })
    const verify = await runZapo(
        [
            'migrate',
            '--from',
            urls.sqlite,
            '--to',
            urls.redis,
            '--all',
            '--domains',
            'auth',
            '--archive',
            '--verify-only',
            '--json'
        ],
        {
            cwd: dir
        }
    )
    assert.equal(verify.code, 19, verify.stderr)
    const failed = json(verify).error
    assert.equal(failed.code, 'VERIFY_FAILED')
    assert.equal(failed.meta.summary.status, 'verify-failed')
    assert.deepEqual(failed.meta.summary.sessions[0].mismatches.map(m => m.domain).sort(), [
        'contacts',
        'threads'
    ])
    assert.match(
        verify.stderr,
        /threads: source 6 records, target 0; contacts: source 8 records, target 0/
    )
})

test('a changed message in the target fails verification; --overwrite --archive repairs it', async t => {
    const urls = urlsFor(t)
    const fixtures = await seed(urls.sqlite, ['v1'])
    const dir = cwd(t)
    const args = [
        'migrate',
        '--from',
        urls.sqlite,
        '--to',
        urls.mysql,
        '--all',
        '--archive',
        '--json'
    ]
    assert.equal((await runZapo(args, { cwd: dir, timeoutMs: 60_000 })).code, 0)
    const id = fixtures[0].messageIds[3]
    await withStore(urls.mysql, async s => {
        const messages = s.domain('messages', 'v1')
        const m = await messages.getById(id)
        await messages.upsert({ ...m, fromMe: !m.fromMe })
        // and a stray thread the source does not have
        await s.domain('threads', 'v1').upsert({ jid: '120363000000000000@g.us', name: 'stray' })
    })
    const verify = await runZapo([...args, '--verify-only'], { cwd: dir })
    assert.equal(verify.code, 19, verify.stderr)
    const failed = json(verify).error.meta.summary
    assert.equal(failed.status, 'verify-failed')
    assert.deepEqual(failed.sessions[0].mismatches.map(m => m.domain).sort(), [
        'messages',
        'threads'
    ])
    assert.match(
        verify.stderr,
        /messages: source 40 records, target 40 \(contents differ\); threads: source 6 records, target 7/
    )
    const repaired = await runZapo([...args, '--overwrite'], { cwd: dir, timeoutMs: 60_000 })
    assert.equal(repaired.code, 0, repaired.stderr)
    const out = json(repaired)
    // the earlier verified run makes it a re-verification, which --overwrite turns into a fresh copy
    assert.deepEqual(
        out.sessions.map(s => s.verified),
        [true]
    )
    assert.equal(
        out.sessions[0].copied,
        Object.values(out.sessions[0].records).reduce((n, v) => n + v, 0)
    )
    assert.equal(out.sessions[0].records.messages, fixtures[0].counts.messages)
    await assertArchiveEqual(urls.sqlite, urls.mysql, fixtures)
    assert.deepEqual(await archiveCounts(urls.mysql, ['v1']), { v1: fixtures[0].counts })
})

test('contacts: a lookup that misses by jid works with zapo-js 0.3 (isUserJid supplied)', async t => {
    const urls = urlsFor(t)
    await withStore(urls.sqlite, async store => {
        const contacts = store.domain('contacts', 'c1')
        await contacts.upsert({
            jid: '123456789012345@lid',
            phoneNumber: '15550001111@s.whatsapp.net',
            lastUpdatedMs: 1
        })
        // a miss by a phone-number jid falls back to the phone-number lookup (calls isUserJid)
        const byPhone = await contacts.getByJid('15550001111@s.whatsapp.net')
        assert.equal(byPhone?.jid, '123456789012345@lid')
        assert.equal(await contacts.getByJid('15550009999@s.whatsapp.net'), null)
        assert.equal(await contacts.getByJid('120363000000000000@g.us'), null)
    })
})

test('kill -9 while the archive is copied: the same command again finishes, verified, no duplicates', async t => {
    const urls = urlsFor(t)
    const dir = cwd(t)
    const fixtures = await seed(urls.sqlite, ['k1', 'k2', 'k3'], {
        messages: 2_500,
        threads: 40,
        contacts: 60
    })
    const args = [
        'migrate',
        '--from',
        urls.sqlite,
        '--to',
        urls.postgres,
        '--all',
        '--archive',
        '--batch-size',
        '100'
    ]
    const killed = await runAndKill(args, { cwd: dir, signal: 'SIGKILL' })
    assert.equal(
        killed.signal,
        'SIGKILL',
        `the copy finished before it could be killed: ${killed.stderr}`
    )
    const partial = await archiveCounts(urls.postgres, ['k1', 'k2', 'k3'])
    assert.ok(
        Object.values(partial).some(c => c.messages < 2_500),
        `the killed run left some archive uncopied: ${JSON.stringify(partial)}`
    )

    const rerun = await runZapo([...args, '--json'], { cwd: dir, timeoutMs: 180_000 })
    assert.equal(rerun.code, 0, rerun.stderr)
    const out = json(rerun)
    assert.equal(out.status, 'migrated')
    assert.ok(
        out.sessions.every(s => s.verified === true),
        JSON.stringify(out.sessions.map(s => [s.sessionId, s.action, s.verified]))
    )
    assert.ok(
        out.sessions.some(s => s.action === 'resume'),
        'the interrupted session is resumed'
    )
    await assertArchiveEqual(urls.sqlite, urls.postgres, fixtures)
    assert.deepEqual(
        await archiveCounts(urls.postgres, ['k1', 'k2', 'k3']),
        Object.fromEntries(fixtures.map(f => [f.sessionId, f.counts]))
    )
})

test('--dry-run --archive counts the archive per session; --delete-source --archive clears it from the source', async t => {
    const urls = urlsFor(t)
    const fixtures = await seed(urls.sqlite, ['d1'], { messages: 12, threads: 3, contacts: 4 })
    const dir = cwd(t)
    const base = ['migrate', '--from', urls.sqlite, '--to', urls.redis, '--all', '--archive']
    const plan = await runZapo([...base, '--dry-run'], { cwd: dir })
    assert.equal(plan.code, 0, plan.stderr)
    assert.match(
        plan.stdout,
        /domains: auth, signal, preKey, session, identity, senderKey, appState, privacyToken, messages, threads, contacts/
    )
    assert.match(plan.stdout, /messages 12, threads 3, contacts 4/)
    assert.deepEqual(await archiveCounts(urls.redis, ['d1']), {
        d1: { messages: 0, threads: 0, contacts: 0 }
    })

    const moved = await runZapo([...base, '--delete-source', '--json'], {
        cwd: dir,
        timeoutMs: 60_000
    })
    assert.equal(moved.code, 0, moved.stderr)
    const out = json(moved)
    assert.deepEqual(
        out.sessions.map(s => [s.verified, s.sourceDeleted]),
        [[true, true]]
    )
    assert.deepEqual(await archiveCounts(urls.sqlite, ['d1']), {
        d1: { messages: 0, threads: 0, contacts: 0 }
    })
    assert.deepEqual(await archiveCounts(urls.redis, ['d1']), { d1: fixtures[0].counts })
    const there = await withStore(urls.redis, s => snapshotArchive(s, fixtures[0]), 'read')
    assert.deepEqual(there, normalizeRecord(fixtures[0].records))
})
