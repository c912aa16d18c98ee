/**
 * The simulated phone's side of companion pairing: the ADV signed device identity sent in
 * `pair-success`, the check of the companion's `pair-device-sign`, and the phone half of the
 * pairing-code (link code) exchange.
 */
import { proto } from 'zapo-js'
import {
    X25519,
    aesCtrDecrypt,
    aesCtrEncrypt,
    aesGcmDecrypt,
    hkdf,
    hmacSign,
    importAesGcmKey,
    importHmacKey,
    pbkdf2DeriveAesCtrKey,
    randomBytesAsync,
    randomIntAsync,
    toRawPubKey,
    xeddsaSign,
    xeddsaVerify
} from 'zapo-js/crypto'
import { uint8Equal } from 'zapo-js/util'

import type { KeyPair } from './noise.js'

const ADV_ACCOUNT_SIGNATURE_PREFIX = new Uint8Array([6, 0])
const ADV_DEVICE_SIGNATURE_PREFIX = new Uint8Array([6, 1])
const LINK_CODE_BUNDLE_INFO = 'link_code_pairing_key_bundle_encryption_key'
const ADV_SECRET_INFO = 'adv_secret'
const PAIRING_CODE_PBKDF2_ITERATIONS = 2 << 16
const TEXT = new TextEncoder()

export interface PairSuccessIdentity {
    /** The `device-identity` content of `pair-success` (ADVSignedDeviceIdentityHMAC). */
    readonly wrapped: Uint8Array
    /** ADVDeviceIdentity bytes the companion must sign back. */
    readonly details: Uint8Array
    readonly keyIndex: number
}

/** Builds what the primary device sends: account-signed identity, HMAC'd with the ADV secret. */
export async function buildPairSuccessIdentity(input: {
    readonly accountIdentity: KeyPair
    readonly companionIdentityPub: Uint8Array
    readonly advSecret: Uint8Array
    readonly keyIndex: number
}): Promise<PairSuccessIdentity> {
    const details = proto.ADVDeviceIdentity.encode({
        rawId: await randomIntAsync(1, 0x7fff_ffff),
        timestamp: Math.floor(Date.now() / 1000),
        keyIndex: input.keyIndex,
        accountType: proto.ADVEncryptionType.E2EE,
        deviceType: proto.ADVEncryptionType.E2EE
    }).finish()
    const accountSignature = await xeddsaSign(
        input.accountIdentity.privKey,
        Buffer.concat([ADV_ACCOUNT_SIGNATURE_PREFIX, details, input.companionIdentityPub])
    )
    const signed = proto.ADVSignedDeviceIdentity.encode({
        details,
        accountSignatureKey: input.accountIdentity.pubKey,
        accountSignature
    }).finish()
    const hmac = await hmacSign(await importHmacKey(input.advSecret), signed)
    const wrapped = proto.ADVSignedDeviceIdentityHMAC.encode({
        details: signed,
        hmac,
        accountType: proto.ADVEncryptionType.E2EE
    }).finish()
    return { wrapped, details, keyIndex: input.keyIndex }
}

/** Checks the companion's `pair-device-sign` answer: same details, valid device signature. */
export async function verifyPairDeviceSign(input: {
    readonly signedIdentityBytes: Uint8Array
    readonly expectedDetails: Uint8Array
    readonly companionIdentityPub: Uint8Array
    readonly accountIdentityPub: Uint8Array
}): Promise<boolean> {
    const signed = proto.ADVSignedDeviceIdentity.decode(input.signedIdentityBytes)
    const details = signed.details ?? new Uint8Array(0)
    const signature = signed.deviceSignature ?? new Uint8Array(0)
    if (!uint8Equal(details, input.expectedDetails) || signature.length !== 64) return false
    return xeddsaVerify(
        toRawPubKey(input.companionIdentityPub),
        Buffer.concat([
            ADV_DEVICE_SIGNATURE_PREFIX,
            details,
            input.companionIdentityPub,
            input.accountIdentityPub
        ]),
        signature
    )
}

