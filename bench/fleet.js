// Bench: a fleet of small sessions per store, as operators run the fleet-wide commands over it.
// Seeds BENCH_FLEET (default 10,000) paired sessions of a few dozen records each into SQLite,
// PostgreSQL and Redis, then times the built binary (start-up included) and its peak RSS:
//
//   sessions list --json         every backend        goal < 3 s
//   check --all --json           every backend        goal < 30 s (offline: no --connect)
//   migrate --all SQLite → PostgreSQL                  goal < 60 s
//
// and, for "memory flat", the same commands over a tenth of the fleet: the peak RSS of both runs
// is printed side by side.
//
//   node bench/fleet.js                         10,000 sessions, sqlite postgres redis
//   BENCH_FLEET=2000 node bench/fleet.js sqlite
//
// Seeding is not what is measured: one template session is made with zapo-js (the shared
// fixture: real keys, real Signal sessions), read back through the store contracts, and written
// under every id with the store packages' own batch writes, 32 sessions at a time (each with its
// own meJid and last-login time). The last line is JSON.

import { spawn } from 'node:child_process'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { catalogForStore } from '../dist/store/catalog.js'
import { readSessionRecords, writeSessionRecords } from '../dist/store/records.js'
import { dropStore, makeSession, openTestStore, storeUrls } from '../test/helpers/fixtures.js'

const args = process.argv.slice(2)
const FLEET = Number(process.env.BENCH_FLEET ?? 10_000)
const named = args.filter(a => !/^\d+$/.test(a))
const BACKENDS = named.length > 0 ? named : ['sqlite', 'postgres', 'redis']
const SHAPE = {
    preKeys: 30,
    uploaded: 25,
    signalSessions: 4,
    identities: 6,
    senderKeys: 1,
    distributions: 1,
    appStateKeys: 2,
    collections: 1,
    privacyTokens: 1
}
const BIN = fileURLToPath(new URL('../bin/zapo.js', import.meta.url))
const GOALS = { list: 3_000, check: 30_000, migrate: 60_000 }

/** The template's record batches, read through the contracts (what every seeded session holds). */
async function template() {
    const url = storeUrls().sqlite
    const store = await openTestStore(url, 'write')
    try {
        await makeSession(store, 'template', SHAPE)
        const batches = []
        for await (const batch of readSessionRecords(store, catalogForStore(store), 'template'))
            batches.push(batch)
        return batches
    } finally {
        await store.close()
        await dropStore(url)
    }
}

const idOf = i => `fleet-${String(i).padStart(5, '0')}`

/**
 * Writes the template under `fleet-00000` through the store contracts, then copies it to the
 * other ids: on SQLite and PostgreSQL with one INSERT … SELECT per table of the store package's
 * schema (each copy with its own meJid and display name), on Redis through the contracts, 32
 * sessions at a time (pipelined writes are the bulk path there).
 */
async function seed(url, count, batches) {
    const store = await openTestStore(url, 'write')
    const nowS = Math.floor(Date.now() / 1000)
    const write = async i => {
        const id = idOf(i)
        for (const batch of batches) {
            if (batch.domain === 'auth') continue
            await writeSessionRecords(store, id, batch)
        }
        const auth = batches.find(b => b.domain === 'auth')
        await writeSessionRecords(store, id, {
            domain: 'auth',
            credentials: {
                ...auth.credentials,
                meJid: `1555${String(i).padStart(7, '0')}:12@s.whatsapp.net`,
                meDisplayName: `Tenant ${i}`,
                lastSuccessTs: nowS - 3_600 - (i % 600)
            }
        })
    }
    const kind = store.spec.primary.kind
    try {
        // the first session alone: the store packages create their schema on first use
        await write(0)
        if (kind === 'redis') {
            let next = 1
            const worker = async () => {
                while (next < count) await write(next++)
            }
            await Promise.all(Array.from({ length: 32 }, worker))
        }
    } finally {
        await store.close()
    }
    if (kind === 'sqlite') await copySqlite(store.spec.primary, count)
    if (kind === 'postgres') await copyPostgres(store.spec.primary, count)
}

