// Sandbox bench: time from the phone's scan to the client's auth_paired, and how many events per
// second the sandbox pushes into one connected client (plain stanzas and encrypted messages).
// Real WaClient, real Noise, SQLite store in a temp dir. Run after `npm run build`.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { createWaClient } from '../dist/client/create-client.js'
import { SILENT_LOGGER } from '../dist/client/silent-logger.js'
import { startSandbox } from '../dist/sandbox/index.js'
import { openSqliteStore } from '../test/sandbox/helpers.js'

const PAIRINGS = Number(process.env.BENCH_PAIRINGS ?? 7)
const PRESENCE_EVENTS = Number(process.env.BENCH_EVENTS ?? 5000)
const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 500)

function median(values) {
    const sorted = [...values].sort((a, b) => a - b)
    return sorted[Math.floor(sorted.length / 2)]
}

async function pairOnce(sandbox, dir, index) {
    const s = openSqliteStore(join(dir, `pair-${index}.sqlite`))
    const client = createWaClient({
        store: s,
        sessionId: `bench-${index}`,
        server: { url: sandbox.url, rootCa: sandbox.rootCa },
        logger: SILENT_LOGGER,
        tuning: { timeoutIntervalMs: 1_000 }
    })
    let scannedAt = 0
    const paired = new Promise(resolve =>
        client.once('auth_paired', e =>
            resolve({ at: performance.now(), jid: e.credentials.meJid })
        )
    )
    client.once('auth_qr', ({ qr }) => {
        scannedAt = performance.now()
        void sandbox.scan(qr)
    })
    await client.connect()
    const { at, jid } = await paired
    return { ms: at - scannedAt, client, store: s, jid }
}

const dir = mkdtempSync(join(tmpdir(), 'zapo-sandbox-bench-'))
const sandbox = await startSandbox()
const handles = []
try {
    const timings = []
    for (let i = 0; i < PAIRINGS; i += 1) {
        const handle = await pairOnce(sandbox, dir, i)
        timings.push(handle.ms)
        handles.push(handle)
    }
    console.log(
        `scan -> auth_paired: median ${median(timings).toFixed(1)} ms, min ${Math.min(...timings).toFixed(1)} ms, max ${Math.max(...timings).toFixed(1)} ms (${PAIRINGS} pairings)`
    )

    const { client, jid } = handles[0]
    await sandbox.waitForDevice(jid)

    let seen = 0
    const allPresence = new Promise(resolve => {
        client.on('presence', () => {
            seen += 1
            if (seen === PRESENCE_EVENTS) resolve()
        })
    })
    let started = performance.now()
    const writes = []
    for (let i = 0; i < PRESENCE_EVENTS; i += 1) {
        writes.push(
            sandbox.sendPresence({ to: jid, from: `1555${String(i % 1000).padStart(7, '0')}` })
        )
    }
    await Promise.all(writes)
    const written = (performance.now() - started) / 1000
    await allPresence
    let seconds = (performance.now() - started) / 1000
    console.log(
        `presence stanzas into one client: ${Math.round(PRESENCE_EVENTS / seconds)} events/s received ` +
            `(${PRESENCE_EVENTS} in ${seconds.toFixed(2)} s; the sandbox wrote them at ` +
            `${Math.round(PRESENCE_EVENTS / written)}/s)`
    )

    let decrypted = 0
    const allMessages = new Promise(resolve => {
        client.on('message', () => {
            decrypted += 1
            if (decrypted === MESSAGES) resolve()
        })
    })
    started = performance.now()
    const peers = ['15550100001', '15550100002', '15550100003', '15550100004']
    await Promise.all(
        peers.map(async (peer, p) => {
            for (let i = p; i < MESSAGES; i += peers.length) {
                await sandbox.sendMessage({ to: jid, from: peer, text: `bench message ${i}` })
            }
        })
    )
    await allMessages
    seconds = (performance.now() - started) / 1000
    console.log(
        `encrypted 1:1 messages decrypted by one client: ${Math.round(MESSAGES / seconds)} messages/s (${MESSAGES} from ${peers.length} peers in ${seconds.toFixed(2)} s)`
    )
} finally {
    for (const handle of handles) {
        await handle.client.disconnect().catch(() => undefined)
        await handle.store.destroy().catch(() => undefined)
    }
    await sandbox.close()
    rmSync(dir, { recursive: true, force: true })
}
