/**
 * `migrate --delete-source` against a source an application writes to after the copy verified:
 * the source is read again under its lease right before the delete; a changed one is not
 * deleted, the run fails (VERIFY_FAILED) and the same command then copies it again.
 */

import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { runMigrate } from '../../dist/ops/migrate.js'
import { DURABLE_DOMAINS, parseStoreUrl, singleStore } from '../../dist/store/address.js'
import { catalogForStore } from '../../dist/store/catalog.js'
import { migrationMarksFor } from '../../dist/store/migration-marks.js'
import { makeSession, openTestStore } from '../helpers/fixtures.js'

const spec = url => singleStore(parseStoreUrl(url, 'flag', process.cwd()))

test('a source written after its copy verified is not deleted; a rerun copies it again', async t => {
    const d = mkdtempSync(join(tmpdir(), 'zapo-moving-'))
    t.after(() => rmSync(d, { recursive: true, force: true }))
    const src = `sqlite:${join(d, 'src.sqlite')}`
    const dst = `sqlite:${join(d, 'dst.sqlite')}`
    const seeded = await openTestStore(src, 'write')
    for (const id of ['calm', 'busy']) await makeSession(seeded, id, { preKeys: 10, uploaded: 5 })
    await seeded.close()
    const options = {
        from: spec(src),
        to: spec(dst),
        sessions: 'all',
        domains: [...DURABLE_DOMAINS],
        mode: 'copy',
        existing: 'refuse',
        deleteSource: true,
        batchSize: 50
    }
    // the "application": a new remote identity stored for `busy` once its copy verified (its
    // store opened beforehand, so the write lands while migrate is still copying or verifying)
    const app = await openTestStore(src, 'write')
    let written = null
    const result = await runMigrate(options, {
        onSession: outcome => {
            if (outcome.sessionId !== 'busy') return
            written = app.domain('identity', 'busy').setRemoteIdentities([
                {
                    address: { user: '15550001111', server: 's.whatsapp.net', device: 0 },
                    identityKey: new Uint8Array(33).fill(5)
                }
            ])
        }
    })
    await written
    await app.close()
    assert.equal(result.status, 'verify-failed')
    const busy = result.sessions.find(s => s.sessionId === 'busy')
    assert.equal(busy.verified, false)
    assert.equal(busy.sourceDeleted, false)
    assert.match(busy.mismatches[0].extra, /the source changed after it was copied/)
    assert.equal(result.sessions.find(s => s.sessionId === 'calm').sourceDeleted, true)

    const check = await openTestStore(src, 'read')
    try {
        assert.deepEqual(await catalogForStore(check).listSessionIds(), ['busy'])
        assert.equal((await catalogForStore(check).counts('busy')).identities > 0, true)
    } finally {
        await check.close()
    }
    const target = await openTestStore(dst, 'read')
    try {
        assert.equal(
            (await migrationMarksFor(target.primary).readAll()).get('busy').state,
            'copying'
        )
    } finally {
        await target.close()
    }

    const again = await runMigrate(options)
    assert.equal(again.status, 'migrated')
    const redone = again.sessions.find(s => s.sessionId === 'busy')
    assert.equal(redone.action, 'resume')
    assert.equal(redone.verified, true)
    assert.equal(redone.sourceDeleted, true)
})
