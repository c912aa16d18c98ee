/**
 * Every long-running command interrupted (docs/interrupts.md): export, import, pair --sandbox,
 * migrate (SQLite → PostgreSQL and → Redis), logout and logs get SIGINT and SIGTERM at seeded random moments; each
 * run must end with its documented exit code and one line on stderr, leave no temporary or
 * partial file, leave its source as it was, and (migrate) be completed by a rerun.
 * ZAPO_FAULT_SEED picks another seed; bench/faults.js runs many more, with SIGKILL too.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'

import { tempDir } from '../helpers/export.js'
import { calibrate, inject, NEEDS_SANDBOX, SCENARIOS, seededRandom } from '../helpers/faults.js'
import { pairWithQr, startTestSandbox } from '../sandbox/helpers.js'

const SEED = Number(process.env.ZAPO_FAULT_SEED ?? 20_250_611)
const PER_COMMAND = 2

for (const name of Object.keys(SCENARIOS)) {
    test(`${name}: SIGINT and SIGTERM at seeded moments (seed ${SEED})`, async t => {
        const dir = tempDir(t)
        const sandbox = NEEDS_SANDBOX.includes(name) ? await startTestSandbox(t) : null
        const pairInto = async (path, sessionId) => {
            const handle = await pairWithQr(t, sandbox, { path, sessionId })
            await handle.cleanup()
            return handle.jid
        }
        const scenario = await SCENARIOS[name]({ dir, sandbox, pairInto })
        if (scenario.cleanup) t.after(scenario.cleanup)
        // the window is this machine's: a plain run first, so the seeded moments fall while the
        // command works (an idle machine finishes a migrate before a fixed window's later moments)
        assert.deepEqual(await calibrate(scenario, { cwd: dir }), [], 'the plain run succeeds')
        const random = seededRandom(SEED + name.length)
        const results = await inject(scenario, {
            count: PER_COMMAND,
            signals: ['SIGINT', 'SIGTERM'],
            random,
            cwd: dir,
            onResult: r =>
                t.diagnostic(
                    `${r.signal} at ${r.atMs} ms: ${r.delivered ? 'delivered' : 'ended before'}, exit ${r.code}`
                )
        })
        const failed = results.filter(r => r.problems.length > 0)
        assert.deepEqual(
            failed,
            [],
            `seed ${SEED}: ${failed.map(f => `${f.signal} at ${f.atMs} ms → exit ${f.code}: ${f.problems.join('; ')}`).join('\n')}`
        )
        assert.ok(
            results.some(r => r.delivered),
            'at least one signal reached the command before it ended'
        )
    })
}
