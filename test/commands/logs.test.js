/**
 * `zapo logs` end to end: the built binary tails sessions paired into a real SQLite file
 * against the sandbox, which injects events and faults.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { createServer } from 'node:net'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'

import { CLEAN_ZAPO_ENV, REPO_ROOT, runZapo, ZAPO_BIN } from '../helpers/run.js'
import { isStatusRecord } from '../../dist/client/event-json.js'
import { openStore } from '../../dist/store/open.js'
import { parseStoreUrl, singleStore } from '../../dist/store/address.js'
import { pairWithQr, startTestSandbox, tempDir, newClient, nextEvent } from '../sandbox/helpers.js'

const PEER = '15559990000@s.whatsapp.net'
const OTHER = '15558880000@s.whatsapp.net'
const GROUP = '120363000000000001@g.us'

/** Pairs a session into the SQLite file at `path`, then lets go of it (disconnect + close). */
async function pairInto(t, sandbox, path, sessionId) {
    const handle = await pairWithQr(t, sandbox, { path, sessionId })
    await handle.cleanup()
    return handle.jid
}

async function setup(t, sessionIds = ['t1']) {
    const sandbox = await startTestSandbox(t)
    const dir = tempDir(t)
    const path = join(dir, 'zapo.sqlite')
    const jids = {}
    for (const id of sessionIds) jids[id] = await pairInto(t, sandbox, path, id)
    const base = [
        '--store',
        `sqlite:${path}`,
        '--server',
        sandbox.url,
        '--server-root-ca',
        sandbox.rootCa
    ]
    return { sandbox, dir, path, jids, base }
}

/** Spawns `zapo logs …` and follows its output line by line. */
function tail(t, args, { cwd = REPO_ROOT, timeoutMs = 40_000 } = {}) {
    const child = spawn(process.execPath, [ZAPO_BIN, 'logs', ...args], {
        cwd,
        env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0', ZAPO_SESSION: undefined },
        stdio: ['ignore', 'pipe', 'pipe']
    })
    const lines = []
    let stderr = ''
    let buffer = ''
    const waiters = []
    const check = () => {
        for (const waiter of [...waiters]) {
            const found = lines.find(waiter.predicate)
            if (found !== undefined) {
                waiters.splice(waiters.indexOf(waiter), 1)
                clearTimeout(waiter.timer)
                waiter.resolve(found.startsWith('{') ? JSON.parse(found) : found)
            }
        }
    }
    child.stdout.setEncoding('utf8').on('data', chunk => {
        buffer += chunk
        let at
        while ((at = buffer.indexOf('\n')) !== -1) {
            lines.push(buffer.slice(0, at))
            buffer = buffer.slice(at + 1)
        }
        check()
    })
    child.stderr.setEncoding('utf8').on('data', chunk => (stderr += chunk))
    const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    const done = new Promise(resolve =>
        child.on('close', (code, signal) => {
            clearTimeout(killer)
            for (const waiter of waiters)
                waiter.reject(
                    new Error(
                        `zapo logs ended (${code ?? signal}) before the line came\nstdout:\n${lines.join('\n')}\nstderr:\n${stderr}`
                    )
                )
            resolve({ code, signal, lines, stderr })
        })
    )
    t.after(() => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    })
    return {
        child,
        lines,
        get stderr() {
            return stderr
        },
        done,
        json: () => lines.filter(l => l.startsWith('{')).map(l => JSON.parse(l)),
        waitFor(predicate, ms = 20_000) {
            return new Promise((resolve, reject) => {
                const wrapped = line => {
                    if (!line.startsWith('{')) return predicate(line)
                    return predicate(JSON.parse(line), line)
                }
                const waiter = { predicate: wrapped, resolve, reject }
                waiter.timer = setTimeout(() => {
                    waiters.splice(waiters.indexOf(waiter), 1)
                    reject(
                        new Error(
                            `timed out waiting for a line\nstdout:\n${lines.join('\n')}\nstderr:\n${stderr}`
                        )
                    )
                }, ms)
                waiters.push(waiter)
                check()
            })
        }
    }
}

