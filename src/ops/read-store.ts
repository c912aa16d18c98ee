/**
 * Opening a store for a read-only command (sessions list, creds show, …):
 * nothing may be created or changed. `openStore(…, 'read')` refuses a
 * missing SQLite file; here the schema is looked at through the session
 * catalog before any store contract is used, because the store packages
 * create their tables on first use.
 */

import { ZapoError } from '../errors.js'
import type { StoreSpec } from '../store/address.js'
import type { OpenedStore } from '../store/open.js'
import type { ZapoSessionCatalog } from '../store/catalog.js'
import type { SchemaState } from '../store/records.types.js'

export interface ReadableStore {
    readonly store: OpenedStore
    readonly catalog: ZapoSessionCatalog
    /**
     * 'missing': the backend holds no zapo data at all (a fresh database or prefix, an empty
     * SQLite file; a SQLite file with other tables is refused instead);
     * 'partial': some domains' tables do not exist yet: read only what `catalog.counts` says exists
     */
    readonly schema: SchemaState
    readonly schemaDetail: string
    close(): Promise<void>
}

export async function openForReading(spec: StoreSpec): Promise<ReadableStore> {
    const [{ openStore }, { catalogForStore }] = await Promise.all([
        import('../store/open.js'),
        import('../store/catalog.js')
    ])
    const store = await openStore(spec, 'read')
    try {
        const catalog = catalogForStore(store)
        const { state, detail } = await catalog.schemaState()
        if (state === 'missing') {
            // an empty database (a pairing that stopped before writing anything) is an empty store;
            // a SQLite file with other tables is some other database, and touching it through the
            // store package would create zapo's tables in it
            if ((await store.primary.foreignObjects()) > 0) {
                throw new ZapoError(
                    'STORE_UNAVAILABLE',
                    `${spec.primary.target} is not a zapo store: it holds tables, none of them zapo's; point --store at the SQLite file zapo pair wrote`,
                    { store: spec.primary.display, schema: state }
                )
            }
        }
        return { store, catalog, schema: state, schemaDetail: detail, close: () => store.close() }
    } catch (error) {
        await store.close()
        throw error
    }
}
