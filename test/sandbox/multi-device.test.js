import assert from 'node:assert/strict'
import { join } from 'node:path'
import { test } from 'node:test'

import { nextEvent, newClient, pairWithQr, startTestSandbox, tempDir } from './helpers.js'

test('two tenants at once in one SQLite file stay isolated', async t => {
    const sandbox = await startTestSandbox(t)
    const path = join(tempDir(t), 'fleet.sqlite')
    const [a, b] = await Promise.all([
        pairWithQr(t, sandbox, { path, sessionId: 'tenant-a' }),
        pairWithQr(t, sandbox, { path, sessionId: 'tenant-b' })
    ])
    assert.notEqual(a.jid, b.jid)
    assert.equal(sandbox.devices().length, 2)

    let bMessages = 0
    b.client.on('message', () => (bMessages += 1))
    const toA = nextEvent(a.client, 'message')
    await sandbox.sendMessage({ to: a.jid, from: '15550008888', text: 'only for a' })
    assert.equal((await toA).message.conversation, 'only for a')

    let bClosed = false
    b.client.on('connection', event => {
        if (event.status === 'close') bClosed = true
    })
    const aClosed = nextEvent(a.client, 'connection', event => event.status === 'close')
    await sandbox.fault(a.jid, 'replaced')
    await aClosed

    const toB = nextEvent(b.client, 'message')
    await sandbox.sendMessage({ to: b.jid, from: '15550008888', text: 'b is still up' })
    assert.equal((await toB).message.conversation, 'b is still up')
    assert.equal(bMessages, 1)
    assert.equal(bClosed, false)
    assert.equal(sandbox.devices().find(d => d.jid === b.jid).connected, true)
})

test('two companions of one account get distinct device ids; the account JID reaches both', async t => {
    const sandbox = await startTestSandbox(t)
    const dir = tempDir(t)
    const pairInto = async name => {
        const handle = newClient(t, sandbox, { path: join(dir, `${name}.sqlite`) })
        handle.client.once('auth_qr', ({ qr }) => {
            sandbox.scan(qr, { phone: '15559990000' }).catch(() => undefined)
        })
        const paired = nextEvent(handle.client, 'auth_paired')
        await handle.client.connect()
        const jid = (await paired).credentials.meJid
        await sandbox.waitForDevice(jid)
        return { ...handle, jid }
    }
    const first = await pairInto('first')
    const second = await pairInto('second')
    assert.equal(first.jid, '15559990000:1@s.whatsapp.net')
    assert.equal(second.jid, '15559990000:2@s.whatsapp.net')

    const both = Promise.all([
        nextEvent(first.client, 'message'),
        nextEvent(second.client, 'message')
    ])
    const sent = await sandbox.sendMessage({
        to: '15559990000',
        from: '15550001212',
        text: 'fan-out'
    })
    assert.equal(sent.deliveries.length, 2)
    const [m1, m2] = await both
    assert.equal(m1.message.conversation, 'fan-out')
    assert.equal(m2.message.conversation, 'fan-out')
})

test('messages for an offline device are queued and delivered at its next login', async t => {
    const sandbox = await startTestSandbox(t)
    const path = join(tempDir(t), 'offline.sqlite')
    const first = await pairWithQr(t, sandbox, { path })
    await first.cleanup()
    const sent = await sandbox.sendMessage({
        to: first.jid,
        from: '15550003434',
        text: 'while away'
    })
    assert.equal(sent.deliveries[0].queued, true)

    const { client } = newClient(t, sandbox, { path })
    const message = nextEvent(client, 'message')
    const resumed = nextEvent(client, 'offline_resume', event => event.status === 'complete')
    await client.connect()
    const received = await message
    assert.equal(received.message.conversation, 'while away')
    assert.equal(received.rawNode.attrs.offline, '1')
    const complete = await resumed
    assert.equal(complete.forced, false)
})

test('running low on one-time prekeys, the sandbox asks the device and it uploads more', async t => {
    const sandbox = await startTestSandbox(t, { preKeyLowWater: 811 })
    const { client, jid } = await pairWithQr(t, sandbox, {
        path: join(tempDir(t), 'state.sqlite')
    })
    assert.equal(sandbox.devices()[0].preKeyCount, 812)
    const refill = sandbox.waitFor('prekeys', event => event.jid === jid)
    const message = nextEvent(client, 'message')
    await sandbox.sendMessage({ to: jid, from: '15550005656', text: 'takes one key' })
    await message
    const event = await refill
    assert.ok(event.count > 811, `the device uploaded more prekeys (${event.count})`)
})
