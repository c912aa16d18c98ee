/**
 * `zapo export -o` onto a file the export reads — the source SQLite store however it is spelled
 * (`./`, `//`, a symlink, a hard link, a symlinked directory), its -wal / -shm / -journal files,
 * the passphrase file, a recipients file — is refused with exit 2 and one line, `--force` or
 * not, and touches nothing (issue 11, item 5).
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { linkSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'

import { generateIdentity, identityToRecipient } from 'age-encryption'

import { assertOneErrorLine } from '../helpers/cli-assert.js'
import { ENV, passFile, seed, tempDir } from '../helpers/export.js'
import { runZapo } from '../helpers/run.js'
import { storeDigest } from '../helpers/store-digest.js'

function sha256(path) {
    return createHash('sha256').update(readFileSync(path)).digest('hex')
}

test('export -o onto one of its own inputs is refused, --force or not, and touches nothing', async t => {
    const dir = tempDir(t)
    const data = join(dir, 'data')
    mkdirSync(data)
    const store = join(data, 'm.sqlite')
    const url = `sqlite:${store}`
    await seed(url, ['s1'])
    const pass = passFile(dir)
    const recipients = join(dir, 'recipients.txt')
    writeFileSync(recipients, `${await identityToRecipient(await generateIdentity())}\n`)
    symlinkSync(store, join(dir, 'store-link.sqlite'))
    linkSync(store, join(dir, 'store-hardlink.sqlite'))
    symlinkSync(data, join(dir, 'data-link'))
    symlinkSync(pass, join(dir, 'pass-link.txt'))
    linkSync(pass, join(dir, 'pass-hardlink.txt'))

    const files = [store, pass, recipients]
    const hashes = () => files.map(sha256)
    const digest = await storeDigest(url)
    // reading the WAL database read-only (the digest) leaves its -wal and -shm: both cases are
    // met, existing sidecars (-wal, -shm) and one that does not exist (-journal)
    const before = { digest, hashes: hashes(), names: readdirSync(dir), data: readdirSync(data) }
    assert.ok(!before.data.includes('m.sqlite-journal'))

    const viaPass = ['--passphrase-file', pass]
    const cases = [
        ['the store file', store, viaPass, /the SQLite store/],
        ['the store through ./', './data/./m.sqlite', viaPass, /the SQLite store/],
        ['the store through //', `${data}//m.sqlite`, viaPass, /the SQLite store/],
        ['a symlink to the store', 'store-link.sqlite', viaPass, /the SQLite store/],
        ['a hard link to the store', 'store-hardlink.sqlite', viaPass, /the SQLite store/],
        ['its -wal', `${store}-wal`, viaPass, /the SQLite store/],
        ['its -shm through a symlinked directory', 'data-link/m.sqlite-shm', viaPass, /SQLite/],
        ['its -journal', './data/m.sqlite-journal', viaPass, /the SQLite store/],
        ['the passphrase file', pass, viaPass, /the passphrase file/],
        ['a symlink to the passphrase file', 'pass-link.txt', viaPass, /the passphrase file/],
        ['a hard link to the passphrase file', 'pass-hardlink.txt', viaPass, /passphrase file/],
        ['the recipients file', recipients, ['--recipients-file', recipients], /recipients file/]
    ]
    for (const [what, output, how, names] of cases) {
        for (const force of what === 'the store file' || what === 'the passphrase file'
            ? [false, true]
            : [true]) {
            const run = await runZapo(
                [
                    ...['--store', url, 'export', '--session', 's1', '-o', output],
                    ...how,
                    ...(force ? ['--force'] : [])
                ],
                { cwd: dir, env: ENV }
            )
            const label = `${what}${force ? ' --force' : ''}`
            assert.equal(run.code, 2, `${label}: ${run.stderr}`)
            assertOneErrorLine(run, /refusing to write .*which this command reads/)
            assert.match(run.stderr, names, label)
            assert.equal(run.stdout, '', label)
        }
    }
    assert.equal(await storeDigest(url), before.digest, 'the store is unchanged')
    assert.deepEqual(hashes(), before.hashes, 'the store, passphrase and recipients files')
    assert.deepEqual(readdirSync(dir), before.names, 'no file created, no temporary file left')
    assert.deepEqual(
        readdirSync(data),
        before.data,
        'no -wal / -shm / -journal created or replaced'
    )

    // the check is about files, not names: another file in the same directory is written
    const ok = await runZapo(
        ['--store', url, 'export', '--session', 's1', '-o', 'data/m.sqlite.age', ...viaPass],
        { cwd: dir, env: ENV }
    )
    assert.equal(ok.code, 0, ok.stderr)
})
