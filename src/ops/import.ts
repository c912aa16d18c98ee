/**
 * `zapo import`: decrypts a zapo export, verifies it completely (age MAC,
 * format version, structure, per-domain counts and SHA-256, every record's
 * encoding, credential integrity), and only then writes it into the target
 * store, all-or-nothing:
 *
 * - a session id that already holds records is refused (EXISTS) before
 *   anything is written, unless `force`;
 * - with `force`, the existing session is first read into memory (a
 *   snapshot), then cleared;
 * - records are written through the store contracts, credentials (auth) last,
 *   so that a process killed half-way leaves no session a client would log
 *   in with;
 * - on any failure every session this run touched is cleared again (safe:
 *   the id held nothing before, or held exactly the snapshot) and snapshots
 *   are written back.
 *
 * After writing, the session is read back and compared record by record
 * (digests) with what the file holds.
 */

import { zapoCommand } from '../hints.js'
import { ZapoError } from '../errors.js'
import { decryptAge, inspectAgeFile, type AgeFileInfo } from '../export/age.js'
import {
    batchesOf,
    decodedRecords,
    hasRecords,
    parseExport,
    type DomainSummary,
    type ExportCounts,
    type ParsedExport,
    type ParsedSession
} from '../export/format.js'
import { DURABLE_DOMAINS, type DurableDomain, type StoreSpec } from '../store/address.js'
import { catalogFor } from '../store/catalog.js'
import { failureKind, storeProblem } from '../store/failures.js'
import { assertNewSessionIds } from '../store/session-ids.js'
import { assertWritable, openStore, type OpenedStore } from '../store/open.js'
import { assertNotLive, takeLeases, type HeldLeases } from '../store/lease.js'
import { lastLoginMs } from '../store/last-login.js'
import {
    batchSizeOf,
    clearSession,
    digestSession,
    digestSessionRecords,
    readSessionRecords,
    writeSessionRecords
} from '../store/records.js'
import type { RecordBatch, SessionCatalog } from '../store/records.types.js'
import { checkCredentialIntegrity, type IntegrityCheck } from './integrity.js'

export interface ImportOptions {
    /** the export file's bytes (binary or armored) */
    readonly input: Uint8Array
    /** the file's name, for messages */
    readonly name: string
    /** the target store; may be null for a dry run */
    readonly store: StoreSpec | null
    /** import the (single) session under this id instead of its own */
    readonly sessionId: string | null
    readonly force: boolean
    readonly dryRun: boolean
    /** age identities (AGE-SECRET-KEY-1…) for recipient-encrypted files */
    readonly identities: readonly string[]
    /**
     * Asked only when the file is passphrase-encrypted; returns null when no
     * passphrase source exists (the caller's flags/prompt policy).
     */
    readonly passphrase: () => Promise<string | null>
    /** records per store write (default 500) */
    readonly batchSize?: number
    /** how long to wait for sessions another zapo run holds (their leases), in ms */
    readonly waitMs?: number
    /** with force: replace sessions that logged in within the live window too */
    readonly overwriteLive?: boolean
}

export interface ImportDeps {
    readonly onWarning?: (line: string) => void
    readonly onProgress?: (event: {
        readonly sessionId: string
        readonly records: number
        readonly total: number
    }) => void
    /**
     * aborting (Ctrl-C) stops at the next step — after decryption, between checks and between
     * batches — with CANCELLED; what was written is rolled back first
     */
    readonly signal?: AbortSignal
    /** test hook: called before each batch write; throwing simulates a failure half-way */
    readonly beforeWrite?: (
        sessionId: string,
        batch: RecordBatch,
        index: number
    ) => void | Promise<void>
}

export interface ImportedSession {
    /** the id in the file */
    readonly sourceId: string
    /** the id written in the target store */
    readonly id: string
    readonly meJid: string | null
    readonly meLid: string | null
    readonly paired: boolean
    readonly counts: ExportCounts
    readonly domains: Readonly<Partial<Record<DurableDomain, DomainSummary>>>
    readonly integrity: readonly IntegrityCheck[]
    /** true when an existing session was replaced (force) */
    readonly replaced: boolean
}

export interface ImportResult {
    readonly dryRun: boolean
    readonly file: {
        readonly name: string
        readonly format: string
        readonly version: number
        readonly createdAt: string
        readonly zapo: string | null
        readonly zapoJs: string | null
        readonly encryption: 'passphrase' | 'recipients'
        readonly armored: boolean
        readonly domains: readonly DurableDomain[]
        readonly partial: boolean
        readonly records: number
    }
    readonly store: string | null
    readonly sessions: readonly ImportedSession[]
    readonly warnings: readonly string[]
    readonly durationMs: number
}

