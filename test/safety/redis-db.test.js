/**
 * A Redis db number the server does not have, or that is not a number (issue 11, item 3): a
 * usage error (exit 2) naming the valid range, in every command, and nothing written anywhere
 * (on main `/99`, `/-1` and `/16` silently used db 0 and `/abc` crashed with a stack trace).
 */

import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { Redis } from 'ioredis'
import { assertOneErrorLine } from '../helpers/cli-assert.js'
import { dropStore, randomTag } from '../helpers/fixtures.js'
import { seed } from '../helpers/export.js'
import { runZapo } from '../helpers/run.js'
import { LEAN_SHAPE } from '../helpers/shapes.js'

const cwd = mkdtempSync(join(tmpdir(), 'zapo-redis-db-'))

/** Keys under a prefix in db 0 (where a fallback would have written). */
async function keysInDb0(prefix) {
    const redis = new Redis('redis://127.0.0.1:6379/0')
    try {
        return await redis.keys(`${prefix}*`)
    } finally {
        redis.disconnect()
    }
}

const BAD = [
    { db: '99', message: /Redis database 99 does not exist .*databases 0-15/ },
    { db: '16', message: /Redis database 16 does not exist .*databases 0-15/ },
    { db: '-1', message: /Redis database "-1" in the store URL is not a database number/ },
    { db: 'abc', message: /Redis database "abc" in the store URL is not a database number/ }
]

for (const { db, message } of BAD) {
    test(`redis://…/${db}: exit 2 naming the range in sessions list, creds show, pair and migrate --to`, async t => {
        const prefix = `zt${randomTag()}:`
        const url = `redis://127.0.0.1:6379/${db}?keyPrefix=${prefix}`
        const source = `sqlite:${join(mkdtempSync(join(tmpdir(), 'zapo-src-')), 's.sqlite')}`
        t.after(() => dropStore(source))
        await seed(source, ['s1'], LEAN_SHAPE)
        const runs = [
            ['sessions', 'list', '--store', url],
            ['creds', 'show', '--session', 's1', '--store', url],
            ['pair', '--session', 'p1', '--store', url, '--sandbox'],
            ['migrate', '--from', source, '--to', url, '--all']
        ]
        for (const args of runs) {
            const result = await runZapo(args, { cwd, env: { ZAPO_STORE: undefined } })
            assert.equal(result.code, 2, `${args[0]}: ${result.stderr}`)
            const last = result.stderr.trim().split('\n').at(-1)
            assert.match(last, message, args[0])
            assert.doesNotMatch(result.stderr, /\n\s+at /)
            if (args[0] === 'sessions') assertOneErrorLine(result, message)
        }
        assert.deepEqual(await keysInDb0(prefix), [], 'nothing written to db 0')
    })
}

test('redis://…/15 and /0 work', async t => {
    for (const db of ['0', '15']) {
        const url = `redis://127.0.0.1:6379/${db}?keyPrefix=zt${randomTag()}:`
        t.after(() => dropStore(url))
        await seed(url, ['s1'], LEAN_SHAPE)
        const result = await runZapo(['sessions', 'list', '--json', '--store', url], { cwd })
        assert.equal(result.code, 0, result.stderr)
        assert.deepEqual(
            JSON.parse(result.stdout).sessions.map(s => s.id),
            ['s1']
        )
    }
})
