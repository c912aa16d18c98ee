/**
 * A real Baileys 6.x client against the sandbox: it pairs by QR (the `WA 6 2` dialect, the
 * 4-field QR, pair-success, its pair-device-sign, the 515 restart), logs in, uploads its prekeys
 * and opens; zapo-js clients keep pairing on the same sandbox at the same time.
 */
import assert from 'node:assert/strict'
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'

import { proto } from 'zapo-js'

import { baileysFolderWithMessages, pairBaileys, startBaileys } from '../helpers/baileys-client.js'
import { controlRequest, nextEvent, pairWithQr, startTestSandbox, tempDir } from './helpers.js'

test('a real Baileys client pairs by QR, logs in and uploads its prekeys while a zapo-js client pairs on the same sandbox', async t => {
    const sandbox = await startTestSandbox(t)
    const dir = join(tempDir(t), 'auth')
    const logins = []
    sandbox.on('login', event => logins.push(event))

    // both at once: each connection speaks its own dialect
    const [baileys, zapo] = await Promise.all([
        pairBaileys(t, sandbox, dir),
        pairWithQr(t, sandbox, { path: join(tempDir(t), 'z.sqlite') })
    ])
    assert.notEqual(zapo.jid, baileys.jid)
    assert.equal(zapo.device.connected, true)
    // Baileys's QR has four fields (no platform), and the scan went through the control API
    const qr = baileys.events.find(e => e.event === 'connection.update' && e.data.qr)?.data.qr
    assert.equal(qr.split(',').length, 4)
    assert.match(baileys.jid, /^1555\d+:\d+@s\.whatsapp\.net$/)

    // logged in once, after the restart that ends pairing, with a full XX handshake
    assert.deepEqual(
        logins.filter(login => login.jid === baileys.jid).map(login => login.handshake),
        ['xx']
    )
    const device = sandbox.devices().find(d => d.jid === baileys.jid)
    assert.equal(device.connected, true)
    assert.equal(device.platform, 'web')
    // Baileys uploads 30 prekeys when the server holds 5 or fewer
    assert.equal(device.preKeyCount, 30)
    assert.equal(device.hasSignedPreKey, true)

    await baileys.stop()
    // Baileys wrote its own folder: creds with the JID the sandbox gave, and the prekeys
    const creds = JSON.parse(readFileSync(join(dir, 'creds.json'), 'utf8'))
    assert.equal(creds.me.id, baileys.jid)
    assert.ok(creds.me.lid?.endsWith('@lid'))
    const preKeys = readdirSync(dir).filter(name => /^pre-key-\d+\.json$/.test(name))
    assert.equal(preKeys.length, 30)
    assert.ok(existsSync(join(dir, 'creds.json')))
})

const ProtocolType = proto.Message.ProtocolMessage.Type

