// Bench: `zapo export` / `zapo import` of one session holding 10,000 Signal sessions and 800
// prekeys, SQLite → file → SQLite, with the passphrase KDF (scrypt, age's default work factor
// 2^18) timed on its own and the same export/import timed with an X25519 recipient (no KDF).
//
//   node bench/export.js
//   BENCH_SIGNAL_SESSIONS=2000 BENCH_PREKEYS=800 node bench/export.js
//
// The session is made with zapo-js (real X3DH sessions against generated peers); to keep the
// set-up short, 32 distinct real session records are written under 10,000 addresses through
// the store contract (record size and encoding are those of real sessions).
//
// Last, one small session through the binary, start-up included (what a user waits for):
// median wall time and CPU time of BENCH_RUNS (default 9) `zapo export` and `zapo import
// --dry-run` runs (CPU from /proc/self/stat, Linux only).

import { spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { fileURLToPath } from 'node:url'

import { Decrypter, Encrypter, generateIdentity, identityToRecipient } from 'age-encryption'

import { makeSession, openTestStore, storeUrls, dropStore } from '../test/helpers/fixtures.js'
import { parseStoreUrl, singleStore } from '../dist/store/address.js'
import { runExport } from '../dist/ops/export.js'
import { runImport } from '../dist/ops/import.js'

const BIN = fileURLToPath(new URL('../bin/zapo.js', import.meta.url))
const RUNS = Number(process.env.BENCH_RUNS ?? 9)
const SIGNAL_SESSIONS = Number(process.env.BENCH_SIGNAL_SESSIONS ?? 10_000)
const PREKEYS = Number(process.env.BENCH_PREKEYS ?? 800)
const PASSPHRASE = 'bench passphrase: correct horse battery staple'

const ms = start => Math.round(performance.now() - start)
const mb = bytes => `${(bytes / 1024 / 1024).toFixed(1)} MB`

async function seed(url) {
    const store = await openTestStore(url, 'write')
    try {
        const fixture = await makeSession(store, 'bench', {
            preKeys: PREKEYS,
            uploaded: Math.floor(PREKEYS / 2),
            signalSessions: 32,
            identities: 32
        })
        const sessions = store.domain('session', 'bench')
        const identities = store.domain('identity', 'bench')
        const templates = await sessions.getSessionsBatch(fixture.sessionAddresses)
        const keys = await identities.getRemoteIdentities(fixture.sessionAddresses)
        for (let start = 32; start < SIGNAL_SESSIONS; start += 1000) {
            const entries = []
            const ids = []
            for (let i = start; i < Math.min(start + 1000, SIGNAL_SESSIONS); i += 1) {
                const address = {
                    user: `1555${String(i).padStart(7, '0')}`,
                    server: i % 2 ? 'lid' : 's.whatsapp.net',
                    device: i % 4
                }
                entries.push({ address, session: templates[i % 32] })
                ids.push({ address, identityKey: keys[i % 32] })
            }
            await sessions.setSessionsBatch(entries)
            await identities.setRemoteIdentities(ids)
        }
    } finally {
        await store.close()
    }
}

async function exportOnce(url, file, encryption) {
    rmSync(file, { force: true })
    const start = performance.now()
    const result = await runExport({
        store: singleStore(parseStoreUrl(url, 'flag', process.cwd())),
        sessionIds: ['bench'],
        encryption,
        armor: false,
        target: { kind: 'file', path: file, force: true }
    })
    return { ms: ms(start), result }
}

async function dryRunOnce(file, decryption) {
    const start = performance.now()
    await runImport({
        input: new Uint8Array((await import('node:fs')).readFileSync(file)),
        name: file,
        store: null,
        sessionId: null,
        force: false,
        dryRun: true,
        identities: decryption.identities,
        passphrase: async () => decryption.passphrase
    })
    return ms(start)
}

async function importOnce(file, url, decryption) {
    const start = performance.now()
    const rss0 = process.memoryUsage().rss
    const result = await runImport({
        input: new Uint8Array((await import('node:fs')).readFileSync(file)),
        name: file,
        store: singleStore(parseStoreUrl(url, 'flag', process.cwd())),
        sessionId: null,
        force: true,
        dryRun: false,
        identities: decryption.identities,
        passphrase: async () => decryption.passphrase
    })
    return { ms: ms(start), result, rssGrowth: process.memoryUsage().rss - rss0 }
}

async function main() {
    const dir = mkdtempSync(join(tmpdir(), 'zapo-bench-export-'))
    const src = storeUrls().sqlite
    const dstA = storeUrls().sqlite
    const dstB = storeUrls().sqlite
    try {
        console.log(
            `export/import bench: 1 session × (${SIGNAL_SESSIONS} Signal sessions, ${SIGNAL_SESSIONS} identities, ${PREKEYS} prekeys), SQLite → file → SQLite`
        )
        let t = performance.now()
        await seed(src)
        console.log(`  set-up (not measured below): ${ms(t)} ms`)

        // the KDF alone: scrypt at age's default work factor, as age-encryption runs it
        t = performance.now()
        const e = new Encrypter()
        e.setPassphrase(PASSPHRASE)
        const empty = await e.encrypt(new Uint8Array(0))
        const kdfEncrypt = ms(t)
        t = performance.now()
        const d = new Decrypter()
        d.addPassphrase(PASSPHRASE)
        await d.decrypt(empty)
        const kdfDecrypt = ms(t)

        const identity = await generateIdentity()
        const recipient = await identityToRecipient(identity)
        const fileR = join(dir, 'recipient.age')
        const fileP = join(dir, 'passphrase.age')
        const expR = await exportOnce(src, fileR, { kind: 'recipients', recipients: [recipient] })
        const expP = await exportOnce(src, fileP, { kind: 'passphrase', passphrase: PASSPHRASE })
        const dryR = await dryRunOnce(fileR, { identities: [identity], passphrase: null })
        const impR = await importOnce(fileR, dstA, { identities: [identity], passphrase: null })
        const impP = await importOnce(fileP, dstB, { identities: [], passphrase: PASSPHRASE })

        const records = expR.result.records
        const size = statSync(fileR).size
        console.log(
            `  records in the file: ${records}; file ${mb(size)} (${Math.round(size / records)} B/record)`
        )
        console.log(
            `  scrypt KDF (2^18) alone: ${kdfEncrypt} ms to encrypt, ${kdfDecrypt} ms to decrypt`
        )
        console.log('')
        console.log('  step                       X25519 recipient   passphrase   passphrase − KDF')
        console.log(
            `  export (read+encode+write) ${String(expR.ms).padStart(10)} ms ${String(expP.ms).padStart(9)} ms ${String(expP.ms - kdfEncrypt).padStart(13)} ms`
        )
        console.log(
            `  import (verify+write+read-back) ${String(impR.ms).padStart(5)} ms ${String(impP.ms).padStart(9)} ms ${String(impP.ms - kdfDecrypt).padStart(13)} ms`
        )
        console.log(
            `  of which decrypt + parse + verify digests + credential checks (dry run, recipient): ${dryR} ms`
        )
        console.log('')
        console.log(
            `  export throughput (recipient): ${Math.round(records / (expR.ms / 1000))} records/s`
        )
        console.log(
            `  import throughput (recipient): ${Math.round(records / (impR.ms / 1000))} records/s (includes the read-back verification)`
        )
        console.log(
            `  RSS growth during import: ${mb(Math.max(0, impR.rssGrowth))}; peak RSS of the process: ${mb(process.resourceUsage().maxRSS * 1024)}`
        )
        if (impR.result.sessions[0].counts.signalSessions !== SIGNAL_SESSIONS)
            throw new Error('the import lost Signal sessions')
        await standaloneImports(dir, fileR, identity)
    } finally {
        rmSync(dir, { recursive: true, force: true })
        for (const url of [src, dstA, dstB]) await dropStore(url).catch(() => undefined)
    }
}

/**
 * `zapo import` of the big file as a user runs it: the built binary on its own, into a fresh
 * SQLite and a fresh PostgreSQL store, wall time and peak RSS (from /usr/bin/time). Goals:
 * under 1 s excluding the KDF (a recipient file has none), under 250 MB peak RSS.
 */
async function standaloneImports(dir, file, identity) {
    const key = join(dir, 'bench-key.txt')
    writeFileSync(key, `${identity}\n`, { mode: 0o600 })
    if (process.env.BENCH_KEEP_FILE) {
        // for profiling the import on its own: the file and its identity
        copyFileSync(file, process.env.BENCH_KEEP_FILE)
        copyFileSync(key, `${process.env.BENCH_KEEP_FILE}.key`)
    }
    console.log('')
    console.log('  standalone zapo import of that file (the binary, start-up included):')
    for (const kind of ['sqlite', 'postgres']) {
        const url = storeUrls()[kind]
        try {
            const start = performance.now()
            const run = spawnSync(
                '/usr/bin/time',
                [
                    '-f',
                    '%M',
                    process.execPath,
                    BIN,
                    'import',
                    file,
                    '--identity',
                    key,
                    '--store',
                    url
                ],
                { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } }
            )
            const wall = Math.round(performance.now() - start)
            const lines = run.stderr.trim().split('\n')
            const peakMb = Math.round(Number(lines.pop()) / 1024)
            if (run.status !== 0) throw new Error(`zapo import into ${kind}: ${lines.join('\n')}`)
            console.log(
                `    into ${kind.padEnd(8)} ${String(wall).padStart(5)} ms wall (goal < 1000 ms), peak RSS ${peakMb} MB (goal < 250 MB)`
            )
            standalone[kind] = { ms: wall, peakMb }
        } finally {
            await dropStore(url).catch(() => undefined)
        }
    }
}

