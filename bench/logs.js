// `zapo logs` bench: events per second from the sandbox to JSON lines on stdout, against the
// client's raw event rate measured in the same run (a bare WaClient in its own process counting
// events), and the RSS of the `zapo logs` process after a short run and after a long one.
// Real sandbox, real Noise and Signal, SQLite store in a temp dir. Run after `npm run build`.
//
// BENCH_LOGS_EVENTS (default 4000): events per measured batch; BENCH_LOGS_LONG (default 20000):
// events of the long run.
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

import { startSandbox } from '../dist/sandbox/index.js'
import { pairWithQr } from '../test/sandbox/helpers.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const BATCH = Number(process.env.BENCH_LOGS_EVENTS ?? 4000)
const LONG = Number(process.env.BENCH_LOGS_LONG ?? 20000)
const PEER = '15559990000@s.whatsapp.net'

// the raw side: the same createWaClient, no records, no JSON, no stdout per event
const RAW_CLIENT = `
import { createRequire } from 'node:module'
import { createStore } from 'zapo-js'
import { createWaClient } from ${JSON.stringify(join(ROOT, 'dist/client/create-client.js'))}
const { createSqliteStore } = createRequire(${JSON.stringify(join(ROOT, 'package.json'))})('@zapo-js/store-sqlite')
const [path, sessionId, url, rootCa] = process.argv.slice(1)
const quiet = { level: 'error', trace() {}, debug() {}, info() {}, warn() {}, error() {} }
const store = createStore({
    backends: { sqlite: createSqliteStore({ path }) },
    providers: { auth: 'sqlite', signal: 'sqlite', preKey: 'sqlite', session: 'sqlite', identity: 'sqlite', senderKey: 'sqlite',
        appState: 'sqlite', privacyToken: 'sqlite', messages: 'none', threads: 'none', contacts: 'memory' },
    cacheProviders: { retry: 'memory', participants: 'memory', deviceList: 'memory', messageSecret: 'memory' }
})
const client = createWaClient({ store, sessionId, server: { url, rootCa }, logger: quiet })
let count = 0, first = 0, last = 0
const seen = () => { const now = performance.now(); if (count++ === 0) first = now; last = now }
for (const name of ['message', 'message_receipt', 'presence', 'chatstate']) client.on(name, seen)
process.stdin.setEncoding('utf8').on('data', async text => {
    if (text.includes('report')) process.stdout.write(JSON.stringify({ count, ms: last - first }) + '\\n')
    if (text.includes('reset')) { count = 0; first = 0; last = 0; process.stdout.write('{"reset":true}\\n') }
    if (text.includes('quit')) { await client.disconnect(); process.exit(0) }
})
client.on('connection', e => e.status === 'open' && process.stdout.write('{"open":true}\\n'))
await client.connect()
`

function lines(child, onLine) {
    let buffer = ''
    child.stdout.setEncoding('utf8').on('data', chunk => {
        buffer += chunk
        let at
        while ((at = buffer.indexOf('\n')) !== -1) {
            onLine(buffer.slice(0, at))
            buffer = buffer.slice(at + 1)
        }
    })
}

function waitUntil(predicate, what, ms = 120_000) {
    return new Promise((resolve, reject) => {
        const started = Date.now()
        const tick = () => {
            if (predicate()) return resolve()
            if (Date.now() - started > ms) return reject(new Error(`timed out: ${what}`))
            setTimeout(tick, 5)
        }
        tick()
    })
}

function rssMb(pid) {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0)
    return kb / 1024
}

/** The lowest RSS over a quiet second (single samples jump with the garbage collector). */
async function settledRssMb(pid) {
    let low = Number.POSITIVE_INFINITY
    for (let i = 0; i < 10; i++) {
        low = Math.min(low, rssMb(pid))
        await new Promise(r => setTimeout(r, 100))
    }
    return low
}

/** Sends n events to each device: receipt, presence, chatstate (and 1 in 4 a message with `messages`). */
async function inject(sandbox, devices, n, messages) {
    const kinds = [
        (to, i) => sandbox.sendReceipt({ to, from: PEER, id: `R${i}`, type: 'read' }),
        to => sandbox.sendPresence({ to, from: PEER, type: 'available' }),
        to => sandbox.sendChatstate({ to, from: PEER, state: 'composing' }),
        ...(messages
            ? [(to, i) => sandbox.sendMessage({ to, from: PEER, text: `bench message ${i}` })]
            : [])
    ]
    const CHUNK = 100
    for (let start = 0; start < n; start += CHUNK) {
        const sends = []
        for (let i = start; i < Math.min(n, start + CHUNK); i++) {
            for (const to of devices) sends.push(kinds[i % kinds.length](to, i))
        }
        await Promise.all(sends)
    }
}

