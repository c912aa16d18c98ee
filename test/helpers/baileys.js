/**
 * Baileys auth folders written by the real library: Baileys's own `useMultiFileAuthState`,
 * `initAuthCreds`, `getNextPreKeys` and its libsignal repository (`makeLibSignalRepository`),
 * against peers that run libsignal-node (the Signal library Baileys itself uses) in memory.
 * Every Signal session, sender key and prekey file is one Baileys wrote while running the
 * protocol; only the account fields a pairing would fill (`me`, `account`) are set here, with a
 * real ADV signature (fixtures.js `makeSignedIdentity`).
 *
 *   const account = await makeBaileysFolder(dir, { peers: 2 })
 *   account.peers[0].encrypt('hi')       → { type, ciphertext } for the account
 *   account.peers[0].groupEncrypt('hi')  → group ciphertext (sender key message)
 *   account.peers[0].decrypt(envelope)   → what the account sent it
 */

import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { SenderKeyManager, SignalProtocol } from 'zapo-js/signal'
import { makeSignedIdentity } from './fixtures.js'

const require = createRequire(import.meta.url)
const baileys = require('baileys')
const { makeLibSignalRepository } = require('baileys/lib/Signal/libsignal')
const { generateOrGetPreKeys } = require('baileys/lib/Utils/signal')
const group = require('baileys/WASignalGroup')
const libsignal = require('libsignal')

export const GROUP_ID = '120363000000000001@g.us'

/** libsignal-node prints "Closing session" and friends to the console: not in test output. */
function quietly(fn) {
    const saved = { info: console.info, warn: console.warn, log: console.log }
    console.info = console.warn = console.log = () => undefined
    return Promise.resolve()
        .then(fn)
        .finally(() => Object.assign(console, saved))
}

const pub33 = raw => Buffer.concat([Buffer.from([5]), Buffer.from(raw)])

/** A libsignal-node party in memory (the peer's own device). */
function makePeer(user, device = 0) {
    const identity = libsignal.curve.generateKeyPair()
    const registrationId = libsignal.keyhelper.generateRegistrationId()
    const signed = libsignal.keyhelper.generateSignedPreKey(identity, 1)
    const sessions = new Map()
    const senderKeys = new Map()
    const storage = {
        getOurIdentity: () => identity,
        getOurRegistrationId: () => registrationId,
        isTrustedIdentity: () => true,
        loadSession: async id => sessions.get(id),
        storeSession: async (id, record) => sessions.set(id, record),
        loadPreKey: async () => undefined,
        removePreKey: async () => undefined,
        loadSignedPreKey: async () => signed.keyPair,
        loadSenderKey: async id => senderKeys.get(id) ?? new group.SenderKeyRecord(),
        storeSenderKey: async (id, record) => senderKeys.set(id, record)
    }
    const jid = device === 0 ? `${user}@s.whatsapp.net` : `${user}:${device}@s.whatsapp.net`
    const address = new libsignal.ProtocolAddress(user, device)
    const senderName = new group.SenderKeyName(GROUP_ID, address).toString()
    return { user, device, jid, identity, registrationId, signed, storage, address, senderName }
}

/**
 * Writes a Baileys folder at `dir` (it must not exist or be empty) for a paired account with
 * `peers` peers that opened Signal sessions to it (one skipped message key each), one peer it
 * opened a session to itself (pending prekey), a group with a sender key from every peer and
 * its own, app-state sync keys and a collection version.
 */
