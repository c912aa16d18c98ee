/**
 * `whatsmeow:` and `whatsmeow+postgres:` end to end. whatsmeow cannot run here, so its stores
 * are written from its published schema (helpers/whatsmeow.js) from a real session: a folder
 * the real Baileys wrote (peers running libsignal-node), migrated into zapo, then laid out as
 * whatsmeow lays it out. Read back through `whatsmeow:`, migrated again, the Signal state goes
 * on: zapo-js decrypts the peers' next messages and the group's, and the peers decrypt its
 * replies. The whatsmeow database is byte-identical afterwards; bad databases are refused.
 */

import assert from 'node:assert/strict'
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { after, describe, test } from 'node:test'
import Database from 'better-sqlite3'
import { converse, folderFingerprint, makeBaileysFolder } from '../helpers/baileys.js'
import { assertOneErrorLine } from '../helpers/cli-assert.js'
import { dropStore, openTestStore, randomTag, storeUrls } from '../helpers/fixtures.js'
import { CLEAN_ZAPO_ENV, runZapo } from '../helpers/run.js'
import {
    dropWhatsmeowPostgres,
    writeWhatsmeowPostgres,
    writeWhatsmeowSqlite
} from '../helpers/whatsmeow.js'

const root = mkdtempSync(join(tmpdir(), 'zapo-whatsmeow-'))
const env = { ...CLEAN_ZAPO_ENV }
const zapo = args => runZapo(args, { cwd: root, env, timeoutMs: 60_000 })
const urls = storeUrls()
const PG = process.env.ZAPO_TEST_PG ?? 'postgres://root@127.0.0.1:5432/test'
const schema = `wm_${randomTag()}`

after(async () => {
    for (const url of Object.values(urls)) await dropStore(url).catch(() => undefined)
    await dropWhatsmeowPostgres(PG, schema).catch(() => undefined)
    rmSync(root, { recursive: true, force: true })
})

/** A real session as a zapo SQLite store: `{ account, url, sessionId }`. */
async function realSession(name) {
    const account = await makeBaileysFolder(join(root, name), { peers: 2 })
    const url = `sqlite:${join(root, `${name}.sqlite`)}`
    const r = await zapo(['migrate', '--from', `baileys:${join(root, name)}`, '--to', url, '--all'])
    assert.equal(r.code, 0, r.stderr)
    return { account, url, sessionId: name }
}

describe('a whatsmeow SQLite store', () => {
    test('lists, shows, migrates and goes on talking; the file is untouched', async () => {
        const { account, url, sessionId } = await realSession('wm-sqlite')
        const file = join(root, 'whatsmeow.db')
        await writeWhatsmeowSqlite(file, url, sessionId)
        const print = folderFingerprint(root)[`whatsmeow.db`]
        const id = `${account.phone}.${account.device}`

        const list = await zapo(['sessions', 'list', '--store', `whatsmeow:${file}`, '--json'])
        assert.equal(list.code, 0, list.stderr)
        const [s] = JSON.parse(list.stdout).sessions
        assert.equal(s.id, id)
        assert.equal(s.meJid, account.meJid)
        assert.equal(s.counts.signalSessions, 3)
        assert.equal(s.counts.senderKeys, 3)

        const creds = await zapo(['creds', 'show', '--session', id, '--store', `whatsmeow:${file}`])
        assert.equal(creds.code, 0, creds.stderr)
        assert.match(creds.stdout, /Integrity\s+consistent/)

        const dry = await zapo([
            'migrate',
            '--from',
            `whatsmeow:${file}`,
            '--to',
            urls.sqlite,
            '--all',
            '--dry-run'
        ])
        assert.equal(dry.code, 0, dry.stderr)
        assert.match(dry.stdout, /not carried: 1 contacts \(whatsmeow_contacts\)/)
        assert.match(dry.stdout, /not carried: 1 LID mappings/)

        const r = await zapo([
            'migrate',
            '--from',
            `whatsmeow:${file}`,
            '--to',
            urls.sqlite,
            '--all'
        ])
        assert.equal(r.code, 0, r.stderr)
        assert.match(r.stdout, /verified/)
        assert.equal(
            folderFingerprint(root)['whatsmeow.db'],
            print,
            'the database is byte-identical'
        )
        assert.deepEqual(
            readdirSync(root).filter(n => n.startsWith('whatsmeow.db')),
            ['whatsmeow.db'],
            'no journal, -wal or -shm next to it'
        )
        const store = await openTestStore(urls.sqlite, 'write')
        try {
            await converse(store, id, account)
        } finally {
            await store.close()
        }
    })
})