const isOpen = session => r =>
    typeof r === 'object' && r.type === 'connection' && r.status === 'open' && r.session === session

/** Waits until zapo logs is connected as `session` and the sandbox sees its device ready. */
async function connected(run, sandbox, session, jid) {
    await run.waitFor(isOpen(session))
    await sandbox.waitForDevice(jid)
}

async function storedCredentials(path, sessionId) {
    const opened = await openStore(
        singleStore(parseStoreUrl(`sqlite:${path}`, 'flag', REPO_ROOT)),
        'read'
    )
    try {
        return await opened.domain('auth', sessionId).load()
    } finally {
        await opened.close()
    }
}

test('--json --count 3 prints three injected events with the documented schema, then exits 0', async t => {
    const { sandbox, jids, base } = await setup(t)
    const run = tail(t, [...base, '--session', 't1', '--json', '--count', '3'])
    await connected(run, sandbox, 't1', jids.t1)
    assert.match(
        run.stderr,
        /connecting session t1 .*an app running the same session will be disconnected/
    )
    await sandbox.sendPresence({ to: jids.t1, from: PEER, type: 'available' })
    await sandbox.sendChatstate({ to: jids.t1, from: PEER, state: 'composing' })
    await sandbox.sendMessage({
        to: jids.t1,
        from: PEER,
        text: 'hello from the sandbox',
        pushName: 'Bob'
    })
    const { code, stderr } = await run.done
    assert.equal(code, 0, stderr)
    const records = run.json()
    const events = records.filter(r => !isStatusRecord(r))
    assert.equal(events.length, 3, JSON.stringify(records))
    for (const r of records) {
        assert.equal(r.session, 't1')
        assert.ok(!Number.isNaN(Date.parse(r.ts)) && r.ts.endsWith('Z'), 'ts is ISO-8601 UTC')
    }
    const byType = Object.fromEntries(events.map(r => [r.type, r]))
    assert.deepEqual(Object.keys(byType).sort(), ['chatstate', 'message', 'presence'])
    assert.equal(byType.presence.from, PEER)
    assert.equal(byType.presence.presence, 'available')
    assert.equal(byType.chatstate.state, 'composing')
    const message = byType.message
    assert.equal(message.text, 'hello from the sandbox', 'the decrypted text is in the JSON line')
    assert.equal(message.kind, 'conversation')
    assert.deepEqual(message.message, { conversation: 'hello from the sandbox' })
    assert.equal(message.from, PEER)
    assert.equal(message.chat, PEER)
    assert.equal(message.pushName, 'Bob')
    assert.equal(message.isGroup, false)
    assert.match(message.encryption, /^(pkmsg|msg)$/)
    assert.ok(message.id.length > 0)
    assert.equal(message.raw, undefined, 'no raw node without --raw')
})

test('every event type the sandbox sends: receipt, notification, group, call (and --raw adds base64 nodes)', async t => {
    const { sandbox, jids, base } = await setup(t)
    const run = tail(t, [...base, '--session', 't1', '--json', '--raw', '--count', '5'])
    await connected(run, sandbox, 't1', jids.t1)
    await sandbox.sendReceipt({ to: jids.t1, from: PEER, id: '3EB0AAAA', type: 'read' })
    await sandbox.sendNotification({ to: jids.t1 })
    await sandbox.sendGroupEvent({
        to: jids.t1,
        group: GROUP,
        author: PEER,
        action: 'add',
        participants: [OTHER]
    })
    await sandbox.sendCall({ to: jids.t1, from: PEER, video: true })
    await sandbox.sendMessage({ to: jids.t1, from: PEER, text: 'raw please' })
    const { code, stderr } = await run.done
    assert.equal(code, 0, stderr)
    const byType = Object.fromEntries(
        run
            .json()
            .filter(r => !isStatusRecord(r))
            .map(r => [r.type, r])
    )
    assert.deepEqual(Object.keys(byType).sort(), [
        'call',
        'group',
        'message',
        'notification',
        'receipt'
    ])
    assert.equal(byType.receipt.receipt, 'read')
    assert.equal(byType.receipt.id, '3EB0AAAA')
    assert.equal(byType.receipt.from, PEER)
    assert.equal(typeof byType.notification.notification, 'string')
    assert.equal(byType.group.action, 'add')
    assert.equal(byType.group.chat, GROUP)
    assert.equal(byType.group.from, PEER)
    assert.deepEqual(
        byType.group.participants.map(p => p.jid),
        [OTHER]
    )
    assert.equal(byType.call.from, PEER)
    assert.equal(byType.call.call, 'offer')
    assert.equal(byType.call.video, true)
    for (const r of Object.values(byType))
        assert.equal(typeof r.raw?.tag, 'string', `${r.type} has its raw node`)
    assert.deepEqual(
        byType.message.raw.content.map(c => c.tag),
        ['enc']
    )
    assert.equal(byType.message.raw.attrs.from, PEER)
})

