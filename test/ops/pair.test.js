/**
 * `zapo pair` below the command line: option parsing and rendering helpers, the staging
 * store's recorder (everything the client wrote comes back out and lands in a real store
 * unchanged), and runPair as a library call (no stdout, no stderr, no exit).
 */

import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import {
    generatePreKeyPair,
    generateRegistrationInfo,
    SenderKeyManager,
    SignalProtocol
} from 'zapo-js/signal'

import { createStagingStore, credentialsOf } from '../../dist/client/pair-staging.js'
import { normalizePhone, runPair } from '../../dist/ops/pair.js'
import { startSandbox } from '../../dist/sandbox/index.js'
import { parseStoreUrl, singleStore } from '../../dist/store/address.js'
import { catalogForStore } from '../../dist/store/catalog.js'
import { digestRecords, readSessionRecords, writeSessionRecords } from '../../dist/store/records.js'
import { groupPairingCode, renderPairingCode } from '../../dist/ui/pairing-code.js'
import { renderQr } from '../../dist/ui/qr.js'
import { openTestStore } from '../helpers/fixtures.js'

/** runPair's options for a QR pairing of `sessionId` against `sandbox`, without --force. */
function qrPairing(storeSpec, sandbox, sessionId, timeoutMs = 20_000) {
    return {
        storeSpec,
        sessionId,
        method: { kind: 'qr' },
        force: false,
        timeoutMs,
        server: { url: sandbox.url, rootCa: sandbox.rootCa }
    }
}

function tempDir(t) {
    const dir = mkdtempSync(join(tmpdir(), 'zapo-pair-ops-'))
    t.after(() => rmSync(dir, { recursive: true, force: true }))
    return dir
}

test('phone numbers: separators stripped, country code required, clear errors', () => {
    assert.equal(normalizePhone('+1 (555) 010-0000'), '15550100000')
    assert.equal(normalizePhone(' 49.170.1234567 '), '491701234567')
    for (const bad of ['', 'abc', '+1 555 CALL', '0170 1234567', '123456', '1234567890123456']) {
        assert.throws(
            () => normalizePhone(bad),
            error => error.code === 'USAGE' && /--phone/.test(error.message),
            bad
        )
    }
})

test('pairing code: grouped as the phone shows it, five rows of block letters', () => {
    assert.equal(groupPairingCode('abcdefgh'), 'ABCD-EFGH')
    assert.equal(groupPairingCode('ABCD-EFGH'), 'ABCD-EFGH')
    const rows = renderPairingCode('ABCD2345')
    assert.equal(rows.length, 5)
    assert.ok(
        rows.every(row => row.length <= 80),
        'fits 80 columns'
    )
    assert.ok(rows.some(row => row.includes('█')))
})

test('QR: the small form of a pairing-sized string is 51 columns by 26 rows (version 8)', () => {
    const qr = `2@${'A'.repeat(48)},${'B'.repeat(43)}=,${'C'.repeat(43)}=,${'D'.repeat(43)}=,3`
    const lines = renderQr(qr)
    assert.equal(lines.length, 26)
    assert.ok(lines.every(line => [...line].length === 51))
})

