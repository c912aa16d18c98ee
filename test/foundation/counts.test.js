/**
 * One renderer of per-domain record counts (src/ui/counts.ts): the words of export, import and
 * sessions rm, and logout's before/after table, from one table of domains and fields.
 */

import assert from 'node:assert/strict'
import test from 'node:test'
import { countTable, describeCounts, describeDomainRecords } from '../../dist/ui/counts.js'
import { EMPTY_COUNTS } from '../../dist/store/catalog.js'

const counts = {
    ...EMPTY_COUNTS,
    credentials: true,
    registration: true,
    signedPreKey: true,
    preKeys: 30,
    preKeysUploaded: 10,
    signalSessions: 5,
    senderKeys: 2,
    senderKeyDistributions: 1
}

test('describeCounts: the domains holding something, in the reporting order', () => {
    assert.equal(
        describeCounts(counts),
        'credentials · registration + signed prekey · 30 prekeys (10 uploaded) · 5 signal sessions · 2 sender keys, 1 distributions'
    )
    assert.equal(describeCounts(EMPTY_COUNTS), 'nothing')
})

test('describeCounts with chosen domains says each of them, empty ones too, and no other', () => {
    assert.equal(
        describeCounts(counts, ['identity', 'auth', 'preKey']),
        'credentials · 30 prekeys (10 uploaded) · 0 identities'
    )
    assert.equal(
        describeCounts(EMPTY_COUNTS, ['auth', 'signal']),
        'no credentials · no registration'
    )
})

test('countTable: one row per non-zero field with its domain, one column per state', () => {
    const lines = countTable([
        ['before', counts],
        ['after', EMPTY_COUNTS]
    ])
    assert.equal(lines[0], `  ${'records'.padEnd(24)} ${'domain'.padEnd(13)}  before   after`)
    assert.deepEqual(
        lines.slice(1).map(l => l.trim().split(/\s+/)),
        [
            ['credentials', 'auth', '1', '0'],
            ['registration', 'signal', '1', '0'],
            ['signedPreKey', 'signal', '1', '0'],
            ['preKeys', 'preKey', '30', '0'],
            ['preKeysUploaded', 'preKey', '10', '0'],
            ['signalSessions', 'session', '5', '0'],
            ['senderKeys', 'senderKey', '2', '0'],
            ['senderKeyDistributions', 'senderKey', '1', '0']
        ]
    )
})

test('describeDomainRecords: the records of each named domain, zeros included', () => {
    assert.equal(
        describeDomainRecords({ auth: 1, preKey: 30 }, ['auth', 'signal', 'preKey']),
        'auth 1, signal 0, preKey 30'
    )
})
