/**
 * Two processes' first writes to a fresh PostgreSQL prefix create the store package's tables at
 * the same moment: without zapo's schema lock PostgreSQL fails one of them with `duplicate key …
 * pg_type_typname_nsp_index` (seen 9 times in 12 here). Four stores, each its own pool, write
 * their first session at once, three times over: every write lands.
 */

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { catalogForStore } from '../../dist/store/catalog.js'
import { takeLeases } from '../../dist/store/lease.js'
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

test("zapo's own tables on PostgreSQL exist once their creation returns (marks, leases)", async () => {
    // seed 2006 of bench/concurrency.js: a migrate failed (exit 4) with `relation
    // "…zapo_migrate_marks" does not exist` on its third session's first mark. The pool's clients
    // carry the schema lock's wrapper once the store package used them; a CREATE reached through
    // the plain pool on such a client answered before its COMMIT, so the three sessions' marks
    // written next, on the other connections, found no table.
    for (let round = 0; round < 6; round++) {
        const url = storeUrls().postgres
        const store = await openTestStore(url, 'write')
        try {
            // the store package's transactions take (and wrap) every client of the pool
            await Promise.all(['w0', 'w1', 'w2', 'w3'].map(id => makeSession(store, id, SHAPE)))
            const marks = store.primary.marks()
            const ids = ['a', 'b', 'c', 'd']
            const results = await Promise.allSettled(
                ids.map(sessionId =>
                    marks.write({ sessionId, source: 'src', state: 'copying', updatedAt: 1 })
                )
            )
            const failed = results.filter(r => r.status === 'rejected').map(r => r.reason.message)
            assert.deepEqual(failed, [], `round ${round}`)
            assert.deepEqual([...(await marks.readAll()).keys()].sort(), ids)
            const held = await Promise.allSettled(
                ids.map(id => takeLeases(store.primary, [id], { command: 'migrate' }))
            )
            const refused = held.filter(r => r.status === 'rejected').map(r => r.reason.message)
            assert.deepEqual(refused, [], `round ${round}`)
            for (const r of held) await r.value.release()
        } finally {
            await store.close()
            await dropStore(url)
        }
    }
})
