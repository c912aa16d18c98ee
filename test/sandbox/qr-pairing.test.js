import assert from 'node:assert/strict'
import { join } from 'node:path'
import { test } from 'node:test'

import { nextEvent, newClient, pairWithQr, startTestSandbox, tempDir } from './helpers.js'

test('QR pairing, reconnect with stored credentials, and a decrypted injected message', async t => {
    const sandbox = await startTestSandbox(t)
    const path = join(tempDir(t), 'state.sqlite')

    const loginAfterPairing = sandbox.waitFor('login')
    const first = await pairWithQr(t, sandbox, { path })
    assert.match(first.jid, /^\d+:1@s\.whatsapp\.net$/)

    // After pair-device-sign the client restarts its stream and logs in with the new identity.
    const login = await loginAfterPairing
    assert.equal(login.jid, first.jid)
    assert.equal(first.device.connected, true)
    assert.equal(first.device.preKeyCount, 812)

    const creds = first.client.getCredentials()
    assert.equal(creds.meJid, first.jid)
    assert.ok(creds.serverStaticKey instanceof Uint8Array, 'server static key persisted')

    const message = nextEvent(first.client, 'message')
    const sent = await sandbox.sendMessage({
        to: first.jid,
        from: '15550001111',
        text: 'hello from a peer'
    })
    assert.equal(sent.deliveries[0].type, 'pkmsg')
    const received = await message
    assert.equal(received.message.conversation, 'hello from a peer')
    assert.equal(received.senderJid, '15550001111@s.whatsapp.net')
    assert.equal(received.encryptionType, 'pkmsg')

    // A second process: a new store handle and client on the same SQLite file log straight in.
    await first.cleanup()
    const second = newClient(t, sandbox, { path })
    let sawQr = false
    second.client.on('auth_qr', () => {
        sawQr = true
    })
    const relogin = sandbox.waitFor('login', event => event.jid === first.jid)
    await second.client.connect()
    const event = await relogin
    assert.equal(event.handshake, 'ik', 'resumed handshake with the stored server static key')
    assert.equal(sawQr, false)
    await sandbox.waitForDevice(first.jid)

    const again = nextEvent(second.client, 'message')
    await sandbox.sendMessage({
        to: first.jid,
        from: '15550001111',
        text: 'same peer, same session'
    })
    assert.equal((await again).message.conversation, 'same peer, same session')
    assert.equal(sandbox.devices().length, 1)
})

test('a client with a stale server key falls back to XX when the sandbox restarted', async t => {
    const path = join(tempDir(t), 'state.sqlite')
    const before = await startTestSandbox(t)
    const paired = await pairWithQr(t, before, { path })
    await paired.cleanup()
    await before.close()

    const after = await startTestSandbox(t)
    const { client } = newClient(t, after, { path })
    const login = after.waitFor('login')
    await client.connect()
    const event = await login
    assert.equal(event.jid, paired.jid, 'device adopted from its login payload')
    assert.equal(event.handshake, 'xx_fallback')
})
