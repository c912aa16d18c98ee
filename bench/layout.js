// The shape of the source tree: files, lines, the largest files, and the import graph between
// folders (src/<folder> → src/<folder>, counted once per importing file and imported file).
// `node bench/layout.js` (add --json for one JSON document).
import { readFileSync } from 'node:fs'

import { folderOf, sourceFiles, sourceImports, srcName } from '../test/helpers/source-imports.js'

const files = sourceFiles().map(path => ({
    name: srcName(path),
    lines: readFileSync(path, 'utf8').split('\n').length - 1
}))
const total = files.reduce((sum, f) => sum + f.lines, 0)
const largest = [...files].sort((a, b) => b.lines - a.lines).slice(0, 5)

const pairs = new Set()
for (const { file, target } of sourceImports()) {
    if (target !== null) pairs.add(`${file}\0${target}`)
}
const edges = new Map()
for (const pair of pairs) {
    const [file, target] = pair.split('\0')
    const from = folderOf(file)
    const to = folderOf(target)
    if (from === to) continue
    const key = `${from} → ${to}`
    edges.set(key, (edges.get(key) ?? 0) + 1)
}
const graph = [...edges.entries()].sort(([a], [b]) => a.localeCompare(b))

if (process.argv.includes('--json')) {
    console.log(
        JSON.stringify({
            files: files.length,
            lines: total,
            largest,
            edges: Object.fromEntries(graph)
        })
    )
} else {
    console.log(`files ${files.length}, lines ${total}`)
    console.log(`largest: ${largest.map(f => `${f.name} ${f.lines}`).join(', ')}`)
    console.log('imports between folders (importing file → imported file pairs):')
    for (const [edge, count] of graph) console.log(`  ${edge.padEnd(24)} ${count}`)
}
