// Fault injection for the interrupt path (docs/interrupts.md): spawn the built binary, send it
// SIGINT, SIGTERM or SIGKILL at a seeded random moment, and check what it left. Shared by
// test/interrupt/interrupts.test.js (a short run with SIGINT and SIGTERM) and bench/faults.js
// (many injections, SIGKILL too).
//
// Every scenario answers with a list of problems (empty: the injection held), so the test can
// assert it and the bench can count it.

import { spawn } from 'node:child_process'
import { copyFileSync, existsSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'

import { decryptLines, digestOf, ENV, passFile, PASSPHRASE, seed, sqliteRows } from './export.js'
import { dropStore, openTestStore, storeUrls } from './fixtures.js'
import { runZapo, ZAPO_BIN } from './run.js'
import { storeDigest } from './store-digest.js'

/** A small seeded PRNG (mulberry32): the same seed gives the same moments and signals. */
export function seededRandom(seed) {
    let a = seed >>> 0
    return () => {
        a = (a + 0x6d2b79f5) >>> 0
        let t = a
        t = Math.imul(t ^ (t >>> 15), t | 1)
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
        return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
    }
}

// Loaded before bin/zapo.js: writes one byte on fd 3 when Node starts running modules. Node's own
// start-up (hundreds of ms on a loaded machine) is before any of zapo's code can run, and a
// signal then has its default effect (docs/interrupts.md): moments are counted from this mark.
const STARTED_MARK =
    "data:text/javascript,import{writeSync}from'node:fs';try{writeSync(3,'s')}catch{}"

/**
 * Spawns zapo and sends `signal` `atMs` after Node started running modules (unless the command
 * ended before).
 */
export function runAndSignal(args, { cwd, env = {}, signal, atMs, timeoutMs = 60_000 }) {
    return new Promise((resolve, reject) => {
        const childEnv = { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0', ...ENV, ...env }
        for (const [key, value] of Object.entries(childEnv))
            if (value === undefined) delete childEnv[key]
        const child = spawn(process.execPath, ['--import', STARTED_MARK, ZAPO_BIN, ...args], {
            cwd,
            env: childEnv,
            stdio: ['ignore', 'pipe', 'pipe', 'pipe']
        })
        let stdout = ''
        let stderr = ''
        let delivered = false
        let timer = null
        let started = null
        child.stdout.setEncoding('utf8').on('data', d => (stdout += d))
        child.stderr.setEncoding('utf8').on('data', d => (stderr += d))
        child.stdio[3].once('data', () => {
            started = performance.now()
            timer = setTimeout(() => {
                if (child.exitCode !== null || child.signalCode !== null) return
                delivered = child.kill(signal)
            }, atMs)
        })
        const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
        child.on('error', reject)
        child.on('close', (code, sig) => {
            clearTimeout(timer)
            clearTimeout(killer)
            const elapsedMs = started === null ? null : Math.round(performance.now() - started)
            resolve({ code, signal: sig, stdout, stderr, delivered, sent: signal, atMs, elapsedMs })
        })
    })
}

const INTERRUPT_LINE = /^zapo: (stopping: |interrupted( again)? \(SIG(INT|TERM)\))/

/**
 * What stderr must be after a SIGINT / SIGTERM: nothing but `known` notes, plus exactly one line
 * about the interruption when it was delivered (a stop that came first, `interrupted` when it came
 * before the command started its work), and never a stack frame.
 */
function stderrProblems(run, known = []) {
    const lines = run.stderr.split('\n').filter(line => line !== '')
    const other = lines.filter(line => !known.some(re => re.test(line)))
    const problems = []
    if (/^\s+at /m.test(run.stderr)) problems.push('a stack trace on stderr')
    const expected = run.delivered && (run.code !== 0 || other.length > 0) ? 1 : 0
    if (other.length !== expected || (expected === 1 && !INTERRUPT_LINE.test(other[0])))
        problems.push(`stderr should hold ${expected} interrupt line(s): ${JSON.stringify(other)}`)
    return problems
}

function tempFiles(dir) {
    return readdirSync(dir).filter(name => name.endsWith('.tmp'))
}

/** A SIGINT / SIGTERM must end in an exit code, never in the signal's default death. */
function killedBySignal(run) {
    return run.code === null && run.signal !== 'SIGKILL'
        ? [`ended by ${run.signal} instead of an exit code`]
        : []
}

/** A seeded SQLite source migrated (`--all`) to a fresh PostgreSQL or Redis store. */
async function migrateScenario(dir, kind) {
    const src = `sqlite:${join(dir, `migrate-${kind}-src.sqlite`)}`
    const ids = ['m1', 'm2', 'm3']
    await seed(src, ids, { preKeys: 300, signalSessions: 20, identities: 20 })
    const dst = storeUrls()[kind]
    const before = await storeDigest(src)
    const wanted = {}
    for (const id of ids) wanted[id] = (await digestOf(src, id)).digests
    const args = ['migrate', '--from', src, '--to', dst, '--all', '--batch-size', '50', '--json']
    return {
        args,
        env: {},
        windowMs: [100, 3_000],
        reset: () => dropStore(dst),
        cleanup: () => dropStore(dst),
        async check(run) {
            const problems = [...killedBySignal(run)]
            if (run.sent !== 'SIGKILL') {
                problems.push(...stderrProblems(run))
                if (run.code !== 0 && run.code !== 130)
                    problems.push(`exit ${run.code}: ${run.stderr}`)
            }
            if ((await storeDigest(src)) !== before) problems.push('the source changed')
            const again = await runZapo(args, { cwd: dir, env: ENV, timeoutMs: 120_000 }).catch(
                error => ({ code: null, stderr: String(error.message).split('\n')[0] })
            )
            if (again.code !== 0) problems.push(`the rerun exited ${again.code}: ${again.stderr}`)
            // no partial session: after the rerun every session is the source's, record for record
            for (const id of ids) {
                const got = (await digestOf(dst, id)).digests
                if (JSON.stringify(got) !== JSON.stringify(wanted[id]))
                    problems.push(`session ${id} in the target is not the source's`)
            }
            if (tempFiles(dir).length > 0) problems.push(`stray files: ${tempFiles(dir)}`)
            return problems
        }
    }
}

/** The scenarios that connect: they get a sandbox (`sandbox`, `pairInto`). */
export const NEEDS_SANDBOX = Object.freeze(['logs', 'logout'])

/** The scenarios, by command. `prepare` once; then per injection `reset`, run, `check`. */
export const SCENARIOS = Object.freeze({
    /** 3 sessions from SQLite to a passphrase file */
    export: async ({ dir }) => {
        const src = `sqlite:${join(dir, 'export-src.sqlite')}`
        await seed(src, ['a', 'b', 'c'])
        const pass = passFile(dir)
        const out = join(dir, 'out.age')
        const before = await storeDigest(src)
        const args = [
            '--store',
            src,
            'export',
            ...['--session', 'a', '--session', 'b', '--session', 'c'],
            ...['-o', out, '--passphrase-file', pass]
        ]
        // a work factor that makes the key derivation a visible step of the run
        const env = { ZAPO_SCRYPT_WORK_FACTOR: '15' }
        const complete = async () => {
            const lines = await decryptLines(readFileSync(out), { passphrase: PASSPHRASE })
            return lines.filter(l => l.type === 'session').length === 3
                ? []
                : ['the export file is incomplete']
        }
        return {
            args,
            env,
            windowMs: [100, 1_300],
            reset: () => rmSync(out, { force: true }),
            async check(run) {
                const problems = [...killedBySignal(run)]
                if ((await storeDigest(src)) !== before) problems.push('the source changed')
                if (run.sent === 'SIGKILL') {
                    // the documented recovery: run the export again
                    const again = await runZapo([...args, '--force'], {
                        cwd: dir,
                        env: { ...ENV, ...env }
                    })
                    if (again.code !== 0)
                        problems.push(`the rerun exited ${again.code}: ${again.stderr}`)
                    else problems.push(...(await complete()))
                } else {
                    problems.push(...stderrProblems(run))
                    if (run.code === 130 && existsSync(out))
                        problems.push('exit 130 but the output file exists')
                    else if (run.code === 0) problems.push(...(await complete()))
                    else if (run.code !== 130) problems.push(`exit ${run.code}: ${run.stderr}`)
                }
                const temps = tempFiles(dir)
                if (temps.length > 0) problems.push(`temporary files left: ${temps.join(', ')}`)
                return problems
            }
        }
    },

    /** that file into a SQLite store that holds another session */
    import: async ({ dir }) => {
        const src = `sqlite:${join(dir, 'import-src.sqlite')}`
        await seed(src, ['a', 'b', 'c'])
        const pass = passFile(dir)
        const file = join(dir, 'in.age')
        const made = await runZapo(
            ['--store', src, 'export', '--session', 'a', '--session', 'b', '--session', 'c'].concat(
                ['-o', file, '--passphrase-file', pass]
            ),
            { cwd: dir, env: ENV }
        )
        if (made.code !== 0) throw new Error(`export for the import scenario: ${made.stderr}`)
        const pristine = join(dir, 'import-pristine.sqlite')
        const target = join(dir, 'import-target.sqlite')
        await seed(`sqlite:${pristine}`, ['resident'])
        const url = `sqlite:${target}`
        const rowsBefore = sqliteRows(`sqlite:${pristine}`)
        const residentBefore = await digestOf(`sqlite:${pristine}`, 'resident')
        const wanted = {}
        for (const id of ['a', 'b', 'c']) wanted[id] = (await digestOf(src, id)).digests
        const args = ['--store', url, 'import', file, '--passphrase-file', pass]
        const imported = async () => {
            const problems = []
            for (const id of ['a', 'b', 'c']) {
                const got = (await digestOf(url, id)).digests
                if (JSON.stringify(got) !== JSON.stringify(wanted[id]))
                    problems.push(`session ${id} is not the exported one`)
            }
            return problems
        }
        return {
            args,
            env: {},
            windowMs: [100, 1_600],
            reset: () => {
                for (const suffix of ['', '-wal', '-shm']) rmSync(target + suffix, { force: true })
                copyFileSync(pristine, target)
            },
            async check(run) {
                const problems = [...killedBySignal(run)]
                if (
                    JSON.stringify(await digestOf(url, 'resident')) !==
                    JSON.stringify(residentBefore)
                )
                    problems.push('the resident session changed')
                if (run.sent === 'SIGKILL') {
                    const again = await runZapo([...args, '--force'], { cwd: dir, env: ENV })
                    if (again.code !== 0)
                        problems.push(`the rerun exited ${again.code}: ${again.stderr}`)
                    else problems.push(...(await imported()))
                    return problems
                }
                problems.push(...stderrProblems(run))
                if (run.code === 130) {
                    // the store packages' own per-session bookkeeping row (signal_meta) may stay
                    const rows = sqliteRows(url)
                    const changed = Object.keys({ ...rows, ...rowsBefore }).filter(
                        k => rows[k] !== rowsBefore[k] && k !== 'signal_meta'
                    )
                    if (changed.length > 0) problems.push(`exit 130 but tables changed: ${changed}`)
                    for (const id of ['a', 'b', 'c'])
                        if (Object.keys((await digestOf(url, id)).digests).length > 0)
                            problems.push(`exit 130 but session ${id} holds records`)
                } else if (run.code === 0) {
                    problems.push(...(await imported()))
                } else {
                    problems.push(`exit ${run.code}: ${run.stderr}`)
                }
                return problems
            }
        }
    },

    /** pair --sandbox into a SQLite store that holds another session */
    pair: async ({ dir }) => {
        const pristine = join(dir, 'pair-pristine.sqlite')
        const target = join(dir, 'pair-target.sqlite')
        await seed(`sqlite:${pristine}`, ['other'])
        const url = `sqlite:${target}`
        const before = await storeDigest(`sqlite:${pristine}`)
        const args = ['--store', url, 'pair', '--sandbox', '--session', 'p1', '--json']
        const paired = async () => {
            const show = await runZapo(['--store', url, 'creds', 'show', '--session', 'p1'], {
                cwd: dir,
                env: ENV
            })
            return show.code === 0 ? [] : [`p1 is not a complete session: ${show.stderr}`]
        }
        return {
            args,
            env: {},
            windowMs: [100, 5_000],
            reset: () => {
                for (const suffix of ['', '-wal', '-shm']) rmSync(target + suffix, { force: true })
                copyFileSync(pristine, target)
            },
            async check(run) {
                const problems = [...killedBySignal(run)]
                const unchanged = (await storeDigest(url)) === before
                if (run.sent === 'SIGKILL') {
                    if (unchanged || (await paired()).length === 0) return problems
                    // killed while saving: the documented recovery is pairing again with --force
                    const again = await runZapo([...args, '--force'], { cwd: dir, env: ENV })
                    if (again.code !== 0) problems.push(`pair --force exited ${again.code}`)
                    else problems.push(...(await paired()))
                    return problems
                }
                problems.push(...stderrProblems(run))
                if (run.code === 130 && !unchanged) problems.push('exit 130 but the store changed')
                else if (run.code === 0) problems.push(...(await paired()))
                else if (run.code !== 130) problems.push(`exit ${run.code}: ${run.stderr}`)
                return problems
            }
        }
    },

    /** migrate --all from SQLite to PostgreSQL; the rerun must complete it */
    migrate: ({ dir }) => migrateScenario(dir, 'postgres'),

    /** migrate --all from SQLite to Redis (exact keys, a pipeline per batch); the rerun completes it */
    'migrate-redis': ({ dir }) => migrateScenario(dir, 'redis'),

    /**
     * logout of a session paired against a sandbox, beside another session in the same SQLite
     * file. SIGINT / SIGTERM before the removal was asked: nothing removed, the device still
     * linked (exit 130); after: the logout finishes (exit 0). After SIGKILL the documented
     * recovery is rerunning the logout. Never: the state deleted while the device stays linked,
     * or the other session touched.
     */
    logout: async ({ dir, sandbox, pairInto }) => {
        const path = join(dir, 'logout.sqlite')
        const url = `sqlite:${path}`
        const pristine = join(dir, 'logout-pristine.sqlite')
        rmSync(pristine, { force: true })
        await seed(`sqlite:${pristine}`, ['other'])
        const otherBefore = await digestOf(`sqlite:${pristine}`, 'other')
        let jid = null
        const args = [
            ...['--store', url, 'logout', '--session', 'o1', '--yes', '--json'],
            ...['--server', sandbox.url, '--server-root-ca', sandbox.rootCa]
        ]
        const linked = () => sandbox.devices().some(d => d.jid === jid)
        const stillPaired = async () => {
            const store = await openTestStore(url, 'read')
            try {
                const creds = await store.domain('auth', 'o1').load()
                const signed = await store.domain('signal', 'o1').getSignedPreKey()
                return creds?.meJid === jid && signed !== null
            } finally {
                await store.close()
            }
        }
        const o1Records = async () => Object.keys((await digestOf(url, 'o1')).digests).length
        const progress =
            /^zapo: (logging out|connecting|logged in|asking|the server|removed|waiting|reconnect)/
        return {
            args,
            env: {},
            // from 300 ms: before that, on a loaded machine, Node may not have reached bin/zapo.js
            // (a signal then has its default effect: docs/interrupts.md)
            windowMs: [300, 3_000],
            // every injection logs out a device of its own: pair a fresh one
            async reset() {
                for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true })
                copyFileSync(pristine, path)
                jid = await pairInto(path, 'o1')
            },
            async check(run) {
                const problems = [...killedBySignal(run)]
                if (run.sent !== 'SIGKILL') {
                    problems.push(...stderrProblems(run, [progress]))
                    if (run.code !== 0 && run.code !== 130)
                        problems.push(`exit ${run.code}: ${run.stderr}`)
                    // 130: nothing removed. The login itself may have written (the client
                    // records its login, uploads prekeys): the session must still be whole
                    if (run.code === 130) {
                        if (!linked()) problems.push('exit 130 but the device was removed')
                        if (!(await stillPaired())) problems.push('exit 130 but o1 lost its state')
                    }
                } else if ((await o1Records()) > 0 || linked()) {
                    // killed: whatever is left, the documented recovery is logging out again
                    const again = await runZapo(args, { cwd: dir, env: ENV })
                    if (again.code !== 0)
                        problems.push(`the rerun exited ${again.code}: ${again.stderr}`)
                }
                const done = run.sent !== 'SIGKILL' && run.code === 130
                if (!done) {
                    if (linked()) problems.push('the device is still linked')
                    if ((await o1Records()) > 0) problems.push('o1 still holds records')
                }
                if (JSON.stringify(await digestOf(url, 'other')) !== JSON.stringify(otherBefore))
                    problems.push('the other session changed')
                if (tempFiles(dir).length > 0) problems.push(`stray files: ${tempFiles(dir)}`)
                return problems
            }
        }
    },

    /** logs of a session paired against a sandbox: it ends cleanly (exit 0) */
    logs: async ({ dir, sandbox, pairInto }) => {
        const path = join(dir, 'logs.sqlite')
        const jid = await pairInto(path, 'l1')
        const url = `sqlite:${path}`
        const args = [
            ...['--store', url, 'logs', '--session', 'l1', '--json'],
            ...['--server', sandbox.url, '--server-root-ca', sandbox.rootCa]
        ]
        const stillPaired = async () => {
            const store = await openTestStore(url, 'read')
            try {
                const creds = await store.domain('auth', 'l1').load()
                return creds?.meJid === jid ? [] : ['the session is no longer paired']
            } finally {
                await store.close()
            }
        }
        return {
            args,
            env: {},
            endless: true,
            windowMs: [100, 2_800],
            reset: () => undefined,
            async check(run) {
                const problems = [...killedBySignal(run)]
                if (run.sent !== 'SIGKILL') {
                    const connecting = /^zapo: connecting session l1/
                    problems.push(...stderrProblems(run, [connecting]))
                    // 0 once it started; 130 only when the signal came before it did
                    const started = /^zapo: stopping: /m.test(run.stderr)
                    if (started ? run.code !== 0 : run.code !== 130)
                        problems.push(`exit ${run.code}: ${run.stderr}`)
                }
                if (!sandbox.devices().some(d => d.jid === jid))
                    problems.push('the device is no longer linked')
                problems.push(...(await stillPaired()))
                return problems
            }
        }
    }
})

