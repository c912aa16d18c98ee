/**
 * `zapo export`: the durable state of one or more sessions, read through the
 * store contracts, written as a zapo export (src/export/format.ts) inside an
 * age file. The plaintext is produced, encrypted and written as a stream:
 * memory does not grow with the number of Signal sessions (except with
 * --armor, whose encoder needs the whole binary file).
 */

import { createRequire } from 'node:module'
import { ZapoError } from '../errors.js'
import { lastLoginMs } from '../store/last-login.js'
import { inShard, type Shard } from '../util/shard.js'
import { armorEncode, encryptStream, type Encryption } from '../export/age.js'
import {
    refuseExisting,
    refuseOwnInputs,
    storeInputs,
    writeFileAtomic,
    type InputFile
} from '../export/files.js'
import {
    countRecord,
    DomainDigests,
    emptyCounts,
    encodeBatch,
    FORMAT_NAME,
    FORMAT_VERSION,
    hasRecords,
    preKeyStateRecord,
    recordLine,
    type ExportCounts,
    type ExportHeader,
    type SessionEnd,
    type SessionIntro
} from '../export/format.js'
import { DURABLE_DOMAINS, type DurableDomain, type StoreSpec } from '../store/address.js'
import { catalogFor } from '../store/catalog.js'
import { openStore, type OpenedStore } from '../store/open.js'
import { readSessionRecords } from '../store/records.js'
import type { SessionCatalog } from '../store/records.types.js'
import { VERSION } from '../version.js'
import { formatDuration } from '../util/duration.js'

export type ExportTarget =
    | {
          readonly kind: 'file'
          readonly path: string
          readonly force: boolean
          /** files the caller reads (passphrase, recipients): the output never replaces them */
          readonly inputs?: readonly InputFile[]
      }
    | { readonly kind: 'stream'; readonly write: (chunk: Uint8Array) => Promise<void> }

export interface ExportOptions {
    readonly store: StoreSpec
    readonly sessionIds: readonly string[]
    /** every session of the store (of `shard`, when given) instead of `sessionIds` */
    readonly all?: boolean
    readonly shard?: Shard | null
    /** the durable domains to export (all by default) */
    readonly domains?: readonly DurableDomain[]
    readonly encryption: Encryption
    readonly armor: boolean
    readonly target: ExportTarget
    /** records per store read (default 500) */
    readonly batchSize?: number
}

export interface ExportDeps {
    readonly onProgress?: (event: { readonly sessionId: string; readonly records: number }) => void
    /** the creation time written into the header (tests) */
    readonly now?: () => Date
    /**
     * aborting (Ctrl-C) stops at the next step — between store reads, batches, encryption,
     * chunks written — with CANCELLED, and no output file is left; once the file is renamed into
     * place the export is complete and an abort changes nothing
     */
    readonly signal?: AbortSignal
    readonly onWarning?: (line: string) => void
}

/** A session whose last login is this recent may be running while it is exported. */
const LIVE_WINDOW_MS = 10 * 60_000

export interface ExportedSession {
    readonly id: string
    readonly meJid: string | null
    readonly meLid: string | null
    readonly paired: boolean
    readonly counts: ExportCounts
    readonly domains: SessionEnd['domains']
}

export interface ExportResult {
    readonly format: typeof FORMAT_NAME
    readonly version: number
    readonly createdAt: string
    readonly file: string | null
    readonly bytes: number
    readonly armor: boolean
    readonly encryption: 'passphrase' | 'recipients'
    readonly recipients: number
    readonly domains: readonly DurableDomain[]
    readonly partial: boolean
    readonly sessions: readonly ExportedSession[]
    readonly records: number
    readonly durationMs: number
}

const CHUNK_BYTES = 256 * 1024

export function zapoJsVersion(): string | null {
    try {
        const require = createRequire(import.meta.url)
        const pkg = require('zapo-js/package.json') as { version?: string }
        return pkg.version ?? null
    } catch {
        return null
    }
}

