/**
 * A binary-node codec over a given token dictionary, for the wire dialects zapo-js's own codec
 * (dictionary version 3) does not speak. Decoded nodes have the shape zapo-js's decoder gives
 * (attribute values strings, content a node list or bytes), so the protocol modules never know
 * which dialect a connection speaks. Encoding writes what a server writes: tokens where the
 * dictionary has them, packed digits and hex, JIDs as JID pairs or device JIDs, else raw UTF-8.
 */
import { promisify } from 'node:util'
import { inflate } from 'node:zlib'

import type { BinaryNode } from 'zapo-js/transport'

const inflateAsync = promisify(inflate)

/** A compressed stanza may not inflate beyond this (a client cannot make the sandbox balloon). */
export const MAX_INFLATED_STANZA = 16 * 1024 * 1024

const TAG = Object.freeze({
    LIST_EMPTY: 0,
    DICTIONARY_0: 236,
    DICTIONARY_3: 239,
    AD_JID: 247,
    LIST_8: 248,
    LIST_16: 249,
    JID_PAIR: 250,
    HEX_8: 251,
    BINARY_8: 252,
    BINARY_20: 253,
    BINARY_32: 254,
    NIBBLE_8: 255
} as const)

const NIBBLES = '0123456789-.'
const HEX = '0123456789ABCDEF'
const PACKED_MAX = 127
const DOMAIN_OF_TYPE: Readonly<Record<number, string>> = Object.freeze({
    0: 's.whatsapp.net',
    1: 'lid',
    128: 'hosted',
    129: 'hosted.lid'
})
const TYPE_OF_DOMAIN: Readonly<Record<string, number>> = Object.freeze({
    's.whatsapp.net': 0,
    lid: 1,
    hosted: 128,
    'hosted.lid': 129
})

export interface TokenTables {
    /** byte N (1..) of a string is this list's entry N; entry 0 is the empty string */
    readonly singleByte: readonly string[]
    /** the four double-byte dictionaries (bytes 236..239, then an index byte) */
    readonly dictionaries: readonly (readonly string[])[]
}

export interface NodeCodec {
    /** a stanza as sent: a flags byte (0: plain), then the node */
    readonly encodeStanza: (node: BinaryNode) => Uint8Array
    /** a received stanza: flags byte (2: zlib-compressed), then the node */
    readonly decodeStanza: (bytes: Uint8Array) => Promise<BinaryNode>
}

export function createNodeCodec(tables: TokenTables): NodeCodec {
    const tokenOf = new Map<string, readonly [number] | readonly [number, number]>()
    tables.dictionaries.forEach((dictionary, d) => {
        dictionary.forEach((token, i) => {
            if (!tokenOf.has(token)) tokenOf.set(token, [TAG.DICTIONARY_0 + d, i])
        })
    })
    // single-byte tokens win over dictionary entries of the same text
    tables.singleByte.forEach((token, i) => {
        if (i > 0) tokenOf.set(token, [i])
    })

    const encodeStanza = (node: BinaryNode): Uint8Array => {
        const out = new Writer()
        out.byte(0)
        writeNode(node, out, tokenOf)
        return out.bytes()
    }
    const decodeStanza = async (bytes: Uint8Array): Promise<BinaryNode> => {
        if (bytes.length === 0) throw new Error('empty stanza')
        let body = bytes.subarray(1)
        if (((bytes[0] ?? 0) & 2) !== 0) {
            body = new Uint8Array(
                await inflateAsync(body, { maxOutputLength: MAX_INFLATED_STANZA }).catch(
                    (error: Error) => {
                        throw new Error(`compressed stanza does not inflate: ${error.message}`)
                    }
                )
            )
        }
        const reader = new Reader(body, tables)
        return reader.node()
    }
    return Object.freeze({ encodeStanza, decodeStanza })
}

class Writer {
    private readonly parts: number[] = []
    byte(value: number): void {
        this.parts.push(value & 0xff)
    }
    raw(bytes: Uint8Array): void {
        for (const b of bytes) this.parts.push(b)
    }
    bytes(): Uint8Array {
        return Uint8Array.from(this.parts)
    }
}