/**
 * Runs the scenario once without a signal and narrows its window to that run's length (counted
 * like the moments), so that on this machine most injections land while the command works.
 * Returns the problems of that plain run (it must succeed).
 */
export async function calibrate(scenario, { cwd }) {
    // a tail runs until it is stopped: its window stays as it is
    if (scenario.endless) return []
    await scenario.reset()
    const run = await runAndSignal(scenario.args, {
        cwd,
        env: scenario.env,
        signal: 'SIGINT',
        atMs: 3_600_000
    })
    if (run.elapsedMs !== null)
        scenario.windowMs = [
            scenario.windowMs[0],
            Math.max(scenario.windowMs[0] + 1, run.elapsedMs)
        ]
    return run.code === 0 ? [] : [`the plain run exited ${run.code}: ${run.stderr}`]
}

/**
 * Runs `count` injections of one scenario: seeded moments in its window, the signals taken in
 * turn from `signals`. Returns one entry per injection: { signal, atMs, code, delivered, problems }.
 */
export async function inject(scenario, { count, signals, random, cwd, onResult }) {
    const results = []
    for (let i = 0; i < count; i += 1) {
        const signal = signals[i % signals.length]
        const [lo, hi] = scenario.windowMs
        const atMs = Math.round(lo + random() * (hi - lo))
        await scenario.reset()
        const run = await runAndSignal(scenario.args, { cwd, env: scenario.env, signal, atMs })
        const problems = await scenario.check(run)
        const result = { signal, atMs, code: run.code, delivered: run.delivered, problems }
        onResult?.(result)
        results.push(result)
    }
    return results
}
