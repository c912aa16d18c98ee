import assert from 'node:assert/strict'
import { test } from 'node:test'
import { proto } from 'zapo-js'
import { X25519, xeddsaSign } from 'zapo-js/crypto'

import { buildPairSuccessIdentity, verifyPairDeviceSign } from '../../dist/sandbox/pairing.js'

/** What a companion sends back in `pair-device-sign`, signed with `signer`'s private key. */
async function deviceSign(details, companion, account, signer) {
    const deviceSignature = await xeddsaSign(
        signer.privKey,
        Buffer.concat([new Uint8Array([6, 1]), details, companion.pubKey, account.pubKey])
    )
    return proto.ADVSignedDeviceIdentity.encode({ details, deviceSignature }).finish()
}

test('pair-device-sign: the sandbox accepts only the companion signing the details it was sent', async () => {
    const [account, companion, stranger] = await Promise.all([
        X25519.generateKeyPair(),
        X25519.generateKeyPair(),
        X25519.generateKeyPair()
    ])
    const identity = await buildPairSuccessIdentity({
        accountIdentity: account,
        companionIdentityPub: companion.pubKey,
        advSecret: new Uint8Array(32).fill(7),
        keyIndex: 1
    })
    const check = signedIdentityBytes =>
        verifyPairDeviceSign({
            signedIdentityBytes,
            expectedDetails: identity.details,
            companionIdentityPub: companion.pubKey,
            accountIdentityPub: account.pubKey
        })

    const good = await deviceSign(identity.details, companion, account, companion)
    assert.equal(await check(good), true)

    const otherKey = await deviceSign(identity.details, companion, account, stranger)
    assert.equal(await check(otherKey), false, 'signed by a key that is not the companion')

    const altered = Uint8Array.from(identity.details)
    altered[altered.length - 1] ^= 1
    const otherDetails = await deviceSign(altered, companion, account, companion)
    assert.equal(await check(otherDetails), false, 'details differ from what pair-success carried')
})
