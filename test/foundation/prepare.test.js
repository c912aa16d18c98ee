/**
 * Every command module exports `prepare(flags, ctx)`: flags (and the config file) → typed
 * options, apart from the work and the rendering (docs/architecture.md, "thin, uniform
 * commands"). A command module is a file of src/commands that registers a command.
 */

import assert from 'node:assert/strict'
import { readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import test from 'node:test'
import { fileURLToPath } from 'node:url'

const COMMANDS = join(dirname(fileURLToPath(import.meta.url)), '../../dist/commands')

/** Modules of src/commands that hold shared pieces, not a command. */
const HELPERS = new Set(['options.js', 'pair-sandbox.js', 'session-choice.js'])

/** Commands without a `prepare`, each with its reason (the last test below keeps it honest). */
const WITHOUT_PREPARE = new Map([['exit-codes.js', 'takes no flags: nothing to prepare']])

const files = readdirSync(COMMANDS).filter(f => f.endsWith('.js') && !HELPERS.has(f))
const modules = await Promise.all(
    files.map(async file => ({ file, module: await import(join(COMMANDS, file)) }))
)

test('every command module exports prepare(flags, ctx)', () => {
    const missing = modules
        .filter(({ file }) => !WITHOUT_PREPARE.has(file))
        .filter(({ module }) => typeof module.prepare !== 'function')
        .map(({ file }) => file)
    assert.deepEqual(missing, [], `command modules without an exported prepare: ${missing}`)
    // the test looks at real command modules: the ones it checks register commands
    const checked = modules.filter(({ file }) => !WITHOUT_PREPARE.has(file))
    assert.ok(checked.length >= 8, `only ${checked.length} command modules found in ${COMMANDS}`)
    for (const { file, module } of checked)
        assert.equal(typeof module.register, 'function', `${file} registers no command`)
})

test('prepare takes (flags, ctx)', () => {
    for (const { file, module } of modules) {
        if (typeof module.prepare !== 'function') continue
        assert.equal(module.prepare.length, 2, `${file}: prepare(flags, ctx)`)
    }
})

test('the allowlist holds only modules that exist and still lack prepare', () => {
    for (const [file, reason] of WITHOUT_PREPARE) {
        const found = modules.find(m => m.file === file)
        assert.ok(found, `${file} (${reason}) is not in src/commands any more: drop it here`)
        assert.notEqual(
            typeof found.module.prepare,
            'function',
            `${file} exports prepare now: remove it from WITHOUT_PREPARE`
        )
    }
})
