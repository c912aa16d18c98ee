// whatsmeow → zapo end to end: a session zapo-js paired against the sandbox (with a Signal
// session a peer built and ratcheted) is written in whatsmeow's published layout
// (helpers/whatsmeow.js), read back through `whatsmeow:`, migrated into PostgreSQL, and zapo's
// client logs in from there as the same device without pairing and decrypts the peer's next
// message, which the peer encrypts on the session it already holds (`msg`: only the migrated
// Signal session can decrypt it). The whatsmeow file is byte-identical afterwards.

import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'

import { createWaClient } from '../../dist/client/create-client.js'
import { dropStore, openTestStore, storeUrls } from '../helpers/fixtures.js'
import { CLEAN_ZAPO_ENV, runZapo } from '../helpers/run.js'
import { writeWhatsmeowSqlite } from '../helpers/whatsmeow.js'
import { nextEvent, pairWithQr, startTestSandbox, tempDir, testLogger } from '../sandbox/helpers.js'

const PEER = '15550007777@s.whatsapp.net'
const sha = file => createHash('sha256').update(readFileSync(file)).digest('hex')

test('paired in the sandbox → whatsmeow layout → migrate --from whatsmeow: → logs in as the same device and decrypts the same peer', async t => {
    const sandbox = await startTestSandbox(t)
    const dir = tempDir(t)
    const urls = storeUrls()
    t.after(async () => {
        for (const url of Object.values(urls)) await dropStore(url).catch(() => undefined)
    })
    const path = join(dir, 'origin.sqlite')
    const origin = await pairWithQr(t, sandbox, { path, sessionId: 'tenant' })
    const first = nextEvent(origin.client, 'message')
    const sent1 = await sandbox.sendMessage({ to: origin.jid, from: PEER, text: 'before' })
    assert.equal(sent1.deliveries[0].type, 'pkmsg')
    assert.equal((await first).message.conversation, 'before')
    const atPeer = sandbox.waitFor('peer-message', m => m.peer === PEER)
    await origin.client.sendMessage(PEER, { conversation: 'reply' })
    await atPeer
    const second = nextEvent(origin.client, 'message')
    const sent2 = await sandbox.sendMessage({ to: origin.jid, from: PEER, text: 'ratcheting' })
    assert.equal(sent2.deliveries[0].type, 'msg')
    assert.equal((await second).message.conversation, 'ratcheting')
    await origin.cleanup()

    // what whatsmeow would hold for this device
    const wm = join(dir, 'whatsmeow.db')
    const jid = await writeWhatsmeowSqlite(wm, `sqlite:${path}`, 'tenant')
    assert.equal(jid, origin.jid)
    const print = sha(wm)
    const id = (() => {
        const [user, rest] = jid.split(':')
        return `${user}.${rest.split('@')[0]}`
    })()

    const migrated = await runZapo(
        ['migrate', '--from', `whatsmeow:${wm}`, '--to', urls.postgres, '--all'],
        { cwd: dir, env: CLEAN_ZAPO_ENV, timeoutMs: 60_000 }
    )
    assert.equal(migrated.code, 0, migrated.stderr)
    assert.match(migrated.stdout, /verified/)
    assert.equal(sha(wm), print, 'the whatsmeow database is byte-identical')

    const store = await openTestStore(urls.postgres, 'write')
    const client = createWaClient({
        store: await store.createWaStore(),
        sessionId: id,
        server: { url: sandbox.url, rootCa: sandbox.rootCa },
        logger: testLogger('from-whatsmeow')
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
    const third = nextEvent(
        client,
        'message',
        e => e.message?.conversation === 'after the move',
        40_000
    )
    const sent3 = await sandbox.sendMessage({ to: origin.jid, from: PEER, text: 'after the move' })
    assert.equal(sent3.deliveries[0].type, 'msg', 'only the migrated Signal session can decrypt it')
    assert.equal((await third).message.conversation, 'after the move')
    assert.equal(qrs, 0, 'no pairing was asked for')
})
