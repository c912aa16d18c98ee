/**
 * `zapo creds show`: what the auth and Signal domains hold for one session,
 * and whether it is consistent.
 *
 * The result keeps the secret bytes under the field names the output
 * serialiser redacts (`privKey`, `advSecretKey`, `companionEncStatic`), so
 * `toJsonValue(result)` is safe and `toJsonValue(result, { reveal: true })`
 * shows them. Public keys appear as fingerprints (see
 * `publicKeyFingerprint`); with reveal, in full as well.
 */

import { zapoCommand } from '../hints.js'
import type { WaAuthCredentials } from 'zapo-js'
import { ZapoError } from '../errors.js'
import type { StoreSpec } from '../store/address.js'
import type { SessionCounts } from '../store/records.types.js'
import {
    bytesFingerprint,
    checkCredentialIntegrity,
    proto,
    publicKeyFingerprint,
    type IntegrityReport
} from './integrity.js'
import { openForReading } from './read-store.js'
import { lastLoginMs } from '../store/last-login.js'
import { readSessionAuth, toIso, undecodable, type SessionAuthRecords } from './session-auth.js'

export interface CredsShowOptions {
    readonly store: StoreSpec
    readonly sessionId: string
}

export interface KeyView {
    readonly fingerprint: string
    /** only filled in when revealing (public keys are not secret, just long) */
    readonly pubKey?: Uint8Array
    /** redacted by the serialiser unless revealed */
    readonly privKey: Uint8Array
}

export interface CredsView {
    readonly store: string
    readonly sessionId: string
    readonly paired: boolean
    readonly account: {
        readonly meJid: string | null
        readonly meLid: string | null
        readonly displayName: string | null
        readonly pushName: string | null
        readonly platform: string | null
        readonly lastLoginAt: string | null
        readonly accountCreatedAt: string | null
    }
    readonly credentials: {
        readonly registrationId: number
        readonly identityKey: KeyView
        readonly signedPreKey: KeyView & {
            readonly keyId: number
            readonly signature: { readonly fingerprint: string }
            readonly uploaded: boolean | null
        }
        readonly noiseKey: KeyView
        readonly advSecretKey: Uint8Array
        readonly companionEncStatic: Uint8Array | null
        readonly signedIdentity: {
            readonly keyIndex: number | null
            readonly accountType: 'e2ee' | 'hosted' | null
            readonly issuedAt: string | null
            readonly accountSignatureKey: { readonly fingerprint: string } | null
        } | null
        readonly server: {
            readonly staticKey: { readonly fingerprint: string } | null
            readonly hasPreKeys: boolean | null
            readonly routingInfoBytes: number | null
            readonly connectionLocation: string | null
            readonly propsVersion: number | null
            readonly abPropsVersion: number | null
        }
    }
    readonly signal: {
        readonly registrationId: number | null
        readonly identityKey: { readonly fingerprint: string } | null
        readonly signedPreKey: { readonly keyId: number; readonly fingerprint: string } | null
        /** when the signed prekey was last rotated (zapo-js stamps it at the first check after pairing, then at each rotation) */
        readonly signedPreKeyRotatedAt: string | null
    }
    readonly integrity: IntegrityReport
}

export async function runCredsShow(options: CredsShowOptions): Promise<CredsView> {
    const readable = await openForReading(options.store)
    try {
        const { sessionId } = options
        if (readable.schema === 'missing') throw notFound(options)
        const counts = await readable.catalog.counts(sessionId)
        let records: SessionAuthRecords
        try {
            records = await readSessionAuth(readable, sessionId, counts)
        } catch (error) {
            throw undecodable(error, sessionId, options.store.label)
        }
        if (records.credentials === null) {
            if (hasAnyRecord(counts)) {
                throw new ZapoError(
                    'INTEGRITY',
                    `session "${sessionId}" holds records but no credentials in ${options.store.label} (half-written or partly deleted); restore it from an export or re-pair it`,
                    { sessionId, store: options.store.label }
                )
            }
            throw notFound(options)
        }
        const integrity = await checkCredentialIntegrity({
            credentials: records.credentials,
            registration: records.registration,
            signedPreKey: records.signedPreKey
        })
        return buildView(
            options,
            records as SessionAuthRecords & { credentials: WaAuthCredentials },
            integrity
        )
    } finally {
        await readable.close()
    }
}

function notFound(options: CredsShowOptions): ZapoError {
    return new ZapoError(
        'SESSION_NOT_FOUND',
        `no session "${options.sessionId}" in ${options.store.label}; list what it holds with ${zapoCommand('sessions', 'list')}`,
        { sessionId: options.sessionId, store: options.store.label }
    )
}

