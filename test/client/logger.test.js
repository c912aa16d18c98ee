import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { test } from 'node:test'

import { parseLogLevel } from '../../dist/client/logger.js'
import { createClientLogger } from '../../dist/ui/client-logger.js'

function sink() {
    const chunks = []
    const stream = new Writable({
        write(chunk, _enc, done) {
            chunks.push(String(chunk))
            done()
        }
    })
    return { stream, text: () => chunks.join('') }
}

test('JSON lines: level filter, session binding, bytes as base64, secrets redacted at any depth', () => {
    const out = sink()
    const logger = createClientLogger({
        level: 'warn',
        json: true,
        color: false,
        stream: out.stream
    }).child({ session: 't1' })
    assert.equal(logger.level, 'warn')
    logger.info('not shown', { a: 1 })
    logger.warn('noise keys', {
        noiseKey: { privKey: new Uint8Array([1, 2]), pubKey: new Uint8Array([3, 4]) },
        advSecretKey: 'abc',
        nested: [{ privateKey: 'x' }]
    })
    const lines = out.text().trim().split('\n')
    assert.equal(lines.length, 1)
    const line = JSON.parse(lines[0])
    assert.equal(line.level, 'warn')
    assert.equal(line.msg, 'noise keys')
    assert.equal(line.session, 't1')
    assert.deepEqual(line.noiseKey, { privKey: '[redacted]', pubKey: 'AwQ=' })
    assert.equal(line.advSecretKey, '[redacted]')
    assert.deepEqual(line.nested, [{ privateKey: '[redacted]' }])
    assert.ok(!out.text().includes('AQI='), 'the private key bytes never appear')
})

test("lines for people are in zapo's line format (time, session, level, message, key=value), redacted the same way", () => {
    const out = sink()
    const logger = createClientLogger({
        level: 'debug',
        json: false,
        color: false,
        stream: out.stream,
        sessionWidth: () => 4
    })
    logger.debug('socket open start', { url: 'ws://x', privKey: new Uint8Array([7]) })
    logger.child({ session: 't1' }).warn('received stream:error with code', { code: 515 })
    const lines = out.text().split('\n')
    assert.equal(lines.length, 3, out.text())
    assert.equal(lines[2], '', 'every line ends with a newline')
    assert.match(
        lines[0],
        /^\d\d:\d\d:\d\d {2}debug {9}socket open start {2}url=ws:\/\/x privKey=\[redacted\]$/
    )
    assert.match(
        lines[1],
        /^\d\d:\d\d:\d\d {2}t1 {4}warn {10}received stream:error with code {2}code=515$/
    )
    assert.ok(!out.text().includes('Bw=='))
    assert.doesNotMatch(out.text(), /WARN|DEBUG|\[\d\d:/, "not pino-pretty's own format")

    const single = sink()
    createClientLogger({
        level: 'warn',
        json: false,
        color: false,
        stream: single.stream,
        sessionColumn: false
    })
        .child({ session: 't1' })
        .warn('one session', {})
    assert.match(single.text(), /^\d\d:\d\d:\d\d {2}warn {10}one session\n$/)
})

test('silent logs nothing; bad levels are usage errors', () => {
    const out = sink()
    const logger = createClientLogger({
        level: 'silent',
        json: true,
        color: false,
        stream: out.stream
    })
    logger.error('x')
    assert.equal(out.text(), '')
    assert.equal(parseLogLevel('INFO'), 'info')
    assert.throws(
        () => parseLogLevel('loud'),
        e => e.code === 'USAGE'
    )
})
