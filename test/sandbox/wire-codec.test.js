/**
 * The `WA 6 2` wire dialect (Baileys 6.x) against the real library: the version-2 token
 * dictionary is the one Baileys ships, nodes Baileys encodes decode to what it meant, nodes the
 * sandbox encodes decode in Baileys to what the sandbox meant; and one certificate chain serves
 * both clients (issuer serial 0, which Baileys checks, and zapo-js's full verification).
 */
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { test } from 'node:test'

import { verifyNoiseCertificateChain } from 'zapo-js/transport'
import { proto } from 'zapo-js'

import { DICTIONARIES_V2, SINGLE_BYTE_TOKENS_V2 } from '../../dist/sandbox/dictionary-v2.js'
import { createServerIdentity } from '../../dist/sandbox/noise.js'
import { dialectFor } from '../../dist/sandbox/transport.js'
import { MAX_INFLATED_STANZA, createNodeCodec } from '../../dist/sandbox/wire-codec.js'

const require = createRequire(import.meta.url)
const baileysTokens = require('baileys/lib/WABinary/constants.js')
const { encodeBinaryNode, decodeBinaryNode } = require('baileys/lib/WABinary')

const v2 = createNodeCodec({ singleByte: SINGLE_BYTE_TOKENS_V2, dictionaries: DICTIONARIES_V2 })

/** What a node means, whichever codec produced it: strings for attributes, bytes as hex. */
function meaning(node) {
    const content = node.content
    let shape
    if (Array.isArray(content)) shape = content.map(meaning)
    else if (content === undefined || content === null) shape = null
    else if (typeof content === 'string') shape = Buffer.from(content).toString('hex')
    else shape = Buffer.from(content).toString('hex')
    return { tag: node.tag, attrs: { ...node.attrs }, content: shape }
}

const SAMPLES = [
    { tag: 'props', attrs: { protocol: '2', hash: '' } },
    {
        tag: 'iq',
        attrs: { id: '48605.14904-1', xmlns: 'encrypt', type: 'get', to: 's.whatsapp.net' },
        content: [{ tag: 'count', attrs: {} }]
    },
    {
        tag: 'message',
        attrs: {
            id: '3EB0A1B2C3D4E5F6',
            from: '120363000000000001@g.us',
            participant: '15550001111:3@s.whatsapp.net',
            recipient: '15551234567:12@lid',
            notify: 'Grüße, peer',
            t: '1796191092'
        },
        content: [
            { tag: 'enc', attrs: { v: '2', type: 'skmsg' }, content: new Uint8Array([1, 2, 255]) },
            { tag: 'enc', attrs: { v: '2', type: 'pkmsg' }, content: new Uint8Array(300).fill(7) }
        ]
    },
    { tag: 'ib', attrs: {}, content: [{ tag: 'offline', attrs: { count: '0' } }] },
    { tag: 'success', attrs: { t: '1796191092', lid: '12169143544091:1@lid', props: '12' } }
]

test('the version-2 token dictionary is the one Baileys 6.x ships', () => {
    assert.deepEqual([...SINGLE_BYTE_TOKENS_V2], [...baileysTokens.SINGLE_BYTE_TOKENS])
    assert.equal(DICTIONARIES_V2.length, 4)
    DICTIONARIES_V2.forEach((dictionary, i) =>
        assert.deepEqual([...dictionary], [...baileysTokens.DOUBLE_BYTE_TOKENS[i]])
    )
})

test('what Baileys encodes, the sandbox decodes to the same node (empty values, odd ids, JIDs)', async () => {
    for (const sample of SAMPLES) {
        const bytes = new Uint8Array(encodeBinaryNode(toBaileys(sample)))
        const decoded = await v2.decodeStanza(bytes)
        assert.deepEqual(meaning(decoded), meaning(sample), sample.tag)
    }
})

test('what the sandbox encodes, Baileys decodes to the same node', async () => {
    for (const sample of SAMPLES) {
        const decoded = await decodeBinaryNode(Buffer.from(v2.encodeStanza(sample)))
        assert.deepEqual(meaning(decoded), meaning(sample), sample.tag)
    }
})

