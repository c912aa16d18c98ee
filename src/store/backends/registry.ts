/**
 * The storage backends zapo knows, one adapter each. Adding a backend is one adapter file and one
 * line here; the store grammar, opening, catalogs, marks and error classification all go
 * through this table.
 */

import { baileysBackend } from './baileys/index.js'
import { mongoBackend } from './mongo.js'
import { mysqlBackend } from './mysql.js'
import { postgresBackend } from './postgres.js'
import { redisBackend } from './redis/index.js'
import { sqliteBackend } from './sqlite.js'
import { whatsmeowBackend } from './whatsmeow/index.js'
import type { BackendAdapter, DriverErrorClass } from './types.js'

export const BACKENDS = Object.freeze({
    sqlite: sqliteBackend,
    postgres: postgresBackend,
    mysql: mysqlBackend,
    redis: redisBackend,
    mongo: mongoBackend,
    baileys: baileysBackend,
    whatsmeow: whatsmeowBackend
})

export type BackendKind = keyof typeof BACKENDS

export const BACKEND_KINDS: readonly BackendKind[] = Object.freeze(
    Object.keys(BACKENDS) as BackendKind[]
)

export function backendAdapter(kind: BackendKind): BackendAdapter<BackendKind> {
    return BACKENDS[kind]
}

/** Every adapter, in registration order. */
export function allBackends(): readonly BackendAdapter<BackendKind>[] {
    return BACKEND_KINDS.map(kind => BACKENDS[kind])
}

/**
 * The class of a driver error, asked of every adapter (a routed store may use several drivers);
 * null when no driver claims it: then the data, not the store, is at fault.
 */
export function classifyDriverError(error: unknown): DriverErrorClass | null {
    for (const adapter of allBackends()) {
        const found = adapter.classify(error)
        if (found !== null) return found
    }
    return null
}
