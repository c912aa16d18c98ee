/**
 * `zapo sessions rm ID`, the built binary against real stores: it removes exactly one session
 * (its neighbours' records are untouched), asks or needs --yes, never defaults, reports counts.
 */

import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { assertOneErrorLine } from '../helpers/cli-assert.js'
import { digestOf } from '../helpers/export.js'
import { dropStore, makeSession, openTestStore, storeUrls } from '../helpers/fixtures.js'
import { CLEAN_ZAPO_ENV, REPO_ROOT, runZapo } from '../helpers/run.js'
import { LEAN_SHAPE } from '../helpers/shapes.js'
import { storeDigest } from '../helpers/store-digest.js'

const cwd = mkdtempSync(join(tmpdir(), 'zapo-sessions-rm-'))
const zapo = args => runZapo(args, { cwd, env: CLEAN_ZAPO_ENV })
const urls = storeUrls()
after(async () => {
    for (const url of Object.values(urls)) await dropStore(url)
    rmSync(cwd, { recursive: true, force: true })
})

async function seed(url, ids) {
    const store = await openTestStore(url, 'write')
    const made = {}
    try {
        for (const id of ids) made[id] = await makeSession(store, id, LEAN_SHAPE)
    } finally {
        await store.close()
    }
    return made
}

for (const backend of ['sqlite', 'postgres', 'redis']) {
    test(`${backend}: rm removes that session's records and only those`, async () => {
        const url = urls[backend]
        const made = await seed(url, ['gone', 'gone-2', 'keep'])
        const before = await storeDigest(url)
        const neighbours = {
            'gone-2': await digestOf(url, 'gone-2'),
            keep: await digestOf(url, 'keep')
        }

        const refused = await zapo(['--store', url, 'sessions', 'rm', 'gone'])
        assert.equal(refused.code, 2)
        assertOneErrorLine(refused, /needs a confirmation: pass --yes/)
        assert.equal(await storeDigest(url), before, 'nothing removed without --yes')

        const removed = await zapo(['--store', url, 'sessions', 'rm', 'gone', '--yes', '--json'])
        assert.equal(removed.code, 0, removed.stderr)
        const doc = JSON.parse(removed.stdout)
        assert.deepEqual(doc.before, made.gone.counts)
        assert.ok(
            Object.values(doc.after).every(v => v === 0 || v === false),
            'nothing of the session is left'
        )
        const left = await digestOf(url, 'gone')
        assert.ok(Object.values(left.counts).every(v => v === 0 || v === false))
        for (const [id, digest] of Object.entries(neighbours))
            assert.deepEqual(await digestOf(url, id), digest, `${id} is untouched`)

        const again = await zapo(['--store', url, 'sessions', 'rm', 'gone', '--yes'])
        assert.equal(again.code, 3)
        assertOneErrorLine(again, /no session "gone" in .*nothing to remove/)
    })
}

test('human output: what is removed and that a linked device stays on the phone; never a default', async () => {
    const url = `sqlite:${join(cwd, 'human.sqlite')}`
    await seed(url, ['only'])
    const noId = await runZapo(['--store', url, 'sessions', 'rm', '--yes'], {
        cwd,
        env: { ...CLEAN_ZAPO_ENV, ZAPO_SESSION: 'only' }
    })
    assert.equal(noId.code, 2, 'no id: ZAPO_SESSION and the only session are not used')
    assert.match(noId.stderr, /missing required argument 'id'/)
    const bad = await zapo(['--store', url, 'sessions', 'rm', 'no/such', '--yes'])
    assert.equal(bad.code, 2)
    assertOneErrorLine(bad, /invalid session id/)

    const result = await zapo(['--store', url, 'sessions', 'rm', 'only', '--yes'])
    assert.equal(result.code, 0, result.stderr)
    assert.match(
        result.stdout,
        /^removed only from sqlite:.*: credentials · registration \+ signed prekey · \d+ prekeys \(\d+ uploaded\)/
    )
    assert.match(result.stderr, /removing only \(\d+:\d+@s\.whatsapp\.net\)/)
    assert.match(result.stderr, /stays listed on the phone/)
    const list = await zapo(['--store', url, 'sessions', 'list', '-q'])
    assert.equal(list.stdout, '')
})

test('on a terminal: it asks, and "no" exits 22 with the session unchanged', async t => {
    const url = `sqlite:${join(cwd, 'tty.sqlite')}`
    await seed(url, ['asked'])
    const before = await storeDigest(url)
    const run = answer =>
        new Promise((resolve, reject) => {
            const command = `stty cols 100 rows 30; node '${join(REPO_ROOT, 'bin', 'zapo.js')}' --store '${url}' sessions rm asked`
            const child = spawn('script', ['-qec', command, '/dev/null'], {
                cwd,
                env: { ...process.env, ...CLEAN_ZAPO_ENV, NO_COLOR: '1' },
                stdio: ['pipe', 'pipe', 'pipe']
            })
            let output = ''
            let answered = false
            const timer = setTimeout(() => child.kill('SIGKILL'), 20_000)
            child.stdout.setEncoding('utf8').on('data', chunk => {
                output += chunk
                if (!answered && /Remove asked from/.test(output)) {
                    answered = true
                    child.stdin.write(answer)
                }
            })
            child.on('error', reject)
            child.on('close', code => {
                clearTimeout(timer)
                resolve({ code, output })
            })
        })
    const declined = await run('n\r')
    if (declined.code === null) t.skip('no script(1) terminal')
    assert.equal(declined.code, 22, declined.output)
    assert.match(declined.output, /not removed: asked is unchanged/)
    assert.equal(await storeDigest(url), before)
    const accepted = await run('y\r')
    assert.equal(accepted.code, 0, accepted.output)
    assert.match(accepted.output, /removed asked/)
})
