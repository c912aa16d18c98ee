/**
 * The concurrency scenarios of issue 17, as data shared by test/concurrency/writers.test.js (a
 * short run) and bench/concurrency.js (many runs): two zapo processes started against the same
 * sessions with a seeded delay between them, on SQLite, PostgreSQL or Redis, then the
 * assertions every run must pass:
 * - no session is lost from both stores;
 * - no exit 0 for state that is not stored;
 * - every stored session passes `zapo check` (integrity included);
 * - a loser exits 21 with one line naming the other writer (command, host, pid, since).
 *
 * `runScenario(name, kind, seed) → Promise<{ codes, delayMs }>` throws an AssertionError on a
 * violation.
 */

import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { seededRandom } from '../helpers/faults.js'
import { dropStore, makeSession, openTestStore, storeUrls } from '../helpers/fixtures.js'
import { CLEAN_ZAPO_ENV, runZapo } from '../helpers/run.js'

const SHAPE = Object.freeze({
    preKeys: 40,
    uploaded: 30,
    signalSessions: 4,
    identities: 4,
    senderKeys: 1,
    distributions: 1
})
const IDS = Object.freeze(['tenant-a', 'tenant-b', 'tenant-c'])
const ENV = { ...CLEAN_ZAPO_ENV, ZAPO_SCRYPT_WORK_FACTOR: '10', ZAPO_PASSPHRASE: undefined }
const BUSY_LINE =
    /^zapo: session "[^"]+" is in use by `zapo (migrate|import|pair|logs|logout|check --connect)` on host \S+ \(pid \d+\) since \d{4}-\d\d-\d\dT[^ ]+Z.*--wait DURATION\n$/

async function seed(url, ids) {
    const store = await openTestStore(url, 'write')
    try {
        const out = {}
        for (const id of ids) out[id] = (await makeSession(store, id, SHAPE)).credentials.meJid
        return out
    } finally {
        await store.close()
    }
}

/** The meJid of every session a store holds (`sessions list`), by id. */
async function listed(url, cwd) {
    const result = await runZapo(['--store', url, 'sessions', 'list', '--json'], {
        cwd,
        env: ENV,
        timeoutMs: 120_000
    })
    if (result.code === 3) return {}
    assert.equal(result.code, 0, result.stderr)
    return Object.fromEntries(JSON.parse(result.stdout).sessions.map(s => [s.id, s.meJid]))
}

/** Every stored session passes the offline check (credentials, integrity, prekey stock). */
async function assertHealthy(url, ids, cwd) {
    if (ids.length === 0) return
    const result = await runZapo(['--store', url, 'check', '--all'], {
        cwd,
        env: ENV,
        timeoutMs: 120_000
    })
    assert.equal(result.code, 0, `check --all in ${url}: ${result.stdout}${result.stderr}`)
}

function assertLoser(result, label) {
    assert.equal(result.stdout.includes('"ok"'), false, label)
    assert.match(result.stderr, BUSY_LINE, `${label}: ${result.stderr}`)
}

/**
 * Two runs of `a` and `b`, `b` started `delayMs` after `a`; both are recorded in `runs` (args,
 * exit code, stdout, stderr) for the failure message.
 */
async function race(a, b, delayMs, cwd, runs) {
    const start = (args, label) =>
        runZapo(args, { cwd, env: ENV, timeoutMs: 120_000 }).then(result => {
            runs.push({ args, label, ...result })
            return result
        })
    const first = start(a, 'first')
    await new Promise(resolve => setTimeout(resolve, delayMs))
    const second = start(b, `second, ${delayMs} ms later`)
    return Promise.all([first, second])
}

/** What each run of a scenario printed, in the order they ended. */
function transcript(runs) {
    return runs
        .map(
            r =>
                `--- ${r.label}: zapo ${r.args.join(' ')} (exit ${r.code}${r.signal ? `, ${r.signal}` : ''})\n` +
                `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`
        )
        .join('\n')
}

