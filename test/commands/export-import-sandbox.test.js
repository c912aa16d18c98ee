// The strongest export/import test: a session paired through the sandbox, holding a Signal
// session with a peer, is exported with `zapo export`, imported into another backend with
// `zapo import`, and from there reconnects without pairing and decrypts a new message from
// that same peer, which the peer encrypts on the session it already holds: after the device
// replied, the peer ratchets (`msg`, no prekey material), so only the imported Signal session
// can decrypt it. The control run proves it: the same move without the `session` domain cannot
// decrypt the peer's next message (the device answers it with a retry receipt).

import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'

import { createWaClient } from '../../dist/client/create-client.js'
import { dropStore, openTestStore, storeUrls } from '../helpers/fixtures.js'
import { runZapo } from '../helpers/run.js'
import { nextEvent, pairWithQr, startTestSandbox, tempDir, testLogger } from '../sandbox/helpers.js'

const ENV = {
    ZAPO_SCRYPT_WORK_FACTOR: '10',
    ZAPO_PASSPHRASE: undefined,
    ZAPO_STORE: undefined,
    ZAPO_SESSION: undefined
}
const PEER = '15550007777@s.whatsapp.net'

const CASES = [
    { target: 'postgres', domains: null, decrypts: true },
    { target: 'redis', domains: null, decrypts: true },
    {
        target: 'mysql',
        domains: 'auth,signal,preKey,identity,senderKey,appState,privacyToken',
        decrypts: false
    }
]

for (const { target: targetKind, domains, decrypts } of CASES) {
    const title = decrypts
        ? `paired in the sandbox → export → import into ${targetKind} → reconnects without pairing and decrypts the same peer`
        : `control: the same move without the session domain (into ${targetKind}) cannot decrypt the peer's next message`
    test(title, async t => {
        const sandbox = await startTestSandbox(t)
        const dir = tempDir(t)
        const urls = storeUrls()
        t.after(async () => {
            for (const url of Object.values(urls)) await dropStore(url).catch(() => undefined)
        })
        const path = join(dir, 'origin.sqlite')

        // pair, and let the peer build a Signal session with the device
        const origin = await pairWithQr(t, sandbox, { path, sessionId: 'tenant' })
        const first = nextEvent(origin.client, 'message')
        const sent1 = await sandbox.sendMessage({
            to: origin.jid,
            from: PEER,
            text: 'before the move'
        })
        assert.equal(sent1.deliveries[0].type, 'pkmsg')
        assert.equal((await first).message.conversation, 'before the move')
        // the device answers; from then on the peer ratchets on the established session
        const atPeer = sandbox.waitFor('peer-message', m => m.peer === PEER)
        await origin.client.sendMessage(PEER, { conversation: 'reply from the device' })
        assert.equal((await atPeer).text, 'reply from the device')
        const second = nextEvent(origin.client, 'message')
        // the sandbox delivers a message again until the device acknowledges it: the original
        // stops only once it has (else the imported copy is handed 'ratcheting' a second time)
        const acked = sandbox.waitFor(
            'client-stanza',
            e => ['receipt', 'ack'].includes(e.node.tag) && e.node.attrs?.id === 'RATCHET0001',
            40_000
        )
        const sent2 = await sandbox.sendMessage({
            to: origin.jid,
            from: PEER,
            text: 'ratcheting',
            id: 'RATCHET0001'
        })
        assert.equal(
            sent2.deliveries[0].type,
            'msg',
            'the peer now ratchets on the established session'
        )
        assert.equal((await second).message.conversation, 'ratcheting')
        await acked
        // the original stops before the copy runs anywhere else (one connection per device)
        await origin.cleanup()

        writeFileSync(join(dir, 'pass.txt'), 'move me safely\n', { mode: 0o600 })
        const exported = await runZapo(
            [
                '--store',
                `sqlite:${path}`,
                'export',
                '--session',
                'tenant',
                '-o',
                'tenant.age',
                '--passphrase-file',
                'pass.txt',
                '--json',
                ...(domains ? ['--domains', domains] : [])
            ],
            { cwd: dir, env: ENV }
        )
        assert.equal(exported.code, 0, exported.stderr)
        assert.match(
            exported.stderr,
            /logged in [\d.]+(ms|s|m|h) ago and may be running/,
            'a session that just logged in gets a warning'
        )
        const summary = JSON.parse(exported.stdout)
        assert.equal(summary.sessions[0].meJid, origin.jid)
        if (decrypts)
            assert.ok(
                summary.sessions[0].counts.signalSessions >= 1,
                'the export holds the Signal session'
            )

        const target = urls[targetKind]
        const imported = await runZapo(
            ['--store', target, 'import', 'tenant.age', '--passphrase-file', 'pass.txt'],
            { cwd: dir, env: ENV }
        )
        assert.equal(imported.code, 0, `import failed: ${imported.stderr}`)

        // a client on the imported store: no QR, no pairing, straight to a login
        const store = await openTestStore(target, 'write')
        const waStore = await store.createWaStore()
        const client = createWaClient({
            store: waStore,
            sessionId: 'tenant',
            server: { url: sandbox.url, rootCa: sandbox.rootCa },
            logger: testLogger('imported')
        })
        let qrs = 0
        client.on('auth_qr', () => (qrs += 1))
        t.after(async () => {
            await client.disconnect().catch(() => undefined)
            await store.close().catch(() => undefined)
        })
        const loggedIn = nextEvent(client, 'connection_success', () => true, 40_000)
        await client.connect()
        await loggedIn
        assert.equal(client.getCredentials()?.meJid, origin.jid, 'the same device logged in')

        // a device that cannot decrypt asks the sender to retry (a `receipt type=retry`)
        const isRetry = event => event.node.tag === 'receipt' && event.node.attrs?.type === 'retry'
        const retries = []
        sandbox.on('client-stanza', event => {
            if (isRetry(event)) retries.push(event.node)
        })
        const retried = decrypts ? null : sandbox.waitFor('client-stanza', isRetry, 40_000)
        const wanted = event => event.message?.conversation === 'after the move'
        let decrypted = false
        client.on('message', event => {
            if (wanted(event)) decrypted = true
        })
        const third = decrypts ? nextEvent(client, 'message', wanted, 40_000) : null
        const sent3 = await sandbox.sendMessage({
            to: origin.jid,
            from: PEER,
            text: 'after the move'
        })
        assert.equal(
            sent3.deliveries[0].type,
            'msg',
            'the peer kept its session: only the imported one decrypts this'
        )
        if (decrypts) {
            const received = await third
            assert.equal(received.message.conversation, 'after the move')
        } else {
            await retried
            assert.equal(
                decrypted,
                false,
                'without the Signal session the message must not decrypt'
            )
        }
        if (decrypts)
            assert.equal(retries.length, 0, 'no retry receipt: the message decrypted at once')
        assert.equal(qrs, 0, 'no pairing was asked for')
    })
}
