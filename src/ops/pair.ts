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
import { openStore, storeExists, unwritableStore, type OpenedStore } from '../store/open.js'
import { assertNotLive, takeLeases, type HeldLeases } from '../store/lease.js'
import { lastLoginMs } from '../store/last-login.js'
import type { RecordBatch } from '../store/records.types.js'
import { credentialsOf } from '../client/pair-staging.js'
import {
    pairIntoStaging,
    pairingCancelled,
    type PairingDeps,
    type PairingOptions,
    type StagedPairing
} from '../client/pairing.js'

export type { PairMethod, PairProgress } from '../client/pairing.js'

export interface PairOptions extends PairingOptions {
    readonly storeSpec: StoreSpec
    /** replace the credentials of an already paired session */
    readonly force: boolean
    /** how long to wait for the session's lease when another zapo run holds it (ms) */
    readonly waitMs?: number
    /** with force: replace a session that logged in within the live window too */
    readonly overwriteLive?: boolean
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

    // one writer per session: the lease is held from the start when the store exists (a second
    // pair exits 21 at once), else taken before the commit; the commit happens only if the
    // session is still what it was when the pairing began
    const leased: { store: OpenedStore | null; held: HeldLeases | null } = {
        store: null,
        held: null
    }
    const lease = async (): Promise<void> => {
        if (leased.held !== null) return
        leased.store ??= await openStore(options.storeSpec, 'write')
        leased.held = await takeLeases(leased.store.primary, [sessionId], {
            command: 'pair',
            waitMs: options.waitMs ?? 0,
            ...(deps.signal ? { signal: deps.signal } : {})
        })
    }
    try {
        if (storeExists(options.storeSpec) !== false) {
            assertWritable(options.storeSpec)
            // an id the store cannot keep apart from another session's is refused before the
            // lease (the refusal needs no lock; pairLeased checks again before a phone is asked)
            leased.store = await openStore(options.storeSpec, 'write')
            const { assertNewSessionIds } = await import('../store/session-ids.js')
            await assertNewSessionIds(leased.store, [sessionId])
            await lease()
        }
        return await pairLeased(options, deps, lease, leased)
    } finally {
        await leased.held?.release()
        await leased.store?.close()
    }
}

async function pairLeased(
    options: PairOptions,
    deps: PairDeps,
    lease: () => Promise<void>,
    leased: { store: OpenedStore | null; held: HeldLeases | null }
): Promise<PairResult> {
    const { sessionId } = options
    const existing = await readExisting(options.storeSpec, sessionId)
    if (existing.meJid !== null && options.force)
        assertNotLive(sessionId, existing.lastLogin, {
            overwriteLive: options.overwriteLive === true,
            command: 'pair --force'
        })
    if (existing.meJid !== null && !options.force) {
        throw new ZapoError(
            'EXISTS',
            `session "${sessionId}" is already paired as ${existing.meJid}: pass --force to pair it again (the old linked device stays listed on the phone until you remove it there; its credentials in this store are replaced)`,
            { session: sessionId, meJid: existing.meJid }
        )
    }
    const outcome = await pairIntoStaging(options, deps)
    try {
        return await storePairing(options, deps, existing, outcome, lease, leased)
    } finally {
        await outcome.dispose()
    }
}

/** How long unlinking a device that could not be stored may take (its login and logout). */
const UNLINK_TIMEOUT_MS = 20_000

/**
 * A pairing that cannot be stored must not strand its device on the phone: it is logged out with
 * its own staged credentials (as `zapo logout` does). Says what became of it, for the message.
 */
async function unlinkUnstored(
    outcome: StagedPairing,
    jid: string,
    timeoutMs: number
): Promise<{ readonly unlinked: boolean; readonly line: string }> {
    const result = await outcome.unlink(Math.min(timeoutMs, UNLINK_TIMEOUT_MS))
    if (result.status === 'unlinked')
        return {
            unlinked: true,
            line: `nothing was stored, and the new device ${jid} was unlinked from the phone again (logged out with its own credentials)`
        }
    return {
        unlinked: false,
        line: `nothing was stored, and unlinking the new device ${jid} failed (${result.detail}): it is linked on the phone without credentials anywhere; remove it there`
    }
}

async function storePairing(
    options: PairOptions,
    deps: PairDeps,
    existing: Awaited<ReturnType<typeof readExisting>>,
    outcome: StagedPairing,
    lease: () => Promise<void>,
    leased: { store: OpenedStore | null; held: HeldLeases | null }
): Promise<PairResult> {
    const { sessionId } = options
    deps.onProgress({ type: 'saving' })
    const started = Date.now()
    const credentials = credentialsOf(outcome.batches)
    // the pairing took minutes: under the lease, the session must still be what it was
    try {
        await lease()
        await leased.held!.confirm()
    } catch (error) {
        if (!(error instanceof ZapoError) || error.code !== 'SESSION_BUSY') throw error
        const unlink = await unlinkUnstored(outcome, credentials.meJid ?? '', options.timeoutMs)
        throw new ZapoError(
            'SESSION_BUSY',
            `${error.message.replace(/: (wait for it|stopped before).*$/, '')}: ${unlink.line}; pair again when the session is free`,
            { ...error.meta, unsaved: credentials.meJid ?? null, unlinked: unlink.unlinked }
        )
    }
    const now = await readExisting(options.storeSpec, sessionId)
    if (now.meJid !== existing.meJid || now.hasState !== existing.hasState) {
        const unlink = await unlinkUnstored(outcome, credentials.meJid ?? '', options.timeoutMs)
        throw new ZapoError(
            'EXISTS',
            `session "${sessionId}" changed while this pairing ran (${now.meJid !== null ? `now paired as ${now.meJid}` : now.hasState ? 'now holds other state' : 'its state was removed'}), written by another process: ${unlink.line}; then pair again`,
            {
                session: sessionId,
                meJid: now.meJid,
                unsaved: credentials.meJid ?? null,
                unlinked: unlink.unlinked
            }
        )
    }
    const store = leased.store!
    try {
        await commit(store, sessionId, outcome.batches, now.hasState)
    } catch (error) {
        const err = toError(error)
        throw new ZapoError(
            'STORE_UNAVAILABLE',
            `the phone linked the device as ${credentials.meJid ?? '?'} but writing it to ${options.storeSpec.label} failed (${err.message.split('\n')[0]}): fix the store, remove the device on the phone and pair again`,
            { session: sessionId },
            { cause: err }
        )
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
export async function readExisting(
    spec: StoreSpec,
    sessionId: string
): Promise<{
    readonly meJid: string | null
    readonly hasState: boolean
    readonly lastLogin: number | null
}> {
    assertWritable(spec)
    let store: OpenedStore
    try {
        store = await openStore(spec, 'read')
    } catch (error) {
        if (error instanceof ZapoError && error.code === 'SESSION_NOT_FOUND')
            return { meJid: null, hasState: false, lastLogin: null }
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
        if (schema.state === 'missing') return { meJid: null, hasState: false, lastLogin: null }
        const counts = await catalog.counts(sessionId)
        const hasState = Object.values(counts).some(
            value => value === true || (typeof value === 'number' && value > 0)
        )
        const credentials = counts.credentials ? await store.domain('auth', sessionId).load() : null
        return {
            meJid: credentials?.meJid ?? null,
            hasState: hasState || credentials !== null,
            lastLogin: lastLoginMs(credentials)
        }
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