/** State the phone keeps between typing the code and the companion's `companion_finish`. */
export interface LinkCodePrimaryState {
    readonly primaryEphemeral: KeyPair
    readonly companionEphemeralPub: Uint8Array
    /** The `link_code_pairing_wrapped_primary_ephemeral_pub` content (salt | iv | ciphertext). */
    readonly wrappedPrimaryEphemeralPub: Uint8Array
}

/** The phone user types the code: unwrap the companion key, wrap our own ephemeral with it. */
export async function enterLinkCode(
    code: string,
    wrappedCompanionEphemeralPub: Uint8Array
): Promise<LinkCodePrimaryState> {
    if (wrappedCompanionEphemeralPub.length <= 48) {
        throw new Error('wrapped companion ephemeral key is too short')
    }
    const codeBytes = TEXT.encode(code.replace(/-/g, '').toUpperCase())
    const companionCipher = await pbkdf2DeriveAesCtrKey(
        codeBytes,
        wrappedCompanionEphemeralPub.subarray(0, 32),
        PAIRING_CODE_PBKDF2_ITERATIONS
    )
    const companionEphemeralPub = await aesCtrDecrypt(
        companionCipher,
        wrappedCompanionEphemeralPub.subarray(32, 48),
        wrappedCompanionEphemeralPub.subarray(48)
    )
    const [primaryEphemeral, salt, counter] = await Promise.all([
        X25519.generateKeyPair(),
        randomBytesAsync(32),
        randomBytesAsync(16)
    ])
    const primaryCipher = await pbkdf2DeriveAesCtrKey(
        codeBytes,
        salt,
        PAIRING_CODE_PBKDF2_ITERATIONS
    )
    const encrypted = await aesCtrEncrypt(primaryCipher, counter, primaryEphemeral.pubKey)
    return {
        primaryEphemeral,
        companionEphemeralPub,
        wrappedPrimaryEphemeralPub: Buffer.concat([salt, counter, encrypted])
    }
}

/**
 * The companion's `companion_finish`: decrypt its key bundle and derive the ADV secret both sides
 * then share. Throws when the code typed on the phone was wrong (the bundle does not decrypt).
 */
export async function finishLinkCode(input: {
    readonly state: LinkCodePrimaryState
    readonly accountIdentity: KeyPair
    readonly wrappedKeyBundle: Uint8Array
    readonly companionIdentityPub: Uint8Array
}): Promise<Uint8Array> {
    const bundle = input.wrappedKeyBundle
    if (bundle.length <= 44) throw new Error('wrapped key bundle is too short')
    const sharedEphemeral = await X25519.scalarMult(
        input.state.primaryEphemeral.privKey,
        input.state.companionEphemeralPub
    )
    const bundleKey = await importAesGcmKey(
        await hkdf(sharedEphemeral, bundle.subarray(0, 32), LINK_CODE_BUNDLE_INFO, 32),
        ['decrypt']
    )
    const plain = await aesGcmDecrypt(bundleKey, bundle.subarray(32, 44), bundle.subarray(44))
    if (plain.length !== 96) throw new Error('key bundle has an unexpected size')
    const companionIdentity = plain.subarray(0, 32)
    const primaryIdentity = plain.subarray(32, 64)
    const bundleSecret = plain.subarray(64, 96)
    if (!uint8Equal(companionIdentity, input.companionIdentityPub)) {
        throw new Error('key bundle names another companion identity')
    }
    if (!uint8Equal(primaryIdentity, input.accountIdentity.pubKey)) {
        throw new Error('key bundle names another primary identity')
    }
    const sharedIdentity = await X25519.scalarMult(
        input.accountIdentity.privKey,
        input.companionIdentityPub
    )
    return hkdf(
        Buffer.concat([sharedEphemeral, sharedIdentity, bundleSecret]),
        null,
        ADV_SECRET_INFO,
        32
    )
}
