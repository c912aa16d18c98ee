// Shared helpers of the export/import and migrate tests: isolated stores, record snapshots
// through the zapo-js store contracts, data-layer digests, SQLite row fingerprints, age-encryption
// used directly (independently of zapo's own code path), and a run interrupted mid-copy.

import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { Decrypter, Encrypter } from 'age-encryption'
import Database from 'better-sqlite3'

import { dropStore, makeSession, openTestStore, storeUrls } from './fixtures.js'
import { runZapo, ZAPO_BIN } from './run.js'
import { parseStoreUrl } from '../../dist/store/address.js'
import { catalogFor } from '../../dist/store/catalog.js'
import { digestRecords, readSessionRecords } from '../../dist/store/records.js'

export const PASSPHRASE = 'correct horse battery staple'
// a low scrypt work factor keeps the suite fast; the format and code path are the same
export const ENV = {
    ZAPO_SCRYPT_WORK_FACTOR: '10',
    ZAPO_PASSPHRASE: undefined,
    ZAPO_STORE: undefined,
    ZAPO_SESSION: undefined
}

export function tempDir(t) {
    const dir = mkdtempSync(join(tmpdir(), 'zapo-export-'))
    t.after(() => rmSync(dir, { recursive: true, force: true }))
    return dir
}

export function urlsFor(t) {
    const urls = storeUrls()
    t.after(async () => {
        for (const url of Object.values(urls)) await dropStore(url).catch(() => undefined)
    })
    return urls
}

export async function withStore(url, fn, mode = 'write') {
    const store = await openTestStore(url, mode)
    try {
        return await fn(store)
    } finally {
        await store.close()
    }
}

export async function seed(url, ids, shape) {
    return withStore(url, async store => {
        const out = []
        for (const id of ids) out.push(await makeSession(store, id, shape))
        return out
    })
}

/** Bytes as hex, absent fields dropped, maps sorted: a backend-neutral view of decoded records. */
export function normalize(value) {
    if (value === null || value === undefined) return null
    if (value instanceof Uint8Array) return `hex:${Buffer.from(value).toString('hex')}`
    if (value instanceof Map)
        return normalize(
            Object.fromEntries([...value.entries()].sort(([a], [b]) => (a < b ? -1 : 1)))
        )
    if (Array.isArray(value)) return value.map(normalize)
    if (typeof value === 'bigint') return value.toString()
    if (typeof value === 'object') {
        if (typeof value.toNumber === 'function' && 'low' in value && 'high' in value)
            return value.toNumber()
        const out = {}
        for (const key of Object.keys(value).sort()) {
            if (value[key] === undefined || value[key] === null) continue
            out[key] = normalize(value[key])
        }
        return out
    }
    return value
}

export function sortedBy(list) {
    return [...list].sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1))
}

/** Everything a fixture session holds, read through the zapo-js store contracts (not zapo's reader). */
export async function snapshot(store, fixture, id = fixture.sessionId) {
    const signal = store.domain('signal', id)
    const preKey = store.domain('preKey', id)
    const senderKey = store.domain('senderKey', id)
    const appState = store.domain('appState', id)
    const privacy = store.domain('privacyToken', id)
    const preKeys = await preKey.getPreKeysById(fixture.preKeyIds)
    return normalize({
        credentials: await store.domain('auth', id).load(),
        registration: await signal.getRegistrationInfo(),
        signedPreKey: await signal.getSignedPreKey(),
        rotation: await signal.getSignedPreKeyRotationTs(),
        preKeys: preKeys.map(r => (r ? { ...r, uploaded: r.uploaded === true } : null)),
        serverHasPreKeys: await preKey.getServerHasPreKeys(),
        sessions: await store.domain('session', id).getSessionsBatch(fixture.sessionAddresses),
        identities: await store
            .domain('identity', id)
            .getRemoteIdentities(fixture.identityAddresses),
        // list order is each backend's own: compare as sets
        senderKeys: (
            await Promise.all(fixture.senderKeyGroups.map(g => senderKey.getGroupSenderKeyList(g)))
        ).map(l => ({
            skList: sortedBy(normalize(l.skList)),
            skDistribList: sortedBy(normalize(l.skDistribList))
        })),
        syncKeys: await appState.getSyncKeysBatch(fixture.appStateKeyIds),
        collections: await appState.getCollectionStates(fixture.collections),
        privacyTokens: await Promise.all(fixture.privacyTokenJids.map(j => privacy.getByJid(j)))
    })
}

/** The data layer's per-domain digests and the catalog's counts of one session. */
export async function digestOf(url, id) {
    return withStore(
        url,
        async store => {
            const catalog = catalogFor(store.primary, parseStoreUrl(url, 'flag', process.cwd()))
            return {
                digests: await digestRecords(readSessionRecords(store, catalog, id)),
                counts: await catalog.counts(id)
            }
        },
        'read'
    )
}