export async function runExport(
    options: ExportOptions,
    deps: ExportDeps = {}
): Promise<ExportResult> {
    const started = performance.now()
    const domains = DURABLE_DOMAINS.filter(d => (options.domains ?? DURABLE_DOMAINS).includes(d))
    if (domains.length === 0)
        throw new ZapoError(
            'USAGE',
            'no domain to export: --domains needs at least one of ' + DURABLE_DOMAINS.join(', ')
        )
    const sessionIds = options.all === true ? [] : [...new Set(options.sessionIds)]
    if (sessionIds.length === 0 && options.all !== true)
        throw new ZapoError('USAGE', 'no session to export: pass --session ID')
    const target = options.target
    const inputs =
        target.kind === 'file' ? [...storeInputs(options.store), ...(target.inputs ?? [])] : []
    if (target.kind === 'file') {
        refuseOwnInputs(target.path, inputs)
        refuseExisting(target.path, target.force)
    }
    const checkpoint = (): void => {
        if (deps.signal?.aborted)
            throw new ZapoError('CANCELLED', 'export interrupted: no file was written')
    }

    checkpoint()
    const store = await openStore(options.store, 'read')
    try {
        checkpoint()
        const catalog = catalogFor(store)
        if (options.all === true) {
            const every = await catalog.listSessionIds()
            sessionIds.push(...inShard(every, options.shard ?? null))
            if (sessionIds.length === 0)
                throw new ZapoError(
                    'SESSION_NOT_FOUND',
                    options.shard
                        ? `shard ${options.shard.index}/${options.shard.count} holds none of the ${every.length} sessions in ${options.store.label}: nothing to export (choose fewer shards than sessions)`
                        : `the store ${options.store.label} holds no sessions: nothing to export`,
                    { store: options.store.label, shard: options.shard ?? null }
                )
        }
        const intros = new Map<string, SessionIntro>()
        const nowMs = (deps.now?.() ?? new Date()).getTime()
        for (const sessionId of sessionIds) {
            const { intro, lastSuccessMs } = await introFor(store, catalog, sessionId)
            checkpoint()
            intros.set(sessionId, intro)
            if (lastSuccessMs !== null && nowMs - lastSuccessMs <= LIVE_WINDOW_MS) {
                deps.onWarning?.(
                    `session "${sessionId}" logged in ${formatDuration(Math.max(0, nowMs - lastSuccessMs))} ago and may be running: stop it first, or what it changes during and after the export is not in the file; never run it and its import at the same time`
                )
            }
        }

        const createdAt = (deps.now?.() ?? new Date()).toISOString()
        const header: ExportHeader = {
            type: 'header',
            format: FORMAT_NAME,
            version: FORMAT_VERSION,
            createdAt,
            zapo: VERSION,
            zapoJs: zapoJsVersion(),
            domains,
            sessions: sessionIds
        }
        const sessions: ExportedSession[] = []
        let totalRecords = 0
        const batchSize = options.batchSize ?? 500

        async function* lines(): AsyncGenerator<string> {
            yield JSON.stringify(header)
            for (const sessionId of sessionIds) {
                const intro = intros.get(sessionId)!
                yield JSON.stringify(intro)
                const digests = new DomainDigests(domains)
                const counts = emptyCounts()
                let records = 0
                // the preKey domain ends with its state: the flag, and the counter the reader gives
                const preKey: {
                    state: { serverHasPreKeys: boolean; nextPreKeyId: number | null } | null
                } = { state: null }
                const closePreKeys = function* (): Generator<string> {
                    const state = preKey.state
                    if (state === null) return
                    const line = recordLine(
                        preKeyStateRecord(state.serverHasPreKeys, state.nextPreKeyId)
                    )
                    preKey.state = null
                    digests.add('preKey', line)
                    records += 1
                    yield line
                }
                for await (const batch of readSessionRecords(store, catalog, sessionId, {
                    domains,
                    batchSize
                })) {
                    checkpoint()
                    if (batch.domain === 'preKey') {
                        preKey.state = {
                            serverHasPreKeys: batch.serverHasPreKeys,
                            nextPreKeyId: batch.nextPreKeyId ?? preKey.state?.nextPreKeyId ?? null
                        }
                    } else {
                        yield* closePreKeys()
                    }
                    for (const record of encodeBatch(batch)) {
                        const line = recordLine(record)
                        digests.add(record.domain, line)
                        countRecord(counts, record.kind, record.data)
                        records += 1
                        yield line
                    }
                    deps.onProgress?.({ sessionId, records })
                }
                yield* closePreKeys()
                const end: SessionEnd = {
                    type: 'sessionEnd',
                    id: sessionId,
                    domains: digests.summary(),
                    counts
                }
                yield JSON.stringify(end)
                totalRecords += records
                sessions.push({
                    id: sessionId,
                    meJid: intro.meJid,
                    meLid: intro.meLid,
                    paired: intro.paired,
                    counts,
                    domains: end.domains
                })
            }
            yield JSON.stringify({
                type: 'end',
                sessions: sessionIds.length,
                records: totalRecords
            })
        }

        const plaintext = toByteStream(lines())
        const encrypted = await encryptStream(plaintext, options.encryption)
        checkpoint()
        let bytes = 0
        let file: string | null = null
        const output: AsyncIterable<Uint8Array> = options.armor
            ? armored(encrypted)
            : iterate(encrypted)
        if (target.kind === 'file') {
            const written = await writeFileAtomic(target.path, output, {
                force: target.force,
                checkpoint,
                inputs
            })
            bytes = written.bytes
            file = written.path
        } else {
            for await (const chunk of output) {
                checkpoint()
                await target.write(chunk)
                bytes += chunk.byteLength
            }
        }
        return {
            format: FORMAT_NAME,
            version: FORMAT_VERSION,
            createdAt,
            file,
            bytes,
            armor: options.armor,
            encryption: options.encryption.kind,
            recipients:
                options.encryption.kind === 'recipients' ? options.encryption.recipients.length : 0,
            domains,
            partial: domains.length !== DURABLE_DOMAINS.length,
            sessions,
            records: totalRecords,
            durationMs: Math.round(performance.now() - started)
        }
    } finally {
        await store.close()
    }
}

