/** PostgreSQL catalog: tables `<tablePrefix><name>` in the connection's current schema. */

import type { BackendSpec } from '../address.js'
import type { OpenedBackend } from '../open.js'
import type { SqlTable } from './sql.js'
import { createSqlCatalog } from './sql.js'
import type { ZapoSessionCatalog } from './types.js'

export function postgresCatalog(backend: OpenedBackend, spec: BackendSpec): ZapoSessionCatalog {
    if (backend.handle.kind !== 'postgres')
        throw new Error('postgresCatalog needs a postgres backend')
    const pool = backend.handle.pool
    const prefix = spec.tablePrefix ?? ''
    const physical = (name: SqlTable): string => `${prefix}${name}`
    const query = async (
        sql: string,
        params: readonly unknown[]
    ): Promise<readonly Record<string, unknown>[]> => {
        let n = 0
        const text = sql.replace(/\?/g, () => `$${++n}`)
        const result = await pool.query(text, params as unknown[])
        return result.rows as Record<string, unknown>[]
    }
    return createSqlCatalog({
        kind: 'postgres',
        query,
        table: name => `"${physical(name)}"`,
        physical,
        existingTables: async names => {
            const rows = await query(
                `SELECT table_name FROM information_schema.tables
                 WHERE table_schema = current_schema() AND table_name = ANY(?)`,
                [names]
            )
            return new Set(rows.map(r => String(r.table_name)))
        },
        quote: column => `"${column}"`,
        uploadedTrue: 'uploaded',
        where: prefix ? `with prefix "${prefix}"` : 'in the current schema'
    })
}