const dir = mkdtempSync(join(tmpdir(), 'zapo-logs-bench-'))
const sandbox = await startSandbox()
const t = { after() {} }
const children = []
try {
    const rawPath = join(dir, 'raw.sqlite')
    const zapoPath = join(dir, 'zapo.sqlite')
    const raw = await pairWithQr(t, sandbox, { path: rawPath, sessionId: 'raw' })
    await raw.cleanup()
    const tailed = await pairWithQr(t, sandbox, { path: zapoPath, sessionId: 'tailed' })
    await tailed.cleanup()

    const rawChild = spawn(
        process.execPath,
        ['--input-type=module', '-e', RAW_CLIENT, rawPath, 'raw', sandbox.url, sandbox.rootCa],
        {
            stdio: ['pipe', 'pipe', 'inherit']
        }
    )
    children.push(rawChild)
    const rawReports = []
    let rawOpen = false
    lines(rawChild, line => {
        const value = JSON.parse(line)
        if (value.open) rawOpen = true
        else if (value.count !== undefined) rawReports.push(value)
    })

    const zapo = spawn(
        process.execPath,
        [
            join(ROOT, 'bin/zapo.js'),
            'logs',
            '--store',
            `sqlite:${zapoPath}`,
            '--session',
            'tailed',
            '--json',
            '--type',
            'message,receipt,presence,chatstate',
            '--server',
            sandbox.url,
            '--server-root-ca',
            sandbox.rootCa
        ],
        { stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, NO_COLOR: '1' } }
    )
    children.push(zapo)
    let zapoCount = 0
    let zapoFirst = 0
    let zapoLast = 0
    lines(zapo, () => {
        const now = performance.now()
        if (zapoCount++ === 0) zapoFirst = now
        zapoLast = now
    })

    await waitUntil(() => rawOpen, 'raw client connected')
    await sandbox.waitForDevice(raw.jid)
    await sandbox.waitForDevice(tailed.jid)

    const measure = async (n, label, messages = true) => {
        zapoCount = 0
        // let stragglers of the previous batch arrive, then start counting afresh on both sides
        await new Promise(r => setTimeout(r, 300))
        zapoCount = 0
        rawChild.stdin.write('reset\n')
        await new Promise(r => setTimeout(r, 50))
        const injectStart = performance.now()
        await inject(sandbox, [raw.jid, tailed.jid], n, messages)
        const injectMs = performance.now() - injectStart
        await waitUntil(() => zapoCount >= n, `zapo logs saw ${n} events (saw ${zapoCount})`)
        // the raw client may still be behind: ask until it saw the whole batch too
        let report = { count: 0, ms: 0 }
        const askedAt = Date.now()
        while (report.count < n && Date.now() - askedAt < 60_000) {
            const before = rawReports.length
            rawChild.stdin.write('report\n')
            await waitUntil(() => rawReports.length > before, 'raw report')
            report = rawReports[rawReports.length - 1]
            if (report.count < n) await new Promise(r => setTimeout(r, 20))
        }
        const zapoRate = (zapoCount - 1) / ((zapoLast - zapoFirst) / 1000)
        const rawRate = (report.count - 1) / (report.ms / 1000)
        console.log(
            `${label}: ${n} events per side (${messages ? '1 in 4 an encrypted message' : 'receipts, presence, chat states'}), ` +
                `injected at ${((2 * n) / (injectMs / 1000)).toFixed(0)} events/s for both sides together\n` +
                `  raw client events:        ${rawRate.toFixed(0)} events/s (${report.count} events)\n` +
                `  zapo logs --json lines:   ${zapoRate.toFixed(0)} events/s (${zapoCount} lines)\n` +
                `  overhead ratio raw/zapo:  ${(rawRate / zapoRate).toFixed(2)}`
        )
        return { rawRate, zapoRate }
    }

    await measure(200, 'warm-up')
    const plain = await measure(BATCH, 'plain stanzas', false)
    const short = await measure(BATCH, 'short run')
    const rssShort = await settledRssMb(zapo.pid)
    const rawShort = await settledRssMb(rawChild.pid)
    console.log(
        `  RSS after the short run: zapo logs ${rssShort.toFixed(1)} MB, raw client ${rawShort.toFixed(1)} MB`
    )
    const long = await measure(LONG, 'long run')
    const rssLong = await settledRssMb(zapo.pid)
    const rawLong = await settledRssMb(rawChild.pid)
    console.log(
        `  RSS after the long run:  zapo logs ${rssLong.toFixed(1)} MB (+${(rssLong - rssShort).toFixed(1)}), ` +
            `raw client ${rawLong.toFixed(1)} MB (+${(rawLong - rawShort).toFixed(1)}) after ${LONG} more events`
    )
    console.log(
        `summary: overhead ratio raw/zapo ${(plain.rawRate / plain.zapoRate).toFixed(2)} (plain stanzas), ${(short.rawRate / short.zapoRate).toFixed(2)} (with messages, short), ${(long.rawRate / long.zapoRate).toFixed(2)} (long); ` +
            `RSS ${rssShort.toFixed(1)} → ${rssLong.toFixed(1)} MB`
    )

    zapo.kill('SIGINT')
    rawChild.stdin.write('quit\n')
    await Promise.all(
        children.map(c => new Promise(r => (c.exitCode !== null ? r() : c.on('close', r))))
    )
} finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL')
    await sandbox.close()
    rmSync(dir, { recursive: true, force: true })
}
