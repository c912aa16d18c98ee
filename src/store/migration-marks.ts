/**
 * The migration journal `zapo migrate` keeps in the TARGET store: one small
 * mark per migrated session, saying which source it came from and how far
 * the copy got. It lives next to the data it describes, so it survives
 * kill -9, a lost working directory or a rerun from another machine, and it
 * is committed by the target database itself (one row / one hash field).
 *
 *   copying          written before the first record of a session is copied
 *   verified         written after the session read back from the target equals the source
 *   deleting-source  written before --delete-source clears the source session
 *   moved            written after the source session was cleared
 *
 * Where the marks live (never read by zapo-js or the store packages):
 *   sqlite / postgres / mysql   table `<tablePrefix>zapo_migrate_marks`
 *   redis                       hash  `<keyPrefix>zapo:migrate:marks` (field = session id)
 *   mongo                       collection `<collectionPrefix>zapo_migrate_marks`
 *
 * Reading never creates anything: a store without the table has no marks.
 */

import type { OpenedBackend } from './open.js'

export const MARK_STATES = Object.freeze([
    'copying',
    'verified',
    'deleting-source',
    'moved'
] as const)
export type MarkState = (typeof MARK_STATES)[number]

export interface MigrationMark {
    readonly sessionId: string
    /** the source store's printable address (no password): which migration wrote the mark */
    readonly source: string
    readonly state: MarkState
    /** ms since epoch */
    readonly updatedAt: number
}

export interface MigrationMarks {
    /** every mark in the store, by session id (empty when the journal does not exist) */
    readAll(): Promise<ReadonlyMap<string, MigrationMark>>
    /** upserts one mark; creates the journal on first use */
    write(mark: MigrationMark): Promise<void>
    remove(sessionId: string): Promise<void>
}

export const MARKS_TABLE = 'zapo_migrate_marks'
export const MARKS_REDIS_KEY = 'zapo:migrate:marks'

export function migrationMarksFor(backend: OpenedBackend): MigrationMarks {
    const handle = backend.handle
    switch (handle.kind) {
        case 'sqlite':
            return sqliteMarks(handle.connection, quoteIdent(MARKS_TABLE, '"'))
        case 'postgres':
            return postgresMarks(
                handle.pool,
                quoteIdent(`${backend.spec.tablePrefix ?? ''}${MARKS_TABLE}`, '"')
            )
        case 'mysql':
            return mysqlMarks(
                handle.pool,
                quoteIdent(`${backend.spec.tablePrefix ?? ''}${MARKS_TABLE}`, '`')
            )
        case 'redis':
            return redisMarks(handle.redis, `${backend.spec.keyPrefix ?? ''}${MARKS_REDIS_KEY}`)
        case 'mongo':
            return mongoMarks(handle.db, `${backend.spec.collectionPrefix ?? ''}${MARKS_TABLE}`)
    }
}

function quoteIdent(name: string, quote: string): string {
    // prefixes are validated to [A-Za-z0-9_] by the store grammar
    return `${quote}${name}${quote}`
}

function isMarkState(value: unknown): value is MarkState {
    return typeof value === 'string' && (MARK_STATES as readonly string[]).includes(value)
}

function toMark(row: {
    session_id: unknown
    source: unknown
    state: unknown
    updated_at: unknown
}): MigrationMark | null {
    if (!isMarkState(row.state)) return null
    return {
        sessionId: String(row.session_id),
        source: String(row.source),
        state: row.state,
        updatedAt: Number(row.updated_at)
    }
}

function collect(rows: readonly Record<string, unknown>[]): Map<string, MigrationMark> {
    const out = new Map<string, MigrationMark>()
    for (const row of rows) {
        const mark = toMark(row as never)
        if (mark) out.set(mark.sessionId, mark)
    }
    return out
}

function sqliteMarks(
    connection: import('@zapo-js/store-sqlite').WaSqliteConnection,
    table: string
): MigrationMarks {
    let created = false
    const ensure = (): void => {
        if (created) return
        connection.exec(
            `CREATE TABLE IF NOT EXISTS ${table} (session_id TEXT PRIMARY KEY, source TEXT NOT NULL, state TEXT NOT NULL, updated_at INTEGER NOT NULL)`
        )
        created = true
    }
    const exists = (): boolean =>
        connection.get(`SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?`, [
            table.slice(1, -1)
        ]) !== null
    return {
        readAll: async () => {
            if (!exists()) return new Map()
            return collect(
                connection.all(`SELECT session_id, source, state, updated_at FROM ${table}`)
            )
        },
        write: async mark => {
            ensure()
            connection.run(
                `INSERT INTO ${table} (session_id, source, state, updated_at) VALUES (?, ?, ?, ?)
                 ON CONFLICT (session_id) DO UPDATE SET source = excluded.source, state = excluded.state, updated_at = excluded.updated_at`,
                [mark.sessionId, mark.source, mark.state, mark.updatedAt]
            )
        },
        remove: async sessionId => {
            if (!exists()) return
            connection.run(`DELETE FROM ${table} WHERE session_id = ?`, [sessionId])
        }
    }
}

