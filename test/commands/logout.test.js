/**
 * `zapo logout`, run as the built binary against the sandbox, over SQLite, PostgreSQL,
 * MariaDB and Redis (MongoDB when MONGODB_URI is set): the device is removed on the server,
 * the library clears the stored state, the report counts it; and every way it refuses to
 * remove anything (no confirmation, not paired, server unreachable, no such session).
 */

import assert from 'node:assert/strict'
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { catalogForStore } from '../../dist/store/catalog.js'
import { startSandbox } from '../../dist/sandbox/index.js'
import { dropStore, makeSession, openTestStore, storeUrls } from '../helpers/fixtures.js'
import { spawnSync } from 'node:child_process'
import { REPO_ROOT, runZapo, ZAPO_BIN } from '../helpers/run.js'
import { EMPTY_COUNTS } from '../../dist/store/catalog/types.js'

const cwd = mkdtempSync(join(tmpdir(), 'zapo-logout-'))
const env = {
    ZAPO_STORE: undefined,
    ZAPO_SESSION: undefined,
    ZAPO_CONFIG: undefined,
    ZAPO_SERVER: undefined,
    ZAPO_SERVER_ROOT_CA: undefined
}
const zapo = (args, options = {}) => runZapo(args, { cwd, env, ...options })

async function countsOf(url, sessionId) {
    const store = await openTestStore(url, 'read')
    try {
        return await catalogForStore(store).counts(sessionId)
    } finally {
        await store.close()
    }
}

const EMPTY = { ...EMPTY_COUNTS }

