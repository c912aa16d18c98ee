import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import test from 'node:test'
import { fileURLToPath } from 'node:url'

import { loadedModules } from '../helpers/modules.js'

const root = fileURLToPath(new URL('../..', import.meta.url))
const bin = join(root, 'bin', 'zapo.js')
const HEAVY =
    /(^|\/)node_modules\/(zapo-js|@zapo-js|better-sqlite3|pg|mysql2|ioredis|mongodb|ws|pino|pino-pretty|@clack|qrcode-terminal|age-encryption)\//

for (const args of [['--help'], ['--version'], ['sesions', 'list'], ['help', 'export']]) {
    test(`zapo ${args.join(' ')} loads no zapo-js, store package or native module`, () => {
        const { modules, status } = loadedModules(args)
        assert.ok(modules.length > 0, 'the hook saw the modules')
        assert.ok(
            modules.some(m => m.includes('/dist/main.js')),
            'main was loaded'
        )
        const heavy = modules.filter(m => HEAVY.test(m))
        assert.deepEqual(heavy, [], `heavy modules loaded: ${heavy.join(', ')}`)
        assert.notEqual(status, null)
    })
}

test('a mistyped command exits 2 with a suggestion and no stack trace', () => {
    const result = spawnSync(process.execPath, [bin, 'sesions'], {
        encoding: 'utf8',
        env: { ...process.env, NO_COLOR: '1' }
    })
    assert.equal(result.status, 2)
    assert.match(result.stderr, /unknown command 'sesions'/)
    assert.doesNotMatch(result.stderr, /\n\s+at /)
    assert.equal(result.stdout, '')
})

test('--json turns a usage error into one JSON error document on stdout', () => {
    const result = spawnSync(process.execPath, [bin, 'exit-codes', '--bogus', '--json'], {
        encoding: 'utf8'
    })
    assert.equal(result.status, 2)
    const doc = JSON.parse(result.stdout)
    assert.equal(doc.error.code, 'USAGE')
    assert.equal(doc.error.exitCode, 2)
})

test('exit-codes lists the table, as JSON too', () => {
    const result = spawnSync(process.execPath, [bin, 'exit-codes', '--json'], { encoding: 'utf8' })
    assert.equal(result.status, 0)
    const { exitCodes, severity } = JSON.parse(result.stdout)
    assert.deepEqual(severity.slice(4, 6), ['ACCOUNT_BLOCKED', 'LOGGED_OUT'])
    assert.equal(severity.length, exitCodes.length)
    const byCode = Object.fromEntries(exitCodes.map(row => [row.code, row.exitCode]))
    assert.equal(byCode.USAGE, 2)
    assert.equal(byCode.SESSION_NOT_FOUND, 3)
    assert.equal(byCode.INTEGRITY, 5)
    assert.equal(
        new Set(exitCodes.map(r => r.exitCode)).size,
        exitCodes.length,
        'exit codes are distinct'
    )
})

test('a closed pipe ends the command quietly', () => {
    const result = spawnSync('bash', ['-c', `node ${JSON.stringify(bin)} exit-codes | head -1`], {
        encoding: 'utf8'
    })
    assert.equal(result.status, 0)
    assert.equal(result.stdout.split('\n').filter(Boolean).length, 1)
    assert.doesNotMatch(result.stderr, /EPIPE/)
})
