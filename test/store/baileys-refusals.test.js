/**
 * `baileys:` refusals: bad folders (one line, an exit code from the table, nothing written
 * anywhere) and every command that would write to the folder (exit 2, before it starts).
 */

import assert from 'node:assert/strict'
import {
    cpSync,
    existsSync,
    mkdirSync,
    mkdtempSync,
    readFileSync,
    rmSync,
    writeFileSync
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { folderFingerprint, makeBaileysFolder } from '../helpers/baileys.js'
import { assertOneErrorLine } from '../helpers/cli-assert.js'
import { CLEAN_ZAPO_ENV, runZapo } from '../helpers/run.js'

const root = mkdtempSync(join(tmpdir(), 'zapo-baileys-bad-'))
const env = { ...CLEAN_ZAPO_ENV, ZAPO_PASSPHRASE: 'correct horse battery staple' }
const zapo = args => runZapo(args, { cwd: root, env, timeoutMs: 60_000 })
const good = join(root, 'good')

before(async () => {
    await makeBaileysFolder(good, { peers: 1 })
})
after(() => rmSync(root, { recursive: true, force: true }))

/** A copy of the good folder, changed by `change(dir)`. */
function variant(name, change) {
    const dir = join(root, name)
    cpSync(good, dir, { recursive: true })
    change(dir)
    return dir
}

/** Runs a reading command and a migration on `dir`: the same refusal, nothing written. */
async function refused(dir, code, pattern) {
    const print = folderFingerprint(dir)
    const list = await zapo(['sessions', 'list', '--store', `baileys:${dir}`])
    assert.equal(list.code, code, list.stderr)
    assertOneErrorLine(list, pattern)
    assert.equal(list.stdout, '')
    const target = join(root, `target-${code}-${Date.now()}.sqlite`)
    const migrate = await zapo([
        'migrate',
        '--from',
        `baileys:${dir}`,
        '--to',
        `sqlite:${target}`,
        '--all'
    ])
    assert.equal(migrate.code, code, migrate.stderr)
    assert.match(migrate.stderr, pattern)
    assert.equal(existsSync(target), false, 'no target created')
    assert.deepEqual(folderFingerprint(dir), print, 'the folder is untouched')
}

describe('bad Baileys folders', () => {
    test('a folder that is not a Baileys folder: exit 4', async () => {
        const dir = join(root, 'not-baileys')
        mkdirSync(join(dir, 'sub'), { recursive: true })
        writeFileSync(join(dir, 'notes.txt'), 'hello')
        await refused(
            dir,
            4,
            /is not a Baileys auth folder: neither it nor its subfolders hold creds\.json/
        )
    })

    test('creds.json without its keys: exit 5', async () => {
        const dir = variant('no-keys', d => {
            const creds = JSON.parse(readFileSync(join(d, 'creds.json'), 'utf8'))
            delete creds.noiseKey
            writeFileSync(join(d, 'creds.json'), JSON.stringify(creds))
        })
        await refused(dir, 5, /creds\.json lacks its keys \(noiseKey has no key pair\)/)
    })

    test('a half-written folder (records, no creds.json): exit 5', async () => {
        const dir = variant('half', d => rmSync(join(d, 'creds.json')))
        await refused(dir, 5, /holds \d+ Baileys record files but no creds\.json/)
    })

    test('unreadable JSON (a write cut short): exit 5, naming the file', async () => {
        const dir = variant('cut', d => {
            const file = join(d, 'session-15552000000.0.json')
            writeFileSync(file, readFileSync(file, 'utf8').slice(0, 40))
        })
        await refused(dir, 5, /session-15552000000\.0\.json is not readable JSON/)
    })

    test('a folder that does not exist: exit 3', async () => {
        const r = await zapo(['sessions', 'list', '--store', `baileys:${join(root, 'nowhere')}`])
        assert.equal(r.code, 3)
        assertOneErrorLine(r, /does not exist/)
        assert.equal(existsSync(join(root, 'nowhere')), false)
    })

    test('an unknown option: exit 2', async () => {
        const r = await zapo(['sessions', 'list', '--store', `baileys:${good}?prefix=x`])
        assert.equal(r.code, 2)
        assertOneErrorLine(r, /unknown Baileys store option "prefix"/)
    })
})

describe('nothing writes to a Baileys folder', () => {
    const store = () => `baileys:${good}`
    let print
    let exportFile
    before(async () => {
        print = folderFingerprint(good)
        exportFile = join(root, 'good.age')
        const r = await zapo(['export', '--session', 'good', '--store', store(), '-o', exportFile])
        assert.equal(r.code, 0, r.stderr)
        print = folderFingerprint(good)
    })
    after(() => assert.deepEqual(folderFingerprint(good), print, 'the folder is untouched'))

    const only = /is a Baileys auth folder, which zapo only reads: it cannot /
    const cases = [
        [
            'migrate --to',
            () => [
                'migrate',
                '--from',
                `sqlite:${join(root, 'x.sqlite')}`,
                '--to',
                store(),
                '--all'
            ]
        ],
        [
            'migrate --delete-source',
            () => [
                'migrate',
                '--from',
                store(),
                '--to',
                `sqlite:${join(root, 'y.sqlite')}`,
                '--all',
                '--delete-source'
            ]
        ],
        ['import', () => ['import', exportFile, '--store', store()]],
        ['logout', () => ['logout', '--session', 'good', '--store', store(), '--yes']],
        ['pair', () => ['pair', '--session', 'fresh', '--store', store()]],
        ['logs', () => ['logs', '--session', 'good', '--store', store(), '--json']],
        ['check --connect', () => ['check', '--session', 'good', '--connect', '--store', store()]]
    ]
    for (const [name, args] of cases) {
        test(`${name}: exit 2, one line`, async () => {
            const r = await zapo(args())
            assert.equal(r.code, 2, r.stderr)
            const lines = r.stderr.split('\n').filter(l => l.startsWith('zapo: '))
            assert.equal(lines.length, 1, r.stderr)
            assert.match(lines[0], only)
            assert.doesNotMatch(r.stderr, /\n\s+at /)
            assert.equal(existsSync(join(root, 'y.sqlite')), false)
        })
    }
})

describe('nothing is written into a Baileys folder', () => {
    test('a migrate target or an export file inside the folder (spelled through ..): exit 2, folder untouched', async () => {
        const dir = variant('inside-target', () => undefined)
        const print = folderFingerprint(dir)
        const migrate = await zapo([
            'migrate',
            '--from',
            `baileys:${dir}`,
            '--to',
            `sqlite:${join(dir, '..', 'inside-target', 'zapo.sqlite')}`,
            '--all'
        ])
        assert.equal(migrate.code, 2, migrate.stderr)
        assertOneErrorLine(
            migrate,
            /would write into the foreign store .*: nothing is ever written/
        )
        const exported = await zapo([
            'export',
            '--store',
            `baileys:${dir}`,
            '-o',
            join(dir, 'state.age')
        ])
        assert.equal(exported.code, 2, exported.stderr)
        assertOneErrorLine(
            exported,
            /would write into the foreign store .*: nothing is ever written/
        )
        assert.deepEqual(folderFingerprint(dir), print, 'the folder is untouched')
    })
})