describe('zapo logout --yes through the sandbox', () => {
    let sandbox
    before(async () => {
        sandbox = await startSandbox()
    })
    after(() => sandbox.close())
    const server = () => ['--server', sandbox.url, '--server-root-ca', sandbox.rootCa]
    const urls = storeUrls()

    for (const backend of ['sqlite', 'postgres', 'mysql', 'redis', 'mongo']) {
        test(`${backend}: the server removes the device, the library clears the store, the report counts it`, async t => {
            if (!urls[backend]) return t.skip('MONGODB_URI not set')
            const url = urls[backend]
            const id = `tenant-7-${backend}` // the fixture derives the JID from the id: one device per backend
            t.after(() => dropStore(url))
            const store = await openTestStore(url, 'write')
            let made
            let neighbour
            try {
                made = await makeSession(store, id, { preKeys: 40, uploaded: 30 })
                neighbour = await makeSession(store, 'neighbour', { preKeys: 12, uploaded: 12 })
            } finally {
                await store.close()
            }
            const removedOnServer = sandbox.waitFor(
                'device-removed',
                e => e.jid === made.credentials.meJid,
                30_000
            )

            const result = await zapo([
                '--store',
                url,
                'logout',
                '--session',
                id,
                '--yes',
                '--json',
                ...server()
            ])
            assert.equal(result.code, 0, result.stdout + result.stderr)
            const report = JSON.parse(result.stdout)
            assert.equal(report.status, 'logged-out')
            // Redis: the library's pattern clear stays shut, zapo clears by exact keys
            assert.equal(report.clearedBy, backend === 'redis' ? 'zapo' : 'library')
            assert.equal(report.jid, made.credentials.meJid)
            assert.equal(report.exitCode, 0)
            assert.deepEqual(report.before, made.counts)
            assert.deepEqual(report.after, EMPTY)
            assert.equal(report.removed.preKeys, made.counts.preKeys)
            assert.equal(report.removed.signalSessions, made.counts.signalSessions)
            assert.deepEqual(report.remaining, [])
            assert.match(
                result.stderr,
                new RegExp(
                    `logging out ${id} \\(\\d+:12@s\\.whatsapp\\.net\\).*an app running with this session is disconnected`
                )
            )

            // the sandbox saw the companion remove itself and no longer knows the device
            const event = await removedOnServer
            assert.equal(event.reason, 'user_initiated')
            assert.ok(
                !sandbox.devices().some(d => d.jid === made.credentials.meJid),
                'device gone from the server'
            )

            // the store: no credentials, nothing left for the session; the other session untouched
            const s = await openTestStore(url, 'read')
            try {
                assert.equal(await s.domain('auth', id).load(), null)
                assert.equal(await s.domain('signal', id).getRegistrationInfo(), null)
                const catalog = catalogForStore(s)
                assert.deepEqual(await catalog.counts(id), EMPTY)
                assert.deepEqual(await catalog.counts('neighbour'), neighbour.counts)
                assert.deepEqual(await catalog.listSessionIds(), ['neighbour'])
            } finally {
                await s.close()
            }
        })
    }

    test('human output names the session, its JID and the records removed per domain', async t => {
        const url = storeUrls().sqlite
        t.after(() => dropStore(url))
        const store = await openTestStore(url, 'write')
        const made = await makeSession(store, 'tenant-h', { preKeys: 40, uploaded: 30 })
        await store.close()
        const result = await zapo([
            '--store',
            url,
            'logout',
            '--session',
            'tenant-h',
            '--yes',
            ...server()
        ])
        assert.equal(result.code, 0, result.stderr)
        assert.match(
            result.stdout,
            new RegExp(
                `^logged out tenant-h \\(${made.credentials.meJid.replace(/[.:]/g, '\\$&')}\\): the server removed the device; the library removed its stored state\\n`
            )
        )
        assert.match(result.stdout, /\n  credentials\s+auth\s+1\s+0\n/)
        assert.match(result.stdout, /\n  preKeys\s+preKey\s+40\s+0\n/)
        assert.doesNotMatch(result.stdout, /left behind/)
    })

    test('a routine 515 during the logout never leaves a linked device without its state (or the reverse)', async t => {
        const url = storeUrls().sqlite
        t.after(() => dropStore(url))
        const store = await openTestStore(url, 'write')
        const made = await makeSession(store, 'restarted', { preKeys: 10, uploaded: 10 })
        await store.close()
        let first = true
        const inject = e => {
            if (e.jid !== made.credentials.meJid || !first) return
            first = false
            void sandbox.fault(e.jid, 'restart').catch(() => undefined)
        }
        sandbox.on('login', inject)
        const result = await zapo([
            '--store',
            url,
            'logout',
            '--session',
            'restarted',
            '--yes',
            '--json',
            ...server()
        ])
        sandbox.off('login', inject)
        t.diagnostic(`exit ${result.code}`)
        const linked = sandbox.devices().some(d => d.jid === made.credentials.meJid)
        const counts = await countsOf(url, 'restarted')
        if (result.code === 0) {
            assert.equal(linked, false, 'logged out: the server no longer knows the device')
            assert.deepEqual(counts, EMPTY)
        } else {
            assert.ok([8, 14].includes(result.code), result.stdout + result.stderr)
            assert.equal(linked, true, 'not confirmed: the device is still linked…')
            assert.deepEqual(counts, made.counts, '…and its stored state is all there')
        }
    })

    test('a device the server already removed: its refusal is reported and the library clears the store', async t => {
        const url = storeUrls().sqlite
        t.after(() => dropStore(url))
        const store = await openTestStore(url, 'write')
        const made = await makeSession(store, 'gone', { preKeys: 10, uploaded: 10 })
        await store.close()
        // log it in once (check --connect), and have the server force it out meanwhile
        const inject = e => void sandbox.fault(e.jid, 'force_logout').catch(() => undefined)
        sandbox.on('login', inject)
        const checked = await zapo([
            '--store',
            url,
            'check',
            '--session',
            'gone',
            '--connect',
            ...server()
        ])
        sandbox.off('login', inject)
        assert.equal(checked.code, 10)
        assert.deepEqual(await countsOf(url, 'gone'), made.counts, 'check kept everything')

        const result = await zapo([
            '--store',
            url,
            'logout',
            '--session',
            'gone',
            '--yes',
            '--json',
            ...server()
        ])
        assert.equal(result.code, 0, result.stdout + result.stderr)
        const report = JSON.parse(result.stdout)
        assert.equal(report.status, 'already-logged-out')
        assert.equal(report.clearedBy, 'zapo')
        assert.match(report.reason, /401/)
        assert.deepEqual(report.after, EMPTY)
        assert.deepEqual(await countsOf(url, 'gone'), EMPTY)
    })
})