test('a group text (sender key) is decrypted; --chat GROUP keeps only the group', async t => {
    const { sandbox, jids, base } = await setup(t)
    const run = tail(t, [
        ...base,
        '--session',
        't1',
        '--json',
        '--chat',
        GROUP,
        '--type',
        'message',
        '--count',
        '2'
    ])
    await sandbox.waitForDevice(jids.t1)
    await sandbox.sendMessage({ to: jids.t1, from: PEER, text: 'direct, filtered out' })
    await sandbox.sendGroupMessage({
        to: jids.t1,
        group: GROUP,
        from: PEER,
        text: 'hello group',
        pushName: 'Bob'
    })
    await sandbox.sendGroupMessage({
        to: jids.t1,
        group: GROUP,
        from: OTHER,
        text: 'second in group'
    })
    const { code, stderr } = await run.done
    assert.equal(code, 0, stderr)
    // decryption is asynchronous: two senders' texts may come out in either order
    const messages = run
        .json()
        .filter(r => r.type === 'message')
        .sort((a, b) => a.text.localeCompare(b.text))
    assert.deepEqual(
        messages.map(r => [r.chat, r.from, r.text, r.isGroup, r.encryption]),
        [
            [GROUP, PEER, 'hello group', true, 'skmsg'],
            [GROUP, OTHER, 'second in group', true, 'skmsg']
        ]
    )
})

test('filters: --type, --from, --chat; --count counts only matching events', async t => {
    const { sandbox, jids, base } = await setup(t)
    const run = tail(t, [
        ...base,
        '--session',
        't1',
        '--json',
        '--type',
        'message,receipt',
        '--from',
        '15559990000',
        '--count',
        '2'
    ])
    await sandbox.waitForDevice(jids.t1) // connection lines are filtered out by --type
    await sandbox.sendPresence({ to: jids.t1, from: PEER }) // wrong type
    await sandbox.sendMessage({ to: jids.t1, from: OTHER, text: 'not from the peer' }) // wrong sender
    await sandbox.sendReceipt({ to: jids.t1, from: PEER, id: 'R1', type: 'delivery' })
    await sandbox.sendMessage({ to: jids.t1, from: PEER, text: 'from the peer' })
    const { code, stderr } = await run.done
    assert.equal(code, 0, stderr)
    const events = run.json().filter(r => !isStatusRecord(r))
    assert.deepEqual(
        events.map(r => [r.type, r.from, r.text ?? r.id]),
        [
            ['receipt', PEER, 'R1'],
            ['message', PEER, 'from the peer']
        ]
    )

    const chat = tail(t, [...base, '--session', 't1', '--json', '--chat', GROUP, '--count', '1'])
    await connected(chat, sandbox, 't1', jids.t1)
    await sandbox.sendMessage({ to: jids.t1, from: PEER, text: 'a direct message' })
    await sandbox.sendGroupEvent({
        to: jids.t1,
        group: GROUP,
        author: OTHER,
        action: 'promote',
        participants: [PEER]
    })
    const chatEnd = await chat.done
    assert.equal(chatEnd.code, 0, chatEnd.stderr)
    assert.deepEqual(
        chat
            .json()
            .filter(r => !isStatusRecord(r))
            .map(r => [r.type, r.chat, r.action]),
        [['group', GROUP, 'promote']]
    )
})

