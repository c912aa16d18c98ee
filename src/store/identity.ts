/**
 * Sameness of stores by what they are, never by how their addresses are spelled: each backend's
 * adapter reports a `StoreIdentity` (the file's device and inode, PostgreSQL's system
 * identifier, MySQL's server UUID / MariaDB's server_uid, Redis's run id, …); these functions
 * compare them. Rules per backend: docs/stores.md.
 */

import type { BackendSpec, StoreSpec } from './address.js'
import { backendAdapter } from './backends/registry.js'
import type { StoreIdentity } from './backends/types.js'

export type { StoreIdentity } from './backends/types.js'

/** Exactly the same store: the same records under the same names. */
export function sameStore(a: StoreIdentity, b: StoreIdentity): boolean {
    return (
        a.kind === b.kind &&
        a.instance === b.instance &&
        a.scope === b.scope &&
        a.namespace === b.namespace
    )
}

/** Whether records of one store can be records of the other (or be matched by its patterns). */
export function storesOverlap(a: StoreIdentity, b: StoreIdentity): boolean {
    if (a.kind !== b.kind || a.instance !== b.instance || a.scope !== b.scope) return false
    switch (a.overlap) {
        case 'always':
            return true
        case 'nested':
            return a.namespace.startsWith(b.namespace) || b.namespace.startsWith(a.namespace)
        case 'equal':
            return a.namespace === b.namespace
    }
}

/**
 * The identity of a backend without writing anything: from the file system where the adapter
 * can tell (SQLite, whether the file exists or not), else by opening it read-only and asking
 * its server.
 */
async function identifyBackend(spec: BackendSpec): Promise<StoreIdentity> {
    const adapter = backendAdapter(spec.kind)
    if (adapter.identityOf) return adapter.identityOf(spec)
    const opened = await adapter.open(spec, 'read')
    try {
        return await opened.identity()
    } finally {
        await opened.close()
    }
}

/** The identities of every backend of a store (primary first). */
export async function identifyStore(spec: StoreSpec): Promise<StoreIdentity[]> {
    const out: StoreIdentity[] = []
    for (const backend of [spec.primary, ...Object.values(spec.backends)])
        out.push(await identifyBackend(backend))
    return out
}

/** A file path inside a Baileys folder of a store (nothing is written there): the folder, or null. */
export { foreignFolderHolding } from './backends/baileys/index.js'
