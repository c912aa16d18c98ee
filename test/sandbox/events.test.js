import assert from 'node:assert/strict'
import { join } from 'node:path'
import { test } from 'node:test'

import { nextEvent, pairWithQr, startTestSandbox, tempDir } from './helpers.js'

test('injected stanzas arrive as the matching client events', async t => {
    const sandbox = await startTestSandbox(t)
    const { client, jid } = await pairWithQr(t, sandbox, { path: join(tempDir(t), 'state.sqlite') })
    const peer = '15550004444@s.whatsapp.net'

    await t.test('presence', async () => {
        const event = nextEvent(client, 'presence')
        await sandbox.sendPresence({
            to: jid,
            from: peer,
            type: 'unavailable',
            last: 1_700_000_000
        })
        const presence = await event
        assert.equal(presence.chatJid, peer)
        assert.equal(presence.stanzaType, 'unavailable')
        assert.equal(presence.rawNode.attrs.last, '1700000000')
    })

    await t.test('chatstate', async () => {
        const event = nextEvent(client, 'chatstate')
        await sandbox.sendChatstate({ to: jid, from: peer, state: 'composing' })
        const chatstate = await event
        assert.equal(chatstate.chatJid, peer)
        assert.equal(chatstate.rawNode.content[0].tag, 'composing')
    })

    await t.test('receipt', async () => {
        const event = nextEvent(client, 'message_receipt')
        await sandbox.sendReceipt({ to: jid, from: peer, id: '3EB0AABBCCDD', type: 'read' })
        const receipt = await event
        assert.equal(receipt.stanzaId, '3EB0AABBCCDD')
        assert.equal(receipt.stanzaType, 'read')
        assert.equal(receipt.chatJid, peer)
    })

    await t.test('notification', async () => {
        const event = nextEvent(client, 'notification', n => n.notificationType === 'picture')
        const id = await sandbox.sendNotification({ to: jid, type: 'picture', from: peer })
        const notification = await event
        assert.equal(notification.stanzaId, id)
        assert.equal(notification.classification, 'core')
        assert.equal(notification.details.firstChildTag, 'set')
    })

    await t.test('group event', async () => {
        const event = nextEvent(client, 'group_event')
        await sandbox.sendGroupEvent({
            to: jid,
            group: '120363000000000001',
            action: 'add',
            author: peer,
            participants: ['15550005555']
        })
        const group = await event
        assert.equal(group.action, 'add')
        assert.equal(group.groupJid, '120363000000000001@g.us')
        assert.equal(group.authorJid, peer)
        assert.equal(group.participants[0].jid, '15550005555@s.whatsapp.net')
    })

    await t.test('group subject and announce', async () => {
        const subject = nextEvent(client, 'group_event', e => e.action === 'subject')
        await sandbox.sendGroupEvent({
            to: jid,
            group: '120363000000000001',
            action: 'subject',
            author: peer,
            subject: 'renamed'
        })
        assert.equal((await subject).subject, 'renamed')
        const announce = nextEvent(client, 'group_event', e => e.action === 'announce')
        await sandbox.sendGroupEvent({
            to: jid,
            group: '120363000000000001',
            action: 'announce',
            author: peer
        })
        assert.equal((await announce).enabled, true)
    })

    await t.test('call offer', async () => {
        const event = nextEvent(client, 'call')
        const callId = await sandbox.sendCall({ to: jid, from: peer })
        const call = await event
        assert.equal(call.chatJid, peer)
        assert.equal(call.rawNode.content[0].tag, 'offer')
        assert.equal(call.rawNode.content[0].attrs['call-id'], callId)
    })

    await t.test('messages from two peers, several each, decrypt in order', async () => {
        const texts = []
        const done = new Promise(resolve => {
            const listener = event => {
                texts.push(`${event.senderJid}:${event.message.conversation}`)
                if (texts.length === 4) {
                    client.off('message', listener)
                    resolve()
                }
            }
            client.on('message', listener)
        })
        await sandbox.sendMessage({ to: jid, from: peer, text: 'one' })
        await sandbox.sendMessage({ to: jid, from: '15550006666', text: 'first from b' })
        await sandbox.sendMessage({ to: jid, from: peer, text: 'two' })
        await sandbox.sendMessage({ to: jid, from: '15550006666', text: 'second from b' })
        await done
        assert.deepEqual(texts.sort(), [
            `${peer}:one`,
            `${peer}:two`,
            '15550006666@s.whatsapp.net:first from b',
            '15550006666@s.whatsapp.net:second from b'
        ])
    })
})

test('group messages: the sender key travels once per device, then only skmsg', async t => {
    const sandbox = await startTestSandbox(t)
    const dir = tempDir(t)
    const [a, b] = await Promise.all([
        pairWithQr(t, sandbox, { path: join(dir, 'a.sqlite') }),
        pairWithQr(t, sandbox, { path: join(dir, 'b.sqlite') })
    ])
    const group = '120363000000000077@g.us'
    const member = '15550006060@s.whatsapp.net'

    const firstA = nextEvent(a.client, 'message')
    const first = await sandbox.sendGroupMessage({
        to: a.jid,
        group,
        from: member,
        text: 'hello group'
    })
    assert.equal(first.deliveries[0].distribution, 'pkmsg')
    const received = await firstA
    assert.equal(received.message.conversation, 'hello group')
    assert.equal(received.isGroupChat, true)
    assert.equal(received.chatJid, group)
    assert.equal(received.senderJid, member)
    assert.equal(received.encryptionType, 'skmsg')

    const secondA = nextEvent(a.client, 'message')
    const firstB = nextEvent(b.client, 'message')
    const second = await sandbox.sendGroupMessage({ to: a.jid, group, from: member, text: 'again' })
    assert.equal(second.deliveries[0].distribution, null, 'a already holds the sender key')
    assert.equal((await secondA).message.conversation, 'again')
    const toB = await sandbox.sendGroupMessage({ to: b.jid, group, from: member, text: 'hi b' })
    assert.equal(toB.deliveries[0].distribution, 'pkmsg')
    assert.equal((await firstB).message.conversation, 'hi b')
})
