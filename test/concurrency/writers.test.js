/**
 * Two zapo writers on the same sessions (issue 17), a short seeded run: the worst case
 * (two identical `migrate --all --delete-source`) on SQLite, PostgreSQL and Redis, and `import
 * --force` during such a migration on SQLite; ZAPO_RACE_FULL=1 runs every scenario on every
 * backend. The assertions live in scenarios.js; bench/concurrency.js runs many more seeds.
 */

import { describe, test } from 'node:test'
import { runScenario, SCENARIO_NAMES } from './scenarios.js'

const SEED = Number(process.env.ZAPO_RACE_SEED ?? 17)
const FULL = process.env.ZAPO_RACE_FULL === '1'

for (const kind of ['sqlite', 'postgres', 'redis']) {
    describe(`two writers on ${kind}`, () => {
        for (const [i, name] of SCENARIO_NAMES.entries()) {
            const short = name === 'migrate-twice' || kind === 'sqlite'
            test(`${name} (seed ${SEED + i})`, { skip: !FULL && !short }, async () => {
                await runScenario(name, kind, SEED + i)
            })
        }
    })
}
