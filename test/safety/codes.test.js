/**
 * One condition, one exit code in every command (issue 11, "wrong codes"): credentials that do
 * not decode are INTEGRITY (5) whichever command meets them, with one line and no stack trace.
 */

import assert from 'node:assert/strict'
import { existsSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { assertOneErrorLine } from '../helpers/cli-assert.js'
import { corruptCredentials, dropStore, makeSession, openTestStore } from '../helpers/fixtures.js'
import { runZapo } from '../helpers/run.js'
import { LEAN_SHAPE } from '../helpers/shapes.js'

const ROOT_CA = `1:${Buffer.alloc(32, 7).toString('base64')}`
// nothing listens there: a command that connects would fail later, after reading the credentials
const SERVER = ['--server', 'ws://127.0.0.1:9/ws/chat', '--server-root-ca', ROOT_CA]

describe('undecodable credentials exit 5 in every command', () => {
    const dir = mkdtempSync(join(tmpdir(), 'zapo-codes-'))
    const url = `sqlite:${join(dir, 'c.sqlite')}`
    const env = { ZAPO_STORE: url, ZAPO_PASSPHRASE: 'correct horse battery staple' }
    before(async () => {
        const store = await openTestStore(url, 'write')
        try {
            await makeSession(store, 'bad', LEAN_SHAPE)
        } finally {
            await store.close()
        }
        await corruptCredentials(join(dir, 'c.sqlite'), 'bad')
    })
    after(() => dropStore(url))

    const cases = [
        { name: 'creds show', args: ['creds', 'show', '--session', 'bad'] },
        { name: 'check', args: ['check', '--session', 'bad'], lines: 'any' },
        { name: 'export', args: ['export', '--session', 'bad', '-o', join(dir, 'bad.age')] },
        {
            name: 'migrate',
            args: ['migrate', '--from', url, '--to', `sqlite:${join(dir, 'm.sqlite')}`, '--all'],
            lines: 'last'
        },
        { name: 'logs', args: ['logs', '--session', 'bad', '--timeout', '3s', ...SERVER] },
        { name: 'logout', args: ['logout', '--session', 'bad', '--yes', ...SERVER] }
    ]
    for (const c of cases) {
        test(c.name, async () => {
            const result = await runZapo(c.args, { cwd: dir, env })
            assert.equal(result.code, 5, `${c.name}: ${result.stderr}`)
            if (c.lines === 'any') {
                assert.doesNotMatch(result.stderr, /\n\s+at /)
            } else if (c.lines === 'last') {
                // a plan line first (progress), then the error
                const last = result.stderr.trim().split('\n').at(-1)
                assert.match(last, /^zapo: .*"bad".*do not decode/)
                assert.doesNotMatch(result.stderr, /\n\s+at /)
            } else {
                assertOneErrorLine(result, /"bad".*do not decode/)
            }
        })
    }

    test('export leaves no file behind', () => {
        assert.equal(existsSync(join(dir, 'bad.age')), false)
    })
})
