// Pairing latency: spawns `zapo pair --json` against an in-process sandbox, scans the first QR
// and times, from the scan:
//   phone confirmed  the sandbox's pair-success was answered (`paired` server event)
//   keys uploaded    the new device's post-pairing login uploaded its prekeys
//   stored           the `paired` line on stdout (printed after the credentials were written)
//   exited           the process exited
// plus start → first QR. Usage: node bench/pair.js [runs] [store URL …] (default: 8 runs, a
// fresh SQLite file per run). Needs `npm run build` first.
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const { startSandbox } = await import(join(root, 'dist/sandbox/index.js'))
const bin = join(root, 'bin/zapo.js')

const runs = Number(process.argv[2] ?? 8)
const urls = process.argv.slice(3)

async function once(sandbox, url, sessionId) {
    const started = performance.now()
    const marks = {}
    const serverPaired = sandbox.waitFor('paired', undefined, 120_000).then(() => performance.now())
    const keys = sandbox.waitFor('prekeys', undefined, 120_000).then(() => performance.now())
    const child = spawn(
        process.execPath,
        [
            bin,
            'pair',
            '--json',
            '--session',
            sessionId,
            '--store',
            url,
            '--server',
            sandbox.url,
            '--server-root-ca',
            sandbox.rootCa
        ],
        {
            stdio: ['ignore', 'pipe', 'pipe'],
            env: { ...process.env, NO_COLOR: '1' }
        }
    )
    let stderr = ''
    child.stderr.on('data', d => (stderr += d))
    const exited = new Promise(resolve =>
        child.on('close', code => resolve({ code, at: performance.now() }))
    )
    let buffer = ''
    await new Promise((resolve, reject) => {
        child.stdout.setEncoding('utf8').on('data', chunk => {
            buffer += chunk
            let nl
            while ((nl = buffer.indexOf('\n')) >= 0) {
                const event = JSON.parse(buffer.slice(0, nl))
                buffer = buffer.slice(nl + 1)
                if (event.event === 'qr' && marks.qr === undefined) {
                    marks.qr = performance.now()
                    marks.scan = performance.now()
                    sandbox.scan(event.qr).catch(reject)
                }
                if (event.event === 'paired') {
                    marks.stored = performance.now()
                    resolve()
                }
                if (event.event === 'error') reject(new Error(event.message))
            }
        })
        child.on('close', () => resolve())
    })
    const exit = await exited
    if (exit.code !== 0) throw new Error(`zapo pair exited ${exit.code}: ${stderr}`)
    return {
        firstQr: marks.qr - started,
        confirmed: (await serverPaired) - marks.scan,
        keysUploaded: (await keys) - marks.scan,
        stored: marks.stored - marks.scan,
        exited: exit.at - marks.scan
    }
}

function stats(values) {
    const sorted = [...values].sort((a, b) => a - b)
    const at = q => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]
    return { min: sorted[0], median: at(0.5), p90: at(0.9), max: sorted.at(-1) }
}

const fmt = ms => ms.toFixed(0).padStart(9)
const sandbox = await startSandbox()
const dir = mkdtempSync(join(tmpdir(), 'zapo-bench-pair-'))
try {
    const targets = urls.length > 0 ? urls : [null]
    for (const target of targets) {
        const results = []
        for (let i = 0; i < runs; i += 1) {
            const url = target ?? `sqlite:${join(dir, `run${i}.sqlite`)}`
            results.push(await once(sandbox, url, `bench-${process.pid}-${i}`))
        }
        console.log(
            `zapo pair --json, ${runs} runs, store ${target ?? 'fresh SQLite file per run'} (times from the scan unless noted)`
        )
        console.log(
            `${''.padEnd(28)}${'min'.padStart(9)}${'median'.padStart(9)}${'p90'.padStart(9)}${'max'.padStart(9)}`
        )
        for (const [label, key] of [
            ['start → first QR', 'firstQr'],
            ['scan → phone confirmed', 'confirmed'],
            ['scan → keys uploaded', 'keysUploaded'],
            ['scan → credentials stored', 'stored'],
            ['scan → process exited', 'exited']
        ]) {
            const s = stats(results.map(r => r[key]))
            console.log(
                `${label.padEnd(28)}${fmt(s.min)}${fmt(s.median)}${fmt(s.p90)}${fmt(s.max)}`
            )
        }
        console.log('(milliseconds)')
    }
} finally {
    await sandbox.close()
    rmSync(dir, { recursive: true, force: true })
}