export async function makeBaileysFolder(dir, { peers: peerCount = 2, phone = '15550001111' } = {}) {
    const { state, saveCreds } = await baileys.useMultiFileAuthState(dir)
    const creds = state.creds
    const device = 7
    const meJid = `${phone}:${device}@s.whatsapp.net`
    const adv = await makeSignedIdentity({
        pubKey: new Uint8Array(creds.signedIdentityKey.public),
        privKey: new Uint8Array(creds.signedIdentityKey.private)
    })
    creds.me = { id: meJid, lid: `987650001111:${device}@lid`, name: 'Tenant 42' }
    creds.account = {
        details: Buffer.from(adv.signedIdentity.details),
        accountSignatureKey: Buffer.from(adv.signedIdentity.accountSignatureKey),
        accountSignature: Buffer.from(adv.signedIdentity.accountSignature),
        deviceSignature: Buffer.from(adv.signedIdentity.deviceSignature)
    }
    creds.registered = true
    creds.platform = 'android'
    creds.routingInfo = randomBytes(12)

    // 30 prekeys generated and "uploaded" the way Baileys does before its upload, then 5 more
    const { update } = await baileys.getNextPreKeys(state, 30)
    Object.assign(creds, update)
    const more = generateOrGetPreKeys(creds, 5)
    await state.keys.set({ 'pre-key': more.newPreKeys })
    creds.nextPreKeyId = Math.max(creds.nextPreKeyId, more.lastPreKeyId + 1)

    const repo = makeLibSignalRepository(state)
    const bundle = keyId => {
        const preKey = JSON.parse(readFileSync(join(dir, `pre-key-${keyId}.json`), 'utf8'))
        return {
            identityKey: pub33(creds.signedIdentityKey.public),
            registrationId: creds.registrationId,
            signedPreKey: {
                keyId: creds.signedPreKey.keyId,
                publicKey: pub33(creds.signedPreKey.keyPair.public),
                signature: Buffer.from(creds.signedPreKey.signature)
            },
            preKey: {
                keyId,
                publicKey: pub33(Buffer.from(preKey.public.data, 'base64'))
            }
        }
    }
    const me = new libsignal.ProtocolAddress(phone, device)
    const peers = []
    let quietPeer = null
    await quietly(async () => {
        for (let i = 0; i < peerCount; i++) {
            const peer = makePeer(`1555200${String(i).padStart(4, '0')}`, i % 2)
            await new libsignal.SessionBuilder(peer.storage, me).initOutgoing(bundle(i + 1))
            const cipher = () => new libsignal.SessionCipher(peer.storage, me)
            const first = await cipher().encrypt(Buffer.from(`hello ${i}`))
            await repo.decryptMessage({
                jid: peer.jid,
                type: 'pkmsg',
                ciphertext: Buffer.from(first.body, 'binary')
            })
            // the account answers: the peer's next messages are on a new ratchet step
            const reply = await repo.encryptMessage({ jid: peer.jid, data: Buffer.from('ack') })
            await cipher().decryptWhisperMessage(reply.ciphertext)
            const skipped = await cipher().encrypt(Buffer.from(`skipped ${i}`))
            const seen = await cipher().encrypt(Buffer.from(`seen ${i}`))
            await repo.decryptMessage({
                jid: peer.jid,
                type: 'msg',
                ciphertext: Buffer.from(seen.body, 'binary')
            })
            // the group: the peer's sender key reaches the account, one message decrypts
            const skdm = await new group.GroupSessionBuilder(peer.storage).create(peer.senderName)
            await repo.processSenderKeyDistributionMessage({
                item: {
                    groupId: GROUP_ID,
                    axolotlSenderKeyDistributionMessage: skdm.serialize()
                },
                authorJid: peer.jid
            })
            const groupCipher = new group.GroupCipher(peer.storage, peer.senderName)
            await repo.decryptGroupMessage({
                group: GROUP_ID,
                authorJid: peer.jid,
                msg: await groupCipher.encrypt(Buffer.from(`group hello ${i}`))
            })
            peers.push({
                ...peer,
                skipped: { type: 'msg', ciphertext: Buffer.from(skipped.body, 'binary') },
                encrypt: async text => {
                    const out = await quietly(() => cipher().encrypt(Buffer.from(text)))
                    return {
                        type: out.type === 3 ? 'pkmsg' : 'msg',
                        ciphertext: Buffer.from(out.body, 'binary')
                    }
                },
                groupEncrypt: async text =>
                    quietly(() =>
                        new group.GroupCipher(peer.storage, peer.senderName).encrypt(
                            Buffer.from(text)
                        )
                    ),
                decrypt: async ({ type, ciphertext }) =>
                    quietly(() =>
                        type === 'pkmsg'
                            ? cipher().decryptPreKeyWhisperMessage(Buffer.from(ciphertext))
                            : cipher().decryptWhisperMessage(Buffer.from(ciphertext))
                    )
            })
        }
        // the account opens a session to a peer that never answered: a pending prekey
        const quiet = makePeer('15553000000')
        const quietPreKey = libsignal.keyhelper.generatePreKey(42)
        quiet.storage.loadPreKey = async id => (id === 42 ? quietPreKey.keyPair : undefined)
        await repo.injectE2ESession({
            jid: quiet.jid,
            session: {
                registrationId: quiet.registrationId,
                identityKey: quiet.identity.pubKey,
                signedPreKey: {
                    keyId: quiet.signed.keyId,
                    publicKey: quiet.signed.keyPair.pubKey,
                    signature: quiet.signed.signature
                },
                preKey: { keyId: 42, publicKey: quietPreKey.keyPair.pubKey }
            }
        })
        quietPeer = {
            ...quiet,
            decrypt: async ({ type, ciphertext }) =>
                quietly(() => {
                    const c = new libsignal.SessionCipher(quiet.storage, me)
                    return type === 'pkmsg'
                        ? c.decryptPreKeyWhisperMessage(Buffer.from(ciphertext))
                        : c.decryptWhisperMessage(Buffer.from(ciphertext))
                })
        }
        // the account's own sender key in the group, and who it was sent to
        await repo.encryptGroupMessage({ group: GROUP_ID, meId: meJid, data: Buffer.from('hi') })
        await state.keys.set({
            'sender-key-memory': {
                [GROUP_ID]: Object.fromEntries(peers.map(p => [p.jid, true]))
            }
        })
    })

    // app state, the way Baileys stores a key share and a synced collection
    // a key id as WhatsApp issues them: two zero bytes, then the key epoch (small)
    const keyId = Buffer.from([0, 0, 0, 0, 0, 1 + (randomBytes(1)[0] % 200)])
    await state.keys.set({
        'app-state-sync-key': {
            [keyId.toString('base64')]: baileys.proto.Message.AppStateSyncKeyData.fromObject({
                keyData: randomBytes(32),
                fingerprint: { rawId: 7, currentIndex: 1, deviceIndexes: [0, 1] },
                timestamp: Date.now()
            })
        },
        'app-state-sync-version': {
            regular_high: {
                version: 5,
                hash: randomBytes(128),
                indexValueMap: {
                    [randomBytes(32).toString('base64')]: { valueMac: randomBytes(32) }
                }
            }
        }
    })
    await saveCreds()
    return { dir, meJid, phone, device, creds, peers, quietPeer, keyId }
}

