/**
 * checkCredentialIntegrity (dist/ops/integrity.js) on credentials made with zapo-js's own
 * generators: what each check catches, that bad records fail instead of throwing, and that the
 * caller's records are never modified (XEdDSA verification flips bits of the signature it gets).
 */

import assert from 'node:assert/strict'
import test from 'node:test'
import { proto } from 'zapo-js'
import { randomBytesAsync, X25519, xeddsaSign } from 'zapo-js/crypto'
import { generateRegistrationInfo, generateSignedPreKey } from 'zapo-js/signal'
import { checkCredentialIntegrity, publicKeyFingerprint } from '../../dist/ops/integrity.js'
import { makeSignedIdentity } from '../helpers/fixtures.js'

async function freshCredentials({ paired = true } = {}) {
    const registrationInfo = await generateRegistrationInfo()
    const signedPreKey = await generateSignedPreKey(
        7,
        new Uint8Array(registrationInfo.identityKeyPair.privKey)
    )
    const credentials = {
        noiseKeyPair: await X25519.generateKeyPair(),
        registrationInfo,
        signedPreKey,
        advSecretKey: await randomBytesAsync(32)
    }
    if (!paired) return credentials
    const { signedIdentity } = await makeSignedIdentity(registrationInfo.identityKeyPair)
    return { ...credentials, signedIdentity, meJid: '15550000001:3@s.whatsapp.net' }
}

const statusOf = (report, name) => report.checks.find(c => c.name === name)?.status

function flip(bytes, index = 3) {
    const copy = new Uint8Array(bytes)
    copy[index] ^= 0x01
    return copy
}

test('consistent paired credentials pass every check, in a stable order', async () => {
    const credentials = await freshCredentials()
    const report = await checkCredentialIntegrity({
        credentials,
        registration: credentials.registrationInfo,
        signedPreKey: credentials.signedPreKey
    })
    assert.equal(report.ok, true)
    assert.deepEqual(
        report.checks.map(c => `${c.name}:${c.status}`),
        [
            'identity-key-pair:pass',
            'noise-key-pair:pass',
            'signed-prekey-key-pair:pass',
            'signed-prekey-signature:pass',
            'registration-identity:pass',
            'signal-signed-prekey:pass',
            'adv-account-signature:pass',
            'adv-device-signature:pass'
        ]
    )
})

test('an unpaired device skips the ADV checks and is ok', async () => {
    const credentials = await freshCredentials({ paired: false })
    const report = await checkCredentialIntegrity({
        credentials,
        registration: credentials.registrationInfo,
        signedPreKey: credentials.signedPreKey
    })
    assert.equal(report.ok, true)
    assert.equal(statusOf(report, 'adv-account-signature'), 'skip')
    assert.equal(statusOf(report, 'adv-device-signature'), 'skip')
})

test('each corruption fails its own check', async () => {
    const base = await freshCredentials()
    const other = await generateRegistrationInfo()
    const otherPair = await X25519.generateKeyPair()
    const cases = [
        [
            'noise-key-pair',
            { ...base, noiseKeyPair: { ...base.noiseKeyPair, pubKey: otherPair.pubKey } }
        ],
        [
            'identity-key-pair',
            {
                ...base,
                registrationInfo: {
                    ...base.registrationInfo,
                    identityKeyPair: {
                        ...base.registrationInfo.identityKeyPair,
                        privKey: otherPair.privKey
                    }
                }
            }
        ],
        [
            'signed-prekey-key-pair',
            {
                ...base,
                signedPreKey: {
                    ...base.signedPreKey,
                    keyPair: { ...base.signedPreKey.keyPair, privKey: otherPair.privKey }
                }
            }
        ],
        [
            'signed-prekey-signature',
            {
                ...base,
                signedPreKey: {
                    ...base.signedPreKey,
                    signature: flip(base.signedPreKey.signature, 20)
                }
            }
        ],
        [
            'adv-account-signature',
            {
                ...base,
                signedIdentity: {
                    ...base.signedIdentity,
                    accountSignature: flip(base.signedIdentity.accountSignature)
                }
            }
        ],
        [
            'adv-device-signature',
            {
                ...base,
                signedIdentity: {
                    ...base.signedIdentity,
                    deviceSignature: flip(base.signedIdentity.deviceSignature)
                }
            }
        ],
        [
            'adv-account-signature',
            {
                ...base,
                signedIdentity: {
                    ...base.signedIdentity,
                    details: flip(base.signedIdentity.details, 1)
                }
            }
        ]
    ]
    for (const [failing, credentials] of cases) {
        const report = await checkCredentialIntegrity({
            credentials,
            registration: credentials.registrationInfo,
            signedPreKey: credentials.signedPreKey
        })
        assert.equal(report.ok, false, failing)
        assert.equal(
            statusOf(report, failing),
            'fail',
            `${failing}: ${JSON.stringify(report.checks)}`
        )
    }
    // the Signal domain disagreeing with the credentials
    const mismatch = await checkCredentialIntegrity({
        credentials: base,
        registration: other,
        signedPreKey: base.signedPreKey
    })
    assert.equal(statusOf(mismatch, 'registration-identity'), 'fail')
    assert.match(
        mismatch.checks.find(c => c.name === 'registration-identity').detail,
        /identity public key differs/
    )
    // zapo-js rotates the signed prekey in the signal domain only: a newer, validly signed key
    // there passes; the same id with other bytes, an older id or a bad signature fails
    const privKey = new Uint8Array(base.registrationInfo.identityKeyPair.privKey)
    const withSignal = signedPreKey =>
        checkCredentialIntegrity({
            credentials: base,
            registration: base.registrationInfo,
            signedPreKey
        })
    const next = await generateSignedPreKey(8, privKey)
    const rotated = await withSignal(next)
    assert.equal(rotated.ok, true)
    assert.match(
        rotated.checks.find(c => c.name === 'signal-signed-prekey').detail,
        /rotation of the credentials' 7/
    )
    const forged = await withSignal({ ...next, signature: flip(next.signature, 9) })
    assert.equal(statusOf(forged, 'signal-signed-prekey'), 'fail')
    const sameId = await withSignal(await generateSignedPreKey(7, privKey))
    assert.equal(statusOf(sameId, 'signal-signed-prekey'), 'fail')
    const older = await withSignal(await generateSignedPreKey(6, privKey))
    assert.equal(statusOf(older, 'signal-signed-prekey'), 'fail')
})