test('--timeout stops with exit 0; human lines carry time, type and summary (no session column for one session)', async t => {
    const { sandbox, jids, base } = await setup(t)
    const started = Date.now()
    const run = tail(t, [...base, '--session', 't1', '--timeout', '3s'])
    await run.waitFor(line => /^\d\d:\d\d:\d\d +connection +connected$/.test(line))
    await sandbox.waitForDevice(jids.t1)
    await sandbox.sendMessage({ to: jids.t1, from: PEER, text: 'hi there', pushName: 'Bob' })
    await sandbox.sendReceipt({ to: jids.t1, from: PEER, id: 'R9', type: 'read' })
    const { code, stderr, lines } = await run.done
    assert.equal(code, 0, stderr)
    assert.ok(Date.now() - started >= 3_000)
    assert.ok(
        lines.some(l =>
            /^\d\d:\d\d:\d\d +message +Bob <15559990000@s\.whatsapp\.net> +"hi there"$/.test(l)
        ),
        lines.join('\n')
    )
    assert.ok(
        lines.some(l => /^\d\d:\d\d:\d\d +receipt +15559990000@s\.whatsapp\.net +read R9$/.test(l)),
        lines.join('\n')
    )
    assert.ok(!lines.some(l => l.includes('\u001b[')), 'no colour when not a TTY')
    assert.ok(!lines.some(l => /ib\.offline|info_bulletin/.test(l)), 'protocol bulletins hidden')
    assert.ok(!lines.some(l => / t1 /.test(l)), 'no session column')
})

test('refuses a missing session (3) and an unpaired one (6) with a pointer to zapo pair', async t => {
    const { sandbox, path, base } = await setup(t)
    const missing = await runZapo(['logs', ...base, '--session', 'nobody'])
    assert.equal(missing.code, 3, missing.stderr)
    assert.match(missing.stderr, /no session "nobody".*zapo pair --session nobody/)
    assert.equal(missing.stdout, '')
    // a client that connects but is never scanned leaves unpaired credentials behind
    const { client, cleanup } = newClient(t, sandbox, { path, sessionId: 'half' })
    const qr = nextEvent(client, 'auth_qr')
    await client.connect()
    await qr
    await cleanup()
    const unpaired = await runZapo(['logs', ...base, '--session', 'half'])
    assert.equal(unpaired.code, 6, unpaired.stderr)
    assert.match(unpaired.stderr, /not paired: run zapo pair --session half/)
    const all = await runZapo(['logs', ...base, '--all', '--json', '--timeout', '1s'])
    assert.equal(all.code, 0, all.stderr)
    assert.match(all.stderr, /connecting session t1 /, '--all skips the unpaired session')
    assert.ok(
        all.stdout
            .split('\n')
            .filter(Boolean)
            .every(l => JSON.parse(l).session === 't1')
    )
    const usage = await runZapo(['logs', ...base, '--session', 't1', '--all'])
    assert.equal(usage.code, 2)
    const badType = await runZapo(['logs', ...base, '--session', 't1', '--type', 'mesage'])
    assert.equal(badType.code, 2)
    assert.match(badType.stderr, /unknown event type "mesage"/)
})

test('--all tails every paired session; one fatal session does not stop the others', async t => {
    const { sandbox, jids, base } = await setup(t, ['t1', 't2'])
    const run = tail(t, [...base, '--all', '--json'])
    await connected(run, sandbox, 't1', jids.t1)
    await connected(run, sandbox, 't2', jids.t2)
    assert.match(run.stderr, /connecting 2 sessions \(t1, t2\)/)
    await sandbox.sendMessage({ to: jids.t1, from: PEER, text: 'to one' })
    await sandbox.sendMessage({ to: jids.t2, from: PEER, text: 'to two' })
    await run.waitFor(r => r.type === 'message' && r.session === 't1' && r.text === 'to one')
    await run.waitFor(r => r.type === 'message' && r.session === 't2' && r.text === 'to two')
    await sandbox.fault(jids.t1, 'replaced')
    const stopped = await run.waitFor(r => r.type === 'stopped')
    assert.equal(stopped.session, 't1')
    assert.equal(stopped.exit, 'REPLACED')
    await sandbox.sendMessage({ to: jids.t2, from: PEER, text: 'still here' })
    await run.waitFor(r => r.type === 'message' && r.session === 't2' && r.text === 'still here')
    run.child.kill('SIGINT')
    const { code, stderr } = await run.done
    assert.equal(code, 0, 'stopped by the user: exit 0 even though t1 ended fatally')
    assert.match(stderr, /t1: replaced by another connection/)
})

