/**
 * Record conversions shared by the foreign formats (baileys/, whatsmeow/), into what the zapo-js
 * store contracts take. The encodings themselves are zapo-js's: a converted Signal session is
 * handed to zapo-js's own decoder (`decodeSignalSessionRecord`) as the libsignal
 * `RecordStructure` protobuf it reads, so whatever zapo-js would refuse is refused here, at
 * conversion time, and not at the first message.
 *
 * Key sizes: zapo-js keeps key pairs with 32-byte raw public keys and puts 33-byte public keys
 * (0x05-prefixed, "serialized") in Signal session records, as libsignal does.
 */

import { hkdfSync } from 'node:crypto'
import { createRequire } from 'node:module'
import type { proto } from 'zapo-js/proto'
import type { SignalAddress, SignalSessionRecord } from 'zapo-js/signal'
import { zapoProto, zapoSignal } from '../../zapo-cjs.js'

const DJB_TYPE = 0x05

/** A public key as a 32-byte raw key (a 33-byte 0x05-prefixed one loses its prefix). */
export function rawPublicKey(key: Uint8Array, what: string): Uint8Array {
    if (key.byteLength === 32) return key
    if (key.byteLength === 33 && key[0] === DJB_TYPE) return key.subarray(1)
    throw new Error(`${what} is ${key.byteLength} bytes, not a Curve25519 public key`)
}

/** A public key as the 33-byte 0x05-prefixed key Signal records hold. */
export function serializedPublicKey(key: Uint8Array, what: string): Uint8Array {
    const raw = rawPublicKey(key, what)
    const out = new Uint8Array(33)
    out[0] = DJB_TYPE
    out.set(raw, 1)
    return out
}

/** A 32-byte secret, checked. */
export function key32(key: Uint8Array | undefined | null, what: string): Uint8Array {
    if (!key || key.byteLength !== 32)
        throw new Error(`${what} is ${key ? `${key.byteLength} bytes` : 'missing'}, not 32 bytes`)
    return key
}

/**
 * The Signal servers of the address suffixes the libraries append to a user (`user_1.0` is a
 * LID user): 1 LID, 128 hosted, 129 hosted LID. zapo-js keys hosted devices under their
 * canonical server (`canonicalizeSignalServer`), as its own lookups do.
 */
const SUFFIX_SERVERS: Readonly<Record<string, string>> = Object.freeze({
    '': 's.whatsapp.net',
    '0': 's.whatsapp.net',
    '1': 'lid',
    '128': 'hosted',
    '129': 'hosted.lid'
})

/**
 * A libsignal protocol address as the libraries spell it (`user.device`, `user_1.device`) as a
 * zapo-js Signal address; null when it is not one.
 */
export function parseProtocolAddress(name: string): SignalAddress | null {
    const m = /^([^@:._\s]+)(?:_(\d+))?\.(\d+)$/.exec(name)
    if (!m) return null
    const server = SUFFIX_SERVERS[m[2] ?? '']
    if (server === undefined) return null
    return { user: m[1]!, server: canonicalServer(server), device: Number(m[3]) }
}

/** A device JID (`user:device@server`) as a zapo-js Signal address; null when it is not one. */
export function addressOfJid(jid: string): SignalAddress | null {
    const m = /^([^@:\s]+?)(?::(\d+))?@([a-z.]+)$/.exec(jid)
    if (!m) return null
    return { user: m[1]!, server: canonicalServer(m[3]!), device: Number(m[2] ?? 0) }
}

function canonicalServer(server: string): string {
    return zapoProtocol().canonicalizeSignalServer(server)
}

/** zapo-js's JID rules, through its CommonJS build like the rest of the store layer. */
const requireCjs = createRequire(import.meta.url)
const zapoProtocol = (): typeof import('zapo-js/protocol') =>
    requireCjs('zapo-js/protocol') as typeof import('zapo-js/protocol')

/** A message key of libsignal's chains from its 32-byte seed (HKDF "WhisperMessageKeys"). */
export function messageKeyFromSeed(
    index: number,
    seed: Uint8Array
): proto.SessionStructure.Chain.IMessageKey {
    const out = new Uint8Array(
        hkdfSync('sha256', seed, new Uint8Array(32), 'WhisperMessageKeys', 80)
    )
    return {
        index,
        cipherKey: out.subarray(0, 32),
        macKey: out.subarray(32, 64),
        iv: out.subarray(64, 80)
    }
}

/** One libsignal session state in the shape of the `SessionStructure` protobuf. */
export type SessionState = proto.ISessionStructure

/**
 * A Signal session record from its states, the current one first and the previous ones most
 * recent first, through zapo-js's own decoder (which checks every key length).
 */
export function sessionRecordOf(
    current: SessionState,
    previous: readonly SessionState[]
): SignalSessionRecord {
    const proto = zapoProto()
    const bytes = proto.RecordStructure.encode({
        currentSession: current,
        previousSessions: [...previous]
    }).finish()
    return zapoSignal().decodeSignalSessionRecord(bytes)
}

/** A JSON-ish number (Long-like objects of protobufjs included) as a number; null when absent. */
export function toNumber(value: unknown): number | null {
    if (value === null || value === undefined) return null
    if (typeof value === 'number') return value
    if (typeof value === 'string' && /^-?\d+$/.test(value)) return Number(value)
    if (typeof value === 'object' && 'low' in (value as object)) {
        const v = value as { low: number; high: number; unsigned?: boolean }
        return v.high * 0x1_0000_0000 + (v.low >>> 0)
    }
    return null
}