function writeLength(length: number, out: Writer): void {
    if (length < 256) {
        out.byte(TAG.BINARY_8)
        out.byte(length)
    } else if (length < 1 << 20) {
        out.byte(TAG.BINARY_20)
        out.byte((length >> 16) & 0x0f)
        out.byte(length >> 8)
        out.byte(length)
    } else {
        out.byte(TAG.BINARY_32)
        out.byte(length >>> 24)
        out.byte(length >> 16)
        out.byte(length >> 8)
        out.byte(length)
    }
}

function writeListStart(size: number, out: Writer): void {
    if (size === 0) out.byte(TAG.LIST_EMPTY)
    else if (size < 256) {
        out.byte(TAG.LIST_8)
        out.byte(size)
    } else {
        out.byte(TAG.LIST_16)
        out.byte(size >> 8)
        out.byte(size)
    }
}

function packable(value: string, alphabet: string): boolean {
    if (value.length === 0 || value.length > PACKED_MAX) return false
    for (const char of value) if (!alphabet.includes(char)) return false
    return true
}

function writePacked(value: string, tag: number, alphabet: string, out: Writer): void {
    out.byte(tag)
    const odd = value.length % 2 === 1
    out.byte(Math.ceil(value.length / 2) | (odd ? 0x80 : 0))
    for (let i = 0; i < value.length; i += 2) {
        const high = alphabet.indexOf(value[i] ?? '')
        const low = i + 1 < value.length ? alphabet.indexOf(value[i + 1] ?? '') : 15
        out.byte((high << 4) | low)
    }
}

type TokenIndex = ReadonlyMap<string, readonly [number] | readonly [number, number]>

function writeString(value: string, out: Writer, tokens: TokenIndex): void {
    if (value === '') {
        out.byte(TAG.LIST_EMPTY)
        return
    }
    const token = tokens.get(value)
    if (token) {
        for (const b of token) out.byte(b)
        return
    }
    if (packable(value, NIBBLES)) return writePacked(value, TAG.NIBBLE_8, NIBBLES, out)
    if (packable(value, HEX)) return writePacked(value, TAG.HEX_8, HEX, out)
    if (writeJid(value, out, tokens)) return
    const encoded = new TextEncoder().encode(value)
    writeLength(encoded.length, out)
    out.raw(encoded)
}

/** `user@server` as a JID pair, `user:device@s.whatsapp.net` (or lid, hosted) as a device JID. */
function writeJid(value: string, out: Writer, tokens: TokenIndex): boolean {
    const at = value.indexOf('@')
    if (at < 0 || value.indexOf('@', at + 1) >= 0) return false
    const server = value.slice(at + 1)
    const userPart = value.slice(0, at)
    const colon = userPart.indexOf(':')
    if (colon >= 0) {
        const domainType = TYPE_OF_DOMAIN[server]
        const device = Number(userPart.slice(colon + 1))
        const user = userPart.slice(0, colon)
        if (domainType === undefined || !/^\d{1,3}$/.test(userPart.slice(colon + 1))) return false
        if (device > 255 || user.includes('_')) return false
        out.byte(TAG.AD_JID)
        out.byte(domainType)
        out.byte(device)
        writeString(user, out, tokens)
        return true
    }
    if (server === '') return false
    out.byte(TAG.JID_PAIR)
    writeString(userPart, out, tokens)
    writeString(server, out, tokens)
    return true
}

function writeNode(node: BinaryNode, out: Writer, tokens: TokenIndex): void {
    const keys = Object.keys(node.attrs).filter(key => typeof node.attrs[key] === 'string')
    const content = node.content
    const hasContent = content !== undefined && content !== null
    writeListStart(1 + keys.length * 2 + (hasContent ? 1 : 0), out)
    writeString(node.tag, out, tokens)
    for (const key of keys) {
        writeString(key, out, tokens)
        writeString(node.attrs[key] as string, out, tokens)
    }
    if (!hasContent) return
    if (typeof content === 'string') {
        const encoded = new TextEncoder().encode(content)
        writeLength(encoded.length, out)
        out.raw(encoded)
    } else if (content instanceof Uint8Array) {
        writeLength(content.length, out)
        out.raw(content)
    } else {
        const list = content as readonly BinaryNode[]
        writeListStart(list.length, out)
        for (const child of list) writeNode(child, out, tokens)
    }
}