const standalone = {}

/** CPU time (ms) of this process's waited-for children, or null off Linux. */
function childrenCpuMs() {
    if (!existsSync('/proc/self/stat')) return null
    const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ')
    // cutime and cstime, fields 16 and 17 of stat(5), in clock ticks (100 per second)
    return (Number(fields[13]) + Number(fields[14])) * 10
}

function median(values) {
    return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]
}

/** One small session through the binary, start-up included. */
async function perInvocation() {
    const dir = mkdtempSync(join(tmpdir(), 'zapo-bench-invocation-'))
    const src = storeUrls().sqlite
    try {
        const store = await openTestStore(src, 'write')
        await makeSession(store, 'small')
        await store.close()
        const identity = await generateIdentity()
        writeFileSync(join(dir, 'key.txt'), `${identity}\n`, { mode: 0o600 })
        const recipient = await identityToRecipient(identity)
        const file = join(dir, 'small.age')
        const commands = {
            export: ['--store', src, 'export', '--session', 'small', '-o', file, '--force'].concat([
                '--recipient',
                recipient
            ]),
            'import --dry-run': ['import', file, '--dry-run', '--identity', join(dir, 'key.txt')]
        }
        console.log('')
        console.log(
            `  one small session through the binary, start-up included (median of ${RUNS}):`
        )
        for (const [label, args] of Object.entries(commands)) {
            const wall = []
            const cpu = []
            for (let i = 0; i < RUNS; i += 1) {
                const cpu0 = childrenCpuMs()
                const start = performance.now()
                const run = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' })
                wall.push(performance.now() - start)
                if (cpu0 !== null) cpu.push(childrenCpuMs() - cpu0)
                if (run.status !== 0) throw new Error(`zapo ${label}: ${run.stderr}`)
            }
            console.log(
                `    zapo ${label.padEnd(17)} ${String(Math.round(median(wall))).padStart(5)} ms wall` +
                    (cpu.length > 0 ? `, ${String(median(cpu)).padStart(5)} ms CPU` : '')
            )
        }
    } finally {
        rmSync(dir, { recursive: true, force: true })
        await dropStore(src).catch(() => undefined)
    }
}

await main()
await perInvocation()
console.log('\n' + JSON.stringify({ bench: 'export', standaloneImport: standalone }))
