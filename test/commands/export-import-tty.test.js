// The interactive passphrase on a real terminal (a pseudo-terminal from `script`): typed twice
// with hidden input for export (a mismatch is asked again), once for import; never echoed.

import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { test } from 'node:test'

import { Decrypter } from 'age-encryption'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

import { ZAPO_BIN } from '../helpers/run.js'
import { digestOf, seed, tempDir, urlsFor } from '../helpers/export.js'

const HAS_SCRIPT = spawnSync('script', ['--version']).status === 0
const SECRET = 'typed on a terminal 42'

/** Runs zapo on a pseudo-terminal; `answers` are [prompt pattern, keys] pairs, answered in order. */
function onTerminal(args, answers, { cwd }) {
    const quoted = args.map(a => `'${a.replace(/'/g, "'\\''")}'`).join(' ')
    const child = spawn(
        'script',
        ['-qec', `stty cols 160 rows 40; ${process.execPath} ${ZAPO_BIN} ${quoted}`, '/dev/null'],
        {
            cwd,
            env: {
                ...process.env,
                ZAPO_SCRYPT_WORK_FACTOR: '10',
                ZAPO_PASSPHRASE: '',
                NO_COLOR: '1'
            }
        }
    )
    let out = ''
    let next = 0
    let seen = 0
    return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
            child.kill('SIGKILL')
            reject(new Error(`terminal session timed out; output so far:\n${out}`))
        }, 30_000)
        child.stdout.on('data', chunk => {
            out += chunk.toString()
            while (next < answers.length) {
                const [pattern, keys] = answers[next]
                const at = out.slice(seen).search(pattern)
                if (at < 0) break
                seen += at + 1
                next += 1
                setTimeout(() => child.stdin.write(keys), 150)
            }
        })
        child.on('exit', code => {
            clearTimeout(timer)
            resolve({ code, out, answered: next })
        })
    })
}

test('export asks twice with hidden input (and again on a mismatch); import asks once', async t => {
    if (!HAS_SCRIPT) return t.skip('`script` (util-linux) is missing: no pseudo-terminal')
    const dir = tempDir(t)
    const urls = urlsFor(t)
    await seed(urls.sqlite, ['tty'])
    const exported = await onTerminal(
        ['--store', urls.sqlite, 'export', '--session', 'tty', '-o', 'tty.age'],
        [
            [/Passphrase for the export/, `${SECRET}\r`],
            [/again/, 'not the same\r'],
            [/differ/, `${'\x7f'.repeat('not the same'.length)}${SECRET}\r`]
        ],
        { cwd: dir }
    )
    assert.equal(exported.code, 0, exported.out)
    assert.equal(exported.answered, 3)
    assert.match(exported.out, /exported 1 session/)
    assert.ok(!exported.out.includes(SECRET), 'the passphrase is never echoed')
    const d = new Decrypter()
    d.addPassphrase(SECRET)
    assert.match(
        await d.decrypt(readFileSync(join(dir, 'tty.age')), 'text'),
        /"format":"zapo-export"/
    )

    const imported = await onTerminal(
        ['--store', urls.postgres, 'import', 'tty.age'],
        [[/Passphrase for tty\.age/, `${SECRET}\r`]],
        { cwd: dir }
    )
    assert.equal(imported.code, 0, imported.out)
    assert.match(imported.out, /imported 1 session/)
    assert.ok(!imported.out.includes(SECRET))
    assert.deepEqual(
        (await digestOf(urls.postgres, 'tty')).digests,
        (await digestOf(urls.sqlite, 'tty')).digests
    )
})
