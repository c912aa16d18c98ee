/**
 * Which session a command takes when none is named (issue 16, docs/sessions.md): fleet commands
 * every session, one-session commands the store's only one, removing commands none; the
 * built binary against a real SQLite store.
 */

import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { assertOneErrorLine } from '../helpers/cli-assert.js'
import { makeSession, openTestStore } from '../helpers/fixtures.js'
import { CLEAN_ZAPO_ENV, runZapo } from '../helpers/run.js'
import { LEAN_SHAPE } from '../helpers/shapes.js'
import { storeDigest } from '../helpers/store-digest.js'

const cwd = mkdtempSync(join(tmpdir(), 'zapo-session-defaults-'))
const url = `sqlite:${join(cwd, 'zapo.sqlite')}`
const zapo = (args, env = {}) => runZapo(args, { cwd, env: { ...CLEAN_ZAPO_ENV, ...env } })
writeFileSync(join(cwd, 'pass.txt'), 'correct horse battery staple\n', { mode: 0o600 })

async function seed(id) {
    const store = await openTestStore(url, 'write')
    try {
        await makeSession(store, id, LEAN_SHAPE)
    } finally {
        await store.close()
    }
}

before(() => seed('solo'))
after(() => rmSync(cwd, { recursive: true, force: true }))

test('one session in the store: creds show, export and check take it without --session', async () => {
    const creds = await zapo(['creds', 'show'])
    assert.equal(creds.code, 0, creds.stderr)
    assert.match(creds.stdout, /solo/)

    const exported = await zapo(['export', '-o', 'solo.age', '--passphrase-file', 'pass.txt'])
    assert.equal(exported.code, 0, exported.stderr)
    assert.match(exported.stdout, /exported 1 session .*\n\s+solo/)

    const check = await zapo(['check', '--json'])
    const report = JSON.parse(check.stdout)
    assert.deepEqual(
        report.sessions.map(s => s.sessionId),
        ['solo']
    )
})

test('logout never defaults: the id must be spelled out (exit 2, nothing touched)', async () => {
    const before = await storeDigest(url)
    const result = await zapo(['logout', '--yes'])
    assert.equal(result.code, 2)
    assertOneErrorLine(result, /no session given: pass --session ID/)
    assert.equal(await storeDigest(url), before)
})

test('ZAPO_SESSION wins over the only session', async () => {
    const result = await zapo(['creds', 'show'], { ZAPO_SESSION: 'elsewhere' })
    assert.equal(result.code, 3)
    assertOneErrorLine(result, /no session "elsewhere"/)
    const check = await zapo(['check', '--json'], { ZAPO_SESSION: 'solo' })
    assert.equal(JSON.parse(check.stdout).sessions.length, 1)
})

test('several sessions and no terminal: creds show and export exit 2 naming the ids; check takes all', async () => {
    await seed('duo')
    const creds = await zapo(['creds', 'show'])
    assert.equal(creds.code, 2)
    assertOneErrorLine(creds, /2 sessions in sqlite:.*: pass --session ID \(duo, solo\)/)
    const json = await zapo(['creds', 'show', '--json'])
    assert.deepEqual(JSON.parse(json.stdout).error.meta.sessions, ['duo', 'solo'])

    const exported = await zapo(['export', '-o', 'two.age', '--passphrase-file', 'pass.txt'])
    assert.equal(exported.code, 2)
    assertOneErrorLine(exported, /pass --session ID \(duo, solo\)/)
    assert.equal(existsSync(join(cwd, 'two.age')), false, 'no file written')

    const check = await zapo(['check', '--json'])
    assert.deepEqual(
        JSON.parse(check.stdout).sessions.map(s => s.sessionId),
        ['duo', 'solo']
    )
    const shard = await zapo(['check', '--shard', '1/2', '--json'])
    assert.ok([0, 9].includes(shard.code), shard.stderr)
    assert.ok(JSON.parse(shard.stdout).sessions.length <= 2)
    const oneShard = await zapo(['check', '--shard', '1/2', '--session', 'solo'])
    assert.equal(oneShard.code, 2)
    assertOneErrorLine(oneShard, /--shard .* does not apply to one session/)
})

test('a store without sessions: exit 3 saying how to pair one', async () => {
    const empty = `sqlite:${join(cwd, 'empty.sqlite')}`
    const store = await openTestStore(empty, 'write')
    await store.close()
    const result = await zapo(['--store', empty, 'creds', 'show'])
    assert.equal(result.code, 3, result.stderr)
    assertOneErrorLine(result, /no session in sqlite:.*empty\.sqlite: pair one/)
})
