/**
 * `zapo pair`: links a new companion device to a phone by QR code or pairing code and stores
 * its credentials under one session id.
 *
 * The pairing client writes into a memory staging store (see pair-staging.ts); the real store
 * is only read (is the session already paired?) until the pairing has completed and the
 * post-pairing login has settled. Then the client disconnects (never logs out), and the
 * finished state is copied into the real store. Every other ending — timeout, cancel, a
 * dropped or failed connection, a refused pairing — leaves the real store exactly as it was.
 *
 * Never prints, prompts or exits: progress goes to `deps.onProgress`, failures are ZapoErrors.
 */

import type { Logger, WaAuthCredentials } from 'zapo-js'
import type { WaClient } from 'zapo-js/client'
import { ZapoError, toError, usageError } from '../errors.js'
import type { StoreSpec } from '../store/address.js'
import { openStore, storeExists, unwritableStore, type OpenedStore } from '../store/open.js'
import { assertNotLive, takeLeases, type HeldLeases } from '../store/lease.js'
import { lastLoginMs } from '../client/last-login.js'
import type { RecordBatch } from '../store/records.types.js'
import { classifyClose } from '../client/reasons.js'
import { KEEP_STORE_ON_CLOSE } from '../client/reconnect.js'
import { createStagingStore, credentialsOf } from './pair-staging.js'
import { watchConnect, type ConnectFailure } from '../client/connect-failure.js'

export type PairMethod =
    { readonly kind: 'qr' } | { readonly kind: 'phone'; readonly phone: string }

export interface PairOptions {
    readonly storeSpec: StoreSpec
    readonly sessionId: string
    readonly method: PairMethod
    /** replace the credentials of an already paired session */
    readonly force: boolean
    readonly timeoutMs: number
    /** a test server (zapo sandbox): its URL and root CA; null = the production service */
    readonly server: { readonly url: string; readonly rootCa: string } | null
    /** longest wait, after the phone confirmed, for the post-pairing login to settle */
    readonly settleMs?: number
    /** how long to wait for the session's lease when another zapo run holds it (ms) */
    readonly waitMs?: number
    /** with force: replace a session that logged in within the live window too */
    readonly overwriteLive?: boolean
}

export type PairProgress =
    | { readonly type: 'connecting'; readonly server: string | null }
    | { readonly type: 'qr'; readonly qr: string; readonly expiresInMs: number }
    | { readonly type: 'pairing_code'; readonly code: string; readonly expiresInMs: number }
    | { readonly type: 'scanned'; readonly meJid: string }
    | { readonly type: 'saving' }

export interface PairDeps {
    readonly onProgress: (event: PairProgress) => void
    /** aborting cancels the pairing (Ctrl-C): the store is left as it was */
    readonly signal?: AbortSignal
    readonly logger?: Logger
}

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

/** How long a pairing code stays usable (zapo-js refuses a primary hello after 180 s). */
export const PAIRING_CODE_TTL_MS = 180_000
export const DEFAULT_PAIR_TIMEOUT_MS = 180_000
const DEFAULT_SETTLE_MS = 15_000
const QR_EXPIRY_GRACE_MS = 3_000
const SOCKET_WAIT_MS = 2_000

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

/** What a refused or failed pairing is called, from a `<failure reason>` code. */
function failureError(reason: number | undefined, during: 'pairing'): ZapoError {
    const code = reason ?? 0
    if (code === 503 || code === 500) {
        return new ZapoError(
            'CONNECTION_FAILED',
            `the server is unavailable (${code}) during ${during}: try again in a few minutes`,
            { reason: code }
        )
    }
    if (code === 405 || code === 409) {
        return new ZapoError(
            'CLIENT_REJECTED',
            `the server rejected this client (${code}): update zapo / zapo-js`,
            { reason: code }
        )
    }
    return new ZapoError(
        'PAIRING_REFUSED',
        `the pairing was refused (server failure ${code}): nothing was stored; run zapo pair again and confirm on the phone`,
        {
            reason: code
        }
    )
}

