import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'node:test'
import { loadConfig } from '../../dist/config.js'
import { ZapoError } from '../../dist/errors.js'
import { parseStoreUrl, redactUrl, resolveStoreSpec } from '../../dist/store/address.js'

const cwd = '/srv/app'
const noConfig = { path: null, backends: {}, domains: {}, check: {} }
const ctx = (env = {}, config = noConfig) => ({ config, env, cwd })

function usage(fn, pattern) {
    assert.throws(fn, error => {
        assert.ok(error instanceof ZapoError, `expected ZapoError, got ${error}`)
        assert.equal(error.code, 'USAGE')
        assert.match(error.message, pattern)
        assert.ok(!error.message.includes('\n'), 'one line')
        return true
    })
}

test('sqlite addresses: scheme, bare path, absolute form, default', () => {
    assert.equal(
        parseStoreUrl('sqlite:./data/a.sqlite', 'flag', cwd).target,
        '/srv/app/data/a.sqlite'
    )
    assert.equal(parseStoreUrl('sqlite:///var/z.db', 'flag', cwd).target, '/var/z.db')
    assert.equal(parseStoreUrl('tenants.db', 'flag', cwd).target, '/srv/app/tenants.db')
    assert.equal(parseStoreUrl('./x/state.sqlite3', 'flag', cwd).kind, 'sqlite')
    const spec = resolveStoreSpec(undefined, ctx())
    assert.equal(spec.primary.kind, 'sqlite')
    assert.equal(spec.primary.target, '/srv/app/zapo.sqlite')
    assert.equal(spec.primary.source, 'default')
})

test('sqlite table-name overrides ride on the query string', () => {
    const spec = parseStoreUrl('sqlite:./a.sqlite?table.auth_credentials=my_auth', 'flag', cwd)
    assert.deepEqual(spec.tableNames, { auth_credentials: 'my_auth' })
    assert.equal(spec.target, '/srv/app/a.sqlite')
    usage(
        () => parseStoreUrl('sqlite:./a.sqlite?tablePrefix=x', 'flag', cwd),
        /SQLite takes only table/
    )
})

test('server URLs keep driver parameters and lose zapo options', () => {
    const pg = parseStoreUrl(
        'postgres://u:secret@db:5432/app?sslmode=require&tablePrefix=wa_',
        'flag',
        cwd
    )
    assert.equal(pg.kind, 'postgres')
    assert.equal(pg.tablePrefix, 'wa_')
    assert.equal(pg.target, 'postgres://u:secret@db:5432/app?sslmode=require')
    assert.ok(!pg.display.includes('secret'), 'password not shown')
    const maria = parseStoreUrl('mariadb://root@127.0.0.1:3306/test?tablePrefix=t1_', 'flag', cwd)
    assert.equal(maria.kind, 'mysql')
    assert.ok(maria.target.startsWith('mysql://'))
    const redis = parseStoreUrl('rediss://h:6380/2?keyPrefix=zapo:', 'flag', cwd)
    assert.equal(redis.kind, 'redis')
    assert.equal(redis.keyPrefix, 'zapo:')
    const mongo = parseStoreUrl('mongodb+srv://c.example/db?collectionPrefix=wa_', 'flag', cwd)
    assert.equal(mongo.kind, 'mongo')
    assert.equal(mongo.collectionPrefix, 'wa_')
})

test('bad addresses are one-line usage errors naming the fix', () => {
    usage(() => parseStoreUrl('ftp://x/y', 'flag', cwd), /unknown store scheme "ftp:".*use one of/)
    usage(() => parseStoreUrl('nonsense', 'flag', cwd), /unknown store "nonsense"/)
    usage(
        () => parseStoreUrl('redis://h/0?tablePrefix=x', 'flag', cwd),
        /tablePrefix does not apply to redis.*keyPrefix/
    )
    usage(
        () => parseStoreUrl('postgres://h/db?tablePrefix=a;drop', 'flag', cwd),
        /letters, digits and underscores/
    )
    usage(() => parseStoreUrl('sqlite::memory:', 'flag', cwd), /in-memory/)
})

