import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { test } from 'node:test'

import { createWaClient } from '../../dist/client/create-client.js'
import { ZAPO_BIN } from '../helpers/run.js'
import { controlPost, nextEvent, openSqliteStore, tempDir, testLogger } from './helpers.js'

/** Starts `zapo sandbox --json` and resolves with the child and its first stdout line. */
function spawnSandbox(t) {
    const child = spawn(process.execPath, [ZAPO_BIN, 'sandbox', '--json'], {
        env: { ...process.env, NO_COLOR: '1' },
        stdio: ['ignore', 'pipe', 'pipe']
    })
    let stdout = ''
    let stderr = ''
    const exited = new Promise(resolve =>
        child.on('close', (code, signal) => resolve({ code, signal }))
    )
    t.after(async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
        await exited
    })
    const first = new Promise(resolve => {
        child.stdout.setEncoding('utf8').on('data', chunk => {
            stdout += chunk
            const newline = stdout.indexOf('\n')
            if (newline !== -1) resolve(JSON.parse(stdout.slice(0, newline)))
        })
        child.stderr.setEncoding('utf8').on('data', chunk => (stderr += chunk))
        exited.then(() => resolve(null))
    })
    return { child, first, exited, output: () => ({ stdout, stderr }) }
}

test('spawned `zapo sandbox --json`: pair from url + rootCa, reconnect, decrypt, SIGINT exits 0', async t => {
    const sandbox = spawnSandbox(t)
    const info = await sandbox.first
    if (info?.error && /unknown command/i.test(info.error.message)) {
        t.skip('the sandbox command is not registered in src/program.ts yet')
        return
    }
    if (info === null) {
        const { stderr } = sandbox.output()
        if (/unknown command/i.test(stderr)) {
            t.skip('the sandbox command is not registered in src/program.ts yet')
            return
        }
        assert.fail(`zapo sandbox exited early: ${stderr}`)
    }
    assert.match(info.url, /^ws:\/\/127\.0\.0\.1:\d+\/ws\/chat$/)

    const dir = tempDir(t)
    const connectOnce = async () => {
        const store = openSqliteStore(join(dir, 'state.sqlite'))
        const client = createWaClient({
            store,
            sessionId: 'e2e',
            server: { url: info.url, rootCa: info.rootCa },
            logger: testLogger('client'),
            tuning: { timeoutIntervalMs: 1_000 }
        })
        t.after(async () => {
            await client.disconnect().catch(() => undefined)
            await store.destroy().catch(() => undefined)
        })
        return { client, store }
    }

    const first = await connectOnce()
    first.client.once(
        'auth_qr',
        ({ qr }) => void controlPost(info.controlUrl, '/scan', { qr }).catch(() => undefined)
    )
    const paired = nextEvent(first.client, 'auth_paired')
    await first.client.connect()
    const jid = (await paired).credentials.meJid
    await first.client.disconnect()
    await first.store.destroy()

    const second = await connectOnce()
    let sawQr = false
    second.client.on('auth_qr', () => (sawQr = true))
    await second.client.connect()
    let ready = false
    for (let i = 0; i < 200 && !ready; i += 1) {
        const { devices } = await (await fetch(info.controlUrl + '/devices')).json()
        ready = devices.some(d => d.jid === jid && d.connected && d.preKeyCount > 0)
        if (!ready) await new Promise(resolve => setTimeout(resolve, 25))
    }
    assert.ok(ready, 'reconnected device is ready')
    const message = nextEvent(second.client, 'message')
    await controlPost(info.controlUrl, '/message', {
        to: jid,
        from: '15550004545',
        text: 'end to end'
    })
    assert.equal((await message).message.conversation, 'end to end')
    assert.equal(sawQr, false)

    await second.client.disconnect()
    sandbox.child.kill('SIGINT')
    const { code } = await sandbox.exited
    assert.equal(code, 0)
})
