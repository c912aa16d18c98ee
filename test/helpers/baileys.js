/**
 * A real Baileys 6.x client (the `baileys` devDependency) against a running sandbox: its own
 * multi-file auth folder (`useMultiFileAuthState(dir)`), its socket on the sandbox's `url`
 * (`waWebSocketUrl`), pairing by QR with the scan sent through the sandbox's control API, and a
 * clean stop that waits for every auth file Baileys is still writing.
 *
 *     const baileys = await pairBaileys(t, sandbox, dir)   // paired, logged in, connection open
 *     await baileys.waitFor('messages.upsert', ({ messages }) => ...)
 *     await baileys.stop()                                  // the folder is final from here on
 *
 * Baileys does not reconnect by itself: after the 515 that ends a pairing the helper opens a new
 * socket on the same auth state, as Baileys's own example does. libsignal (Baileys's Signal
 * library) writes "Closing session: …" and the like to the console; while a Baileys client of
 * this helper runs, those lines are dropped (everything else still goes through).
 */
import { createRequire } from 'node:module'

import { controlPost } from '../sandbox/helpers.js'

const require = createRequire(import.meta.url)

const SIGNAL_NOISE = [
    'Closing session',
    'Opening session',
    'Closing open session',
    'Removing old closed session',
    'Migrating session',
    'Session already',
    'Decrypted message with closed session'
]
let quietUsers = 0
let loudConsole = null

function quietLibsignal() {
    quietUsers += 1
    if (quietUsers > 1) return
    loudConsole = { info: console.info, warn: console.warn, log: console.log }
    for (const name of ['info', 'warn', 'log']) {
        const original = loudConsole[name]
        console[name] = (...args) => {
            const first = typeof args[0] === 'string' ? args[0] : ''
            if (SIGNAL_NOISE.some(prefix => first.startsWith(prefix))) return
            original.apply(console, args)
        }
    }
}

function loudAgain() {
    quietUsers -= 1
    if (quietUsers > 0 || !loudConsole) return
    Object.assign(console, loudConsole)
    loudConsole = null
}

/** Baileys's pino logger: silent unless BAILEYS_TEST_LOG=1 (then its logs go to stderr). */
function baileysLogger() {
    const pino = require('pino')
    if (!process.env.BAILEYS_TEST_LOG) return pino({ level: 'silent' })
    return pino({ level: process.env.BAILEYS_TEST_LOG_LEVEL ?? 'info' }, pino.destination(2))
}

/**
 * Starts a Baileys client on auth folder `dir` against `sandbox`. Resolves a handle:
 * `{ sock(), dir, events, waitFor(event, predicate?, timeoutMs?), stop() }`. `events` is the list
 * of every `{event, data}` Baileys emitted so far (sockets after a restart included). With
 * `scan: true`, each QR is scanned through the sandbox's control API (`POST /scan`).
 */
export async function startBaileys(t, sandbox, dir, { scan = false, phone } = {}) {
    const baileys = require('baileys')
    const makeWASocket = baileys.default
    const { state, saveCreds } = await baileys.useMultiFileAuthState(dir)
    quietLibsignal()

    // every write to the folder, so stop() can wait for the last one
    const writes = new Set()
    const track = promise => {
        writes.add(promise)
        promise.finally(() => writes.delete(promise)).catch(() => undefined)
        return promise
    }
    const keys = {
        get: (type, ids) => state.keys.get(type, ids),
        set: data => track(state.keys.set(data))
    }

    const events = []
    const listeners = new Set()
    const record = (event, data) => {
        events.push({ event, data })
        for (const listener of [...listeners]) listener(event, data)
    }

    let sock = null
    let stopped = false
    let isOpen = false
    const logger = baileysLogger()
    const open = () => {
        const current = makeWASocket({
            auth: { creds: state.creds, keys },
            waWebSocketUrl: sandbox.url,
            logger,
            printQRInTerminal: false,
            markOnlineOnConnect: false,
            // keep the socket's own retries out of the way of what a test measures
            connectTimeoutMs: 20_000,
            defaultQueryTimeoutMs: 20_000
        })
        sock = current
        current.ev.on('creds.update', () => void track(saveCreds()))
        for (const event of ['messages.upsert', 'messaging-history.set', 'messages.update']) {
            current.ev.on(event, data => record(event, data))
        }
        current.ev.on('connection.update', update => {
            record('connection.update', update)
            if (current === sock && update.connection) isOpen = update.connection === 'open'
            if (update.qr && scan) {
                const body = phone ? { qr: update.qr, phone } : { qr: update.qr }
                controlPost(sandbox.controlUrl, '/scan', body).catch(error =>
                    record('scan-error', error)
                )
            }
            if (update.connection === 'close' && current === sock && !stopped) {
                const code = update.lastDisconnect?.error?.output?.statusCode
                // 515: restart required (after pairing); Baileys leaves reconnecting to the app
                if (code === 515) open()
            }
        })
    }
    open()

    const waitFor = (event, predicate = () => true, timeoutMs = 20_000) => {
        const seen = events.find(entry => entry.event === event && predicate(entry.data))
        if (seen) return Promise.resolve(seen.data)
        return new Promise((resolve, reject) => {
            const listener = (name, data) => {
                if (name !== event || !predicate(data)) return
                clearTimeout(timer)
                listeners.delete(listener)
                resolve(data)
            }
            const timer = setTimeout(() => {
                listeners.delete(listener)
                reject(new Error(`baileys: timed out waiting for ${event}`))
            }, timeoutMs)
            listeners.add(listener)
        })
    }

    const stop = async () => {
        if (stopped) return
        stopped = true
        const current = sock
        if (current && isOpen) {
            // Baileys drops its pending queries when it ends but leaves their 20 s timers running
            // (the init queries it fires at open): one round trip first, the sandbox answers a
            // connection's queries in order, so every earlier one is answered by then.
            await current.fetchPrivacySettings(true).catch(() => undefined)
        }
        if (current) {
            const closed = new Promise(resolve => {
                current.ev.on('connection.update', update => {
                    if (update.connection === 'close') resolve()
                })
                setTimeout(resolve, 3_000).unref()
            })
            current.end(undefined)
            await closed
        }
        // Baileys writes creds and keys without awaiting all of them; wait until none is left
        while (writes.size > 0) await Promise.allSettled([...writes])
        loudAgain()
    }
    t.after(stop)

    return { sock: () => sock, dir, events, waitFor, stop }
}

/**
 * A Baileys client paired against `sandbox` (QR scanned through the control API), logged in
 * again after the 515 and open. Resolves the `startBaileys` handle plus `jid`, the device JID.
 */
export async function pairBaileys(t, sandbox, dir, options = {}) {
    const pairing = sandbox.waitFor('paired', () => true, 20_000)
    const handle = await startBaileys(t, sandbox, dir, { ...options, scan: true })
    const paired = await pairing
    await handle.waitFor('connection.update', update => update.connection === 'open')
    const device = await sandbox.waitForDevice(paired.jid)
    return { ...handle, jid: paired.jid, device }
}
