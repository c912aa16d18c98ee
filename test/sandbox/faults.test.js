import assert from 'node:assert/strict'
import { join } from 'node:path'
import { test } from 'node:test'

import { nextEvent, pairWithQr, startTestSandbox, tempDir } from './helpers.js'

/**
 * What zapo-js 0.3.0 reports for each fault (client/coordinators/WaStreamControlCoordinator.js,
 * client/incoming.js). `relogin: 'qr'` means the library wiped the stored credentials and started
 * over as a new, unpaired device.
 */
const CLOSE_FAULTS = [
    {
        kind: 'restart',
        reason: 'stream_error_force_login',
        code: 515,
        isLogout: true,
        relogin: 'qr'
    },
    {
        kind: 'replaced',
        reason: 'stream_error_replaced',
        code: null,
        isLogout: false,
        relogin: null
    },
    {
        kind: 'device_removed',
        reason: 'stream_error_device_removed',
        code: null,
        isLogout: true,
        relogin: null
    },
    {
        kind: 'not_authorized',
        reason: 'failure_not_authorized',
        code: 401,
        isLogout: true,
        relogin: null
    },
    {
        kind: 'force_logout',
        reason: 'stream_error_force_logout',
        code: 516,
        isLogout: true,
        relogin: 'qr'
    },
    {
        kind: 'service_unavailable',
        reason: 'failure_service_unavailable',
        code: 503,
        isLogout: false,
        relogin: null
    }
]

test('faults end the connection with the documented close event', async t => {
    const sandbox = await startTestSandbox(t)
    const dir = tempDir(t)
    for (const expected of CLOSE_FAULTS) {
        await t.test(expected.kind, async st => {
            const { client, jid } = await pairWithQr(st, sandbox, {
                path: join(dir, `${expected.kind}.sqlite`)
            })
            const closed = nextEvent(client, 'connection', event => event.status === 'close')
            const qrAgain = expected.relogin === 'qr' ? nextEvent(client, 'auth_qr') : null
            await sandbox.fault(jid, expected.kind)
            const event = await closed
            assert.equal(event.reason, expected.reason)
            assert.equal(event.code, expected.code)
            assert.equal(event.isLogout, expected.isLogout)
            if (qrAgain) {
                await qrAgain
                assert.equal(client.getCredentials()?.meJid, undefined, 'stored credentials wiped')
            }
            const device = sandbox.devices().find(d => d.jid === jid)
            if (expected.isLogout && expected.kind !== 'restart') {
                assert.equal(device, undefined, 'the sandbox forgets a removed device')
            }
        })
    }

    await t.test('drop: no close event, the library reconnects and logs in again', async st => {
        const { client, jid } = await pairWithQr(st, sandbox, {
            path: join(dir, 'drop.sqlite'),
            tuning: { reconnectIntervalMs: 200 }
        })
        let closeEvents = 0
        client.on('connection', event => {
            if (event.status === 'close') closeEvents += 1
        })
        const relogin = sandbox.waitFor('login', event => event.jid === jid, 15_000)
        await sandbox.fault(jid, 'drop')
        const event = await relogin
        assert.equal(event.handshake, 'ik')
        assert.equal(closeEvents, 0)
        const message = nextEvent(client, 'message')
        await sandbox.sendMessage({ to: jid, from: '15550007777', text: 'after the drop' })
        assert.equal((await message).message.conversation, 'after the drop')
    })

    await t.test('late: answers to client queries are held back', async st => {
        const { client, jid } = await pairWithQr(st, sandbox, { path: join(dir, 'late.sqlite') })
        await sandbox.fault(jid, 'late', { ms: 700 })
        const started = Date.now()
        const iso = await client.fetchPairingCountryCodeIso()
        assert.equal(iso, 'US')
        assert.ok(Date.now() - started >= 650, 'the answer came late')
    })

    await t.test('a second connection with the same credentials replaces the first', async st => {
        const path = join(dir, 'twice.sqlite')
        const { client, jid } = await pairWithQr(st, sandbox, { path })
        const { newClient } = await import('./helpers.js')
        const second = newClient(st, sandbox, { path })
        const replaced = nextEvent(client, 'connection', event => event.status === 'close')
        const login = sandbox.waitFor('login', event => event.jid === jid)
        await second.client.connect()
        await login
        const event = await replaced
        assert.equal(event.reason, 'stream_error_replaced')
        assert.equal(event.isLogout, false)
    })
})
