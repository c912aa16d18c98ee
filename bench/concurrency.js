// Bench: two zapo writers on the same sessions (issue 17, docs/concurrency.md). Every scenario of
// test/concurrency/scenarios.js runs BENCH_RUNS times (default 20) per backend with seeds from
// ZAPO_RACE_SEED on: the second process starts at a seeded moment after the first. Each run is
// checked as the test checks it: no session lost from both stores, no exit 0 for state that is
// not stored, every stored session passing `zapo check`, the loser's exit 21 naming the holder.
//
//   node bench/concurrency.js                                  (20 runs, sqlite postgres redis)
//   node bench/concurrency.js --runs 40 --seed 7 redis
//   node bench/concurrency.js --runs 5 --scenario migrate-twice postgres
//
// --runs N (or BENCH_RUNS, default 20), --seed N (or ZAPO_RACE_SEED, default 1700), --scenario
// NAME (repeatable; default every scenario), then the backends (default all three).
// Prints runs, failures and the exit-code pairs seen per scenario and backend (with the seeded
// variant, e.g. pair-twice fresh/force, migrate-interrupted SIGINT/SIGKILL), and for a failed
// run what both zapo runs printed; the last line is JSON. Exits 1 when a run failed.

import { parseArgs } from 'node:util'
import { runScenario, SCENARIO_NAMES } from '../test/concurrency/scenarios.js'

const { values, positionals } = parseArgs({
    options: {
        runs: { type: 'string', default: process.env.BENCH_RUNS ?? '20' },
        seed: { type: 'string', default: process.env.ZAPO_RACE_SEED ?? '1700' },
        scenario: { type: 'string', multiple: true }
    },
    allowPositionals: true
})
const RUNS = Number(values.runs)
const SEED = Number(values.seed)
if (!Number.isInteger(RUNS) || RUNS < 1 || !Number.isInteger(SEED)) {
    console.error('bench/concurrency.js: --runs takes a positive integer and --seed an integer')
    process.exit(2)
}
const KINDS = ['sqlite', 'postgres', 'redis']
for (const name of [...positionals.filter(k => !KINDS.includes(k)), ...(values.scenario ?? [])])
    if (!KINDS.includes(name) && !SCENARIO_NAMES.includes(name)) {
        console.error(
            `bench/concurrency.js: unknown backend or scenario "${name}" (backends: ${KINDS.join(', ')}; scenarios: ${SCENARIO_NAMES.join(', ')})`
        )
        process.exit(2)
    }
const kinds = KINDS.filter(k => positionals.length === 0 || positionals.includes(k))
const scenarios = SCENARIO_NAMES.filter(n => !values.scenario || values.scenario.includes(n))

const summary = {}
let failures = 0
console.log(`two writers: ${RUNS} runs per scenario and backend, seeds from ${SEED}`)
for (const kind of kinds) {
    for (const name of scenarios) {
        const row = { runs: 0, failures: 0, outcomes: {}, errors: [] }
        const started = Date.now()
        for (let i = 0; i < RUNS; i++) {
            row.runs += 1
            try {
                const { codes, variant } = await runScenario(name, kind, SEED + i)
                const key = variant ? `${variant} ${codes.join('/')}` : codes.join('/')
                row.outcomes[key] = (row.outcomes[key] ?? 0) + 1
            } catch (error) {
                row.failures += 1
                failures += 1
                row.errors.push(`seed ${SEED + i}: ${String(error.message).split('\n')[0]}`)
                // the whole message: the failed assertion, then what both zapo runs printed
                console.log(
                    `  seed ${SEED + i} failed:\n${String(error.message).replace(/^/gm, '    ')}`
                )
            }
        }
        row.seconds = Math.round((Date.now() - started) / 100) / 10
        summary[`${name}/${kind}`] = row
        const seen = Object.entries(row.outcomes)
            .map(([codes, n]) => `${codes}×${n}`)
            .join(' ')
        console.log(
            `${name.padEnd(24)} ${kind.padEnd(9)} runs ${row.runs}  failures ${row.failures}  exits ${seen || '-'}  ${row.seconds}s`
        )
        for (const line of row.errors) console.log(`    ${line}`)
    }
}
console.log(JSON.stringify({ runs: RUNS, seed: SEED, failures, scenarios: summary }))
process.exitCode = failures > 0 ? 1 : 0
