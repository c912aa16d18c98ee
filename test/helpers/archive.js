/**
 * Archive records (messages, threads, contacts) for a test session, written through the
 * zapo-js store contracts (`WaMessageStore.upsertBatch`, `WaThreadStore.upsertBatch`,
 * `WaContactStore.upsertBatch`) of an `OpenedStore`. Message bodies are real encoded
 * `proto.Message`s. Separate from fixtures.js, which other tests rely on unchanged.
 */

import { randomBytes } from 'node:crypto'
import { proto } from 'zapo-js'

export const DEFAULT_ARCHIVE_SHAPE = Object.freeze({ messages: 40, threads: 6, contacts: 8 })

function digits(n) {
    let out = ''
    while (out.length < n) out += String(randomBytes(4).readUInt32BE(0))
    return out.slice(0, n)
}

/**
 * Writes threads, contacts and messages for `sessionId`; returns the keys written:
 * `{ sessionId, messageIds, threadJids, contactJids, counts }`.
 */
export async function makeArchive(store, sessionId, shape = {}) {
    const s = { ...DEFAULT_ARCHIVE_SHAPE, ...shape }
    const base = 1_700_000_000_000
    const threads = []
    for (let i = 0; i < s.threads; i += 1) {
        const group = i % 3 === 2
        threads.push({
            jid: group ? `1203630${digits(11)}@g.us` : `1555${digits(7)}@s.whatsapp.net`,
            name: group ? `group ${i}` : undefined,
            unreadCount: i,
            archived: i % 2 === 0,
            pinned: i === 0 ? 1_700_000_000 : undefined,
            muteEndMs: i === 1 ? base + 86_400_000 : undefined,
            markedAsUnread: i % 4 === 1,
            ephemeralExpiration: i % 3 === 0 ? 604_800 : undefined
        })
    }
    const contacts = []
    for (let i = 0; i < s.contacts; i += 1) {
        const phone = `1555${digits(7)}`
        contacts.push({
            jid: i % 2 === 0 ? `${phone}@s.whatsapp.net` : `${digits(15)}@lid`,
            displayName: i % 3 === 0 ? undefined : `Contact ${i}`,
            pushName: `push ${i} ✓`,
            lid: i % 2 === 0 ? `${digits(15)}@lid` : undefined,
            phoneNumber: i % 2 === 1 ? `${phone}@s.whatsapp.net` : undefined,
            lastUpdatedMs: base + i * 1_000
        })
    }
    const messages = []
    for (let i = 0; i < s.messages; i += 1) {
        const thread =
            threads[i % Math.max(1, threads.length)]?.jid ?? `1555${digits(7)}@s.whatsapp.net`
        const fromMe = i % 3 === 0
        const group = thread.endsWith('@g.us')
        const body = proto.Message.encode({ conversation: `message ${i} in ${thread}` }).finish()
        messages.push({
            id: `3EB0${randomBytes(8).toString('hex').toUpperCase()}`,
            threadJid: thread,
            senderJid: fromMe ? undefined : group ? `1555${digits(7)}@s.whatsapp.net` : thread,
            participantJid: group && !fromMe ? `${digits(15)}@lid` : undefined,
            fromMe,
            timestampMs: base + i * 60_000,
            messageBytes: i % 5 === 4 ? undefined : new Uint8Array(body)
        })
    }
    if (threads.length > 0) await store.domain('threads', sessionId).upsertBatch(threads)
    if (contacts.length > 0) await store.domain('contacts', sessionId).upsertBatch(contacts)
    if (messages.length > 0) await store.domain('messages', sessionId).upsertBatch(messages)
    return {
        sessionId,
        messageIds: messages.map(m => m.id),
        threadJids: threads.map(t => t.jid),
        contactJids: contacts.map(c => c.jid),
        records: { messages, threads, contacts },
        counts: { messages: messages.length, threads: threads.length, contacts: contacts.length }
    }
}

/** Bytes as hex, absent fields and `undefined`/null dropped: a backend-neutral view. */
export function normalizeRecord(value) {
    if (value === null || value === undefined) return null
    if (value instanceof Uint8Array) return `hex:${Buffer.from(value).toString('hex')}`
    if (Array.isArray(value)) return value.map(normalizeRecord)
    if (typeof value === 'object') {
        const out = {}
        for (const key of Object.keys(value).sort()) {
            const v = value[key]
            if (v === undefined || v === null) continue
            out[key] = normalizeRecord(v)
        }
        return out
    }
    return value
}

/** Every archive record of `fixture`, read through the contracts of `store` (null when absent). */
export async function snapshotArchive(store, fixture) {
    const id = fixture.sessionId
    const messages = store.domain('messages', id)
    const threads = store.domain('threads', id)
    const contacts = store.domain('contacts', id)
    return normalizeRecord({
        messages: await Promise.all(fixture.messageIds.map(m => messages.getById(m))),
        threads: await Promise.all(fixture.threadJids.map(j => threads.getByJid(j))),
        contacts: await Promise.all(fixture.contactJids.map(j => contacts.getByJid(j)))
    })
}
