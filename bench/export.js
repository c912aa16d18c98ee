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

import { statSync } from 'node:fs'
import { join } from 'node:path'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'

import { Decrypter, Encrypter, generateIdentity, identityToRecipient } from 'age-encryption'

import { makeSession, openTestStore, storeUrls, dropStore } from '../test/helpers/fixtures.js'
import { parseStoreUrl, singleStore } from '../dist/store/address.js'
import { runExport } from '../dist/ops/export.js'
import { runImport } from '../dist/ops/import.js'

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
    } finally {
        rmSync(dir, { recursive: true, force: true })
        for (const url of [src, dstA, dstB]) await dropStore(url).catch(() => undefined)
    }
}

await main()