/** Every file of a folder tree with its bytes' hash, mode and mtime: equal means untouched. */
export function folderFingerprint(dir) {
    const out = {}
    const walk = sub => {
        for (const name of readdirSync(join(dir, sub)).sort()) {
            const rel = sub ? join(sub, name) : name
            const st = statSync(join(dir, rel))
            if (st.isDirectory()) {
                out[`${rel}/`] = `${st.mode}`
                walk(rel)
            } else {
                const hash = createHash('sha256')
                    .update(readFileSync(join(dir, rel)))
                    .digest('hex')
                out[rel] = `${hash} ${st.mode} ${st.mtimeMs}`
            }
        }
    }
    walk('')
    return out
}

const text = bytes => Buffer.from(bytes).toString('utf8')

/**
 * Proves that the zapo store session `sessionId` (in the opened `store`) carries on the Signal
 * state of `account` (a folder from `makeBaileysFolder`): zapo-js decrypts each peer's skipped
 * and next message and its next group message, the peer decrypts zapo-js's reply, and the
 * peer the account opened a session to decrypts zapo-js's first (prekey) message.
 */
export async function converse(store, sessionId, account) {
    const signal = new SignalProtocol({
        signal: store.domain('signal', sessionId),
        preKey: store.domain('preKey', sessionId),
        session: store.domain('session', sessionId),
        identity: store.domain('identity', sessionId)
    })
    const senderKeys = new SenderKeyManager(store.domain('senderKey', sessionId))
    for (const [i, peer] of account.peers.entries()) {
        const address = { user: peer.user, server: 's.whatsapp.net', device: peer.device }
        // a message the account skipped: libsignal-node kept its key as a seed
        assert.equal(text(await signal.decryptMessage(address, peer.skipped)), `skipped ${i}`)
        const next = await peer.encrypt(`after the move ${i}`)
        assert.equal(text(await signal.decryptMessage(address, next)), `after the move ${i}`)
        const reply = await signal.encryptMessage(address, Buffer.from(`zapo ${i}`))
        assert.equal(reply.type, 'msg')
        assert.equal(text(await peer.decrypt(reply)), `zapo ${i}`)
        const groupMessage = await senderKeys.decryptGroupMessage({
            groupId: GROUP_ID,
            sender: address,
            ciphertext: await peer.groupEncrypt(`group ${i}`)
        })
        assert.equal(text(groupMessage), `group ${i}`)
    }
    const quiet = account.quietPeer
    const out = await signal.encryptMessage(
        { user: quiet.user, server: 's.whatsapp.net', device: 0 },
        Buffer.from('first words')
    )
    assert.equal(out.type, 'pkmsg')
    assert.equal(text(await quiet.decrypt(out)), 'first words')
}
