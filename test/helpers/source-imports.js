// The imports of every src/**/*.ts file, with their line numbers, for the boundary test
// (test/foundation/boundaries.test.js) and the layout numbers (bench/layout.js).
// `sourceImports() → [{ file, line, specifier, target }]`: `file` relative to src/ (posix),
// `target` the src/-relative .ts file a relative specifier names (null for packages).

import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, posix, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'

export const SRC = fileURLToPath(new URL('../../src', import.meta.url))

// static `import … from '…'` / `export … from '…'`, bare `import '…'`, dynamic `import('…')`
// and type-level `import('…').X`
const IMPORT = /(?:\bfrom\s+|\bimport\s*\(\s*|^\s*import\s+)['"]([^'"]+)['"]/gm

export function sourceFiles(dir = SRC) {
    return readdirSync(dir, { withFileTypes: true })
        .flatMap(entry => {
            const path = join(dir, entry.name)
            if (entry.isDirectory()) return sourceFiles(path)
            return entry.name.endsWith('.ts') ? [path] : []
        })
        .sort()
}

/** `src/`-relative posix path of a file. */
export function srcName(path) {
    return relative(SRC, path).split(sep).join('/')
}

export function sourceImports() {
    const found = []
    for (const path of sourceFiles()) {
        const file = srcName(path)
        const text = readFileSync(path, 'utf8')
        for (const match of text.matchAll(IMPORT)) {
            const specifier = match[1]
            const line = text.slice(0, match.index).split('\n').length
            let target = null
            if (specifier.startsWith('.')) {
                target = posix
                    .normalize(posix.join(dirname(file).split(sep).join('/'), specifier))
                    .replace(/\.js$/, '.ts')
            }
            found.push({ file, line, specifier, target })
        }
    }
    return found
}

/** The folder a src/-relative file belongs to: `ops`, `store`, … (`.` for top-level files). */
export function folderOf(file) {
    const slash = file.indexOf('/')
    return slash === -1 ? '.' : file.slice(0, slash)
}
