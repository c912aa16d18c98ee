/**
 * Two processes' first writes to a fresh PostgreSQL prefix create the store package's tables at
 * the same moment: without zapo's schema lock PostgreSQL fails one of them with `duplicate key …
 * pg_type_typname_nsp_index` (seen 9 times in 12 here). Four stores, each its own pool, write
 * their first session at once, three times over: every write lands.
 */

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { catalogForStore } from '../../dist/store/catalog.js'
import { dropStore, makeSession, openTestStore, storeUrls } from '../helpers/fixtures.js'

const SHAPE = { preKeys: 2, uploaded: 1, signalSessions: 1, identities: 1 }

test('concurrent first use of a PostgreSQL store: one schema, every write stored', async () => {
    for (let round = 0; round < 3; round++) {
        const url = storeUrls().postgres
        const stores = await Promise.all([1, 2, 3, 4].map(() => openTestStore(url, 'write')))
        try {
            const results = await Promise.allSettled(
                stores.map((s, i) => makeSession(s, `s${i}`, SHAPE))
            )
            const failed = results.filter(r => r.status === 'rejected').map(r => r.reason.message)
            assert.deepEqual(failed, [])
            assert.deepEqual(await catalogForStore(stores[0]).listSessionIds(), [
                's0',
                's1',
                's2',
                's3'
            ])
        } finally {
            await Promise.all(stores.map(s => s.close()))
            await dropStore(url)
        }
    }
})
