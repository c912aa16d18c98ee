/**
 * Opening a store: the primary backend and any backends the config's domain routing names,
 * each through its adapter (store/backends/), and a zapo-js `WaStore` over them for a client.
 *
 * The tool owns every connection it opens and hands it to the store package, so that `close()`
 * ends every handle and the process exits by itself. Store packages are imported lazily: a
 * command pays only for the backend it uses.
 *
 * In `read` mode nothing is created: a SQLite path that does not exist is "not found", not a
 * new empty database.
 */

import type { WaStore, WaStoreBackend } from 'zapo-js'
import { usageError, ZapoError } from '../errors.js'
import { atForcedStop } from '../interrupt.js'
import { zapoRoot } from '../zapo-cjs.js'
import { failureKind, sessionFailure } from './failures.js'
import type { AnyDomain, BackendSpec, StoreDomain, StoreSpec } from './address.js'
import { ARCHIVE_DOMAINS, DURABLE_DOMAINS } from './address.js'
import { backendAdapter } from './backends/registry.js'
import type {
    BackendTransaction,
    DomainStores,
    OpenedBackend,
    OpenMode,
    StoreIdentity
} from './backends/types.js'
import { sameStore, storesOverlap } from './identity.js'

export type { DomainStores, OpenedBackend, OpenMode } from './backends/types.js'

export interface OpenedStore {
    readonly spec: StoreSpec
    readonly mode: OpenMode
    /** the backend that holds the auth domain: sessions are enumerated there */
    readonly primary: OpenedBackend
    backendFor(domain: AnyDomain): OpenedBackend
    /** the store contract of one domain for one session, through its backend */
    domain<D extends StoreDomain>(domain: D, sessionId: string): ReturnType<DomainStores[D]>
    /**
     * a zapo-js `WaStore` for a `WaClient` (caches in memory, archive domains as chosen: in memory
     * (default), in the store, or not kept at all — `none` suits clients that only watch)
     */
    createWaStore(options?: { readonly archive?: 'memory' | 'store' | 'none' }): Promise<WaStore>
    /**
     * A view of this store in which every backend that can (`OpenedBackend.sessionTransaction`:
     * PostgreSQL) runs in one transaction, for writing one session; null when none can. Commit
     * or roll back the result; until then its writes are seen through the view only.
     */
    sessionTransaction(): Promise<StoreTransaction | null>
    close(): Promise<void>
}

export interface StoreTransaction {
    readonly store: OpenedStore
    /** commits every backend's transaction, the one holding the credentials last */
    commit(): Promise<void>
    rollback(): Promise<void>
}

