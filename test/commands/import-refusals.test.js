/**
 * An import that is refused before it writes anything says so in one line, and never that
 * "rolling back failed too … may be incomplete": on Redis, an id whose clearing (--force, or a
 * rollback) would reach another session's keys ("a" beside "a:b") is refused up front, exit 2,
 * the store untouched (issue 11: the import --force false alarm).
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'

import { assertOneErrorLine } from '../helpers/cli-assert.js'
import { ENV, passFile, seed, tempDir, urlsFor } from '../helpers/export.js'
import { runZapo } from '../helpers/run.js'
import { storeDigest } from '../helpers/store-digest.js'

test('import into a Redis id that shares keys with another is refused before writing, with no rollback message', async t => {
    const dir = tempDir(t)
    const urls = urlsFor(t)
    await seed(urls.sqlite, ['a'])
    const pass = passFile(dir)
    const made = await runZapo(
        ['--store', urls.sqlite, 'export', '--session', 'a', '-o', 'a.age'].concat([
            '--passphrase-file',
            pass
        ]),
        { cwd: dir, env: ENV }
    )
    assert.equal(made.code, 0, made.stderr)

    // the Redis store clears "a" by the pattern "…:a:*", which matches "a:b"'s keys too
    await seed(urls.redis, ['a', 'a:b'])
    const before = await storeDigest(urls.redis)
    for (const force of [true, false]) {
        const run = await runZapo(
            ['--store', urls.redis, 'import', 'a.age', '--passphrase-file', pass].concat(
                force ? ['--force'] : []
            ),
            { cwd: dir, env: ENV }
        )
        // with or without --force: an id that cannot be written is refused first (before the
        // lease, before "already exists", which --force would answer only to hit this refusal)
        assert.equal(run.code, 2, `--force ${force}: ${run.stderr}`)
        assertOneErrorLine(run, /session id "a" cannot be written .*"a:b"/)
        assert.doesNotMatch(run.stderr, /rolling back|may be incomplete/)
        assert.equal(await storeDigest(urls.redis), before, 'the store is untouched')
    }

    // a new id is refused too: a failure half-way could not be rolled back without reaching "a:b"
    const fresh = urlsFor(t).redis
    await seed(fresh, ['a:b'])
    const freshBefore = await storeDigest(fresh)
    const run = await runZapo(['--store', fresh, 'import', 'a.age', '--passphrase-file', pass], {
        cwd: dir,
        env: ENV
    })
    assert.equal(run.code, 2, run.stderr)
    assertOneErrorLine(run, /session id "a" cannot be written .*"a:b"/)
    assert.equal(await storeDigest(fresh), freshBefore)
})
