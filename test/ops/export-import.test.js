// runExport / runImport as a library: deterministic plaintext, the format's own checks,
// all-or-nothing writes (a failure half-way, with and without --force, and an abort), and
// that the ops never print.

import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { test } from 'node:test'

import { Decrypter, Encrypter, generateIdentity, identityToRecipient } from 'age-encryption'
import Database from 'better-sqlite3'

import { dropStore, makeSession, openTestStore, storeUrls } from '../helpers/fixtures.js'
import { parseStoreUrl, singleStore } from '../../dist/store/address.js'
import { catalogFor } from '../../dist/store/catalog.js'
import { digestRecords, readSessionRecords } from '../../dist/store/records.js'
import { runExport } from '../../dist/ops/export.js'
import { runImport } from '../../dist/ops/import.js'
import { decodeValue, encodeValue, parseExport } from '../../dist/export/format.js'

const spec = url => singleStore(parseStoreUrl(url, 'flag', process.cwd()))

function urlsFor(t) {
    const urls = storeUrls()
    t.after(async () => {
        for (const url of Object.values(urls)) await dropStore(url).catch(() => undefined)
    })
    return urls
}

async function withStore(url, fn, mode = 'write') {
    const store = await openTestStore(url, mode)
    try {
        return await fn(store)
    } finally {
        await store.close()
    }
}

async function digestOf(url, id) {
    return withStore(
        url,
        async store => {
            const catalog = catalogFor(store.primary, parseStoreUrl(url, 'flag', process.cwd()))
            return {
                digests: await digestRecords(readSessionRecords(store, catalog, id)),
                counts: await catalog.counts(id),
                ids: await catalog.listSessionIds()
            }
        },
        'read'
    )
}

function sqliteRows(url) {
    const path = parseStoreUrl(url, 'flag', process.cwd()).target
    const db = new Database(path, { readonly: true })
    try {
        const out = {}
        for (const { name } of db
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .all()) {
            const rows = db
                .prepare(`SELECT * FROM "${name}"`)
                .all()
                .map(r =>
                    JSON.stringify(r, (_k, v) => (Buffer.isBuffer(v) ? v.toString('hex') : v))
                )
            rows.sort()
            out[name] =
                createHash('sha256').update(rows.join('\n')).digest('hex') + `:${rows.length}`
        }
        return out
    } finally {
        db.close()
    }
}

/** Exports to memory, encrypted to a fresh identity; returns the file bytes and the identity. */
async function exportToMemory(url, sessionIds, options = {}) {
    const identity = await generateIdentity()
    const chunks = []
    const result = await runExport(
        {
            store: spec(url),
            sessionIds,
            encryption: { kind: 'recipients', recipients: [await identityToRecipient(identity)] },
            armor: false,
            target: { kind: 'stream', write: async chunk => void chunks.push(chunk) },
            ...options
        },
        { now: () => new Date('2026-01-02T03:04:05.000Z') }
    )
    return { bytes: Buffer.concat(chunks), identity, result }
}

async function plaintextOf(bytes, identity) {
    const d = new Decrypter()
    d.addIdentity(identity)
    return d.decrypt(bytes, 'text')
}

function importOptions(bytes, identity, url, extra = {}) {
    return {
        input: new Uint8Array(bytes),
        name: 'test.age',
        store: url === null ? null : spec(url),
        sessionId: null,
        force: false,
        dryRun: false,
        identities: [identity],
        passphrase: async () => null,
        ...extra
    }
}

test('canonical values: sorted keys, tagged bytes and maps, round trip', () => {
    const value = {
        b: new Uint8Array([1, 2, 3]),
        a: 1,
        m: new Map([
            ['z', new Uint8Array([9])],
            ['a', 2]
        ]),
        u: undefined,
        n: null,
        l: [true, 'x']
    }
    const encoded = encodeValue(value)
    assert.equal(
        JSON.stringify(encoded),
        '{"a":1,"b":{"$bytes":"AQID"},"l":[true,"x"],"m":{"$map":[["a",2],["z",{"$bytes":"CQ=="}]]},"n":null}'
    )
    const decoded = decodeValue(JSON.parse(JSON.stringify(encoded)))
    assert.deepEqual(decoded.b, new Uint8Array([1, 2, 3]))
    assert.deepEqual(
        [...decoded.m.entries()],
        [
            ['a', 2],
            ['z', new Uint8Array([9])]
        ]
    )
    assert.throws(() => decodeValue({ $bytes: 'not base64!' }), /malformed/)
    assert.throws(() => encodeValue({ x: Infinity }), /non-finite/)
})

