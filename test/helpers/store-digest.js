/**
 * A digest of everything an isolated test store holds (every table with the test's prefix /
 * every key with its prefix), to prove that a command left a store exactly as it was.
 * `storeDigest(url) → Promise<string>`; a SQLite file that does not exist digests as 'absent'.
 */

import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { parseStoreUrl } from '../../dist/store/address.js'

function canonical(value) {
    if (value === null || value === undefined) return null
    if (Buffer.isBuffer(value) || value instanceof Uint8Array)
        return `hex:${Buffer.from(value).toString('hex')}`
    if (typeof value === 'bigint') return `big:${value}`
    if (value instanceof Date) return `date:${value.toISOString()}`
    if (typeof value === 'object') return JSON.stringify(value)
    return value
}

/** zapo's session lease table: created by the first command that takes a lease, empty after it. */
const LEASES_TABLE = 'zapo_session_leases'

/** zapo's Redis lease keys: `<keyPrefix>zapo:lease:<sessionId>`. */
const LEASE_KEY = 'zapo:lease:'

// `ignoreLeases`: leave leases out whole (a test whose commands run side by side sees the
// leases of those still running); by default only an empty lease table is no state
function digestTables(all, ignoringLeases = false) {
    const hash = createHash('sha256')
    // an empty lease table is no state (a lease a command left behind still changes the digest)
    const tables = all
        .filter(
            ([name, rows]) =>
                !(name.endsWith(LEASES_TABLE) && (rows.length === 0 || ignoringLeases))
        )
        .map(([name, rows]) =>
            name === 'keys' && ignoringLeases
                ? [name, rows.filter(row => !String(row.key).includes(LEASE_KEY))]
                : [name, rows]
        )
    for (const [name, rows] of [...tables].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
        const lines = rows
            .map(row => JSON.stringify(Object.entries(row).map(([k, v]) => [k, canonical(v)])))
            .sort()
        hash.update(`${name}\n${lines.join('\n')}\n`)
    }
    return hash.digest('hex')
}

export async function storeDigest(url, { ignoreLeases = false } = {}) {
    const spec = parseStoreUrl(url, 'flag', process.cwd())
    switch (spec.kind) {
        case 'sqlite': {
            if (!existsSync(spec.target)) return 'absent'
            const { default: Database } = await import('better-sqlite3')
            const db = new Database(spec.target, { readonly: true, fileMustExist: true })
            try {
                const names = db
                    .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
                    .all()
                return digestTables(
                    names.map(({ name }) => [name, db.prepare(`SELECT * FROM "${name}"`).all()]),
                    ignoreLeases
                )
            } finally {
                db.close()
            }
        }
        case 'postgres': {
            const { default: pg } = await import('pg')
            const pool = new pg.Pool({ connectionString: spec.target, max: 1 })
            try {
                const { rows } = await pool.query(
                    `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND starts_with(table_name, $1)`,
                    [spec.tablePrefix]
                )
                const tables = []
                for (const { table_name: name } of rows)
                    tables.push([name, (await pool.query(`SELECT * FROM "${name}"`)).rows])
                return digestTables(tables, ignoreLeases)
            } finally {
                await pool.end()
            }
        }
        case 'mysql': {
            const mysql = await import('mysql2/promise')
            const conn = await mysql.createConnection({ uri: spec.target })
            try {
                const [rows] = await conn.query(
                    'SELECT table_name AS name FROM information_schema.tables WHERE table_schema = DATABASE() AND LEFT(table_name, ?) = ?',
                    [spec.tablePrefix.length, spec.tablePrefix]
                )
                const tables = []
                for (const { name } of rows)
                    tables.push([name, (await conn.query(`SELECT * FROM \`${name}\``))[0]])
                return digestTables(tables, ignoreLeases)
            } finally {
                await conn.end()
            }
        }
        case 'redis': {
            const { Redis } = await import('ioredis')
            const redis = new Redis(spec.target, { lazyConnect: true, maxRetriesPerRequest: 1 })
            try {
                await redis.connect()
                const pattern = `${spec.keyPrefix.replace(/[*?[\]\\]/g, ch => `\\${ch}`)}*`
                const keys = []
                let cursor = '0'
                do {
                    const [next, found] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000)
                    cursor = next
                    keys.push(...found)
                } while (cursor !== '0')
                const rows = []
                for (const key of keys.sort())
                    rows.push({ key, value: await redisValue(redis, key) })
                return digestTables([['keys', rows]], ignoreLeases)
            } finally {
                redis.disconnect()
            }
        }
        case 'mongo': {
            const { MongoClient } = await import('mongodb')
            const client = new MongoClient(spec.target)
            try {
                await client.connect()
                const db = client.db()
                const names = (await db.listCollections({}, { nameOnly: true }).toArray())
                    .map(c => c.name)
                    .filter(name => name.startsWith(spec.collectionPrefix))
                const tables = []
                for (const name of names) {
                    const docs = await db.collection(name).find({}).toArray()
                    tables.push([name, docs.map(d => ({ doc: JSON.stringify(d) }))])
                }
                return digestTables(tables, ignoreLeases)
            } finally {
                await client.close()
            }
        }
    }
    throw new Error(`storeDigest: unsupported store ${url}`)
}

async function redisValue(redis, key) {
    const type = await redis.type(key)
    switch (type) {
        case 'string':
            return (await redis.getBuffer(key)).toString('hex')
        case 'hash': {
            const all = await redis.hgetallBuffer(key)
            return Object.entries(all)
                .map(([k, v]) => `${k}=${v.toString('hex')}`)
                .sort()
                .join(',')
        }
        case 'set':
            return (await redis.smembersBuffer(key))
                .map(v => v.toString('hex'))
                .sort()
                .join(',')
        case 'zset':
            return (await redis.zrange(key, 0, -1, 'WITHSCORES')).join(',')
        case 'list':
            return (await redis.lrangeBuffer(key, 0, -1)).map(v => v.toString('hex')).join(',')
        default:
            return type
    }
}