const SCENARIOS = {
    /** cron + operator: two identical `migrate --all --delete-source` */
    'migrate-twice': async ({ kind, random, cwd, runs }) => {
        const src = storeUrls()[kind]
        const dst = storeUrls()[kind]
        try {
            const made = await seed(src, IDS)
            const args = ['migrate', '--from', src, '--to', dst, '--all', '--delete-source']
            const delayMs = Math.floor(random() * 1_500)
            const results = await race(args, args, delayMs, cwd, runs)
            const [inSrc, inDst] = [await listed(src, cwd), await listed(dst, cwd)]
            for (const id of IDS)
                assert.ok(
                    inSrc[id] === made[id] || inDst[id] === made[id],
                    `session ${id} lost from both stores (exits ${results.map(r => r.code)})`
                )
            for (const [i, result] of results.entries()) {
                assert.ok(
                    [0, 21].includes(result.code),
                    `run ${i}: ${result.code} ${result.stderr}`
                )
                if (result.code === 21) assertLoser(result, `run ${i}`)
            }
            if (results.some(r => r.code === 0)) {
                // a run that said done moved everything: every session is in the target only
                assert.deepEqual(Object.keys(inDst).sort(), [...IDS])
                assert.deepEqual(Object.keys(inSrc), [])
            }
            await assertHealthy(dst, Object.keys(inDst), cwd)
            await assertHealthy(src, Object.keys(inSrc), cwd)
            return { codes: results.map(r => r.code), delayMs }
        } finally {
            await dropStore(src)
            await dropStore(dst)
        }
    },

    /** `import --force X` into the source while `migrate --all --delete-source` runs */
    'import-during-migrate': async ({ kind, random, cwd, runs }) => {
        const src = storeUrls()[kind]
        const dst = storeUrls()[kind]
        const other = storeUrls().sqlite
        const dir = mkdtempSync(join(tmpdir(), 'zapo-race-'))
        try {
            await seed(src, IDS)
            // another device under the same id, exported: what the import brings
            const fresh = (await seed(other, ['tenant-b']))['tenant-b']
            const pass = join(dir, 'pass')
            writeFileSync(pass, 'race passphrase\n', { mode: 0o600 })
            const file = join(dir, 'b.age')
            const exported = await runZapo(
                [
                    '--store',
                    other,
                    'export',
                    '--session',
                    'tenant-b',
                    '-o',
                    file,
                    '--passphrase-file',
                    pass
                ],
                { cwd, env: ENV, timeoutMs: 120_000 }
            )
            assert.equal(exported.code, 0, exported.stderr)
            const migrate = ['migrate', '--from', src, '--to', dst, '--all', '--delete-source']
            const imp = ['--store', src, 'import', file, '--force', '--passphrase-file', pass]
            const delayMs = Math.floor(random() * 1_500)
            const [m, i] =
                random() < 0.5
                    ? await race(migrate, imp, delayMs, cwd, runs)
                    : (await race(imp, migrate, delayMs, cwd, runs)).reverse()
            assert.ok([0, 21].includes(m.code), `migrate: ${m.code} ${m.stderr}`)
            assert.ok([0, 21].includes(i.code), `import: ${i.code} ${i.stderr}`)
            if (m.code === 21) assertLoser(m, 'migrate')
            if (i.code === 21) assertLoser(i, 'import')
            const [inSrc, inDst] = [await listed(src, cwd), await listed(dst, cwd)]
            if (i.code === 0)
                assert.ok(
                    inSrc['tenant-b'] === fresh || inDst['tenant-b'] === fresh,
                    `import said done, but neither store holds its device (migrate ${m.code})`
                )
            for (const id of IDS)
                assert.ok(id in inSrc || id in inDst, `session ${id} lost from both stores`)
            await assertHealthy(dst, Object.keys(inDst), cwd)
            await assertHealthy(src, Object.keys(inSrc), cwd)
            return { codes: [m.code, i.code], delayMs }
        } finally {
            await dropStore(src)
            await dropStore(dst)
            await dropStore(other)
            rmSync(dir, { recursive: true, force: true })
        }
    }
}

export const SCENARIO_NAMES = Object.freeze(Object.keys(SCENARIOS))

export async function runScenario(name, kind, seed) {
    const cwd = mkdtempSync(join(tmpdir(), 'zapo-race-cwd-'))
    const runs = []
    try {
        return await SCENARIOS[name]({ kind, random: seededRandom(seed), cwd, runs })
    } catch (error) {
        // both runs' output, whatever the failed assertion quoted of it
        if (error instanceof Error && runs.length > 0) error.message += `\n${transcript(runs)}`
        throw error
    } finally {
        rmSync(cwd, { recursive: true, force: true })
    }
}
