/**
 * `zapo config`, run as the built binary: the store, session, server (and root CA) and log level
 * a command would use, and where each came from — flag, environment variable, config file or
 * default — with passwords in store URLs redacted, for people and with --json.
 */

import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { CLEAN_ZAPO_ENV, runZapo } from '../helpers/run.js'

const ROOT_CA = `1:${Buffer.alloc(32, 7).toString('base64')}`
const OTHER_CA = `2:${Buffer.alloc(32, 9).toString('base64')}`
const BASE_ENV = {
    ...CLEAN_ZAPO_ENV,
    DATABASE_URL: undefined,
    POSTGRES_URL: undefined,
    PGHOST: undefined,
    PGDATABASE: undefined,
    PGUSER: undefined,
    PGPORT: undefined,
    PGSERVICE: undefined,
    REDIS_URL: undefined,
    ZAPO_SQLITE: undefined
}

function dir() {
    return mkdtempSync(join(tmpdir(), 'zapo-config-'))
}

async function config(cwd, args = [], env = {}) {
    const result = await runZapo(['config', '--json', ...args], {
        cwd,
        env: { ...BASE_ENV, ...env }
    })
    assert.equal(result.code, 0, result.stderr)
    assert.ok(result.stdout.endsWith('}\n'))
    return { doc: JSON.parse(result.stdout), result }
}

