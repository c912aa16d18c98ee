/**
 * The responder (server) side of the WhatsApp Web Noise handshake: XX, IK (resume) and
 * XXfallback, plus the certificate chain the client verifies against `testHooks.noiseRootCa`.
 * Built on the primitives `zapo-js/crypto` exports; the protobufs come from `zapo-js`.
 */
import { proto } from 'zapo-js'
import {
    X25519,
    aesGcmDecrypt,
    aesGcmEncrypt,
    buildNonce,
    hkdfSplit,
    importAesGcmKey,
    randomIntAsync,
    sha256,
    xeddsaSign
} from 'zapo-js/crypto'
import type { CryptoKey } from 'zapo-js/crypto'

export interface KeyPair {
    readonly pubKey: Uint8Array
    readonly privKey: Uint8Array
}

export interface ServerIdentity {
    readonly rootCa: { readonly publicKey: Uint8Array; readonly serial: number }
    readonly staticKeyPair: KeyPair
    readonly certChain: Uint8Array
}

const TEXT = new TextEncoder()
const NOISE_XX = TEXT.encode('Noise_XX_25519_AESGCM_SHA256\0\0\0\0')
const NOISE_IK = TEXT.encode('Noise_IK_25519_AESGCM_SHA256\0\0\0\0')
const NOISE_XX_FALLBACK = TEXT.encode('Noise_XXfallback_25519_AESGCM_SHA256')
const EMPTY = new Uint8Array(0)

export const HandshakeMode = Object.freeze({
    XX: 'xx',
    IK: 'ik',
    XX_FALLBACK: 'xx_fallback'
} as const)
export type HandshakeMode = (typeof HandshakeMode)[keyof typeof HandshakeMode]

/**
 * The root's serial, as the intermediate certificate names it (`issuerSerial`). The production root
 * has serial 0, and Baileys 6.x checks exactly that and nothing else of the chain; zapo-js checks
 * the serial against the trusted root's and both signatures, so one chain serves both clients.
 */
export const ROOT_SERIAL = 0

/** Generates the root, an intermediate, and the server static key with its leaf certificate. */
export async function createServerIdentity(): Promise<ServerIdentity> {
    const [root, intermediate, staticKeyPair, intermediateSerial] = await Promise.all([
        X25519.generateKeyPair(),
        X25519.generateKeyPair(),
        X25519.generateKeyPair(),
        randomIntAsync(1, 0xffff)
    ])
    const rootSerial = ROOT_SERIAL
    const nowSeconds = Math.floor(Date.now() / 1000)
    const intermediateDetails = proto.CertChain.NoiseCertificate.Details.encode({
        serial: intermediateSerial,
        issuerSerial: rootSerial,
        key: intermediate.pubKey,
        notBefore: nowSeconds - 60,
        notAfter: nowSeconds + 365 * 24 * 3600
    }).finish()
    const leafDetails = proto.CertChain.NoiseCertificate.Details.encode({
        serial: intermediateSerial + 1,
        issuerSerial: intermediateSerial,
        key: staticKeyPair.pubKey,
        notBefore: nowSeconds - 60,
        notAfter: nowSeconds + 30 * 24 * 3600
    }).finish()
    const [intermediateSignature, leafSignature] = await Promise.all([
        xeddsaSign(root.privKey, intermediateDetails),
        xeddsaSign(intermediate.privKey, leafDetails)
    ])
    const certChain = proto.CertChain.encode({
        intermediate: { details: intermediateDetails, signature: intermediateSignature },
        leaf: { details: leafDetails, signature: leafSignature }
    }).finish()
    return {
        rootCa: { publicKey: root.pubKey, serial: rootSerial },
        staticKeyPair,
        certChain
    }
}

/** Noise symmetric state (h, ck, k, n) as both ends of the WhatsApp handshake use it. */
class SymmetricState {
    private hash: Uint8Array = EMPTY
    private chainingKey: Uint8Array = EMPTY
    private key: CryptoKey | null = null
    private nonce = 0

