/**
 * Exact keys, never patterns (issue 11, item 2). `@zapo-js/store-redis` clears a session with
 * `<head>:<sessionId>:*` patterns, which reach the sessions `<sessionId>:…` and, for ids that are
 * words of its key layout, other sessions' index keys. zapo deletes exactly one session's keys,
 * refuses new ids that would make one session's keys another's (exit 2 in pair, import and
 * migrate), and warns about such ids already in a store.
 */

import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { Redis } from 'ioredis'
import { parseStoreUrl } from '../../dist/store/address.js'
import { catalogForStore } from '../../dist/store/catalog.js'
import { clearSession } from '../../dist/store/records.js'
import { startSandbox } from '../../dist/sandbox/index.js'
import { assertOneErrorLine } from '../helpers/cli-assert.js'
import { dropStore, makeSession, openTestStore, randomTag, storeUrls } from '../helpers/fixtures.js'
import { digestOf, ENV, PASSPHRASE, seed } from '../helpers/export.js'
import { runZapo } from '../helpers/run.js'
import { LEAN_SHAPE } from '../helpers/shapes.js'
import { storeDigest } from '../helpers/store-digest.js'

const cwd = mkdtempSync(join(tmpdir(), 'zapo-redis-keys-'))
const zapo = (args, env = {}) => runZapo(args, { cwd, env: { ...ENV, ...env } })

/** The command's notice lines may come first ("connecting to the test server …"); the error is one line, last. */
function assertErrorLast(result, pattern) {
    const lines = result.stderr.trim().split('\n')
    assert.match(lines.at(-1), /^zapo: /)
    assert.match(lines.at(-1), pattern)
    assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace')
    assert.equal(lines.filter(l => l.startsWith('zapo: ')).length, 1)
}

function redisUrl(t) {
    const url = storeUrls(randomTag()).redis
    t.after(() => dropStore(url))
    return url
}

async function countsOf(url, ids) {
    const store = await openTestStore(url, 'read')
    try {
        return Object.fromEntries(await catalogForStore(store).countsMany(ids))
    } finally {
        await store.close()
    }
}

describe('logout deletes exactly the session it logs out', () => {
    let sandbox
    before(async () => {
        sandbox = await startSandbox()
    })
    after(() => sandbox.close())

    test('logout --session a on Redis leaves a:b and a:b:c intact (issue 11)', async t => {
        const url = redisUrl(t)
        const made = await seed(url, ['a', 'a:b', 'a:b:c'], { preKeys: 20, uploaded: 10 })
        const before = { ab: await digestOf(url, 'a:b'), abc: await digestOf(url, 'a:b:c') }
        const result = await zapo([
            '--store',
            url,
            'logout',
            '--session',
            'a',
            '--yes',
            '--json',
            '--server',
            sandbox.url,
            '--server-root-ca',
            sandbox.rootCa
        ])
        assert.equal(result.code, 0, result.stderr)
        const counts = await countsOf(url, ['a', 'a:b', 'a:b:c'])
        assert.deepEqual(counts['a:b'], made[1].counts)
        assert.deepEqual(counts['a:b:c'], made[2].counts)
        assert.deepEqual(await digestOf(url, 'a:b'), before.ab)
        assert.deepEqual(await digestOf(url, 'a:b:c'), before.abc)
        assert.equal(counts.a.credentials, false)
        assert.equal(counts.a.preKeys, 0)
        const report = JSON.parse(result.stdout)
        assert.equal(report.clearedBy, 'zapo')
        assert.deepEqual(report.remaining, [])
    })
})

describe('clearing a session whose id is a word of the key layout', () => {
    for (const [id, other, field] of [
        ['ids', '99', 'preKeys'], // signal:pk:ids:99: prekey 99 of "ids", the prekey index of "99"
        ['idx', 'beef', 'appStateSyncKeys'] // appstate:key:idx:beef: sync key "beef" of "idx", index of "beef"
    ]) {
        test(`clearing "${id}" leaves "${other}"'s ${field} (on main the package's patterns deleted them)`, async t => {
            const url = redisUrl(t)
            const store = await openTestStore(url, 'write')
            try {
                await makeSession(store, id, LEAN_SHAPE)
                const kept = await makeSession(store, other, LEAN_SHAPE)
                await clearSession(store, id)
                const counts = await catalogForStore(store).counts(other)
                assert.equal(counts[field], kept.counts[field])
                assert.deepEqual(counts, kept.counts)
                assert.equal((await catalogForStore(store).counts(id)).credentials, false)
            } finally {
                await store.close()
            }
        })
    }
})

