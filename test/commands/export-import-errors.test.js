// `zapo import` (and `zapo export`) error cases, spawned as a user runs them: each gets one clear line and its own
// exit code, and the target store (a SQLite file, compared row by row) is unchanged.

import assert from 'node:assert/strict'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'

import { Encrypter } from 'age-encryption'

import { runZapo } from '../helpers/run.js'
import {
    ENV,
    PASSPHRASE,
    assertSameSession,
    decryptLines,
    exportTo,
    passFile,
    reencrypt,
    seed,
    sqliteRows,
    tempDir,
    urlsFor
} from '../helpers/export.js'

test('every import error leaves the target store unchanged, with its own exit code', async t => {
    const dir = tempDir(t)
    const urls = urlsFor(t)
    const [fixture] = await seed(urls.postgres, ['victim'])
    // the target already holds another session (and the same id, for EXISTS)
    await seed(urls.sqlite, ['resident'])
    const pass = passFile(dir)
    const out = await exportTo(dir, urls.postgres, [
        '--session',
        'victim',
        '-o',
        'v.age',
        '--passphrase-file',
        pass
    ])
    assert.equal(out.code, 0, out.stderr)
    const good = readFileSync(join(dir, 'v.age'))
    const lines = await decryptLines(good, { passphrase: PASSPHRASE })

    const cases = []
    const add = (name, bytes, code, pattern, extra = []) =>
        cases.push({ name, bytes, code, pattern, extra })
    writeFileSync(join(dir, 'wrong.txt'), 'not the passphrase\n', { mode: 0o600 })
    add('wrong passphrase', good, 16, /wrong passphrase/, [
        '--passphrase-file',
        join(dir, 'wrong.txt')
    ])
    add('truncated', good.subarray(0, good.length - 100), 17, /truncated or was altered/)
    const flipped = Buffer.from(good)
    flipped[flipped.length - 200] ^= 0x01
    add('tampered payload', flipped, 17, /truncated or was altered/)
    // the header MAC (after "--- ") no longer matches: tampering, not a wrong passphrase
    const header = Buffer.from(good)
    const mac = header.indexOf('\n--- ') + 6
    header[mac] = header[mac] === 0x41 ? 0x42 : 0x41
    add('tampered header', header, 17, /damaged or altered age header/)
    add(
        'random bytes',
        Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256)),
        17,
        /not an age-encrypted file/
    )
    add('empty file', Buffer.alloc(0), 17, /is empty/)
    const e = new Encrypter()
    e.setPassphrase(PASSPHRASE)
    e.setScryptWorkFactor(10)
    add(
        'age file holding something else',
        await e.encrypt('{"hello":"world"}\n'),
        17,
        /decrypts, but it is not a zapo export/
    )
    add(
        'newer format version',
        await reencrypt(lines.map(l => (l.type === 'header' ? { ...l, version: 2 } : l))),
        18,
        /format version 2.*upgrade zapo/
    )
    // a record changed inside a correctly encrypted file: only the digest notices
    const edited = structuredClone(lines)
    const identityRecord = edited.find(l => l.type === 'record' && l.domain === 'identity')
    identityRecord.data.identityKey.$bytes = Buffer.alloc(33, 5).toString('base64')
    add(
        'digest mismatch',
        await reencrypt(edited, { fixDigests: false }),
        17,
        /digest mismatch in domain identity/
    )
    // consistent digests, inconsistent credentials: the signed prekey signature is wrong
    const broken = structuredClone(lines)
    for (const l of broken) {
        if (l.type === 'record' && l.kind === 'credentials')
            l.data.signedPreKey.signature.$bytes = Buffer.alloc(64, 1).toString('base64')
        if (l.type === 'record' && l.kind === 'signal')
            l.data.signedPreKey.signature.$bytes = Buffer.alloc(64, 1).toString('base64')
    }
    add(
        'integrity failure',
        await reencrypt(broken),
        5,
        /inconsistent credentials \(.*signed-prekey-signature/
    )
    const truncatedPlain = lines.slice(0, -3)
    add(
        'plaintext without its end',
        await reencrypt(truncatedPlain, { fixDigests: false }),
        17,
        /truncated/
    )

    const before = sqliteRows(urls.sqlite)
    assert.ok(before && Object.keys(before).length > 5)
    for (const c of cases) {
        const file = join(dir, `case-${cases.indexOf(c)}.age`)
        writeFileSync(file, c.bytes)
        const args = c.extra.length > 0 ? c.extra : ['--passphrase-file', pass]
        const result = await runZapo(['--store', urls.sqlite, 'import', file, ...args], {
            cwd: dir,
            env: ENV
        })
        assert.equal(result.code, c.code, `${c.name}: exit ${result.code}, stderr ${result.stderr}`)
        assert.match(result.stderr, c.pattern, c.name)
        assert.equal(
            result.stderr.trim().split('\n').length,
            1,
            `${c.name}: one clear line (${result.stderr})`
        )
        assert.deepEqual(sqliteRows(urls.sqlite), before, `${c.name}: the target store changed`)
        // dry run reports the same error
        const dry = await runZapo(['import', file, '--dry-run', ...args], { cwd: dir, env: ENV })
        assert.equal(dry.code, c.code, `${c.name} (dry run): ${dry.stderr}`)
    }

    // an existing session is never overwritten without --force
    const imp = await runZapo(
        [
            '--store',
            urls.sqlite,
            'import',
            'v.age',
            '--passphrase-file',
            pass,
            '--session',
            'resident'
        ],
        { cwd: dir, env: ENV }
    )
    assert.equal(imp.code, 7, imp.stderr)
    assert.match(imp.stderr, /already exists.*--force/)
    assert.deepEqual(sqliteRows(urls.sqlite), before)

    // --force replaces it: clear, then write
    const forced = await runZapo(
        [
            '--store',
            urls.sqlite,
            'import',
            'v.age',
            '--passphrase-file',
            pass,
            '--session',
            'resident',
            '--force',
            '--json'
        ],
        {
            cwd: dir,
            env: ENV
        }
    )
    assert.equal(forced.code, 0, forced.stderr)
    assert.equal(JSON.parse(forced.stdout).sessions[0].replaced, true)
    assert.match(forced.stderr, /never connect "victim" again/)
    await assertSameSession(urls.postgres, urls.sqlite, fixture, 'resident')
})

test('export of a session the store does not hold: exit 3, one line naming the id and the fix, no file', async t => {
    const dir = tempDir(t)
    const urls = urlsFor(t)
    await seed(urls.sqlite, ['present'])
    const out = await exportTo(dir, urls.sqlite, ['--session', 'ghost', '-o', 'g.age'], {
        ZAPO_PASSPHRASE: PASSPHRASE
    })
    assert.equal(out.code, 3, out.stderr)
    assert.match(out.stderr, /session "ghost" holds no records .*zapo sessions list/)
    assert.equal(out.stderr.trim().split('\n').length, 1, out.stderr)
    assert.equal(existsSync(join(dir, 'g.age')), false, 'no export file is left behind')
})