/** Decrypts, parses and verifies an export; shared by import and dry run. */
async function openExport(
    options: Pick<ImportOptions, 'input' | 'name' | 'identities' | 'passphrase'>
): Promise<{
    readonly info: AgeFileInfo
    readonly plaintext: Uint8Array
    readonly parsed: ParsedExport
}> {
    const info = inspectAgeFile(options.input, options.name)
    let passphrase: string | null = null
    if (info.kind === 'passphrase') {
        passphrase = await options.passphrase()
        if (passphrase === null) {
            throw new ZapoError(
                'USAGE',
                `${options.name} is passphrase-encrypted: pass --passphrase-file FILE or set ZAPO_PASSPHRASE (or run on a terminal to be asked)`
            )
        }
    } else if (options.identities.length === 0) {
        throw new ZapoError(
            'USAGE',
            `${options.name} is encrypted to age recipients: pass --identity FILE with the matching AGE-SECRET-KEY-1… identity`
        )
    }
    const plaintext = await decryptAge(
        info,
        { passphrase, identities: options.identities },
        options.name
    )
    return { info, plaintext, parsed: parseExport(plaintext) }
}

export async function runImport(
    options: ImportOptions,
    deps: ImportDeps = {}
): Promise<ImportResult> {
    if (options.store !== null) assertWritable(options.store, 'be imported into')
    const started = performance.now()
    const warnings: string[] = []
    const warn = (line: string): void => {
        warnings.push(line)
        deps.onWarning?.(line)
    }
    const checkpoint = (): void => {
        if (deps.signal?.aborted)
            throw new ZapoError(
                'CANCELLED',
                'import interrupted: nothing was kept, the target store is as it was'
            )
    }
    checkpoint()
    const { info, plaintext, parsed } = await openExport(options)
    checkpoint()
    const { header } = parsed

    if (options.sessionId !== null && parsed.sessions.length !== 1) {
        throw new ZapoError(
            'USAGE',
            `--session renames one session, but ${options.name} holds ${parsed.sessions.length}: import it without --session, or export the sessions one by one`
        )
    }
    const targetIdOf = (session: ParsedSession): string => options.sessionId ?? session.intro.id

    // integrity of every session before anything is written
    const integrity = new Map<string, readonly IntegrityCheck[]>()
    for (const session of parsed.sessions) {
        const checks = await integrityOf(plaintext, session)
        checkpoint()
        integrity.set(session.intro.id, checks)
        const failed = checks.filter(c => c.status === 'fail')
        if (failed.length > 0) {
            throw new ZapoError(
                'INTEGRITY',
                `session "${session.intro.id}" in ${options.name} has inconsistent credentials (${failed.map(c => c.name).join(', ')}): the export is not usable; export the session again from an intact store`,
                {
                    sessionId: session.intro.id,
                    failed: failed.map(c => ({ name: c.name, detail: c.detail }))
                }
            )
        }
    }

    const partial = header.domains.length !== DURABLE_DOMAINS.length
    if (!options.dryRun) {
        if (partial) {
            const missing = DURABLE_DOMAINS.filter(d => !header.domains.includes(d))
            warn(
                `${options.name} is a partial export (no ${missing.join(', ')}): see docs/export-format.md for what it cannot restore`
            )
        }
        for (const session of parsed.sessions) {
            const id = targetIdOf(session)
            if (id !== session.intro.id) {
                warn(
                    `importing "${session.intro.id}" as "${id}": both ids would hold the same device credentials; never connect "${session.intro.id}" again (one connection per device: the other is kicked as "replaced")`
                )
            }
        }
    }

    const summary = (replaced: ReadonlySet<string>): ImportedSession[] =>
        parsed.sessions.map(session => ({
            sourceId: session.intro.id,
            id: targetIdOf(session),
            meJid: session.intro.meJid ?? null,
            meLid: session.intro.meLid ?? null,
            paired: session.intro.paired === true,
            counts: session.end.counts,
            domains: session.end.domains,
            integrity: integrity.get(session.intro.id) ?? [],
            replaced: replaced.has(targetIdOf(session))
        }))
    const fileSummary: ImportResult['file'] = {
        name: options.name,
        format: header.format,
        version: header.version,
        createdAt: header.createdAt,
        zapo: header.zapo ?? null,
        zapoJs: header.zapoJs ?? null,
        encryption: info.kind,
        armored: info.armored,
        domains: header.domains,
        partial,
        records: parsed.records
    }
    if (options.dryRun) {
        return {
            dryRun: true,
            file: fileSummary,
            store: options.store?.label ?? null,
            sessions: summary(new Set()),
            warnings,
            durationMs: Math.round(performance.now() - started)
        }
    }
    if (options.store === null) throw new ZapoError('USAGE', 'no target store: pass --store')

    const store = await openStore(options.store, 'write')
    let held: HeldLeases | null = null
    try {
        checkpoint()
        // ids the store cannot keep apart from another session's are refused before any lease:
        // the refusal needs no lock, and another run on the colliding id must not turn it into a
        // busy session (checked again under the leases, before the first write)
        await assertNewSessionIds(store, parsed.sessions.map(targetIdOf))
        // one writer per session: the existence checks, the snapshot a rollback restores and the
        // writes all happen under the leases of every target session
        held = await takeLeases(store.primary, parsed.sessions.map(targetIdOf), {
            command: 'import',
            waitMs: options.waitMs ?? 0,
            ...(deps.signal ? { signal: deps.signal } : {})
        })
        const catalog = catalogFor(store)
        const replaced = await writeAll(store, catalog, parsed, plaintext, targetIdOf, options, {
            ...deps,
            checkpoint
        })
        return {
            dryRun: false,
            file: fileSummary,
            store: store.spec.label,
            sessions: summary(replaced),
            warnings,
            durationMs: Math.round(performance.now() - started)
        }
    } finally {
        await held?.release()
        await store.close()
    }
}

