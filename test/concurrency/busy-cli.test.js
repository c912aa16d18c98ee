/**
 * What a user sees when a session is busy or looks live (the built binary, a real SQLite store):
 * exit 21 and one line naming the holder; --wait; --overwrite-live; the usage errors of both flags.
 */

import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { readLease, takeLeases } from '../../dist/store/lease.js'
import { makeSession, openTestStore } from '../helpers/fixtures.js'
import { CLEAN_ZAPO_ENV, runZapo } from '../helpers/run.js'

const ENV = { ...CLEAN_ZAPO_ENV, ZAPO_SCRYPT_WORK_FACTOR: '10', ZAPO_PASSPHRASE: undefined }

describe('busy and live sessions on the command line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'zapo-busy-'))
    const store = `sqlite:${join(dir, 'zapo.sqlite')}`
    const pass = join(dir, 'pass')
    const file = join(dir, 'x.age')
    const zapo = (args, timeoutMs = 60_000) =>
        runZapo(['--store', store, ...args], { cwd: dir, env: ENV, timeoutMs })
    const importX = (...extra) =>
        zapo(['import', file, '--session', 'x', '--force', '--passphrase-file', pass, ...extra])

    before(async () => {
        const s = await openTestStore(store, 'write')
        try {
            await makeSession(s, 'x', { preKeys: 10, uploaded: 5 })
            const live = await makeSession(s, 'live', { preKeys: 10, uploaded: 5 })
            await s
                .domain('auth', 'live')
                .save({ ...live.credentials, lastSuccessTs: Math.floor(Date.now() / 1000) - 60 })
        } finally {
            await s.close()
        }
        writeFileSync(pass, 'busy passphrase\n', { mode: 0o600 })
        const exported = await zapo([
            'export',
            '--session',
            'x',
            '-o',
            file,
            '--passphrase-file',
            pass
        ])
        assert.equal(exported.code, 0, exported.stderr)
    })
    after(() => rmSync(dir, { recursive: true, force: true }))

    test('a held session: exit 21, one line naming the holder; nothing written', async () => {
        const s = await openTestStore(store, 'write')
        const held = await takeLeases(s.primary, ['x'], { command: 'migrate' })
        try {
            const result = await importX()
            assert.equal(result.code, 21, result.stderr)
            assert.equal(result.stdout, '')
            const host = hostname().replace(/[.]/g, '\\.')
            assert.match(
                result.stderr,
                new RegExp(
                    `^zapo: session "x" is in use by \`zapo migrate\` on host ${host} \\(pid ${process.pid}\\) since \\d{4}-\\d\\d-\\d\\dT[0-9:.]+Z: wait for it to finish, or rerun with --wait DURATION\\n$`
                )
            )
            assert.equal((await readLease(s.primary, 'x')).token, held.lease.token)
        } finally {
            await held.release()
            await s.close()
        }
    })

    test('sessions rm of a held session: exit 21, the session stays', async () => {
        const s = await openTestStore(store, 'write')
        const held = await takeLeases(s.primary, ['x'], { command: 'logs' })
        try {
            const result = await zapo(['sessions', 'rm', 'x', '--yes'])
            assert.equal(result.code, 21, result.stderr)
            assert.match(result.stderr, /^zapo: session "x" is in use by `zapo logs` on host /m)
            const list = await zapo(['sessions', 'list', '--json'])
            assert.ok(JSON.parse(list.stdout).sessions.some(x => x.id === 'x'))
        } finally {
            await held.release()
            await s.close()
        }
    })

    test('--wait waits for the holder, then goes on; too short a wait still exits 21', async () => {
        const s = await openTestStore(store, 'write')
        const held = await takeLeases(s.primary, ['x'], { command: 'logs' })
        try {
            const started = Date.now()
            const short = await importX('--wait', '1s')
            assert.equal(short.code, 21, short.stderr)
            assert.ok(Date.now() - started >= 1_000)
            assert.match(short.stderr, /in use by `zapo logs`/)
            const waiting = importX('--wait', '60s')
            setTimeout(() => void held.release(), 1_500)
            const result = await waiting
            assert.equal(result.code, 0, result.stderr)
        } finally {
            await held.release()
            await s.close()
        }
    })

    test('a session that logged in a minute ago is not replaced without --overwrite-live', async () => {
        const refused = await zapo([
            'import',
            file,
            '--session',
            'live',
            '--force',
            '--passphrase-file',
            pass
        ])
        assert.equal(refused.code, 21, refused.stderr)
        assert.match(
            refused.stderr,
            /\nzapo: session "live" looks live: it logged in [\d.]+(ms|s|m) ago \(within 10m\).*--overwrite-live to replace it anyway\n$/
        )
        const forced = await zapo([
            'import',
            file,
            '--session',
            'live',
            '--force',
            '--overwrite-live',
            '--passphrase-file',
            pass
        ])
        assert.equal(forced.code, 0, forced.stderr)
    })

    test('usage: --overwrite-live needs --force; --wait needs a duration', async () => {
        const alone = await zapo(['import', file, '--overwrite-live', '--passphrase-file', pass])
        assert.equal(alone.code, 2)
        assert.match(alone.stderr, /^zapo: --overwrite-live only applies with --force/)
        const pairAlone = await zapo(['pair', '--session', 'n', '--overwrite-live'])
        assert.equal(pairAlone.code, 2)
        const bad = await zapo(['--wait', 'soon', 'import', file, '--passphrase-file', pass])
        assert.equal(bad.code, 2)
        assert.match(bad.stderr, /^zapo: --wait "soon" is not a duration/)
    })
})
