/**
 * The session catalog: which sessions a store holds and how many records each has, per
 * durable domain. Enumerating keys is backend-specific (each backend's adapter under
 * ./backends/ has its catalog); the records themselves are read through the zapo-js store
 * contracts (see records.ts). A catalog only reads: it never creates a table, a collection,
 * an index or a key (`schemaState()` says whether the store's schema is there).
 */

import type { BackendSpec, DurableDomain, StoreSpec } from './address.js'
import type { OpenedBackend, OpenedStore } from './open.js'
import type { SessionCounts } from './records.types.js'
import type { ZapoSessionCatalog } from './catalog/types.js'
import { EMPTY_COUNTS, sortStrings } from './catalog/types.js'
import { COUNT_FIELDS } from './domains.js'

export type { ZapoSessionCatalog } from './catalog/types.js'
export { EMPTY_COUNTS } from './catalog/types.js'
export { COUNT_FIELDS } from './domains.js'

/**
 * The catalog of one opened backend (its spec's prefix / table names are honoured). Given a
 * whole `OpenedStore`, the store's catalog (see `catalogForStore`). The second argument is
 * accepted for older callers and must name the backend's own spec.
 */
export function catalogFor(
    target: OpenedBackend | OpenedStore,
    _spec?: BackendSpec | StoreSpec
): ZapoSessionCatalog {
    if ('primary' in target) return catalogForStore(target)
    return target.catalog()
}

export function catalogForBackend(backend: OpenedBackend): ZapoSessionCatalog {
    return backend.catalog()
}

/**
 * The catalog of a whole opened store. With no per-domain routing it is the primary's catalog;
 * with routing, each domain is enumerated in the backend that holds it and session ids are the
 * union over those backends.
 */
export function catalogForStore(store: OpenedStore): ZapoSessionCatalog {
    const primary = catalogForBackend(store.primary)
    const domains = Object.keys(COUNT_FIELDS) as DurableDomain[]
    const backendOf = new Map<DurableDomain, OpenedBackend>(
        domains.map(d => [d, store.backendFor(d)])
    )
    if (domains.every(d => backendOf.get(d) === store.primary)) return primary
    const catalogs = new Map<OpenedBackend, ZapoSessionCatalog>([[store.primary, primary]])
    const of = (domain: DurableDomain): ZapoSessionCatalog => {
        const backend = backendOf.get(domain)!
        let c = catalogs.get(backend)
        if (!c) catalogs.set(backend, (c = catalogForBackend(backend)))
        return c
    }
    const unique = (): ZapoSessionCatalog[] => [...new Set(domains.map(of))]
    const composite: ZapoSessionCatalog = {
        kind: primary.kind,
        async schemaState() {
            const states = await Promise.all(unique().map(c => c.schemaState()))
            const worst =
                states.find(s => s.state === 'missing') ??
                states.find(s => s.state === 'partial') ??
                states[0]!
            return { state: worst.state, detail: states.map(s => s.detail).join('; ') }
        },
        async listSessionIds() {
            return sortStrings((await Promise.all(unique().map(c => c.listSessionIds()))).flat())
        },
        async counts(sessionId) {
            return (await composite.countsMany([sessionId])).get(sessionId) ?? EMPTY_COUNTS
        },
        async countsMany(sessionIds) {
            const per = new Map<ZapoSessionCatalog, ReadonlyMap<string, SessionCounts>>()
            for (const c of unique()) per.set(c, await c.countsMany(sessionIds))
            const out = new Map<string, SessionCounts>()
            for (const id of sessionIds) {
                const merged: Record<string, unknown> = { ...EMPTY_COUNTS }
                for (const d of domains) {
                    const counts = per.get(of(d))!.get(id) ?? EMPTY_COUNTS
                    for (const f of COUNT_FIELDS[d]) merged[f] = counts[f]
                }
                out.set(id, merged as unknown as SessionCounts)
            }
            return out
        },
        nextPreKeyId: id => of('preKey').nextPreKeyId(id),
        preKeyIds: (id, n) => of('preKey').preKeyIds(id, n),
        sessionAddresses: (id, n) => of('session').sessionAddresses(id, n),
        identityAddresses: (id, n) => of('identity').identityAddresses(id, n),
        senderKeyGroupIds: (id, n) => of('senderKey').senderKeyGroupIds(id, n),
        appStateSyncKeyIds: (id, n) => of('appState').appStateSyncKeyIds(id, n),
        appStateCollections: id => of('appState').appStateCollections(id),
        privacyTokenJids: (id, n) => of('privacyToken').privacyTokenJids(id, n)
    }
    return composite
}