test('Baileys decrypts 1:1 and group messages from simulated peers into real Signal sessions and sender keys, answers one, and the next ones continue them after it logs in again', async t => {
    const sandbox = await startTestSandbox(t)
    const dir = join(tempDir(t), 'auth')
    const alice = '15550001111'
    const bob = '15550002222'
    const group = '120363000000000001'

    const first = await baileysFolderWithMessages(t, sandbox, dir, { alice, bob, group })
    const phone = first.phone
    const sync = first.sync
    assert.deepEqual(
        sync.deliveries.map(d => [d.jid, d.keyShare, d.queued]),
        [[first.jid, 'pkmsg', false]]
    )
    assert.equal(first.direct.deliveries[0].type, 'pkmsg')
    assert.equal(first.grouped.deliveries[0].distribution, 'pkmsg')
    assert.deepEqual(
        first.messages.filter(m => m.text),
        [
            {
                chat: `${alice}@s.whatsapp.net`,
                participant: null,
                fromMe: false,
                text: 'hello baileys',
                protocol: null
            },
            {
                chat: `${group}@g.us`,
                participant: `${bob}@s.whatsapp.net`,
                fromMe: false,
                text: 'hello group',
                protocol: null
            }
        ]
    )
    // the phone's two protocol messages came from the account itself
    assert.deepEqual(
        first.messages.filter(m => m.protocol).map(m => [m.chat, m.fromMe, m.protocol]),
        [
            [`${phone}@s.whatsapp.net`, true, ProtocolType.APP_STATE_SYNC_KEY_SHARE],
            [`${phone}@s.whatsapp.net`, true, ProtocolType.HISTORY_SYNC_NOTIFICATION]
        ]
    )
    // Baileys answered alice in the same session; alice (the sandbox's peer) decrypted it
    assert.equal(first.reply.text, 'reply from baileys')
    assert.equal(first.reply.from, first.jid)
    assert.equal(first.reply.type, 'msg')

    // Baileys itself wrote the Signal state: sessions with both peers and the phone, bob's
    // sender key for the group, the app-state key the phone shared
    const files = readdirSync(dir).filter(name => !name.startsWith('pre-key-'))
    for (const name of [
        `session-${alice}.0.json`,
        `session-${bob}.0.json`,
        `session-${phone}.0.json`,
        `sender-key-${group}@g.us--${bob}--0.json`,
        `app-state-sync-key-${sync.appStateKeyId.replace(/\//g, '__')}.json`,
        'creds.json'
    ]) {
        assert.ok(files.includes(name), `${name} in ${files.join(', ')}`)
    }
    const session = JSON.parse(readFileSync(join(dir, `session-${alice}.0.json`), 'utf8'))
    assert.ok(Object.keys(session._sessions ?? session).length > 0)
    const creds = JSON.parse(readFileSync(join(dir, 'creds.json'), 'utf8'))
    assert.equal(creds.myAppStateKeyId, sync.appStateKeyId)

    // The same sandbox keeps the peers' sessions and sender keys: after the device logs in again
    // (here Baileys from the same folder; in the migration test zapo-js from the converted
    // store), the peers' next messages continue the same Signal sessions and the same group.
    const logins = []
    sandbox.on('login', event => logins.push(event))
    const again = await startBaileys(t, sandbox, dir)
    await again.waitFor('connection.update', update => update.connection === 'open')
    assert.equal(logins.at(-1).jid, first.jid)
    const next = await sandbox.sendMessage({ to: first.jid, from: alice, text: 'second to you' })
    // alice got Baileys's answer: her session ratchets on (no new prekey message)
    assert.equal(next.deliveries[0].type, 'msg')
    const nextGroup = await sandbox.sendGroupMessage({
        to: first.jid,
        group,
        from: bob,
        text: 'second in group'
    })
    assert.equal(nextGroup.deliveries[0].distribution, null)
    await again.waitFor('messages.upsert', ({ messages }) =>
        messages.some(m => m.message?.conversation === 'second in group')
    )
    await again.waitFor('messages.upsert', ({ messages }) =>
        messages.some(m => m.message?.conversation === 'second to you')
    )
    await again.stop()
    // still one session file per peer: the next messages did not start new sessions
    const after = readdirSync(dir).filter(name => name.startsWith('session-'))
    assert.deepEqual(after.sort(), files.filter(name => name.startsWith('session-')).sort())
})

test('POST /initial-sync: the phone protocol messages reach a zapo-js client too; a missing or unknown target is refused', async t => {
    const sandbox = await startTestSandbox(t)
    const zapo = await pairWithQr(t, sandbox, { path: join(tempDir(t), 'z.sqlite') })
    const missing = await controlRequest(sandbox.controlUrl, '/initial-sync', {})
    assert.deepEqual(missing, { status: 400, body: { error: 'missing "to"' } })
    const unknown = await controlRequest(sandbox.controlUrl, '/initial-sync', {
        to: '15550000000'
    })
    assert.equal(unknown.status, 409)
    assert.match(unknown.body.error, /no paired device matches 15550000000/)

    const phone = zapo.jid.split(':')[0]
    const protocols = []
    zapo.client.on('message_protocol', event => protocols.push(event))
    const sync = await controlRequest(sandbox.controlUrl, '/initial-sync', { to: zapo.jid })
    assert.equal(sync.status, 200)
    // key id: 2 bytes, then the epoch the phone counts up from 1
    assert.equal(sync.body.appStateKeyId, Buffer.from([0, 0, 0, 0, 0, 1]).toString('base64'))
    assert.deepEqual(
        sync.body.deliveries.map(d => [d.jid, d.keyShare, d.historySync, d.queued]),
        [[zapo.jid, 'pkmsg', 'pkmsg', false]]
    )
    // then an ordinary message still arrives
    const got = nextEvent(zapo.client, 'message', m => m.message?.conversation === 'after sync')
    await sandbox.sendMessage({ to: zapo.jid, from: '15550003333', text: 'after sync' })
    await got
    assert.deepEqual(
        protocols.map(event => event.rawNode.attrs.from),
        [`${phone}@s.whatsapp.net`, `${phone}@s.whatsapp.net`]
    )
})
