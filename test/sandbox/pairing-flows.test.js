import assert from 'node:assert/strict'
import { join } from 'node:path'
import { test } from 'node:test'

import { nextEvent, newClient, startTestSandbox, tempDir } from './helpers.js'

test('pairing code: the phone enters the code, the companion pairs and logs in', async t => {
    const sandbox = await startTestSandbox(t)
    const { client } = newClient(t, sandbox, { path: join(tempDir(t), 'state.sqlite') })
    const firstQr = nextEvent(client, 'auth_qr')
    await client.connect()
    await firstQr

    const codeEvent = nextEvent(client, 'auth_pairing_code')
    const paired = nextEvent(client, 'auth_paired')
    const requested = sandbox.waitFor('pairing-code')
    const code = await client.requestPairingCode('+1 555 0123 456')
    assert.match(code, /^[1-9A-HJ-NP-TV-Z]{8}$/)
    assert.equal((await codeEvent).code, code)
    assert.equal((await requested).phone, '15550123456')

    const result = await sandbox.enterPairingCode(code)
    assert.equal(result.status, 'paired')
    assert.match(result.jid, /^15550123456:1@s\.whatsapp\.net$/)
    const { credentials } = await paired
    assert.equal(credentials.meJid, result.jid)
    const device = await sandbox.waitForDevice(result.jid)
    assert.equal(device.phone, '15550123456')

    const message = nextEvent(client, 'message')
    await sandbox.sendMessage({ to: result.jid, from: '15550003333', text: 'paired by code' })
    assert.equal((await message).message.conversation, 'paired by code')
})

test('pairing code: a wrongly typed code does not pair', async t => {
    const sandbox = await startTestSandbox(t)
    const { client } = newClient(t, sandbox, { path: join(tempDir(t), 'state.sqlite') })
    const firstQr = nextEvent(client, 'auth_qr')
    await client.connect()
    await firstQr
    let paired = false
    client.on('auth_paired', () => (paired = true))
    const code = await client.requestPairingCode('15550123457')
    const wrong = code.startsWith('A') ? `B${code.slice(1)}` : `A${code.slice(1)}`
    await assert.rejects(sandbox.enterPairingCode(wrong), /timed out|not/)
    assert.equal(paired, false)
    assert.equal(sandbox.devices().length, 0)
})

test('QR refs rotate: each pair-device gives a new QR and old refs stop scanning', async t => {
    const sandbox = await startTestSandbox(t, { qrRotateMs: 150 })
    const { client } = newClient(t, sandbox, { path: join(tempDir(t), 'state.sqlite') })
    const qrs = []
    const threeQrs = new Promise(resolve => {
        client.on('auth_qr', ({ qr, ttlMs }) => {
            qrs.push({ qr, ttlMs })
            if (qrs.length === 3) resolve()
        })
    })
    await client.connect()
    await threeQrs
    const refs = new Set(qrs.map(({ qr }) => qr.split(',')[0]))
    assert.equal(refs.size, 3, 'every rotation shows a new ref')
    assert.equal(qrs[0].ttlMs, 60_000, 'first ref of a batch lives 60 s on the client')
    await assert.rejects(sandbox.scan(qrs[0].qr), /expired or unknown/)

    const paired = nextEvent(client, 'auth_paired')
    const latest = nextEvent(client, 'auth_qr')
    const result = await sandbox.scan((await latest).qr)
    assert.equal(result.status, 'paired')
    await paired
})

test('a refused scan shows a fresh QR and pairs on the next scan', async t => {
    const sandbox = await startTestSandbox(t)
    const { client } = newClient(t, sandbox, { path: join(tempDir(t), 'state.sqlite') })
    let paired = 0
    client.on('auth_paired', () => (paired += 1))
    const firstQr = nextEvent(client, 'auth_qr')
    await client.connect()
    const { qr } = await firstQr

    sandbox.refuseNextScan()
    const nextQr = nextEvent(client, 'auth_qr')
    const refused = await sandbox.scan(qr)
    assert.deepEqual(refused, { status: 'refused', jid: null })
    const fresh = await nextQr
    assert.notEqual(fresh.qr.split(',')[0], qr.split(',')[0])
    assert.equal(paired, 0)
    await assert.rejects(sandbox.scan(qr), /expired or unknown/)

    const pairedEvent = nextEvent(client, 'auth_paired')
    assert.equal((await sandbox.scan(fresh.qr)).status, 'paired')
    await pairedEvent
    assert.equal(paired, 1)
})
