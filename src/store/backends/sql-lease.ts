/**
 * Session leases in the SQL backends (store/lease.ts): table `<tablePrefix>zapo_session_leases`,
 * one row per leased session. Taking is one statement the database runs atomically — an insert
 * that, on the session's existing row, overwrites it only when it has expired — followed by
 * reading whose token the row holds. Renewal and release name the token, so they never touch a
 * lease another holder took since.
 */

import { LEASES_TABLE, toLease, type LeaseRecord, type SessionLeases } from '../lease.js'
import type { SqlDialect } from './sql.js'

const COLUMNS = ['token', 'command', 'host', 'pid', 'since', 'expires'] as const

function ddl(kind: SqlDialect['kind'], ref: string): string {
    const id = kind === 'mysql' ? 'VARCHAR(191) NOT NULL PRIMARY KEY' : 'TEXT PRIMARY KEY'
    const text = kind === 'mysql' ? 'VARCHAR(255)' : 'TEXT'
    return `CREATE TABLE IF NOT EXISTS ${ref} (session_id ${id}, token ${text} NOT NULL, command ${text} NOT NULL, host ${text} NOT NULL, pid BIGINT NOT NULL, since BIGINT NOT NULL, expires BIGINT NOT NULL)`
}

function takeStatement(kind: SqlDialect['kind'], ref: string): string {
    const insert = `INSERT INTO ${ref} (session_id, ${COLUMNS.join(', ')}) VALUES (?, ?, ?, ?, ?, ?, ?)`
    if (kind === 'mysql') {
        // every assignment tests the row's old expiry: `expires` is assigned last
        const set = COLUMNS.map(c => `${c} = IF(expires < ?, VALUES(${c}), ${c})`).join(', ')
        return `${insert} ON DUPLICATE KEY UPDATE ${set}`
    }
    const set = COLUMNS.map(c => `${c} = excluded.${c}`).join(', ')
    return `${insert} ON CONFLICT (session_id) DO UPDATE SET ${set} WHERE ${ref}.expires < ?`
}

/**
 * Runs `create` (a CREATE … IF NOT EXISTS) until the table exists: two processes creating it at
 * once may see the other's half-made table (PostgreSQL: `duplicate key … pg_type_typname_nsp_index`
 * or 42P07), which is a race to retry, not a store fault.
 */
export async function createTableIdempotently(
    dialect: SqlDialect,
    physical: string,
    create: () => Promise<void>
): Promise<void> {
    for (let attempt = 1; ; attempt++) {
        try {
            await create()
            return
        } catch (error) {
            if ((await dialect.existingTables([physical]).catch(() => new Set())).size > 0) return
            if (attempt >= 5) throw error
            await new Promise(resolve => setTimeout(resolve, 20 * attempt + Math.random() * 30))
        }
    }
}

export function sqlLeases(dialect: SqlDialect): SessionLeases {
    const ref = dialect.table(LEASES_TABLE)
    const physical = dialect.physical(LEASES_TABLE)
    let created: Promise<void> | null = null
    const ensure = async (): Promise<void> => {
        created ??= createTableIdempotently(dialect, physical, () =>
            dialect.execute(ddl(dialect.kind, ref), [])
        ).catch(error => {
            created = null
            throw error
        })
        await created
    }
    const exists = async (): Promise<boolean> => (await dialect.existingTables([physical])).size > 0
    const row = async (sessionId: string): Promise<LeaseRecord | null> => {
        const rows = await dialect.query(
            `SELECT ${COLUMNS.join(', ')} FROM ${ref} WHERE session_id = ?`,
            [sessionId]
        )
        return toLease(rows[0])
    }
    return {
        take: async (sessionId, lease, now) => {
            await ensure()
            const values = [
                sessionId,
                lease.token,
                lease.command,
                lease.host,
                lease.pid,
                lease.since,
                lease.expires
            ]
            const extra = dialect.kind === 'mysql' ? COLUMNS.map(() => now) : [now]
            for (;;) {
                await dialect.execute(takeStatement(dialect.kind, ref), [...values, ...extra])
                const held = await row(sessionId)
                // released between the two statements: the session is free, take it again
                if (held !== null) return held.token === lease.token ? null : held
            }
        },
        renew: async (sessionId, token, expires) => {
            await dialect.execute(
                `UPDATE ${ref} SET expires = ? WHERE session_id = ? AND token = ?`,
                [expires, sessionId, token]
            )
            return (await row(sessionId))?.token === token
        },
        release: async (sessionId, token) => {
            if (!(await exists())) return
            await dialect.execute(`DELETE FROM ${ref} WHERE session_id = ? AND token = ?`, [
                sessionId,
                token
            ])
        },
        read: async (sessionId, now) => {
            if (!(await exists())) return null
            const held = await row(sessionId)
            return held !== null && held.expires >= now ? held : null
        }
    }
}
