import assert from 'node:assert/strict'
import { test } from 'node:test'
import { WA_DISCONNECT_REASONS } from 'zapo-js'
import {
    classifyClose,
    CLOSE_REASONS,
    describeFailure,
    describeReason
} from '../../dist/client/reasons.js'
import { worstExit } from '../../dist/errors.js'
import { EXIT_CODES } from '../../dist/errors.js'

const close = (reason, code = null, isLogout = false) => ({
    status: 'close',
    reason,
    code,
    isLogout
})

test('every zapo-js disconnect reason has a known class (none falls through to the default)', () => {
    for (const reason of Object.values(WA_DISCONNECT_REASONS)) {
        assert.ok(
            Object.values(CLOSE_REASONS).includes(reason),
            `${reason} is listed in CLOSE_REASONS`
        )
        const c = classifyClose(close(reason))
        assert.notEqual(c.summary, 'the connection closed', `${reason} has its own rule`)
    }
})

test('515 is routine even though zapo-js 0.3 flags it isLogout', () => {
    const c = classifyClose(close('stream_error_force_login', 515, true))
    assert.equal(c.class, 'routine')
    assert.equal(classifyClose(close('something_new', 515, true)).class, 'routine')
})

test('fatal reasons map to their exit codes', () => {
    const cases = [
        [close('stream_error_replaced'), 'REPLACED'],
        [close('stream_error_device_removed', null, true), 'LOGGED_OUT'],
        [close('stream_error_force_logout', 516, true), 'LOGGED_OUT'],
        [close('failure_not_authorized', 401, true), 'LOGGED_OUT'],
        [close('primary_identity_key_change', null, true), 'LOGGED_OUT'],
        [close('failure_banned', 406, true), 'ACCOUNT_BLOCKED'],
        [close('failure_locked', 403, true), 'ACCOUNT_BLOCKED'],
        [close('failure_client_too_old', 405), 'CLIENT_REJECTED'],
        [close('failure_bad_user_agent', 409), 'CLIENT_REJECTED'],
        [close('failure_unknown', 402), 'ACCOUNT_BLOCKED'],
        [close('brand_new_reason', null, true), 'LOGGED_OUT']
    ]
    for (const [event, exit] of cases) {
        const c = classifyClose(event, 't1')
        assert.equal(c.class, 'fatal', event.reason)
        assert.equal(c.exit, exit, event.reason)
        assert.ok(EXIT_CODES[c.exit] >= 10, 'a fatal exit code is in the 10-13 range')
        assert.ok(c.hint.length > 0 && !c.hint.includes('<session>'))
    }
    assert.match(
        classifyClose(close('failure_not_authorized', 401, true), 't1').hint,
        /zapo pair --session t1/
    )
})

test('transient and expected reasons', () => {
    for (const [reason, code] of [
        ['failure_service_unavailable', 503],
        ['stream_error_ack', null],
        ['stream_error_xml_not_well_formed', null],
        ['stream_error_other', null],
        ['comms_stopped', null],
        ['connect_failed', null],
        ['socket_closed', null],
        ['something_else', 500],
        ['never_heard_of_it', null]
    ]) {
        const c = classifyClose(close(reason, code))
        assert.equal(c.class, 'transient', reason)
        assert.equal(c.exit, 'CONNECTION_FAILED')
    }
    const own = classifyClose(close('client_disconnected'))
    assert.equal(own.class, 'expected')
    assert.equal(own.exit, 'OK')
})

test('worstExit ranks blocked over logged out over rejected over replaced', () => {
    assert.equal(worstExit([]), 'OK')
    assert.equal(worstExit(['OK', 'REPLACED', 'LOGGED_OUT']), 'LOGGED_OUT')
    assert.equal(worstExit(['CLIENT_REJECTED', 'ACCOUNT_BLOCKED', 'REPLACED']), 'ACCOUNT_BLOCKED')
    assert.equal(worstExit(['CONNECTION_FAILED', 'REPLACED']), 'REPLACED')
})

test('every close reason reads as words for people, with its code (one table)', () => {
    assert.equal(describeReason('stream_error_force_login', 515), 'server asked to reconnect (515)')
    assert.equal(describeReason('failure_not_authorized', 401), 'logged out on the phone (401)')
    assert.equal(describeReason('failure_service_unavailable', 503), 'service unavailable (503)')
    assert.equal(describeReason('stream_error_replaced'), 'replaced by another connection')
    assert.equal(describeReason('socket_closed', 1006), 'socket closed (1006)')
    // a reason zapo-js does not name, known by its code; an unknown one as it came
    assert.equal(describeReason('something_new', 500), 'server error (500)')
    assert.equal(describeReason('something_new'), 'something new')
    for (const reason of Object.values(CLOSE_REASONS))
        assert.doesNotMatch(describeReason(reason), /_/, `${reason} has words`)
    assert.equal(describeFailure(503), 'login failed: service unavailable (503)')
    assert.equal(describeFailure(402), 'login failed: account temporarily banned (402)')
    assert.equal(describeFailure(999), 'login failed (reason 999)')
    assert.equal(describeFailure(null), 'login failed')
})
