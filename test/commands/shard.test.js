/**
 * --shard K/N and --shard-index I --shard-count N on every fleet-wide command: one hash, so a
 * session lands on the same shard whichever command runs; shards are disjoint and cover the
 * store; the two spellings name the same shard; bad values are one usage line (exit 2).
 */

import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { generateIdentity, identityToRecipient } from 'age-encryption'
import { inShard, parseShardFlags, shardOf } from '../../dist/util/shard.js'
import { assertOneErrorLine } from '../helpers/cli-assert.js'
import { dropStore, makeSession, openTestStore, storeUrls } from '../helpers/fixtures.js'
import { runZapo } from '../helpers/run.js'
import { UNPAIRED_SHAPE } from '../helpers/shapes.js'
import { tempDir } from '../helpers/export.js'

const N = 3
const ids = Array.from({ length: 9 }, (_, i) => `fleet-shard-${i}`)
const expected = k => ids.filter(id => shardOf(id, N) === k)

describe('the shard rule', () => {
    test('is the documented arithmetic: first 8 bytes of sha256(id), big-endian, mod N', () => {
        for (const id of ['tenant-42', 'a', 'é:x', ...ids]) {
            const n = createHash('sha256').update(id, 'utf8').digest().readBigUInt64BE(0)
            for (const count of [1, 2, 3, 7, 100])
                assert.equal(shardOf(id, count), Number(n % BigInt(count)) + 1, `${id} ${count}`)
        }
        // pinned: a change of the rule would move every fleet's sessions to other runners
        assert.equal(shardOf('tenant-42', 4), 1)
        assert.equal(shardOf('tenant-42', 10), 1)
        assert.equal(shardOf('a', 100), 51)
    })

    test('K/N and index/count name the same shard; bad values are usage errors', () => {
        assert.deepEqual(parseShardFlags({ shard: '2/4' }), { index: 2, count: 4 })
        assert.deepEqual(parseShardFlags({ shardIndex: '1', shardCount: '4' }), {
            index: 2,
            count: 4
        })
        assert.equal(parseShardFlags({}), null)
        for (const flags of [
            { shard: '0/4' },
            { shard: '5/4' },
            { shard: '1/0' },
            { shard: 'x' },
            { shardIndex: '4', shardCount: '4' },
            { shardIndex: '-1', shardCount: '4' },
            { shardIndex: '0' },
            { shardCount: '4' },
            { shardIndex: '0', shardCount: '0' },
            { shard: '1/2', shardIndex: '0', shardCount: '2' }
        ])
            assert.throws(() => parseShardFlags(flags), { code: 'USAGE' }, JSON.stringify(flags))
        assert.throws(() => parseShardFlags({ shard: '1/2' }, '--all'), { code: 'USAGE' })
        assert.deepEqual(inShard(['b', 'a'], null), ['b', 'a'])
    })
})