test('staging store: every record the client writes comes back out and lands in a real store unchanged', async t => {
    const staging = await createStagingStore('st1')
    t.after(() => staging.destroy())
    const session = staging.store.session('st1')
    assert.throws(() => staging.store.session('other'))

    // what a fresh client and a first login write, through the same contracts
    const registration = await generateRegistrationInfo()
    const { generateSignedPreKey } = await import('zapo-js/signal')
    const signedPreKey = await generateSignedPreKey(1, registration.identityKeyPair.privKey)
    const { X25519, randomBytesAsync } = await import('zapo-js/crypto')
    await session.signal.setRegistrationInfo(registration)
    await session.signal.setSignedPreKey(signedPreKey)
    await session.auth.save({
        noiseKeyPair: await X25519.generateKeyPair(),
        registrationInfo: registration,
        signedPreKey,
        advSecretKey: await randomBytesAsync(32),
        meJid: '15550001111:3@s.whatsapp.net',
        meLid: '99990001111:3@lid',
        platform: 'android',
        serverHasPreKeys: true
    })
    const keys = await session.preKey.getOrGenPreKeys(20, generatePreKeyPair)
    await session.preKey.markKeyAsUploaded(keys[14].keyId)
    await session.preKey.setServerHasPreKeys(true)
    let settled = false
    void staging.settled.then(() => (settled = true))
    await session.signal.setSignedPreKeyRotationTs(Date.now())
    await new Promise(r => setImmediate(r))
    assert.equal(settled, true, 'settled once the rotation stamp is written')

    // messages arriving during the first login: a Signal session, identities, a sender key, app state, a token
    const protocol = new SignalProtocol({
        signal: session.signal,
        preKey: session.preKey,
        session: session.session,
        identity: session.identity
    })
    const peer = { user: '15550002222', server: 's.whatsapp.net', device: 0 }
    const peerRegistration = await generateRegistrationInfo()
    const peerSigned = await generateSignedPreKey(7, peerRegistration.identityKeyPair.privKey)
    const peerOneTime = await generatePreKeyPair(9)
    await protocol.establishOutgoingSession(peer, {
        regId: peerRegistration.registrationId,
        identity: peerRegistration.identityKeyPair.pubKey,
        signedKey: {
            id: peerSigned.keyId,
            publicKey: peerSigned.keyPair.pubKey,
            signature: peerSigned.signature
        },
        oneTimeKey: { id: peerOneTime.keyId, publicKey: peerOneTime.keyPair.pubKey }
    })
    await session.identity.setRemoteIdentity(
        { user: '15550003333', server: 's.whatsapp.net', device: 1 },
        new Uint8Array(33).fill(5)
    )
    const groupId = '120363000000000001@g.us'
    await new SenderKeyManager(session.senderKey).prepareGroupEncryption(
        groupId,
        { user: '15550001111', server: 's.whatsapp.net', device: 3 },
        new TextEncoder().encode('hi')
    )
    await session.appState.upsertSyncKeys([
        {
            keyId: new Uint8Array([1, 2, 0, 0, 0, 1]),
            keyData: new Uint8Array(32).fill(7),
            timestamp: Date.now(),
            fingerprint: { rawId: 1, currentIndex: 0, deviceIndexes: [0] }
        }
    ])
    await session.privacyToken.upsert({
        jid: '15550002222@s.whatsapp.net',
        tcToken: new Uint8Array(24).fill(3),
        tcTokenTimestamp: 1,
        updatedAtMs: 2
    })

    const batches = await staging.snapshot()
    assert.equal(credentialsOf(batches).meJid, '15550001111:3@s.whatsapp.net')
    const byDomain = {}
    for (const batch of batches) (byDomain[batch.domain] ??= []).push(batch)
    const preKeys = byDomain.preKey[0]
    assert.equal(preKeys.records.length, 20)
    assert.equal(preKeys.records.filter(r => r.uploaded).length, 15)
    assert.equal(preKeys.serverHasPreKeys, true)
    assert.equal(byDomain.session[0].entries.length, 1)
    assert.equal(
        byDomain.identity[0].entries.length,
        2,
        'the peer of the session and the extra identity'
    )
    assert.equal(byDomain.senderKey[0].senderKeys.length, 1)
    assert.equal(byDomain.appState[0].syncKeys.length, 1)
    assert.equal(byDomain.privacyToken[0].records.length, 1)

    // into a real store and back: the same records
    const url = `sqlite:${join(tempDir(t), 'real.sqlite')}`
    const real = await openTestStore(url, 'write')
    t.after(() => real.close())
    for (const batch of batches) await writeSessionRecords(real, 'st1', batch)
    const catalog = catalogForStore(real)
    const counts = await catalog.counts('st1')
    assert.equal(counts.preKeys, 20)
    assert.equal(counts.preKeysUploaded, 15)
    assert.equal(counts.signalSessions, 1)
    assert.equal(counts.identities, 2)
    assert.equal(counts.senderKeys, 1)
    assert.equal(counts.appStateSyncKeys, 1)
    assert.equal(counts.privacyTokens, 1)
    const readBack = []
    for await (const batch of readSessionRecords(real, catalog, 'st1')) readBack.push(batch)
    assert.deepEqual(await digestRecords(readBack), await digestRecords(batches))
})

