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
 * Where the marks live (never read by zapo-js or the store packages), kept by each backend's
 * adapter (store/backends/):
 *   sqlite / postgres / mysql   table `<tablePrefix>zapo_migrate_marks`
 *   redis                       hash  `<keyPrefix>zapo:migrate:marks` (field = session id)
 *   mongo                       collection `<collectionPrefix>zapo_migrate_marks`
 *
 * Reading never creates anything: a store without the table has no marks.
 */

import type { OpenedBackend } from './backends/types.js'

const MARK_STATES = Object.freeze(['copying', 'verified', 'deleting-source', 'moved'] as const)
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

/** The marks of an opened backend (see its adapter). */
export function migrationMarksFor(backend: OpenedBackend): MigrationMarks {
    return backend.marks()
}

function isMarkState(value: unknown): value is MarkState {
    return typeof value === 'string' && (MARK_STATES as readonly string[]).includes(value)
}

/** One stored mark, or null when its state is not one zapo writes. */
export function toMark(row: {
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

/** Marks by session id from rows `{ session_id, source, state, updated_at }`. */
export function collectMarks(rows: readonly Record<string, unknown>[]): Map<string, MigrationMark> {
    const out = new Map<string, MigrationMark>()
    for (const row of rows) {
        const mark = toMark(row as never)
        if (mark) out.set(mark.sessionId, mark)
    }
    return out
}