describe('zapo config', () => {
    test('nothing set: every value is the default, and says so', async () => {
        const cwd = dir()
        const { doc } = await config(cwd)
        assert.deepEqual(doc.configFile, { path: null, from: { source: 'default' } })
        assert.equal(doc.store.address, `sqlite:${join(cwd, 'zapo.sqlite')}`)
        assert.equal(doc.store.kind, 'sqlite')
        assert.deepEqual(doc.store.from, { source: 'default' })
        assert.equal(doc.store.given, null)
        assert.deepEqual(doc.session, { id: null, from: { source: 'default' } })
        assert.equal(doc.server.url, null)
        assert.deepEqual(doc.logLevel, { level: 'silent', from: { source: 'default' } })
        const human = await runZapo(['config'], { cwd, env: BASE_ENV })
        assert.equal(human.code, 0)
        assert.match(human.stdout, /^store {8}sqlite:\S+zapo\.sqlite\n {13}from default$/m)
        assert.match(human.stdout, /^server {7}the WhatsApp service$/m)
        for (const line of human.stdout.split('\n'))
            assert.ok(line.length <= 80, `wider than 80 columns: ${line}`)
    })

    test('environment variables: ZAPO_STORE, ZAPO_SESSION, ZAPO_SERVER, ZAPO_SERVER_ROOT_CA', async () => {
        const cwd = dir()
        const { doc } = await config(cwd, [], {
            ZAPO_STORE: 'sqlite:./env.sqlite',
            ZAPO_SESSION: 'from-env',
            ZAPO_SERVER: 'ws://127.0.0.1:7400/ws/chat',
            ZAPO_SERVER_ROOT_CA: ROOT_CA
        })
        assert.equal(doc.store.address, `sqlite:${join(cwd, 'env.sqlite')}`)
        assert.deepEqual(doc.store.from, { source: 'env', name: 'ZAPO_STORE' })
        assert.equal(doc.store.given, 'sqlite:./env.sqlite')
        assert.deepEqual(doc.session, {
            id: 'from-env',
            from: { source: 'env', name: 'ZAPO_SESSION' }
        })
        assert.equal(doc.server.url, 'ws://127.0.0.1:7400/ws/chat')
        assert.equal(doc.server.rootCa, ROOT_CA)
        assert.deepEqual(doc.server.from, {
            url: { source: 'env', name: 'ZAPO_SERVER' },
            rootCa: { source: 'env', name: 'ZAPO_SERVER_ROOT_CA' }
        })
    })

    test('the config file: store through its backends entry (password redacted), session, server, domains', async () => {
        const cwd = dir()
        const file = join(cwd, 'zapo.config.json')
        writeFileSync(
            file,
            JSON.stringify({
                store: 'postgres',
                session: 'from-file',
                backends: {
                    postgres: 'postgres://zapo:s3cret-pw@db.internal/zapo?tablePrefix=wa_',
                    redis: { url: 'redis://:other-pw@cache:6379', keyPrefix: 'z:' }
                },
                domains: { retry: 'redis' },
                server: { url: 'ws://10.0.0.1:7400/ws/chat', rootCa: ROOT_CA }
            })
        )
        const { doc, result } = await config(cwd)
        assert.deepEqual(doc.configFile, { path: file, from: { source: 'default' } })
        assert.equal(doc.store.kind, 'postgres')
        assert.match(doc.store.address, /^postgres:\/\/zapo:\*\*\*@db\.internal\/zapo/)
        assert.equal(doc.store.given, 'postgres')
        assert.deepEqual(doc.store.from, { source: 'config', path: file, key: 'store' })
        assert.equal(doc.store.via, `${file}: backends.postgres`)
        assert.match(doc.store.domains.retry, /^redis:\/\/:\*\*\*@cache:6379/)
        assert.deepEqual(doc.session.from, { source: 'config', path: file, key: 'session' })
        assert.equal(doc.session.id, 'from-file')
        assert.deepEqual(doc.server.from.url, { source: 'config', path: file, key: 'server.url' })
        const human = await runZapo(['config'], { cwd, env: BASE_ENV })
        for (const out of [result.stdout, result.stderr, human.stdout, human.stderr]) {
            assert.doesNotMatch(out, /s3cret-pw|other-pw/, 'no password is printed')
        }
        assert.match(
            human.stdout,
            /from .*zapo\.config\.json: store "postgres", through .*backends\.postgres/
        )
    })

    test('flags win over the environment and the file; --config and ZAPO_CONFIG name the file', async () => {
        const cwd = dir()
        const named = join(cwd, 'other.json')
        writeFileSync(
            named,
            JSON.stringify({ session: 'from-named-file', store: 'sqlite:./f.sqlite' })
        )
        const env = {
            ZAPO_STORE: 'sqlite:./env.sqlite',
            ZAPO_SESSION: 'from-env',
            ZAPO_SERVER: 'ws://127.0.0.1:1/ws/chat',
            ZAPO_SERVER_ROOT_CA: ROOT_CA
        }
        const { doc } = await config(
            cwd,
            [
                '--config',
                named,
                '--store',
                'sqlite:./flag.sqlite',
                '-s',
                'from-flag',
                '--server',
                'ws://127.0.0.1:2/ws/chat',
                '--server-root-ca',
                OTHER_CA,
                '--log-level',
                'warn'
            ],
            env
        )
        assert.deepEqual(doc.configFile, {
            path: named,
            from: { source: 'flag', name: '--config' }
        })
        assert.equal(doc.store.address, `sqlite:${join(cwd, 'flag.sqlite')}`)
        assert.deepEqual(doc.store.from, { source: 'flag', name: '--store' })
        assert.deepEqual(doc.session, {
            id: 'from-flag',
            from: { source: 'flag', name: '--session' }
        })
        assert.equal(doc.server.url, 'ws://127.0.0.1:2/ws/chat')
        assert.equal(doc.server.rootCa, OTHER_CA)
        assert.deepEqual(doc.server.from.rootCa, { source: 'flag', name: '--server-root-ca' })
        assert.deepEqual(doc.logLevel, {
            level: 'warn',
            from: { source: 'flag', name: '--log-level' }
        })
        // ZAPO_CONFIG names the file; its session is used when neither flag nor ZAPO_SESSION is
        const viaEnv = (await config(cwd, [], { ZAPO_CONFIG: named })).doc
        assert.deepEqual(viaEnv.configFile.from, { source: 'env', name: 'ZAPO_CONFIG' })
        assert.deepEqual(viaEnv.session.from, { source: 'config', path: named, key: 'session' })
        assert.deepEqual(viaEnv.store.from, { source: 'config', path: named, key: 'store' })
        // --debug turns the client library's lines on at debug
        const debug = (await config(cwd, ['--debug'])).doc
        assert.deepEqual(debug.logLevel, {
            level: 'debug',
            from: { source: 'flag', name: '--debug' }
        })
    })

    test('a bare backend name resolved through the environment names the variable, redacted', async () => {
        const cwd = dir()
        const { doc, result } = await config(cwd, ['--store', 'postgres'], {
            DATABASE_URL: 'postgres://bob:hunter2@db/zapo'
        })
        assert.equal(doc.store.address, 'postgres://bob:***@db/zapo')
        assert.deepEqual(doc.store.from, { source: 'flag', name: '--store' })
        assert.equal(doc.store.via, 'DATABASE_URL')
        assert.doesNotMatch(result.stdout + result.stderr, /hunter2/)
        const typed = (await config(cwd, ['--store', 'mysql://root:hunter3@127.0.0.1/test'])).doc
        assert.equal(typed.store.given, 'mysql://root:***@127.0.0.1/test')
        assert.doesNotMatch(JSON.stringify(typed), /hunter3/)
    })

    test('what every command would refuse, config refuses the same way (exit 2, one line)', async () => {
        const cwd = dir()
        for (const [args, pattern] of [
            [['--server', 'ws://127.0.0.1:1/ws/chat'], /--server needs --server-root-ca/],
            [['--store', 'foo://bar'], /unknown store scheme/],
            [['--log-level', 'loud'], /--log-level "loud" is not a level/],
            [['-s', 'bad id'], /invalid session id/]
        ]) {
            const result = await runZapo(['config', ...args], { cwd, env: BASE_ENV })
            assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`)
            assert.equal(result.stdout, '')
            assert.match(result.stderr, pattern)
            assert.equal(result.stderr.trim().split('\n').length, 1)
        }
    })
})