async function integrityOf(
    plaintext: Uint8Array,
    session: ParsedSession
): Promise<readonly IntegrityCheck[]> {
    const found: {
        credentials?: unknown
        signal?: { readonly registration: unknown; readonly signedPreKey: unknown }
    } = {}
    for (const record of decodedRecords(plaintext, session)) {
        if (record.kind === 'credentials') found.credentials = record.value
        else if (record.kind === 'signal') found.signal = record.value as typeof found.signal
        if (found.credentials !== undefined && found.signal !== undefined) break
    }
    if (found.credentials === undefined) return []
    const report = await checkCredentialIntegrity({
        credentials: found.credentials as never,
        registration: (found.signal?.registration ?? null) as never,
        signedPreKey: (found.signal?.signedPreKey ?? null) as never
    })
    return report.checks
}

interface Touched {
    readonly id: string
    readonly snapshot: readonly RecordBatch[] | null
}

type WriteDeps = ImportDeps & { readonly checkpoint: () => void }

async function writeAll(
    store: OpenedStore,
    catalog: SessionCatalog,
    parsed: ParsedExport,
    plaintext: Uint8Array,
    targetIdOf: (session: ParsedSession) => string,
    options: ImportOptions,
    deps: WriteDeps
): Promise<ReadonlySet<string>> {
    // refuse existing sessions, then ids the store cannot keep apart (Redis), before writing
    const existing = new Set<string>()
    for (const session of parsed.sessions) {
        const id = targetIdOf(session)
        if (hasRecords(await catalog.counts(id))) existing.add(id)
    }
    if (existing.size > 0 && !options.force) {
        const ids = [...existing]
        throw new ZapoError(
            'EXISTS',
            `session${ids.length > 1 ? 's' : ''} ${ids.map(id => `"${id}"`).join(', ')} already exist${ids.length > 1 ? '' : 's'} in ${store.spec.label}: pass --force to replace, or --session NEW to import under another id`,
            { sessions: ids, store: store.spec.label }
        )
    }
    for (const id of existing) {
        const credentials = await store.domain('auth', id).load()
        assertNotLive(id, lastLoginMs(credentials), {
            overwriteLive: options.overwriteLive === true,
            command: 'import --force'
        })
    }
    await assertNewSessionIds(store, parsed.sessions.map(targetIdOf))
    const batchSize = options.batchSize ?? 500
    // the sessions this run has started to change, in order: only these are rolled back
    const touched: Touched[] = []
    try {
        for (const session of parsed.sessions) {
            deps.checkpoint()
            const id = targetIdOf(session)
            let snapshot: RecordBatch[] | null = null
            if (existing.has(id)) {
                snapshot = []
                for await (const batch of readSessionRecords(store, catalog, id, {
                    domains: DURABLE_DOMAINS,
                    batchSize
                }))
                    snapshot.push(batch)
            }
            deps.checkpoint()
            touched.push({ id, snapshot })
            // one transaction per session where the store has them (PostgreSQL): its statements
            // commit together once it read back right, and a failure inside leaves it as it was
            const tx = await store.sessionTransaction()
            const into = tx?.store ?? store
            try {
                if (snapshot !== null) await clearSession(into, id, { domains: DURABLE_DOMAINS })
                await writeSession(into, id, session, plaintext, batchSize, deps)
                await verifySession(
                    into,
                    tx !== null ? catalogFor(into) : catalog,
                    id,
                    session,
                    plaintext,
                    batchSize
                )
                await tx?.commit()
            } finally {
                await tx?.rollback()
            }
        }
    } catch (error) {
        const failures = await rollback(store, touched)
        // a store that failed under the import (a full disk, a server gone) is the store's fault
        const code = failureKind(error) === 'store' ? 'STORE_UNAVAILABLE' : 'INTERNAL'
        if (failures.length > 0) {
            throw new ZapoError(
                code,
                `import failed (${storeProblem(error)}) and rolling back failed too: sessions ${touched.map(t => `"${t.id}"`).join(', ')} in ${store.spec.label} may be incomplete; fix the store and re-run the import with --force`,
                { sessions: touched.map(t => t.id), rollbackFailures: failures },
                { cause: error }
            )
        }
        if (code === 'STORE_UNAVAILABLE' && !(error instanceof ZapoError))
            throw new ZapoError(
                code,
                `import failed (${storeProblem(error)}); nothing of it is left in ${store.spec.label}: fix the store and run the import again`,
                { sessions: touched.map(t => t.id) },
                { cause: error }
            )
        throw error
    }
    return existing
}

