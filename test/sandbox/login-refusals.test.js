/**
 * The account and client refusals of the real service: `<failure reason=…>` for locked (403),
 * banned (406), client too old (405) and bad user agent (409), as a live fault and as the answer
 * to the next login (`refuseNextLogin`, `POST /refuse-next-login`). The expected close events are
 * what zapo-js 0.3.0 emits for them (client/incoming.js: FAILURE_REASON_TO_DISCONNECT; 401, 403
 * and 406 are logouts, 405, 409 and 503 are not).
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { test } from 'node:test'

import { KEEP_STORE_ON_CLOSE } from '../../dist/client/reconnect.js'
import { LOGIN_REFUSAL_REASONS, parseLoginRefusal } from '../../dist/sandbox/index.js'
import {
    controlRequest,
    newClient,
    nextEvent,
    pairWithQr,
    startTestSandbox,
    tempDir
} from './helpers.js'

const REFUSALS = [
    { kind: 'locked', alias: '403', reason: 'failure_locked', code: 403, isLogout: true },
    { kind: 'banned', alias: '406', reason: 'failure_banned', code: 406, isLogout: true },
    {
        kind: 'client_too_old',
        alias: '405',
        reason: 'failure_client_too_old',
        code: 405,
        isLogout: false
    },
    {
        kind: 'bad_user_agent',
        alias: '409',
        reason: 'failure_bad_user_agent',
        code: 409,
        isLogout: false
    }
]

const LIVE = REFUSALS.filter(r => r.code === 403 || r.code === 406)
const LOGIN_ONLY = REFUSALS.filter(r => r.code === 405 || r.code === 409)

/** The client watching zapo does: nothing is cleared from the store on a close. */
const KEEP = { logoutStoreClear: KEEP_STORE_ON_CLOSE }

const isClose = event => event.status === 'close'

/** Pairs a device into `path` and lets go of it: the next connect is a plain login. */
async function paired(t, sandbox, path) {
    const handle = await pairWithQr(t, sandbox, { path })
    await handle.cleanup()
    return handle.jid
}

test('the refusal kinds parse, with their numeric aliases, and only refusals are login refusals', () => {
    for (const r of REFUSALS) {
        assert.equal(parseLoginRefusal(r.kind), r.kind)
        assert.equal(parseLoginRefusal(r.alias), r.kind)
        assert.equal(parseLoginRefusal(r.kind.replace(/_/g, '-').toUpperCase()), r.kind)
        assert.equal(LOGIN_REFUSAL_REASONS[r.kind], r.code)
    }
    assert.equal(parseLoginRefusal('401'), 'not_authorized')
    assert.equal(parseLoginRefusal('503'), 'service_unavailable')
    for (const kind of ['restart', 'replaced', 'drop', 'late', 'device_removed', 'force_logout']) {
        assert.throws(
            () => parseLoginRefusal(kind),
            /is not a login refusal: expected one of .*locked.*banned/
        )
    }
    assert.equal(parseLoginRefusal('402'), 'temp_banned')
    assert.equal(LOGIN_REFUSAL_REASONS.temp_banned, 402)
})

test('live faults on a connected device: locked and banned give the documented close event', async t => {
    const sandbox = await startTestSandbox(t)
    const dir = tempDir(t)
    for (const expected of LIVE) {
        await t.test(expected.kind, async st => {
            const { client, jid } = await pairWithQr(st, sandbox, {
                path: join(dir, `live-${expected.kind}.sqlite`),
                tuning: KEEP
            })
            const closed = nextEvent(client, 'connection', isClose)
            await sandbox.fault(jid, expected.kind)
            const event = await closed
            assert.deepEqual(
                [event.reason, event.code, event.isLogout],
                [expected.reason, expected.code, expected.isLogout]
            )
            assert.equal(
                client.getCredentials()?.meJid,
                jid,
                'kept: the client was told to keep its store'
            )
            const device = sandbox.devices().find(d => d.jid === jid)
            assert.equal(device?.connected, false, 'the sandbox ended the connection')
        })
    }
})

test('client too old and bad user agent are login-only: a live fault says how to refuse a login instead', async t => {
    const sandbox = await startTestSandbox(t)
    const { jid } = await pairWithQr(t, sandbox, { path: join(tempDir(t), 'live.sqlite') })
    for (const expected of LOGIN_ONLY) {
        await assert.rejects(
            sandbox.fault(jid, expected.kind),
            /refused at login only: use refuseNextLogin \(POST \/refuse-next-login\)/
        )
    }
    assert.equal(sandbox.devices().find(d => d.jid === jid).connected, true, 'nothing was sent')
})

test('refuseNextLogin: the next login gets <failure reason=…> and the documented close event, once', async t => {
    const sandbox = await startTestSandbox(t)
    const dir = tempDir(t)
    for (const expected of REFUSALS) {
        await t.test(expected.kind, async st => {
            const path = join(dir, `login-${expected.kind}.sqlite`)
            const jid = await paired(st, sandbox, path)
            sandbox.refuseNextLogin(jid, expected.kind)
            const stanzas = []
            const onStanza = e => e.jid === jid && stanzas.push(e)
            const { client, cleanup } = newClient(st, sandbox, { path, tuning: KEEP })
            const refused = sandbox.waitFor('login-refused', e => e.jid === jid)
            const closed = nextEvent(client, 'connection', isClose)
            let opened = false
            client.on('connection', e => (opened ||= e.status === 'open'))
            sandbox.on('login', onStanza)
            await client.connect().catch(() => undefined)
            const event = await closed
            sandbox.off('login', onStanza)
            assert.deepEqual(
                [event.reason, event.code, event.isLogout],
                [expected.reason, expected.code, expected.isLogout]
            )
            const refusal = await refused
            assert.deepEqual([refusal.kind, refusal.reason], [expected.kind, expected.code])
            assert.deepEqual(stanzas, [], 'no <success>: the login never happened')
            assert.equal(opened, false, 'no connection open event before the close')
            assert.equal(
                client.getCredentials()?.meJid,
                jid,
                'the stored credentials stay (logoutStoreClear)'
            )
            await cleanup()

            // one refusal per call: the login after it succeeds with the same credentials
            const again = newClient(st, sandbox, { path, tuning: KEEP })
            const login = sandbox.waitFor('login', e => e.jid === jid)
            await again.client.connect()
            await login
            await again.cleanup()
        })
    }
})

