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

    const waitFor = (event, predicate = () => true, timeoutMs = 45_000) => {
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
    const handle = await startBaileys(t, sandbox, dir, { ...options, scan: true })
    await handle.waitFor('connection.update', update => update.connection === 'open')
    // the JID the sandbox gave this client (other clients may pair on the same sandbox meanwhile)
    const jid = handle.sock().user?.id
    if (!jid) throw new Error('baileys: open without a JID')
    const device = await sandbox.waitForDevice(jid)
    return { ...handle, jid, device }
}

/** Every message Baileys surfaced in `messages.upsert` so far, in a shape tests compare. */
export function upserted(handle) {
    return handle.events
        .filter(entry => entry.event === 'messages.upsert')
        .flatMap(entry => entry.data.messages)
        .map(message => ({
            chat: message.key.remoteJid,
            participant: message.key.participant ?? null,
            fromMe: message.key.fromMe,
            text: message.message?.conversation ?? null,
            protocol: message.message?.protocolMessage?.type ?? null
        }))
}

/**
 * A Baileys auth folder with real Signal state, as a migration test starts from: Baileys pairs
 * against `sandbox`, the phone sends its initial sync, peer `alice` a 1:1 text and peer `bob` a
 * text in `group`; once Baileys surfaced both, it answers alice (so her session has ratcheted on
 * both sides), and stops. The folder then holds `session-<alice>.0.json`,
 * `session-<bob>.0.json`, `session-<phone>.0.json`, `sender-key-<group>@g.us--<bob>--0.json`,
 * the shared app-state key, the prekeys and `creds.json`. Keep `sandbox` running: the peers'
 * next messages continue these sessions (docs/sandbox.md, "Keeping peers' state").
 *
 * Resolves `{jid, phone, alice, bob, group, sync, direct, grouped, reply, messages}`: the device,
 * the peers' JIDs, what the sandbox calls returned, the peer's copy of Baileys's answer and
 * every message Baileys surfaced.
 */
export async function baileysFolderWithMessages(
    t,
    sandbox,
    dir,
    { alice = '15550001111', bob = '15550002222', group = '120363000000000001' } = {}
) {
    const baileys = await pairBaileys(t, sandbox, dir)
    const phone = baileys.jid.split(':')[0]
    const aliceJid = `${alice}@s.whatsapp.net`
    const bobJid = `${bob}@s.whatsapp.net`
    const groupJid = `${group}@g.us`
    // without the phone's initial sync Baileys 6.x surfaces no message on a fresh pairing
    const sync = await sandbox.sendInitialSync({ to: baileys.jid })
    const direct = await sandbox.sendMessage({
        to: baileys.jid,
        from: alice,
        text: 'hello baileys'
    })
    const grouped = await sandbox.sendGroupMessage({
        to: baileys.jid,
        group,
        from: bob,
        text: 'hello group'
    })
    for (const text of ['hello baileys', 'hello group']) {
        await baileys.waitFor('messages.upsert', ({ messages }) =>
            messages.some(m => m.message?.conversation === text)
        )
    }
    const atAlice = sandbox.waitFor('peer-message', m => m.peer === aliceJid)
    await baileys.sock().sendMessage(aliceJid, { text: 'reply from baileys' })
    const reply = await atAlice
    await baileys.stop()
    return {
        jid: baileys.jid,
        phone,
        alice: aliceJid,
        bob: bobJid,
        group: groupJid,
        sync,
        direct,
        grouped,
        reply,
        messages: upserted(baileys)
    }
}
