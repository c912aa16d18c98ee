import assert from 'node:assert/strict'
import { join } from 'node:path'
import { test } from 'node:test'

import { nextEvent, pairWithQr, startTestSandbox, tempDir } from './helpers.js'

test('a client message reaches the peer, whose next messages then ratchet (msg)', async t => {
    const sandbox = await startTestSandbox(t)
    const { client, jid } = await pairWithQr(t, sandbox, { path: join(tempDir(t), 'state.sqlite') })
    const peer = '15550009090@s.whatsapp.net'

    const first = nextEvent(client, 'message')
    const sent = await sandbox.sendMessage({ to: jid, from: peer, text: 'ping' })
    assert.equal(sent.deliveries[0].type, 'pkmsg')
    assert.equal((await first).message.conversation, 'ping')

    const atPeer = sandbox.waitFor('peer-message', m => m.peer === peer)
    await client.sendMessage(peer, { conversation: 'pong' })
    const received = await atPeer
    assert.equal(received.text, 'pong')
    assert.equal(received.from, jid)
    assert.deepEqual(
        sandbox.peerMessages(peer).map(m => m.text),
        ['pong']
    )

    const second = nextEvent(client, 'message')
    const again = await sandbox.sendMessage({ to: jid, from: peer, text: 'ratcheted' })
    assert.equal(again.deliveries[0].type, 'msg')
    const event = await second
    assert.equal(event.message.conversation, 'ratcheted')
    assert.equal(event.encryptionType, 'msg')
})

test('a client can start the conversation with a new peer (key fetch, X3DH from the client)', async t => {
    const sandbox = await startTestSandbox(t)
    const { client, jid } = await pairWithQr(t, sandbox, { path: join(tempDir(t), 'state.sqlite') })
    const peer = '15550009191@s.whatsapp.net'
    const atPeer = sandbox.waitFor('peer-message', m => m.peer === peer)
    await client.sendMessage(peer, { conversation: 'hello stranger' })
    const received = await atPeer
    assert.equal(received.type, 'pkmsg')
    assert.equal(received.text, 'hello stranger')

    const reply = nextEvent(client, 'message')
    const sent = await sandbox.sendMessage({ to: jid, from: peer, text: 'hi back' })
    assert.equal(sent.deliveries[0].type, 'msg')
    assert.equal((await reply).message.conversation, 'hi back')
})