test('the same state exports to the same plaintext; the ops never print', async t => {
    const urls = urlsFor(t)
    await withStore(urls.sqlite, s => makeSession(s, 'det'))
    const writes = []
    const original = process.stdout.write
    process.stdout.write = (...args) => {
        writes.push(args[0])
        return true
    }
    let a, b
    try {
        a = await exportToMemory(urls.sqlite, ['det'])
        b = await exportToMemory(urls.sqlite, ['det'])
    } finally {
        process.stdout.write = original
    }
    assert.deepEqual(writes, [], 'runExport wrote to stdout')
    const [pa, pb] = [
        await plaintextOf(a.bytes, a.identity),
        await plaintextOf(b.bytes, b.identity)
    ]
    assert.equal(pa, pb, 'two exports of one state differ')
    assert.notDeepEqual(a.bytes, b.bytes, 'but the ciphertexts do (fresh file keys)')
    const parsed = parseExport(new TextEncoder().encode(pa))
    assert.equal(
        parsed.sessions[0].end.counts.signalSessions,
        a.result.sessions[0].counts.signalSessions
    )
    assert.equal(parsed.records, a.result.records)
})

test('a failure half-way removes everything written; the target is as it was', async t => {
    const urls = urlsFor(t)
    await withStore(urls.postgres, s => makeSession(s, 'mid', { preKeys: 60, signalSessions: 6 }))
    await withStore(urls.sqlite, s => makeSession(s, 'resident'))
    const { bytes, identity } = await exportToMemory(urls.postgres, ['mid'])
    const before = sqliteRows(urls.sqlite)
    const residentBefore = await digestOf(urls.sqlite, 'resident')

    let writes = 0
    await assert.rejects(
        runImport(importOptions(bytes, identity, urls.sqlite, { batchSize: 10 }), {
            beforeWrite: () => {
                writes += 1
                if (writes === 5) throw new Error('connection lost')
            }
        }),
        /connection lost/
    )
    assert.equal(writes, 5, 'the failure came after some batches were written')
    const after = await digestOf(urls.sqlite, 'mid')
    assert.deepEqual(after.digests, {}, 'nothing of the session is left')
    assert.deepEqual(after.ids, ['resident'])
    assert.deepEqual(await digestOf(urls.sqlite, 'resident'), residentBefore)
    const rows = sqliteRows(urls.sqlite)
    // the store packages' own per-session bookkeeping rows (not records) may stay behind
    const changed = Object.keys(rows).filter(k => rows[k] !== before[k])
    assert.ok(
        // (and the lease table the run created, empty again once the run released its lease)
        changed.every(
            k => k === 'signal_meta' || (k === 'zapo_session_leases' && rows[k].endsWith(':0'))
        ),
        `tables changed: ${changed.join(', ')}`
    )

    // an abort (Ctrl-C) between batches: CANCELLED, same clean state
    const controller = new AbortController()
    let seen = 0
    await assert.rejects(
        runImport(importOptions(bytes, identity, urls.sqlite, { batchSize: 10 }), {
            signal: controller.signal,
            onProgress: () => {
                seen += 1
                if (seen === 3) controller.abort()
            }
        }),
        err => err.code === 'CANCELLED'
    )
    assert.deepEqual((await digestOf(urls.sqlite, 'mid')).digests, {})

    // and a clean run afterwards imports everything
    await runImport(importOptions(bytes, identity, urls.sqlite))
    assert.deepEqual(
        (await digestOf(urls.sqlite, 'mid')).digests,
        (await digestOf(urls.postgres, 'mid')).digests
    )
})

test('with --force, a failure half-way restores the session that was replaced', async t => {
    const urls = urlsFor(t)
    await withStore(urls.redis, s => makeSession(s, 'tenant'))
    await withStore(urls.mysql, s => makeSession(s, 'tenant', { preKeys: 12, signalSessions: 3 }))
    const { bytes, identity } = await exportToMemory(urls.redis, ['tenant'])
    const before = await digestOf(urls.mysql, 'tenant')

    await assert.rejects(
        runImport(importOptions(bytes, identity, urls.mysql, { force: true, batchSize: 5 }), {
            beforeWrite: (_id, _batch, index) => {
                if (index === 4) throw new Error('disk full')
            }
        }),
        /disk full/
    )
    assert.deepEqual(
        await digestOf(urls.mysql, 'tenant'),
        before,
        'the replaced session is back, record for record'
    )

    const result = await runImport(importOptions(bytes, identity, urls.mysql, { force: true }))
    assert.equal(result.sessions[0].replaced, true)
    const [src, dst] = [await digestOf(urls.redis, 'tenant'), await digestOf(urls.mysql, 'tenant')]
    assert.deepEqual(dst.digests, src.digests)
})

