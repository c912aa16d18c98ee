/**
 * whatsmeow SQL stores for tests, written from whatsmeow's published schema
 * (store/sqlstore/upgrades/, schema v15, compatible with v8+) — whatsmeow itself cannot run
 * here (no Go modules). A zapo session's records (read through the zapo-js store contracts)
 * are written in whatsmeow's layout: private key halves only, Signal sessions and sender keys
 * as libsignal protobufs (encoded by zapo-js, the same protobufs libsignal-protocol-go writes),
 * identities as 32-byte keys, addresses as `user[_agent]:device`.
 *
 *   await writeWhatsmeowSqlite(file, zapoStoreUrl, sessionId)
 *   await writeWhatsmeowPostgres(schemaUrl, zapoStoreUrl, sessionId)
 */

import Database from 'better-sqlite3'
import { proto } from 'zapo-js'
import { encodeSenderKeyRecord, encodeSignalSessionRecord } from 'zapo-js/signal'
import { catalogForStore } from '../../dist/store/catalog.js'
import { readSessionRecords } from '../../dist/store/records.js'
import { openTestStore } from './fixtures.js'

/** The tables zapo reads, as whatsmeow's schema v15 declares them (bytea for SQLite too). */
export const WHATSMEOW_DDL = `
CREATE TABLE whatsmeow_version (version INTEGER, compat INTEGER);
CREATE TABLE whatsmeow_device (
    jid TEXT PRIMARY KEY, lid TEXT, facebook_uuid uuid,
    registration_id BIGINT NOT NULL, noise_key bytea NOT NULL, identity_key bytea NOT NULL,
    signed_pre_key bytea NOT NULL, signed_pre_key_id INTEGER NOT NULL, signed_pre_key_sig bytea NOT NULL,
    adv_key bytea NOT NULL, adv_details bytea NOT NULL, adv_account_sig bytea NOT NULL,
    adv_account_sig_key bytea NOT NULL, adv_device_sig bytea NOT NULL,
    platform TEXT NOT NULL DEFAULT '', business_name TEXT NOT NULL DEFAULT '',
    push_name TEXT NOT NULL DEFAULT '', lid_migration_ts BIGINT NOT NULL DEFAULT 0,
    companion_meta_nonce TEXT NOT NULL DEFAULT '');
CREATE TABLE whatsmeow_identity_keys (our_jid TEXT, their_id TEXT, identity bytea NOT NULL, PRIMARY KEY (our_jid, their_id));
CREATE TABLE whatsmeow_pre_keys (jid TEXT, key_id INTEGER, key bytea NOT NULL, uploaded BOOLEAN NOT NULL, PRIMARY KEY (jid, key_id));
CREATE TABLE whatsmeow_sessions (our_jid TEXT, their_id TEXT, session bytea, PRIMARY KEY (our_jid, their_id));
CREATE TABLE whatsmeow_sender_keys (our_jid TEXT, chat_id TEXT, sender_id TEXT, sender_key bytea NOT NULL, PRIMARY KEY (our_jid, chat_id, sender_id));
CREATE TABLE whatsmeow_app_state_sync_keys (jid TEXT, key_id bytea, key_data bytea NOT NULL, timestamp BIGINT NOT NULL, fingerprint bytea NOT NULL, PRIMARY KEY (jid, key_id));
CREATE TABLE whatsmeow_app_state_version (jid TEXT, name TEXT, version BIGINT NOT NULL, hash bytea NOT NULL, PRIMARY KEY (jid, name));
CREATE TABLE whatsmeow_app_state_mutation_macs (jid TEXT, name TEXT, version BIGINT, index_mac bytea, value_mac bytea NOT NULL, PRIMARY KEY (jid, name, version, index_mac));
CREATE TABLE whatsmeow_contacts (our_jid TEXT, their_jid TEXT, first_name TEXT, full_name TEXT, push_name TEXT, business_name TEXT, redacted_phone TEXT, PRIMARY KEY (our_jid, their_jid));
CREATE TABLE whatsmeow_privacy_tokens (our_jid TEXT, their_jid TEXT, token bytea NOT NULL, timestamp BIGINT NOT NULL, sender_timestamp BIGINT, PRIMARY KEY (our_jid, their_jid));
CREATE TABLE whatsmeow_lid_map (lid TEXT PRIMARY KEY, pn TEXT UNIQUE NOT NULL);
`

const AGENTS = { 's.whatsapp.net': '', lid: '_1', hosted: '_128', 'hosted.lid': '_129' }
const theirId = a => `${a.user}${AGENTS[a.server ?? 's.whatsapp.net'] ?? ''}:${a.device}`
const raw = key => (key.length === 33 ? key.subarray(1) : key)

