/**
 * Session leases in the store itself (src/store/lease.ts) on SQLite, PostgreSQL and Redis:
 * one holder at a time, the other told who holds it; all-or-none; --wait; a crashed holder's
 * lease expires; concurrent first use creates the lease table once; lease rows and keys never
 * read as sessions and survive another session's exact-key delete.
 */

import assert from 'node:assert/strict'
import { hostname } from 'node:os'
import { after, describe, test } from 'node:test'
import { takeLeases, readLease } from '../../dist/store/lease.js'
import { catalogForBackend } from '../../dist/store/catalog.js'
import { DURABLE_DOMAINS } from '../../dist/store/address.js'
import { dropStore, makeSession, openTestStore, storeUrls } from '../helpers/fixtures.js'

const URLS = storeUrls()
const KINDS = (process.env.ZAPO_LEASE_KINDS ?? 'sqlite,postgres,redis').split(',')

for (const kind of KINDS) {
    describe(`leases on ${kind}`, () => {
        const url = URLS[kind]
        after(() => dropStore(url))

        test('one holder; the other is told command, host, pid and since; release frees it', async () => {
            const a = await openTestStore(url, 'write')
            const b = await openTestStore(url, 'write')
            try {
                const held = await takeLeases(a.primary, ['s1'], { command: 'migrate' })
                await assert.rejects(takeLeases(b.primary, ['s1'], { command: 'pair' }), error => {
                    assert.equal(error.code, 'SESSION_BUSY')
                    assert.equal(error.exitCode, 21)
                    assert.match(
                        error.message,
                        new RegExp(
                            `^session "s1" is in use by \`zapo migrate\` on host ${hostname().replace(/[.]/g, '\\.')} \\(pid ${process.pid}\\) since \\d{4}-`
                        )
                    )
                    assert.match(error.message, /--wait DURATION/)
                    assert.equal(error.meta.holder.command, 'zapo migrate')
                    return true
                })
                const seen = await readLease(b.primary, 's1')
                assert.equal(seen.token, held.lease.token)
                await held.release()
                assert.equal(await readLease(b.primary, 's1'), null)
                const again = await takeLeases(b.primary, ['s1'], { command: 'pair' })
                await again.release()
            } finally {
                await a.close()
                await b.close()
            }
        })

        test('all or none: a set with one busy session takes nothing', async () => {
            const a = await openTestStore(url, 'write')
            const b = await openTestStore(url, 'write')
            try {
                const held = await takeLeases(a.primary, ['m2'], { command: 'import' })
                await assert.rejects(
                    takeLeases(b.primary, ['m3', 'm1', 'm2'], { command: 'migrate' }),
                    { code: 'SESSION_BUSY' }
                )
                assert.equal(await readLease(a.primary, 'm1'), null)
                assert.equal(await readLease(a.primary, 'm3'), null)
                await held.release()
            } finally {
                await a.close()
                await b.close()
            }
        })

        test('--wait waits for the holder to finish', async () => {
            const a = await openTestStore(url, 'write')
            const b = await openTestStore(url, 'write')
            try {
                const held = await takeLeases(a.primary, ['w1'], { command: 'logs' })
                setTimeout(() => void held.release(), 400)
                const started = Date.now()
                const mine = await takeLeases(b.primary, ['w1'], {
                    command: 'check',
                    waitMs: 10_000
                })
                assert.ok(Date.now() - started >= 350)
                assert.equal((await readLease(a.primary, 'w1')).token, mine.lease.token)
                await mine.release()
            } finally {
                await a.close()
                await b.close()
            }
        })

        test("a crashed holder's lease expires; a renewed one does not", async () => {
            const a = await openTestStore(url, 'write')
            const b = await openTestStore(url, 'write')
            try {
                // the crash: a lease nobody renews (taken through the primitive, as a dead process left it)
                const now = Date.now()
                const dead = {
                    token: 'dead-token',
                    command: 'zapo pair',
                    host: 'elsewhere',
                    pid: 1,
                    since: now,
                    expires: now + 600
                }
                assert.equal(await a.primary.leases().take('c1', dead, now), null)
                await assert.rejects(takeLeases(b.primary, ['c1'], { command: 'pair' }), {
                    code: 'SESSION_BUSY'
                })
                await new Promise(r => setTimeout(r, 800))
                const mine = await takeLeases(b.primary, ['c1'], { command: 'pair' })
                // the dead holder's token no longer renews or releases anything
                assert.equal(
                    await a.primary.leases().renew('c1', 'dead-token', Date.now() + 5_000),
                    false
                )
                await a.primary.leases().release('c1', 'dead-token')
                assert.equal((await readLease(a.primary, 'c1')).token, mine.lease.token)
                await mine.release()

                const live = await takeLeases(a.primary, ['c2'], { command: 'logs', ttlMs: 600 })
                await new Promise(r => setTimeout(r, 1_000))
                await assert.rejects(takeLeases(b.primary, ['c2'], { command: 'pair' }), {
                    code: 'SESSION_BUSY'
                })
                await live.confirm()
                await live.release()
            } finally {
                await a.close()
                await b.close()
            }
        })

        test('a lease left by a dead process of this host is free at once', async () => {
            const a = await openTestStore(url, 'write')
            try {
                const now = Date.now()
                const dead = {
                    token: 'killed-token',
                    command: 'zapo import',
                    host: hostname(),
                    pid: 2 ** 22 + 12_345, // above Linux's pid_max: never a running process
                    since: now,
                    expires: now + 30_000
                }
                assert.equal(await a.primary.leases().take('k1', dead, now), null)
                const mine = await takeLeases(a.primary, ['k1'], { command: 'import' })
                assert.equal((await readLease(a.primary, 'k1')).token, mine.lease.token)
                await mine.release()
                // a live process of this host (this one, another token) is waited for
                const alive = { ...dead, token: 'alive-token', pid: process.ppid }
                assert.equal(await a.primary.leases().take('k2', alive, now), null)
                await assert.rejects(takeLeases(a.primary, ['k2'], { command: 'import' }), {
                    code: 'SESSION_BUSY'
                })
                await a.primary.leases().release('k2', 'alive-token')
            } finally {
                await a.close()
            }
        })

        test('first use by several processes at once: one table, one holder, no store fault', async () => {
            const fresh = storeUrls()[kind]
            const stores = await Promise.all([1, 2, 3, 4].map(() => openTestStore(fresh, 'write')))
            try {
                const results = await Promise.allSettled(
                    stores.map(s => takeLeases(s.primary, ['first'], { command: 'import' }))
                )
                const won = results.filter(r => r.status === 'fulfilled')
                assert.equal(won.length, 1, JSON.stringify(results.map(r => r.reason?.message)))
                for (const r of results.filter(r => r.status === 'rejected'))
                    assert.equal(r.reason.code, 'SESSION_BUSY', r.reason.message)
                await won[0].value.release()
            } finally {
                await Promise.all(stores.map(s => s.close()))
                await dropStore(fresh)
            }
        })

        test('leases never read as sessions and survive another session being cleared', async () => {
            const s = await openTestStore(url, 'write')
            try {
                await makeSession(s, 'real', { preKeys: 3, uploaded: 1, signalSessions: 1 })
                const held = await takeLeases(s.primary, ['ghost', 'real', 'lease'], {
                    command: 'migrate'
                })
                const ids = await catalogForBackend(s.primary).listSessionIds()
                assert.deepEqual(
                    ids.filter(id => !['s1', 'm2', 'w1', 'c1', 'c2'].includes(id)),
                    ['real']
                )
                await s.primary.clearSession('lease', DURABLE_DOMAINS)
                await s.primary.clearSession('ghost', DURABLE_DOMAINS)
                for (const id of ['ghost', 'real', 'lease'])
                    assert.equal((await readLease(s.primary, id))?.token, held.lease.token, id)
                await held.release()
            } finally {
                await s.close()
            }
        })
    })
}
