// Runs every benchmark script in this folder in turn (or the ones named): startup, export,
// migrate, faults (fault injection, several minutes) and the others.
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const dir = fileURLToPath(new URL('.', import.meta.url))
const wanted = process.argv.slice(2)
const scripts = readdirSync(dir)
    .filter(f => f.endsWith('.js') && f !== 'run.js')
    .filter(f => wanted.length === 0 || wanted.some(w => f.startsWith(w)))
let failed = 0
for (const script of scripts) {
    console.log(`\n== ${script}`)
    const result = spawnSync(process.execPath, [dir + script], { stdio: 'inherit' })
    if (result.status !== 0) failed++
}
process.exitCode = failed === 0 ? 0 : 1
