// Bench: `zapo migrate` throughput and peak RSS, next to the ceiling measured in the same run
// (the same records written straight into the target with the store package's own batch methods).
//
//   node bench/migrate.js                     25 sessions × (1,000 Signal sessions, 1,000 identities, 800 prekeys)
//   BENCH_SESSIONS=10 node bench/migrate.js   smaller run
//   BENCH_PAIRS=sqlite-postgres node bench/migrate.js
//
// Env: BENCH_SESSIONS, BENCH_SIGNAL_SESSIONS, BENCH_IDENTITIES, BENCH_PREKEYS, BENCH_PAIRS
// (comma list of sqlite-postgres, postgres-redis, …), BENCH_BATCH (migrate --batch-size),
// BENCH_NODE_ARGS (node flags for the migrating child, e.g. `--cpu-prof --cpu-prof-dir=prof`),
// BENCH_CONCURRENCY (sessions copied at once), BENCH_DIST (the build the child runs, default ../dist),
// BENCH_BASELINE_DIST (another build, e.g. main's, migrated the same way in the same run into a
// fresh target: its limitRatio is printed next to zapo's, `baselineLimitRatio` in the JSON).
// The migration itself runs in a child process (the built zapo, its ops module) so its RSS is
// its own; it prints RSS after 25 %, 50 % and 100 % of the sessions.
//
// The limit of any verified copy is the slower of two floors measured in the same run: the
// target's batch-write ceiling (the records written straight in with the store package's batch
// methods) and the source's read floor (every record read through the contracts, nothing else).
// limitRatio = zapo's time ÷ that limit's time (goal ≤ 1.3). The last line is JSON: per pair
// ceilingRate, sourceReadRate, rate (records/s) and limitRatio.

import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'

const SELF = fileURLToPath(import.meta.url)

if (process.argv[2] === '--child') {
    await child(JSON.parse(process.argv[3]))
} else if (process.argv[2] === '--read-child') {
    await readChild(JSON.parse(process.argv[3]))
} else {
    await main()
}

