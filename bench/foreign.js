// Bench: reading and migrating foreign auth state — a Baileys folder of 10,000 Signal session
// files and a whatsmeow SQLite store of 10,000 sessions — time and peak RSS of the built zapo.
//
//   node bench/foreign.js                      10,000 session records each
//   BENCH_FOREIGN_SESSIONS=1000 node bench/foreign.js
//
// One real account is written by Baileys itself (test/helpers/baileys.js); its Signal session
// files are then repeated under 10,000 peer addresses (same bytes, other names), and the
// whatsmeow store is laid out from it (test/helpers/whatsmeow.js) with its session rows repeated
// the same way. Each command runs as a child process (the built binary); its peak RSS is read
// from the child itself at exit.

import { spawn } from 'node:child_process'
import { readdirSync, readFileSync, rmSync, writeFileSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = join(fileURLToPath(import.meta.url), '..', '..')
const ZAPO = join(ROOT, 'bin', 'zapo.js')
const COUNT = Number(process.env.BENCH_FOREIGN_SESSIONS ?? 10_000)

const dir = mkdtempSync(join(tmpdir(), 'zapo-bench-foreign-'))
const rssHook = join(dir, 'rss.cjs')
writeFileSync(
    rssHook,
    "process.on('exit', () => require('node:fs').writeSync(2, `\\nbench-maxrss-kb ${process.resourceUsage().maxRSS}\\n`))\n"
)

function run(args) {
    return new Promise((resolve, reject) => {
        const started = performance.now()
        const child = spawn(process.execPath, [ZAPO, ...args], {
            cwd: dir,
            env: { ...process.env, NO_COLOR: '1', NODE_OPTIONS: `--require ${rssHook}` },
            stdio: ['ignore', 'pipe', 'pipe']
        })
        let stderr = ''
        let stdout = ''
        child.stdout.on('data', c => (stdout += c))
        child.stderr.on('data', c => (stderr += c))
        child.on('error', reject)
        child.on('close', code => {
            const ms = performance.now() - started
            const rss = Number(/bench-maxrss-kb (\d+)/.exec(stderr)?.[1] ?? NaN)
            if (code !== 0) reject(new Error(`zapo ${args.join(' ')} exited ${code}: ${stderr}`))
            else resolve({ ms, rssMb: rss / 1024, stdout })
        })
    })
}

function line(what, r) {
    console.log(
        `${what.padEnd(44)} ${(r.ms / 1000).toFixed(2).padStart(7)} s  peak RSS ${r.rssMb.toFixed(0).padStart(5)} MB`
    )
}

try {
    const { makeBaileysFolder } = await import('../test/helpers/baileys.js')
    const { writeWhatsmeowSqlite } = await import('../test/helpers/whatsmeow.js')
    const { default: Database } = await import('better-sqlite3')

    const folder = join(dir, 'tenant')
    await makeBaileysFolder(folder, { peers: 1 })
    const template = readdirSync(folder).find(n => n.startsWith('session-1555200'))
    const bytes = readFileSync(join(folder, template))
    for (let i = 0; i < COUNT; i++)
        writeFileSync(join(folder, `session-1666${String(i).padStart(7, '0')}.0.json`), bytes)
    console.log(
        `Baileys folder: ${readdirSync(folder).length} files, ${COUNT} repeated session records`
    )

    line(
        'baileys: sessions list',
        await run(['sessions', 'list', '--store', `baileys:${folder}`, '--json'])
    )
    const zapoSqlite = `sqlite:${join(dir, 'from-baileys.sqlite')}`
    const migrated = await run([
        'migrate',
        '--from',
        `baileys:${folder}`,
        '--to',
        zapoSqlite,
        '--all',
        '--json'
    ])
    line('baileys: migrate --to sqlite (verified)', migrated)

    const wm = join(dir, 'whatsmeow.db')
    await writeWhatsmeowSqlite(wm, zapoSqlite, 'tenant')
    const db = new Database(wm)
    const [session] = db.prepare('SELECT our_jid, session FROM whatsmeow_sessions LIMIT 1').all()
    const [identity] = db.prepare('SELECT identity FROM whatsmeow_identity_keys LIMIT 1').all()
    const addSession = db.prepare(
        'INSERT INTO whatsmeow_sessions (our_jid, their_id, session) VALUES (?, ?, ?)'
    )
    const addIdentity = db.prepare(
        'INSERT INTO whatsmeow_identity_keys (our_jid, their_id, identity) VALUES (?, ?, ?)'
    )
    // the store already holds the sessions migrated from the Baileys folder: top it up to COUNT
    const existing = db.prepare('SELECT COUNT(*) AS n FROM whatsmeow_sessions').get().n
    db.transaction(() => {
        for (let i = 0; i < COUNT - existing; i++) {
            const theirId = `1777${String(i).padStart(7, '0')}:0`
            addSession.run(session.our_jid, theirId, session.session)
            addIdentity.run(session.our_jid, theirId, identity.identity)
        }
    })()
    const rows = db.prepare('SELECT COUNT(*) AS n FROM whatsmeow_sessions').get().n
    db.close()
    console.log(`whatsmeow store: ${rows} session rows`)
    line(
        'whatsmeow: sessions list',
        await run(['sessions', 'list', '--store', `whatsmeow:${wm}`, '--json'])
    )
    line(
        'whatsmeow: migrate --to sqlite (verified)',
        await run([
            'migrate',
            '--from',
            `whatsmeow:${wm}`,
            '--to',
            `sqlite:${join(dir, 'from-wm.sqlite')}`,
            '--all',
            '--json'
        ])
    )
} finally {
    rmSync(dir, { recursive: true, force: true })
}
