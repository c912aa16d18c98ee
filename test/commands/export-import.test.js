// `zapo export` / `zapo import`, spawned as a user runs them: round trips between backends
// (every record read back through the zapo-js store contracts, compared byte for byte and by
// the data layer's digests), passphrase via file and env, recipients, armor, stdout/stdin,
// file mode and overwrite rules, every error case with the target store unchanged, dry runs,
// and interoperability with other age implementations (the reference `age` binary when
// installed, and age-encryption's own Decrypter).

import assert from 'node:assert/strict'
import { execFileSync, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'

import { armor, generateIdentity, identityToRecipient } from 'age-encryption'

import { runZapo } from '../helpers/run.js'
import {
    ENV,
    PASSPHRASE,
    assertSameSession,
    decryptLines,
    digestOf,
    exportTo,
    passFile,
    seed,
    snapshot,
    tempDir,
    urlsFor,
    withStore
} from '../helpers/export.js'

// ---------------------------------------------------------------------------------------------

test('export sqlite → import postgres: passphrase file, 0600, every record equal', async t => {
    const dir = tempDir(t)
    const urls = urlsFor(t)
    const [fixture] = await seed(urls.sqlite, ['tenant-42'])
    const pass = passFile(dir)
    const out = await exportTo(dir, urls.sqlite, [
        '--session',
        'tenant-42',
        '-o',
        't42.age',
        '--passphrase-file',
        pass,
        '--json'
    ])
    assert.equal(out.code, 0, out.stderr)
    const summary = JSON.parse(out.stdout)
    assert.equal(summary.format, 'zapo-export')
    assert.equal(summary.version, 1)
    assert.equal(summary.encryption, 'passphrase')
    assert.equal(summary.sessions[0].meJid, fixture.credentials.meJid)
    assert.equal(summary.sessions[0].counts.signalSessions, fixture.counts.signalSessions)
    assert.ok(!out.stdout.includes(PASSPHRASE), 'the passphrase is never printed')
    const file = join(dir, 't42.age')
    assert.equal(statSync(file).mode & 0o777, 0o600)
    assert.equal(readFileSync(file).subarray(0, 22).toString(), 'age-encryption.org/v1\n')
    assert.deepEqual(
        readFileSync(file).toString('latin1').match(/\.tmp/g) ?? [],
        [],
        'no temp file name leaks into the output'
    )

    const imp = await runZapo(
        ['--store', urls.postgres, 'import', 't42.age', '--passphrase-file', pass],
        { cwd: dir, env: ENV }
    )
    assert.equal(imp.code, 0, imp.stderr)
    assert.match(imp.stdout, /imported 1 session/)
    assert.match(imp.stdout, /verified/)
    await assertSameSession(urls.sqlite, urls.postgres, fixture)
})

test('export redis → import mariadb: two sessions, ZAPO_PASSPHRASE, --armor', async t => {
    const dir = tempDir(t)
    const urls = urlsFor(t)
    const fixtures = await seed(urls.redis, ['alpha', 'beta'])
    const out = await exportTo(
        dir,
        urls.redis,
        ['--session', 'alpha', '--session', 'beta', '-o', 'ab.txt', '--armor'],
        {
            ZAPO_PASSPHRASE: PASSPHRASE
        }
    )
    assert.equal(out.code, 0, out.stderr)
    const text = readFileSync(join(dir, 'ab.txt'), 'utf8')
    assert.ok(text.startsWith('-----BEGIN AGE ENCRYPTED FILE-----\n'), 'armored output')
    assert.equal(statSync(join(dir, 'ab.txt')).mode & 0o777, 0o600)

    const imp = await runZapo(['--store', urls.mysql, 'import', 'ab.txt', '--json'], {
        cwd: dir,
        env: { ...ENV, ZAPO_PASSPHRASE: PASSPHRASE }
    })
    assert.equal(imp.code, 0, imp.stderr)
    const result = JSON.parse(imp.stdout)
    assert.equal(result.file.armored, true)
    assert.deepEqual(
        result.sessions.map(s => s.id),
        ['alpha', 'beta']
    )
    for (const fixture of fixtures) await assertSameSession(urls.redis, urls.mysql, fixture)
})

for (const [from, to] of [
    ['postgres', 'redis'],
    ['sqlite', 'mongo']
]) {
    test(`export ${from} → import ${to}`, async t => {
        if (to === 'mongo' && !process.env.MONGODB_URI) return t.skip('MONGODB_URI not set')
        const dir = tempDir(t)
        const urls = urlsFor(t)
        const [fixture] = await seed(urls[from], [`${from}-1`])
        const out = await exportTo(dir, urls[from], ['--session', `${from}-1`, '-o', 'x.age'], {
            ZAPO_PASSPHRASE: PASSPHRASE
        })
        assert.equal(out.code, 0, out.stderr)
        const imp = await runZapo(['--store', urls[to], 'import', 'x.age'], {
            cwd: dir,
            env: { ...ENV, ZAPO_PASSPHRASE: PASSPHRASE }
        })
        assert.equal(imp.code, 0, imp.stderr)
        await assertSameSession(urls[from], urls[to], fixture)
    })
}

test('recipients: --recipient and --recipients-file; import needs a matching --identity', async t => {
    const dir = tempDir(t)
    const urls = urlsFor(t)
    const [fixture] = await seed(urls.sqlite, ['r1'])
    const [id1, id2, stranger] = await Promise.all([
        generateIdentity(),
        generateIdentity(),
        generateIdentity()
    ])
    writeFileSync(
        join(dir, 'id1.txt'),
        `# created: today\n# public key: ${await identityToRecipient(id1)}\n${id1}\n`
    )
    writeFileSync(join(dir, 'id2.txt'), `${id2}\n`)
    writeFileSync(join(dir, 'stranger.txt'), `${stranger}\n`)
    writeFileSync(join(dir, 'recipients.txt'), `# team\n\n${await identityToRecipient(id2)}\n`)
    const out = await exportTo(dir, urls.sqlite, [
        '--session',
        'r1',
        '-o',
        'r1.age',
        '--recipient',
        await identityToRecipient(id1),
        '--recipients-file',
        'recipients.txt',
        '--json'
    ])
    assert.equal(out.code, 0, out.stderr)
    assert.equal(JSON.parse(out.stdout).recipients, 2)
    const bytes = readFileSync(join(dir, 'r1.age'))
    assert.equal((bytes.toString('latin1').match(/\n-> X25519 /g) ?? []).length, 2)

    // the identity of either recipient opens it; independent decryption agrees
    for (const identity of [id1, id2]) {
        const lines = await decryptLines(bytes, { identity })
        assert.equal(lines[0].format, 'zapo-export')
    }
    const none = await runZapo(['import', 'r1.age', '--dry-run'], { cwd: dir, env: ENV })
    assert.equal(none.code, 2, none.stderr)
    assert.match(none.stderr, /--identity/)
    const wrong = await runZapo(
        ['--store', urls.postgres, 'import', 'r1.age', '--identity', 'stranger.txt'],
        { cwd: dir, env: ENV }
    )
    assert.equal(wrong.code, 16, wrong.stderr)
    assert.match(wrong.stderr, /none of the given identities/)
    const notIdentity = await runZapo(
        ['import', 'r1.age', '--identity', 'recipients.txt', '--dry-run'],
        { cwd: dir, env: ENV }
    )
    assert.equal(notIdentity.code, 2, notIdentity.stderr)
    assert.match(notIdentity.stderr, /not an age identity file/)

    const imp = await runZapo(
        ['--store', urls.postgres, 'import', 'r1.age', '--identity', 'id2.txt'],
        { cwd: dir, env: ENV }
    )
    assert.equal(imp.code, 0, imp.stderr)
    await assertSameSession(urls.sqlite, urls.postgres, fixture)

    // a passphrase and recipients exclude each other; a bad recipient is a usage error
    const both = await exportTo(dir, urls.sqlite, [
        '--session',
        'r1',
        '-o',
        'both.age',
        '--recipient',
        await identityToRecipient(id1),
        '--passphrase-file',
        passFile(dir)
    ])
    assert.equal(both.code, 2)
    assert.match(both.stderr, /exclude each other/)
    const bad = await exportTo(dir, urls.sqlite, [
        '--session',
        'r1',
        '-o',
        'bad.age',
        '--recipient',
        'age1notakey'
    ])
    assert.equal(bad.code, 2)
    assert.match(bad.stderr, /not an age recipient/)
    assert.ok(!existsSync(join(dir, 'both.age')) && !existsSync(join(dir, 'bad.age')))
})

test('-o - writes armored text to stdout; import - reads stdin', async t => {
    const dir = tempDir(t)
    const urls = urlsFor(t)
    const [fixture] = await seed(urls.sqlite, ['piped'])
    const pass = passFile(dir)
    const out = await exportTo(dir, urls.sqlite, [
        '--session',
        'piped',
        '-o',
        '-',
        '--armor',
        '--passphrase-file',
        pass
    ])
    assert.equal(out.code, 0, out.stderr)
    assert.ok(out.stdout.startsWith('-----BEGIN AGE ENCRYPTED FILE-----'))
    assert.match(
        out.stderr,
        /exported 1 session/,
        'the summary goes to stderr when stdout carries the file'
    )
    const lines = await decryptLines(armor.decode(out.stdout), { passphrase: PASSPHRASE })
    assert.equal(lines.at(-1).type, 'end')

    const imp = await runZapo(['--store', urls.redis, 'import', '-', '--passphrase-file', pass], {
        cwd: dir,
        env: ENV,
        input: out.stdout
    })
    assert.equal(imp.code, 0, imp.stderr)
    await assertSameSession(urls.sqlite, urls.redis, fixture)

    const json = await exportTo(dir, urls.sqlite, [
        '--session',
        'piped',
        '-o',
        '-',
        '--json',
        '--passphrase-file',
        pass
    ])
    assert.equal(json.code, 2)
    assert.match(json.stderr, /-o -/)
})

test('never over an existing file without --force; never a passphrase from nowhere', async t => {
    const dir = tempDir(t)
    const urls = urlsFor(t)
    await seed(urls.sqlite, ['s1'])
    const target = join(dir, 'out.age')
    writeFileSync(target, 'precious', { mode: 0o644 })
    const pass = passFile(dir)
    const refused = await exportTo(dir, urls.sqlite, [
        '--session',
        's1',
        '-o',
        'out.age',
        '--passphrase-file',
        pass
    ])
    assert.equal(refused.code, 7, refused.stderr)
    assert.match(refused.stderr, /already exists.*--force/)
    assert.equal(readFileSync(target, 'utf8'), 'precious')

    const forced = await exportTo(dir, urls.sqlite, [
        '--session',
        's1',
        '-o',
        'out.age',
        '--passphrase-file',
        pass,
        '--force'
    ])
    assert.equal(forced.code, 0, forced.stderr)
    assert.equal(statSync(target).mode & 0o777, 0o600, 'the replacement is 0600 too')
    assert.equal(readFileSync(target).subarray(0, 21).toString(), 'age-encryption.org/v1')

    // no TTY and no passphrase source: a usage error naming the flags, no file
    const noSource = await exportTo(dir, urls.sqlite, ['--session', 's1', '-o', 'none.age'])
    assert.equal(noSource.code, 2)
    assert.match(noSource.stderr, /--passphrase-file/)
    assert.match(noSource.stderr, /ZAPO_PASSPHRASE/)
    assert.match(noSource.stderr, /--recipient/)
    assert.ok(!existsSync(join(dir, 'none.age')))

    const unknown = await exportTo(dir, urls.sqlite, [
        '--session',
        'nobody',
        '-o',
        'nobody.age',
        '--passphrase-file',
        pass
    ])
    assert.equal(unknown.code, 3, unknown.stderr)
    assert.ok(!existsSync(join(dir, 'nobody.age')))
    // nothing half-written is left behind
    assert.deepEqual(
        readdirSync(dir).filter(n => n.endsWith('.tmp')),
        []
    )
})

test('--dry-run shows sessions, JIDs, counts, version and creation time, and writes nothing', async t => {
    const dir = tempDir(t)
    const urls = urlsFor(t)
    const fixtures = await seed(urls.sqlite, ['d1', 'd2'])
    const pass = passFile(dir)
    const out = await exportTo(dir, urls.sqlite, [
        '--session',
        'd1',
        '--session',
        'd2',
        '-o',
        'd.age',
        '--passphrase-file',
        pass,
        '--json'
    ])
    assert.equal(out.code, 0, out.stderr)
    const exported = JSON.parse(out.stdout)
    const missingStore = join(dir, 'never-created.sqlite')
    const human = await runZapo(
        ['--store', missingStore, 'import', 'd.age', '--dry-run', '--passphrase-file', pass],
        { cwd: dir, env: ENV }
    )
    assert.equal(human.code, 0, human.stderr)
    assert.match(human.stdout, /zapo-export version 1/)
    assert.ok(human.stdout.includes(exported.createdAt))
    for (const f of fixtures) {
        assert.ok(human.stdout.includes(f.sessionId))
        assert.ok(human.stdout.includes(f.credentials.meJid))
        assert.ok(
            human.stdout.includes(
                `${f.counts.preKeys} prekeys (${f.counts.preKeysUploaded} uploaded)`
            )
        )
        assert.ok(human.stdout.includes(`${f.counts.signalSessions} signal sessions`))
    }
    assert.match(human.stdout, /nothing was written/)
    assert.ok(!existsSync(missingStore), 'a dry run creates no store')

    const json = await runZapo(
        ['import', 'd.age', '--dry-run', '--passphrase-file', pass, '--json'],
        { cwd: dir, env: ENV }
    )
    assert.equal(json.code, 0, json.stderr)
    const result = JSON.parse(json.stdout)
    assert.equal(result.dryRun, true)
    assert.equal(result.file.version, 1)
    assert.equal(result.file.createdAt, exported.createdAt)
    assert.deepEqual(
        result.sessions.map(s => s.id),
        ['d1', 'd2']
    )
    assert.deepEqual(
        result.sessions.map(s => s.meJid),
        fixtures.map(f => f.credentials.meJid)
    )
    assert.deepEqual(
        result.sessions.map(s => s.counts),
        exported.sessions.map(s => s.counts)
    )
    assert.ok(
        result.sessions.every(
            s => s.integrity.length > 0 && s.integrity.every(c => c.status !== 'fail')
        )
    )
    assert.ok(!existsSync(join(dir, 'zapo.sqlite')), 'not even the default store is created')
    assert.ok(!JSON.stringify(result).includes('privKey'), 'no key material in the summary')

    // --session renames only single-session files
    const many = await runZapo(
        [
            '--store',
            join(dir, 'x.sqlite'),
            'import',
            'd.age',
            '--session',
            'new',
            '--passphrase-file',
            pass
        ],
        { cwd: dir, env: ENV }
    )
    assert.equal(many.code, 2)
    assert.match(many.stderr, /holds 2/)
})

test('partial export (--domains auth,signal): only those domains travel, import warns', async t => {
    const dir = tempDir(t)
    const urls = urlsFor(t)
    const [fixture] = await seed(urls.sqlite, ['part'])
    const pass = passFile(dir)
    const out = await exportTo(dir, urls.sqlite, [
        '--session',
        'part',
        '-o',
        'p.age',
        '--passphrase-file',
        pass,
        '--domains',
        'auth,signal',
        '--json'
    ])
    assert.equal(out.code, 0, out.stderr)
    const summary = JSON.parse(out.stdout)
    assert.equal(summary.partial, true)
    assert.deepEqual(summary.domains, ['auth', 'signal'])
    const imp = await runZapo(
        ['--store', urls.postgres, 'import', 'p.age', '--passphrase-file', pass],
        { cwd: dir, env: ENV }
    )
    assert.equal(imp.code, 0, imp.stderr)
    assert.match(imp.stderr, /partial export \(no preKey, session/)
    const { counts } = await digestOf(urls.postgres, 'part')
    assert.equal(counts.credentials, true)
    assert.equal(counts.registration, true)
    assert.equal(counts.signalSessions, 0)
    assert.equal(counts.preKeys, 0)
    const target = await withStore(urls.postgres, s => snapshot(s, fixture), 'read')
    const source = await withStore(urls.sqlite, s => snapshot(s, fixture), 'read')
    assert.deepEqual(target.credentials, source.credentials)
    assert.deepEqual(target.registration, source.registration)

    const bad = await exportTo(dir, urls.sqlite, [
        '--session',
        'part',
        '-o',
        'q.age',
        '--passphrase-file',
        pass,
        '--domains',
        'auth,messages'
    ])
    assert.equal(bad.code, 2)
    assert.match(bad.stderr, /unknown domain "messages"/)
})

test('readable by other age implementations: age-encryption Decrypter, and the age binary when installed', async t => {
    const dir = tempDir(t)
    const urls = urlsFor(t)
    const [fixture] = await seed(urls.sqlite, ['interop'])
    const pass = passFile(dir)
    const out = await exportTo(dir, urls.sqlite, [
        '--session',
        'interop',
        '-o',
        'i.age',
        '--passphrase-file',
        pass
    ])
    assert.equal(out.code, 0, out.stderr)
    const bytes = readFileSync(join(dir, 'i.age'))

    // age-encryption's own Decrypter, independent of zapo's import path
    const lines = await decryptLines(bytes, { passphrase: PASSPHRASE })
    assert.equal(lines[0].type, 'header')
    assert.equal(lines[0].format, 'zapo-export')
    assert.equal(lines[1].id, 'interop')
    assert.equal(lines[1].meJid, fixture.credentials.meJid)
    const end = lines.find(l => l.type === 'sessionEnd')
    // the digests are reproducible from the plaintext alone
    for (const [domain, summary] of Object.entries(end.domains)) {
        const h = createHash('sha256')
        const recs = lines.filter(l => l.type === 'record' && l.domain === domain)
        for (const r of recs) h.update(JSON.stringify(r) + '\n')
        assert.equal(summary.records, recs.length, domain)
        assert.equal(summary.sha256, h.digest('hex'), domain)
    }

    const hasAge = spawnSync('age', ['--version']).status === 0
    const hasScript = spawnSync('script', ['--version']).status === 0
    if (!hasAge)
        return t.skip(
            'the age binary is not installed (apt-get install age): reference-implementation leg skipped'
        )
    // recipients need no terminal: age-keygen identity → zapo export → age -d -i
    execFileSync('age-keygen', ['-o', join(dir, 'key.txt')], { stdio: 'ignore' })
    const recipient = execFileSync('age-keygen', ['-y', join(dir, 'key.txt')], {
        encoding: 'utf8'
    }).trim()
    const r = await exportTo(dir, urls.sqlite, [
        '--session',
        'interop',
        '-o',
        'r.age',
        '--recipient',
        recipient,
        '--armor'
    ])
    assert.equal(r.code, 0, r.stderr)
    const plain = execFileSync('age', ['-d', '-i', join(dir, 'key.txt'), join(dir, 'r.age')], {
        encoding: 'utf8'
    })
    assert.equal(JSON.parse(plain.split('\n')[0]).format, 'zapo-export')
    // and the other way: the reference age encrypts, zapo imports
    execFileSync('age', ['-r', recipient, '-o', join(dir, 'by-age.age')], { input: plain })
    const imp = await runZapo(
        ['--store', urls.postgres, 'import', 'by-age.age', '--identity', 'key.txt'],
        { cwd: dir, env: ENV }
    )
    assert.equal(imp.code, 0, imp.stderr)
    await assertSameSession(urls.sqlite, urls.postgres, fixture)

    // passphrase: age reads it only from a terminal; `script` gives it one
    if (!hasScript) return t.skip('`script` (util-linux) is missing: age passphrase leg skipped')
    const decrypted = join(dir, 'age-out.jsonl')
    const res = spawnSync(
        'script',
        ['-qec', `age -d -o ${decrypted} ${join(dir, 'i.age')}`, '/dev/null'],
        {
            input: `${PASSPHRASE}\n`,
            timeout: 30_000
        }
    )
    assert.equal(res.status, 0, `age -d failed: ${res.stdout}${res.stderr}`)
    const ageLines = readFileSync(decrypted, 'utf8')
        .trimEnd()
        .split('\n')
        .map(l => JSON.parse(l))
    assert.deepEqual(ageLines, lines, 'the reference age binary reads the same plaintext')
})

test('a store whose config routes domains to another backend: import splits, export gathers', async t => {
    const dir = tempDir(t)
    const urls = urlsFor(t)
    const [fixture] = await seed(urls.postgres, ['routed'])
    const pass = passFile(dir)
    const out = await exportTo(dir, urls.postgres, [
        '--session',
        'routed',
        '-o',
        'routed.age',
        '--passphrase-file',
        pass
    ])
    assert.equal(out.code, 0, out.stderr)
    writeFileSync(
        join(dir, 'zapo.config.json'),
        JSON.stringify({
            store: urls.sqlite,
            domains: { session: urls.redis, identity: urls.redis }
        })
    )
    const imp = await runZapo(['import', 'routed.age', '--passphrase-file', pass], {
        cwd: dir,
        env: ENV
    })
    assert.equal(imp.code, 0, imp.stderr)
    // the Signal sessions and identities went to Redis, the rest to SQLite
    const [inSqlite, inRedis] = [
        await digestOf(urls.sqlite, 'routed'),
        await digestOf(urls.redis, 'routed')
    ]
    assert.equal(inSqlite.counts.signalSessions, 0)
    assert.equal(inSqlite.counts.credentials, true)
    assert.equal(inRedis.counts.signalSessions, fixture.counts.signalSessions)
    assert.equal(inRedis.counts.credentials, false)
    // and an export of the routed store gathers everything again
    const again = await runZapo(
        ['export', '--session', 'routed', '-o', 'again.age', '--passphrase-file', pass, '--json'],
        { cwd: dir, env: ENV }
    )
    assert.equal(again.code, 0, again.stderr)
    const summary = JSON.parse(again.stdout)
    const original = await runZapo(
        ['import', 'routed.age', '--dry-run', '--passphrase-file', pass, '--json'],
        { cwd: dir, env: ENV }
    )
    assert.deepEqual(summary.sessions[0].counts, JSON.parse(original.stdout).sessions[0].counts)
    assert.deepEqual(
        summary.sessions[0].domains,
        JSON.parse(original.stdout).sessions[0].domains,
        'same records, same digests'
    )
})

test('a passphrase or identity file others can read gets a warning', async t => {
    const dir = tempDir(t)
    const urls = urlsFor(t)
    await seed(urls.sqlite, ['loose'], {
        preKeys: 3,
        uploaded: 1,
        signalSessions: 1,
        identities: 1
    })
    writeFileSync(join(dir, 'loose.txt'), `${PASSPHRASE}\n`, { mode: 0o644 })
    const out = await exportTo(dir, urls.sqlite, [
        '--session',
        'loose',
        '-o',
        'l.age',
        '--passphrase-file',
        'loose.txt'
    ])
    assert.equal(out.code, 0, out.stderr)
    assert.match(
        out.stderr,
        /passphrase file loose.txt is accessible to other users \(mode 0644\): chmod 600/
    )
    const strict = await runZapo(
        ['import', 'l.age', '--dry-run', '--passphrase-file', passFile(dir)],
        { cwd: dir, env: ENV }
    )
    assert.equal(strict.code, 0, strict.stderr)
    assert.equal(strict.stderr, '', 'no warning for a 0600 file')
})
