/**
 * `zapo sessions rm ID`: removes one session's durable state from a store without contacting any
 * server (a session paired against a sandbox that is gone, a device already unlinked on the
 * phone). The session's lease first, then what it holds is read under it and shown
 * (`beginSessionRemoval`), then the one write (`remove()`): every durable domain cleared by the
 * store layer's exact keys (`clearSession`, credentials last, so an interrupted removal still
 * lists the session and a rerun finishes it).
 */

import { zapoCommand } from '../hints.js'
import { ZapoError } from '../errors.js'
import type { StoreSpec } from '../store/address.js'
import type { ZapoSessionCatalog } from '../store/catalog.js'
import type { OpenedStore } from '../store/open.js'
import type { SessionCounts } from '../store/records.types.js'
import { openForReading } from './read-store.js'

export interface SessionRemovalPreview {
    readonly store: string
    readonly sessionId: string
    /** the device the credentials name, null when it never paired (or has no credentials) */
    readonly meJid: string | null
    readonly counts: SessionCounts
}

export interface SessionRemoval {
    readonly store: string
    readonly sessionId: string
    readonly meJid: string | null
    readonly before: SessionCounts
    readonly after: SessionCounts
    /** keys a Redis store left alone because another session's keys read the same way */
    readonly shared: readonly string[]
}

/** What `removeSession` would remove; SESSION_NOT_FOUND when the store holds nothing of it. */
export async function previewSessionRemoval(
    spec: StoreSpec,
    sessionId: string
): Promise<SessionRemovalPreview> {
    const readable = await openForReading(spec)
    try {
        const missing = readable.schema === 'missing'
        return await preview(readable.store, readable.catalog, missing, spec, sessionId)
    } finally {
        await readable.close()
    }
}

async function preview(
    store: OpenedStore,
    catalog: ZapoSessionCatalog,
    schemaMissing: boolean,
    spec: StoreSpec,
    sessionId: string
): Promise<SessionRemovalPreview> {
    const counts = schemaMissing ? null : await catalog.counts(sessionId)
    if (counts === null || isEmpty(counts)) {
        throw new ZapoError(
            'SESSION_NOT_FOUND',
            `no session "${sessionId}" in ${spec.label}: nothing to remove (${zapoCommand('sessions', 'list')} shows what it holds)`,
            { sessionId, store: spec.label }
        )
    }
    const credentials = counts.credentials ? await store.domain('auth', sessionId).load() : null
    const meJid =
        typeof credentials?.meJid === 'string' && credentials.meJid !== ''
            ? credentials.meJid
            : null
    return { store: spec.label, sessionId, meJid, counts }
}

/** A removal under way: the session's lease is held, and `preview` was read under it. */
export interface PendingRemoval {
    readonly preview: SessionRemovalPreview
    /** clears the session (still under the lease) and releases it */
    remove(): Promise<SessionRemoval>
    /** releases the lease without removing anything (declined); later calls do nothing */
    release(): Promise<void>
}

/**
 * Takes the session's lease, then reads what `remove()` will clear — so what is shown and asked
 * about is what is removed: no other zapo run writes the session between the two. A store or
 * session that does not exist is SESSION_NOT_FOUND before anything is opened for writing (nor
 * created); a session another zapo run holds is SESSION_BUSY (exit 21) naming it.
 */
export async function beginSessionRemoval(
    spec: StoreSpec,
    sessionId: string,
    options: { readonly waitMs?: number; readonly signal?: AbortSignal } = {}
): Promise<PendingRemoval> {
    // nothing to remove: said without creating a file, a schema or a lease
    await previewSessionRemoval(spec, sessionId)
    const [{ openStore }, { catalogForStore }, { clearSession }, { takeLeases }] =
        await Promise.all([
            import('../store/open.js'),
            import('../store/catalog.js'),
            import('../store/records.js'),
            import('../store/lease.js')
        ])
    const store = await openStore(spec, 'write')
    let held: Awaited<ReturnType<typeof takeLeases>> | null = null
    let done = false
    const release = async (): Promise<void> => {
        if (done) return
        done = true
        await held?.release()
        await store.close()
    }
    try {
        // one writer per session: nothing else writes it or connects as its device meanwhile
        held = await takeLeases(store.primary, [sessionId], {
            command: 'sessions rm',
            waitMs: options.waitMs ?? 0,
            ...(options.signal ? { signal: options.signal } : {})
        })
        const catalog = catalogForStore(store)
        const missing = (await catalog.schemaState()).state === 'missing'
        const shown = await preview(store, catalog, missing, spec, sessionId)
        const lease = held
        return {
            preview: shown,
            release,
            remove: async () => {
                try {
                    // a confirmation may have taken a while: the lease must still be ours
                    await lease.confirm()
                    const { shared } = await clearSession(store, sessionId)
                    const after = await catalog.counts(sessionId)
                    return {
                        store: spec.label,
                        sessionId,
                        meJid: shown.meJid,
                        before: shown.counts,
                        after,
                        shared
                    }
                } finally {
                    await release()
                }
            }
        }
    } catch (error) {
        await release()
        throw error
    }
}

/**
 * `sessions rm` without a confirmation in between: takes the lease, reads, clears, releases.
 * A session that is gone by now is SESSION_NOT_FOUND.
 */
export async function removeSession(
    spec: StoreSpec,
    sessionId: string,
    options: { readonly waitMs?: number } = {}
): Promise<SessionRemoval> {
    const pending = await beginSessionRemoval(spec, sessionId, options)
    return pending.remove()
}

export function isEmpty(counts: SessionCounts): boolean {
    return Object.values(counts).every(v => v === false || v === 0)
}