async function main() {
    const { generatePreKeyPair } = await import('zapo-js/signal')
    const { dropStore, makeSession, openTestStore, storeUrls } =
        await import('../test/helpers/fixtures.js')
    const sessions = Number(process.env.BENCH_SESSIONS ?? 25)
    const shape = {
        signalSessions: Number(process.env.BENCH_SIGNAL_SESSIONS ?? 1000),
        identities: Number(process.env.BENCH_IDENTITIES ?? 1000),
        preKeys: Number(process.env.BENCH_PREKEYS ?? 800)
    }
    const pairs = (process.env.BENCH_PAIRS ?? 'sqlite-postgres,postgres-redis')
        .split(',')
        .map(p => p.trim().split('-'))
    const batchSize = Number(process.env.BENCH_BATCH ?? 500)
    const perSession = shape.signalSessions + shape.identities + shape.preKeys
    console.log(
        `migrate bench: ${sessions} sessions × (${shape.signalSessions} signal sessions, ${shape.identities} identities, ${shape.preKeys} prekeys) = ${sessions * perSession} bulk records, batch ${batchSize}`
    )

    const templates = await sessionTemplates(16)
    const rows = []
    for (const [fromKind, toKind] of pairs) {
        const a = storeUrls()
        const b = storeUrls()
        const c = storeUrls()
        const base = storeUrls()
        const srcUrl = a[fromKind]
        const ceilingUrl = b[toKind]
        const dstUrl = c[toKind]
        if (!srcUrl || !ceilingUrl) throw new Error(`unknown pair ${fromKind}-${toKind}`)
        try {
            const src = await openTestStore(srcUrl, 'write')
            const ceiling = await openTestStore(ceilingUrl, 'write')
            let ceilingMs = 0
            let ceilingRecords = 0
            const fillStart = performance.now()
            try {
                for (let i = 0; i < sessions; i += 1) {
                    const id = `bench-${String(i).padStart(4, '0')}`
                    // small realistic session (credentials, registration, signed prekey, a few of each)
                    await makeSession(src, id, {
                        preKeys: 0,
                        uploaded: 0,
                        signalSessions: 0,
                        identities: 0,
                        senderKeys: 0,
                        distributions: 0,
                        appStateKeys: 0,
                        collections: 0,
                        privacyTokens: 0
                    })
                    const credentials = await src.domain('auth', id).load()
                    const registration = await src.domain('signal', id).getRegistrationInfo()
                    const signedPreKey = await src.domain('signal', id).getSignedPreKey()
                    const bulk = await bulkRecords(id, shape, templates, generatePreKeyPair)
                    await writeBulk(src, id, bulk)
                    // the ceiling: the same records into the target kind, batch methods only
                    const t0 = performance.now()
                    await writeBulk(ceiling, id, bulk)
                    await ceiling.domain('signal', id).setRegistrationInfo(registration)
                    await ceiling.domain('signal', id).setSignedPreKey(signedPreKey)
                    await ceiling.domain('auth', id).save(credentials)
                    ceilingMs += performance.now() - t0
                    ceilingRecords += perSession + 3
                }
            } finally {
                await src.close()
                await ceiling.close()
            }
            const fillS = (performance.now() - fillStart) / 1000
            console.log(`\n${fromKind} → ${toKind}: source filled in ${fillS.toFixed(1)}s`)
            const ceilingRate = (ceilingRecords * 1000) / ceilingMs
            console.log(
                `  ceiling (batch writes into ${toKind}): ${ceilingRecords} records in ${(ceilingMs / 1000).toFixed(2)}s = ${Math.round(ceilingRate)} records/s`
            )

            // the floor under any verified copy: reading the source alone, through the contracts
            const read = await runChild({ from: srcUrl, batchSize }, '--read-child')
            const readRate = (read.records * 1000) / read.durationMs
            console.log(
                `  source read alone (${fromKind}, 4 sessions at once): ${read.records} records in ${(read.durationMs / 1000).toFixed(2)}s = ${Math.round(readRate)} records/s = ${(ceilingRate / readRate).toFixed(2)}× the ceiling's time`
            )

            const result = await runChild({ from: srcUrl, to: dstUrl, batchSize, sessions })
            const rate = (result.copied * 1000) / result.durationMs
            console.log(
                `  zapo migrate (copy + verify): ${result.copied} records in ${(result.durationMs / 1000).toFixed(2)}s = ${Math.round(rate)} records/s, status ${result.status} (open + plan ${(result.startMs / 1000).toFixed(2)}s; the process used ${(result.cpuMs / 1000).toFixed(2)}s of CPU)`
            )
            const limitRate = Math.min(ceilingRate, readRate)
            const limitRatio = limitRate / rate
            let baselineLimitRatio = null
            if (process.env.BENCH_BASELINE_DIST) {
                const b = await runChild({
                    from: srcUrl,
                    to: base[toKind],
                    batchSize,
                    sessions,
                    dist: process.env.BENCH_BASELINE_DIST
                })
                const bRate = (b.copied * 1000) / b.durationMs
                baselineLimitRatio = +(limitRate / bRate).toFixed(2)
                console.log(
                    `  baseline (${process.env.BENCH_BASELINE_DIST}): ${b.copied} records in ${(b.durationMs / 1000).toFixed(2)}s = ${Math.round(bRate)} records/s, limitRatio ${baselineLimitRatio} (${(b.cpuMs / 1000).toFixed(2)}s of CPU)`
                )
            }
            console.log(
                `    ${(ceilingRate / rate).toFixed(2)}× the ceiling's time; limitRatio ${limitRatio.toFixed(2)} (zapo's time ÷ the slower floor's: ${readRate < ceilingRate ? 'the source read' : 'the target write'}; goal ≤ 1.3)`
            )
            console.log(
                `    RSS: ${result.rss.map(r => `${r.sessions} sessions ${r.mb} MB`).join(', ')}; peak ${result.peakMb} MB`
            )
            rows.push({
                pair: `${fromKind}→${toKind}`,
                ceilingRate: Math.round(ceilingRate),
                sourceReadRate: Math.round(readRate),
                rate: Math.round(rate),
                limitRatio: +limitRatio.toFixed(2),
                ...(baselineLimitRatio !== null ? { baselineLimitRatio } : {}),
                ceilingRatio: +(ceilingRate / rate).toFixed(2),
                cpuMs: Math.round(result.cpuMs),
                peakMb: result.peakMb,
                rss: result.rss
            })
        } finally {
            await dropStore(srcUrl).catch(() => undefined)
            await dropStore(ceilingUrl).catch(() => undefined)
            await dropStore(dstUrl).catch(() => undefined)
            if (base[toKind]) await dropStore(base[toKind]).catch(() => undefined)
        }
    }
    console.log(
        '\n' + JSON.stringify({ bench: 'migrate', sessions, shape, batchSize, results: rows })
    )
}

