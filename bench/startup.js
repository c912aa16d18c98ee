// Start-up cost of the commands that must stay cheap, as a ratio to a bare
// `node -e 0` measured in the same run. Target: at most 2x.
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const bin = fileURLToPath(new URL('../bin/zapo.js', import.meta.url))
const runs = Number(process.env.BENCH_RUNS ?? 15)

function median(values) {
    const sorted = [...values].sort((a, b) => a - b)
    return sorted[Math.floor(sorted.length / 2)]
}

function time(args) {
    const samples = []
    for (let i = 0; i < runs + 2; i++) {
        const start = process.hrtime.bigint()
        spawnSync(process.execPath, args, { stdio: 'ignore' })
        const ms = Number(process.hrtime.bigint() - start) / 1e6
        if (i >= 2) samples.push(ms) // two warm-up runs
    }
    return median(samples)
}

const baseline = time(['-e', '0'])
console.log(`baseline  node -e 0           ${baseline.toFixed(1)} ms`)
for (const [label, args] of [
    ['zapo --help', ['--help']],
    ['zapo --version', ['--version']],
    ['zapo sesions (typo)', ['sesions']]
]) {
    const ms = time([bin, ...args])
    console.log(
        `${label.padEnd(24)} ${ms.toFixed(1).padStart(6)} ms   ${(ms / baseline).toFixed(2)}x baseline (target <= 2x)`
    )
}
