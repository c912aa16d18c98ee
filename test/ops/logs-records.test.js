import assert from 'node:assert/strict'
import { test } from 'node:test'
import { proto } from 'zapo-js'

import {
    jidMatches,
    normalizeJidFlag,
    parseEventTypes,
    protoToPlain,
    reconnectRecord,
    stoppedRecord,
    toEventRecord,
    withClass
} from '../../dist/client/event-json.js'
import { classifyClose } from '../../dist/client/reasons.js'
import { eventLineFormatter, localTime } from '../../dist/ui/event-line.js'

const now = () => Date.parse('2026-01-02T03:04:05.678Z')

test('a decrypted message becomes a record with its text and its protobuf as JSON', () => {
    const message = proto.Message.decode(
        proto.Message.encode({
            extendedTextMessage: { text: 'see you at 6', contextInfo: { stanzaId: 'X1' } },
            messageContextInfo: {
                messageSecret: new Uint8Array([1, 2, 3]),
                deviceListMetadataVersion: 2
            }
        }).finish()
    )
    const record = toEventRecord(
        't1',
        'message',
        {
            rawNode: {
                tag: 'message',
                attrs: { id: 'M1', from: '1555@s.whatsapp.net', notify: 'Bob' },
                content: [{ tag: 'enc', attrs: {}, content: new Uint8Array([255, 0, 1]) }]
            },
            stanzaId: 'M1',
            chatJid: '1555@s.whatsapp.net',
            senderJid: '1555:2@s.whatsapp.net',
            timestampSeconds: 1_700_000_000,
            encryptionType: 'msg',
            isGroupChat: false,
            isBroadcastChat: false,
            plaintext: new Uint8Array([9, 9]),
            message
        },
        { raw: false, now }
    )
    assert.equal(record.ts, '2026-01-02T03:04:05.678Z')
    assert.equal(record.type, 'message')
    assert.equal(record.text, 'see you at 6')
    assert.equal(record.kind, 'extendedTextMessage')
    assert.equal(record.pushName, 'Bob')
    assert.equal(record.from, '1555:2@s.whatsapp.net')
    assert.equal(record.timestamp, '2023-11-14T22:13:20.000Z')
    assert.equal(
        record.plaintext,
        undefined,
        'the padded plaintext bytes are not part of the schema'
    )
    assert.equal(record.raw, undefined)
    assert.deepEqual(record.message.extendedTextMessage, {
        text: 'see you at 6',
        contextInfo: { stanzaId: 'X1' }
    })
    assert.equal(record.message.messageContextInfo.messageSecret, 'AQID', 'bytes are base64')
    const raw = toEventRecord(
        't1',
        'message',
        {
            rawNode: {
                tag: 'message',
                attrs: {},
                content: [{ tag: 'enc', attrs: {}, content: new Uint8Array([255, 0, 1]) }]
            }
        },
        { raw: true, now }
    )
    assert.equal(raw.raw.content[0].content, '/wAB')
    assert.doesNotThrow(() => JSON.stringify(record))
})

test('secret field names are redacted and 64-bit integers become strings', () => {
    const record = toEventRecord(
        't1',
        'privacy_token_update',
        {
            jid: 'a@s.whatsapp.net',
            tcToken: new Uint8Array([1]),
            type: 'trusted_contact',
            source: 'notification',
            timestampS: 5
        },
        { raw: false, now }
    )
    assert.equal(record.tcToken, undefined, 'the token is not part of the schema')
    const secret = toEventRecord(
        't1',
        'chat_event',
        { action: 'x', nested: { privKey: new Uint8Array([1]), keyData: 'k' } },
        { raw: false, now }
    )
    assert.deepEqual(secret.nested, { privKey: '[redacted]', keyData: '[redacted]' })
    assert.equal(
        record.type,
        'privacy_token',
        'the record type wins over an event field named type'
    )
    assert.equal(record.tokenType, 'trusted_contact')
    assert.equal(record.timestamp, '1970-01-01T00:00:05.000Z')
    const generic = toEventRecord(
        't1',
        'chat_event',
        { action: 'mute', session: 'x', type: 'y' },
        { raw: false, now }
    )
    assert.deepEqual(
        [generic.session, generic.type, generic.eventSession, generic.eventType],
        ['t1', 'chat', 'x', 'y']
    )
    const long = { low: 5, high: 1, unsigned: false, toString: () => '4294967301' }
    assert.deepEqual(protoToPlain({ a: long, b: [], c: null, d: { e: [] } }), {
        a: '4294967301',
        d: {}
    })
})

