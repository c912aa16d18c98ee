// The import boundaries of docs/architecture.md, checked on the source: each rule lists every
// offending file:line. Rules are data; a new layer or an allowance is one line here and one in
// the architecture doc.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import test from 'node:test'

import { SRC, folderOf, sourceFiles, sourceImports, srcName } from '../helpers/source-imports.js'

const imports = sourceImports()

/** Folders a layer must not import (type-only imports count too: they couple the layers). */
const FORBIDDEN = Object.freeze({
    ops: ['ui', 'commands', 'sandbox'],
    store: ['ui', 'commands', 'ops', 'client', 'export', 'sandbox'],
    client: ['ui', 'commands', 'ops', 'export', 'sandbox'],
    export: ['ui', 'commands', 'ops', 'client', 'sandbox'],
    util: ['ui', 'commands', 'ops', 'store', 'client', 'export', 'sandbox']
})

const DRIVERS = /^(better-sqlite3|pg|pg-[a-z-]+|mysql2|ioredis|mongodb)(\/|$)/
const SANDBOX_ENTRY_POINTS = Object.freeze(['commands/sandbox.ts', 'commands/pair-sandbox.ts'])
/** Where zapo-js's internals may be known: its deep paths, the wording of its messages. */
const ZAPO_KNOWLEDGE = Object.freeze(['client', 'store'])

/** The age-encryption library's messages (export/age.ts) are not zapo-js's: its own adapter. */
const ALLOWED_HEURISTICS = new Set(['export/age.ts'])

/**
 * A regular expression or a string test applied to a message (what a library said, read as a
 * fact), possibly over several lines: `line → code` for each.
 */
function messageHeuristics(text) {
    const pattern = new RegExp(
        [
            String.raw`\/(?:[^/\\\n]|\\.)+\/[dgimsuy]*\.(?:test|exec)\(\s*[^;{}]{0,80}?\b(?:message|msg|reason)\b`,
            String.raw`\b(?:message|msg)\)?\.(?:includes|startsWith|endsWith|match|search)\(`
        ].join('|'),
        'g'
    )
    return [...text.matchAll(pattern)].map(match => {
        const line = text.slice(0, match.index).split('\n').length
        return `${line} → ${match[0].split('\n')[0].trim()}`
    })
}

const where = i => `${i.file}:${i.line} → ${i.specifier}`

test('ops, store, client, export and util import no layer above them (ui/ above all)', () => {
    const offenders = imports
        .filter(i => i.target !== null)
        .filter(i => (FORBIDDEN[folderOf(i.file)] ?? []).includes(folderOf(i.target)))
        .map(where)
    assert.deepEqual(offenders, [])
})

test('database drivers are imported or required only inside src/store/', () => {
    const offenders = imports
        .filter(i => i.target === null && DRIVERS.test(i.specifier))
        .filter(i => folderOf(i.file) !== 'store')
        .map(where)
    // createRequire(...)('pg') and friends: a require of a driver by name
    for (const path of sourceFiles()) {
        const file = srcName(path)
        if (folderOf(file) === 'store') continue
        const lines = readFileSync(path, 'utf8').split('\n')
        lines.forEach((text, index) => {
            for (const [, name] of text.matchAll(/[rR]equire\w*\(\s*['"]([^'"]+)['"]/g)) {
                if (DRIVERS.test(name)) offenders.push(`${file}:${index + 1} → require ${name}`)
            }
        })
    }
    assert.deepEqual(offenders, [])
})

test('the sandbox is imported only by its two entry points (commands/sandbox.ts, commands/pair-sandbox.ts)', () => {
    const offenders = imports
        .filter(i => i.target !== null && folderOf(i.target) === 'sandbox')
        .filter(i => folderOf(i.file) !== 'sandbox' && !SANDBOX_ENTRY_POINTS.includes(i.file))
        .map(where)
    assert.deepEqual(offenders, [])
    // not vacuous: the entry points do import it
    for (const name of SANDBOX_ENTRY_POINTS) {
        assert.ok(
            imports.some(i => i.file === name && i.target === 'sandbox/index.ts'),
            `${name} imports the sandbox`
        )
    }
})

test('zapo-js internals (deep imports, heuristics on its messages) stay in src/client/ and src/store/', () => {
    const offenders = imports
        .filter(i => /^zapo-js\/(dist|lib|src)\//.test(i.specifier))
        .filter(i => !ZAPO_KNOWLEDGE.includes(folderOf(i.file)))
        .map(where)
    for (const path of sourceFiles()) {
        const file = srcName(path)
        const folder = folderOf(file)
        if (ZAPO_KNOWLEDGE.includes(folder) || folder === 'sandbox' || ALLOWED_HEURISTICS.has(file))
            continue
        offenders.push(...messageHeuristics(readFileSync(path, 'utf8')).map(at => `${file}:${at}`))
    }
    assert.deepEqual(offenders, [])
})

test('zapo-js values come through src/zapo-cjs.ts (its CommonJS build, loaded once), never an ESM import, outside the sandbox', () => {
    // `import type` is erased; a value import or an `await import()` would load the ESM build
    // beside the CommonJS one the store packages load
    const value =
        /^import\s+(?!type\b)[^'"]*?\bfrom\s+['"](zapo-js(?:\/[^'"]*)?)['"]|(?<!typeof\s)\bimport\(\s*['"](zapo-js(?:\/[^'"]*)?)['"]\s*\)(?!\s*\.)/gm
    const offenders = []
    for (const path of sourceFiles()) {
        const file = srcName(path)
        if (folderOf(file) === 'sandbox') continue
        const text = readFileSync(path, 'utf8')
        for (const match of text.matchAll(value)) {
            const line = text.slice(0, match.index).split('\n').length
            offenders.push(`${file}:${line} → ${match[1] ?? match[2]}`)
        }
    }
    assert.deepEqual(offenders, [])
    // not vacuous: the sandbox's own value import is seen
    assert.ok(
        [...readFileSync(join(SRC, 'sandbox/noise.ts'), 'utf8').matchAll(value)].length > 0,
        'the pattern sees a value import'
    )
})

test('the heuristic finder catches the shapes it is meant to (the ones once in ops/)', () => {
    const samples = [
        'if (/superseded/i.test(toError(error).message)) return',
        'const answered = /iq failed \\(/.test(message)',
        'if (\n    /pair-success|companion_finish/i.test(\n        error.message\n    )\n) {',
        "if (err.message.startsWith('socket open')) return"
    ]
    for (const sample of samples) assert.equal(messageHeuristics(sample).length, 1, sample)
    assert.deepEqual(messageHeuristics('const x = /^\\d+$/.test(value.trim())'), [])
    assert.match(messageHeuristics('a\nb\nif (/x/.test(error.message)) c')[0], /^3 → /)
})

test('the rules above see the tree (the parser finds imports with their lines)', () => {
    const ops = imports.filter(i => i.file === 'ops/pair.ts')
    assert.ok(ops.some(i => i.target === 'client/pairing.ts' && i.line > 1))
    assert.ok(imports.some(i => i.file.startsWith('store/') && DRIVERS.test(i.specifier)))
    assert.ok(sourceFiles().every(path => path.startsWith(join(SRC, ''))))
})