export async function assertSameSession(srcUrl, dstUrl, fixture, dstId = fixture.sessionId) {
    const [a, b] = await Promise.all([
        withStore(srcUrl, s => snapshot(s, fixture), 'read'),
        withStore(dstUrl, s => snapshot(s, fixture, dstId), 'read')
    ])
    assert.ok(
        a.credentials && a.sessions.every(Boolean) && a.preKeys.every(Boolean),
        'the source fixture is complete'
    )
    assert.deepEqual(b, a, `session ${fixture.sessionId} differs between source and target`)
    const [da, db] = await Promise.all([
        digestOf(srcUrl, fixture.sessionId),
        digestOf(dstUrl, dstId)
    ])
    assert.deepEqual(db.digests, da.digests, 'per-domain digests differ')
    assert.deepEqual(db.counts, da.counts, 'catalog counts differ')
    assert.equal(Object.keys(da.digests).length, 8, 'every durable domain holds records')
}

/** Every row of every table of a SQLite file: the strongest "unchanged" check. */
export function sqliteRows(url) {
    const path = parseStoreUrl(url, 'flag', process.cwd()).target
    if (!existsSync(path)) return null
    const db = new Database(path, { readonly: true })
    try {
        const tables = db
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .all()
        const out = {}
        for (const { name } of tables) {
            const rows = db.prepare(`SELECT * FROM "${name}"`).all()
            // the lease table a run creates on first use, empty again once it released its lease
            if (name.endsWith('zapo_session_leases') && rows.length === 0) continue
            out[name] =
                createHash('sha256')
                    .update(
                        JSON.stringify(rows, (_k, v) =>
                            v instanceof Uint8Array || Buffer.isBuffer(v)
                                ? Buffer.from(v).toString('hex')
                                : v
                        )
                    )
                    .digest('hex') + `:${rows.length}`
        }
        return out
    } finally {
        db.close()
    }
}

export function passFile(dir, text = PASSPHRASE) {
    const path = join(dir, 'pass.txt')
    writeFileSync(path, `${text}\n`, { mode: 0o600 })
    return path
}

export async function exportTo(dir, storeUrl, args, env = {}) {
    const result = await runZapo(['--store', storeUrl, 'export', ...args], {
        cwd: dir,
        env: { ...ENV, ...env }
    })
    return result
}

/** Decrypts with age-encryption directly (no zapo code) and returns the JSON Lines. */
export async function decryptLines(bytes, { passphrase, identity }) {
    const d = new Decrypter()
    if (passphrase) d.addPassphrase(passphrase)
    if (identity) d.addIdentity(identity)
    const text = await d.decrypt(bytes, 'text')
    assert.ok(text.endsWith('\n'))
    return text
        .slice(0, -1)
        .split('\n')
        .map(line => JSON.parse(line))
}

/** Re-encrypts a (possibly edited) plaintext, recomputing each session's digests when asked. */
export async function reencrypt(lines, { passphrase = PASSPHRASE, fixDigests = true } = {}) {
    if (fixDigests) {
        let hashes = null
        for (const line of lines) {
            if (line.type === 'session') hashes = new Map()
            if (line.type === 'record') {
                const h = hashes.get(line.domain) ?? { hash: createHash('sha256'), records: 0 }
                h.hash.update(JSON.stringify(line) + '\n')
                h.records += 1
                hashes.set(line.domain, h)
            }
            if (line.type === 'sessionEnd') {
                for (const domain of Object.keys(line.domains)) {
                    const h = hashes.get(domain)
                    line.domains[domain] = h
                        ? { records: h.records, sha256: h.hash.digest('hex') }
                        : { records: 0, sha256: createHash('sha256').digest('hex') }
                }
            }
        }
    }
    const e = new Encrypter()
    e.setPassphrase(passphrase)
    e.setScryptWorkFactor(10)
    return e.encrypt(lines.map(l => JSON.stringify(l)).join('\n') + '\n')
}

/** Spawns the binary and sends it `signal` once a progress line for the copy appears. */
export function runAndKill(args, { cwd, signal }) {
    return new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [ZAPO_BIN, ...args], {
            cwd,
            env: { ...process.env, NO_COLOR: '1' },
            stdio: ['ignore', 'pipe', 'pipe']
        })
        let stderr = ''
        let stdout = ''
        let sent = false
        child.stdout.setEncoding('utf8').on('data', d => (stdout += d))
        child.stderr.setEncoding('utf8').on('data', d => {
            stderr += d
            if (!sent && /^copy .*records/m.test(stderr)) {
                sent = true
                child.kill(signal)
            }
        })
        child.on('error', reject)
        child.on('close', (code, sig) => resolve({ code, signal: sig, stdout, stderr, sent }))
    })
}
