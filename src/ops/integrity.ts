/**
 * Credential integrity: do the auth domain and the Signal domain of one
 * session describe the same, valid device?
 *
 * Pure (no I/O): it takes the records already read through the store
 * contracts and returns a list of named checks. `creds show`, `import` and
 * `check` share it. Every cryptographic step is zapo-js's own
 * (`zapo-js/crypto`: XEdDSA verification, X25519 key derivation); the only
 * thing written here is which bytes are signed, following zapo-js:
 *
 * - signed prekey: XEdDSA over the 33-byte serialized prekey public key
 *   (0x05 ‖ key), verified with the identity key
 *   (zapo-js `auth/credentials-flow.js`, `hasValidSignedPreKey`);
 * - ADV account signature: XEdDSA by the primary's account signature key over
 *   prefix ‖ details ‖ our identity public key, prefix [6,0] ([6,5] for a
 *   hosted account);
 * - ADV device signature: XEdDSA by our identity key over
 *   prefix ‖ details ‖ our identity public key ‖ account signature key,
 *   prefix [6,1] ([6,6] hosted)
 *   (zapo-js `signal/crypto/WaAdvSignature.js`, `WaPairingFlow.js`).
 *
 * Check names are stable: scripts may match on them.
 */

import { createHash } from 'node:crypto'
import type { WaAuthCredentials } from 'zapo-js'
import { zapoCrypto, zapoProto } from '../zapo-cjs.js'
import { errorLine } from '../errors.js'
import type { RegistrationInfo, SignedPreKeyRecord } from 'zapo-js/signal'

// one copy of zapo-js: its CommonJS build, as the store packages load it
const { toRawPubKey, toSerializedPubKey, X25519, xeddsaVerify } = zapoCrypto()
export const proto = zapoProto()

export type IntegrityStatus = 'pass' | 'fail' | 'skip'

export interface IntegrityCheck {
    readonly name: IntegrityCheckName
    readonly status: IntegrityStatus
    /** one line for people; never key material */
    readonly detail: string
}

export interface IntegrityReport {
    /** true when no check failed (skipped checks do not count) */
    readonly ok: boolean
    readonly checks: readonly IntegrityCheck[]
}

export interface IntegrityInput {
    /** the auth domain's credentials */
    readonly credentials: WaAuthCredentials
    /** the Signal domain's registration (null when absent) */
    readonly registration: RegistrationInfo | null
    /** the Signal domain's current signed prekey (null when absent) */
    readonly signedPreKey: SignedPreKeyRecord | null
}

const INTEGRITY_CHECKS = Object.freeze([
    'identity-key-pair',
    'noise-key-pair',
    'signed-prekey-key-pair',
    'signed-prekey-signature',
    'registration-identity',
    'signal-signed-prekey',
    'adv-account-signature',
    'adv-device-signature'
] as const)
export type IntegrityCheckName = (typeof INTEGRITY_CHECKS)[number]

/** ADV signature prefixes (zapo-js `signal/crypto/constants.js`). */
const ADV_PREFIX = Object.freeze({
    e2ee: { account: new Uint8Array([6, 0]), device: new Uint8Array([6, 1]) },
    hosted: { account: new Uint8Array([6, 5]), device: new Uint8Array([6, 6]) }
})

type AdvKind = keyof typeof ADV_PREFIX

async function firstVerifying(
    order: readonly AdvKind[],
    verify: (kind: AdvKind) => Promise<boolean>
): Promise<AdvKind | null> {
    for (const kind of order) if (await verify(kind)) return kind
    return null
}