describe('a whatsmeow PostgreSQL store', () => {
    test('read in a read-only transaction, migrated to Redis, goes on talking', async () => {
        const { account, url, sessionId } = await realSession('wm-postgres')
        const written = await writeWhatsmeowPostgres(PG, schema, url, sessionId)
        const address = `${written.url}&session=moved`
        const list = await zapo(['sessions', 'list', '--store', address, '--json'])
        assert.equal(list.code, 0, list.stderr)
        assert.deepEqual(
            JSON.parse(list.stdout).sessions.map(s => s.id),
            ['moved']
        )
        const r = await zapo(['migrate', '--from', address, '--to', urls.redis, '--all'])
        assert.equal(r.code, 0, r.stderr)
        assert.match(r.stdout, /moved\s+copy\s+\d+ copied\s+verified/)
        const store = await openTestStore(urls.redis, 'write')
        try {
            await converse(store, 'moved', account)
        } finally {
            await store.close()
        }
    })
})

describe('bad whatsmeow stores: one line, a code from the table, nothing written', () => {
    let good
    test('setup', async () => {
        const { url, sessionId } = await realSession('wm-bad')
        good = join(root, 'good.db')
        await writeWhatsmeowSqlite(good, url, sessionId)
    })

    const variant = (name, sql) => {
        const file = join(root, name)
        copyFileSync(good, file)
        const db = new Database(file)
        db.exec(sql)
        db.close()
        return file
    }

    async function refused(file, code, pattern) {
        const before = folderFingerprint(root)[file.slice(root.length + 1)]
        const target = join(root, `t-${randomTag()}.sqlite`)
        const r = await zapo([
            'migrate',
            '--from',
            `whatsmeow:${file}`,
            '--to',
            `sqlite:${target}`,
            '--all'
        ])
        assert.equal(r.code, code, r.stderr)
        assertOneErrorLine(r, pattern)
        assert.equal(existsSync(target), false)
        assert.equal(folderFingerprint(root)[file.slice(root.length + 1)], before)
    }

    test('a newer schema: exit 18', async () => {
        const file = variant('newer.db', 'UPDATE whatsmeow_version SET version = 99, compat = 20')
        await refused(file, 18, /schema v99 \(readable from v20 on\), newer than zapo knows/)
    })
    test('an older schema: exit 18', async () => {
        const file = variant('older.db', 'UPDATE whatsmeow_version SET version = 5, compat = 5')
        await refused(file, 18, /schema v5, older than v8/)
    })
    test('no version table: exit 18', async () => {
        const file = variant('noversion.db', 'DROP TABLE whatsmeow_version')
        await refused(file, 18, /records no whatsmeow schema version/)
    })
    test('no device logged in: exit 6', async () => {
        const file = variant('loggedout.db', 'DELETE FROM whatsmeow_device')
        await refused(file, 6, /holds no logged-in device/)
    })
    test('not a whatsmeow database: exit 4', async () => {
        const file = variant('other.db', 'DROP TABLE whatsmeow_device')
        await refused(file, 4, /is not a whatsmeow store/)
    })
    test('a damaged Signal session: exit 5', async () => {
        const file = variant('damaged.db', "UPDATE whatsmeow_sessions SET session = x'0a0302'")
        await refused(file, 5, /does not convert/)
    })
    test('--to the whatsmeow file itself (spelled through ..): exit 2, the file untouched', async () => {
        const before = folderFingerprint(root)['good.db']
        const r = await zapo([
            'migrate',
            '--from',
            `whatsmeow:${good}`,
            '--to',
            `sqlite:${join(root, '..', basename(root), 'good.db')}`,
            '--all'
        ])
        assert.equal(r.code, 2, r.stderr)
        assertOneErrorLine(r, /would write into the foreign store .*: nothing is ever written/)
        assert.equal(folderFingerprint(root)['good.db'], before)
    })
    test('a file that does not exist: exit 3', async () => {
        const r = await zapo(['sessions', 'list', '--store', `whatsmeow:${join(root, 'none.db')}`])
        assert.equal(r.code, 3)
        assertOneErrorLine(r, /does not exist/)
        assert.equal(existsSync(join(root, 'none.db')), false)
    })
    test('migrate --to whatsmeow: is refused, exit 2', async () => {
        const r = await zapo([
            'migrate',
            '--from',
            urls.sqlite,
            '--to',
            `whatsmeow:${good}`,
            '--all'
        ])
        assert.equal(r.code, 2)
        assertOneErrorLine(r, /is a whatsmeow store, which zapo only reads/)
    })
})
