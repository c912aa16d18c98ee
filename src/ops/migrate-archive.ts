/**
 * The archive part of `zapo migrate` (messages, threads, contacts; only with --archive or
 * those --domains): per session, stream the archive records source → target through the
 * store contracts, read every written batch back from the target, and digest both sides the
 * same way as the durable domains. Used by ops/migrate.ts; never prints.
 */

import type { ArchiveDomain } from '../store/address.js'
import type { ArchiveCatalog, ArchiveCounts } from '../store/archive.js'
import {
    compareArchiveCounts,
    digestArchiveRecords,
    readArchiveRecords,
    readBackArchiveBatch,
    writeArchiveRecords
} from '../store/archive.js'
import type { OpenedStore } from '../store/open.js'
import type { DomainDigest } from '../store/records.js'

export interface ArchiveCopyContext {
    readonly src: OpenedStore
    readonly srcCatalog: ArchiveCatalog
    readonly dst: OpenedStore
    readonly dstCatalog: ArchiveCatalog
    readonly domains: readonly ArchiveDomain[]
    readonly batchSize: number
    readonly aborted: () => boolean
}

export interface ArchiveCopyResult {
    readonly copied: number
    readonly source: Record<string, DomainDigest>
    readonly target: Record<string, DomainDigest>
}

/** Copies one session's archive records; null when aborted. `onBatch(n)` after each written batch. */
export async function copyArchiveSession(
    ctx: ArchiveCopyContext,
    sessionId: string,
    onBatch: (records: number) => void
): Promise<ArchiveCopyResult | null> {
    const source = digestArchiveRecords()
    const target = digestArchiveRecords()
    let copied = 0
    for await (const batch of readArchiveRecords(ctx.src, ctx.srcCatalog, sessionId, {
        domains: ctx.domains,
        batchSize: ctx.batchSize
    })) {
        if (ctx.aborted()) return null
        source.add(batch)
        await writeArchiveRecords(ctx.dst, sessionId, batch)
        target.add(await readBackArchiveBatch(ctx.dst, sessionId, batch))
        copied += batch.records.length
        onBatch(batch.records.length)
    }
    return { copied, source: source.result(), target: target.result() }
}

/** Digest of one session's archive records in `store`; null when aborted. */
export async function digestArchiveOf(
    store: OpenedStore,
    catalog: ArchiveCatalog,
    sessionId: string,
    domains: readonly ArchiveDomain[],
    batchSize: number,
    aborted: () => boolean
): Promise<Record<string, DomainDigest> | null> {
    const digest = digestArchiveRecords()
    for await (const batch of readArchiveRecords(store, catalog, sessionId, {
        domains,
        batchSize
    })) {
        if (aborted()) return null
        digest.add(batch)
    }
    return digest.result()
}

/**
 * After re-copying a session the target held before (resume / overwrite): archive domains
 * where the target holds other records than were copied, in the shape of a digest mismatch.
 */
export async function archiveLeftovers(
    dstCatalog: ArchiveCatalog,
    sessionId: string,
    copied: Readonly<Record<string, DomainDigest>>,
    domains: readonly ArchiveDomain[]
): Promise<{ domain: string; source: DomainDigest | null; target: null; extra: string }[]> {
    const counts: ArchiveCounts = await dstCatalog.counts(sessionId)
    return compareArchiveCounts(copied, counts, domains).map(d => ({
        domain: d.domain,
        source: copied[d.domain] ?? null,
        target: null,
        extra: `${d.domain}: copied ${d.copied}, target holds ${d.target}`
    }))
}