describe('every fleet-wide command splits the same way', () => {
    const url = storeUrls().sqlite
    before(async () => {
        const store = await openTestStore(url, 'write')
        try {
            for (const id of ids) await makeSession(store, id, { ...UNPAIRED_SHAPE, preKeys: 1 })
        } finally {
            await store.close()
        }
    })
    after(() => dropStore(url))

    const zapo = args => runZapo(['--store', url, ...args], { timeoutMs: 60_000 })

    test('sessions list, check, migrate --dry-run: union is the store, parts disjoint', async () => {
        const parts = []
        for (let k = 1; k <= N; k += 1) {
            const byK = ['--shard', `${k}/${N}`]
            const byIndex = ['--shard-index', String(k - 1), '--shard-count', String(N)]
            const list = await zapo(['sessions', 'list', '--json', ...byK])
            assert.equal(list.code, 0, list.stderr)
            const listed = JSON.parse(list.stdout)
            assert.deepEqual(listed.shard, { index: k, count: N })
            assert.deepEqual(
                listed.sessions.map(s => s.id),
                expected(k)
            )
            const list2 = await zapo(['sessions', 'list', '--json', ...byIndex])
            assert.equal(list2.stdout, list.stdout, '--shard-index K-1 is --shard K')

            const check = await zapo(['check', '--all', '--json', ...byIndex])
            const report = JSON.parse(check.stdout)
            assert.deepEqual(
                report.sessions.map(s => s.sessionId),
                expected(k)
            )
            // unpaired sessions: exit 6 (NOT_PAIRED) where the shard holds any
            assert.equal(check.code, expected(k).length > 0 ? 6 : 0, check.stderr)

            const target = storeUrls().sqlite
            try {
                const plan = await zapo([
                    'migrate',
                    '--from',
                    url,
                    '--to',
                    target,
                    '--all',
                    '--dry-run',
                    '--json',
                    ...byK
                ])
                assert.equal(plan.code, 0, plan.stderr)
                const planned = JSON.parse(plan.stdout)
                assert.deepEqual(planned.shard, { index: k, count: N })
                assert.deepEqual(
                    planned.sessions.map(s => s.sessionId),
                    expected(k)
                )
            } finally {
                await dropStore(target)
            }
            parts.push(expected(k))
        }
        const all = parts.flat()
        assert.equal(new Set(all).size, all.length, 'disjoint')
        assert.deepEqual([...all].sort(), [...ids].sort(), 'the union is every session')
        assert.ok(parts.filter(p => p.length > 0).length >= 2, 'the hash spreads 9 ids')
    })

    test('export --all --shard writes exactly the shard into the file', async t => {
        const dir = tempDir(t)
        const identity = await generateIdentity()
        const key = join(dir, 'key.txt')
        writeFileSync(key, `${identity}\n`, { mode: 0o600 })
        const recipient = await identityToRecipient(identity)
        const k = [1, 2, 3].find(i => expected(i).length > 0)
        const file = join(dir, 'shard.age')
        const out = await zapo([
            'export',
            '--all',
            '--shard-index',
            String(k - 1),
            '--shard-count',
            String(N),
            '--recipient',
            recipient,
            '-o',
            file,
            '--json'
        ])
        assert.equal(out.code, 0, out.stderr)
        const dry = await runZapo(['import', file, '--dry-run', '--identity', key, '--json'])
        assert.equal(dry.code, 0, dry.stderr)
        assert.deepEqual(
            JSON.parse(dry.stdout)
                .sessions.map(s => s.sourceId)
                .sort(),
            expected(k)
        )
    })

    test('an empty shard: list and check say so and exit 0; export exits 3', async t => {
        const big = 1000
        const empty = Array.from({ length: big }, (_, i) => i + 1).find(
            k => !ids.some(id => shardOf(id, big) === k)
        )
        const list = await zapo(['sessions', 'list', '--shard', `${empty}/${big}`])
        assert.equal(list.code, 0)
        assert.equal(list.stdout, '')
        assert.match(list.stderr, new RegExp(`shard ${empty}/${big} holds none`))
        const check = await zapo(['check', '--all', '--shard', `${empty}/${big}`])
        assert.equal(check.code, 0)
        assert.match(check.stderr, /holds none/)
        const exp = await zapo([
            'export',
            '--all',
            '--shard',
            `${empty}/${big}`,
            '--recipient',
            'age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p',
            '-o',
            join(tempDir(t), 'x.age')
        ])
        assert.equal(exp.code, 3)
        assertOneErrorLine(exp, /holds none of the 9 sessions/)
    })

    test('bad shard flags: one usage line, exit 2, nothing run', async () => {
        for (const args of [
            ['check', '--session', 'x', '--shard', '1/2'],
            ['check', '--all', '--shard-index', '2', '--shard-count', '2'],
            ['check', '--all', '--shard-index', '1'],
            ['sessions', 'list', '--shard', '3/2'],
            ['sessions', 'list', '--shard', '1/2', '--shard-index', '0', '--shard-count', '2'],
            [
                'migrate',
                '--from',
                url,
                '--to',
                'sqlite:/nonexistent/x.sqlite',
                '--session',
                ids[0],
                '--shard',
                '1/2'
            ],
            ['export', '--session', ids[0], '--shard', '1/2', '-o', '/tmp/never.age'],
            ['logs', '--session', ids[0], '--shard', '1/2'],
            ['logs', '--all', '--shard-count', 'x', '--shard-index', '0']
        ]) {
            const result = await zapo(args)
            assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`)
            assertOneErrorLine(result, /shard/)
            assert.equal(result.stdout, '')
        }
    })
})
