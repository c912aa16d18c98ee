// `zapo sandbox` that cannot listen says why in one line, naming the flag, and exits 2 (USAGE):
// the spawned binary, against a real busy port and hosts that are not this machine's.
import assert from 'node:assert/strict'
import { createServer } from 'node:net'
import { test } from 'node:test'

import { assertOneErrorLine } from '../helpers/cli-assert.js'
import { runZapo } from '../helpers/run.js'

async function busyPort(t) {
    const server = createServer()
    await new Promise(resolve => server.listen(0, '127.0.0.1', resolve))
    t.after(() => new Promise(resolve => server.close(resolve)))
    return server.address().port
}

const cases = [
    {
        name: 'a port in use',
        args: async t => ['--port', String(await busyPort(t))],
        line: /^zapo: --port \d+ is already in use on 127\.0\.0\.1: pick another --port \(0 picks a free one\)$/,
        reason: 'EADDRINUSE'
    },
    {
        name: 'a host that does not resolve',
        args: async () => ['--host', 'no-such-host.invalid'],
        line: /^zapo: --host no-such-host\.invalid does not resolve to an address: pass an address of this machine \(default 127\.0\.0\.1\)$/,
        reason: /^(ENOTFOUND|EAI_AGAIN|EAI_NONAME)$/
    },
    {
        name: 'a host that is not an address of this machine',
        // TEST-NET-1 (RFC 5737): never assigned to a real interface
        args: async () => ['--host', '192.0.2.1'],
        line: /^zapo: --host 192\.0\.2\.1 is not an address of this machine: pass one of its addresses \(default 127\.0\.0\.1\)$/,
        reason: 'EADDRNOTAVAIL'
    }
]

for (const c of cases) {
    test(`zapo sandbox with ${c.name}: one line, exit 2, no stack trace`, async t => {
        const result = await runZapo(['sandbox', ...(await c.args(t))])
        assert.equal(result.code, 2, result.stderr)
        assertOneErrorLine(result, c.line)
        assert.equal(result.stdout, '')
    })

    test(`zapo sandbox --json with ${c.name}: the error document on stdout`, async t => {
        const result = await runZapo(['sandbox', '--json', ...(await c.args(t))])
        assert.equal(result.code, 2, result.stderr)
        assertOneErrorLine(result, c.line)
        const lines = result.stdout.split('\n').filter(Boolean)
        assert.equal(lines.length, 1, result.stdout)
        const { error } = JSON.parse(lines[0])
        assert.equal(error.code, 'USAGE')
        assert.equal(error.exitCode, 2)
        assert.equal(`zapo: ${error.message}`, result.stderr.trim())
        if (typeof c.reason === 'string') assert.equal(error.meta.reason, c.reason)
        else assert.match(error.meta.reason, c.reason)
    })
}
