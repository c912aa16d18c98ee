// The README is part of the product: its exit-code table and the commands
// it shows must match what zapo does.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import test from 'node:test'
import { fileURLToPath } from 'node:url'
import { EXIT_CODE_MEANINGS, EXIT_CODES, SEVERITY, worstExit } from '../../dist/errors.js'

const root = fileURLToPath(new URL('../..', import.meta.url))
const readme = readFileSync(root + 'README.md', 'utf8')

test('the README exit-code table is the one zapo uses', () => {
    const block = readme.split('<!-- exit-codes:start -->')[1].split('<!-- exit-codes:end -->')[0]
    const rows = block
        .split('\n')
        .filter(line => /^\| \d+ \|/.test(line))
        .map(line => line.split('|').map(cell => cell.trim()))
        .map(cells => ({ exitCode: Number(cells[1]), code: cells[2], meaning: cells[3] }))
    const expected = Object.entries(EXIT_CODES).map(([code, exitCode]) => ({
        exitCode,
        code,
        meaning: EXIT_CODE_MEANINGS[code]
    }))
    assert.deepEqual(rows, expected)
})

test('the README severity order is the one table, and it ranks every exit code once', () => {
    assert.deepEqual([...SEVERITY].sort(), Object.keys(EXIT_CODES).sort())
    assert.equal(new Set(SEVERITY).size, SEVERITY.length)
    const block = readme.split('<!-- severity:start -->')[1].split('<!-- severity:end -->')[0]
    const listed = block
        .split(',')
        .map(item => item.trim())
        .filter(Boolean)
    assert.deepEqual(
        listed,
        SEVERITY.map(code => `${code} (${EXIT_CODES[code]})`)
    )
    // a banned account outranks a logged-out device, whatever the order they come in
    assert.equal(worstExit(['LOGGED_OUT', 'ACCOUNT_BLOCKED']), 'ACCOUNT_BLOCKED')
    assert.equal(worstExit(['ACCOUNT_BLOCKED', 'LOGGED_OUT']), 'ACCOUNT_BLOCKED')
    assert.equal(worstExit([]), 'OK')
})

test('every zapo command the README shows exists', () => {
    const help = spawnSync(process.execPath, [root + 'bin/zapo.js', '--help'], {
        encoding: 'utf8'
    }).stdout
    // code: fenced blocks and inline `…` spans
    const code = [
        ...readme.matchAll(/```[a-z]*\n([\s\S]*?)```/g),
        ...readme.matchAll(/`([^`\n]+)`/g)
    ]
        .map(m => m[1])
        .join('\n')
    const commands = new Set(
        [...code.matchAll(/(?:^|\s|&& )(?:\.\/bin\/zapo\.js|zapo) ([a-z][a-z-]+)/gm)].map(m => m[1])
    )
    assert.ok(commands.has('pair') && commands.has('migrate'), 'the README shows commands')
    const missing = [...commands].filter(c => !new RegExp(`^  ${c}\\b`, 'm').test(help))
    assert.deepEqual(
        missing,
        [],
        `README mentions commands zapo does not have: ${missing.join(', ')}`
    )
})

test('every flag the README passes to a zapo command is one that command takes', () => {
    const code = [...readme.matchAll(/```[a-z]*\n([\s\S]*?)```/g)].map(m => m[1]).join('\n')
    const helpOf = new Map()
    const problems = []
    for (const line of code.split('\n')) {
        for (const m of line.matchAll(
            /(?:^|\s|&& )(?:\.\/bin\/zapo\.js|zapo) ((?:[a-z][a-z-]+)(?: (?:list|ls|show))?)((?: [^|&;#]*)?)/g
        )) {
            const command = m[1]
            if (!helpOf.has(command)) {
                const result = spawnSync(
                    process.execPath,
                    [root + 'bin/zapo.js', ...command.split(' '), '--help'],
                    { encoding: 'utf8' }
                )
                helpOf.set(command, result.stdout)
            }
            for (const flag of (m[2] ?? '').match(/--[a-z][a-z-]*/g) ?? []) {
                if (!new RegExp(`(^|[\\s,])${flag}\\b`, 'm').test(helpOf.get(command)))
                    problems.push(`zapo ${command} ${flag}`)
            }
        }
    }
    assert.deepEqual(problems, [], `README flags zapo does not take: ${problems.join(', ')}`)
})
