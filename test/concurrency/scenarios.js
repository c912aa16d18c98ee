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
 * `runScenario(name, kind, seed) → Promise<{ codes, delayMs, variant? }>` throws an
 * AssertionError on a violation (its message ends with what every run printed);
 * ZAPO_RACE_TRACE=1 prints that transcript on stderr for passing runs too.
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

async function seed(url, ids, shape = SHAPE) {
    const store = await openTestStore(url, 'write')
    try {
        const out = {}
        for (const id of ids) out[id] = (await makeSession(store, id, shape)).credentials.meJid
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

/** `creds show --json` of one session: the identity key's fingerprint tells two devices apart. */
async function identityOf(url, id, cwd) {
    const result = await runZapo(['--store', url, 'creds', 'show', '--session', id, '--json'], {
        cwd,
        env: ENV,
        timeoutMs: 120_000
    })
    assert.equal(result.code, 0, result.stderr)
    const shown = JSON.parse(result.stdout)
    assert.equal(shown.integrity.ok, true, `integrity of ${id} in ${url}: ${result.stdout}`)
    return shown.credentials.identityKey.fingerprint
}

/** Every session a store holds (`sessions list`), its whole row by id. */
async function listedRows(url, cwd) {
    const result = await runZapo(['--store', url, 'sessions', 'list', '--json'], {
        cwd,
        env: ENV,
        timeoutMs: 120_000
    })
    assert.equal(result.code, 0, result.stderr)
    return Object.fromEntries(JSON.parse(result.stdout).sessions.map(s => [s.id, s]))
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

/** The last line a run printed on stderr (what a loser says, after any QR or progress). */
function lastLine(text) {
    return text.trimEnd().split('\n').at(-1) ?? ''
}

/** A run that refused because of the other writer: exit 21 (lease held, or the session looks
 * live after the other's commit) or exit 7 (the session changed under it, or is paired now). */
const OTHER_WRITER_LINE =
    /^zapo: session "[^"]+" (is in use by `zapo \S+.*` on host \S+ \(pid \d+\) since |looks live: it logged in |changed while this (pairing|import|run) ran|is already paired as )/

function assertLoser(result, label) {
    assert.equal(result.stdout.includes('"ok"'), false, label)
    assert.match(result.stderr, BUSY_LINE, `${label}: ${result.stderr}`)
}

/**
 * Two runs of `a` and `b`, `b` started `delayMs` after `a`; both are recorded in `runs` (args,
 * exit code, stdout, stderr) for the failure message. `wrapFirst`: a command the first run is
 * started under (runZapo's `wrap`, e.g. coreutils `timeout` to interrupt it).
 */
async function race(a, b, delayMs, cwd, runs, { wrapFirst = [] } = {}) {
    const start = (args, label, wrap = []) =>
        runZapo(args, { cwd, env: ENV, timeoutMs: 120_000, wrap }).then(result => {
            const run = { args, label, ...result }
            runs.push(run)
            return run
        })
    const first = start(a, 'first', wrapFirst)
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
    },

    /**
     * Two `zapo pair --session X --sandbox` at once (each with its own in-process sandbox and
     * phone): into a fresh session, or both with --force over an existing one. Into a fresh one
     * exactly one exits 0 and its JID is the one stored; with --force both may (one after the
     * other) and one of theirs is stored, never the old one. A loser exits 21 or 7 naming the
     * other writer (and unlinks its new device); the stored session passes integrity.
     */
    'pair-twice': async ({ kind, random, cwd, runs }) => {
        const url = storeUrls()[kind]
        try {
            const force = random() < 0.5
            const old = force ? (await seed(url, ['p'])).p : undefined
            const args = ['--store', url, 'pair', '--json', '--session', 'p', '--sandbox']
            if (force) args.push('--force')
            // the sandbox's phone links in ~3 s: the second run starts while the first pairs
            const delayMs = Math.floor(random() * 3_000)
            const results = await race(args, args, delayMs, cwd, runs)
            const paired = results.map(r =>
                r.code === 0 ? JSON.parse(lastLine(r.stdout)).meJid : undefined
            )
            for (const [i, r] of results.entries()) {
                assert.ok([0, 7, 21].includes(r.code), `run ${i}: exit ${r.code}`)
                if (r.code !== 0) assert.match(lastLine(r.stderr), OTHER_WRITER_LINE, `run ${i}`)
                if (r.code === 7 && /changed while/.test(r.stderr))
                    assert.match(r.stderr, /the new device \S+ was unlinked from the phone again/)
            }
            const stored = (await listed(url, cwd)).p
            const winners = results.filter(r => r.code === 0)
            assert.ok(winners.length >= 1, `no run paired (exits ${results.map(r => r.code)})`)
            if (winners.length === 2) {
                // both stored in turn: only --force may replace a pairing, and the one stored is
                // one of the two (each run's baseline was read under its lease at the commit)
                assert.ok(force, `both pairings of a fresh session exited 0 (stored ${stored})`)
                assert.ok(paired.includes(stored), `stored ${stored}, paired ${paired.join(', ')}`)
            } else {
                const i = results.findIndex(r => r.code === 0)
                assert.equal(stored, paired[i], `run ${i} said paired, but ${stored} is stored`)
            }
            assert.notEqual(stored, old, 'the old device is still stored after a pairing said done')
            await identityOf(url, 'p', cwd)
            await assertHealthy(url, ['p'], cwd)
            return { codes: results.map(r => r.code), delayMs, variant: force ? 'force' : 'fresh' }
        } finally {
            await dropStore(url)
        }
    },

    /**
     * Two `zapo import --force` of two different exports of one session id at once: the stored
     * session is exactly one of the two (identity key and counts of the same export), the one whose
     * run exited 0 when only one did; a loser exits 21 naming the other writer, and its rollback
     * does not undo the other's import; the other sessions stay as they were.
     */
    'import-twice': async ({ kind, random, cwd, runs }) => {
        const url = storeUrls()[kind]
        const others = [storeUrls().sqlite, storeUrls().sqlite]
        const dir = mkdtempSync(join(tmpdir(), 'zapo-race-'))
        try {
            const made = await seed(url, IDS)
            const pass = join(dir, 'pass')
            writeFileSync(pass, 'race passphrase\n', { mode: 0o600 })
            const files = []
            const exports = []
            for (const [n, other] of others.entries()) {
                const s = await openTestStore(other, 'write')
                try {
                    // two devices under one id, told apart by identity key and prekey count
                    await makeSession(s, 'tenant-b', { ...SHAPE, preKeys: 40 + 15 * n })
                } finally {
                    await s.close()
                }
                const file = join(dir, `b${n}.age`)
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
                files.push(file)
                exports.push({
                    identity: await identityOf(other, 'tenant-b', cwd),
                    preKeys: 40 + 15 * n
                })
            }
            const imp = n => [
                '--store',
                url,
                'import',
                files[n],
                '--force',
                '--passphrase-file',
                pass
            ]
            // a short delay: the second import mostly starts while the first still runs
            const delayMs = Math.floor(random() * 400)
            const results = await race(imp(0), imp(1), delayMs, cwd, runs)
            for (const [i, r] of results.entries()) {
                assert.ok([0, 21].includes(r.code), `import ${i}: exit ${r.code}`)
                if (r.code === 21)
                    assert.match(lastLine(r.stderr), OTHER_WRITER_LINE, `import ${i}`)
            }
            const inStore = await listedRows(url, cwd)
            for (const id of IDS) assert.ok(id in inStore, `session ${id} lost`)
            for (const id of ['tenant-a', 'tenant-c'])
                assert.equal(inStore[id].meJid, made[id], `session ${id} changed`)
            const identity = await identityOf(url, 'tenant-b', cwd)
            const which = exports.findIndex(e => e.identity === identity)
            assert.ok(which >= 0, `tenant-b is neither export (identity ${identity})`)
            assert.equal(inStore['tenant-b'].counts.preKeys, exports[which].preKeys)
            const winners = results.filter(r => r.code === 0)
            assert.ok(winners.length >= 1, 'no import said done')
            // both exited 0: each was stored in turn (the leases serialise them), and the one
            // stored is whole (identity and counts of the same export, checked above)
            if (winners.length === 1)
                assert.equal(
                    results[which].code,
                    0,
                    `export ${which} is stored, but its import exited ${results[which].code}`
                )
            await assertHealthy(url, IDS, cwd)
            return { codes: results.map(r => r.code), delayMs }
        } finally {
            await dropStore(url)
            for (const other of others) await dropStore(other)
            rmSync(dir, { recursive: true, force: true })
        }
    },

    /**
     * `migrate --all --delete-source` interrupted (SIGINT, or SIGKILL in a quarter of the seeds,
     * at a seeded moment) while an identical
     * second one runs: afterwards a rerun completes, every session is in the target only, as it
     * was, and passes `zapo check`; nothing is lost from both stores at any point.
     */
    'migrate-interrupted': async ({ kind, random, cwd, runs }) => {
        const src = storeUrls()[kind]
        const dst = storeUrls()[kind]
        try {
            // ~1,500 records: one run takes ~0.5 s (SQLite) to ~0.9 s (PostgreSQL) here, start included
            const made = await seed(src, IDS, {
                ...SHAPE,
                preKeys: 400,
                uploaded: 300,
                signalSessions: 40,
                identities: 40
            })
            const args = ['migrate', '--from', src, '--to', dst, '--all', '--delete-source']
            const signal = random() < 0.25 ? 'KILL' : 'INT'
            const killMs = 150 + Math.floor(random() * 800)
            const delayMs = Math.floor(random() * 600)
            // coreutils timeout: the signal after killMs, to zapo only and once (as one Ctrl-C), zapo's
            // own exit status kept
            const wrapFirst = [
                'timeout',
                '--foreground',
                '--preserve-status',
                '-s',
                signal,
                `${killMs / 1000}`
            ]
            const results = await race(args, args, delayMs, cwd, runs, { wrapFirst })
            const [a, b] = results
            a.label += ` (SIG${signal} after ${killMs} ms)`
            assert.ok(
                [0, 21, signal === 'INT' ? 130 : 137].includes(a.code),
                `interrupted run (SIG${signal} after ${killMs} ms): exit ${a.code}`
            )
            assert.ok([0, 21].includes(b.code), `second run: exit ${b.code}`)
            for (const r of results)
                if (r.code === 21) assert.match(lastLine(r.stderr), OTHER_WRITER_LINE, r.label)
            let inSrc = await listed(src, cwd)
            let inDst = await listed(dst, cwd)
            for (const id of IDS)
                assert.ok(
                    inSrc[id] === made[id] || inDst[id] === made[id],
                    `session ${id} lost from both stores (exits ${a.code}/${b.code})`
                )
            // the rerun finishes what is left (or finds nothing left to move); a killed run's
            // lease is not released: the rerun waits for it to expire (30 s)
            const rerunArgs = signal === 'KILL' ? [...args, '--wait', '45s'] : args
            const rerun = await runZapo(rerunArgs, { cwd, env: ENV, timeoutMs: 120_000 })
            runs.push({ args: rerunArgs, label: 'rerun', ...rerun })
            inSrc = await listed(src, cwd)
            inDst = await listed(dst, cwd)
            assert.equal(rerun.code, 0, `rerun: exit ${rerun.code}`)
            assert.deepEqual(inDst, made, 'the target after the rerun')
            assert.deepEqual(inSrc, {}, 'the source after the rerun')
            await assertHealthy(dst, IDS, cwd)
            return { codes: [a.code, b.code], delayMs, variant: `SIG${signal}` }
        } finally {
            await dropStore(src)
            await dropStore(dst)
        }
    }
}

export const SCENARIO_NAMES = Object.freeze(Object.keys(SCENARIOS))

export async function runScenario(name, kind, seed) {
    const cwd = mkdtempSync(join(tmpdir(), 'zapo-race-cwd-'))
    const runs = []
    try {
        if (process.env.ZAPO_RACE_TRACE) process.on('exit', () => console.error(transcript(runs)))
        return await SCENARIOS[name]({ kind, random: seededRandom(seed), cwd, runs })
    } catch (error) {
        // both runs' output, whatever the failed assertion quoted of it
        if (error instanceof Error && runs.length > 0) error.message += `\n${transcript(runs)}`
        throw error
    } finally {
        rmSync(cwd, { recursive: true, force: true })
    }
}