/** A few real Signal session records (X3DH + one encrypted message), reused across addresses. */
async function sessionTemplates(count) {
    const {
        SignalProtocol,
        createAndStoreInitialKeys,
        generatePreKeyPair,
        generateRegistrationInfo,
        generateSignedPreKey
    } = await import('zapo-js/signal')
    const {
        WaIdentityMemoryStore,
        WaPreKeyMemoryStore,
        WaSessionMemoryStore,
        WaSignalMemoryStore
    } = await import('zapo-js/store')
    const signal = new WaSignalMemoryStore()
    const preKey = new WaPreKeyMemoryStore()
    const session = new WaSessionMemoryStore()
    const identity = new WaIdentityMemoryStore()
    await createAndStoreInitialKeys(signal, preKey)
    const protocol = new SignalProtocol({ signal, preKey, session, identity })
    const out = []
    for (let i = 0; i < count; i += 1) {
        const reg = await generateRegistrationInfo()
        const signed = await generateSignedPreKey(1, reg.identityKeyPair.privKey)
        const oneTime = await generatePreKeyPair(7 + i)
        const address = { user: `1555000${i}`, server: 's.whatsapp.net', device: 0 }
        await protocol.establishOutgoingSession(address, {
            regId: reg.registrationId,
            identity: reg.identityKeyPair.pubKey,
            signedKey: {
                id: signed.keyId,
                publicKey: signed.keyPair.pubKey,
                signature: signed.signature
            },
            oneTimeKey: { id: oneTime.keyId, publicKey: oneTime.keyPair.pubKey }
        })
        await protocol.encryptMessage(address, new TextEncoder().encode(`hello ${i}`))
        out.push(await session.getSession(address))
    }
    return out
}

async function bulkRecords(id, shape, templates, generatePreKeyPair) {
    const sessions = []
    for (let i = 0; i < shape.signalSessions; i += 1) {
        sessions.push({
            address: {
                user: `${id.length}${String(i).padStart(11, '0')}`,
                server: i % 2 === 0 ? 's.whatsapp.net' : 'lid',
                device: i % 4
            },
            session: templates[i % templates.length]
        })
    }
    const identities = []
    for (let i = 0; i < shape.identities; i += 1) {
        identities.push({
            address: {
                user: `${id.length}${String(i).padStart(11, '0')}`,
                server: 's.whatsapp.net',
                device: i % 4
            },
            identityKey: new Uint8Array([5, ...randomBytes(32)])
        })
    }
    const preKeys = []
    for (let i = 0; i < shape.preKeys; i += 1) preKeys.push(await generatePreKeyPair(i + 1))
    return { sessions, identities, preKeys }
}

async function writeBulk(store, id, bulk) {
    for (let i = 0; i < bulk.sessions.length; i += 500)
        await store.domain('session', id).setSessionsBatch(bulk.sessions.slice(i, i + 500))
    for (let i = 0; i < bulk.identities.length; i += 500)
        await store.domain('identity', id).setRemoteIdentities(bulk.identities.slice(i, i + 500))
    if (bulk.preKeys.length > 0) {
        let j = 0
        // the prekey contract's batch write: the generator hands out the prepared records
        const written = await store
            .domain('preKey', id)
            .getOrGenPreKeys(bulk.preKeys.length, keyId => ({
                ...bulk.preKeys[j++ % bulk.preKeys.length],
                keyId
            }))
        // the client uploads its stock right after generating it
        await store.domain('preKey', id).markKeyAsUploaded(Math.max(...written.map(r => r.keyId)))
    }
}

