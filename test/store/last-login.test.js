/**
 * One reader of a session's last login (src/store/last-login.ts): seconds (what zapo-js 0.3
 * stores) and milliseconds read alike by check, sessions list and creds show.
 */

import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { lastLoginMs } from '../../dist/store/last-login.js'
import { dropStore, makeSession, openTestStore, storeUrls } from '../helpers/fixtures.js'
import { CLEAN_ZAPO_ENV, runZapo } from '../helpers/run.js'

const DAY = 86_400_000

test('lastLoginMs: seconds and milliseconds alike; nothing recorded is null', () => {
    const ms = Date.UTC(2026, 0, 2, 3, 4, 5)
    assert.equal(lastLoginMs({ lastSuccessTs: ms / 1000 }), ms)
    assert.equal(lastLoginMs({ lastSuccessTs: ms }), ms)
    for (const none of [undefined, null, 0, -5, Number.NaN, Infinity])
        assert.equal(lastLoginMs(none === undefined ? {} : { lastSuccessTs: none }), null)
    assert.equal(lastLoginMs(null), null)
})

describe('a last login stored in milliseconds, 20 days ago', () => {
    const url = storeUrls().sqlite
    const cwd = mkdtempSync(join(tmpdir(), 'zapo-lastlogin-'))
    const zapo = args => runZapo(['--store', url, ...args], { cwd, env: CLEAN_ZAPO_ENV })
    const loginMs = Date.now() - 20 * DAY

    before(async () => {
        const store = await openTestStore(url, 'write')
        try {
            const made = await makeSession(store, 'ms-login', { preKeys: 40, uploaded: 30 })
            await store
                .domain('auth', 'ms-login')
                .save({ ...made.credentials, lastSuccessTs: loginMs })
        } finally {
            await store.close()
        }
    })
    after(() => dropStore(url))

    test('check fails since-login (exit 9) with the age in days, not "0 s ago"', async () => {
        const result = await zapo(['check', '--session', 'ms-login', '--json'])
        assert.equal(result.code, 9, result.stdout + result.stderr)
        const session = JSON.parse(result.stdout).sessions[0]
        assert.deepEqual(session.failures, ['since-login'])
        const login = session.checks.find(c => c.name === 'since-login')
        assert.ok(Math.abs(login.value - 20 * DAY) < 60_000, String(login.value))
    })

    test('sessions list and creds show print the same instant', async () => {
        const iso = new Date(loginMs).toISOString()
        const list = await zapo(['sessions', 'list', '--json'])
        assert.equal(list.code, 0, list.stderr)
        const listed = JSON.parse(list.stdout).sessions.find(s => s.id === 'ms-login')
        assert.equal(listed.lastLoginAt, iso)
        const creds = await zapo(['creds', 'show', '--session', 'ms-login', '--json'])
        assert.equal(creds.code, 0, creds.stderr)
        assert.match(creds.stdout, new RegExp(`"lastLoginAt":\\s*"${iso.replace(/\./g, '\\.')}"`))
    })
})