/** Runs every integrity check on one session's credentials. Never throws for bad data: a malformed record is a failed check. */
export async function checkCredentialIntegrity(input: IntegrityInput): Promise<IntegrityReport> {
    const { credentials, registration, signedPreKey } = input
    const identity = credentials.registrationInfo?.identityKeyPair
    const checks: IntegrityCheck[] = []
    const run = async (
        name: IntegrityCheckName,
        fn: () => Promise<Omit<IntegrityCheck, 'name'>>
    ): Promise<void> => {
        try {
            checks.push({ name, ...(await fn()) })
        } catch (error) {
            checks.push({
                name,
                status: 'fail',
                detail: `malformed record: ${errorLine(error)}`
            })
        }
    }

    await run('identity-key-pair', async () => keyPairCheck('identity', identity))
    await run('noise-key-pair', async () => keyPairCheck('noise', credentials.noiseKeyPair))
    await run('signed-prekey-key-pair', async () =>
        keyPairCheck('signed prekey', credentials.signedPreKey?.keyPair)
    )

    await run('signed-prekey-signature', async () => {
        const spk = credentials.signedPreKey
        if (!spk || !identity) return fail('credentials hold no signed prekey or no identity key')
        const valid = await verifySignedPreKey(identity.pubKey, spk)
        return valid
            ? pass(`signed prekey ${spk.keyId} is signed by the identity key`)
            : fail(`signed prekey ${spk.keyId}: signature does not verify against the identity key`)
    })

    await run('registration-identity', async () => {
        if (!registration)
            return fail('the signal domain holds no registration (half-written store)')
        const ours = credentials.registrationInfo
        const problems: string[] = []
        if (registration.registrationId !== ours.registrationId) {
            problems.push(`registration id ${registration.registrationId} ≠ ${ours.registrationId}`)
        }
        if (!samePubKey(registration.identityKeyPair.pubKey, ours.identityKeyPair.pubKey))
            problems.push('identity public key differs')
        if (!bytesEqual(registration.identityKeyPair.privKey, ours.identityKeyPair.privKey))
            problems.push('identity private key differs')
        return problems.length === 0
            ? pass(`signal registration ${registration.registrationId} matches the credentials`)
            : fail(`signal domain vs credentials: ${problems.join('; ')}`)
    })

    await run('signal-signed-prekey', async () => {
        if (!signedPreKey)
            return fail('the signal domain holds no signed prekey (half-written store)')
        const ours = credentials.signedPreKey
        const same =
            signedPreKey.keyId === ours.keyId &&
            samePubKey(signedPreKey.keyPair.pubKey, ours.keyPair.pubKey) &&
            bytesEqual(signedPreKey.keyPair.privKey, ours.keyPair.privKey) &&
            bytesEqual(signedPreKey.signature, ours.signature)
        if (same) return pass(`signal signed prekey ${signedPreKey.keyId} matches the credentials`)
        if (signedPreKey.keyId === ours.keyId) {
            return fail(
                `signal domain signed prekey ${signedPreKey.keyId} differs from the credentials' key with the same id`
            )
        }
        // zapo-js rotates the signed prekey in the signal domain only (SignalRotateKeyApi): a
        // newer, validly signed key there is a rotation, not a corruption
        if (signedPreKey.keyId < ours.keyId) {
            return fail(
                `signal domain signed prekey ${signedPreKey.keyId} is older than the credentials' ${ours.keyId}`
            )
        }
        const pair = await keyPairCheck('signal signed prekey', signedPreKey.keyPair)
        if (pair.status !== 'pass') return pair
        if (!identity || !(await verifySignedPreKey(identity.pubKey, signedPreKey))) {
            return fail(
                `signal domain signed prekey ${signedPreKey.keyId}: signature does not verify against the identity key`
            )
        }
        return pass(
            `signal signed prekey ${signedPreKey.keyId} is a rotation of the credentials' ${ours.keyId}, signed by the identity key`
        )
    })

    const adv = await advChecks(credentials)
    for (const check of adv) checks.push(check)

    return { ok: checks.every(c => c.status !== 'fail'), checks }
}