test('runPair as a library: resolves with the result, writes nothing to stdout or stderr', async t => {
    const sandbox = await startSandbox()
    t.after(() => sandbox.close())
    const storeSpec = singleStore(
        parseStoreUrl(`sqlite:${join(tempDir(t), 'lib.sqlite')}`, 'flag', process.cwd())
    )
    const written = []
    const originals = { out: process.stdout.write, err: process.stderr.write }
    process.stdout.write = (chunk, ...rest) => (written.push(['stdout', String(chunk)]), true)
    process.stderr.write = (chunk, ...rest) => (written.push(['stderr', String(chunk)]), true)
    const progress = []
    let result
    try {
        result = await runPair(qrPairing(storeSpec, sandbox, 'lib'), {
            onProgress: event => {
                progress.push(event.type)
                if (event.type === 'qr') void sandbox.scan(event.qr)
            }
        })
    } finally {
        process.stdout.write = originals.out
        process.stderr.write = originals.err
    }
    assert.deepEqual(written, [])
    assert.deepEqual(progress, ['connecting', 'qr', 'scanned', 'saving'])
    assert.match(result.meJid, /^\d+:1@s\.whatsapp\.net$/)
    assert.equal(result.settled, true)
    assert.equal(result.replaced, false)
    assert.ok(result.timings.storedMs >= result.timings.pairedMs)

    // a second call without force: EXISTS, thrown (not printed, not exited)
    await assert.rejects(
        runPair(qrPairing(storeSpec, sandbox, 'lib', 5_000), { onProgress: () => undefined }),
        error => error.code === 'EXISTS' && error.exitCode === 7
    )
    // an aborted call: CANCELLED
    const controller = new AbortController()
    await assert.rejects(
        runPair(qrPairing(storeSpec, sandbox, 'lib2'), {
            signal: controller.signal,
            onProgress: event => event.type === 'qr' && controller.abort()
        }),
        error => error.code === 'CANCELLED' && error.exitCode === 130
    )
})

test('runPair: a session paired by another process while the QR was up is not overwritten', async t => {
    const sandbox = await startSandbox()
    t.after(() => sandbox.close())
    const url = `sqlite:${join(tempDir(t), 'race.sqlite')}`
    const storeSpec = singleStore(parseStoreUrl(url, 'flag', process.cwd()))
    const { makeSession } = await import('../helpers/fixtures.js')
    let other = null
    await assert.rejects(
        runPair(qrPairing(storeSpec, sandbox, 'race'), {
            onProgress: event => {
                if (event.type !== 'qr') return
                void (async () => {
                    const store = await openTestStore(url, 'write')
                    other = await makeSession(store, 'race')
                    await store.close()
                    await sandbox.scan(event.qr)
                })()
            }
        }),
        error =>
            error.code === 'EXISTS' &&
            /another process/.test(error.message) &&
            // the device it linked is unlinked again, not left on the phone
            error.meta.unlinked === true &&
            /was unlinked from the phone again/.test(error.message)
    )
    const store = await openTestStore(url, 'read')
    t.after(() => store.close())
    assert.equal((await store.domain('auth', 'race').load()).meJid, other.credentials.meJid)
})

test('runPair refuses, before connecting, a Redis session whose clear would delete another session', async t => {
    const { dropStore, makeSession, storeUrls } = await import('../helpers/fixtures.js')
    const url = storeUrls().redis
    t.after(() => dropStore(url))
    const store = await openTestStore(url, 'write')
    await makeSession(store, 'shop', {
        paired: false,
        signalSessions: 0,
        identities: 0,
        senderKeys: 0,
        distributions: 0
    })
    await makeSession(store, 'shop:eu', {
        signalSessions: 0,
        identities: 0,
        senderKeys: 0,
        distributions: 0
    })
    await store.close()
    const storeSpec = singleStore(parseStoreUrl(url, 'flag', process.cwd()))
    let connected = false
    await assert.rejects(
        runPair(
            {
                storeSpec,
                sessionId: 'shop',
                method: { kind: 'qr' },
                force: true,
                timeoutMs: 5_000,
                server: {
                    url: 'ws://127.0.0.1:9/ws/chat',
                    rootCa: `1:${Buffer.alloc(32, 1).toString('base64')}`
                }
            },
            { onProgress: event => (connected ||= event.type === 'connecting') }
        ),
        error => error.code === 'USAGE' && /"shop:eu"/.test(error.message)
    )
    assert.equal(connected, false)
})
