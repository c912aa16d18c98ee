// `zapo sessions list` over 1,000 sessions per backend, as a user runs it (the built binary,
// start-up included), next to `zapo creds show` of one session and a bare `node -e 0`.
// Sessions are written through the zapo-js store contracts: paired credentials (with an ADV
// signed identity), registration,
// signed prekey with its rotation stamp, one prekey.
// Usage: node bench/sessions.js [sessions] [backend…]   (BENCH_RUNS=3 runs per command)
import { spawnSync } from 'node:child_process'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { randomBytesAsync, X25519 } from 'zapo-js/crypto'
import { createAndStoreInitialKeys } from 'zapo-js/signal'
import {
    dropStore,
    makeSignedIdentity,
    openTestStore,
    storeUrls
} from '../test/helpers/fixtures.js'

const args = process.argv.slice(2)
const SESSIONS = Number(args.find(a => /^\d+$/.test(a)) ?? 1000)
const BACKENDS = args.filter(a => !/^\d+$/.test(a))
const RUNS = Number(process.env.BENCH_RUNS ?? 3)
const CONCURRENCY = 16
const bin = fileURLToPath(new URL('../bin/zapo.js', import.meta.url))
const urls = storeUrls()

async function writeSession(store, sessionId, i) {
    const signal = store.domain('signal', sessionId)
    const [noiseKeyPair, initial, advSecretKey] = await Promise.all([
        X25519.generateKeyPair(),
        createAndStoreInitialKeys(signal, store.domain('preKey', sessionId)),
        randomBytesAsync(32)
    ])
    const { signedIdentity } = await makeSignedIdentity(initial.registrationInfo.identityKeyPair)
    await store.domain('auth', sessionId).save({
        signedIdentity,
        noiseKeyPair,
        registrationInfo: initial.registrationInfo,
        signedPreKey: initial.signedPreKey,
        advSecretKey,
        meJid: `1555${String(i).padStart(7, '0')}:3@s.whatsapp.net`,
        meLid: `9${String(i).padStart(12, '0')}:3@lid`,
        meDisplayName: `Tenant ${i}`,
        platform: 'android',
        lastSuccessTs: Math.floor(Date.now() / 1000) - 600
    })
    await signal.setSignedPreKeyRotationTs(Date.now() - 86_400_000)
}

function median(values) {
    const sorted = [...values].sort((a, b) => a - b)
    return sorted[Math.floor(sorted.length / 2)]
}

function timeRun(argv) {
    const samples = []
    let last = null
    for (let i = 0; i < RUNS; i++) {
        const start = performance.now()
        last = spawnSync(process.execPath, argv, {
            encoding: 'utf8',
            maxBuffer: 64 * 1024 * 1024,
            env: { ...process.env, NO_COLOR: '1' }
        })
        samples.push(performance.now() - start)
        if (last.status !== 0)
            throw new Error(`${argv.join(' ')} exited ${last.status}: ${last.stderr}`)
    }
    return { ms: median(samples), stdout: last.stdout }
}

const baseline = timeRun(['-e', '0']).ms
console.log(
    `sessions list over ${SESSIONS} sessions per backend (median of ${RUNS} runs, start-up included)`
)
console.log(`baseline node -e 0: ${baseline.toFixed(0)} ms`)
for (const kind of ['sqlite', 'postgres', 'mysql', 'redis', 'mongo']) {
    if (!urls[kind] || (BACKENDS.length > 0 && !BACKENDS.includes(kind))) continue
    const url = urls[kind]
    try {
        const store = await openTestStore(url)
        const t = performance.now()
        try {
            // the first session alone: the store packages' schema migrations race when run concurrently
            await writeSession(store, 'tenant-00000', 0)
            for (let at = 1; at < SESSIONS; at += CONCURRENCY) {
                const n = Math.min(CONCURRENCY, SESSIONS - at)
                await Promise.all(
                    Array.from({ length: n }, (_, j) =>
                        writeSession(store, `tenant-${String(at + j).padStart(5, '0')}`, at + j)
                    )
                )
            }
        } finally {
            await store.close()
        }
        const built = performance.now() - t
        const list = timeRun([bin, 'sessions', 'list', '--json', '--store', url])
        const count = JSON.parse(list.stdout).sessions.length
        if (count !== SESSIONS) throw new Error(`listed ${count} sessions, expected ${SESSIONS}`)
        const human = timeRun([bin, 'sessions', 'list', '--store', url])
        const creds = timeRun([
            bin,
            'creds',
            'show',
            '--json',
            '--session',
            'tenant-00500',
            '--store',
            url
        ])
        console.log(
            `${kind.padEnd(8)} sessions list --json ${list.ms.toFixed(0).padStart(5)} ms` +
                ` (${((list.ms - baseline) / SESSIONS).toFixed(2)} ms/session after start-up)` +
                `   table ${human.ms.toFixed(0).padStart(5)} ms   creds show ${creds.ms.toFixed(0).padStart(4)} ms` +
                `   (store built in ${(built / 1000).toFixed(1)} s)`
        )
    } finally {
        await dropStore(url)
    }
}
