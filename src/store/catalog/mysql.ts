/** MySQL / MariaDB catalog: tables `<tablePrefix><name>` in the connection's database. */

import type { BackendSpec } from '../address.js'
import type { OpenedBackend } from '../open.js'
import type { SqlTable } from './sql.js'
import { createSqlCatalog } from './sql.js'
import type { ZapoSessionCatalog } from './types.js'

export function mysqlCatalog(backend: OpenedBackend, spec: BackendSpec): ZapoSessionCatalog {
    if (backend.handle.kind !== 'mysql') throw new Error('mysqlCatalog needs a mysql backend')
    const pool = backend.handle.pool
    const prefix = spec.tablePrefix ?? ''
    const physical = (name: SqlTable): string => `${prefix}${name}`
    const query = async (
        sql: string,
        params: readonly unknown[]
    ): Promise<readonly Record<string, unknown>[]> => {
        const [rows] = await pool.query(sql, params as unknown[])
        return rows as Record<string, unknown>[]
    }
    return createSqlCatalog({
        kind: 'mysql',
        query,
        table: name => `\`${physical(name)}\``,
        physical,
        existingTables: async names => {
            if (names.length === 0) return new Set()
            const rows = await query(
                `SELECT table_name AS name FROM information_schema.tables
                 WHERE table_schema = DATABASE() AND table_name IN (${names.map(() => '?').join(', ')})`,
                names
            )
            return new Set(rows.map(r => String(r.name)))
        },
        quote: column => `\`${column}\``,
        uploadedTrue: 'uploaded <> 0',
        where: prefix ? `with prefix "${prefix}"` : 'in the database'
    })
}