function runChild(args, mode = '--child') {
    return new Promise((resolve, reject) => {
        const extra = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean)
        const proc = spawn(process.execPath, [...extra, SELF, mode, JSON.stringify(args)], {
            stdio: ['ignore', 'pipe', 'inherit']
        })
        let out = ''
        proc.stdout.setEncoding('utf8').on('data', d => (out += d))
        proc.on('error', reject)
        proc.on('close', code => {
            if (code !== 0) return reject(new Error(`migrate child exited ${code}: ${out}`))
            resolve(JSON.parse(out.trim().split('\n').pop()))
        })
    })
}

async function child({ from, to, batchSize, sessions, dist }) {
    const { runMigrate } = await import(
        (dist ?? process.env.BENCH_DIST ?? '../dist') + '/ops/migrate.js'
    )
    const { parseStoreUrl, singleStore } = await import('../dist/store/address.js')
    const { DURABLE_DOMAINS } = await import('../dist/store/address.js')
    const marks = new Set([Math.ceil(sessions / 4), Math.ceil(sessions / 2), sessions])
    const rss = []
    let done = 0
    let firstCopy = null
    let lastCopy = 0
    const mb = n => Math.round(n / 1048576)
    const t0 = performance.now()
    const cpu0 = process.cpuUsage()
    const result = await runMigrate(
        {
            from: singleStore(parseStoreUrl(from, 'flag', process.cwd())),
            to: singleStore(parseStoreUrl(to, 'flag', process.cwd())),
            sessions: 'all',
            domains: [...DURABLE_DOMAINS],
            mode: 'copy',
            existing: 'refuse',
            deleteSource: false,
            batchSize,
            ...(process.env.BENCH_CONCURRENCY
                ? { concurrency: Number(process.env.BENCH_CONCURRENCY) }
                : {})
        },
        {
            onProgress: p => {
                if (p.phase !== 'copy') return
                firstCopy ??= performance.now()
                lastCopy = performance.now()
            },
            onSession: () => {
                done += 1
                if (marks.has(done)) rss.push({ sessions: done, mb: mb(process.memoryUsage().rss) })
            }
        }
    )
    const durationMs = performance.now() - t0
    process.stdout.write(
        JSON.stringify({
            status: result.status,
            copied: result.totals.copiedRecords,
            durationMs,
            copyMs: Math.max(1, lastCopy - (firstCopy ?? t0)),
            startMs: (firstCopy ?? t0) - t0,
            cpuMs: (cpu => (cpu.user + cpu.system) / 1000)(process.cpuUsage(cpu0)),
            rss,
            peakMb: Math.round(process.resourceUsage().maxRSS / 1024)
        }) + '\n'
    )
}

/** Reads every session of the source through the store contracts (what a migration reads), nothing else. */
async function readChild({ from, batchSize }) {
    const dist = process.env.BENCH_DIST ?? '../dist'
    const t0 = performance.now()
    const { parseStoreUrl, singleStore } = await import('../dist/store/address.js')
    const { openStore } = await import(dist + '/store/open.js')
    const { catalogForStore } = await import(dist + '/store/catalog.js')
    const { batchSizeOf, readSessionRecords } = await import(dist + '/store/records.js')
    const store = await openStore(singleStore(parseStoreUrl(from, 'flag', process.cwd())), 'read')
    let records = 0
    try {
        const catalog = catalogForStore(store)
        const ids = await catalog.listSessionIds()
        const counts = await catalog.countsMany(ids)
        let next = 0
        const worker = async () => {
            while (next < ids.length) {
                const id = ids[next++]
                for await (const batch of readSessionRecords(store, catalog, id, {
                    batchSize,
                    counts: counts.get(id)
                }))
                    records += batchSizeOf(batch)
            }
        }
        await Promise.all(Array.from({ length: 4 }, worker))
    } finally {
        await store.close()
    }
    process.stdout.write(JSON.stringify({ records, durationMs: performance.now() - t0 }) + '\n')
}
