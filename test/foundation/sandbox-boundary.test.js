// Product code does not drive the fake phone: the sandbox is reached only through its two entry
// points, `zapo sandbox` and the --sandbox wiring of `zapo pair`.
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import test from 'node:test'
import { fileURLToPath } from 'node:url'

const src = fileURLToPath(new URL('../../src', import.meta.url))
const ENTRY_POINTS = ['commands/sandbox.ts', 'commands/pair-sandbox.ts']
// static `from '…'`, dynamic `import('…')` and type-level `import('…').X`
const IMPORT = /(?:\bfrom\s+|\bimport\s*\(\s*)['"]([^'"]+)['"]/g

function sourceFiles(dir) {
    return readdirSync(dir, { withFileTypes: true }).flatMap(entry => {
        const path = join(dir, entry.name)
        if (entry.isDirectory()) return sourceFiles(path)
        return entry.name.endsWith('.ts') ? [path] : []
    })
}

test('only commands/sandbox.ts and commands/pair-sandbox.ts import the sandbox', () => {
    const offenders = []
    for (const file of sourceFiles(src)) {
        const name = relative(src, file)
        if (name.startsWith('sandbox/') || ENTRY_POINTS.includes(name)) continue
        for (const [, specifier] of readFileSync(file, 'utf8').matchAll(IMPORT)) {
            if (/(^|\/)sandbox\//.test(specifier)) offenders.push(`${name} → ${specifier}`)
        }
    }
    assert.deepEqual(offenders, [])
})

test('the entry points do import it (the rule above is not vacuous)', () => {
    for (const name of ENTRY_POINTS) {
        const text = readFileSync(join(src, name), 'utf8')
        assert.match(text, /import\(['"]\.\.\/sandbox\/index\.js['"]\)/, name)
    }
})