describe('new state under an id the Redis store cannot keep apart: exit 2, nothing written', () => {
    let sandbox
    before(async () => {
        sandbox = await startSandbox()
    })
    after(() => sandbox.close())
    const server = () => ['--server', sandbox.url, '--server-root-ca', sandbox.rootCa]

    test('pair x:noise_priv_key next to x leaves x untouched', async t => {
        const url = redisUrl(t)
        await seed(url, ['x'], LEAN_SHAPE)
        const { target, keyPrefix } = parseStoreUrl(url, 'flag', cwd)
        const redis = new Redis(target)
        t.after(() => redis.disconnect())
        const key = `${keyPrefix}auth:x:noise_priv_key`
        const noise = await redis.getBuffer(key)
        const digest = await storeDigest(url)
        const result = await zapo([
            'pair',
            '--session',
            'x:noise_priv_key',
            '--store',
            url,
            ...server()
        ])
        assert.equal(result.code, 2, result.stderr)
        assertErrorLast(result, /"noise_priv_key" is a word of the Redis store's key layout/)
        assert.deepEqual(await redis.getBuffer(key), noise)
        assert.equal(await storeDigest(url), digest)
    })

    for (const id of ['idx', 'tenant:set', 'ids', 'a:b']) {
        test(`pair ${id}${id === 'a:b' ? ' next to a' : ''}: exit 2 before connecting`, async t => {
            const url = redisUrl(t)
            if (id === 'a:b') await seed(url, ['a'], LEAN_SHAPE)
            const digest = await storeDigest(url)
            const result = await zapo(['pair', '--session', id, '--store', url, ...server()])
            assert.equal(result.code, 2, result.stderr)
            assertErrorLast(result, new RegExp(`session id "${id}" cannot be written`))
            assert.equal(await storeDigest(url), digest)
        })
    }

    test('migrate into Redis refuses the whole run when one id is ambiguous', async t => {
        const dir = mkdtempSync(join(tmpdir(), 'zapo-redis-mig-'))
        const from = `sqlite:${join(dir, 's.sqlite')}`
        await seed(from, ['ok', 'grp'], LEAN_SHAPE)
        const url = redisUrl(t)
        const result = await zapo(['migrate', '--from', from, '--to', url, '--all'])
        assert.equal(result.code, 2, result.stderr)
        assertErrorLast(result, /^zapo: session id "grp" cannot be written/)
        assert.equal(await storeDigest(url), await storeDigest(storeUrls(randomTag()).redis))
    })

    test('import into Redis refuses an ambiguous id', async t => {
        const dir = mkdtempSync(join(tmpdir(), 'zapo-redis-imp-'))
        const from = `sqlite:${join(dir, 's.sqlite')}`
        await seed(from, ['t:pub'], LEAN_SHAPE)
        const file = join(dir, 't.age')
        const env = { ZAPO_PASSPHRASE: PASSPHRASE }
        const exported = await zapo(
            ['export', '--store', from, '--session', 't:pub', '-o', file],
            env
        )
        assert.equal(exported.code, 0, exported.stderr)
        const url = redisUrl(t)
        const result = await zapo(['import', file, '--store', url], env)
        assert.equal(result.code, 2, result.stderr)
        assertOneErrorLine(result, /session id "t:pub" cannot be written/)
        const renamed = await zapo(['import', file, '--store', url, '--session', 't-pub'], env)
        assert.equal(renamed.code, 0, renamed.stderr)
    })

    test('migrate --delete-source from Redis deletes exactly the moved session', async t => {
        const url = redisUrl(t)
        const made = await seed(url, ['a', 'a:b'], LEAN_SHAPE)
        const dir = mkdtempSync(join(tmpdir(), 'zapo-redis-del-'))
        const to = `sqlite:${join(dir, 't.sqlite')}`
        const result = await zapo([
            'migrate',
            '--from',
            url,
            '--to',
            to,
            '--session',
            'a',
            '--delete-source'
        ])
        assert.equal(result.code, 0, result.stderr)
        const counts = await countsOf(url, ['a', 'a:b'])
        assert.equal(counts.a.credentials, false)
        assert.deepEqual(counts['a:b'], made[1].counts)
    })
})

test('sessions list and doctor warn about ambiguous ids already in a Redis store, and still read them', async t => {
    const url = redisUrl(t)
    await seed(url, ['a', 'a:b', 'ok'], LEAN_SHAPE)
    const list = await zapo(['sessions', 'list', '--json', '--store', url])
    assert.equal(list.code, 0, list.stderr)
    assert.deepEqual(
        JSON.parse(list.stdout).sessions.map(s => s.id),
        ['a', 'a:b', 'ok']
    )
    assert.match(list.stderr, /warning: session "a" .*"a:b"/)
    assert.match(list.stderr, /warning: session "a:b" .*"a"/)
    assert.doesNotMatch(list.stderr, /session "ok"/)
    const doctor = await zapo(['doctor', '--json', '--store', url])
    const check = JSON.parse(doctor.stdout).checks.find(c => c.name === 'store:sessions')
    assert.equal(check.status, 'warn')
    assert.match(check.detail, /2 with ambiguous keys/)
    const creds = await zapo(['creds', 'show', '--session', 'a:b', '--store', url])
    assert.equal(creds.code, 0, creds.stderr)
})
