/**
 * `zapo migrate` on a real terminal (tmux at 80×24 and 120×40), between two SQLite stores, with
 * session ids of 50+ characters and enough records for the progress line to be redrawn many
 * times: the progress is seen while it runs, no line is ever wider than the terminal, and no
 * stale copy of the progress line is left behind.
 */

import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, test } from 'node:test'

import { makeSession, openTestStore } from '../helpers/fixtures.js'
import { openTerminal, overlongLines, tmuxAvailable, zapoCommand } from '../helpers/tmux.js'

const IDS = Array.from(
    { length: 6 },
    (_, i) => `tenant-${i}-with-a-rather-long-session-identifier-for-width`
)
const PROGRESS = /\d+\/\d+ records \(\d+%\)/

describe('zapo migrate on a terminal', { concurrency: 1 }, () => {
    let dir
    let from
    test.before(async () => {
        dir = mkdtempSync(join(tmpdir(), 'zapo-migrate-term-'))
        from = `sqlite:${join(dir, 'from.sqlite')}`
        const store = await openTestStore(from, 'write')
        for (const id of IDS) await makeSession(store, id, { preKeys: 1_500 })
        await store.close()
    })
    test.after(() => rmSync(dir, { recursive: true, force: true }))

    for (const [columns, rows] of [
        [80, 24],
        [120, 40]
    ]) {
        test(`long session ids at ${columns}×${rows}: progress redrawn in place, every line within the width`, async t => {
            if (!tmuxAvailable()) return t.skip('tmux is not installed (apt-get install tmux)')
            assert.ok(IDS.every(id => id.length >= 40))
            const to = `sqlite:${join(dir, `to-${columns}.sqlite`)}`
            const term = openTerminal(t, { cwd: dir, columns, rows })
            await term.clear()
            term.run(
                zapoCommand(['migrate', '--from', from, '--to', to, '--yes', '--batch-size', '50'])
            )
            // the progress line is on the screen while the copy runs, cut to the width
            const running = await term.waitFor(PROGRESS, 'the progress line', { timeoutMs: 60_000 })
            const line = running.split('\n').find(l => PROGRESS.test(l))
            assert.ok([...line].length < columns, `progress line wider than ${columns}: ${line}`)
            assert.equal(await term.exitCode({ timeoutMs: 120_000 }), 0, term.history())

            const all = term.joined()
            assert.deepEqual(overlongLines(all, columns), [], all)
            assert.equal(
                all.split('\n').filter(l => PROGRESS.test(l)).length,
                0,
                `a stale progress line was left behind:\n${all}`
            )
            for (const id of IDS) assert.match(all, new RegExp(`^${id}`, 'm'))
            assert.match(all, /migrated and verified: 6\/6 session\(s\) verified/)
        })
    }
})
