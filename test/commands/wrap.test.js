/**
 * Summaries on stdout fit an 80-column terminal (tmux, 80×24): doctor, creds show, check and
 * the export summary wrap at word boundaries with a hanging indent instead of being cut in the
 * middle of a word by the terminal; the words are exactly those of the piped output, which keeps
 * one line per item for grep and awk.
 */

import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { makeSession, openTestStore } from '../helpers/fixtures.js'
import { CLEAN_ZAPO_ENV, ZAPO_BIN, runZapo } from '../helpers/run.js'

const hasTmux = spawnSync('tmux', ['-V']).status === 0
const cwd = mkdtempSync(join(tmpdir(), 'zapo-wrap-'))
const store = `sqlite:${join(cwd, 'fleet.sqlite')}`
// a long session id makes long lines everywhere
const SESSION = 'tenant-with-a-rather-long-session-identifier-42'
const ENV = { ...CLEAN_ZAPO_ENV, ZAPO_PASSPHRASE: 'correct horse', ZAPO_SCRYPT_WORK_FACTOR: '10' }

let serial = 0
/** Runs `zapo …` in a tmux pane 80 columns wide; returns the pane's lines (soft wraps joined). */
async function onTerminal(args) {
    serial += 1
    const socket = join(cwd, `tmux-${serial}.sock`)
    const tmux = (...a) => spawnSync('tmux', ['-S', socket, ...a], { encoding: 'utf8' })
    const envs = Object.entries(ENV)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => `${k}='${v}'`)
        .join(' ')
    const unset = Object.entries(ENV)
        .filter(([, v]) => v === undefined)
        .map(([k]) => k)
        .join(' ')
    const quoted = args.map(a => `'${a}'`).join(' ')
    const command = `cd '${cwd}' && unset ${unset}; ${envs} NO_COLOR=1 '${process.execPath}' '${ZAPO_BIN}' ${quoted} 2>/dev/null; echo EXIT=$?; sleep 30`
    assert.equal(tmux('new-session', '-d', '-x', '80', '-y', '24', '-s', 'w', command).status, 0)
    try {
        // -J joins lines the terminal wrapped by itself: a line wider than the pane shows as one
        const screen = () => tmux('capture-pane', '-p', '-J', '-S', '-', '-t', 'w').stdout
        for (let i = 0; i < 300; i += 1) {
            const text = screen()
            const exit = /EXIT=(\d+)/.exec(text)
            if (exit) {
                const lines = text.slice(0, exit.index).replace(/\n+$/, '').split('\n')
                return { code: Number(exit[1]), lines }
            }
            await new Promise(r => setTimeout(r, 100))
        }
        throw new Error(`zapo ${args.join(' ')} never finished:\n${screen()}`)
    } finally {
        tmux('kill-server')
    }
}

const words = text => text.split(/\s+/).filter(Boolean)

describe(
    'stdout summaries at 80 columns',
    { skip: hasTmux ? false : 'tmux is not installed' },
    () => {
        before(async () => {
            const opened = await openTestStore(store, 'write')
            try {
                await makeSession(opened, SESSION)
            } finally {
                await opened.close()
            }
        })

        after(() => rmSync(cwd, { recursive: true, force: true }))

        for (const [name, args, outFile] of [
            ['doctor', ['doctor', '--store', store]],
            ['creds show', ['creds', 'show', '--store', store, '-s', SESSION]],
            ['check', ['check', '--store', store, '-s', SESSION]],
            [
                'export summary',
                ['export', '--store', store, '-s', SESSION, '-o', 'x.age', '--force']
            ],
            ['config', ['config', '--store', store, '-s', SESSION]]
        ]) {
            test(`${name}: every line fits 80 columns, words intact, piped output one line per item`, async () => {
                const shown = await onTerminal(args)
                const piped = await runZapo(args, { cwd, env: ENV })
                assert.equal(shown.code, piped.code, piped.stderr)
                for (const line of shown.lines)
                    assert.ok(line.length < 80, `${line.length} columns: ${line}`)
                // each line starts an item of the piped output, or hangs indented under one
                const pipedLines = piped.stdout.split('\n')
                for (const line of shown.lines) {
                    if (line === '' || (/^\s/.test(line) && !pipedLines.includes(line))) continue
                    assert.ok(
                        pipedLines.some(p => p.startsWith(line.trimEnd())),
                        `neither an item nor indented: ${line}`
                    )
                }
                // the same words in the same order: nothing lost, no word cut in two
                assert.deepEqual(words(shown.lines.join('\n')), words(piped.stdout))
                if (name !== 'config' && name !== 'creds show')
                    assert.ok(
                        piped.stdout.split('\n').some(line => line.length >= 80),
                        'the piped output has lines the terminal had to wrap (the test can fail)'
                    )
            })
        }
    }
)
