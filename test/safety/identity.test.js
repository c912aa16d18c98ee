/**
 * The same store spelled two ways (issue 11, item 1): `migrate` must refuse a target that is
 * its source by identity — the SQLite file by device and inode, servers by what they report —
 * and leave the store exactly as it was. Each spelling below deleted sessions on main.
 */

import assert from 'node:assert/strict'
import { linkSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { assertOneErrorLine } from '../helpers/cli-assert.js'
import { dropStore, randomTag, storeUrls } from '../helpers/fixtures.js'
import { seed } from '../helpers/export.js'
import { runZapo } from '../helpers/run.js'
import { LEAN_SHAPE } from '../helpers/shapes.js'
import { storeDigest } from '../helpers/store-digest.js'

/** Replaces the host of a store URL (the same server under another name). */
function withHost(url, host) {
    const u = new URL(url)
    u.hostname = host
    return u.toString()
}

function sqliteDir(t) {
    const dir = mkdtempSync(join(tmpdir(), 'zapo-same-'))
    mkdirSync(join(dir, 'data'))
    t.after(() => rmSync(dir, { recursive: true, force: true }))
    return dir
}

const SQLITE_CASES = [
    { name: 'data/./m.sqlite', to: () => 'sqlite:data/./m.sqlite' },
    { name: 'data//m.sqlite', to: () => 'sqlite:data//m.sqlite' },
    { name: 'an absolute path', to: dir => `sqlite:${join(dir, 'data', 'm.sqlite')}` },
    {
        name: 'a symlink',
        to: dir => {
            symlinkSync(join(dir, 'data', 'm.sqlite'), join(dir, 'link.sqlite'))
            return 'sqlite:link.sqlite'
        }
    },
    {
        name: 'a symlinked directory',
        to: dir => {
            symlinkSync(join(dir, 'data'), join(dir, 'alias'))
            return 'sqlite:alias/m.sqlite'
        }
    },
    {
        name: 'a hard link',
        to: dir => {
            linkSync(join(dir, 'data', 'm.sqlite'), join(dir, 'hard.sqlite'))
            return 'sqlite:hard.sqlite'
        }
    }
]

for (const c of SQLITE_CASES) {
    for (const policy of [
        ['--session', 's1', '--overwrite'],
        ['--all', '--skip-existing']
    ]) {
        test(`migrate refuses SQLite ${c.name} as the target of data/m.sqlite (${policy.join(' ')})`, async t => {
            const dir = sqliteDir(t)
            const from = 'sqlite:data/m.sqlite'
            await seed(`sqlite:${join(dir, 'data', 'm.sqlite')}`, ['s1', 's2'], LEAN_SHAPE)
            const to = c.to(dir)
            const before = await storeDigest(`sqlite:${join(dir, 'data', 'm.sqlite')}`)
            const result = await runZapo(['migrate', '--from', from, '--to', to, ...policy], {
                cwd: dir,
                env: { ZAPO_STORE: undefined }
            })
            assert.equal(result.code, 2, result.stderr)
            assertOneErrorLine(result, /same store/)
            assert.equal(await storeDigest(`sqlite:${join(dir, 'data', 'm.sqlite')}`), before)
        })
    }
}

test('migrate still copies between two different SQLite files in one directory', async t => {
    const dir = sqliteDir(t)
    await seed(`sqlite:${join(dir, 'data', 'm.sqlite')}`, ['s1'], LEAN_SHAPE)
    const result = await runZapo(
        ['migrate', '--from', 'sqlite:data/m.sqlite', '--to', 'sqlite:data/./n.sqlite', '--all'],
        { cwd: dir }
    )
    assert.equal(result.code, 0, result.stderr)
})

const SERVER_CASES = [
    {
        name: 'Redis localhost vs 127.0.0.1',
        kind: 'redis',
        pair: url => [url, withHost(url, 'localhost')]
    },
    {
        name: 'Redis prefixes that nest',
        kind: 'redis',
        pair: url => [url, url.replace(/keyPrefix=([^&]+)/, (_, p) => `keyPrefix=${p}sub:`)]
    },
    {
        name: 'Redis db 0 spelled /0',
        kind: 'redis',
        pair: url => [url, url.replace('6379?', '6379/0?')]
    },
    {
        name: 'PostgreSQL localhost vs 127.0.0.1',
        kind: 'postgres',
        pair: url => [url, withHost(url, 'localhost')]
    },
    {
        name: 'MariaDB localhost vs 127.0.0.1',
        kind: 'mysql',
        pair: url => [url, withHost(url, 'localhost')]
    }
]

for (const c of SERVER_CASES) {
    test(`migrate refuses ${c.name} (--all --overwrite), the store unchanged`, async t => {
        const url = storeUrls(randomTag())[c.kind]
        t.after(() => dropStore(url))
        await seed(url, ['s1', 's2'], LEAN_SHAPE)
        const before = await storeDigest(url)
        const [from, to] = c.pair(url)
        const result = await runZapo([
            'migrate',
            '--from',
            from,
            '--to',
            to,
            '--all',
            '--overwrite'
        ])
        assert.equal(result.code, 2, result.stderr)
        assertOneErrorLine(result, /same store/)
        assert.equal(await storeDigest(url), before)
    })
}

test('migrate copies between two prefixes of one PostgreSQL database', async t => {
    const a = storeUrls(randomTag()).postgres
    const b = storeUrls(randomTag()).postgres
    t.after(() => Promise.all([dropStore(a), dropStore(b)]))
    await seed(a, ['s1'], LEAN_SHAPE)
    const result = await runZapo([
        'migrate',
        '--from',
        a,
        '--to',
        withHost(b, 'localhost'),
        '--all'
    ])
    assert.equal(result.code, 0, result.stderr)
})

test('a session the plan counted but the copy found empty fails verification (nothing compared with nothing)', async t => {
    const dir = sqliteDir(t)
    const from = `sqlite:${join(dir, 'data', 'm.sqlite')}`
    const to = `sqlite:${join(dir, 'n.sqlite')}`
    await seed(from, ['s1'], LEAN_SHAPE)
    const { runMigrate } = await import('../../dist/ops/migrate.js')
    const { parseStoreUrl, singleStore, DURABLE_DOMAINS } =
        await import('../../dist/store/address.js')
    const spec = url => singleStore(parseStoreUrl(url, 'flag', dir))
    const { default: Database } = await import('better-sqlite3')
    const result = await runMigrate(
        {
            from: spec(from),
            to: spec(to),
            sessions: ['s1'],
            domains: DURABLE_DOMAINS,
            mode: 'copy',
            existing: 'refuse',
            deleteSource: false,
            batchSize: 500
        },
        {
            // the source loses the session after planning, before the copy reads it
            onPlan: () => {
                const db = new Database(join(dir, 'data', 'm.sqlite'))
                for (const { name } of db
                    .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
                    .all())
                    if (
                        db
                            .prepare(`PRAGMA table_info("${name}")`)
                            .all()
                            .some(c => c.name === 'session_id')
                    )
                        db.prepare(`DELETE FROM "${name}" WHERE session_id = 's1'`).run()
                db.close()
            }
        }
    )
    assert.equal(result.status, 'verify-failed')
    assert.equal(result.sessions[0].verified, false)
    assert.match(result.sessions[0].mismatches.at(-1).extra, /plan counted \d+ records/)
})

test('config routing: a backend that is the primary by identity is merged; nested Redis prefixes are refused', async t => {
    const dir = sqliteDir(t)
    const tag = randomTag()
    const url = `redis://127.0.0.1:6379?keyPrefix=zt${tag}:`
    t.after(() => dropStore(url))
    await seed(url, ['s1'], LEAN_SHAPE)
    const { writeFileSync } = await import('node:fs')
    const config = cache => {
        writeFileSync(
            join(dir, 'zapo.config.json'),
            JSON.stringify({
                store: 'redis',
                backends: { redis: url },
                domains: { retry: cache, deviceList: cache }
            })
        )
    }
    config(`redis://localhost:6379?keyPrefix=zt${tag}:`)
    const same = await runZapo(['sessions', 'list', '--json'], {
        cwd: dir,
        env: { ZAPO_STORE: undefined }
    })
    assert.equal(same.code, 0, same.stderr)
    assert.deepEqual(
        JSON.parse(same.stdout).sessions.map(s => s.id),
        ['s1']
    )
    config(`redis://localhost:6379?keyPrefix=zt${tag}:cache:`)
    const nested = await runZapo(['sessions', 'list'], { cwd: dir, env: { ZAPO_STORE: undefined } })
    assert.equal(nested.code, 2, nested.stderr)
    assertOneErrorLine(nested, /records would mix/)
})