test('every session stopping by itself exits with the most severe class (logged out over replaced)', async t => {
    const { sandbox, jids, base } = await setup(t, ['t1', 't2'])
    const run = tail(t, [...base, '--session', 't1', '--session', 't2', '--json'])
    await connected(run, sandbox, 't1', jids.t1)
    await connected(run, sandbox, 't2', jids.t2)
    await sandbox.fault(jids.t1, 'replaced')
    await run.waitFor(r => r.type === 'stopped' && r.session === 't1')
    await sandbox.fault(jids.t2, 'force_logout')
    const { code, stderr } = await run.done
    assert.equal(code, 10, stderr)
    const stops = run.json().filter(r => r.type === 'stopped')
    assert.deepEqual(
        stops.map(r => [r.session, r.exit, r.exitCode]),
        [
            ['t1', 'REPLACED', 11],
            ['t2', 'LOGGED_OUT', 10]
        ]
    )
})

test('515 reconnects at once and keeps tailing; the credentials stay (no re-pair)', async t => {
    const { sandbox, path, jids, base } = await setup(t)
    const before = await storedCredentials(path, 't1')
    const run = tail(t, [...base, '--session', 't1', '--json'])
    await connected(run, sandbox, 't1', jids.t1)
    await sandbox.fault(jids.t1, 'restart')
    const reconnect = await run.waitFor(r => r.type === 'reconnect')
    assert.deepEqual(
        [reconnect.reason, reconnect.code, reconnect.class, reconnect.attempt, reconnect.delayMs],
        ['stream_error_force_login', 515, 'routine', 1, 0]
    )
    await run.waitFor(
        () => run.json().filter(r => r.type === 'connection' && r.status === 'open').length >= 2
    )
    await sandbox.waitForDevice(jids.t1)
    await sandbox.sendMessage({ to: jids.t1, from: PEER, text: 'after the restart' })
    await run.waitFor(r => r.type === 'message' && r.text === 'after the restart')
    assert.equal(sandbox.devices().length, 1, 'no second device was paired')
    run.child.kill('SIGINT')
    const { code, stderr } = await run.done
    assert.equal(code, 0, stderr)
    assert.ok(!run.json().some(r => r.type === 'stopped'))
    const reopened = run.json().filter(r => r.type === 'connection' && r.status === 'open')[1]
    assert.ok(Number.isInteger(reopened.downMs) && reopened.downMs >= 0, JSON.stringify(reopened))
    const after = await storedCredentials(path, 't1')
    assert.equal(after.meJid, before.meJid)
})

test('503: the backoff is visible in words (human lines), then it reconnects and keeps tailing', async t => {
    const { sandbox, jids, base } = await setup(t)
    const run = tail(t, [...base, '--session', 't1'])
    await run.waitFor(line => / +connection +connected$/.test(line))
    await sandbox.waitForDevice(jids.t1)
    await sandbox.fault(jids.t1, 'service_unavailable')
    const line = await run.waitFor(l => / +reconnect +connection lost: /.test(l))
    assert.match(
        line,
        /^\d\d:\d\d:\d\d +reconnect +connection lost: service unavailable \(503\) — reconnecting (now|in \d+(ms|\.\ds))$/
    )
    assert.ok(
        run.lines.some(l =>
            /^\d\d:\d\d:\d\d +failure +login failed: service unavailable \(503\)$/.test(l)
        ),
        run.lines.join('\n')
    )
    await run.waitFor(
        l =>
            /^\d\d:\d\d:\d\d +connection +reconnected after [\d.]+(ms|s)$/.test(l) &&
            run.lines.indexOf(l) > run.lines.indexOf(line)
    )
    await sandbox.waitForDevice(jids.t1)
    await sandbox.sendMessage({ to: jids.t1, from: PEER, text: 'back again' })
    await run.waitFor(l => l.includes('"back again"'))
    run.child.kill('SIGTERM')
    const { code } = await run.done
    assert.equal(code, 0)
    // protocol names stay in --json: people get words
    assert.ok(
        !run.lines.some(l => /failure_service_unavailable|failureReason|\[transient\]/.test(l)),
        run.lines.join('\n')
    )
})