export async function runPair(options: PairOptions, deps: PairDeps): Promise<PairResult> {
    const { sessionId } = options
    const method = options.method
    if (method.kind === 'phone') normalizePhone(method.phone)
    if (deps.signal?.aborted) throw cancelled()

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
    deps.onProgress({ type: 'saving' })
    const started = Date.now()
    const credentials = credentialsOf(outcome.batches)
    // the pairing took minutes: under the lease, the session must still be what it was
    try {
        await lease()
        await leased.held!.confirm()
    } catch (error) {
        if (!(error instanceof ZapoError) || error.code !== 'SESSION_BUSY') throw error
        throw new ZapoError(
            'SESSION_BUSY',
            `${error.message.replace(/: (wait for it|stopped before).*$/, '')}: nothing was stored, and the new device ${credentials.meJid ?? ''} is linked on the phone without credentials anywhere; remove it there, then pair again when the session is free`,
            { ...error.meta, unsaved: credentials.meJid ?? null }
        )
    }
    const now = await readExisting(options.storeSpec, sessionId)
    if (now.meJid !== existing.meJid || now.hasState !== existing.hasState) {
        throw new ZapoError(
            'EXISTS',
            `session "${sessionId}" changed while this pairing ran (${now.meJid !== null ? `now paired as ${now.meJid}` : now.hasState ? 'now holds other state' : 'its state was removed'}), written by another process: nothing was stored, and the new device ${credentials.meJid ?? ''} is linked on the phone without credentials anywhere; remove it there, then pair again`,
            { session: sessionId, meJid: now.meJid, unsaved: credentials.meJid ?? null }
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
async function readExisting(
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

interface StagedOutcome {
    readonly batches: readonly RecordBatch[]
    readonly settled: boolean
    readonly pairedMs: number
}

function cancelled(): ZapoError {
    return new ZapoError('CANCELLED', 'pairing cancelled: nothing was stored')
}

async function pairIntoStaging(options: PairOptions, deps: PairDeps): Promise<StagedOutcome> {
    const { sessionId, method } = options
    const staging = await createStagingStore(sessionId)
    let client: WaClient | null = null
    let finished = false
    // a refused socket or an untrusted certificate, reported as it happens (see below)
    let connectFailed: (failure: ConnectFailure) => void = () => undefined
    const timers = new Set<NodeJS.Timeout>()
    const later = (ms: number, fn: () => void): void => {
        const timer = setTimeout(() => {
            timers.delete(timer)
            fn()
        }, ms)
        timers.add(timer)
    }
    try {
        const server = options.server
        const { createWaClient } = await import('../client/create-client.js')
        try {
            client = createWaClient({
                store: staging.store,
                sessionId,
                server,
                logger: watchConnect(deps.logger ?? null, server, {
                    onFailure: failure => connectFailed(failure)
                }),
                // zapo-js waits this long for a socket to open (then retries) and, after the server
                // closed first, for a close handshake it never sees: keep a refused pairing from
                // lingering 10 s after its result
                tuning: {
                    timeoutIntervalMs: Math.max(1_000, Math.min(options.timeoutMs, SOCKET_WAIT_MS)),
                    // a 515 "reconnect now" right after pairing must not wipe the staged device
                    logoutStoreClear: KEEP_STORE_ON_CLOSE
                } as never
            }) as WaClient
        } catch (error) {
            throw usageError(
                `${toError(error).message}: check --server and --server-root-ca (zapo sandbox --json prints both)`
            )
        }
        const active = client
        deps.onProgress({ type: 'connecting', server: server?.url ?? null })

        const started = Date.now()
        let paired: WaAuthCredentials | null = null
        let pairedAt = 0
        let lastQrExpiresAt = 0
        let codeRequested = false
        let connected = false

        const outcome = await new Promise<StagedOutcome>((resolve, reject) => {
            const fail = (error: ZapoError): void => {
                if (finished) return
                finished = true
                reject(error)
            }
            const succeed = async (settledInTime: boolean): Promise<void> => {
                if (finished) return
                finished = true
                try {
                    // flushes write-behind and closes the socket; the device stays linked
                    await active.disconnect()
                    resolve({
                        batches: await staging.snapshot(),
                        settled: settledInTime,
                        pairedMs: pairedAt - started
                    })
                } catch (error) {
                    reject(error)
                }
            }

            const onAbort = (): void => {
                if (paired) {
                    // the phone already linked the device: finish saving rather than strand it
                    void succeed(false)
                    return
                }
                fail(cancelled())
            }
            deps.signal?.addEventListener('abort', onAbort, { once: true })
            // zapo-js would retry a refused socket or an untrusted server until its connect
            // timeout: before the phone confirmed, either ends the pairing at once
            connectFailed = failure => {
                if (paired) return
                fail(
                    new ZapoError(
                        failure.code,
                        `cannot pair: ${failure.summary}; nothing was stored: ${failure.hint}`,
                        { server: failure.url, failure: failure.kind }
                    )
                )
            }
            later(options.timeoutMs, () => {
                if (paired) return
                if (!connected) {
                    fail(
                        new ZapoError(
                            'CONNECTION_FAILED',
                            `could not connect to ${server?.url ?? 'the WhatsApp service'} within ${Math.round(options.timeoutMs / 1000)}s (--timeout): check the network${server ? ', --server and --server-root-ca' : ''}`,
                            { server: server?.url ?? null, timeoutMs: options.timeoutMs }
                        )
                    )
                    return
                }
                fail(
                    new ZapoError(
                        'TIMEOUT',
                        `no ${method.kind === 'qr' ? 'scan' : 'pairing code entry'} within ${Math.round(options.timeoutMs / 1000)}s (--timeout): nothing was stored; run zapo pair again`,
                        { timeoutMs: options.timeoutMs }
                    )
                )
            })

            const requestCode = async (phone: string): Promise<void> => {
                try {
                    const code = await active.requestPairingCode(phone)
                    if (finished) return
                    deps.onProgress({
                        type: 'pairing_code',
                        code,
                        expiresInMs: PAIRING_CODE_TTL_MS
                    })
                } catch (error) {
                    if (finished) return
                    const err = toError(error)
                    if (/timed? ?out|timeout/i.test(err.message)) {
                        fail(
                            new ZapoError(
                                'CONNECTION_FAILED',
                                `the server did not answer the pairing-code request (${err.message}): check the connection and try again`,
                                {},
                                { cause: err }
                            )
                        )
                        return
                    }
                    fail(
                        new ZapoError(
                            'PAIRING_REFUSED',
                            `the server refused a pairing code for +${phone} (${err.message}): check the number (country code included) and that it has WhatsApp`,
                            { phone },
                            { cause: err }
                        )
                    )
                }
            }

            active.on('auth_qr', ({ qr, ttlMs }) => {
                connected = true
                if (finished || paired) return
                lastQrExpiresAt = Date.now() + ttlMs
                if (method.kind === 'phone') {
                    // the server has asked for manual pairing (pair-device): the code can be requested now
                    if (!codeRequested) {
                        codeRequested = true
                        void requestCode(method.phone)
                    }
                    return
                }
                deps.onProgress({ type: 'qr', qr, expiresInMs: ttlMs })
                later(ttlMs + QR_EXPIRY_GRACE_MS, () => {
                    if (finished || paired || Date.now() < lastQrExpiresAt + QR_EXPIRY_GRACE_MS)
                        return
                    fail(
                        new ZapoError(
                            'TIMEOUT',
                            'every QR code expired without a scan: nothing was stored; run zapo pair again',
                            {}
                        )
                    )
                })
            })
            active.on('auth_pairing_refresh', () => {
                if (finished || paired || method.kind !== 'phone') return
                void requestCode(method.phone)
            })
            active.on('auth_paired', ({ credentials }) => {
                if (finished) return
                paired = credentials
                pairedAt = Date.now()
                deps.onProgress({ type: 'scanned', meJid: credentials.meJid ?? '' })
                const settleMs = options.settleMs ?? DEFAULT_SETTLE_MS
                let settledInTime = false
                void Promise.race([
                    staging.settled.then(() => {
                        settledInTime = true
                    }),
                    new Promise<void>(r => later(settleMs, r))
                ]).then(() => succeed(settledInTime))
            })
            active.on('failure', event => {
                if (paired) return
                fail(failureError(event.failureReason, 'pairing'))
            })
            active.on('client_error', ({ error }) => {
                if (paired || finished) return
                if (
                    /pair-success|companion_finish|primary_hello|pairing code|primary hello/i.test(
                        error.message
                    )
                ) {
                    fail(
                        new ZapoError(
                            'PAIRING_REFUSED',
                            `the pairing failed (${error.message}): nothing was stored; run zapo pair again`,
                            {},
                            { cause: error }
                        )
                    )
                }
            })
            active.on('connection', event => {
                if (event.status === 'open') connected = true
                if (event.status !== 'close' || finished) return
                if (paired) {
                    // after the phone confirmed: a 515 restart and transient drops are routine
                    // (the client logs in again); only a fatal close undoes the pairing
                    const close = classifyClose(event, sessionId)
                    if (close.class === 'fatal') {
                        fail(
                            new ZapoError(
                                'PAIRING_REFUSED',
                                `the server ended the new device's first login (${close.summary}): nothing was stored; remove it on the phone and pair again`,
                                { reason: event.reason }
                            )
                        )
                    }
                    return
                }
                if (String(event.reason).startsWith('failure_')) {
                    fail(failureError(event.code ?? undefined, 'pairing'))
                    return
                }
                fail(
                    new ZapoError(
                        'CONNECTION_FAILED',
                        `the connection closed during pairing (${event.reason}): nothing was stored; check the network and run zapo pair again`,
                        { reason: event.reason }
                    )
                )
            })

            active.connect().catch((error: unknown) => {
                const err = toError(error)
                fail(
                    new ZapoError(
                        'CONNECTION_FAILED',
                        `cannot connect to ${server?.url ?? 'the WhatsApp service'} (${err.message.split('\n')[0]}): check the network${server ? ', --server and --server-root-ca' : ''}`,
                        { server: server?.url ?? null },
                        { cause: err }
                    )
                )
            })
        })
        return outcome
    } finally {
        finished = true
        for (const timer of timers) clearTimeout(timer)
        if (client) {
            client.removeAllListeners()
            await client.disconnect().catch(() => undefined)
        }
        await staging.destroy().catch(() => undefined)
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