describe('zapo logout removes nothing when it should not', () => {
    const url = storeUrls().sqlite
    let sandbox
    let paired
    let unpaired
    before(async () => {
        sandbox = await startSandbox()
        const store = await openTestStore(url, 'write')
        try {
            paired = await makeSession(store, 'keep-me', { preKeys: 20, uploaded: 20 })
            unpaired = await makeSession(store, 'never-paired', {
                paired: false,
                preKeys: 5,
                uploaded: 0
            })
        } finally {
            await store.close()
        }
    })
    after(async () => {
        await sandbox.close()
        await dropStore(url)
    })
    const server = () => ['--server', sandbox.url, '--server-root-ca', sandbox.rootCa]

    test('no terminal and no --yes → usage error naming --yes; nothing connects, nothing is removed', async () => {
        let logins = 0
        const count = () => (logins += 1)
        sandbox.on('connection', count)
        const result = await zapo(['--store', url, 'logout', '--session', 'keep-me', ...server()])
        sandbox.off('connection', count)
        assert.equal(result.code, 2)
        assert.equal(result.stdout, '')
        assert.match(
            result.stderr,
            /^zapo: logout unlinks keep-me for good and needs a confirmation: pass --yes \(there is no terminal to ask on\)\n$/
        )
        assert.equal(logins, 0)
        assert.deepEqual(await countsOf(url, 'keep-me'), paired.counts)

        const json = await zapo([
            '--store',
            url,
            'logout',
            '--session',
            'keep-me',
            '--json',
            ...server()
        ])
        assert.equal(json.code, 2, 'JSON mode never prompts either')
        assert.equal(JSON.parse(json.stdout).error.code, 'USAGE')
    })

    test('a session that is not paired is reported (6), not hidden, and kept', async () => {
        const result = await zapo([
            '--store',
            url,
            'logout',
            '--session',
            'never-paired',
            '--yes',
            ...server()
        ])
        assert.equal(result.code, 6)
        assert.match(
            result.stdout,
            /^never-paired is not paired: no device is linked on a phone, so there is nothing to log out; nothing was removed\n/
        )
        assert.deepEqual(await countsOf(url, 'never-paired'), unpaired.counts)
        const json = await zapo([
            '--store',
            url,
            'logout',
            '--session',
            'never-paired',
            '--yes',
            '--json',
            ...server()
        ])
        assert.equal(json.code, 6)
        assert.deepEqual(
            (({ status, result, exitCode, removed }) => ({ status, result, exitCode, removed }))(
                JSON.parse(json.stdout)
            ),
            { status: 'not-paired', result: 'NOT_PAIRED', exitCode: 6, removed: {} }
        )
    })

    test('server unreachable → 14 and nothing removed', async () => {
        const result = await zapo([
            '--store',
            url,
            'logout',
            '--session',
            'keep-me',
            '--yes',
            '--timeout',
            '2s',
            '--server',
            'ws://127.0.0.1:1/ws/chat',
            '--server-root-ca',
            sandbox.rootCa
        ])
        assert.equal(result.code, 14, result.stderr)
        assert.match(
            result.stderr,
            /zapo: cannot reach the server to unlink keep-me: .*nothing was removed: the device stays linked on the phone/
        )
        assert.deepEqual(await countsOf(url, 'keep-me'), paired.counts)
    })

    test('no such session → 3', async () => {
        const result = await zapo([
            '--store',
            url,
            'logout',
            '--session',
            'nobody',
            '--yes',
            ...server()
        ])
        assert.equal(result.code, 3)
        assert.match(result.stderr, /^zapo: no session "nobody" in sqlite:/)
    })
})

