/**
 * One table of shared options (src/commands/options.ts): every flag has one spelling, one short
 * form and one placeholder across all commands, and the exit-code lines of help texts are the
 * exit-code table's.
 */

import assert from 'node:assert/strict'
import test from 'node:test'
import { buildProgram } from '../../dist/program.js'
import { EXIT_CODES } from '../../dist/errors.js'
import { SHARED_OPTIONS } from '../../dist/commands/options.js'

function allCommands(command, path = []) {
    return command.commands.flatMap(c => [
        { path: [...path, c.name()], command: c },
        ...allCommands(c, [...path, c.name()])
    ])
}

const commands = allCommands(buildProgram())

test('each flag is spelled the same everywhere: short form and placeholder', () => {
    const spellings = new Map()
    for (const { path, command } of commands) {
        for (const option of command.options) {
            const key = option.long
            const seen = spellings.get(key) ?? new Map()
            seen.set(option.flags, [...(seen.get(option.flags) ?? []), path.join(' ')])
            spellings.set(key, seen)
        }
    }
    // --from names two different things: the source store of migrate, the sender filter of logs
    const differing = [...spellings]
        .filter(([flag, seen]) => seen.size > 1 && flag !== '--from')
        .map(
            ([flag, seen]) =>
                `${flag}: ${[...seen].map(([f, where]) => `"${f}" in ${where.join(', ')}`).join('; ')}`
        )
    assert.deepEqual(differing, [])
    // the shared ones come from the table
    for (const definition of Object.values(SHARED_OPTIONS)) {
        const long = definition.flags.match(/--[a-z-]+/)[0]
        const seen = spellings.get(long)
        if (seen) assert.deepEqual([...seen.keys()], [definition.flags], long)
    }
    assert.ok(spellings.get('--session').has('-s, --session <id>'))
    assert.ok(spellings.get('--yes').has('-y, --yes'))
})

test('exit codes named in help texts are the ones of the exit-code table', () => {
    let lines = 0
    for (const { path, command } of commands) {
        let help = ''
        command.configureOutput({ writeOut: s => (help += s) })
        command.outputHelp()
        const line = /Exit codes: ([\s\S]*?)\(zapo\s+exit-codes/.exec(help)
        if (!line) continue
        lines += 1
        for (const [, n, name] of line[1].matchAll(/(\d+)\s+([A-Z_]+)/g))
            assert.equal(EXIT_CODES[name], Number(n), `${path.join(' ')}: ${n} ${name}`)
    }
    assert.ok(lines >= 4, `help texts with exit-code lines: ${lines}`)
})
