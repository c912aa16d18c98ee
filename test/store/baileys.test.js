/**
 * `baileys:DIR` end to end, with folders the real Baileys library wrote (helpers/baileys.js):
 * read commands work, the session migrates into zapo stores and verifies, and the migrated
 * Signal state is the same state — zapo-js decrypts the peers' next messages (one of them a
 * skipped message key), the group's next message, and a peer's libsignal decrypts what zapo-js
 * encrypts in the sessions Baileys opened. The folder is byte-identical afterwards.
 */

import assert from 'node:assert/strict'
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { converse, folderFingerprint, makeBaileysFolder } from '../helpers/baileys.js'
import { dropStore, openTestStore, storeUrls } from '../helpers/fixtures.js'
import { CLEAN_ZAPO_ENV, runZapo } from '../helpers/run.js'

const root = mkdtempSync(join(tmpdir(), 'zapo-baileys-'))
const env = { ...CLEAN_ZAPO_ENV, ZAPO_PASSPHRASE: 'correct horse battery staple' }
const zapo = args => runZapo(args, { cwd: root, env, timeoutMs: 60_000 })
const urls = storeUrls()

after(async () => {
    for (const url of Object.values(urls)) await dropStore(url).catch(() => undefined)
    rmSync(root, { recursive: true, force: true })
})

describe('a Baileys folder read as a store', () => {
    let account
    let before_
    const dir = join(root, 'tenant-42')
    before(async () => {
        account = await makeBaileysFolder(dir, { peers: 2 })
        before_ = folderFingerprint(dir)
    })

    test('sessions list names the folder as the session, with its records', async () => {
        const r = await zapo(['sessions', 'list', '--store', `baileys:${dir}`, '--json'])
        assert.equal(r.code, 0, r.stderr)
        const out = JSON.parse(r.stdout)
        assert.equal(out.sessions.length, 1)
        const s = out.sessions[0]
        assert.equal(s.id, 'tenant-42')
        assert.equal(s.meJid, account.meJid)
        assert.equal(s.counts.signalSessions, 3)
        assert.equal(s.counts.senderKeys, 3)
        assert.equal(s.counts.senderKeyDistributions, 2)
        assert.equal(s.counts.appStateSyncKeys, 1)
        assert.equal(s.counts.appStateCollections, 1)
        // two of 35 prekeys were used by the peers' sessions (Baileys removed them); 28 uploaded
        assert.equal(s.counts.preKeys, 33)
        assert.equal(s.counts.preKeysUploaded, 28)
    })

    test('?session= names it otherwise', async () => {
        const r = await zapo([
            'sessions',
            'list',
            '--store',
            `baileys:${dir}?session=t42`,
            '--json'
        ])
        assert.equal(r.code, 0, r.stderr)
        assert.deepEqual(
            JSON.parse(r.stdout).sessions.map(s => s.id),
            ['t42']
        )
    })

    test('creds show passes every integrity check; offline check is OK', async () => {
        const creds = await zapo([
            'creds',
            'show',
            '--session',
            'tenant-42',
            '--store',
            `baileys:${dir}`,
            '--json'
        ])
        assert.equal(creds.code, 0, creds.stderr)
        const view = JSON.parse(creds.stdout)
        assert.equal(
            view.integrity.failed ?? view.integrity.checks.filter(c => c.status === 'fail').length,
            0
        )
        assert.doesNotMatch(
            creds.stdout,
            new RegExp(Buffer.from(account.creds.noiseKey.private).toString('base64').slice(0, 20))
        )
        const check = await zapo(['check', '--all', '--store', `baileys:${dir}`])
        assert.equal(check.code, 0, check.stderr)
    })

    test('migrate --dry-run lists what is not carried over, and writes nothing', async () => {
        const r = await zapo([
            'migrate',
            '--from',
            `baileys:${dir}`,
            '--to',
            urls.sqlite,
            '--all',
            '--dry-run'
        ])
        assert.equal(r.code, 0, r.stderr)
        assert.match(r.stdout, /not carried: creds\.json bookkeeping .*processedHistoryMessages/)
        assert.equal(existsSync(urls.sqlite.slice('sqlite:'.length)), false)
    })

    test('export then import: the same session in a zapo store', async () => {
        const file = join(root, 't42.age')
        const ex = await zapo([
            'export',
            '--session',
            'tenant-42',
            '--store',
            `baileys:${dir}`,
            '-o',
            file
        ])
        assert.equal(ex.code, 0, ex.stderr)
        const target = `sqlite:${join(root, 'imported.sqlite')}`
        const im = await zapo(['import', file, '--store', target])
        assert.equal(im.code, 0, im.stderr)
        const list = await zapo(['sessions', 'list', '--store', target, '--json'])
        assert.equal(JSON.parse(list.stdout).sessions[0].meJid, account.meJid)
    })

    test('the folder is byte-identical after every command', () => {
        assert.deepEqual(folderFingerprint(dir), before_)
    })
})

/**
 * Migrates a fresh Baileys folder into `url` and proves the Signal state works in zapo-js.
 */
async function migrateAndTalk(name, url) {
    const dir = join(root, name)
    const account = await makeBaileysFolder(dir, { peers: 2 })
    const fingerprint = folderFingerprint(dir)
    const r = await zapo(['migrate', '--from', `baileys:${dir}`, '--to', url, '--all'])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, new RegExp(`${name}\\s+copy\\s+\\d+ copied\\s+verified`))
    assert.match(r.stdout, /not carried over/)
    assert.deepEqual(folderFingerprint(dir), fingerprint, 'the folder is untouched')

    const store = await openTestStore(url, 'write')
    try {
        await converse(store, name, account)
    } finally {
        await store.close()
    }
}

describe('migrated from Baileys, the sessions go on in zapo-js', () => {
    test('into SQLite', () => migrateAndTalk('to-sqlite', urls.sqlite))
    test('into PostgreSQL', () => migrateAndTalk('to-postgres', urls.postgres))
    test('into Redis', () => migrateAndTalk('to-redis', urls.redis))
})

describe('a folder with one session per subfolder (the WAHA / Evolution layout)', () => {
    const dir = join(root, 'sessions')
    before(async () => {
        mkdirSync(dir)
        await makeBaileysFolder(join(dir, 'alpha'), { peers: 0, phone: '15550002222' })
        await makeBaileysFolder(join(dir, 'beta'), { peers: 1, phone: '15550003333' })
    })

    test('every subfolder is a session', async () => {
        const r = await zapo(['sessions', 'list', '--store', `baileys:${dir}`, '--json'])
        assert.equal(r.code, 0, r.stderr)
        assert.deepEqual(
            JSON.parse(r.stdout).sessions.map(s => s.id),
            ['alpha', 'beta']
        )
    })

    test('?session= is refused there, exit 2', async () => {
        const r = await zapo(['sessions', 'list', '--store', `baileys:${dir}?session=x`])
        assert.equal(r.code, 2)
        assert.match(r.stderr, /one session per subfolder/)
    })
})