export async function openStore(spec: StoreSpec, mode: OpenMode): Promise<OpenedStore> {
    if (mode === 'write') assertWritable(spec, 'be written')
    const opened: OpenedBackend[] = []
    try {
        const primary = await openBackend(spec.primary, mode)
        opened.push(primary)
        const byName = await openRouted(spec, mode, primary, opened)
        const backendFor = (domain: AnyDomain): OpenedBackend => {
            const name = spec.domains[domain]
            return (name !== undefined ? byName.get(name) : undefined) ?? primary
        }
        let closed = false
        // a forced stop (a second Ctrl-C) closes it too: SQLite then leaves no -wal/-shm behind
        const forget = atForcedStop(() => closeAll(opened))
        const domainOf =
            (backendOf: (domain: AnyDomain) => OpenedBackend): OpenedStore['domain'] =>
            (domain, sessionId) =>
                guardReads(
                    backendOf(domain).stores[domain](sessionId),
                    sessionId,
                    spec.label,
                    domain === 'auth' ? 'credentials' : 'records'
                ) as never
        const store: OpenedStore = {
            spec,
            mode,
            primary,
            backendFor,
            domain: domainOf(backendFor),
            sessionTransaction: async () => {
                const backends = [...new Set([primary, ...opened])]
                const begun = new Map<OpenedBackend, BackendTransaction>()
                try {
                    for (const backend of backends) {
                        const tx = await backend.sessionTransaction?.()
                        if (tx) begun.set(backend, tx)
                    }
                } catch (error) {
                    await Promise.all([...begun.values()].map(tx => tx.rollback()))
                    throw error
                }
                if (begun.size === 0) return null
                const swap = (backend: OpenedBackend): OpenedBackend =>
                    begun.get(backend)?.backend ?? backend
                const viewFor = (domain: AnyDomain): OpenedBackend => swap(backendFor(domain))
                const auth = begun.get(backendFor('auth'))
                return {
                    store: {
                        ...store,
                        primary: swap(primary),
                        backendFor: viewFor,
                        domain: domainOf(viewFor),
                        sessionTransaction: async () => null,
                        close: async () => undefined
                    },
                    commit: async () => {
                        for (const tx of begun.values()) if (tx !== auth) await tx.commit()
                        if (auth) await auth.commit()
                    },
                    rollback: async () => {
                        await Promise.all([...begun.values()].map(tx => tx.rollback()))
                    }
                }
            },
            createWaStore: async options => {
                const { createStore } = zapoRoot()
                const backends: Record<string, WaStoreBackend> = {}
                const providers: Record<string, string> = {}
                for (const domain of [...DURABLE_DOMAINS, ...ARCHIVE_DOMAINS]) {
                    const backend = backendFor(domain)
                    const name = `b${opened.indexOf(backend)}`
                    backends[name] ??= {
                        stores: backend.stores,
                        caches: {} as WaStoreBackend['caches']
                    }
                    const archive = (ARCHIVE_DOMAINS as readonly string[]).includes(domain)
                    // the 1.x store packages' contact store needs zapo-js ≥1.x helpers (see doctor)
                    providers[domain] = !archive
                        ? name
                        : options?.archive === 'none'
                          ? 'none'
                          : options?.archive !== 'store' || domain === 'contacts'
                            ? 'memory'
                            : name
                }
                return createStore({
                    backends,
                    providers: providers as never,
                    cacheProviders: {
                        retry: 'memory',
                        participants: 'memory',
                        deviceList: 'memory',
                        messageSecret: 'memory'
                    }
                })
            },
            close: async () => {
                if (closed) return
                closed = true
                forget()
                await closeAll(opened)
            }
        }
        return store
    } catch (error) {
        await closeAll(opened)
        throw error
    }
}

/**
 * Opens the backends the config's domain routing names. A routed backend that is the primary
 * (or an earlier routed one) by identity, however its address is spelled, is not opened twice:
 * its domains go to the one already open. One whose records would mix with another's without
 * being the same store (Redis prefixes that nest, a SQLite file under other table names) is
 * refused.
 */
async function openRouted(
    spec: StoreSpec,
    mode: OpenMode,
    primary: OpenedBackend,
    opened: OpenedBackend[]
): Promise<Map<string, OpenedBackend>> {
    const byName = new Map<string, OpenedBackend>()
    const entries = Object.entries(spec.backends)
    if (entries.length === 0) return byName
    const known: { identity: StoreIdentity; backend: OpenedBackend }[] = [
        { identity: await primary.identity(), backend: primary }
    ]
    for (const [name, backendSpec] of entries) {
        const adapter = backendAdapter(backendSpec.kind)
        let backend: OpenedBackend | null = null
        let identity = adapter.identityOf?.(backendSpec) ?? null
        if (identity === null) {
            backend = await openBackend(backendSpec, mode)
            opened.push(backend)
            identity = await backend.identity()
        }
        const same = known.find(k => sameStore(k.identity, identity))
        if (same !== undefined) {
            if (backend !== null) {
                opened.splice(opened.indexOf(backend), 1)
                await backend.close()
            }
            byName.set(name, same.backend)
            continue
        }
        const clash = known.find(k => storesOverlap(k.identity, identity))
        if (clash !== undefined) {
            throw usageError(
                `the config's domains route to backend "${name}" (${backendSpec.display}), whose records would mix with those of ${clash.backend.spec.display} (the same ${adapter.title} ${identity.basis}): route them to the same address or to a separate one`,
                { backend: name }
            )
        }
        if (backend === null) {
            backend = await openBackend(backendSpec, mode)
            opened.push(backend)
        }
        known.push({ identity, backend })
        byName.set(name, backend)
    }
    return byName
}

