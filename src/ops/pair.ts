/**
 * `zapo pair`: links a new companion device to a phone by QR code or pairing code and stores
 * its credentials under one session id.
 *
 * The pairing client writes into a memory staging store (see client/pair-staging.ts); the real store
 * is only read (is the session already paired?) until the pairing has completed and the
 * post-pairing login has settled. Then the client disconnects (never logs out), and the
 * finished state is copied into the real store. Every other ending — timeout, cancel, a
 * dropped or failed connection, a refused pairing — leaves the real store exactly as it was.
 *
 * Never prints, prompts or exits: progress goes to `deps.onProgress`, failures are ZapoErrors.
 */

import { ZapoError, toError, usageError } from '../errors.js'
import type { StoreSpec } from '../store/address.js'
import { openStore, unwritableStore, type OpenedStore } from '../store/open.js'
import type { RecordBatch } from '../store/records.types.js'
import { credentialsOf } from '../client/pair-staging.js'
import {
    pairIntoStaging,
    pairingCancelled,
    type PairingDeps,
    type PairingOptions
} from '../client/pairing.js'

export type { PairMethod, PairProgress } from '../client/pairing.js'

export interface PairOptions extends PairingOptions {
    readonly storeSpec: StoreSpec
    /** replace the credentials of an already paired session */
    readonly force: boolean
}

export type PairDeps = PairingDeps

export interface PairResult {
    readonly sessionId: string
    readonly store: string
    readonly meJid: string
    readonly meLid: string | null
    readonly displayName: string | null
    readonly platform: string | null
    /** true when --force replaced a previously paired device's credentials */
    readonly replaced: boolean
    readonly previousMeJid: string | null
    /** the post-pairing login finished its key upload before the copy */
    readonly settled: boolean
    readonly timings: { readonly pairedMs: number; readonly storedMs: number }
}

/**
 * Normalises a phone number for the pairing-code flow: digits with the country code; '+',
 * spaces, dots, dashes and parentheses are accepted and stripped.
 */
export function normalizePhone(input: string): string {
    const stripped = input.trim().replace(/[\s.()+-]/g, '')
    if (!/^\d+$/.test(stripped)) {
        throw usageError(
            `--phone "${input}" is not a phone number: use digits with the country code, e.g. +1 555 010 0000`
        )
    }
    if (stripped.startsWith('0')) {
        throw usageError(
            `--phone "${input}" starts with 0: give the number in international form with the country code, without a trunk prefix (e.g. +44 7700 900123)`
        )
    }
    if (stripped.length < 7 || stripped.length > 15) {
        throw usageError(
            `--phone "${input}" has ${stripped.length} digits: an international number has 7 to 15 digits including the country code`
        )
    }
    return stripped
}

export async function runPair(options: PairOptions, deps: PairDeps): Promise<PairResult> {
    const { sessionId } = options
    const method = options.method
    if (method.kind === 'phone') normalizePhone(method.phone)
    if (deps.signal?.aborted) throw pairingCancelled()

    const existing = await readExisting(options.storeSpec, sessionId)
    if (existing.meJid !== null && !options.force) {
        throw new ZapoError(
            'EXISTS',
            `session "${sessionId}" is already paired as ${existing.meJid}: pass --force to pair it again (the old linked device stays listed on the phone until you remove it there; its credentials in this store are replaced)`,
            { session: sessionId, meJid: existing.meJid }
        )
    }
    const outcome = await pairIntoStaging(options, deps)
    deps.onProgress({ type: 'saving' })
    const started = Date.now()
    const credentials = credentialsOf(outcome.batches)
    // the pairing took minutes: the session may have been paired by someone else meanwhile
    const now = await readExisting(options.storeSpec, sessionId)
    if (now.meJid !== null && now.meJid !== existing.meJid && !options.force) {
        throw new ZapoError(
            'EXISTS',
            `session "${sessionId}" was paired as ${now.meJid} by another process while this pairing ran: the new device ${credentials.meJid ?? ''} is linked on the phone but not stored; remove it there (or pair again with --force)`,
            { session: sessionId, meJid: now.meJid, unsaved: credentials.meJid ?? null }
        )
    }
    let store: OpenedStore | null = null
    try {
        store = await openStore(options.storeSpec, 'write')
        await commit(store, sessionId, outcome.batches, now.hasState)
    } catch (error) {
        const err = toError(error)
        throw new ZapoError(
            'STORE_UNAVAILABLE',
            `the phone linked the device as ${credentials.meJid ?? '?'} but writing it to ${options.storeSpec.label} failed (${err.message.split('\n')[0]}): fix the store, remove the device on the phone and pair again`,
            { session: sessionId },
            { cause: err }
        )
    } finally {
        await store?.close()
    }
    return {
        sessionId,
        store: options.storeSpec.label,
        meJid: credentials.meJid ?? '',
        meLid: credentials.meLid ?? null,
        displayName: credentials.meDisplayName ?? null,
        platform: credentials.platform ?? null,
        replaced: now.meJid !== null,
        previousMeJid: now.meJid,
        settled: outcome.settled,
        timings: { pairedMs: outcome.pairedMs, storedMs: outcome.pairedMs + (Date.now() - started) }
    }
}

