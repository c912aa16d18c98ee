/**
 * SQLite catalog. The connection of `@zapo-js/store-sqlite` rewrites the logical table names in
 * SQL text to the configured `tableNames` overrides, so queries name logical tables; the
 * existence check binds physical names as parameters (which are not rewritten).
 */

import type { BackendSpec } from '../address.js'
import type { OpenedBackend } from '../open.js'
import type { SqlTable } from './sql.js'
import { createSqlCatalog } from './sql.js'
import type { ZapoSessionCatalog } from './types.js'

export function sqliteCatalog(backend: OpenedBackend, spec: BackendSpec): ZapoSessionCatalog {
    if (backend.handle.kind !== 'sqlite') throw new Error('sqliteCatalog needs a sqlite backend')
    const db = backend.handle.connection
    const physical = (name: SqlTable): string => spec.tableNames?.[name] ?? name
    return createSqlCatalog({
        kind: 'sqlite',
        query: async (sql, params) => db.all(sql, params),
        table: name => `"${name}"`,
        physical,
        existingTables: async names => {
            if (names.length === 0) return new Set()
            const rows = db.all<{ name: string }>(
                `SELECT name FROM sqlite_master WHERE type = 'table' AND name IN (${names.map(() => '?').join(', ')})`,
                names
            )
            return new Set(rows.map(r => r.name))
        },
        quote: column => `"${column}"`,
        uploadedTrue: 'uploaded <> 0',
        where: `in ${spec.target}`
    })
}