/** `INSERT … SELECT` of one table's template rows under every other id (SQL expressions given). */
function copyStatement(table, columns, ids, { id, jid, name }) {
    const select = columns.map(c =>
        c === 'session_id' ? id : c === 'me_jid' ? jid : c === 'me_display_name' ? name : `t."${c}"`
    )
    const names = columns.map(c => `"${c}"`).join(', ')
    return `INSERT INTO ${table} (${names}) SELECT ${select.join(', ')} FROM ${table} t, ${ids} WHERE t.session_id = 'fleet-00000'`
}

async function copySqlite(spec, count) {
    const { default: Database } = await import('better-sqlite3')
    const db = new Database(spec.target)
    try {
        db.exec('CREATE TEMP TABLE ids (i INTEGER PRIMARY KEY)')
        const put = db.prepare('INSERT INTO ids (i) VALUES (?)')
        db.transaction(() => {
            for (let i = 1; i < count; i += 1) put.run(i)
        })()
        const tables = db
            .prepare(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
            .all()
            .map(r => r.name)
        db.transaction(() => {
            for (const table of tables) {
                const columns = db
                    .prepare(`PRAGMA table_info(${table})`)
                    .all()
                    .map(c => c.name)
                if (!columns.includes('session_id')) continue
                db.exec(
                    copyStatement(table, columns, 'ids', {
                        id: "'fleet-' || printf('%05d', ids.i)",
                        jid: "'1555' || printf('%07d', ids.i) || ':12@s.whatsapp.net'",
                        name: "'Tenant ' || ids.i"
                    })
                )
            }
        })()
    } finally {
        db.close()
    }
}

async function copyPostgres(spec, count) {
    const { default: pg } = await import('pg')
    const client = new pg.Client({ connectionString: spec.target })
    await client.connect()
    try {
        const { rows } = await client.query(
            `SELECT table_name, column_name FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name LIKE $1 ORDER BY ordinal_position`,
            [`${spec.tablePrefix.replace(/_/g, '\\_')}%`]
        )
        const tables = new Map()
        for (const r of rows)
            tables.set(r.table_name, [...(tables.get(r.table_name) ?? []), r.column_name])
        await client.query('BEGIN')
        for (const [table, columns] of tables) {
            if (!columns.includes('session_id')) continue
            await client.query(
                copyStatement(`"${table}"`, columns, `generate_series(1, ${count - 1}) ids(i)`, {
                    id: "'fleet-' || lpad(ids.i::text, 5, '0')",
                    jid: "'1555' || lpad(ids.i::text, 7, '0') || ':12@s.whatsapp.net'",
                    name: "'Tenant ' || ids.i"
                })
            )
        }
        await client.query('COMMIT')
    } finally {
        await client.end()
    }
}

/** Runs the built binary; resolves with wall time, exit code, stdout and the child's peak RSS. */
function timed(argv) {
    return new Promise((resolve, reject) => {
        const started = performance.now()
        const child = spawn('/usr/bin/time', ['-f', '%M', process.execPath, BIN, ...argv], {
            env: { ...process.env, NO_COLOR: '1' },
            stdio: ['ignore', 'pipe', 'pipe']
        })
        let stdout = ''
        let stderr = ''
        child.stdout.setEncoding('utf8').on('data', d => (stdout += d))
        child.stderr.setEncoding('utf8').on('data', d => (stderr += d))
        child.on('error', reject)
        child.on('close', code => {
            const ms = performance.now() - started
            const lines = stderr.trim().split('\n')
            const peakMb = Math.round(Number(lines.pop()) / 1024)
            resolve({ ms, code, stdout, stderr: lines.join('\n'), peakMb })
        })
    })
}

function expectCode(result, codes, what) {
    if (!codes.includes(result.code))
        throw new Error(`${what} exited ${result.code}: ${result.stderr.slice(0, 400)}`)
}

const fmt = (r, goal) =>
    `${(r.ms / 1000).toFixed(2).padStart(6)} s (goal < ${goal / 1000} s ${r.ms < goal ? 'met' : 'MISSED'}), peak RSS ${r.peakMb} MB`

async function measure(kind, url, count) {
    const list = await timed(['--store', url, 'sessions', 'list', '--json'])
    expectCode(list, [0], 'sessions list')
    const listed = JSON.parse(list.stdout).sessions.length
    if (listed !== count) throw new Error(`sessions list found ${listed} sessions, not ${count}`)
    const check = await timed(['--store', url, 'check', '--all', '--json'])
    // the seeded sessions are healthy but their prekey stock is small: a warning is not a failure
    expectCode(check, [0], 'check --all')
    const checked = JSON.parse(check.stdout).summary.sessions
    if (checked !== count) throw new Error(`check --all checked ${checked} sessions, not ${count}`)
    return { list, check }
}

const urls = storeUrls()
const batches = await template()
const records = batches.reduce(
    (n, b) =>
        n +
        (b.domain === 'auth' || b.domain === 'signal'
            ? 1
            : (b.records ?? b.entries ?? b.syncKeys ?? b.collections ?? []).length +
              (b.senderKeys?.length ?? 0) +
              (b.distributions?.length ?? 0)),
    0
)
console.log(
    `fleet bench: ${FLEET} sessions per store, about ${records} records each (${BACKENDS.join(', ')})`
)
const results = {}
const small = Math.max(1, Math.round(FLEET / 10))
for (const kind of BACKENDS) {
    const url = urls[kind]
    if (!url) throw new Error(`unknown backend ${kind}`)
    const smallUrl = storeUrls()[kind]
    try {
        let t = performance.now()
        await seed(url, FLEET, batches)
        await seed(smallUrl, small, batches)
        console.log(`\n${kind}: seeded in ${((performance.now() - t) / 1000).toFixed(1)} s`)
        if (process.env.BENCH_SEED_ONLY) continue
        const few = await measure(kind, smallUrl, small)
        const all = await measure(kind, url, FLEET)
        console.log(`  sessions list --json  ${fmt(all.list, GOALS.list)}`)
        console.log(`                        (${small} sessions: peak RSS ${few.list.peakMb} MB)`)
        console.log(`  check --all --json    ${fmt(all.check, GOALS.check)}`)
        console.log(`                        (${small} sessions: peak RSS ${few.check.peakMb} MB)`)
        results[kind] = {
            listMs: Math.round(all.list.ms),
            listPeakMb: all.list.peakMb,
            listPeakMbTenth: few.list.peakMb,
            checkMs: Math.round(all.check.ms),
            checkPeakMb: all.check.peakMb,
            checkPeakMbTenth: few.check.peakMb
        }
        if (kind === 'sqlite') {
            for (const [source, n] of [
                [smallUrl, small],
                [url, FLEET]
            ]) {
                const target = storeUrls().postgres
                try {
                    t = performance.now()
                    const migrate = await timed([
                        'migrate',
                        '--from',
                        source,
                        '--to',
                        target,
                        '--all',
                        '--json'
                    ])
                    expectCode(migrate, [0], 'migrate --all')
                    const report = JSON.parse(migrate.stdout)
                    if (report.totals.verifiedSessions !== n)
                        throw new Error(
                            `migrate verified ${report.totals.verifiedSessions} of ${n}`
                        )
                    if (n === FLEET) {
                        console.log(`  migrate --all → postgres ${fmt(migrate, GOALS.migrate)}`)
                        results.migrate = {
                            ms: Math.round(migrate.ms),
                            peakMb: migrate.peakMb,
                            ...results.migrate
                        }
                    } else {
                        console.log(
                            `  migrate --all → postgres, ${n} sessions: ${(migrate.ms / 1000).toFixed(2)} s, peak RSS ${migrate.peakMb} MB`
                        )
                        results.migrate = { peakMbTenth: migrate.peakMb }
                    }
                } finally {
                    await dropStore(target).catch(() => undefined)
                }
            }
        }
    } finally {
        if (process.env.BENCH_KEEP) console.log(`  kept: ${url} ${smallUrl}`)
        else {
            await dropStore(url).catch(() => undefined)
            await dropStore(smallUrl).catch(() => undefined)
        }
    }
}
console.log(
    '\n' + JSON.stringify({ bench: 'fleet', sessions: FLEET, records, goals: GOALS, results })
)
