/**
 * The forced stop (a second Ctrl-C): the last-resort clean-ups remove a temporary export file
 * and close open stores, and the process ends at once with 130 after one more line; the rerun
 * of an interrupted migration completes it (docs/interrupts.md).
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'

import { seed, tempDir, urlsFor } from '../helpers/export.js'
import { makeSession, openTestStore } from '../helpers/fixtures.js'
import { runZapo, ZAPO_BIN } from '../helpers/run.js'
import { storeDigest } from '../helpers/store-digest.js'
import { writeFileAtomic } from '../../dist/export/files.js'
import { runLastResorts } from '../../dist/interrupt.js'

test('a forced stop removes the temporary file of an export being written', async t => {
    const dir = tempDir(t)
    const out = join(dir, 'out.age')
    let release
    const held = new Promise(resolve => (release = resolve))
    async function* source() {
        yield new Uint8Array(1024)
        await held
        throw new Error('the process would have ended here')
    }
    const writing = writeFileAtomic(out, source(), { force: false }).catch(error => error)
    while (!readdirSync(dir).some(name => name.endsWith('.tmp')))
        await new Promise(r => setTimeout(r, 5))
    await runLastResorts(500)
    assert.deepEqual(readdirSync(dir), [], 'the temporary file is gone')
    release()
    await writing
    assert.equal(existsSync(out), false)
})

test('a forced stop closes open stores: a SQLite store leaves no -wal or -shm', async t => {
    const dir = tempDir(t)
    const path = join(dir, 'open.sqlite')
    const store = await openTestStore(`sqlite:${path}`, 'write')
    await makeSession(store, 'open')
    assert.ok(existsSync(`${path}-wal`), 'the store is open in WAL mode')
    await runLastResorts(500)
    assert.deepEqual(readdirSync(dir), ['open.sqlite'])
    await store.close()
})

test('a second Ctrl-C during a migration ends it at once with 130; the rerun completes it', async t => {
    const dir = tempDir(t)
    const urls = urlsFor(t)
    await seed(urls.sqlite, ['f1', 'f2'], { preKeys: 400, signalSessions: 20, identities: 20 })
    const source = await storeDigest(urls.sqlite)
    const args = [
        ...['migrate', '--from', urls.sqlite, '--to', urls.postgres, '--all'],
        ...['--batch-size', '20']
    ]
    const child = spawn(process.execPath, [ZAPO_BIN, ...args], {
        cwd: dir,
        env: { ...process.env, NO_COLOR: '1' },
        stdio: ['ignore', 'pipe', 'pipe']
    })
    let stderr = ''
    let first = null
    child.stderr.setEncoding('utf8').on('data', d => {
        stderr += d
        if (first === null && /^copy .*records/m.test(stderr)) {
            first = Date.now()
            child.kill('SIGINT')
            setTimeout(() => child.kill('SIGINT'), 10)
        }
    })
    const code = await new Promise(resolve => child.on('close', resolve))
    assert.equal(code, 130, stderr)
    assert.ok(first !== null && Date.now() - first < 2_000, 'it ended at once')
    const lines = stderr.split(/[\r\n]+/).filter(l => l.startsWith('zapo: '))
    assert.deepEqual(
        lines.map(l => l.replace(/:.*/s, '')),
        ['zapo', 'zapo'],
        `two lines: the stop, then the forced stop\n${stderr}`
    )
    assert.match(lines[0], /^zapo: stopping: .*Ctrl-C again to quit at once$/)
    assert.match(
        lines[1],
        /^zapo: interrupted again \(SIGINT\): stopped at once; run the same command again/
    )
    assert.doesNotMatch(stderr, /\n\s+at /)
    assert.equal(await storeDigest(urls.sqlite), source, 'the source is unchanged')
    const rerun = await runZapo(args, { cwd: dir, timeoutMs: 60_000 })
    assert.equal(rerun.code, 0, rerun.stderr)
    assert.match(rerun.stdout, /2\/2 session\(s\) verified/)
})