class Reader {
    private offset = 0
    constructor(
        private readonly data: Uint8Array,
        private readonly tables: TokenTables
    ) {}

    private byte(): number {
        if (this.offset >= this.data.length) throw new Error('binary node ends early')
        return this.data[this.offset++] as number
    }

    private take(length: number): Uint8Array {
        if (this.offset + length > this.data.length) throw new Error('binary node ends early')
        const out = this.data.slice(this.offset, this.offset + length)
        this.offset += length
        return out
    }

    private int(bytes: number): number {
        let value = 0
        for (let i = 0; i < bytes; i += 1) value = value * 256 + this.byte()
        return value
    }

    private binary(tag: number): Uint8Array | null {
        if (tag === TAG.BINARY_8) return this.take(this.byte())
        if (tag === TAG.BINARY_20) return this.take(((this.byte() & 0x0f) << 16) + this.int(2))
        if (tag === TAG.BINARY_32) return this.take(this.int(4))
        return null
    }

    private packed(alphabet: string): string {
        const head = this.byte()
        let text = ''
        for (let i = 0; i < (head & 0x7f); i += 1) {
            const b = this.byte()
            text += (alphabet[b >> 4] ?? '\0') + (alphabet[b & 0x0f] ?? '\0')
        }
        return (head & 0x80) !== 0 ? text.slice(0, -1) : text
    }

    string(tag: number): string {
        if (tag === TAG.LIST_EMPTY) return ''
        if (tag >= 1 && tag < this.tables.singleByte.length)
            return this.tables.singleByte[tag] ?? ''
        if (tag >= TAG.DICTIONARY_0 && tag <= TAG.DICTIONARY_3) {
            const index = this.byte()
            const token = this.tables.dictionaries[tag - TAG.DICTIONARY_0]?.[index]
            if (token === undefined) throw new Error(`unknown dictionary token ${tag}:${index}`)
            return token
        }
        const binary = this.binary(tag)
        if (binary) return new TextDecoder().decode(binary)
        if (tag === TAG.NIBBLE_8) return this.packed(NIBBLES)
        if (tag === TAG.HEX_8) return this.packed(HEX)
        if (tag === TAG.JID_PAIR) {
            const user = this.string(this.byte())
            const server = this.string(this.byte())
            return user ? `${user}@${server}` : server
        }
        if (tag === TAG.AD_JID) {
            const domainType = this.byte()
            const device = this.byte()
            const user = this.string(this.byte())
            const domain = DOMAIN_OF_TYPE[domainType] ?? 's.whatsapp.net'
            return device > 0 ? `${user}:${device}@${domain}` : `${user}@${domain}`
        }
        throw new Error(`unknown string tag ${tag}`)
    }

    private listSize(tag: number): number | null {
        if (tag === TAG.LIST_EMPTY) return 0
        if (tag === TAG.LIST_8) return this.byte()
        if (tag === TAG.LIST_16) return this.int(2)
        return null
    }

    node(): BinaryNode {
        const size = this.listSize(this.byte())
        if (!size) throw new Error('binary node: not a node')
        const tag = this.string(this.byte())
        if (!tag) throw new Error('binary node: no tag')
        const attrs: Record<string, string> = {}
        for (let i = 0; i < (size - 1) >> 1; i += 1) {
            const key = this.string(this.byte())
            attrs[key] = this.string(this.byte())
        }
        if (size % 2 === 1) return { tag, attrs }
        const contentTag = this.byte()
        const count = this.listSize(contentTag)
        if (count !== null) {
            if (count === 0) return { tag, attrs }
            const list: BinaryNode[] = []
            for (let i = 0; i < count; i += 1) list.push(this.node())
            return { tag, attrs, content: list }
        }
        const content = this.binary(contentTag) ?? new TextEncoder().encode(this.string(contentTag))
        return { tag, attrs, content }
    }
}