/** The read methods of the store contracts (getX, getXBatch, load, hasX, exportData). */
const READ_METHOD = /^(get|load|has|export)/

/**
 * A store contract whose reads fail by the store layer's one rule (failures.ts): a record the
 * store package cannot decode becomes INTEGRITY naming the session, whichever command reads it;
 * the store's own failures pass through unchanged.
 */
function guardReads<T extends object>(
    contract: T,
    sessionId: string,
    store: string,
    what: 'credentials' | 'records'
): T {
    const rethrow = (error: unknown): never => {
        if (error instanceof ZapoError || failureKind(error) === 'store') throw error
        throw sessionFailure(error, { sessionId, store, what })
    }
    return new Proxy(contract, {
        get(target, key, receiver) {
            const value = Reflect.get(target, key, receiver) as unknown
            if (typeof value !== 'function' || typeof key !== 'string' || !READ_METHOD.test(key))
                return value
            return (...args: unknown[]) => {
                try {
                    const result = (value as (...a: unknown[]) => unknown).apply(target, args)
                    return result instanceof Promise ? result.catch(rethrow) : result
                } catch (error) {
                    return rethrow(error)
                }
            }
        }
    })
}

async function closeAll(backends: readonly OpenedBackend[]): Promise<void> {
    for (const backend of [...backends].reverse()) {
        try {
            await backend.close()
        } catch {
            // closing is best effort: the command's own result already stands
        }
    }
}

async function openBackend(spec: BackendSpec, mode: OpenMode): Promise<OpenedBackend> {
    return backendAdapter(spec.kind).open(spec, mode)
}

/**
 * Whether the primary backend's store exists, when that can be told without connecting (a
 * SQLite file); null when only its server can tell.
 */
export function storeExists(spec: StoreSpec): boolean | null {
    return backendAdapter(spec.primary.kind).exists(spec.primary)
}

/**
 * Why the store could not be written, for work that must not start unless it can (a pairing):
 * the first backend an adapter knows to be unwritable (a SQLite file, its directory); null when
 * none is.
 */
export function unwritableStore(spec: StoreSpec): ZapoError | null {
    for (const backend of [spec.primary, ...Object.values(spec.backends)]) {
        const problem = backendAdapter(backend.kind).unwritable(backend)
        if (problem !== null) return problem
    }
    return null
}

/**
 * Refuses (exit 2, before anything is opened) a store zapo only reads — a foreign format such as
 * `baileys:` — for a command that would write to it; `action` completes "it cannot …".
 */
export function assertWritable(spec: StoreSpec, action: string): void {
    for (const backend of [spec.primary, ...Object.values(spec.backends)]) {
        const adapter = backendAdapter(backend.kind)
        if (adapter.readOnly === undefined) continue
        const problem = adapter.unwritable(backend)
        if (problem === null) continue
        throw new ZapoError(
            problem.code,
            problem.message.replace(/it cannot be written/, `it cannot ${action}`),
            problem.meta
        )
    }
}

/**
 * Whether the backend holding `domain` clears a session by key pattern (Redis): the library's
 * own clean-up (zapo-js `clearStoredState`) must not run there; zapo clears by exact keys.
 */
export function clearedByPattern(store: OpenedStore, domain: AnyDomain): boolean {
    return backendAdapter(store.backendFor(domain).kind).patternClears
}