test('receipt, group and connection records; unknown client events give null', () => {
    const receipt = toEventRecord(
        't1',
        'message_receipt',
        {
            rawNode: { tag: 'receipt', attrs: { t: '1700000000' } },
            stanzaId: 'R1',
            chatJid: 'g@g.us',
            participantJid: 'p@s.whatsapp.net',
            stanzaType: undefined
        },
        { raw: false, now }
    )
    assert.deepEqual(
        [receipt.type, receipt.receipt, receipt.from, receipt.chat],
        ['receipt', 'delivery', 'p@s.whatsapp.net', 'g@g.us']
    )
    const group = toEventRecord(
        't1',
        'group_event',
        {
            rawNode: { tag: 'notification', attrs: {} },
            rawActionNode: { tag: 'add', attrs: {} },
            groupJid: 'g@g.us',
            authorJid: 'a@s.whatsapp.net',
            action: 'add',
            participants: [{ jid: 'p@s.whatsapp.net' }]
        },
        { raw: false, now }
    )
    assert.deepEqual(
        [group.chat, group.from, group.action, group.participants],
        ['g@g.us', 'a@s.whatsapp.net', 'add', [{ jid: 'p@s.whatsapp.net' }]]
    )
    assert.equal(group.rawActionNode, undefined)
    assert.equal(
        toEventRecord('t1', 'transport_frame_in', { frame: new Uint8Array(1) }, { raw: true }),
        null
    )
    const registration = toEventRecord(
        't1',
        'registration_code_received',
        { code: '123-456', expiryTimestampMs: 0, fromDeviceId: '1' },
        { raw: false, now }
    )
    assert.equal(registration.code, undefined, 'a registration code is never shown')
})

test('reconnect and stopped records carry the policy decision', () => {
    const c = classifyClose({ reason: 'failure_service_unavailable', code: 503, isLogout: false })
    assert.deepEqual(reconnectRecord('t1', { attempt: 3, delayMs: 4000, classification: c }, now), {
        ts: '2026-01-02T03:04:05.678Z',
        session: 't1',
        type: 'reconnect',
        attempt: 3,
        delayMs: 4000,
        reason: 'failure_service_unavailable',
        code: 503,
        class: 'transient'
    })
    const stopped = stoppedRecord(
        't1',
        classifyClose({ reason: 'stream_error_replaced', code: null, isLogout: false }, 't1'),
        now
    )
    assert.deepEqual([stopped.exit, stopped.exitCode, stopped.code], ['REPLACED', 11, undefined])
})

test('--type, --chat, --from parsing and JID matching', () => {
    assert.equal(parseEventTypes([]), null)
    assert.deepEqual(
        [...parseEventTypes(['message,message_receipt', 'group_event'])],
        ['message', 'receipt', 'group']
    )
    assert.throws(() => parseEventTypes(['nope']), /unknown event type "nope"/)
    assert.equal(normalizeJidFlag('+1 (555) 123-4567'), '15551234567@s.whatsapp.net')
    assert.equal(normalizeJidFlag('Group@G.US'), 'group@g.us')
    assert.throws(() => normalizeJidFlag('abc'))
    assert.ok(jidMatches('15551234567:3@s.whatsapp.net', '15551234567@s.whatsapp.net'))
    assert.ok(!jidMatches('15551234567@lid', '15551234567@s.whatsapp.net'))
    assert.ok(!jidMatches(undefined, 'x@s.whatsapp.net'))
})

test('human lines: time, session, type, who, summary; colour only when enabled', () => {
    const record = {
        ts: '2026-01-02T03:04:05.678Z',
        session: 't1',
        type: 'message',
        from: '1555@s.whatsapp.net',
        chat: '1555@s.whatsapp.net',
        pushName: 'Bob',
        kind: 'conversation',
        text: 'hi\nthere'
    }
    const plain = eventLineFormatter(false, { now }).format(record)
    assert.match(plain, /^\d\d:\d\d:05  t1  message {6} Bob <1555@s\.whatsapp\.net>  "hi there"$/)
    assert.ok(!plain.includes('\u001b['))
    assert.ok(eventLineFormatter(true, { now }).format(record).includes('\u001b['))
    const one = eventLineFormatter(false, { now, sessionColumn: false }).format(record)
    assert.match(one, /^\d\d:\d\d:05  message {6} Bob/, 'no session column for one session')
    const group = eventLineFormatter(false, { now }).format({
        ts: record.ts,
        session: 't1',
        type: 'group',
        from: 'a@s.whatsapp.net',
        chat: 'g@g.us',
        action: 'add',
        participants: [{ jid: 'p@s.whatsapp.net' }]
    })
    assert.match(group, /a@s\.whatsapp\.net in g@g\.us  add p@s\.whatsapp\.net$/)
})

