// A migration's read-back of Signal sessions and identities from PostgreSQL and MySQL: the
// stored bytes (range reads, `storedRecords`) digest exactly as the records read through the
// contracts, and a changed, missing or extra row in the target changes the digest.

import assert from 'node:assert/strict'
import { test } from 'node:test'

import { dropStore, makeSession, openTestStore, storeUrls } from '../helpers/fixtures.js'
import { catalogForStore } from '../../dist/store/catalog.js'
import { digestSessionRecords, readSessionRecords } from '../../dist/store/records.js'
import { sessionReadBack } from '../../dist/store/read-back.js'

const SHAPE = { signalSessions: 7, identities: 9, preKeys: 3, uploaded: 1 }

/** The session and identity digests: through the contracts, and as the read-back makes them. */
async function digests(store, id) {
    const catalog = catalogForStore(store)
    const contract = digestSessionRecords()
    const stored = digestSessionRecords()
    const readBack = sessionReadBack(store, id, 4) // pages smaller than the session
    for await (const batch of readSessionRecords(store, catalog, id, {
        domains: ['session', 'identity'],
        batchSize: 4
    })) {
        contract.add(batch)
        assert.equal(readBack.defer(batch), true, `${batch.domain} read back by range`)
    }
    await readBack.finish(stored)
    return { contract: contract.result(), stored: stored.result() }
}

for (const kind of ['postgres', 'mysql']) {
    test(`${kind}: the stored-bytes read-back digests as the contract read; a changed, missing or extra row shows`, async t => {
        const url = storeUrls()[kind]
        t.after(() => dropStore(url))
        const store = await openTestStore(url, 'write')
        t.after(() => store.close())
        const fixture = await makeSession(store, 'rb', SHAPE)
        await makeSession(store, 'other', SHAPE) // another session's rows are not read

        const first = await digests(store, 'rb')
        assert.equal(first.contract.session.count, 7)
        assert.equal(first.contract.identity.count, 9)
        assert.deepEqual(first.stored, first.contract)

        // an identity key changes: same count, another hash
        await store
            .domain('identity', 'rb')
            .setRemoteIdentity(fixture.identityAddresses[0], new Uint8Array(33).fill(5))
        const changed = (await digests(store, 'rb')).stored
        assert.equal(changed.identity.count, 9)
        assert.notEqual(changed.identity.sha256, first.stored.identity.sha256)
        assert.deepEqual(changed.session, first.stored.session)

        // a Signal session disappears: the count drops
        await store.domain('session', 'rb').deleteSession(fixture.sessionAddresses[0])
        const missing = await digests(store, 'rb')
        assert.equal(missing.stored.session.count, 6)
        assert.deepEqual(missing.stored, missing.contract)

        // a row the source never had: the read-back sees every row of the session
        const readBack = sessionReadBack(store, 'rb', 100)
        const extra = digestSessionRecords()
        readBack.defer({ domain: 'identity', entries: [] })
        await store
            .domain('identity', 'rb')
            .setRemoteIdentity(
                { user: '15550009999', server: 's.whatsapp.net', device: 3 },
                new Uint8Array(33).fill(7)
            )
        await readBack.finish(extra)
        assert.equal(extra.result().identity.count, 10)
    })
}

test('sqlite: sessions and identities are read back by key (no stored-bytes read)', async t => {
    const url = storeUrls().sqlite
    t.after(() => dropStore(url))
    const store = await openTestStore(url, 'write')
    t.after(() => store.close())
    const readBack = sessionReadBack(store, 'rb', 10)
    assert.equal(readBack.defer({ domain: 'session', entries: [] }), false)
    assert.equal(readBack.defer({ domain: 'identity', entries: [] }), false)
    assert.equal(readBack.defer({ domain: 'preKey', records: [] }), false)
})