function hasAnyRecord(c: SessionCounts): boolean {
    return (
        c.registration ||
        c.signedPreKey ||
        c.preKeys +
            c.signalSessions +
            c.identities +
            c.senderKeys +
            c.senderKeyDistributions +
            c.appStateSyncKeys +
            c.appStateCollections +
            c.privacyTokens >
            0
    )
}

function keyView(pair: { readonly pubKey: Uint8Array; readonly privKey: Uint8Array }): KeyView {
    return {
        fingerprint: publicKeyFingerprint(pair.pubKey),
        pubKey: pair.pubKey,
        privKey: pair.privKey
    }
}

function decodeAdv(details: Uint8Array | null | undefined): {
    readonly keyIndex: number | null
    readonly accountType: 'e2ee' | 'hosted' | null
    readonly issuedAt: string | null
} {
    if (!details) return { keyIndex: null, accountType: null, issuedAt: null }
    try {
        const d = proto.ADVDeviceIdentity.decode(details)
        const ts = d.timestamp === null || d.timestamp === undefined ? null : Number(d.timestamp)
        return {
            keyIndex: d.keyIndex ?? null,
            accountType: d.accountType === proto.ADVEncryptionType.HOSTED ? 'hosted' : 'e2ee',
            issuedAt: toIso(ts)
        }
    } catch {
        // integrity reports the malformed details; the view just leaves them out
        return { keyIndex: null, accountType: null, issuedAt: null }
    }
}

function buildView(
    options: CredsShowOptions,
    records: SessionAuthRecords & { readonly credentials: WaAuthCredentials },
    integrity: IntegrityReport
): CredsView {
    const c = records.credentials
    const signed = c.signedIdentity ?? null
    const adv = signed ? decodeAdv(signed.details ?? null) : null
    const paired = typeof c.meJid === 'string' && c.meJid !== ''
    return {
        store: options.store.label,
        sessionId: options.sessionId,
        paired,
        account: {
            meJid: c.meJid ?? null,
            meLid: c.meLid ?? null,
            displayName: c.meDisplayName ?? null,
            pushName: c.pushName ?? null,
            platform: c.platform ?? null,
            lastLoginAt: toIso(lastLoginMs(c)),
            accountCreatedAt: toIso(c.accountCreationTs)
        },
        credentials: {
            registrationId: c.registrationInfo.registrationId,
            identityKey: keyView(c.registrationInfo.identityKeyPair),
            signedPreKey: {
                keyId: c.signedPreKey.keyId,
                ...keyView(c.signedPreKey.keyPair),
                signature: { fingerprint: bytesFingerprint(c.signedPreKey.signature) },
                uploaded: c.signedPreKey.uploaded ?? null
            },
            noiseKey: keyView(c.noiseKeyPair),
            advSecretKey: c.advSecretKey,
            companionEncStatic: c.companionEncStatic ?? null,
            signedIdentity: signed
                ? {
                      keyIndex: adv?.keyIndex ?? null,
                      accountType: adv?.accountType ?? null,
                      issuedAt: adv?.issuedAt ?? null,
                      accountSignatureKey: signed.accountSignatureKey
                          ? { fingerprint: publicKeyFingerprint(signed.accountSignatureKey) }
                          : null
                  }
                : null,
            server: {
                staticKey: c.serverStaticKey
                    ? { fingerprint: publicKeyFingerprint(c.serverStaticKey) }
                    : null,
                hasPreKeys: c.serverHasPreKeys ?? null,
                routingInfoBytes: c.routingInfo ? c.routingInfo.length : null,
                connectionLocation: c.connectionLocation ?? null,
                propsVersion: c.propsVersion ?? null,
                abPropsVersion: c.abPropsVersion ?? null
            }
        },
        signal: {
            registrationId: records.registration?.registrationId ?? null,
            identityKey: records.registration
                ? { fingerprint: publicKeyFingerprint(records.registration.identityKeyPair.pubKey) }
                : null,
            signedPreKey: records.signedPreKey
                ? {
                      keyId: records.signedPreKey.keyId,
                      fingerprint: publicKeyFingerprint(records.signedPreKey.keyPair.pubKey)
                  }
                : null,
            signedPreKeyRotatedAt: toIso(records.signedPreKeyRotationTs)
        },
        integrity
    }
}

/** Drops the full public keys from a view: what is shown when secrets are not revealed. */
export function withoutFullPublicKeys(view: CredsView): CredsView {
    const strip = <K extends KeyView>(k: K): K => {
        const { pubKey: _pubKey, ...rest } = k
        return rest as K
    }
    return {
        ...view,
        credentials: {
            ...view.credentials,
            identityKey: strip(view.credentials.identityKey),
            signedPreKey: strip(view.credentials.signedPreKey),
            noiseKey: strip(view.credentials.noiseKey)
        }
    }
}