    async init(protocolName: Uint8Array, prologue: Uint8Array): Promise<void> {
        const start = protocolName.length === 32 ? protocolName : await sha256(protocolName)
        this.hash = start
        this.chainingKey = start
        this.key = await importAesGcmKey(start, ['encrypt', 'decrypt'])
        this.nonce = 0
        await this.mixHash(prologue)
    }

    async mixHash(data: Uint8Array): Promise<void> {
        const joined = new Uint8Array(this.hash.length + data.length)
        joined.set(this.hash, 0)
        joined.set(data, this.hash.length)
        this.hash = await sha256(joined)
    }

    async mixKey(material: Uint8Array): Promise<void> {
        const [chainingKey, key] = await hkdfSplit(material, this.chainingKey, '')
        this.chainingKey = chainingKey
        this.key = await importAesGcmKey(key, ['encrypt', 'decrypt'])
        this.nonce = 0
    }

    async encrypt(plaintext: Uint8Array): Promise<Uint8Array> {
        if (!this.key) throw new Error('noise key is not initialised')
        const out = await aesGcmEncrypt(this.key, buildNonce(this.nonce++), plaintext, this.hash)
        await this.mixHash(out)
        return out
    }

    async decrypt(ciphertext: Uint8Array): Promise<Uint8Array> {
        if (!this.key) throw new Error('noise key is not initialised')
        const out = await aesGcmDecrypt(this.key, buildNonce(this.nonce++), ciphertext, this.hash)
        await this.mixHash(ciphertext)
        return out
    }

    /** Responder split: the first key is the client's write key (our read key). */
    async splitForResponder(): Promise<NoiseTransport> {
        const [clientWrite, serverWrite] = await hkdfSplit(EMPTY, this.chainingKey, '')
        const [readKey, writeKey] = await Promise.all([
            importAesGcmKey(clientWrite, ['decrypt']),
            importAesGcmKey(serverWrite, ['encrypt'])
        ])
        return new NoiseTransport(readKey, writeKey)
    }
}

/** Post-handshake transport: AES-GCM with per-direction counters. Callers keep frame order. */
export class NoiseTransport {
    private readCounter = 0
    private writeCounter = 0

    constructor(
        private readonly readKey: CryptoKey,
        private readonly writeKey: CryptoKey
    ) {}

    encrypt(plaintext: Uint8Array): Promise<Uint8Array> {
        return aesGcmEncrypt(this.writeKey, buildNonce(this.writeCounter++), plaintext)
    }

    decrypt(ciphertext: Uint8Array): Promise<Uint8Array> {
        return aesGcmDecrypt(this.readKey, buildNonce(this.readCounter++), ciphertext)
    }
}

export interface HandshakeResult {
    readonly transport: NoiseTransport
    readonly clientStatic: Uint8Array
    readonly payload: proto.ClientPayload
    readonly mode: HandshakeMode
}

export type FrameReader = () => Promise<Uint8Array>
export type FrameWriter = (frame: Uint8Array) => void

function requireBytes(value: Uint8Array | null | undefined, what: string): Uint8Array {
    if (!value || value.length === 0) throw new Error(`noise handshake: missing ${what}`)
    return value
}

/**
 * Runs the responder side for one connection. `prologue` is what both ends hash first (the
 * connection header the client sent); `first` is the client hello frame; more frames are pulled
 * from `read`. IK is accepted when the client presents our current static key; a resume attempt
 * against any other key is answered with XXfallback, as the real service does.
 */