test('a dropped socket is resumed by the transport and the tail goes on: close, reconnect and open records with downMs', async t => {
    const { sandbox, jids, base } = await setup(t)
    const run = tail(t, [...base, '--session', 't1', '--json'])
    await connected(run, sandbox, 't1', jids.t1)
    const logins = sandbox.devices().find(d => d.jid === jids.t1).logins
    const dropped = Date.now()
    await sandbox.fault(jids.t1, 'drop')
    await waitForLogin(sandbox, jids.t1, logins + 1)
    await sandbox.waitForDevice(jids.t1)
    await sandbox.sendMessage({ to: jids.t1, from: PEER, text: 'after the drop' })
    await run.waitFor(r => r.type === 'message' && r.text === 'after the drop')
    const resumedBy = Date.now()
    run.child.kill('SIGINT')
    const { code, stderr } = await run.done
    assert.equal(code, 0, stderr)
    const records = run.json()
    assert.ok(!records.some(r => r.type === 'stopped'))
    const close = records.find(r => r.type === 'connection' && r.status === 'close')
    assert.deepEqual(
        [close?.reason, close?.code, close?.class, close?.isLogout],
        ['socket_closed', 1006, 'transient', false],
        JSON.stringify(records)
    )
    const reconnect = records.find(r => r.type === 'reconnect')
    assert.deepEqual(
        [reconnect?.reason, reconnect?.class, reconnect?.attempt, reconnect?.delayMs],
        ['socket_closed', 'transient', 1, 2_000],
        'the transport reconnects by itself after its own interval (2 s)'
    )
    const opens = records.filter(r => r.type === 'connection' && r.status === 'open')
    assert.equal(opens.length, 2, JSON.stringify(records))
    assert.equal(opens[0].downMs, undefined, 'the first login was not a reconnect')
    assert.ok(
        opens[1].downMs >= 1_500 && opens[1].downMs <= resumedBy - dropped,
        `downMs ${opens[1].downMs}`
    )
    assert.ok(records.indexOf(close) < records.indexOf(opens[1]))
})

async function waitForLogin(sandbox, jid, logins, ms = 20_000) {
    const started = Date.now()
    while (Date.now() - started < ms) {
        const device = sandbox.devices().find(d => d.jid === jid)
        if (device && device.logins >= logins && device.connected) return
        await new Promise(r => setTimeout(r, 50))
    }
    throw new Error(`no login #${logins} of ${jid}`)
}

for (const [fault, exit, reason, pattern] of [
    ['replaced', 11, 'stream_error_replaced', /replaced by another connection.*stop the other app/],
    [
        'force_logout',
        10,
        'stream_error_force_logout',
        /^zapo: t1: the server logged the device out \(stream_error_force_logout 516\): re-pair the device: zapo pair --session t1$/
    ],
    ['not_authorized', 10, 'failure_not_authorized', /not authorised.*zapo pair --session t1/],
    [
        'device_removed',
        10,
        'stream_error_device_removed',
        /removed from the phone’s linked devices.*zapo pair --session t1/
    ]
]) {
    test(`${fault} while tailing ends it with exit ${exit} and one clear line`, async t => {
        const { sandbox, jids, base } = await setup(t)
        const run = tail(t, [...base, '--session', 't1', '--json'])
        await connected(run, sandbox, 't1', jids.t1)
        await sandbox.fault(jids.t1, fault)
        const { code, stderr } = await run.done
        assert.equal(code, exit, stderr)
        const stopLines = stderr.split('\n').filter(l => l.startsWith('zapo: t1:'))
        assert.equal(stopLines.length, 1, stderr)
        assert.match(stopLines[0], pattern)
        const stopped = run.json().find(r => r.type === 'stopped')
        assert.equal(stopped.reason, reason)
        assert.equal(stopped.exitCode, exit)
        assert.ok(!run.json().some(r => r.type === 'reconnect'), 'fatal: no reconnect attempt')
    })
}

