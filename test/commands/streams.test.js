/**
 * Each stream decides its own colour (issue 13, item 1): run on a terminal (script(1)) with
 * stdout redirected to a file, the file gets no escape codes while the terminal may; TERM=dumb
 * gets neither colour nor cursor movement.
 */

import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { makeSession, openTestStore } from '../helpers/fixtures.js'
import { CLEAN_ZAPO_ENV, REPO_ROOT } from '../helpers/run.js'
import { LEAN_SHAPE } from '../helpers/shapes.js'

const dir = mkdtempSync(join(tmpdir(), 'zapo-streams-'))
const zapoBin = join(REPO_ROOT, 'bin', 'zapo.js')
const hasScript = spawnSync('script', ['--version']).status === 0

before(async () => {
    const store = await openTestStore(`sqlite:${join(dir, 'zapo.sqlite')}`, 'write')
    await makeSession(store, 'tty-one', LEAN_SHAPE)
    await store.close()
})
after(() => rmSync(dir, { recursive: true, force: true }))

/** Runs a shell line on a pseudo-terminal; returns what the terminal showed. */
function onTerminal(line, env = {}) {
    const childEnv = { ...process.env, ...CLEAN_ZAPO_ENV, TERM: 'xterm-256color', ...env }
    for (const key of ['NO_COLOR', 'FORCE_COLOR']) delete childEnv[key]
    for (const [key, value] of Object.entries(env)) if (value !== undefined) childEnv[key] = value
    const result = spawnSync('script', ['-qec', `stty cols 80 rows 24; ${line}`, '/dev/null'], {
        cwd: dir,
        env: childEnv,
        encoding: 'utf8',
        timeout: 60_000
    })
    return result.stdout
}

const ESC = /\x1b\[/

for (const args of [
    'sessions list',
    'sessions list --wide',
    'creds show',
    'doctor',
    'check',
    'migrate --from sqlite --to sqlite:./copy.sqlite --dry-run'
]) {
    test(`zapo ${args} > file from a terminal: no escape codes in the file`, t => {
        if (!hasScript) return t.skip('no script(1)')
        const out = join(dir, 'out.txt')
        const screen = onTerminal(`node '${zapoBin}' ${args} > '${out}'; echo EXIT=$?`)
        assert.match(screen, /EXIT=\d/, screen)
        const file = readFileSync(out, 'utf8')
        assert.ok(file.length > 0, `zapo ${args} wrote its result to stdout`)
        assert.doesNotMatch(file, ESC, `escape codes in the file:\n${JSON.stringify(file)}`)
    })
}

test('the same command with stdout on the terminal is coloured (the test above can fail)', t => {
    if (!hasScript) return t.skip('no script(1)')
    assert.match(onTerminal(`node '${zapoBin}' doctor`), ESC)
})

test('TERM=dumb: no colour and no cursor movement, even while pairing', t => {
    if (!hasScript) return t.skip('no script(1)')
    const screen = onTerminal(
        `node '${zapoBin}' --store sqlite:./dumb.sqlite pair --sandbox --session dumb; echo EXIT=$?`,
        { TERM: 'dumb' }
    )
    assert.match(screen, /EXIT=0/, screen)
    assert.match(screen, /paired session dumb/)
    assert.doesNotMatch(screen, ESC, JSON.stringify(screen.slice(0, 400)))
})