export async function respondToHandshake(
    identity: ServerIdentity,
    prologue: Uint8Array,
    first: Uint8Array,
    read: FrameReader,
    write: FrameWriter
): Promise<HandshakeResult> {
    const hello = proto.HandshakeMessage.decode(first).clientHello
    const clientEphemeral = requireBytes(hello?.ephemeral, 'client ephemeral')
    const ends = { identity, prologue, read, write }
    if (hello?.static && hello.static.length > 0 && hello.payload) {
        const resumed = await tryResume(ends, clientEphemeral, hello.static, hello.payload)
        if (resumed) return resumed
        return respondFull(ends, NOISE_XX_FALLBACK, clientEphemeral, 'xx_fallback')
    }
    return respondFull(ends, NOISE_XX, clientEphemeral, 'xx')
}

/** One handshake's fixed inputs: our identity, the prologue, and the frame reader and writer. */
interface HandshakeEnds {
    readonly identity: ServerIdentity
    readonly prologue: Uint8Array
    readonly read: FrameReader
    readonly write: FrameWriter
}

async function respondFull(
    { identity, prologue, read, write }: HandshakeEnds,
    protocolName: Uint8Array,
    clientEphemeral: Uint8Array,
    mode: HandshakeMode
): Promise<HandshakeResult> {
    const state = new SymmetricState()
    await state.init(protocolName, prologue)
    await state.mixHash(clientEphemeral)
    const ephemeral = await X25519.generateKeyPair()
    await state.mixHash(ephemeral.pubKey)
    await state.mixKey(await X25519.scalarMult(ephemeral.privKey, clientEphemeral))
    const encryptedStatic = await state.encrypt(identity.staticKeyPair.pubKey)
    await state.mixKey(await X25519.scalarMult(identity.staticKeyPair.privKey, clientEphemeral))
    const encryptedCert = await state.encrypt(identity.certChain)
    write(
        proto.HandshakeMessage.encode({
            serverHello: {
                ephemeral: ephemeral.pubKey,
                static: encryptedStatic,
                payload: encryptedCert
            }
        }).finish()
    )
    const finish = proto.HandshakeMessage.decode(await read()).clientFinish
    const clientStatic = await state.decrypt(requireBytes(finish?.static, 'client static'))
    await state.mixKey(await X25519.scalarMult(ephemeral.privKey, clientStatic))
    const payloadBytes = await state.decrypt(requireBytes(finish?.payload, 'client payload'))
    return {
        transport: await state.splitForResponder(),
        clientStatic,
        payload: proto.ClientPayload.decode(payloadBytes),
        mode
    }
}

async function tryResume(
    { identity, prologue, write }: HandshakeEnds,
    clientEphemeral: Uint8Array,
    encryptedStatic: Uint8Array,
    encryptedPayload: Uint8Array
): Promise<HandshakeResult | null> {
    const state = new SymmetricState()
    await state.init(NOISE_IK, prologue)
    await state.mixHash(identity.staticKeyPair.pubKey)
    await state.mixHash(clientEphemeral)
    let clientStatic: Uint8Array
    let payloadBytes: Uint8Array
    try {
        await state.mixKey(await X25519.scalarMult(identity.staticKeyPair.privKey, clientEphemeral))
        clientStatic = await state.decrypt(encryptedStatic)
        await state.mixKey(await X25519.scalarMult(identity.staticKeyPair.privKey, clientStatic))
        payloadBytes = await state.decrypt(encryptedPayload)
    } catch {
        return null
    }
    const ephemeral = await X25519.generateKeyPair()
    await state.mixHash(ephemeral.pubKey)
    await state.mixKey(await X25519.scalarMult(ephemeral.privKey, clientEphemeral))
    await state.mixKey(await X25519.scalarMult(ephemeral.privKey, clientStatic))
    const encryptedCert = await state.encrypt(identity.certChain)
    write(
        proto.HandshakeMessage.encode({
            serverHello: { ephemeral: ephemeral.pubKey, payload: encryptedCert }
        }).finish()
    )
    return {
        transport: await state.splitForResponder(),
        clientStatic,
        payload: proto.ClientPayload.decode(payloadBytes),
        mode: 'ik'
    }
}
