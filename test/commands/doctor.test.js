/**
 * `zapo doctor`, run as the built binary: the JSON shape, the zapo-js / store-package peer
 * mismatch reported as a warning (computed from the installed package.json files, not assumed),
 * store reachability, schema and session count, and exit codes.
 */

import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readFileSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import semver from 'semver'
import { dropStore, makeSession, openTestStore, storeUrls } from '../helpers/fixtures.js'
import { REPO_ROOT, runZapo } from '../helpers/run.js'
import { LEAN_SHAPE } from '../helpers/shapes.js'

const cwd = mkdtempSync(join(tmpdir(), 'zapo-doctor-'))
const env = { ZAPO_STORE: undefined, ZAPO_SESSION: undefined, ZAPO_CONFIG: undefined }
const zapo = (args, options = {}) => runZapo(args, { cwd, env, ...options })

const STORE_PACKAGES = ['sqlite', 'postgres', 'mysql', 'redis', 'mongo'].map(
    k => `@zapo-js/store-${k}`
)
const DRIVERS = ['better-sqlite3', 'pg', 'mysql2', 'ioredis', 'mongodb']

function installed(name) {
    return JSON.parse(readFileSync(join(REPO_ROOT, 'node_modules', name, 'package.json'), 'utf8'))
}

describe('zapo doctor', () => {
    const urls = storeUrls()

    before(async () => {
        const store = await openTestStore(urls.sqlite, 'write')
        try {
            // one session with something in every durable domain (every table exists), one lean
            await makeSession(store, 'one', { signalSessions: 1, identities: 1 })
            await makeSession(store, 'two', LEAN_SHAPE)
        } finally {
            await store.close()
        }
    })

    after(async () => {
        await dropStore(urls.sqlite)
    })

    test('--json: one document, every check {name, status, detail}, machine checks present', async () => {
        const result = await zapo(['doctor', '--json', '--no-store-check'])
        const doc = JSON.parse(result.stdout)
        assert.equal(typeof doc.ok, 'boolean')
        assert.equal(doc.exitCode, result.code)
        assert.equal(doc.store, null)
        for (const check of doc.checks) {
            assert.equal(typeof check.name, 'string')
            assert.ok(
                ['ok', 'info', 'warn', 'fail'].includes(check.status),
                `${check.name}: ${check.status}`
            )
            assert.equal(typeof check.detail, 'string')
        }
        const names = doc.checks.map(c => c.name)
        for (const name of [
            'node',
            'zapo-js',
            ...STORE_PACKAGES,
            'zapo-js-api',
            ...DRIVERS.map(d => `driver:${d}`),
            'websocket'
        ]) {
            assert.ok(names.includes(name), `missing check ${name}`)
        }
        assert.ok(!names.some(n => n.startsWith('store:')), '--no-store-check skips the store')
        const byName = Object.fromEntries(doc.checks.map(c => [c.name, c]))
        assert.equal(byName.node.status, 'ok')
        assert.equal(byName.node.data.version, process.versions.node)
        assert.equal(byName['zapo-js'].data.version, installed('zapo-js').version)
        for (const driver of DRIVERS) {
            assert.equal(
                byName[`driver:${driver}`].status,
                'ok',
                `${driver}: ${byName[`driver:${driver}`].detail}`
            )
            assert.equal(byName[`driver:${driver}`].data.version, installed(driver).version)
        }
        assert.equal(byName.websocket.status, 'ok')
        assert.equal(byName.websocket.data.ws, installed('ws').version)
        assert.deepEqual(doc.summary, {
            ok: doc.checks.filter(c => c.status === 'ok').length,
            info: doc.checks.filter(c => c.status === 'info').length,
            warn: doc.checks.filter(c => c.status === 'warn').length,
            fail: doc.checks.filter(c => c.status === 'fail').length
        })
    })

    test('the peer-range mismatch zapo works around is an info line with the versions, and exit stays 0', async () => {
        const result = await zapo(['doctor', '--json', '--no-store-check'])
        const doc = JSON.parse(result.stdout)
        const zapoJs = installed('zapo-js').version
        let mismatches = 0
        for (const name of STORE_PACKAGES) {
            const check = doc.checks.find(c => c.name === name)
            const pkg = installed(name)
            const range = pkg.peerDependencies['zapo-js']
            const satisfied = semver.satisfies(zapoJs, range)
            assert.equal(check.data.version, pkg.version)
            assert.equal(check.data.satisfied, satisfied)
            assert.equal(check.status, satisfied ? 'ok' : 'info', check.detail)
            if (!satisfied) {
                mismatches += 1
                assert.ok(
                    check.detail.includes(range) && check.detail.includes(zapoJs),
                    check.detail
                )
            }
        }
        // the functions the store packages call, looked up on a pristine zapo-js (this process
        // has loaded a store package through zapo, which supplies a stand-in for one of them)
        const probe = spawnSync(
            process.execPath,
            [
                '-e',
                "console.log(JSON.stringify([typeof require('zapo-js').isUserJid, typeof require('zapo-js/util').uint8TimingSafeEqual]))"
            ],
            { cwd: REPO_ROOT, encoding: 'utf8' }
        )
        const [isUserJidType, timingSafeEqualType] = JSON.parse(probe.stdout)
        const hasIsUserJid = isUserJidType === 'function'
        const hasTimingSafeEqual = timingSafeEqualType === 'function'
        const api = doc.checks.find(c => c.name === 'zapo-js-api')
        const missingNames = api.data.missing.map(m => m.name)
        assert.equal(missingNames.includes('isUserJid'), !hasIsUserJid)
        assert.equal(missingNames.includes('uint8TimingSafeEqual'), !hasTimingSafeEqual)
        if (!hasIsUserJid)
            assert.match(api.detail, /isUserJid[^\n]*contact lookups that miss by jid/)
        if (!hasTimingSafeEqual)
            assert.match(api.detail, /uint8TimingSafeEqual[^\n]*app-state MAC comparison/)
        // every export 0.3.0 lacks is one zapo works around: info, not a warning
        assert.equal(api.status, missingNames.length > 0 ? 'info' : 'ok')
        if (mismatches > 0) assert.ok(doc.summary.info >= mismatches)
        assert.equal(doc.summary.warn, 0, 'nothing here asks the user to act')
        assert.equal(result.code, 0, 'info lines do not fail doctor')
        assert.equal(doc.ok, true)
    })

    test('a store with sessions: reachable, schema ready, session count', async () => {
        const result = await zapo(['doctor', '--json', '--store', urls.sqlite])
        assert.equal(result.code, 0, result.stderr)
        const doc = JSON.parse(result.stdout)
        const byName = Object.fromEntries(doc.checks.map(c => [c.name, c]))
        assert.equal(byName['store:reachable'].status, 'ok')
        assert.equal(byName['store:schema'].status, 'ok')
        assert.equal(byName['store:schema'].data.state, 'ready')
        assert.equal(byName['store:sessions'].status, 'ok')
        assert.equal(byName['store:sessions'].data.sessions, 2)
        assert.match(byName['store:sessions'].detail, /^2 sessions$/)
    })

    test('human output: one line per check, the mismatch marked info, a summary', async () => {
        const result = await zapo(['doctor', '--store', urls.sqlite])
        assert.equal(result.code, 0, result.stderr)
        assert.match(result.stdout, /^ok {4}node {2,}\S/m)
        const zapoJs = installed('zapo-js').version
        if (
            !semver.satisfies(
                zapoJs,
                installed('@zapo-js/store-sqlite').peerDependencies['zapo-js']
            )
        ) {
            assert.match(result.stdout, /^info {2}@zapo-js\/store-sqlite .*does not satisfy/m)
        }
        assert.match(result.stdout, /^ok {4}store:sessions\s+2 sessions$/m)
        assert.match(result.stdout, /\d+ ok, \d+ info, 0 warnings, 0 failed\n$/)
        assert.doesNotMatch(result.stdout, /^warn /m)
    })

    test('an unreachable store: exit 4, the store check fails, still one JSON document', async () => {
        const result = await zapo(['doctor', '--json', '--store', 'postgres://127.0.0.1:1/x'])
        assert.equal(result.code, 4)
        const doc = JSON.parse(result.stdout)
        assert.equal(doc.ok, false)
        assert.equal(doc.exitCode, 4)
        const reach = doc.checks.find(c => c.name === 'store:reachable')
        assert.equal(reach.status, 'fail')
        assert.equal(reach.code, 'STORE_UNAVAILABLE')
        assert.match(reach.detail, /connection refused/)
        assert.ok(
            !doc.checks.some(c => c.name === 'store:schema'),
            'no schema check without a connection'
        )
        assert.doesNotMatch(result.stderr, /\n\s+at /)
    })

    test('a missing explicit SQLite path fails (exit 3) and is not created; the missing default is info', async () => {
        const path = join(cwd, 'typo.sqlite')
        const explicit = await zapo(['doctor', '--json', '--store', path])
        assert.equal(explicit.code, 3)
        assert.equal(
            JSON.parse(explicit.stdout).checks.find(c => c.name === 'store:reachable').status,
            'fail'
        )
        assert.equal(existsSync(path), false)
        const implicit = await zapo(['doctor', '--json'])
        assert.equal(implicit.code, 0, implicit.stdout)
        const reach = JSON.parse(implicit.stdout).checks.find(c => c.name === 'store:reachable')
        assert.equal(reach.status, 'info')
        assert.match(reach.detail, /zapo pair creates it/)
        assert.equal(existsSync(join(cwd, 'zapo.sqlite')), false)
    })

    test('a clean install in an empty directory: no warnings, exit 0 (human and JSON)', async () => {
        const empty = mkdtempSync(join(tmpdir(), 'zapo-doctor-clean-'))
        const human = await runZapo(['doctor'], { cwd: empty, env })
        assert.equal(human.code, 0, human.stderr)
        assert.doesNotMatch(human.stdout, /^warn /m, human.stdout)
        assert.match(human.stdout, /^info {2}store:reachable +no store yet/m)
        assert.match(human.stdout, /, 0 warnings, 0 failed\n$/)
        const json = JSON.parse((await runZapo(['doctor', '--json'], { cwd: empty, env })).stdout)
        assert.equal(
            json.summary.warn,
            0,
            JSON.stringify(json.checks.filter(c => c.status === 'warn'))
        )
        assert.equal(existsSync(join(empty, 'zapo.sqlite')), false)
    })

    test('an unknown store scheme is a usage error (exit 2, one line)', async () => {
        const result = await zapo(['doctor', '--store', 'foo://bar'])
        assert.equal(result.code, 2)
        assert.equal(result.stderr.split('\n').filter(Boolean).length, 1)
    })
})
