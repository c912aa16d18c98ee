/**
 * One whatsmeow device (a row of `whatsmeow_device` and its rows in the other tables) converted
 * into zapo-js records. The schema is whatsmeow's store/sqlstore/upgrades/ (v8 to v15); keys are
 * stored as private halves only, so public keys are derived with zapo-js's X25519. Signal
 * sessions and sender keys are libsignal protobufs already (libsignal-protocol-go's
 * `RecordStructure` / `SenderKeyRecordStructure`), decoded by zapo-js's own decoders.
 */

import type { WaAuthCredentials } from 'zapo-js'
import type { WaAppStateSyncKey } from 'zapo-js/appstate'
import type { WaStoredPrivacyTokenRecord } from 'zapo-js/store'
import type { PreKeyRecord, SenderKeyRecord, SignalAddress } from 'zapo-js/signal'
import { errorLine, ZapoError } from '../../../errors.js'
import { zapoCrypto, zapoProto, zapoSignal } from '../../../zapo-cjs.js'
import type {
    AddressedIdentity,
    AddressedSession,
    CollectionState,
    ForeignSession
} from '../foreign.js'
import { addressKey } from '../foreign.js'
import {
    addressOfJid,
    key32,
    parseProtocolAddress,
    serializedPublicKey,
    toNumber
} from '../foreign-convert.js'

/** Runs one read query (`?` placeholders) and returns its rows. */
export type Query = (sql: string, params: readonly unknown[]) => Promise<Record<string, unknown>[]>

const bytes = (v: unknown, what: string): Uint8Array => {
    if (v instanceof Uint8Array) return v
    throw new Error(`${what} is not bytes`)
}

/** `user[_agent]:device` (libsignal-protocol-go's SignalAddress.String()) as a zapo-js address. */
function addressOfTheirId(theirId: string): SignalAddress | null {
    const colon = theirId.lastIndexOf(':')
    if (colon <= 0) return null
    return parseProtocolAddress(`${theirId.slice(0, colon)}.${theirId.slice(colon + 1)}`)
}

/** The session id zapo gives a device: its JID's user and device (`15551234567.12`). */
export function sessionIdOf(jid: string): string {
    const address = addressOfJid(jid)
    return address === null
        ? jid.replace(/[^A-Za-z0-9._:@-]/g, '_')
        : `${address.user}.${address.device}`
}