/**
 * What the store holds under the session id, read without creating anything: a SQLite file
 * that does not exist, or a schema that is not there, means nothing. (Opening for writing
 * creates files and tables, which an unfinished pairing must not leave behind.)
 */
async function readExisting(
    spec: StoreSpec,
    sessionId: string
): Promise<{ readonly meJid: string | null; readonly hasState: boolean }> {
    assertWritable(spec)
    let store: OpenedStore
    try {
        store = await openStore(spec, 'read')
    } catch (error) {
        if (error instanceof ZapoError && error.code === 'SESSION_NOT_FOUND')
            return { meJid: null, hasState: false }
        throw error
    }
    try {
        // new state under an id the store cannot keep apart from another session's: refuse
        // now, before a phone links a device that could then not be stored
        const { assertNewSessionIds } = await import('../store/session-ids.js')
        await assertNewSessionIds(store, [sessionId])
        const { catalogForStore } = await import('../store/catalog.js')
        const catalog = catalogForStore(store)
        const schema = await catalog.schemaState()
        if (schema.state === 'missing') return { meJid: null, hasState: false }
        const counts = await catalog.counts(sessionId)
        const hasState = Object.values(counts).some(
            value => value === true || (typeof value === 'number' && value > 0)
        )
        const credentials = counts.credentials ? await store.domain('auth', sessionId).load() : null
        return { meJid: credentials?.meJid ?? null, hasState: hasState || credentials !== null }
    } finally {
        await store.close()
    }
}

/**
 * A store that could not be written after the phone linked the device would strand it: check it
 * (a SQLite file or, when it does not exist yet, its directory) up front.
 */
function assertWritable(spec: StoreSpec): void {
    const problem = unwritableStore(spec)
    if (problem !== null) throw problem
}

/**
 * Replaces the session's durable state with the staged one. When the session held anything
 * (an earlier pairing, an abandoned credentials row), its state is read first, then cleared so
 * no key of the old device survives next to the new one; if writing the new state fails, the
 * old one is put back. Credentials are written last.
 */
async function commit(
    store: OpenedStore,
    sessionId: string,
    batches: readonly RecordBatch[],
    hadState: boolean
): Promise<void> {
    const { clearSession, readSessionRecords, writeSessionRecords } =
        await import('../store/records.js')
    const authLast = (list: readonly RecordBatch[]): RecordBatch[] => [
        ...list.filter(batch => batch.domain !== 'auth'),
        ...list.filter(batch => batch.domain === 'auth')
    ]
    const previous: RecordBatch[] = []
    if (hadState) {
        const { catalogForStore } = await import('../store/catalog.js')
        for await (const batch of readSessionRecords(store, catalogForStore(store), sessionId))
            previous.push(batch)
        await clearSession(store, sessionId)
    }
    try {
        for (const batch of authLast(batches)) await writeSessionRecords(store, sessionId, batch)
    } catch (error) {
        try {
            await clearSession(store, sessionId)
            for (const batch of authLast(previous))
                await writeSessionRecords(store, sessionId, batch)
        } catch {
            // the write error below is what the user needs to see
        }
        throw error
    }
}

/** A session id the store does not hold yet ("device-1", "device-2", …), for the prompt. */
export async function suggestSessionId(spec: StoreSpec): Promise<string> {
    let taken: readonly string[] = []
    try {
        const store = await openStore(spec, 'read')
        try {
            const { catalogForStore } = await import('../store/catalog.js')
            taken = await catalogForStore(store).listSessionIds()
        } finally {
            await store.close()
        }
    } catch {
        // no store yet (or unreadable): every id is free
    }
    const used = new Set(taken)
    for (let n = 1; ; n += 1) {
        const candidate = `device-${n}`
        if (!used.has(candidate)) return candidate
    }
}
