import assert from 'node:assert/strict'
import { join } from 'node:path'
import { test } from 'node:test'

import { formatRootCa, parseRootCa } from '../../dist/client/root-ca.js'
import { createWaClient } from '../../dist/client/create-client.js'
import { newClient, openSqliteStore, startTestSandbox, tempDir } from './helpers.js'

test('root CA strings round-trip and bad ones fail with a clear message', () => {
    const publicKey = new Uint8Array(32).map((_, i) => i + 1)
    const text = formatRootCa({ publicKey, serial: 4242 })
    assert.match(text, /^4242:[A-Za-z0-9+/]{43}=$/)
    const parsed = parseRootCa(` ${text} `)
    assert.equal(parsed.serial, 4242)
    assert.deepEqual([...parsed.publicKey], [...publicKey])
    for (const bad of [
        '',
        'abc',
        '12',
        ':AAAA',
        '-1:AAAA',
        '12:not base64!',
        `12:${Buffer.alloc(31).toString('base64')}`
    ]) {
        assert.throws(
            () => parseRootCa(bad),
            error => {
                assert.equal(error.code, 'E_ROOT_CA_FORMAT')
                assert.match(error.message, /invalid server root CA/)
                return true
            }
        )
    }
    assert.throws(() => formatRootCa({ publicKey: new Uint8Array(5), serial: 1 }), /32 bytes/)
})

test('createWaClient rejects a server URL that is not ws(s)', t => {
    const store = openSqliteStore(join(tempDir(t), 'x.sqlite'))
    t.after(() => store.destroy())
    assert.throws(
        () =>
            createWaClient({
                store,
                sessionId: 's',
                server: {
                    url: 'http://127.0.0.1:1/ws/chat',
                    rootCa: '1:' + Buffer.alloc(32).toString('base64')
                }
            }),
        /ws: or wss:/
    )
})

test('a client that trusts another root refuses the sandbox certificate: nothing pairs', async t => {
    const sandbox = await startTestSandbox(t)
    const other = await startTestSandbox(t)
    let sawQr = false
    sandbox.on('qr', () => (sawQr = true))
    const { client } = newClient(
        t,
        { url: sandbox.url, rootCa: other.rootCa },
        {
            path: join(tempDir(t), 'state.sqlite'),
            tuning: { connectTimeoutMs: 1_500, reconnectIntervalMs: 5_000 }
        }
    )
    await assert.rejects(client.connect(), /timeout|closed|connect/i)
    assert.equal(sawQr, false)
    assert.equal(sandbox.devices().length, 0)
})

test('auto scan: a presented QR is scanned after autoScanMs', async t => {
    const sandbox = await startTestSandbox(t, { autoScanMs: 300 })
    const { client } = newClient(t, sandbox, { path: join(tempDir(t), 'state.sqlite') })
    let presentedAt = 0
    client.once('auth_qr', ({ qr }) => {
        presentedAt = Date.now()
        sandbox.presentQr(qr).catch(() => undefined)
    })
    const paired = new Promise(resolve => client.once('auth_paired', () => resolve(Date.now())))
    await client.connect()
    const pairedAt = await paired
    assert.ok(pairedAt - presentedAt >= 290, `scanned after ${pairedAt - presentedAt} ms`)
})

test('no dangerous.* option anywhere in the client builder or the sandbox', async () => {
    const { readFileSync, readdirSync } = await import('node:fs')
    const root = new URL('../../src/', import.meta.url)
    const files = [
        new URL('client/create-client.ts', root),
        ...readdirSync(new URL('sandbox/', root)).map(name => new URL(`sandbox/${name}`, root))
    ]
    for (const file of files) {
        const source = readFileSync(file, 'utf8')
        assert.doesNotMatch(source, /dangerous\s*[:?]|disable\w*Verification\s*:/, file.pathname)
    }
})

test('garbage on the socket ends that connection only; the sandbox keeps serving', async t => {
    const { WebSocket } = await import('ws')
    const sandbox = await startTestSandbox(t)
    const closeAfter = async payload => {
        const ws = new WebSocket(sandbox.url)
        await new Promise((resolve, reject) => {
            ws.once('open', resolve)
            ws.once('error', reject)
        })
        const closed = new Promise(resolve => ws.once('close', resolve))
        ws.send(payload)
        await closed
    }
    await closeAfter(Buffer.from('GET / HTTP/1.1\r\n\r\n'))
    // A valid header and a frame that is not a HandshakeMessage.
    await closeAfter(Buffer.from([87, 65, 6, 3, 0, 0, 4, 1, 2, 3, 4]))

    const { client } = newClient(t, sandbox, { path: join(tempDir(t), 'state.sqlite') })
    const qr = new Promise(resolve => client.once('auth_qr', resolve))
    await client.connect()
    await qr
})