/** The rows whatsmeow would hold for the zapo session `sessionId` of `zapoUrl`. */
async function rowsOf(zapoUrl, sessionId) {
    const store = await openTestStore(zapoUrl, 'read')
    const rows = []
    const add = (table, values) => rows.push([table, values])
    try {
        const batches = []
        for await (const b of readSessionRecords(store, catalogForStore(store), sessionId))
            batches.push(b)
        const creds = batches.find(b => b.domain === 'auth').credentials
        const jid = creds.meJid
        const adv = creds.signedIdentity
        add('whatsmeow_device', {
            jid,
            lid: creds.meLid ?? null,
            registration_id: creds.registrationInfo.registrationId,
            noise_key: creds.noiseKeyPair.privKey,
            identity_key: creds.registrationInfo.identityKeyPair.privKey,
            signed_pre_key: creds.signedPreKey.keyPair.privKey,
            signed_pre_key_id: creds.signedPreKey.keyId,
            signed_pre_key_sig: creds.signedPreKey.signature,
            adv_key: creds.advSecretKey,
            adv_details: adv.details,
            adv_account_sig: adv.accountSignature,
            adv_account_sig_key: adv.accountSignatureKey,
            adv_device_sig: adv.deviceSignature,
            platform: creds.platform ?? '',
            push_name: creds.meDisplayName ?? ''
        })
        for (const b of batches) {
            if (b.domain === 'preKey')
                for (const k of b.records)
                    add('whatsmeow_pre_keys', {
                        jid,
                        key_id: k.keyId,
                        key: k.keyPair.privKey,
                        uploaded: k.uploaded === true
                    })
            if (b.domain === 'session')
                for (const e of b.entries)
                    add('whatsmeow_sessions', {
                        our_jid: jid,
                        their_id: theirId(e.address),
                        session: encodeSignalSessionRecord(e.session)
                    })
            if (b.domain === 'identity')
                for (const e of b.entries)
                    add('whatsmeow_identity_keys', {
                        our_jid: jid,
                        their_id: theirId(e.address),
                        identity: raw(e.identityKey)
                    })
            if (b.domain === 'senderKey')
                for (const k of b.senderKeys)
                    add('whatsmeow_sender_keys', {
                        our_jid: jid,
                        chat_id: k.groupId,
                        sender_id: theirId(k.sender),
                        sender_key: encodeSenderKeyRecord(k)
                    })
            if (b.domain === 'appState')
                for (const k of b.syncKeys)
                    add('whatsmeow_app_state_sync_keys', {
                        jid,
                        key_id: k.keyId,
                        key_data: k.keyData,
                        timestamp: k.timestamp,
                        fingerprint: proto.Message.AppStateSyncKeyFingerprint.encode(
                            k.fingerprint ?? {}
                        ).finish()
                    })
            if (b.domain === 'appStateCollections')
                for (const c of b.collections) {
                    add('whatsmeow_app_state_version', {
                        jid,
                        name: c.collection,
                        version: c.version,
                        hash: c.hash
                    })
                    for (const [indexMac, valueMac] of c.indexValueMap)
                        add('whatsmeow_app_state_mutation_macs', {
                            jid,
                            name: c.collection,
                            version: c.version,
                            index_mac: Buffer.from(indexMac, 'hex'),
                            value_mac: valueMac
                        })
                }
        }
        // what whatsmeow keeps and zapo-js has no place for
        add('whatsmeow_contacts', {
            our_jid: jid,
            their_jid: '15559990000@s.whatsapp.net',
            full_name: 'A Contact'
        })
        add('whatsmeow_lid_map', { lid: '555000111@lid', pn: '15559990000' })
        return { rows, jid }
    } finally {
        await store.close()
    }
}

const toBinding = v =>
    typeof v === 'boolean' ? (v ? 1 : 0) : v instanceof Uint8Array ? Buffer.from(v) : v

/** Writes the whatsmeow SQLite file `file` from a zapo session; returns the device JID. */
export async function writeWhatsmeowSqlite(
    file,
    zapoUrl,
    sessionId,
    { version = 15, compat = 8 } = {}
) {
    const { rows, jid } = await rowsOf(zapoUrl, sessionId)
    const db = new Database(file)
    try {
        db.exec(WHATSMEOW_DDL)
        db.prepare('INSERT INTO whatsmeow_version (version, compat) VALUES (?, ?)').run(
            version,
            compat
        )
        for (const [table, values] of rows) {
            const cols = Object.keys(values)
            db.prepare(
                `INSERT INTO ${table} (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`
            ).run(...cols.map(c => toBinding(values[c])))
        }
    } finally {
        db.close()
    }
    return jid
}

/**
 * Writes the whatsmeow tables into a fresh PostgreSQL schema `schema` of `baseUrl`; returns the
 * `whatsmeow+postgres://…` address that reads it (search_path set through `options`).
 */
export async function writeWhatsmeowPostgres(baseUrl, schema, zapoUrl, sessionId) {
    const { rows, jid } = await rowsOf(zapoUrl, sessionId)
    const { default: pg } = await import('pg')
    const client = new pg.Client({ connectionString: baseUrl })
    await client.connect()
    try {
        await client.query(`CREATE SCHEMA ${schema}`)
        await client.query(`SET search_path TO ${schema}`)
        await client.query(WHATSMEOW_DDL.replace(/BOOLEAN NOT NULL/g, 'BOOLEAN NOT NULL'))
        await client.query('INSERT INTO whatsmeow_version (version, compat) VALUES (15, 8)')
        for (const [table, values] of rows) {
            const cols = Object.keys(values)
            await client.query(
                `INSERT INTO ${table} (${cols.join(', ')}) VALUES (${cols.map((_, i) => `$${i + 1}`).join(', ')})`,
                cols.map(c =>
                    values[c] instanceof Uint8Array ? Buffer.from(values[c]) : values[c]
                )
            )
        }
    } finally {
        await client.end()
    }
    const url = new URL(baseUrl)
    url.searchParams.set('options', `-c search_path=${schema}`)
    return { url: `whatsmeow+${url.toString()}`, jid }
}

/** Drops a schema written by `writeWhatsmeowPostgres`. */
export async function dropWhatsmeowPostgres(baseUrl, schema) {
    const { default: pg } = await import('pg')
    const client = new pg.Client({ connectionString: baseUrl })
    await client.connect()
    try {
        await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
    } finally {
        await client.end()
    }
}
