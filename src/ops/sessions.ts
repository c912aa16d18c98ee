/**
 * `zapo sessions list`: every session a store holds, with what its
 * credentials say about it and the record counts of its durable domains.
 *
 * Session ids and counts come from the session catalog (key enumeration);
 * credentials and the signed-prekey rotation time are read through the
 * store contracts. Nothing secret leaves this module: the summary holds no
 * key material at all.
 */

import { errorLine } from '../errors.js'
import type { StoreSpec } from '../store/address.js'
import type { SessionCounts } from '../store/records.types.js'
import { ambiguousSessionIds, type SessionIdProblem } from '../store/session-ids.js'
import { lastLoginMs } from '../store/last-login.js'
import {
    readSessionAuth,
    signedPreKeyRotations,
    toIso,
    undecodable,
    type SessionAuthRecords
} from './session-auth.js'
import { openForReading } from './read-store.js'
import { mapBounded } from '../util/concurrency.js'
import { inShard, type Shard } from '../util/shard.js'

export interface SessionsListOptions {
    readonly store: StoreSpec
    /** how many sessions' credentials are read at once (default 8) */
    readonly concurrency?: number
    /** only the sessions of this shard (src/util/shard.ts) */
    readonly shard?: Shard | null
}

export interface SessionSummary {
    readonly id: string
    /** the credentials name a device (meJid): the session was paired */
    readonly paired: boolean
    readonly meJid: string | null
    readonly meLid: string | null
    readonly displayName: string | null
    readonly platform: string | null
    /** the server time of the last successful login, from the credentials */
    readonly lastLoginAt: string | null
    readonly signedPreKey: {
        readonly keyId: number
        /** the Signal domain's rotation stamp (set at the first check after login and at each rotation) */
        readonly rotatedAt: string | null
    } | null
    readonly counts: SessionCounts
    /** why the session's credentials could not be read (a corrupt record), else null */
    readonly problem: string | null
}

export interface SessionsListResult {
    readonly store: string
    /** the backend holds no zapo schema yet (a fresh database or key prefix) */
    readonly schema: 'missing' | 'partial' | 'ready'
    readonly sessions: readonly SessionSummary[]
    /** ids the store holds whose keys it cannot keep apart from another session's (Redis) */
    readonly ambiguousIds: readonly SessionIdProblem[]
}

const EMPTY_SUMMARY = Object.freeze({
    paired: false,
    meJid: null,
    meLid: null,
    displayName: null,
    platform: null,
    lastLoginAt: null,
    signedPreKey: null
})

export async function runSessionsList(options: SessionsListOptions): Promise<SessionsListResult> {
    const readable = await openForReading(options.store)
    try {
        if (readable.schema === 'missing')
            return { store: options.store.label, schema: 'missing', sessions: [], ambiguousIds: [] }
        const ids = inShard(await readable.catalog.listSessionIds(), options.shard ?? null)
        const countsById = await readable.catalog.countsMany(ids)
        const rotations = await signedPreKeyRotations(readable, ids)
        const sessions = await mapBounded(ids, options.concurrency ?? 8, async id => {
            const counts = countsById.get(id) ?? (await readable.catalog.counts(id))
            let records: SessionAuthRecords
            try {
                records = await readSessionAuth(readable, id, counts, {
                    registration: false,
                    ...(rotations !== null
                        ? { signedPreKeyRotationTs: rotations.get(id) ?? null }
                        : {})
                })
            } catch (error) {
                const problem = undecodable(error, id, options.store.label)
                // a lost connection ends the listing; a corrupt record is reported with its session
                if (problem.code !== 'INTEGRITY') throw problem
                return {
                    id,
                    ...EMPTY_SUMMARY,
                    counts,
                    problem: `credentials do not decode (${errorLine(error, 60)}): corrupt record`
                }
            }
            const c = records.credentials
            const summary: SessionSummary = {
                id,
                paired: typeof c?.meJid === 'string' && c.meJid !== '',
                meJid: c?.meJid ?? null,
                meLid: c?.meLid ?? null,
                displayName: c?.meDisplayName ?? c?.pushName ?? null,
                platform: c?.platform ?? null,
                lastLoginAt: toIso(lastLoginMs(c)),
                // the signal domain's key is the current one (zapo-js rotates it there only)
                signedPreKey:
                    records.signedPreKey !== null || c !== null
                        ? {
                              keyId: records.signedPreKey?.keyId ?? c!.signedPreKey.keyId,
                              rotatedAt: toIso(records.signedPreKeyRotationTs)
                          }
                        : null,
                counts,
                problem: null
            }
            return summary
        })
        return {
            store: options.store.label,
            schema: readable.schema,
            sessions,
            ambiguousIds: await ambiguousSessionIds(readable.store)
        }
    } finally {
        await readable.close()
    }
}

/** The ids of every session the store holds (none for a store without zapo data yet). */
export async function listSessionIds(store: StoreSpec): Promise<readonly string[]> {
    const readable = await openForReading(store)
    try {
        return readable.schema === 'missing' ? [] : await readable.catalog.listSessionIds()
    } finally {
        await readable.close()
    }
}
