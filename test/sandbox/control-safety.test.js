// The control API serves programs on this machine, never a web page: real HTTP requests, as a
// browser (Origin, text/plain bodies, a DNS-rebound Host) and as curl or a test would send them.
import assert from 'node:assert/strict'
import { request } from 'node:http'
import { test } from 'node:test'

import { startSandbox } from '../../dist/sandbox/index.js'

/** One request with exactly the headers given (node:http sends no Origin, no Content-Type). */
function raw(controlUrl, { method = 'GET', path = '/', headers = {}, body } = {}) {
    const url = new URL(controlUrl)
    return new Promise((resolve, reject) => {
        const req = request(
            { host: url.hostname, port: url.port, method, path, headers, setHost: false },
            res => {
                let text = ''
                res.setEncoding('utf8').on('data', chunk => (text += chunk))
                res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text }))
            }
        )
        req.on('error', reject)
        req.end(body)
    })
}

function host(sandbox) {
    return new URL(sandbox.controlUrl).host
}

/** The answer is one JSON document `{"error": "..."}`. */
function assertJsonError(response, status, pattern) {
    assert.equal(response.status, status, response.text)
    assert.match(response.headers['content-type'], /^application\/json/)
    const doc = JSON.parse(response.text)
    assert.deepEqual(Object.keys(doc), ['error'])
    assert.match(doc.error, pattern)
}

async function sandboxFor(t) {
    const sandbox = await startSandbox()
    t.after(() => sandbox.close())
    return sandbox
}

test('a body that is not declared application/json is refused (415) before it is acted on', async t => {
    const sandbox = await sandboxFor(t)
    const body = JSON.stringify({ to: '15550000000', from: '15550000001', text: 'hi' })
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', undefined]) {
        const response = await raw(sandbox.controlUrl, {
            method: 'POST',
            path: '/message',
            headers: {
                host: host(sandbox),
                'content-length': Buffer.byteLength(body),
                ...(type ? { 'content-type': type } : {})
            },
            body
        })
        // with JSON the sandbox would try and answer 409 (no such device)
        assertJsonError(response, 415, /Content-Type: application\/json/)
    }
    const json = await raw(sandbox.controlUrl, {
        method: 'POST',
        path: '/message',
        headers: {
            host: host(sandbox),
            'content-type': 'application/json; charset=utf-8',
            'content-length': Buffer.byteLength(body)
        },
        body
    })
    assertJsonError(json, 409, /no paired device matches 15550000000/)
})

test('a request from a web page (any Origin header) is refused with 403', async t => {
    const sandbox = await sandboxFor(t)
    for (const origin of ['https://evil.example', 'null', sandbox.controlUrl]) {
        const read = await raw(sandbox.controlUrl, {
            path: '/devices',
            headers: { host: host(sandbox), origin }
        })
        assertJsonError(read, 403, /Origin/)
        const body = '{}'
        const write = await raw(sandbox.controlUrl, {
            method: 'POST',
            path: '/refuse-next-scan',
            headers: {
                host: host(sandbox),
                origin,
                'content-type': 'application/json',
                'content-length': body.length
            },
            body
        })
        assertJsonError(write, 403, /Origin/)
    }
})

test('a Host other than the loopback address and port it listens on is refused with 403', async t => {
    const sandbox = await sandboxFor(t)
    const port = new URL(sandbox.controlUrl).port
    for (const value of [`evil.example:${port}`, '127.0.0.1:1', `127.0.0.2:${port}`, undefined]) {
        const response = await raw(sandbox.controlUrl, {
            path: '/devices',
            headers: value === undefined ? {} : { host: value }
        })
        assertJsonError(response, 403, new RegExp(`Host must be 127\\.0\\.0\\.1:${port}`))
    }
    for (const value of [`127.0.0.1:${port}`, `localhost:${port}`]) {
        const response = await raw(sandbox.controlUrl, {
            path: '/devices',
            headers: { host: value }
        })
        assert.equal(response.status, 200, response.text)
        assert.deepEqual(JSON.parse(response.text), { devices: [] })
    }
})

test('an unknown path is 404 whatever the method; a known one with the wrong method is 405', async t => {
    const sandbox = await sandboxFor(t)
    const headers = { host: host(sandbox) }
    assertJsonError(await raw(sandbox.controlUrl, { path: '/nope', headers }), 404, /\/nope/)
    assertJsonError(
        await raw(sandbox.controlUrl, { method: 'POST', path: '/nope', headers }),
        404,
        /\/nope/
    )
    const getScan = await raw(sandbox.controlUrl, { path: '/scan', headers })
    assertJsonError(getScan, 405, /use POST \/scan/)
    assert.equal(getScan.headers.allow, 'POST')
    const postDevices = await raw(sandbox.controlUrl, { method: 'POST', path: '/devices', headers })
    assertJsonError(postDevices, 405, /use GET \/devices/)
    assert.equal(postDevices.headers.allow, 'GET')
    const deleteIndex = await raw(sandbox.controlUrl, { method: 'DELETE', path: '/', headers })
    assertJsonError(deleteIndex, 405, /use GET \//)
})

test('what programs send is served: fetch with a JSON body, and a POST without a body', async t => {
    const sandbox = await sandboxFor(t)
    const index = await (await fetch(`${sandbox.controlUrl}/`)).json()
    assert.ok(index.endpoints.includes('POST /scan'))
    assert.ok(index.endpoints.includes('GET /messages?peer='))
    const empty = await raw(sandbox.controlUrl, {
        method: 'POST',
        path: '/refuse-next-scan',
        headers: { host: host(sandbox) }
    })
    assert.equal(empty.status, 200, empty.text)
    assert.deepEqual(JSON.parse(empty.text), { ok: true })
    const response = await fetch(`${sandbox.controlUrl}/refuse-next-login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ device: '15550000000', kind: 'banned' })
    })
    assert.equal(response.status, 200)
    assert.deepEqual(await response.json(), { ok: true })
})
