// Bench: fault injection into every long-running command (docs/interrupts.md). Each command —
// export, import, pair --sandbox, migrate (SQLite → PostgreSQL, SQLite → Redis), logout, logs —
// runs once plainly (its length on this machine bounds the moments), then gets SIGINT, SIGTERM
// and SIGKILL in turn at seeded random moments; after SIGKILL the documented recovery runs
// (rerun the export, import --force, pair --force, rerun the migration, rerun the logout). Each
// injection is then checked as test/interrupt/interrupts.test.js checks it: exit code, one line
// on stderr, no temporary or partial file, the source unchanged, the rerun completing.
//
//   node bench/faults.js                       (30 injections per command)
//   BENCH_FAULTS=60 ZAPO_FAULT_SEED=7 node bench/faults.js export migrate
//
// Prints injections and failures per command and signal; the last line is JSON. Exits 1 when an
// injection failed.

import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import {
    calibrate,
    inject,
    NEEDS_SANDBOX,
    SCENARIOS,
    seededRandom
} from '../test/helpers/faults.js'
import { pairWithQr, startTestSandbox } from '../test/sandbox/helpers.js'

const COUNT = Number(process.env.BENCH_FAULTS ?? 30)
const SEED = Number(process.env.ZAPO_FAULT_SEED ?? 20_250_611)
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGKILL']
const wanted = process.argv.slice(2)
const names = Object.keys(SCENARIOS).filter(n => wanted.length === 0 || wanted.includes(n))

// the sandbox helpers take a node:test context for their clean-up; here one list does it
const cleanups = []
const t = { after: fn => cleanups.push(fn) }

const summary = {}
let failures = 0
const dir = mkdtempSync(join(tmpdir(), 'zapo-bench-faults-'))
try {
    console.log(
        `fault injection: ${COUNT} per command, ${SIGNALS.join(' / ')} in turn, seed ${SEED}`
    )
    for (const name of names) {
        const sandbox = NEEDS_SANDBOX.includes(name) ? await startTestSandbox(t) : null
        const pairInto = async (path, sessionId) => {
            const handle = await pairWithQr(t, sandbox, { path, sessionId })
            await handle.cleanup()
            return handle.jid
        }
        const scenario = await SCENARIOS[name]({ dir, sandbox, pairInto })
        if (scenario.cleanup) cleanups.push(scenario.cleanup)
        const started = performance.now()
        const plain = await calibrate(scenario, { cwd: dir })
        if (plain.length > 0) throw new Error(`${name}: ${plain.join('; ')}`)
        const results = await inject(scenario, {
            count: COUNT,
            signals: SIGNALS,
            random: seededRandom(SEED + name.length),
            cwd: dir,
            onResult: r => {
                if (r.problems.length === 0) return
                console.log(
                    `  FAIL ${name} ${r.signal} at ${r.atMs} ms → exit ${r.code}: ${r.problems.join('; ')}`
                )
            }
        })
        const row = {}
        for (const signal of SIGNALS) {
            const mine = results.filter(r => r.signal === signal)
            row[signal] = {
                injections: mine.length,
                delivered: mine.filter(r => r.delivered).length,
                failures: mine.filter(r => r.problems.length > 0).length
            }
        }
        const failed = results.filter(r => r.problems.length > 0).length
        failures += failed
        summary[name] = { ...row, failures: failed }
        console.log(
            `  ${name.padEnd(8)} ${results.length} injections within ${scenario.windowMs.join('-')} ms (${SIGNALS.map(s => `${s} ${row[s].delivered}/${row[s].injections} delivered`).join(', ')}), ${failed} failures, ${Math.round((performance.now() - started) / 1000)} s`
        )
    }
} finally {
    for (const cleanup of cleanups.reverse()) await cleanup()
    rmSync(dir, { recursive: true, force: true })
}
console.log(JSON.stringify({ seed: SEED, perCommand: COUNT, failures, commands: summary }))
process.exitCode = failures === 0 ? 0 : 1