/** Writes one session's records, auth last. */
async function writeSession(
    store: OpenedStore,
    id: string,
    session: ParsedSession,
    plaintext: Uint8Array,
    batchSize: number,
    deps: WriteDeps
): Promise<void> {
    const total = session.lines.length
    let written = 0
    let index = 0
    let auth: RecordBatch | null = null
    const write = async (batch: RecordBatch): Promise<void> => {
        deps.checkpoint()
        await deps.beforeWrite?.(id, batch, index)
        index += 1
        await writeSessionRecords(store, id, batch)
        written += batchSizeOf(batch)
        deps.onProgress?.({ sessionId: id, records: written, total })
    }
    for (const batch of batchesOf(
        decodedRecords(plaintext, session),
        batchSize,
        session.preKeyState
    )) {
        if (batch.domain === 'auth') {
            auth = batch
            continue
        }
        await write(batch)
    }
    if (auth !== null) await write(auth)
}

/** Reads the written session back and compares it, domain by domain, with the file. */
async function verifySession(
    store: OpenedStore,
    catalog: SessionCatalog,
    id: string,
    session: ParsedSession,
    plaintext: Uint8Array,
    batchSize: number
): Promise<void> {
    const domains = DURABLE_DOMAINS.filter(d => session.end.domains[d] !== undefined)
    const expected = digestSessionRecords()
    for (const batch of batchesOf(
        decodedRecords(plaintext, session),
        batchSize,
        session.preKeyState
    ))
        expected.add(batch)
    const want = expected.result()
    const got = await digestSession(store, catalog, id, { domains, batchSize })
    const differing = [...new Set([...Object.keys(want), ...Object.keys(got)])].filter(
        domain => JSON.stringify(want[domain] ?? null) !== JSON.stringify(got[domain] ?? null)
    )
    if (differing.length > 0) {
        throw new ZapoError(
            'VERIFY_FAILED',
            `session "${id}" reads back differently from the export in ${differing.join(', ')}: the import was rolled back; check the target store (${zapoCommand('doctor')}) and retry`,
            { sessionId: id, domains: differing }
        )
    }
}

async function rollback(store: OpenedStore, touched: readonly Touched[]): Promise<string[]> {
    const failures: string[] = []
    for (const { id, snapshot } of [...touched].reverse()) {
        try {
            await clearSession(store, id, { domains: DURABLE_DOMAINS })
            if (snapshot !== null) {
                const auth = snapshot.filter(b => b.domain === 'auth')
                for (const batch of snapshot)
                    if (batch.domain !== 'auth') await writeSessionRecords(store, id, batch)
                for (const batch of auth) await writeSessionRecords(store, id, batch)
            }
        } catch (error) {
            failures.push(`${id}: ${(error as Error).message}`)
        }
    }
    return failures
}
