/**
 * `check --connect` does not eat messages: messages delivered to the device during the probe's
 * login are neither decrypted nor acknowledged, the check says how many it left, and the next
 * `zapo logs` receives them (the sandbox, like the service, delivers unacknowledged messages
 * again at the next login). The probe also holds the session's lease while it is connected.
 */

import assert from 'node:assert/strict'
import { join } from 'node:path'
import { test } from 'node:test'
import { CLEAN_ZAPO_ENV, runZapo } from '../helpers/run.js'
import { pairWithQr, startTestSandbox, tempDir } from '../sandbox/helpers.js'

const PEER = '15559990000@s.whatsapp.net'

test('messages that arrive during check --connect reach the next zapo logs', async t => {
    const sandbox = await startTestSandbox(t)
    const dir = tempDir(t)
    const path = join(dir, 'zapo.sqlite')
    const handle = await pairWithQr(t, sandbox, { path, sessionId: 't1' })
    const jid = handle.jid
    await handle.cleanup()
    const server = ['--server', sandbox.url, '--server-root-ca', sandbox.rootCa]
    const zapo = (args, timeoutMs = 90_000) =>
        runZapo(['--store', `sqlite:${path}`, ...args, ...server], {
            cwd: dir,
            env: CLEAN_ZAPO_ENV,
            timeoutMs
        })

    // sent while the device is offline: delivered during the probe's login
    const texts = ['first while away', 'second while away', 'third while away']
    for (const text of texts) await sandbox.sendMessage({ to: jid, from: PEER, text })

    const check = await zapo([
        'check',
        '--session',
        't1',
        '--connect',
        '--json',
        '--min-prekeys',
        '0'
    ])
    assert.equal(check.code, 0, check.stdout + check.stderr)
    const login = JSON.parse(check.stdout).sessions[0].checks.find(c => c.name === 'login')
    assert.equal(login.status, 'pass')
    assert.match(
        login.detail,
        /3 incoming messages left unread and unacknowledged for the application/
    )

    const logs = await zapo([
        'logs',
        '--session',
        't1',
        '--json',
        '--type',
        'message',
        '--count',
        '3',
        '--timeout',
        '60s'
    ])
    assert.equal(logs.code, 0, logs.stderr)
    const received = logs.stdout
        .split('\n')
        .filter(line => line.startsWith('{'))
        .map(line => JSON.parse(line))
        .filter(r => r.type === 'message')
        .map(r => r.text)
    assert.deepEqual(received.sort(), [...texts].sort())
})
