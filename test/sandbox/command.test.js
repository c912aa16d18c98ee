import assert from 'node:assert/strict'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { test } from 'node:test'

import { runSandboxCommand } from '../../dist/commands/sandbox.js'
import { controlPost, controlRequest, nextEvent, openSqliteStore, tempDir } from './helpers.js'
import { createWaClient } from '../../dist/client/create-client.js'
import { SILENT_LOGGER } from '../../dist/client/silent-logger.js'

function captureIo(json) {
    const stdout = new PassThrough()
    const stderr = new PassThrough()
    let out = ''
    let err = ''
    stdout.on('data', chunk => (out += chunk))
    stderr.on('data', chunk => (err += chunk))
    return {
        io: { stdout, stderr, stdinIsTTY: false, json, color: false, debug: false },
        out: () => out,
        err: () => err
    }
}

test('zapo sandbox --json: a client built from url and rootCa pairs, reconnects and decrypts', async t => {
    const capture = captureIo(true)
    const stop = new AbortController()
    let ready
    const readyInfo = new Promise(resolve => (ready = resolve))
    const running = runSandboxCommand(
        { host: '127.0.0.1', port: 0, autoScanMs: null, json: true },
        capture.io,
        { signal: stop.signal, onReady: ready }
    )
    t.after(async () => {
        stop.abort()
        await running
    })
    await readyInfo
    const firstLine = JSON.parse(capture.out().split('\n')[0])
    assert.match(firstLine.url, /^ws:\/\/127\.0\.0\.1:\d+\/ws\/chat$/)
    assert.match(firstLine.rootCa, /^\d+:[A-Za-z0-9+/]+=*$/)
    assert.match(firstLine.controlUrl, /^http:\/\/127\.0\.0\.1:\d+$/)
    assert.equal(firstLine.host, '127.0.0.1')
    assert.equal(typeof firstLine.port, 'number')

    const path = join(tempDir(t), 'state.sqlite')
    const store = openSqliteStore(path)
    const client = createWaClient({
        store,
        sessionId: 'cli',
        server: { url: firstLine.url, rootCa: firstLine.rootCa },
        logger: SILENT_LOGGER
    })
    t.after(async () => {
        await client.disconnect().catch(() => undefined)
        await store.destroy()
    })
    client.once('auth_qr', ({ qr }) => {
        controlPost(firstLine.controlUrl, '/scan', { qr }).catch(() => undefined)
    })
    const paired = nextEvent(client, 'auth_paired')
    await client.connect()
    const jid = (await paired).credentials.meJid

    // Wait until the reconnected device uploaded its prekeys, as listed by the control API.
    for (let i = 0; i < 100; i += 1) {
        const { devices } = await (await fetch(firstLine.controlUrl + '/devices')).json()
        if (devices.some(d => d.jid === jid && d.connected && d.preKeyCount > 0)) break
        await new Promise(resolve => setTimeout(resolve, 50))
    }
    const message = nextEvent(client, 'message')
    const sent = await controlPost(firstLine.controlUrl, '/message', {
        to: jid,
        from: '15550002222',
        text: 'via the control interface'
    })
    assert.equal(sent.deliveries.length, 1)
    assert.equal((await message).message.conversation, 'via the control interface')

    await client.sendMessage('15550002222@s.whatsapp.net', { conversation: 'reply to the peer' })
    let inbox = []
    for (let i = 0; i < 100 && inbox.length === 0; i += 1) {
        inbox = (await (await fetch(firstLine.controlUrl + '/messages?peer=15550002222')).json())
            .messages
        if (inbox.length === 0) await new Promise(resolve => setTimeout(resolve, 20))
    }
    assert.equal(inbox[0].text, 'reply to the peer')
    assert.equal(inbox[0].from, jid)

    await new Promise(resolve => setImmediate(resolve))
    const events = capture
        .out()
        .trim()
        .split('\n')
        .slice(1)
        .map(line => JSON.parse(line).event)
    assert.ok(events.includes('paired'))
    assert.ok(events.includes('login'))
})

test('zapo sandbox (human mode) warns when bound to a non-loopback host and stops on abort', async () => {
    const capture = captureIo(false)
    const stop = new AbortController()
    let ready
    const readyInfo = new Promise(resolve => (ready = resolve))
    const running = runSandboxCommand(
        { host: '0.0.0.0', port: 0, autoScanMs: 500, json: false },
        capture.io,
        { signal: stop.signal, onReady: ready }
    )
    await readyInfo
    stop.abort()
    assert.equal(await running, 0)
    assert.match(capture.out(), /^export ZAPO_SERVER='ws:[^']+' ZAPO_SERVER_ROOT_CA='\d+:[^']+'$/m)
    assert.match(capture.err(), /warning: .*0\.0\.0\.0/)
})

test('control interface rejects bad requests with a JSON error', async t => {
    const capture = captureIo(true)
    const stop = new AbortController()
    let ready
    const readyInfo = new Promise(resolve => (ready = resolve))
    const running = runSandboxCommand(
        { host: '127.0.0.1', port: 0, autoScanMs: null, json: true },
        capture.io,
        { signal: stop.signal, onReady: ready }
    )
    t.after(async () => {
        stop.abort()
        await running
    })
    const info = await readyInfo
    const missing = await controlRequest(info.controlUrl, '/message', {})
    assert.equal(missing.status, 400)
    assert.match(missing.body.error, /missing "to"/)
    const unknown = await controlRequest(info.controlUrl, '/nope', {})
    assert.equal(unknown.status, 404)
    const badFault = await controlRequest(info.controlUrl, '/fault', {
        device: 'x',
        kind: 'meteor'
    })
    assert.equal(badFault.status, 400)
    const noDevice = await controlRequest(info.controlUrl, '/presence', {
        to: '15550000000',
        from: '15550000001'
    })
    assert.equal(noDevice.status, 409)
})

