/**
 * runLogs as a library call: records through the callback, nothing on stdout, no exit; a
 * deterministic reconnect policy (random 0) against the sandbox.
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { test } from 'node:test'

import { runLogs } from '../../dist/ops/logs.js'
import { parseStoreUrl, singleStore } from '../../dist/store/address.js'
import { pairWithQr, startTestSandbox, tempDir } from '../sandbox/helpers.js'

const PEER = '15559990000@s.whatsapp.net'

test('runLogs reports through onRecord only, reconnects after 503 with the injected policy, ends on --count', async t => {
    const sandbox = await startTestSandbox(t)
    const path = join(tempDir(t), 'zapo.sqlite')
    const paired = await pairWithQr(t, sandbox, { path, sessionId: 'lib' })
    await paired.cleanup()

    const records = []
    const waiters = []
    const waitFor = predicate =>
        new Promise(resolve => {
            const found = records.find(predicate)
            if (found) resolve(found)
            else waiters.push({ predicate, resolve })
        })
    const writes = []
    const originalWrite = process.stdout.write
    process.stdout.write = function (chunk, ...rest) {
        writes.push(String(chunk))
        return originalWrite.call(this, chunk, ...rest)
    }
    const originalExit = process.exit
    process.exit = code => {
        throw new Error(`runLogs called process.exit(${code})`)
    }
    try {
        const running = runLogs(
            {
                storeSpec: singleStore(parseStoreUrl(`sqlite:${path}`, 'flag', process.cwd())),
                sessions: ['lib'],
                server: { url: sandbox.url, rootCa: sandbox.rootCa },
                types: null,
                chat: null,
                from: null,
                count: 2,
                timeoutMs: 30_000,
                raw: false
            },
            {
                onRecord: record => {
                    records.push(record)
                    for (const w of [...waiters])
                        if (w.predicate(record))
                            waiters.splice(waiters.indexOf(w), 1) && w.resolve(record)
                },
                policy: { random: () => 0 }
            }
        )
        await waitFor(r => r.type === 'connection' && r.status === 'open')
        await sandbox.waitForDevice(paired.jid)
        await sandbox.fault(paired.jid, 'service_unavailable')
        const reconnect = await waitFor(r => r.type === 'reconnect')
        assert.deepEqual(
            [reconnect.attempt, reconnect.delayMs, reconnect.class],
            [1, 0, 'transient']
        )
        await waitFor(
            r =>
                r.type === 'connection' &&
                r.status === 'open' &&
                records.indexOf(r) > records.indexOf(reconnect)
        )
        await sandbox.waitForDevice(paired.jid)
        await sandbox.sendMessage({ to: paired.jid, from: PEER, text: 'one' })
        await sandbox.sendPresence({ to: paired.jid, from: PEER })
        const result = await running
        assert.equal(result.ended, 'count')
        assert.equal(result.exit, 'OK')
        assert.equal(result.matched, 2)
        assert.equal(result.sessions.length, 1)
        assert.equal(result.sessions[0].reconnects, 1)
        assert.equal(result.sessions[0].stoppedBy, null)
        assert.ok(
            records.some(r => r.type === 'message' && r.text === 'one'),
            JSON.stringify(records.map(r => [r.type, r.status ?? r.notification ?? r.reason]))
        )
    } finally {
        process.stdout.write = originalWrite
        process.exit = originalExit
    }
    // (the test runner itself may use stdout: only what runLogs could have written is looked for)
    assert.deepEqual(
        writes.filter(w => w.includes('"session"') || w.includes('lib') || w.includes(PEER)),
        [],
        'runLogs wrote nothing to stdout'
    )
})

test('runLogs refuses a missing session before connecting, with SESSION_NOT_FOUND', async t => {
    const sandbox = await startTestSandbox(t)
    const path = join(tempDir(t), 'zapo.sqlite')
    const paired = await pairWithQr(t, sandbox, { path, sessionId: 'lib' })
    await paired.cleanup()
    let connecting = false
    await assert.rejects(
        runLogs(
            {
                storeSpec: singleStore(parseStoreUrl(`sqlite:${path}`, 'flag', process.cwd())),
                sessions: ['lib', 'ghost'],
                server: { url: sandbox.url, rootCa: sandbox.rootCa },
                types: null,
                chat: null,
                from: null,
                count: null,
                timeoutMs: null,
                raw: false
            },
            { onRecord: () => undefined, onConnecting: () => (connecting = true) }
        ),
        e => e.code === 'SESSION_NOT_FOUND' && /ghost/.test(e.message)
    )
    assert.equal(connecting, false)
})