test('dry run needs no store and opens none', async t => {
    const urls = urlsFor(t)
    await withStore(urls.sqlite, s => makeSession(s, 'dry'))
    const { bytes, identity } = await exportToMemory(urls.sqlite, ['dry'], {
        domains: ['auth', 'signal', 'preKey']
    })
    const result = await runImport(importOptions(bytes, identity, null, { dryRun: true }))
    assert.equal(result.dryRun, true)
    assert.equal(result.file.partial, true)
    assert.deepEqual(result.file.domains, ['auth', 'signal', 'preKey'])
    assert.equal(result.sessions[0].counts.signalSessions, 0)
    assert.ok(result.sessions[0].counts.preKeys > 0)
    assert.ok(
        result.sessions[0].integrity.some(
            c => c.name === 'signed-prekey-signature' && c.status === 'pass'
        )
    )
    const target = storeUrls().sqlite
    await runImport(importOptions(bytes, identity, target, { dryRun: true }))
    assert.ok(!existsSync(parseStoreUrl(target, 'flag', process.cwd()).target))
})

test('a passphrase file is asked for only when the file needs one', async t => {
    const urls = urlsFor(t)
    await withStore(urls.sqlite, s =>
        makeSession(s, 'pp', { preKeys: 2, uploaded: 1, signalSessions: 1, identities: 1 })
    )
    const chunks = []
    await runExport({
        store: spec(urls.sqlite),
        sessionIds: ['pp'],
        encryption: { kind: 'passphrase', passphrase: 'pw-123456', workFactor: 10 },
        armor: false,
        target: { kind: 'stream', write: async c => void chunks.push(c) }
    })
    const bytes = Buffer.concat(chunks)
    let asked = 0
    const ok = await runImport({
        ...importOptions(bytes, 'unused', null, { dryRun: true }),
        identities: [],
        passphrase: async () => (asked++, 'pw-123456')
    })
    assert.equal(asked, 1)
    assert.equal(ok.file.encryption, 'passphrase')
    await assert.rejects(
        runImport({
            ...importOptions(bytes, 'unused', null, { dryRun: true }),
            identities: [],
            passphrase: async () => null
        }),
        err => err.code === 'USAGE' && /--passphrase-file/.test(err.message)
    )
    // age-encryption decrypts it on its own
    const d = new Decrypter()
    d.addPassphrase('pw-123456')
    assert.match(
        await d.decrypt(bytes, 'text'),
        /^\{"type":"header","format":"zapo-export","version":1,/
    )
    // an age file that holds something else is not ours
    const e = new Encrypter()
    e.setPassphrase('pw-123456')
    e.setScryptWorkFactor(10)
    await assert.rejects(
        runImport({
            ...importOptions(await e.encrypt('hello\n'), 'unused', null, { dryRun: true }),
            identities: [],
            passphrase: async () => 'pw-123456'
        }),
        err => err.code === 'BAD_FILE' && /not a zapo export/.test(err.message)
    )
})

test('an interrupted export leaves no file and no temporary file behind', async t => {
    const urls = urlsFor(t)
    await withStore(urls.sqlite, s => makeSession(s, 'cut', { preKeys: 40, uploaded: 5 }))
    const { mkdtempSync, readdirSync, rmSync } = await import('node:fs')
    const { join } = await import('node:path')
    const { tmpdir } = await import('node:os')
    const dir = mkdtempSync(join(tmpdir(), 'zapo-cut-'))
    t.after(() => rmSync(dir, { recursive: true, force: true }))
    const identity = await generateIdentity()
    const controller = new AbortController()
    let progress = 0
    await assert.rejects(
        runExport(
            {
                store: spec(urls.sqlite),
                sessionIds: ['cut'],
                encryption: {
                    kind: 'recipients',
                    recipients: [await identityToRecipient(identity)]
                },
                armor: false,
                target: { kind: 'file', path: join(dir, 'cut.age'), force: false },
                batchSize: 10
            },
            {
                signal: controller.signal,
                onProgress: () => {
                    progress += 1
                    if (progress === 2) controller.abort()
                }
            }
        ),
        err => err.code === 'CANCELLED'
    )
    assert.ok(progress >= 2)
    assert.deepEqual(readdirSync(dir), [])
})
