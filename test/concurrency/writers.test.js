/**
 * Two zapo writers on the same sessions (issue 17), a short seeded run per scenario and backend:
 * the assertions live in scenarios.js; bench/concurrency.js runs many more seeds.
 */

import { describe, test } from 'node:test'
import { runScenario, SCENARIO_NAMES } from './scenarios.js'

const SEED = Number(process.env.ZAPO_RACE_SEED ?? 17)

for (const kind of ['sqlite', 'postgres', 'redis']) {
    describe(`two writers on ${kind}`, () => {
        for (const [i, name] of SCENARIO_NAMES.entries()) {
            test(`${name} (seed ${SEED + i})`, async () => {
                await runScenario(name, kind, SEED + i)
            })
        }
    })
}