test('SIGINT disconnects, exits 0, and the session stays in the store, paired and linked', async t => {
    const { sandbox, path, jids, base } = await setup(t)
    const run = tail(t, [...base, '--session', 't1', '--json'])
    await connected(run, sandbox, 't1', jids.t1)
    run.child.kill('SIGINT')
    const { code, stderr } = await run.done
    assert.equal(code, 0, stderr)
    const creds = await storedCredentials(path, 't1')
    assert.equal(creds.meJid, jids.t1)
    const device = sandbox.devices().find(d => d.jid === jids.t1)
    assert.ok(device, 'the device is still linked on the server')
    assert.equal(device.connected, false, 'disconnected')
})

test('a second Ctrl-C while the first is still disconnecting exits at once with 130', async t => {
    const { path, sandbox } = await setup(t)
    // a server that completes the WebSocket upgrade and then ignores every frame: the Noise
    // handshake never ends, and closing the socket waits for a close frame that never comes
    const held = []
    let upgraded = 0
    const server = createServer(socket => {
        held.push(socket)
        let head = ''
        socket.on('data', chunk => {
            if (head.includes('\r\n\r\n')) return
            head += chunk.toString('latin1')
            const key = /sec-websocket-key: *(\S+)/i.exec(head)?.[1]
            if (!head.includes('\r\n\r\n') || !key) return
            const accept = createHash('sha1')
                .update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11')
                .digest('base64')
            socket.write(
                `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`
            )
            upgraded += 1
        })
    })
    await new Promise(resolve => server.listen(0, '127.0.0.1', resolve))
    t.after(() => {
        for (const socket of held) socket.destroy()
        server.close()
    })
    const url = `ws://127.0.0.1:${server.address().port}/ws/chat`
    const run = tail(t, [
        '--store',
        `sqlite:${path}`,
        '--server',
        url,
        '--server-root-ca',
        sandbox.rootCa,
        '--session',
        't1'
    ])
    const deadline = Date.now() + 15_000
    while (upgraded === 0) {
        if (Date.now() > deadline) throw new Error(`never connected: ${run.stderr}`)
        await new Promise(r => setTimeout(r, 20))
    }
    await new Promise(r => setTimeout(r, 300)) // the client is now waiting in its Noise handshake
    run.child.kill('SIGINT')
    while (!run.stderr.includes('Ctrl-C again to quit at once')) {
        if (Date.now() > deadline) throw new Error(`no disconnect note: ${run.stderr}`)
        await new Promise(r => setTimeout(r, 10))
    }
    const second = Date.now()
    run.child.kill('SIGINT')
    const { code, signal, stderr } = await run.done
    assert.equal(code, 130, `signal ${signal}\n${stderr}`)
    assert.ok(Date.now() - second < 2_000, 'the second Ctrl-C did not wait for the disconnect')
})