test('human lines tell the connection in words; --json records keep the protocol names', () => {
    const f = eventLineFormatter(false, { now, sessionColumn: false, reconnectLines: true })
    const at = { ts: '2026-01-02T03:04:05.678Z', session: 't1' }
    const close = withClass(
        toEventRecord(
            't1',
            'connection',
            { status: 'close', reason: 'stream_error_force_login', code: 515, isLogout: true },
            { raw: false, now }
        ),
        classifyClose({ reason: 'stream_error_force_login', code: 515 })
    )
    assert.equal(close.reason, 'stream_error_force_login', 'JSON keeps the zapo-js name')
    assert.equal(f.format(close), null, 'a retried close is told by its reconnect line')
    const reconnect = reconnectRecord(
        't1',
        { attempt: 1, delayMs: 0, classification: classifyClose(close) },
        now
    )
    assert.match(
        f.format(reconnect),
        /^\d\d:\d\d:05  reconnect {5}connection lost: server asked to reconnect \(515\) — reconnecting now$/
    )
    assert.match(
        f.format({
            ...at,
            type: 'reconnect',
            attempt: 3,
            delayMs: 4_000,
            reason: 'socket_closed',
            code: 1006,
            class: 'transient'
        }),
        /connection lost: socket closed \(1006\) — reconnecting in 4s \(attempt 3\)$/
    )
    assert.match(
        f.format({ ...at, type: 'connection', status: 'open', downMs: 2_130 }),
        /connection {4}reconnected after 2\.1s$/
    )
    assert.match(
        f.format({ ...at, type: 'connection', status: 'open' }),
        /connection {4}connected$/
    )
    const fatal = {
        ...at,
        type: 'connection',
        status: 'close',
        reason: 'failure_not_authorized',
        code: 401,
        class: 'fatal'
    }
    assert.match(
        f.format(fatal),
        /connection {4}connection closed: logged out on the phone \(401\)$/
    )
    // without reconnect lines (--type connection) a retried close is shown on its own
    const alone = eventLineFormatter(false, { now, sessionColumn: false })
    assert.match(
        alone.format(close),
        /connection {4}connection lost: server asked to reconnect \(515\)$/
    )
    assert.match(
        f.format(toEventRecord('t1', 'failure', { failureReason: 503 }, { raw: false, now })),
        /failure {7}login failed: service unavailable \(503\)$/
    )
    assert.match(
        f.format({ ...at, type: 'failure', failureReason: 999 }),
        /login failed \(reason 999\)$/
    )
    assert.equal(
        f.format({ ...at, type: 'stopped', reason: 'x' }),
        null,
        'stopped is told on stderr'
    )
})

test('protocol bulletins are hidden from people unless asked for', () => {
    const bulletin = toEventRecord(
        't1',
        'notification',
        { notificationType: 'ib.offline', classification: 'info_bulletin', details: { count: 0 } },
        { raw: false, now }
    )
    assert.equal(bulletin.notification, 'ib.offline', 'the record (--json) has it')
    assert.equal(eventLineFormatter(false, { now }).format(bulletin), null)
    assert.match(
        eventLineFormatter(false, { now, bulletins: true }).format(bulletin),
        /notification  ib\.offline \(info_bulletin\)$/
    )
})

test('one time style for people: local HH:MM:SS, the date in front when not today', () => {
    const today = new Date(now())
    const iso = new Date(
        today.getFullYear(),
        today.getMonth(),
        today.getDate(),
        7,
        8,
        9
    ).toISOString()
    assert.equal(localTime(iso, now()), '07:08:09')
    const before = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 3, 23, 0, 1)
    const day = `${before.getFullYear()}-${String(before.getMonth() + 1).padStart(2, '0')}-${String(before.getDate()).padStart(2, '0')}`
    assert.equal(localTime(before.toISOString(), now()), `${day} 23:00:01`)
    const f = eventLineFormatter(false, { now, sessionColumn: false })
    const presence = f.format({
        ts: iso,
        session: 't1',
        type: 'presence',
        from: 'a@s.whatsapp.net',
        presence: 'unavailable',
        lastSeen: iso
    })
    assert.equal(
        presence,
        '07:08:09  presence      a@s.whatsapp.net  unavailable (last seen 07:08:09)'
    )
    const other = f.format({
        ts: iso,
        session: 't1',
        type: 'takeover_notice',
        attemptAt: iso,
        newDeviceName: 'X'
    })
    assert.equal(other, '07:08:09  takeover_notice  attemptAt=07:08:09 newDeviceName=X')
    assert.doesNotMatch(other, /Z\b|T\d\d:/)
})

test('on a terminal a long line wraps at word boundaries under the summary, never past the width', () => {
    for (const width of [80, 120]) {
        const f = eventLineFormatter(false, { now, sessionColumn: false, width: () => width })
        const text = Array.from({ length: 25 }, (_, i) => `word${i}`).join(' ')
        const out = f.format({
            ts: '2026-01-02T03:04:05.678Z',
            session: 't1',
            type: 'message',
            from: '15559990000@s.whatsapp.net',
            pushName: 'Bob',
            text
        })
        const lines = out.split('\n')
        assert.ok(lines.length > 1)
        for (const line of lines) assert.ok(line.length <= width, `${line.length} > ${width}`)
        for (const line of lines.slice(1)) assert.match(line, /^ {24}\S/, 'hanging indent')
        // no word is cut: the words read back in order
        assert.ok(lines.join(' ').replace(/\s+/g, ' ').includes(text))
    }
    // without a width (a file, a pipe) one line a record
    const flat = eventLineFormatter(false, { now }).format({
        ts: '2026-01-02T03:04:05.678Z',
        session: 't1',
        type: 'message',
        text: 'x '.repeat(100)
    })
    assert.equal(flat.split('\n').length, 1)
})