test('half-written stores: missing Signal records and a paired device without an ADV identity fail', async () => {
    const base = await freshCredentials()
    const report = await checkCredentialIntegrity({
        credentials: base,
        registration: null,
        signedPreKey: null
    })
    assert.equal(statusOf(report, 'registration-identity'), 'fail')
    assert.equal(statusOf(report, 'signal-signed-prekey'), 'fail')
    const { signedIdentity: _dropped, ...noAdv } = base
    const paired = await checkCredentialIntegrity({
        credentials: noAdv,
        registration: base.registrationInfo,
        signedPreKey: base.signedPreKey
    })
    assert.equal(statusOf(paired, 'adv-account-signature'), 'fail')
    assert.match(
        paired.checks.find(c => c.name === 'adv-account-signature').detail,
        /half-written pairing/
    )
})

test('malformed records fail a check instead of throwing', async () => {
    const base = await freshCredentials()
    const credentials = {
        ...base,
        noiseKeyPair: { pubKey: new Uint8Array(5), privKey: new Uint8Array(31) },
        signedPreKey: { ...base.signedPreKey, signature: new Uint8Array(3) },
        signedIdentity: { ...base.signedIdentity, accountSignatureKey: new Uint8Array(7) }
    }
    const report = await checkCredentialIntegrity({
        credentials,
        registration: base.registrationInfo,
        signedPreKey: base.signedPreKey
    })
    assert.equal(report.ok, false)
    assert.equal(statusOf(report, 'noise-key-pair'), 'fail')
    assert.equal(statusOf(report, 'signed-prekey-signature'), 'fail')
    assert.equal(statusOf(report, 'adv-account-signature'), 'fail')
})

test('a hosted account (ADV prefixes 6,5 and 6,6) verifies, whatever type the details say', async () => {
    const base = await freshCredentials({ paired: false })
    const account = await X25519.generateKeyPair()
    const identity = base.registrationInfo.identityKeyPair
    const cat = parts => new Uint8Array(Buffer.concat(parts.map(p => Buffer.from(p))))
    // the type pairing used came from the HMAC wrapper, which is not stored: details may say either
    for (const accountType of [proto.ADVEncryptionType.HOSTED, proto.ADVEncryptionType.E2EE]) {
        const details = proto.ADVDeviceIdentity.encode({
            rawId: 9,
            timestamp: 1_700_000_000,
            keyIndex: 2,
            accountType
        }).finish()
        const accountSignature = await xeddsaSign(
            new Uint8Array(account.privKey),
            cat([[6, 5], details, identity.pubKey])
        )
        const deviceSignature = await xeddsaSign(
            new Uint8Array(identity.privKey),
            cat([[6, 6], details, identity.pubKey, account.pubKey])
        )
        const signedIdentity = {
            details,
            accountSignature,
            accountSignatureKey: account.pubKey,
            deviceSignature
        }
        const check = signed =>
            checkCredentialIntegrity({
                credentials: { ...base, meJid: '1:2@s.whatsapp.net', signedIdentity: signed },
                registration: base.registrationInfo,
                signedPreKey: base.signedPreKey
            })
        const report = await check(signedIdentity)
        assert.equal(report.ok, true, JSON.stringify(report.checks))
        assert.match(report.checks.find(c => c.name === 'adv-account-signature').detail, /hosted/)
        // still no way through for a bad signature
        const forged = await check({
            ...signedIdentity,
            accountSignature: flip(accountSignature, 7)
        })
        assert.equal(statusOf(forged, 'adv-account-signature'), 'fail')
    }
})

test('33-byte serialized public keys (0x05 prefix) are the same keys', async () => {
    const base = await freshCredentials()
    const serialized = key => new Uint8Array([5, ...key])
    const registration = {
        ...base.registrationInfo,
        identityKeyPair: {
            ...base.registrationInfo.identityKeyPair,
            pubKey: serialized(base.registrationInfo.identityKeyPair.pubKey)
        }
    }
    const report = await checkCredentialIntegrity({
        credentials: base,
        registration,
        signedPreKey: base.signedPreKey
    })
    assert.equal(statusOf(report, 'registration-identity'), 'pass')
    assert.equal(
        publicKeyFingerprint(registration.identityKeyPair.pubKey),
        publicKeyFingerprint(base.registrationInfo.identityKeyPair.pubKey)
    )
    assert.match(publicKeyFingerprint(base.noiseKeyPair.pubKey), /^[0-9a-f]{16}$/)
})

test('the caller’s records are not modified', async () => {
    const credentials = await freshCredentials()
    // bytes as hex: a byte-for-byte snapshot whatever the Uint8Array subclass (Buffer or not)
    const snapshot = value =>
        JSON.stringify(value, (_key, v) =>
            v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v
        )
    const before = snapshot(credentials)
    await checkCredentialIntegrity({
        credentials,
        registration: credentials.registrationInfo,
        signedPreKey: credentials.signedPreKey
    })
    assert.equal(snapshot(credentials), before)
})
