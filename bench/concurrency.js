// Bench: two zapo writers on the same sessions (issue 17, docs/concurrency.md). Every scenario of
// test/concurrency/scenarios.js runs BENCH_RUNS times (default 20) per backend with seeds from
// ZAPO_RACE_SEED on: the second process starts at a seeded moment after the first. Each run is
// checked as the test checks it: no session lost from both stores, no exit 0 for state that is
// not stored, every stored session passing `zapo check`, the loser's exit 21 naming the holder.
//
//   node bench/concurrency.js                                  (20 runs, sqlite postgres redis)
//   BENCH_RUNS=40 ZAPO_RACE_SEED=7 node bench/concurrency.js redis
//
// Prints runs, failures and the exit-code pairs seen per scenario and backend; the last line is
// JSON. Exits 1 when a run failed.

import { runScenario, SCENARIO_NAMES } from '../test/concurrency/scenarios.js'

const RUNS = Number(process.env.BENCH_RUNS ?? 20)
const SEED = Number(process.env.ZAPO_RACE_SEED ?? 1_700)
const wanted = process.argv.slice(2)
const kinds = ['sqlite', 'postgres', 'redis'].filter(k => wanted.length === 0 || wanted.includes(k))

const summary = {}
let failures = 0
console.log(`two writers: ${RUNS} runs per scenario and backend, seeds from ${SEED}`)
for (const kind of kinds) {
    for (const name of SCENARIO_NAMES) {
        const row = { runs: 0, failures: 0, outcomes: {}, errors: [] }
        const started = Date.now()
        for (let i = 0; i < RUNS; i++) {
            row.runs += 1
            try {
                const { codes } = await runScenario(name, kind, SEED + i)
                const key = codes.join('/')
                row.outcomes[key] = (row.outcomes[key] ?? 0) + 1
            } catch (error) {
                row.failures += 1
                failures += 1
                row.errors.push(`seed ${SEED + i}: ${String(error.message).split('\n')[0]}`)
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
