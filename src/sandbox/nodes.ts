/**
 * Small helpers the sandbox uses to read and build binary nodes, JIDs and stanza attributes.
 */
import { createHash } from 'node:crypto'

import type { Logger } from 'zapo-js'
import { randomBytesAsync } from 'zapo-js/crypto'
import type { BinaryNode } from 'zapo-js/transport'

export const HOST_DOMAIN = 's.whatsapp.net'

export function noopLogger(): Logger {
    const noop = () => undefined
    return { level: 'error', trace: noop, debug: noop, info: noop, warn: noop, error: noop }
}

export function bytesContent(node: BinaryNode | undefined): Uint8Array | null {
    const content = node?.content
    if (content instanceof Uint8Array) return content
    if (typeof content === 'string') return new TextEncoder().encode(content)
    return null
}

export function textContent(node: BinaryNode | undefined): string | null {
    const content = node?.content
    if (typeof content === 'string') return content
    if (content instanceof Uint8Array) return new TextDecoder().decode(content)
    return null
}

export function children(node: BinaryNode | undefined): readonly BinaryNode[] {
    const content = node?.content
    return Array.isArray(content) ? (content as readonly BinaryNode[]) : []
}

export function child(node: BinaryNode | undefined, tag: string): BinaryNode | undefined {
    return children(node).find(entry => entry.tag === tag)
}

export function readUint(bytes: Uint8Array | null): number {
    if (!bytes) return 0
    let value = 0
    for (const byte of bytes) value = value * 256 + byte
    return value
}

export function toNumber(value: unknown): number | null {
    if (value === null || value === undefined) return null
    if (typeof value === 'number') return value
    if (typeof value === 'object' && 'toNumber' in value) {
        return (value as { toNumber(): number }).toNumber()
    }
    return Number(value)
}

export function nowSeconds(): string {
    return String(Math.floor(Date.now() / 1000))
}

export function delay(ms: number): Promise<void> {
    return new Promise(resolve => setTimeout(resolve, ms))
}

export async function randomHex(bytes: number): Promise<string> {
    return Buffer.from(await randomBytesAsync(bytes))
        .toString('hex')
        .toUpperCase()
}

export async function randomDigits(count: number): Promise<string> {
    const bytes = await randomBytesAsync(count)
    let out = ''
    for (const byte of bytes) out += String(byte % 10)
    return out
}

export function normalizeUserJid(value: string): string {
    if (value.includes('@')) return value
    const digits = value.replace(/[^\d]/g, '')
    if (digits.length === 0) throw new Error(`not a phone number or JID: ${value}`)
    return `${digits}@${HOST_DOMAIN}`
}

export function uintBytes(length: number, value: number): Uint8Array {
    const out = new Uint8Array(length)
    let rest = value
    for (let i = length - 1; i >= 0; i -= 1) {
        out[i] = rest & 0xff
        rest = Math.floor(rest / 256)
    }
    return out
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
    return new Uint8Array(Buffer.concat(parts.map(part => Buffer.from(part))))
}

export function sha1Sync(data: Uint8Array): Uint8Array {
    return new Uint8Array(createHash('sha1').update(data).digest())
}

/** The `result` answer to a client's iq. */
export function iqResult(request: BinaryNode, content?: BinaryNode[]): BinaryNode {
    return {
        tag: 'iq',
        attrs: {
            from: request.attrs.to ?? HOST_DOMAIN,
            id: request.attrs.id ?? '',
            type: 'result'
        },
        ...(content ? { content } : {})
    }
}

/** The `error` answer to a client's iq. */
export function iqError(request: BinaryNode, code: number, text: string): BinaryNode {
    return {
        tag: 'iq',
        attrs: { from: request.attrs.to ?? HOST_DOMAIN, id: request.attrs.id ?? '', type: 'error' },
        content: [{ tag: 'error', attrs: { code: String(code), text } }]
    }
}