async function introFor(
    store: OpenedStore,
    catalog: SessionCatalog,
    sessionId: string
): Promise<{ readonly intro: SessionIntro; readonly lastSuccessMs: number | null }> {
    const counts = await catalog.counts(sessionId)
    if (!hasRecords(counts)) {
        throw new ZapoError(
            'SESSION_NOT_FOUND',
            `session "${sessionId}" holds no records in ${store.spec.label}: check the id (zapo sessions list) or --store`,
            {
                sessionId,
                store: store.spec.label
            }
        )
    }
    const credentials = counts.credentials ? await store.domain('auth', sessionId).load() : null
    const lastSuccessMs = lastLoginMs(credentials)
    return {
        intro: {
            type: 'session',
            id: sessionId,
            meJid: credentials?.meJid ?? null,
            meLid: credentials?.meLid ?? null,
            paired: Boolean(credentials?.meJid)
        },
        lastSuccessMs
    }
}

/** Lines → a byte stream of UTF-8 lines, in chunks of about CHUNK_BYTES. */
function toByteStream(lines: AsyncGenerator<string>): ReadableStream<Uint8Array> {
    let pending: string[] = []
    let pendingLength = 0
    return new ReadableStream<Uint8Array>(
        {
            async pull(controller) {
                for (;;) {
                    const next = await lines.next()
                    if (next.done) {
                        if (pendingLength > 0) controller.enqueue(encodeLines(pending))
                        pending = []
                        pendingLength = 0
                        controller.close()
                        return
                    }
                    pending.push(next.value)
                    pendingLength += next.value.length + 1
                    if (pendingLength >= CHUNK_BYTES) {
                        controller.enqueue(encodeLines(pending))
                        pending = []
                        pendingLength = 0
                        return
                    }
                }
            },
            async cancel() {
                await lines.return(undefined)
            }
        },
        { highWaterMark: 1 }
    )
}

function encodeLines(lines: readonly string[]): Uint8Array {
    const buf = Buffer.from(lines.join('\n') + '\n', 'utf8')
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength)
}

async function* iterate(stream: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
    const reader = stream.getReader()
    try {
        for (;;) {
            const { done, value } = await reader.read()
            if (done) return
            yield value
        }
    } finally {
        reader.releaseLock()
    }
}

async function* armored(stream: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
    const chunks: Uint8Array[] = []
    let size = 0
    for await (const chunk of iterate(stream)) {
        chunks.push(chunk)
        size += chunk.byteLength
    }
    const all = new Uint8Array(size)
    let at = 0
    for (const chunk of chunks) {
        all.set(chunk, at)
        at += chunk.byteLength
    }
    yield armorEncode(all)
}
