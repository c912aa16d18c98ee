// `zapo check --all` over a fleet of healthy sessions per backend, as CI or cron runs it (the
// built binary, start-up included), at several --concurrency values; then `--connect` over a
// smaller fleet against an in-process sandbox.
// Sessions come from the shared fixture (zapo-js key generators, written through the store
// contracts): paired, 25 uploaded prekeys, one Signal session.
// Usage: node bench/check.js [sessions] [backend…]   (default 200 sessions; sqlite postgres)
import { performance } from 'node:perf_hooks'
import { startSandbox } from '../dist/sandbox/index.js'
import { dropStore, makeSession, openTestStore, storeUrls } from '../test/helpers/fixtures.js'
import { runZapo } from '../test/helpers/run.js'

const args = process.argv.slice(2)
const SESSIONS = Number(args.find(a => /^\d+$/.test(a)) ?? 200)
const named = args.filter(a => !/^\d+$/.test(a))
const BACKENDS = named.length > 0 ? named : ['sqlite', 'postgres']
const SHAPE = {
    preKeys: 25,
    uploaded: 25,
    signalSessions: 1,
    identities: 1,
    senderKeys: 0,
    distributions: 0,
    appStateKeys: 1,
    collections: 0,
    privacyTokens: 0
}
const urls = storeUrls()

async function fill(url, count, prefix) {
    const store = await openTestStore(url, 'write')
    try {
        for (let i = 0; i < count; i += 1)
            await makeSession(store, `${prefix}${String(i).padStart(5, '0')}`, SHAPE)
    } finally {
        await store.close()
    }
}

async function timed(argv) {
    const started = performance.now()
    const result = await runZapo(argv, { timeoutMs: 600_000 })
    const ms = performance.now() - started
    if (result.code !== 0)
        throw new Error(`zapo ${argv.join(' ')} exited ${result.code}: ${result.stderr}`)
    return { ms, report: JSON.parse(result.stdout) }
}

for (const backend of BACKENDS) {
    const url = urls[backend]
    if (!url) {
        console.log(`${backend}: skipped (not configured)`)
        continue
    }
    try {
        await fill(url, SESSIONS, 't')
        for (const concurrency of [1, 4, 16]) {
            const { ms, report } = await timed([
                '--store',
                url,
                'check',
                '--all',
                '--json',
                '--concurrency',
                String(concurrency)
            ])
            console.log(
                `${backend.padEnd(9)} check --all, ${SESSIONS} sessions, concurrency ${String(concurrency).padStart(2)}: ${ms.toFixed(0).padStart(6)} ms (${(ms / SESSIONS).toFixed(1)} ms/session), ${report.summary.ok} ok`
            )
        }
    } finally {
        await dropStore(url)
    }
}

// --connect: one real login per session against the sandbox
const sandbox = await startSandbox()
const url = storeUrls().sqlite
const FLEET = Math.min(SESSIONS, 32)
try {
    await fill(url, FLEET, 'c')
    for (const concurrency of [1, 8]) {
        const { ms, report } = await timed([
            '--store',
            url,
            'check',
            '--all',
            '--json',
            '--connect',
            '--settle',
            '200ms',
            '--concurrency',
            String(concurrency),
            '--server',
            sandbox.url,
            '--server-root-ca',
            sandbox.rootCa
        ])
        const logins = report.sessions
            .map(s => s.checks.find(c => c.name === 'login').value)
            .sort((a, b) => a - b)
        const median = logins[Math.floor(logins.length / 2)]
        console.log(
            `sqlite    check --all --connect --settle 200ms, ${FLEET} sessions, concurrency ${concurrency}: ${ms.toFixed(0)} ms, median login ${median} ms, ${report.summary.ok} ok`
        )
    }
} finally {
    await sandbox.close()
    await dropStore(url)
}