function postgresMarks(pool: import('pg').Pool, table: string): MigrationMarks {
    // one CREATE per process: concurrent first writes would race in the database catalog
    let created: Promise<unknown> | null = null
    const ensure = async (): Promise<void> => {
        created ??= pool
            .query(
                `CREATE TABLE IF NOT EXISTS ${table} (session_id TEXT PRIMARY KEY, source TEXT NOT NULL, state TEXT NOT NULL, updated_at BIGINT NOT NULL)`
            )
            .catch(error => {
                created = null
                throw error
            })
        await created
    }
    const exists = async (): Promise<boolean> => {
        const result = await pool.query<{ name: string | null }>('SELECT to_regclass($1) AS name', [
            table
        ])
        return result.rows[0]?.name !== null && result.rows[0]?.name !== undefined
    }
    return {
        readAll: async () => {
            if (!(await exists())) return new Map()
            const result = await pool.query(
                `SELECT session_id, source, state, updated_at FROM ${table}`
            )
            return collect(result.rows)
        },
        write: async mark => {
            await ensure()
            await pool.query(
                `INSERT INTO ${table} (session_id, source, state, updated_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (session_id) DO UPDATE SET source = EXCLUDED.source, state = EXCLUDED.state, updated_at = EXCLUDED.updated_at`,
                [mark.sessionId, mark.source, mark.state, mark.updatedAt]
            )
        },
        remove: async sessionId => {
            if (!(await exists())) return
            await pool.query(`DELETE FROM ${table} WHERE session_id = $1`, [sessionId])
        }
    }
}

function mysqlMarks(pool: import('mysql2/promise').Pool, table: string): MigrationMarks {
    // one CREATE per process: concurrent first writes would race in the database catalog
    let created: Promise<unknown> | null = null
    const ensure = async (): Promise<void> => {
        created ??= pool
            .query(
                `CREATE TABLE IF NOT EXISTS ${table} (session_id VARCHAR(191) NOT NULL PRIMARY KEY, source TEXT NOT NULL, state VARCHAR(32) NOT NULL, updated_at BIGINT NOT NULL)`
            )
            .catch(error => {
                created = null
                throw error
            })
        await created
    }
    const exists = async (): Promise<boolean> => {
        const [rows] = await pool.query(
            'SELECT 1 AS found FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?',
            [table.slice(1, -1)]
        )
        return (rows as unknown[]).length > 0
    }
    return {
        readAll: async () => {
            if (!(await exists())) return new Map()
            const [rows] = await pool.query(
                `SELECT session_id, source, state, updated_at FROM ${table}`
            )
            return collect(rows as Record<string, unknown>[])
        },
        write: async mark => {
            await ensure()
            await pool.query(
                `INSERT INTO ${table} (session_id, source, state, updated_at) VALUES (?, ?, ?, ?)
                 ON DUPLICATE KEY UPDATE source = VALUES(source), state = VALUES(state), updated_at = VALUES(updated_at)`,
                [mark.sessionId, mark.source, mark.state, mark.updatedAt]
            )
        },
        remove: async sessionId => {
            if (!(await exists())) return
            await pool.query(`DELETE FROM ${table} WHERE session_id = ?`, [sessionId])
        }
    }
}

function redisMarks(redis: import('ioredis').Redis, key: string): MigrationMarks {
    return {
        readAll: async () => {
            const fields = await redis.hgetall(key)
            const out = new Map<string, MigrationMark>()
            for (const [sessionId, value] of Object.entries(fields)) {
                try {
                    const parsed = JSON.parse(value) as {
                        source?: unknown
                        state?: unknown
                        updatedAt?: unknown
                    }
                    const mark = toMark({
                        session_id: sessionId,
                        source: parsed.source,
                        state: parsed.state,
                        updated_at: parsed.updatedAt
                    })
                    if (mark) out.set(sessionId, mark)
                } catch {
                    // an unreadable mark is no mark: the session is then treated as pre-existing
                }
            }
            return out
        },
        write: async mark => {
            await redis.hset(
                key,
                mark.sessionId,
                JSON.stringify({
                    source: mark.source,
                    state: mark.state,
                    updatedAt: mark.updatedAt
                })
            )
        },
        remove: async sessionId => {
            await redis.hdel(key, sessionId)
        }
    }
}

function mongoMarks(db: import('mongodb').Db, name: string): MigrationMarks {
    interface MarkDoc {
        _id: string
        source: string
        state: string
        updatedAt: number
    }
    const collection = db.collection<MarkDoc>(name)
    return {
        readAll: async () => {
            const out = new Map<string, MigrationMark>()
            for await (const doc of collection.find({})) {
                const mark = toMark({
                    session_id: doc._id,
                    source: doc.source,
                    state: doc.state,
                    updated_at: doc.updatedAt
                })
                if (mark) out.set(mark.sessionId, mark)
            }
            return out
        },
        write: async mark => {
            await collection.updateOne(
                { _id: mark.sessionId },
                { $set: { source: mark.source, state: mark.state, updatedAt: mark.updatedAt } },
                { upsert: true }
            )
        },
        remove: async sessionId => {
            await collection.deleteOne({ _id: sessionId })
        }
    }
}
