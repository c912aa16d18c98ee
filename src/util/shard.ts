/**
 * Sharding a fleet across runners: which part of a store's sessions one run takes.
 *
 * One rule for every fleet-wide command (check, migrate, export, sessions list, logs --all), so
 * a session lands on the same shard whichever command runs:
 *
 *     shard(id) = (first 8 bytes of SHA-256(UTF-8 id), big-endian) mod N
 *
 * a number from 0 to N-1. Two spellings name a shard:
 *
 *   --shard K/N                          K from 1 to N   (a CI matrix: `--shard ${{ matrix.shard }}/4`)
 *   --shard-index I --shard-count N      I from 0 to N-1 (Kubernetes Indexed Jobs:
 *                                        `--shard-index $(JOB_COMPLETION_INDEX)`; Nomad:
 *                                        `${NOMAD_ALLOC_INDEX}`)
 *
 * `--shard K/N` is `--shard-index K-1 --shard-count N`. Reports give the shard as K/N.
 * The hash depends on the id alone (not on the store, its order, or the other ids), so shards
 * never overlap and together cover every session, also while sessions come and go.
 */

import { createHash } from 'node:crypto'
import type { Command } from 'commander'
import { usageError } from '../errors.js'

/** One part of a fleet: `index` from 1 to `count` (as `--shard K/N` spells it). */
export interface Shard {
    readonly index: number
    readonly count: number
}

export interface ShardFlags {
    readonly shard?: string
    readonly shardIndex?: string
    readonly shardCount?: string
}

const MAX_SHARDS = 1_000_000

/** The shard (1..count) a session id belongs to. */
export function shardOf(sessionId: string, count: number): number {
    const digest = createHash('sha256').update(sessionId, 'utf8').digest()
    return Number(digest.readBigUInt64BE(0) % BigInt(count)) + 1
}

/** The ids of `ids` that belong to `shard` (all of them with no shard), in their order. */
export function inShard<T extends string>(ids: readonly T[], shard: Shard | null): T[] {
    if (shard === null) return [...ids]
    return ids.filter(id => shardOf(id, shard.count) === shard.index)
}

/** Adds --shard, --shard-index and --shard-count to a command (`when`: e.g. "with --all: "). */
export function addShardOptions(command: Command, when = ''): Command {
    return command
        .option(
            '--shard <K/N>',
            `${when}only the sessions in part K of N (K from 1; sha256(id) decides: docs/fleet.md)`
        )
        .option(
            '--shard-index <I>',
            'the same part numbered from 0, with --shard-count (e.g. $(JOB_COMPLETION_INDEX))'
        )
        .option('--shard-count <N>', 'the number of parts, with --shard-index')
}

/** The shard the flags name, or null. `needs` names the flag sharding requires, when not given. */
export function parseShardFlags(flags: ShardFlags, needs: string | null = null): Shard | null {
    const index = flags.shardIndex
    const count = flags.shardCount
    if (flags.shard === undefined && index === undefined && count === undefined) return null
    if (needs !== null) {
        const given = flags.shard !== undefined ? '--shard' : '--shard-index/--shard-count'
        throw usageError(`${given} needs ${needs}: it splits the store's sessions across runners`)
    }
    if (flags.shard !== undefined) {
        if (index !== undefined || count !== undefined)
            throw usageError(
                '--shard and --shard-index/--shard-count name the same thing: pass one form'
            )
        return parseShard(flags.shard)
    }
    if (index === undefined || count === undefined)
        throw usageError(
            `--shard-index and --shard-count go together: pass both (e.g. --shard-index 0 --shard-count 4)`
        )
    const n = wholeNumber(count, '--shard-count')
    if (n < 1 || n > MAX_SHARDS)
        throw usageError(`--shard-count "${count}" must be between 1 and ${MAX_SHARDS}`)
    const i = wholeNumber(index, '--shard-index')
    if (i > n - 1)
        throw usageError(
            `--shard-index "${index}" must be between 0 and ${n - 1} (it counts from 0; --shard K/N counts from 1)`
        )
    return { index: i + 1, count: n }
}

/** "K/N" with 1 ≤ K ≤ N. */
export function parseShard(value: string): Shard {
    const match = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(value)
    if (!match)
        throw usageError(
            `--shard "${value}" is not K/N: use e.g. --shard 1/4 (this runner takes the first of 4 parts)`
        )
    const index = Number(match[1])
    const count = Number(match[2])
    if (count < 1 || count > MAX_SHARDS)
        throw usageError(`--shard "${value}": N must be between 1 and ${MAX_SHARDS}`)
    if (index < 1 || index > count)
        throw usageError(
            `--shard "${value}": K must be between 1 and ${count} (it counts from 1; --shard-index counts from 0)`
        )
    return { index, count }
}

function wholeNumber(value: string, flag: string): number {
    if (!/^\s*\d{1,7}\s*$/.test(value))
        throw usageError(`${flag} "${value}" must be a whole number (0 or more)`)
    return Number(value)
}