test('bare names resolve through config, then environment, then the default', () => {
    assert.equal(
        resolveStoreSpec('postgres', ctx({ DATABASE_URL: 'postgres://e/db' })).primary.target,
        'postgres://e/db'
    )
    assert.equal(
        resolveStoreSpec('mysql', ctx({ MYSQL_URL: 'mysql://m/db' })).primary.target,
        'mysql://m/db'
    )
    assert.equal(
        resolveStoreSpec('redis', ctx({ REDIS_URL: 'redis://r:6379' })).primary.kind,
        'redis'
    )
    assert.equal(
        resolveStoreSpec('mongo', ctx({ MONGODB_URI: 'mongodb://m/db' })).primary.kind,
        'mongo'
    )
    const pgEnv = resolveStoreSpec('postgres', ctx({ PGHOST: 'h', PGDATABASE: 'd' })).primary
    assert.equal(pgEnv.target, '', 'driver reads PG* itself')
    usage(() => resolveStoreSpec('redis', ctx({})), /set REDIS_URL/)
    const config = {
        ...noConfig,
        path: '/srv/app/zapo.config.json',
        backends: { postgres: { url: 'postgres://c/db', tablePrefix: 'wa_' } }
    }
    const fromConfig = resolveStoreSpec(
        'postgres',
        ctx({ DATABASE_URL: 'postgres://e/db' }, config)
    ).primary
    assert.equal(fromConfig.target, 'postgres://c/db', 'config wins over environment')
    assert.equal(fromConfig.tablePrefix, 'wa_')
    assert.equal(
        resolveStoreSpec(undefined, ctx({ ZAPO_STORE: 'redis://z' })).primary.kind,
        'redis'
    )
})

test('config domain mapping routes domains to other backends', () => {
    const config = {
        ...noConfig,
        path: '/srv/app/zapo.config.json',
        store: 'postgres',
        backends: { postgres: 'postgres://c/db', redis: 'redis://r:6379?keyPrefix=c:' },
        domains: { retry: 'redis', deviceList: 'redis', auth: 'postgres' }
    }
    const spec = resolveStoreSpec(undefined, ctx({}, config))
    assert.equal(spec.primary.kind, 'postgres')
    assert.deepEqual(spec.domains, { retry: 'redis', deviceList: 'redis' })
    assert.equal(spec.backends.redis.keyPrefix, 'c:')
    usage(
        () => resolveStoreSpec(undefined, ctx({}, { ...config, domains: { bogus: 'redis' } })),
        /unknown domain "bogus"/
    )
    // an explicit --store is one backend for everything
    assert.deepEqual(resolveStoreSpec('sqlite:./a.sqlite', ctx({}, config)).domains, {})
})

test('redactUrl hides passwords', () => {
    assert.equal(redactUrl('mysql://root:hunter2@h:3306/db'), 'mysql://root:***@h:3306/db')
})

test('config file: optional by default, strict when named, one-line errors', () => {
    const dir = mkdtempSync(join(tmpdir(), 'zapo-config-'))
    assert.equal(loadConfig(undefined, dir).path, null)
    assert.throws(() => loadConfig('missing.json', dir), /cannot read config file .*missing.json/)
    writeFileSync(join(dir, 'zapo.config.json'), '{ "store": "sqlite:./a.sqlite", ')
    assert.throws(
        () => loadConfig(undefined, dir),
        error => error.code === 'USAGE' && /not valid JSON/.test(error.message)
    )
    writeFileSync(join(dir, 'zapo.config.json'), '{ "stor": "x" }')
    assert.throws(() => loadConfig(undefined, dir), /unknown key "stor"/)
    writeFileSync(join(dir, 'zapo.config.json'), '{ "backends": { "pg": 5 } }')
    assert.throws(() => loadConfig(undefined, dir), /backends.pg must be a store URL/)
    writeFileSync(
        join(dir, 'zapo.config.json'),
        JSON.stringify({ store: 'redis', session: 't1', check: { minPreKeys: 10 } })
    )
    const config = loadConfig(undefined, dir)
    assert.equal(config.store, 'redis')
    assert.equal(config.session, 't1')
    assert.equal(config.check.minPreKeys, 10)
})