test('a refusal by phone number or account JID applies to that account only', async t => {
    const sandbox = await startTestSandbox(t)
    const dir = tempDir(t)
    const a = await paired(t, sandbox, join(dir, 'a.sqlite'))
    const b = await paired(t, sandbox, join(dir, 'b.sqlite'))
    const phoneA = a.split(':')[0]
    sandbox.refuseNextLogin(phoneA, 'banned')

    const other = newClient(t, sandbox, { path: join(dir, 'b.sqlite'), tuning: KEEP })
    const loginB = sandbox.waitFor('login', e => e.jid === b)
    await other.client.connect()
    await loginB
    await other.cleanup()

    const first = newClient(t, sandbox, { path: join(dir, 'a.sqlite'), tuning: KEEP })
    const closed = nextEvent(first.client, 'connection', isClose)
    await first.client.connect().catch(() => undefined)
    assert.equal((await closed).reason, 'failure_banned')
    await first.cleanup()

    sandbox.refuseNextLogin(`${phoneA}@s.whatsapp.net`, 'locked')
    const second = newClient(t, sandbox, { path: join(dir, 'a.sqlite'), tuning: KEEP })
    const closedAgain = nextEvent(second.client, 'connection', isClose)
    await second.client.connect().catch(() => undefined)
    assert.equal((await closedAgain).reason, 'failure_locked')
    await second.cleanup()
})

test('control API: POST /refuse-next-login and POST /fault with the new kinds', async t => {
    const sandbox = await startTestSandbox(t)
    const dir = tempDir(t)
    const post = (path, body) => controlRequest(sandbox.controlUrl, path, body)
    const index = await (await fetch(`${sandbox.controlUrl}/`)).json()
    assert.ok(index.endpoints.includes('POST /refuse-next-login'))

    assert.deepEqual(
        await post('/refuse-next-login', { device: '15550000000', kind: 'replaced' }),
        {
            status: 400,
            body: {
                error: '"replaced" is not a login refusal: expected one of not_authorized, locked, client_too_old, banned, bad_user_agent, service_unavailable, temp_banned'
            }
        }
    )
    assert.equal(
        (await post('/refuse-next-login', { kind: 'banned' })).status,
        400,
        'device is required'
    )
    assert.equal(
        (await post('/refuse-next-login', { device: '15550000000', kind: 'nope' })).status,
        400
    )

    const path = join(dir, 'http.sqlite')
    const jid = await paired(t, sandbox, path)
    assert.deepEqual(await post('/refuse-next-login', { device: jid, kind: '409' }), {
        status: 200,
        body: { ok: true }
    })
    const refused = newClient(t, sandbox, { path, tuning: KEEP })
    const closed = nextEvent(refused.client, 'connection', isClose)
    await refused.client.connect().catch(() => undefined)
    assert.equal((await closed).reason, 'failure_bad_user_agent')
    await refused.cleanup()

    const live = newClient(t, sandbox, { path, tuning: KEEP })
    const ready = sandbox.waitFor('login', e => e.jid === jid)
    await live.client.connect()
    await ready
    const loginOnly = await post('/fault', { device: jid, kind: 'client-too-old' })
    assert.equal(loginOnly.status, 409)
    assert.match(loginOnly.body.error, /refused at login only/)
    const liveClosed = nextEvent(live.client, 'connection', isClose)
    assert.deepEqual(await post('/fault', { device: jid, kind: '403' }), {
        status: 200,
        body: { ok: true }
    })
    const event = await liveClosed
    assert.deepEqual([event.reason, event.code, event.isLogout], ['failure_locked', 403, true])
})

test('temp_banned (402): zapo-js 0.3.0 emits only a failure event, no close; the server ends the socket and the library logs in again', async t => {
    const sandbox = await startTestSandbox(t)
    const path = join(tempDir(t), 'temp.sqlite')
    const jid = await paired(t, sandbox, path)
    sandbox.refuseNextLogin(jid, 'temp_banned')
    const { client } = newClient(t, sandbox, {
        path,
        tuning: { ...KEEP, reconnectIntervalMs: 200 }
    })
    const closes = []
    client.on('connection', e => e.status === 'close' && closes.push(e))
    const failure = nextEvent(client, 'failure')
    const refused = sandbox.waitFor('login-refused', e => e.jid === jid)
    const relogin = sandbox.waitFor('login', e => e.jid === jid, 15_000)
    await client.connect().catch(() => undefined)
    assert.equal((await failure).failureReason, 402)
    assert.equal((await refused).reason, 402)
    await relogin
    assert.deepEqual(closes, [], 'no close event: whoever watches must look at the failure event')
})
