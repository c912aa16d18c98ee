// --server / --server-root-ca are checked up front, the same way, by every command that connects.
import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'node:test'
import { runZapo } from '../helpers/run.js'

const commands = [
    ['pair', '--session', 'x'],
    ['logs', '--session', 'x'],
    ['check', '--session', 'x', '--connect'],
    ['logout', '--session', 'x', '--yes']
]

for (const command of commands) {
    test(`zapo ${command[0]}: a malformed --server-root-ca is a one-line usage error before anything connects`, async () => {
        const cwd = mkdtempSync(join(tmpdir(), 'zapo-server-'))
        const result = await runZapo(
            [...command, '--server', 'ws://127.0.0.1:9/ws/chat', '--server-root-ca', 'bogus'],
            { cwd }
        )
        assert.equal(result.code, 2, result.stderr)
        assert.equal(
            result.stderr,
            'zapo: --server-root-ca: invalid server root CA: expected "<serial>:<base64 public key>" as printed by zapo sandbox --json\n'
        )
        assert.equal(result.stdout, '')
    })
}

test('--server without --server-root-ca names the missing flag', async () => {
    const result = await runZapo(
        ['pair', '--session', 'x', '--server', 'ws://127.0.0.1:9/ws/chat'],
        { cwd: tmpdir() }
    )
    assert.equal(result.code, 2)
    assert.match(result.stderr, /^zapo: --server needs --server-root-ca VALUE/)
})
