import assert from 'node:assert/strict'
import { test } from 'node:test'
import { KEEP_STORE_ON_CLOSE, ReconnectPolicy } from '../../dist/client/reconnect.js'

const close = (reason, code = null, isLogout = false) => ({
    status: 'close',
    reason,
    code,
    isLogout
})

function clock(start = 1_000_000) {
    let now = start
    return { now: () => now, advance: ms => (now += ms) }
}

test('transient closes back off exponentially with full jitter up to the cap', () => {
    const c = clock()
    const policy = new ReconnectPolicy({
        baseMs: 1_000,
        capMs: 8_000,
        random: () => 0.5,
        now: c.now
    })
    const delays = []
    for (let i = 0; i < 6; i++) {
        const d = policy.closed(close('stream_error_other'))
        assert.equal(d.action, 'reconnect')
        assert.equal(d.attempt, i + 1)
        delays.push(d.delayMs)
        policy.connecting()
    }
    assert.deepEqual(delays, [500, 1_000, 2_000, 4_000, 4_000, 4_000])
    assert.equal(policy.state, 'connecting')
})

test('jitter spans [0, ceiling): random 0 gives 0, random near 1 gives just under the ceiling', () => {
    const low = new ReconnectPolicy({ random: () => 0 })
    assert.equal(low.closed(close('failure_service_unavailable', 503)).delayMs, 0)
    const high = new ReconnectPolicy({ baseMs: 1_000, random: () => 0.999 })
    high.closed(close('failure_service_unavailable', 503))
    high.closed(close('failure_service_unavailable', 503))
    assert.equal(high.closed(close('failure_service_unavailable', 503)).delayMs, 3_996)
})

test('515 reconnects at once the first time, then backs off if it loops', () => {
    const c = clock()
    const policy = new ReconnectPolicy({ random: () => 0.5, now: c.now, stableMs: 10_000 })
    policy.opened()
    c.advance(60_000)
    const first = policy.closed(close('stream_error_force_login', 515, true))
    assert.deepEqual(
        [first.action, first.delayMs, first.attempt, first.classification.class],
        ['reconnect', 0, 1, 'routine']
    )
    policy.opened()
    c.advance(100) // not stable: the same server asks again at once
    const second = policy.closed(close('stream_error_force_login', 515, true))
    assert.equal(second.attempt, 2)
    assert.equal(second.delayMs, 1_000)
})

test('a stable connection resets the attempt counter; a flapping one does not', () => {
    const c = clock()
    const policy = new ReconnectPolicy({
        random: () => 1 - Number.EPSILON,
        now: c.now,
        baseMs: 1_000,
        stableMs: 5_000
    })
    policy.closed(close('stream_error_other'))
    policy.opened()
    c.advance(1_000)
    assert.equal(policy.closed(close('stream_error_other')).attempt, 2)
    policy.opened()
    c.advance(5_000)
    assert.equal(policy.closed(close('stream_error_other')).attempt, 1)
})

test('fatal reasons stop at once and later closes are ignored', () => {
    const policy = new ReconnectPolicy()
    policy.opened()
    const d = policy.closed(close('stream_error_replaced'), 't1')
    assert.equal(d.action, 'stop')
    assert.equal(d.classification.exit, 'REPLACED')
    assert.equal(d.gaveUp, false)
    assert.equal(policy.state, 'stopped')
    assert.equal(policy.stoppedBy.exit, 'REPLACED')
    assert.equal(policy.closed(close('stream_error_other')).action, 'none')
    policy.opened()
    assert.equal(policy.state, 'stopped')
})

test('our own disconnect needs nothing; stop() makes the policy ignore everything after', () => {
    const policy = new ReconnectPolicy()
    assert.equal(policy.closed(close('client_disconnected')).action, 'none')
    assert.equal(policy.state, 'connecting')
    policy.stop()
    assert.equal(policy.closed(close('failure_service_unavailable', 503)).action, 'none')
    assert.equal(policy.stoppedBy, null)
})

test('maxAttempts gives up with CONNECTION_FAILED', () => {
    const policy = new ReconnectPolicy({ maxAttempts: 2, random: () => 0 })
    assert.equal(policy.connectFailed().action, 'reconnect')
    assert.equal(policy.connectFailed().action, 'reconnect')
    const d = policy.connectFailed()
    assert.equal(d.action, 'stop')
    assert.equal(d.gaveUp, true)
    assert.equal(d.attempt, 2)
    assert.equal(d.classification.exit, 'CONNECTION_FAILED')
    assert.equal(d.classification.reason, 'connect_failed')
})

test('KEEP_STORE_ON_CLOSE clears nothing', () => {
    assert.ok(Object.values(KEEP_STORE_ON_CLOSE).length >= 15)
    assert.ok(Object.values(KEEP_STORE_ON_CLOSE).every(v => v === false))
})