test('piping into head -n 1 ends quietly', async t => {
    const { sandbox, jids, base } = await setup(t)
    const quoted = [
        process.execPath,
        ZAPO_BIN,
        'logs',
        ...base,
        '--session',
        't1',
        '--json',
        '--type',
        'message'
    ]
        .map(a => `'${a.replace(/'/g, `'\\''`)}'`)
        .join(' ')
    const child = spawn('bash', ['-c', `set -o pipefail; ${quoted} | head -n 1`], {
        env: { ...process.env, NO_COLOR: '1' },
        stdio: ['ignore', 'pipe', 'pipe']
    })
    t.after(() => child.exitCode === null && child.kill('SIGKILL'))
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', c => (stdout += c))
    child.stderr.on('data', c => (stderr += c))
    const done = new Promise(resolve => child.on('close', code => resolve(code)))
    await sandbox.waitFor('login', e => e.jid === jids.t1, 20_000)
    await sandbox.waitForDevice(jids.t1)
    await sandbox.sendMessage({ to: jids.t1, from: PEER, text: 'first' })
    await sandbox.sendMessage({ to: jids.t1, from: PEER, text: 'second' })
    await sandbox.sendMessage({ to: jids.t1, from: PEER, text: 'third' })
    const code = await done
    assert.equal(code, 0, stderr)
    assert.equal(stdout.trim().split('\n').length, 1)
    assert.equal(JSON.parse(stdout).text, 'first')
    assert.doesNotMatch(stderr, /EPIPE|Error|at /)
})

test('the examples of `zapo logs --help` work as pasted (a store with tenant-42, a test server in the environment)', async t => {
    const sandbox = await startTestSandbox(t)
    const dir = tempDir(t)
    const jid = await pairInto(t, sandbox, join(dir, 'zapo.sqlite'), 'tenant-42')
    // `zapo` on the PATH is this build
    const bin = join(dir, 'bin')
    mkdirSync(bin)
    writeFileSync(join(bin, 'zapo'), `#!/bin/sh\nexec '${process.execPath}' '${ZAPO_BIN}' "$@"\n`, {
        mode: 0o755
    })
    const help = await runZapo(['logs', '--help'])
    const examples = help.stdout
        .slice(help.stdout.indexOf('Examples:'))
        .split('\n')
        .map(line => /^ {2}(zapo logs.*?)(?: +#.*)?$/.exec(line)?.[1])
        .filter(Boolean)
    assert.ok(examples.length >= 5, help.stdout)
    for (const example of examples) {
        // `exec`: the shell becomes zapo (the shim execs node), which gets the Ctrl-C itself
        const child = spawn('sh', ['-c', `exec ${example}`], {
            cwd: dir,
            detached: true,
            env: {
                ...process.env,
                ...Object.fromEntries(Object.keys(CLEAN_ZAPO_ENV).map(k => [k, ''])),
                PATH: `${bin}:${process.env.PATH}`,
                ZAPO_SERVER: sandbox.url,
                ZAPO_SERVER_ROOT_CA: sandbox.rootCa,
                NO_COLOR: '1'
            },
            stdio: ['ignore', 'pipe', 'pipe']
        })
        let stdout = ''
        let stderr = ''
        child.stdout.on('data', c => (stdout += c))
        child.stderr.on('data', c => (stderr += c))
        const done = new Promise(resolve => child.on('close', code => resolve(code)))
        t.after(() => child.exitCode === null && process.kill(-child.pid, 'SIGKILL'))
        await sandbox.waitFor('login', e => e.jid === jid, 20_000)
        await sandbox.waitForDevice(jid)
        await new Promise(resolve => setTimeout(resolve, 300))
        child.kill('SIGINT')
        const code = await done
        assert.equal(code, 0, `${example}\n${stderr}`)
        const out = example.includes('> events.txt')
            ? readFileSync(join(dir, 'events.txt'), 'utf8')
            : stdout
        if (example.includes('--json')) assert.match(out, /"type":"connection","status":"open"/)
        else if (!example.includes('--type')) assert.match(out, /connection +connected/, example)
        if (example.includes('--log-level info'))
            assert.match(stderr, /^\d\d:\d\d:\d\d {2}info {10}wa client connect start/m, stderr)
    }
})

test('human mode: a fatal close reads as words on both streams (no protocol names)', async t => {
    const { sandbox, jids, base } = await setup(t)
    const run = tail(t, [...base, '--session', 't1'])
    await run.waitFor(line => / +connection +connected$/.test(line))
    await sandbox.waitForDevice(jids.t1)
    await sandbox.fault(jids.t1, 'replaced')
    const { code, stderr, lines } = await run.done
    assert.equal(code, 11, stderr)
    assert.ok(
        lines.some(l =>
            /^\d\d:\d\d:\d\d +connection +connection closed: replaced by another connection$/.test(
                l
            )
        ),
        lines.join('\n')
    )
    const stop = stderr.split('\n').filter(l => l.startsWith('zapo: t1:'))
    assert.deepEqual(stop.length, 1, stderr)
    assert.match(
        stop[0],
        /^zapo: t1: replaced by another connection with the same credentials: stop the other app/
    )
    assert.doesNotMatch(stderr + lines.join('\n'), /stream_error|\[fatal\]/)
})