/** A paired, logged-in client against a running `zapo sandbox` command; pairs through `input`. */
async function clientThroughInput(t, info, input, line) {
    const path = join(tempDir(t), 'state.sqlite')
    const store = openSqliteStore(path)
    const client = createWaClient({
        store,
        sessionId: 'typed',
        server: { url: info.url, rootCa: info.rootCa },
        logger: SILENT_LOGGER
    })
    t.after(async () => {
        await client.disconnect().catch(() => undefined)
        await store.destroy()
    })
    client.once('auth_qr', ({ qr }) => input.write(line(qr) + '\n'))
    const paired = nextEvent(client, 'auth_paired')
    await client.connect()
    return { client, jid: (await paired).credentials.meJid }
}

test('zapo sandbox reads QR strings on its input (a zapo pair --json line too) and logs each step with its time', async t => {
    for (const [json, line] of [
        [false, qr => qr],
        [true, qr => JSON.stringify({ event: 'qr', qr, expiresInMs: 60_000 })]
    ]) {
        const capture = captureIo(json)
        const input = new PassThrough()
        const stop = new AbortController()
        let ready
        const readyInfo = new Promise(resolve => (ready = resolve))
        const running = runSandboxCommand(
            { host: '127.0.0.1', port: 0, autoScanMs: null, json },
            capture.io,
            { signal: stop.signal, onReady: ready, input }
        )
        const info = await readyInfo
        input.write('neither a QR nor a code\n')
        const { jid } = await clientThroughInput(t, info, input, line)
        for (let i = 0; i < 100; i += 1) {
            const { devices } = await (await fetch(info.controlUrl + '/devices')).json()
            if (devices.some(d => d.jid === jid && d.connected && d.preKeyCount > 0)) break
            await new Promise(resolve => setTimeout(resolve, 50))
        }
        await controlPost(info.controlUrl, '/message', { to: jid, from: '15550002222', text: 'hi' })
        await controlPost(info.controlUrl, '/fault', { device: jid, kind: 'drop' })
        await new Promise(resolve => setTimeout(resolve, 100))
        stop.abort()
        assert.equal(await running, 0)
        if (json) {
            const events = capture
                .out()
                .trim()
                .split('\n')
                .slice(1)
                .map(l => JSON.parse(l))
            const names = events.map(e => e.event)
            for (const name of ['qr', 'paired', 'login', 'message', 'fault', 'input'])
                assert.ok(names.includes(name), `${name} in ${names}`)
            assert.deepEqual(
                events.find(e => e.event === 'fault'),
                { event: 'fault', target: jid, kind: 'drop' }
            )
            assert.match(capture.err(), /^export ZAPO_SERVER=/m, 'the export line on stderr')
            continue
        }
        const log = capture.err().trim().split('\n')
        const labelled = label =>
            log.find(l => new RegExp(`^\\d\\d:\\d\\d:\\d\\d  ${label} `).test(l))
        assert.match(labelled('qr'), /#\d+ waits for a scan/)
        assert.match(labelled('paired'), new RegExp(`${jid} by QR`))
        assert.match(labelled('login'), new RegExp(jid))
        assert.match(labelled('message'), new RegExp(`15550002222 → ${jid}`))
        assert.match(labelled('fault'), new RegExp(`drop → ${jid}`))
        assert.match(labelled('ignored'), /not a QR string or a pairing code/)
        for (const l of log) assert.ok(l.length < 80, `wider than 80: ${l}`)
    }
})

test('zapo sandbox: a pairing code typed on its input (dash, lower case) is entered by its phone', async t => {
    const capture = captureIo(false)
    const input = new PassThrough()
    const stop = new AbortController()
    let ready
    const readyInfo = new Promise(resolve => (ready = resolve))
    const running = runSandboxCommand(
        { host: '127.0.0.1', port: 0, autoScanMs: null, json: false },
        capture.io,
        { signal: stop.signal, onReady: ready, input }
    )
    t.after(async () => {
        stop.abort()
        await running
    })
    const info = await readyInfo
    const store = openSqliteStore(join(tempDir(t), 'state.sqlite'))
    const client = createWaClient({
        store,
        sessionId: 'code',
        server: { url: info.url, rootCa: info.rootCa },
        logger: SILENT_LOGGER
    })
    t.after(async () => {
        await client.disconnect().catch(() => undefined)
        await store.destroy()
    })
    const firstQr = nextEvent(client, 'auth_qr')
    await client.connect()
    await firstQr
    const paired = nextEvent(client, 'auth_paired')
    const code = await client.requestPairingCode('+1 555 0123 456')
    input.write(`${code.slice(0, 4).toLowerCase()}-${code.slice(4).toLowerCase()}\n`)
    const { credentials } = await paired
    assert.match(credentials.meJid, /^15550123456:\d+@s\.whatsapp\.net$/)
    // the sandbox logs the pairing once the companion signed it
    for (let i = 0; i < 100 && !/ by code/.test(capture.err()); i += 1)
        await new Promise(resolve => setTimeout(resolve, 50))
    const log = capture.err()
    assert.match(
        log,
        /^\d\d:\d\d:\d\d {2}code {8}#\d+ asked for a pairing code for \+15550123456$/m
    )
    assert.match(log, /^\d\d:\d\d:\d\d {2}paired {6}15550123456:\d+@s\.whatsapp\.net by code/m)
})