test('on a terminal it names the session and its JID and asks; "no" removes nothing, "yes" logs out (tmux)', async t => {
    if (spawnSync('tmux', ['-V']).status !== 0)
        return t.skip('tmux is not installed (apt-get install tmux)')
    const sandbox = await startSandbox()
    const url = storeUrls().sqlite
    t.after(async () => {
        await sandbox.close()
        await dropStore(url)
    })
    const store = await openTestStore(url, 'write')
    const made = await makeSession(store, 'tty-tenant', { preKeys: 10, uploaded: 10 })
    await store.close()
    const dir = mkdtempSync(join(tmpdir(), 'zapo-logout-tty-'))
    const socket = join(dir, 'tmux.sock')
    const tmux = (...args) => spawnSync('tmux', ['-S', socket, ...args], { encoding: 'utf8' })
    t.after(() => tmux('kill-server'))
    const quote = arg => `'${arg.replace(/'/g, "'\\''")}'`
    const run = async (name, keys) => {
        const command = [
            process.execPath,
            ZAPO_BIN,
            '--store',
            url,
            'logout',
            '--session',
            'tty-tenant',
            '--server',
            sandbox.url,
            '--server-root-ca',
            sandbox.rootCa
        ]
            .map(quote)
            .join(' ')
        assert.equal(
            tmux(
                'new-session',
                '-d',
                '-x',
                '160',
                '-y',
                '40',
                '-s',
                name,
                `NO_COLOR=1 ${command}; echo EXIT=$?; sleep 30`
            ).status,
            0
        )
        const screen = () => tmux('capture-pane', '-p', '-J', '-S', '-', '-t', name).stdout
        const waitFor = async (pattern, what) => {
            for (let i = 0; i < 200; i += 1) {
                if (pattern.test(screen())) return screen()
                await new Promise(r => setTimeout(r, 100))
            }
            throw new Error(`terminal never showed ${what}:\n${screen()}`)
        }
        const asked = await waitFor(/Log out tty-tenant \(.*\) for good\?/, 'the confirmation')
        assert.ok(asked.includes(made.credentials.meJid), 'the prompt names the JID')
        for (const key of keys) tmux('send-keys', '-t', name, key)
        return waitFor(/EXIT=\d+/, 'the end of the run')
    }
    const declined = await run('no', ['Enter']) // the default answer is No: declined (22), not cancelled (130)
    assert.match(declined, /EXIT=22/)
    assert.deepEqual(await countsOf(url, 'tty-tenant'), made.counts, 'nothing removed after "no"')
    const accepted = await run('yes', ['y', 'Enter'])
    assert.match(accepted, /EXIT=0/, accepted)
    assert.match(accepted, /logged out tty-tenant/)
    assert.deepEqual(await countsOf(url, 'tty-tenant'), EMPTY)
})

test('only zapo logout and the unlink of a pairing that cannot be stored call logout()', () => {
    const offenders = []
    const walk = dir => {
        for (const name of readdirSync(dir)) {
            const path = join(dir, name)
            if (statSync(path).isDirectory()) walk(path)
            else if (
                path.endsWith('.ts') &&
                /^(?!\s*(\*|\/\/|\/\*)).*\.logout\(/m.test(readFileSync(path, 'utf8'))
            )
                offenders.push(path.slice(REPO_ROOT.length + 1))
        }
    }
    walk(join(REPO_ROOT, 'src'))
    // src/client/pairing.ts removes only the device its own pairing just linked (issue 17)
    assert.deepEqual(offenders.sort(), ['src/client/pairing.ts', 'src/ops/logout.ts'])
})
