/** What a person meets first: `zapo` alone, `zapo --version`, `zapo version` (issue 13, item 8). */

import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import test from 'node:test'
import { CLEAN_ZAPO_ENV, runZapo } from '../helpers/run.js'

const zapoJs = JSON.parse(
    readFileSync(new URL('../../node_modules/zapo-js/package.json', import.meta.url), 'utf8')
).version

test('zapo alone: a start screen that fits 24 rows, exit 0', async () => {
    const result = await runZapo([], { env: CLEAN_ZAPO_ENV })
    assert.equal(result.code, 0, result.stderr)
    const lines = result.stdout.trimEnd().split('\n')
    assert.ok(lines.length < 24, `${lines.length} lines`)
    assert.ok(
        lines.every(line => line.length <= 80),
        'no line wider than 80 columns'
    )
    assert.match(result.stdout, /zapo pair --sandbox --session demo/)
    assert.match(result.stdout, /zapo --help/)
    assert.equal(result.stderr, '')
})

test('--version names the zapo-js version', async () => {
    const result = await runZapo(['--version'], { env: CLEAN_ZAPO_ENV })
    assert.equal(result.code, 0)
    assert.match(
        result.stdout,
        new RegExp(`^zapo \\d+\\.\\d+\\.\\d+ \\(zapo-js ${zapoJs.replace(/\./g, '\\.')}, Node `)
    )
})

test('zapo version points at --version (exit 2), not at another command', async () => {
    const result = await runZapo(['version'], { env: CLEAN_ZAPO_ENV })
    assert.equal(result.code, 2)
    assert.equal(result.stderr, 'zapo: there is no zapo version command: use zapo --version\n')
    assert.doesNotMatch(result.stderr, /sessions/)
})