export async function loadWhatsmeowDevice(
    query: Query,
    jid: string,
    sessionId: string,
    where: string
): Promise<ForeignSession> {
    const fail = (what: string, error: unknown): ZapoError =>
        new ZapoError(
            'INTEGRITY',
            `device ${jid} in ${where}: ${what} does not convert (${errorLine(error)}): the whatsmeow store is damaged; restore it from a backup`,
            { jid, store: where }
        )
    // every column: the schema versions zapo reads (v8 … v15) differ in the bookkeeping ones
    const [device] = await query('SELECT * FROM whatsmeow_device WHERE jid = ?', [jid])
    if (device === undefined)
        throw new ZapoError('SESSION_NOT_FOUND', `no device ${jid} in ${where}`, { jid })
    const { X25519 } = zapoCrypto()
    const pairOf = async (priv: unknown, what: string) =>
        X25519.keyPairFromPrivateKey(key32(bytes(priv, what), what))
    let credentials: WaAuthCredentials
    try {
        const [noise, identity, spk] = await Promise.all([
            pairOf(device.noise_key, 'noise_key'),
            pairOf(device.identity_key, 'identity_key'),
            pairOf(device.signed_pre_key, 'signed_pre_key')
        ])
        credentials = {
            noiseKeyPair: noise,
            registrationInfo: {
                registrationId: Number(device.registration_id),
                identityKeyPair: identity
            },
            signedPreKey: {
                keyId: Number(device.signed_pre_key_id),
                keyPair: spk,
                signature: bytes(device.signed_pre_key_sig, 'signed_pre_key_sig'),
                uploaded: false
            },
            advSecretKey: bytes(device.adv_key, 'adv_key'),
            signedIdentity: {
                details: bytes(device.adv_details, 'adv_details'),
                accountSignatureKey: bytes(device.adv_account_sig_key, 'adv_account_sig_key'),
                accountSignature: bytes(device.adv_account_sig, 'adv_account_sig'),
                deviceSignature: bytes(device.adv_device_sig, 'adv_device_sig')
            },
            meJid: jid,
            ...(typeof device.lid === 'string' && device.lid !== '' ? { meLid: device.lid } : {}),
            ...(typeof device.push_name === 'string' && device.push_name !== ''
                ? { meDisplayName: device.push_name }
                : {}),
            ...(typeof device.platform === 'string' && device.platform !== ''
                ? { platform: device.platform }
                : {})
        }
    } catch (error) {
        throw fail('its device row', error)
    }
    const notCarried: string[] = []
    const count = async (sql: string, params: readonly unknown[]): Promise<number> =>
        Number((await query(sql, params))[0]?.n ?? 0)

    const preKeys: PreKeyRecord[] = []
    for (const row of await query(
        'SELECT key_id, key, uploaded FROM whatsmeow_pre_keys WHERE jid = ? ORDER BY key_id',
        [jid]
    )) {
        try {
            preKeys.push({
                keyId: Number(row.key_id),
                keyPair: await pairOf(row.key, 'key'),
                uploaded: row.uploaded === true || Number(row.uploaded) === 1
            })
        } catch (error) {
            throw fail(`prekey ${String(row.key_id)}`, error)
        }
    }

    const signal = zapoSignal()
    const sessions = new Map<string, AddressedSession>()
    for (const row of await query(
        'SELECT their_id, session FROM whatsmeow_sessions WHERE our_jid = ?',
        [jid]
    )) {
        const theirId = String(row.their_id)
        const address = addressOfTheirId(theirId)
        if (address === null || !(row.session instanceof Uint8Array)) {
            notCarried.push(`Signal session ${theirId}: not a device address`)
            continue
        }
        try {
            sessions.set(addressKey(address), {
                address,
                session: signal.decodeSignalSessionRecord(row.session)
            })
        } catch (error) {
            throw fail(`the Signal session with ${theirId}`, error)
        }
    }

    const identities = new Map<string, AddressedIdentity>()
    for (const row of await query(
        'SELECT their_id, identity FROM whatsmeow_identity_keys WHERE our_jid = ?',
        [jid]
    )) {
        const address = addressOfTheirId(String(row.their_id))
        if (address === null) continue
        try {
            identities.set(addressKey(address), {
                address,
                identityKey: serializedPublicKey(bytes(row.identity, 'identity'), 'identity')
            })
        } catch (error) {
            throw fail(`the identity of ${String(row.their_id)}`, error)
        }
    }

    const senderKeys: SenderKeyRecord[] = []
    for (const row of await query(
        'SELECT chat_id, sender_id, sender_key FROM whatsmeow_sender_keys WHERE our_jid = ?',
        [jid]
    )) {
        const sender = addressOfTheirId(String(row.sender_id))
        if (sender === null) continue
        try {
            senderKeys.push(
                signal.decodeSenderKeyRecord(
                    bytes(row.sender_key, 'sender_key'),
                    String(row.chat_id),
                    sender
                )
            )
        } catch (error) {
            throw fail(
                `the sender key of ${String(row.sender_id)} in ${String(row.chat_id)}`,
                error
            )
        }
    }

    const proto = zapoProto()
    const syncKeys: WaAppStateSyncKey[] = []
    for (const row of await query(
        'SELECT key_id, key_data, timestamp, fingerprint FROM whatsmeow_app_state_sync_keys WHERE jid = ?',
        [jid]
    )) {
        try {
            const fingerprint = proto.Message.AppStateSyncKeyFingerprint.decode(
                bytes(row.fingerprint, 'fingerprint')
            )
            syncKeys.push({
                keyId: bytes(row.key_id, 'key_id'),
                keyData: bytes(row.key_data, 'key_data'),
                timestamp: toNumber(row.timestamp) ?? 0,
                fingerprint
            })
        } catch (error) {
            throw fail('an app-state sync key', error)
        }
    }

    const collections = new Map<string, CollectionState>()
    for (const row of await query(
        'SELECT name, version, hash FROM whatsmeow_app_state_version WHERE jid = ?',
        [jid]
    )) {
        const name = String(row.name)
        const map = new Map<string, Uint8Array>()
        // the newest value MAC of each index MAC (whatsmeow keeps one row per version)
        for (const mac of await query(
            'SELECT index_mac, value_mac FROM whatsmeow_app_state_mutation_macs WHERE jid = ? AND name = ? ORDER BY version',
            [jid, name]
        ))
            map.set(
                Buffer.from(bytes(mac.index_mac, 'index_mac')).toString('hex'),
                bytes(mac.value_mac, 'value_mac')
            )
        collections.set(name, {
            version: toNumber(row.version) ?? 0,
            hash: bytes(row.hash, 'hash'),
            indexValueMap: map
        })
    }

    const privacyTokens = new Map<string, WaStoredPrivacyTokenRecord>()
    for (const row of await query(
        'SELECT their_jid, token, timestamp, sender_timestamp FROM whatsmeow_privacy_tokens WHERE our_jid = ?',
        [jid]
    )) {
        const theirJid = String(row.their_jid)
        const ts = toNumber(row.timestamp)
        const senderTs = toNumber(row.sender_timestamp)
        privacyTokens.set(theirJid, {
            jid: theirJid,
            tcToken: bytes(row.token, 'token'),
            ...(ts !== null ? { tcTokenTimestamp: ts } : {}),
            ...(senderTs !== null ? { tcTokenSenderTimestamp: senderTs } : {}),
            updatedAtMs: (ts ?? 0) * 1000
        })
    }

    const lost = async (table: string, column: string, what: string): Promise<void> => {
        const n = await count(`SELECT COUNT(*) AS n FROM ${table} WHERE ${column} = ?`, [
            jid
        ]).catch(() => 0)
        if (n > 0) notCarried.push(`${n} ${what}`)
    }
    await lost(
        'whatsmeow_contacts',
        'our_jid',
        'contacts (whatsmeow_contacts): zapo keeps no contact archive from foreign stores'
    )
    await lost(
        'whatsmeow_chat_settings',
        'our_jid',
        'chat settings (whatsmeow_chat_settings): they come back with the app-state sync'
    )
    await lost(
        'whatsmeow_message_secrets',
        'our_jid',
        'message secrets (whatsmeow_message_secrets): reactions/polls to older messages cannot be decrypted'
    )
    await lost(
        'whatsmeow_nct_salt',
        'our_jid',
        'NCT salt (whatsmeow_nct_salt): zapo-js keeps it per contact token, the server sends it again'
    )
    await lost('whatsmeow_event_buffer', 'our_jid', 'buffered events (whatsmeow_event_buffer)')
    await lost('whatsmeow_retry_buffer', 'our_jid', 'retry buffer entries (whatsmeow_retry_buffer)')
    const lidMappings = await count('SELECT COUNT(*) AS n FROM whatsmeow_lid_map', []).catch(
        () => 0
    )
    if (lidMappings > 0)
        notCarried.push(
            `${lidMappings} LID mappings (whatsmeow_lid_map, shared by every device): zapo-js 0.3 keeps none; the server sends them again`
        )
    const bookkeeping = [
        'business_name',
        'facebook_uuid',
        'lid_migration_ts',
        'companion_meta_nonce'
    ].filter(
        c =>
            device[c] !== undefined &&
            device[c] !== null &&
            device[c] !== '' &&
            device[c] !== 0 &&
            device[c] !== '0'
    )
    if (bookkeeping.length > 0)
        notCarried.push(
            `device-row bookkeeping zapo-js keeps elsewhere or not at all: ${bookkeeping.join(', ')}`
        )

    return {
        sessionId,
        credentials,
        registration: credentials.registrationInfo,
        signedPreKey: { ...credentials.signedPreKey, uploaded: true },
        signedPreKeyRotationTs: null,
        preKeys,
        serverHasPreKeys: preKeys.some(k => k.uploaded === true),
        nextPreKeyId: preKeys.length > 0 ? preKeys[preKeys.length - 1]!.keyId + 1 : null,
        sessions,
        identities,
        senderKeys,
        distributions: [],
        syncKeys,
        collections,
        privacyTokens,
        notCarried,
        lastWrittenMs: null
    }
}