test('a compressed stanza (flags byte 2, zlib) is inflated first', async () => {
    const { deflateSync } = await import('node:zlib')
    const plain = encodeBinaryNode(toBaileys(SAMPLES[1]))
    const compressed = Buffer.concat([Buffer.from([2]), deflateSync(plain.subarray(1))])
    assert.deepEqual(meaning(await v2.decodeStanza(compressed)), meaning(SAMPLES[1]))
})

test('a compressed stanza that inflates beyond the limit is refused, not inflated', async () => {
    const { deflateSync } = await import('node:zlib')
    const bomb = deflateSync(Buffer.alloc(MAX_INFLATED_STANZA + 1))
    assert.ok(bomb.length < 64 * 1024)
    await assert.rejects(
        v2.decodeStanza(Buffer.concat([Buffer.from([2]), bomb])),
        /compressed stanza does not inflate/
    )
    await assert.rejects(
        v2.decodeStanza(Buffer.from([2, 1, 2, 3])),
        /compressed stanza does not inflate/
    )
})

test('truncated or unknown input is an error, never a node', async () => {
    const bytes = v2.encodeStanza(SAMPLES[2])
    await assert.rejects(v2.decodeStanza(bytes.subarray(0, bytes.length - 5)), /ends early/)
    await assert.rejects(v2.decodeStanza(new Uint8Array([0, 248, 1, 246])), /unknown string tag/)
    await assert.rejects(v2.decodeStanza(new Uint8Array(0)), /empty stanza/)
})

test('the dialect is chosen by the connection header; an unknown header gets none', () => {
    assert.equal(dialectFor(new Uint8Array([87, 65, 6, 3]))?.name, 'wa-6-3')
    assert.equal(dialectFor(new Uint8Array([87, 65, 6, 2]))?.name, 'wa-6-2')
    assert.equal(dialectFor(new Uint8Array([87, 65, 6, 1])), null)
    assert.equal(dialectFor(new Uint8Array([87, 65, 5, 2])), null)
})

test('one certificate chain: issuer serial 0 for Baileys, still fully verified by zapo-js', async () => {
    const identity = await createServerIdentity()
    const chain = proto.CertChain.decode(identity.certChain)
    const details = proto.CertChain.NoiseCertificate.Details.decode(chain.intermediate.details)
    assert.equal(Number(details.issuerSerial ?? 0), 0)
    assert.equal(identity.rootCa.serial, 0)
    await verifyNoiseCertificateChain(
        identity.certChain,
        identity.staticKeyPair.pubKey,
        identity.rootCa
    )
    const other = await createServerIdentity()
    await assert.rejects(
        verifyNoiseCertificateChain(
            identity.certChain,
            identity.staticKeyPair.pubKey,
            other.rootCa
        ),
        /signature is invalid/
    )
    await assert.rejects(
        verifyNoiseCertificateChain(identity.certChain, identity.staticKeyPair.pubKey, {
            ...identity.rootCa,
            serial: 1
        }),
        /issuer mismatch/
    )
})

/** Baileys wants Buffers for binary content. */
function toBaileys(node) {
    const content = Array.isArray(node.content)
        ? node.content.map(toBaileys)
        : node.content instanceof Uint8Array
          ? Buffer.from(node.content)
          : node.content
    return { tag: node.tag, attrs: node.attrs, ...(content === undefined ? {} : { content }) }
}

test('a connection with a header no known client sends is closed without a handshake answer', async t => {
    const { startTestSandbox } = await import('./helpers.js')
    const { WebSocket } = await import('ws')
    const sandbox = await startTestSandbox(t)
    const ws = new WebSocket(sandbox.url)
    await new Promise((resolve, reject) => {
        ws.once('open', resolve)
        ws.once('error', reject)
    })
    const answers = []
    ws.on('message', data => answers.push(data))
    const hello = proto.HandshakeMessage.encode({
        clientHello: { ephemeral: new Uint8Array(32).fill(9) }
    }).finish()
    const frame = Buffer.concat([
        Buffer.from([87, 65, 6, 1]),
        Buffer.from([0, 0, hello.length]),
        Buffer.from(hello)
    ])
    ws.send(frame)
    await new Promise(resolve => ws.once('close', resolve))
    assert.deepEqual(answers, [])
})
