/**
 * Session ids a backend cannot keep apart. On Redis a session's keys are
 * `<prefix><head>:<sessionId>:…`, so an id with a `:`-segment that is a word of the key layout,
 * or one nested in another at a ':', makes keys of one session read as another's (the backend
 * adapter's `idProblem`). Such ids are refused for new state (pair, import, migrate into the
 * store) with a usage error; ids already in a store stay readable, and `doctor` and `sessions
 * list` warn about them. On MySQL / MariaDB the server decides: ids its collation holds equal
 * (`A` and `a`) are one key there (the backend's `idProblems`).
 */

import { usageError } from '../errors.js'
import { backendAdapter } from './backends/registry.js'
import type { OpenedBackend } from './backends/types.js'
import { ALL_DOMAINS, type AnyDomain } from './domains.js'
import type { OpenedStore } from './open.js'

export interface SessionIdProblem {
    readonly sessionId: string
    readonly reason: string
    /** the backend's printable address */
    readonly store: string
}

/** The backends of a store that restrict session ids (with the ids each already holds). */
async function restricting(
    store: OpenedStore
): Promise<{ backend: OpenedBackend; present: readonly string[] }[]> {
    const backends = new Set([...ALL_DOMAINS].map(d => store.backendFor(d as AnyDomain)))
    const out: { backend: OpenedBackend; present: readonly string[] }[] = []
    for (const backend of backends) {
        if (backendAdapter(backend.kind).idProblem === undefined && !backend.idProblems) continue
        out.push({ backend, present: await backend.catalog().listSessionIds() })
    }
    return out
}

/**
 * Refuses (USAGE) the first of `sessionIds` that a backend of the store could not keep apart
 * from another session, counting the store's present ids and the other ids being written.
 */
export async function assertNewSessionIds(
    store: OpenedStore,
    sessionIds: readonly string[]
): Promise<void> {
    for (const { backend, present } of await restricting(store)) {
        const problem = backendAdapter(backend.kind).idProblem
        const decided = (await backend.idProblems?.(sessionIds, present)) ?? new Map()
        for (const sessionId of sessionIds) {
            const reason =
                decided.get(sessionId) ?? problem?.(sessionId, [...present, ...sessionIds]) ?? null
            if (reason === null) continue
            throw usageError(
                `session id "${sessionId}" cannot be written to ${backend.spec.display}: ${reason}; choose another id`,
                { sessionId, store: backend.spec.display }
            )
        }
    }
}

/** The ids a store already holds that its backends cannot keep apart (for warnings). */
export async function ambiguousSessionIds(store: OpenedStore): Promise<SessionIdProblem[]> {
    const out: SessionIdProblem[] = []
    for (const { backend, present } of await restricting(store)) {
        const problem = backendAdapter(backend.kind).idProblem
        if (problem === undefined) continue
        for (const sessionId of present) {
            const reason = problem(sessionId, present)
            if (reason !== null) out.push({ sessionId, reason, store: backend.spec.display })
        }
    }
    return out
}