async function advChecks(credentials: WaAuthCredentials): Promise<readonly IntegrityCheck[]> {
    // both ADV checks share an outcome until the identity is known to be there and to decode
    const both = (status: IntegrityStatus, detail: string): readonly IntegrityCheck[] => [
        { name: 'adv-account-signature', status, detail },
        { name: 'adv-device-signature', status, detail }
    ]
    const paired = typeof credentials.meJid === 'string' && credentials.meJid !== ''
    if (!paired) return both('skip', 'not paired: no ADV signed identity expected')
    const signed = credentials.signedIdentity
    const details = asBytes(signed?.details)
    const accountSignature = asBytes(signed?.accountSignature)
    const accountSignatureKey = asBytes(signed?.accountSignatureKey)
    const deviceSignature = asBytes(signed?.deviceSignature)
    const identityPub = credentials.registrationInfo?.identityKeyPair?.pubKey
    if (!signed || !details || !identityPub) {
        return both('fail', 'paired device without an ADV signed identity (half-written pairing)')
    }
    let hosted = false
    try {
        hosted =
            proto.ADVDeviceIdentity.decode(details).accountType === proto.ADVEncryptionType.HOSTED
    } catch (error) {
        return both('fail', `ADV identity details do not decode: ${errorLine(error)}`)
    }
    let rawIdentity: Uint8Array
    try {
        rawIdentity = toRawPubKey(identityPub)
    } catch (error) {
        return both('fail', `malformed identity key: ${errorLine(error)}`)
    }
    // the account type decides the prefixes; the other pair is tried too, because the type
    // zapo-js used at pairing came from the HMAC wrapper, which is not stored
    const order = hosted ? (['hosted', 'e2ee'] as const) : (['e2ee', 'hosted'] as const)
    const signatureCheck = async (
        name: 'adv-account-signature' | 'adv-device-signature',
        texts: { readonly missing: string; readonly verifies: string; readonly fails: string },
        verify: ((kind: AdvKind) => Promise<boolean>) | null
    ): Promise<IntegrityCheck> => {
        if (verify === null) return { name, ...fail(texts.missing) }
        try {
            const kind = await firstVerifying(order, verify)
            if (kind === null) return { name, ...fail(texts.fails) }
            return { name, ...pass(`${texts.verifies}${kind === 'hosted' ? ' (hosted)' : ''}`) }
        } catch (error) {
            return { name, ...fail(`malformed ADV identity: ${errorLine(error)}`) }
        }
    }
    return [
        await signatureCheck(
            'adv-account-signature',
            {
                missing: 'ADV identity lacks the account signature or its key',
                verifies: "the primary device's account signature verifies",
                fails: 'the account signature does not verify for this identity key'
            },
            accountSignature && accountSignatureKey
                ? type =>
                      xeddsaVerify(
                          toRawPubKey(accountSignatureKey),
                          concat([ADV_PREFIX[type].account, details, rawIdentity]),
                          copy(accountSignature)
                      )
                : null
        ),
        await signatureCheck(
            'adv-device-signature',
            {
                missing: 'ADV identity lacks the device signature or the account key',
                verifies: 'our device signature verifies against the identity key',
                fails: 'the device signature does not verify against the identity key'
            },
            deviceSignature && accountSignatureKey
                ? type =>
                      xeddsaVerify(
                          rawIdentity,
                          concat([
                              ADV_PREFIX[type].device,
                              details,
                              rawIdentity,
                              accountSignatureKey
                          ]),
                          copy(deviceSignature)
                      )
                : null
        )
    ]
}

/** A valid X25519 pair: the public key is the base point multiplied by the private key. */
async function keyPairCheck(
    label: string,
    pair: { readonly pubKey: Uint8Array; readonly privKey: Uint8Array } | undefined
): Promise<Omit<IntegrityCheck, 'name'>> {
    if (!pair?.pubKey || !pair.privKey) return fail(`no ${label} key pair`)
    if (pair.privKey.length !== 32)
        return fail(`${label} private key is ${pair.privKey.length} bytes, expected 32`)
    const derived = await X25519.keyPairFromPrivateKey(copy(pair.privKey))
    return samePubKey(derived.pubKey, pair.pubKey)
        ? pass(`${label} public key is derived from its private key`)
        : fail(`${label} public key does not belong to its private key`)
}

async function verifySignedPreKey(
    identityPub: Uint8Array,
    spk: SignedPreKeyRecord
): Promise<boolean> {
    // xeddsaVerify flips a bit of the signature while it works: hand it a copy
    return xeddsaVerify(
        toRawPubKey(identityPub),
        toSerializedPubKey(spk.keyPair.pubKey),
        copy(spk.signature)
    )
}

function pass(detail: string): Omit<IntegrityCheck, 'name'> {
    return { status: 'pass', detail }
}

function fail(detail: string): Omit<IntegrityCheck, 'name'> {
    return { status: 'fail', detail }
}

function asBytes(value: Uint8Array | null | undefined): Uint8Array | null {
    return value instanceof Uint8Array && value.length > 0 ? value : null
}

function copy(bytes: Uint8Array): Uint8Array {
    return new Uint8Array(bytes)
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
    let offset = 0
    for (const part of parts) {
        out.set(part, offset)
        offset += part.length
    }
    return out
}

function bytesEqual(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
    if (!a || !b || a.length !== b.length) return false
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
    return true
}

/** Public keys compare in raw form: 32 bytes, or 33 with the 0x05 type byte. */
function samePubKey(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
    if (!a || !b) return false
    try {
        return bytesEqual(toRawPubKey(a), toRawPubKey(b))
    } catch {
        return false
    }
}

/**
 * A short, stable fingerprint of a public key: the first 8 bytes of the
 * SHA-256 of its raw 32-byte form, as 16 hex digits. The same key gives the
 * same fingerprint whether it is stored with or without the 0x05 type byte.
 */
export function publicKeyFingerprint(pubKey: Uint8Array): string {
    let raw: Uint8Array
    try {
        raw = toRawPubKey(pubKey)
    } catch {
        raw = pubKey
    }
    return createHash('sha256').update(raw).digest('hex').slice(0, 16)
}

/** Fingerprint of arbitrary public bytes (signatures, server keys): first 8 bytes of SHA-256, hex. */
export function bytesFingerprint(bytes: Uint8Array): string {
    return createHash('sha256').update(bytes).digest('hex').slice(0, 16)
}
