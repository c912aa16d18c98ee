/**
 * Shared helpers of the sandbox tests: a real SQLite store per test directory (through
 * @zapo-js/store-sqlite's CommonJS build, the ESM build does not link against zapo-js 0.3),
 * clients built by the CLI's own createWaClient, and event waiting with timeouts.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createStore } from 'zapo-js'

import { createWaClient } from '../../dist/client/create-client.js'
import { SILENT_LOGGER } from '../../dist/client/silent-logger.js'
import { startSandbox } from '../../dist/sandbox/index.js'

const require = createRequire(import.meta.url)
const { createSqliteStore } = require('@zapo-js/store-sqlite')

export function tempDir(t) {
    const dir = mkdtempSync(join(tmpdir(), 'zapo-sandbox-test-'))
    t.after(() => rmSync(dir, { recursive: true, force: true }))
    return dir
}

/** A zapo-js store whose durable domains live in a SQLite file (caches and contacts in memory). */
export function openSqliteStore(path) {
    return createStore({
        backends: { sqlite: createSqliteStore({ path }) },
        providers: {
            auth: 'sqlite',
            signal: 'sqlite',
            preKey: 'sqlite',
            session: 'sqlite',
            identity: 'sqlite',
            senderKey: 'sqlite',
            appState: 'sqlite',
            privacyToken: 'sqlite',
            messages: 'none',
            threads: 'none',
            contacts: 'memory'
        },
        cacheProviders: {
            retry: 'memory',
            participants: 'memory',
            deviceList: 'memory',
            messageSecret: 'memory'
        }
    })
}

const cleanupsBySandbox = new WeakMap()

/** A sandbox closed after the test, once every client made with `newClient` has disconnected. */
export async function startTestSandbox(t, options = {}) {
    const sandbox = await startSandbox({ logger: testLogger('sandbox'), ...options })
    const cleanups = []
    cleanupsBySandbox.set(sandbox, cleanups)
    t.after(async () => {
        await Promise.all(cleanups.map(cleanup => cleanup()))
        await sandbox.close()
    })
    return sandbox
}

/** SANDBOX_TEST_LOG=1 prints client and server logs to stderr (debugging a failing test). */
export function testLogger(prefix) {
    if (!process.env.SANDBOX_TEST_LOG) return SILENT_LOGGER
    const line = level => (message, context) =>
        process.stderr.write(
            `${prefix} ${level} ${message} ${context ? JSON.stringify(context) : ''}\n`
        )
    return {
        level: 'debug',
        trace() {},
        debug: line('debug'),
        info: line('info'),
        warn: line('warn'),
        error: line('error')
    }
}

/** A client on a SQLite store, cleaned up (disconnect + store destroy) when the test ends. */
export function newClient(t, sandbox, { path, sessionId = 'tenant', tuning } = {}) {
    const store = openSqliteStore(path)
    const client = createWaClient({
        store,
        sessionId,
        server: { url: sandbox.url, rootCa: sandbox.rootCa },
        logger: testLogger('client'),
        // zapo-js 0.3 closes its socket twice on a stream error and the first close waits for a
        // callback that never comes: keep that wait short so test processes exit promptly.
        tuning: { timeoutIntervalMs: 1_000, ...(tuning ?? {}) }
    })
    let cleaned = false
    const cleanup = async () => {
        if (cleaned) return
        cleaned = true
        await client.disconnect().catch(() => undefined)
        await store.destroy().catch(() => undefined)
    }
    t.after(cleanup)
    cleanupsBySandbox.get(sandbox)?.push(cleanup)
    return { client, store, cleanup }
}

/** Resolves with the next `name` event that matches `predicate`. */
export function nextEvent(emitter, name, predicate = () => true, timeoutMs = 15_000) {
    return new Promise((resolve, reject) => {
        const listener = event => {
            if (!predicate(event)) return
            clearTimeout(timer)
            emitter.off(name, listener)
            resolve(event)
        }
        const timer = setTimeout(() => {
            emitter.off(name, listener)
            reject(new Error(`timed out waiting for ${name}`))
        }, timeoutMs)
        emitter.on(name, listener)
    })
}

/** Connects a fresh client and pairs it by scanning its first QR; resolves once it is ready. */
export async function pairWithQr(t, sandbox, options) {
    const handle = newClient(t, sandbox, options)
    handle.client.once('auth_qr', ({ qr }) => {
        sandbox.scan(qr).catch(() => undefined)
    })
    const paired = nextEvent(handle.client, 'auth_paired')
    await handle.client.connect()
    const { credentials } = await paired
    const device = await sandbox.waitForDevice(credentials.meJid)
    return { ...handle, jid: credentials.meJid, device }
}

/**
 * A request to the sandbox's control API the way a program sends it: GET without `body`, else
 * POST with a JSON body and `Content-Type: application/json`. Resolves `{ status, body }`.
 */
export async function controlRequest(controlUrl, path, body) {
    const init =
        body === undefined
            ? {}
            : {
                  method: 'POST',
                  headers: { 'content-type': 'application/json' },
                  body: JSON.stringify(body)
              }
    const response = await fetch(controlUrl + path, init)
    return { status: response.status, body: await response.json() }
}

/** `controlRequest` that resolves the answer and rejects on an error status. */
export async function controlPost(controlUrl, path, body) {
    const { status, body: answer } = await controlRequest(controlUrl, path, body)
    if (status !== 200) throw new Error(`${path}: ${status} ${answer.error}`)
    return answer
}
