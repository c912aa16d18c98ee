/**
 * The move from Baileys to zapo-js with the real library, end to end: a real Baileys 6.x socket
 * (its own `useMultiFileAuthState`) pairs against the sandbox, simulated peers send it a 1:1
 * and a group message so Baileys itself writes the Signal sessions and the sender key, it
 * answers one peer, and stops. `zapo migrate --from baileys:DIR --to <store> --all` (SQLite,
 * PostgreSQL, Redis); `zapo logs --json` logs in from the target as the same device, without
 * pairing, on the same sandbox; the same peers send the next message in the same Signal session
 * and the same group, and both show decrypted. The folder is byte-identical afterwards. Also:
 * `export` of the Baileys session and `import` of that file.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'

import { baileysFolderWithMessages } from '../helpers/baileys-client.js'
import { dropStore, storeUrls } from '../helpers/fixtures.js'
import { CLEAN_ZAPO_ENV, runZapo } from '../helpers/run.js'
import { startTestSandbox, tempDir } from '../sandbox/helpers.js'

const ENV = { ...CLEAN_ZAPO_ENV, ZAPO_PASSPHRASE: 'correct horse battery staple' }

/** Every file of the folder: name, mode, size, mtime and SHA-256 of the bytes. */
function fingerprint(dir) {
    return readdirSync(dir)
        .sort()
        .map(name => {
            const path = join(dir, name)
            const stat = statSync(path)
            const hash = createHash('sha256').update(readFileSync(path)).digest('hex')
            return `${name} ${stat.mode.toString(8)} ${stat.size} ${stat.mtimeMs} ${hash}`
        })
}

/** Baileys pairs and receives on `sandbox`, the folder is migrated into `url`, zapo logs on. */
async function moveAndReceive(t, sandbox, { kind, url }) {
    const work = tempDir(t)
    const session = `from-baileys-${kind}`
    const dir = join(work, session)
    const group = '120363000000000077'
    const moved = await baileysFolderWithMessages(t, sandbox, dir, {
        alice: '15550007001',
        bob: '15550007002',
        group
    })
    const before = fingerprint(dir)
    const zapo = (args, timeoutMs = 60_000) => runZapo(args, { cwd: work, env: ENV, timeoutMs })

    const migrated = await zapo(['migrate', '--from', `baileys:${dir}`, '--to', url, '--all'])
    assert.equal(migrated.code, 0, migrated.stderr)
    assert.match(migrated.stdout, new RegExp(`${session}\\s+copy\\s+\\d+ copied\\s+verified`))

    // zapo logs logs in from the target as the Baileys device: no pairing, same JID
    const loggedIn = sandbox.waitFor('login', event => event.jid === moved.jid, 60_000)
    const pairing = []
    const notePairing = event => pairing.push(event)
    sandbox.on('qr', notePairing)
    sandbox.on('paired', notePairing)
    t.after(() => {
        sandbox.off('qr', notePairing)
        sandbox.off('paired', notePairing)
    })
    const logs = zapo(
        [
            'logs',
            '--session',
            session,
            '--store',
            url,
            '--json',
            '--type',
            'message',
            '--count',
            '2',
            '--timeout',
            '90s',
            '--server',
            sandbox.url,
            '--server-root-ca',
            sandbox.rootCa
        ],
        120_000
    )
    await loggedIn

    // the next messages from the same peers: the same 1:1 session (ratcheting on after Baileys's
    // answer) and the same group sender key (no new distribution)
    const direct = await sandbox.sendMessage({ to: moved.jid, from: moved.alice, text: 'next 1:1' })
    assert.deepEqual(
        direct.deliveries.map(d => d.type),
        ['msg']
    )
    const grouped = await sandbox.sendGroupMessage({
        to: moved.jid,
        group,
        from: moved.bob,
        text: 'next in group'
    })
    assert.deepEqual(
        grouped.deliveries.map(d => d.distribution),
        [null]
    )

    const result = await logs
    assert.equal(result.code, 0, result.stderr)
    const messages = result.stdout
        .trim()
        .split('\n')
        .map(line => JSON.parse(line))
        .filter(record => record.type === 'message')
    // (zapo-js may surface them in either order)
    assert.deepEqual(
        messages
            .map(m => [m.chat, m.from.split(':')[0].split('@')[0], m.encryption, m.text])
            .sort((a, b) => a[0].localeCompare(b[0])),
        [
            [`${group}@g.us`, '15550007002', 'skmsg', 'next in group'],
            [moved.alice, '15550007001', 'msg', 'next 1:1']
        ]
    )
    assert.deepEqual(pairing, [], 'the device logged in without pairing')
    assert.deepEqual(fingerprint(dir), before, 'the Baileys folder is byte-identical')
}

test('Baileys pairs and receives; migrate to SQLite, PostgreSQL and Redis; zapo logs decrypts the next messages in the same sessions', async t => {
    const sandbox = await startTestSandbox(t)
    const urls = storeUrls()
    for (const kind of ['sqlite', 'postgres', 'redis']) {
        t.after(() => dropStore(urls[kind]))
        await t.test(kind, t2 => moveAndReceive(t2, sandbox, { kind, url: urls[kind] }))
    }
})

test('export of a Baileys session, import of that file: the same device in a zapo store', async t => {
    const sandbox = await startTestSandbox(t)
    const work = tempDir(t)
    const dir = join(work, 'exported')
    const moved = await baileysFolderWithMessages(t, sandbox, dir)
    const before = fingerprint(dir)
    const zapo = args => runZapo(args, { cwd: work, env: ENV, timeoutMs: 60_000 })
    const file = join(work, 'exported.age')
    const exported = await zapo([
        'export',
        '--session',
        'exported',
        '--store',
        `baileys:${dir}`,
        '-o',
        file
    ])
    assert.equal(exported.code, 0, exported.stderr)
    const target = `sqlite:${join(work, 'imported.sqlite')}`
    const imported = await zapo(['import', file, '--store', target])
    assert.equal(imported.code, 0, imported.stderr)
    const list = await zapo(['sessions', 'list', '--store', target, '--json'])
    assert.equal(list.code, 0, list.stderr)
    const [session] = JSON.parse(list.stdout).sessions
    assert.equal(session.id, 'exported')
    assert.equal(session.meJid, moved.jid)
    assert.ok(session.counts.signalSessions >= 3)
    assert.deepEqual(fingerprint(dir), before, 'the Baileys folder is byte-identical')
})
