/**
 * The age layer of zapo exports, on the `age-encryption` package: a
 * passphrase (scrypt recipient) or X25519 / hybrid recipients, binary or
 * ASCII-armored. Decryption failures are sorted into the tool's exit codes:
 * a wrong passphrase or identity is DECRYPT_FAILED, a damaged file BAD_FILE.
 */

import { armor, Decrypter, Encrypter } from 'age-encryption'
import { ZapoError, usageError } from '../errors.js'

export type Encryption =
    | { readonly kind: 'passphrase'; readonly passphrase: string; readonly workFactor?: number }
    | { readonly kind: 'recipients'; readonly recipients: readonly string[] }

export type Decryption = {
    readonly passphrase: string | null
    readonly identities: readonly string[]
}

const AGE_MAGIC = 'age-encryption.org/v1\n'
const ARMOR_BEGIN = '-----BEGIN AGE ENCRYPTED FILE-----'

/** The scrypt work factor age uses by default (log2 N); the reference CLI uses the same. */
const DEFAULT_SCRYPT_WORK_FACTOR = 18

function encrypterFor(encryption: Encryption): Encrypter {
    const encrypter = new Encrypter()
    if (encryption.kind === 'passphrase') {
        encrypter.setPassphrase(encryption.passphrase)
        encrypter.setScryptWorkFactor(encryption.workFactor ?? DEFAULT_SCRYPT_WORK_FACTOR)
    } else {
        for (const recipient of encryption.recipients) encrypter.addRecipient(recipient)
    }
    return encrypter
}

/** Encrypts a plaintext stream; the result streams the binary age file. */
export async function encryptStream(
    plaintext: ReadableStream<Uint8Array>,
    encryption: Encryption
): Promise<ReadableStream<Uint8Array>> {
    return encrypterFor(encryption).encrypt(plaintext)
}

/** ASCII armor for a complete binary age file. */
export function armorEncode(file: Uint8Array): Uint8Array {
    return new TextEncoder().encode(armor.encode(file))
}

/** Checks one recipient string; a usage error names the problem. */
export function checkRecipient(recipient: string, where: string): string {
    const value = recipient.trim()
    if (value.startsWith('ssh-') || value.startsWith('ecdsa-')) {
        throw usageError(
            `${where}: SSH public keys are not supported as recipients; use an age1… key (age-keygen -y identity.txt prints it)`
        )
    }
    try {
        new Encrypter().addRecipient(value)
    } catch {
        throw usageError(
            `${where}: "${value.slice(0, 24)}${value.length > 24 ? '…' : ''}" is not an age recipient; use an age1… public key`
        )
    }
    return value
}

/** The recipients in a recipients file: one per line, blank lines and # comments ignored. */
export function parseRecipientsFile(text: string, path: string): string[] {
    const out: string[] = []
    text.split(/\r?\n/).forEach((line, i) => {
        const value = line.trim()
        if (value === '' || value.startsWith('#')) return
        out.push(checkRecipient(value, `${path}:${i + 1}`))
    })
    if (out.length === 0)
        throw usageError(
            `recipients file ${path} holds no recipient; add age1… public keys, one per line`
        )
    return out
}

/** The identities in an age identity file (age-keygen output): AGE-SECRET-KEY-1… lines, # comments ignored. */
export function parseIdentityFile(text: string, path: string): string[] {
    const out: string[] = []
    for (const line of text.split(/\r?\n/)) {
        const value = line.trim()
        if (value === '' || value.startsWith('#')) continue
        if (!/^AGE-SECRET-KEY-(PQ-)?1[0-9A-Z]+$/.test(value)) {
            throw usageError(
                `${path} is not an age identity file: expected AGE-SECRET-KEY-1… lines (as age-keygen writes them)`
            )
        }
        out.push(value)
    }
    if (out.length === 0)
        throw usageError(
            `identity file ${path} holds no AGE-SECRET-KEY-1… line; pass the file age-keygen wrote`
        )
    return out
}

export interface AgeFileInfo {
    readonly armored: boolean
    /** the binary age file (armor removed) */
    readonly binary: Uint8Array
    /** how the file key is wrapped: a passphrase (scrypt) or recipients */
    readonly kind: 'passphrase' | 'recipients'
    /** the stanza types in the header, e.g. ["scrypt"] or ["X25519", "X25519"] */
    readonly stanzas: readonly string[]
}

function notAgeFile(detail: string): ZapoError {
    return new ZapoError(
        'BAD_FILE',
        `${detail}: it is not a zapo export; pass a file written by \`zapo export\``,
        { reason: 'not-age' }
    )
}

/** Recognises an age file (binary or armored) and reads how it is encrypted; never decrypts. */
export function inspectAgeFile(bytes: Uint8Array, name: string): AgeFileInfo {
    let binary = bytes
    let armored = false
    const start = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.byteLength, 256))
        .toString('latin1')
        .trimStart()
    if (start.startsWith(ARMOR_BEGIN)) {
        armored = true
        try {
            binary = armor.decode(
                Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1')
            )
        } catch (error) {
            throw new ZapoError(
                'BAD_FILE',
                `${name} is armored but its armor is damaged (${(error as Error).message}): the file is truncated or altered; use an intact copy`,
                { reason: 'armor' }
            )
        }
    }
    const headText = Buffer.from(
        binary.buffer,
        binary.byteOffset,
        Math.min(binary.byteLength, 64 * 1024)
    ).toString('latin1')
    if (!headText.startsWith(AGE_MAGIC)) {
        if (bytes.byteLength === 0) throw notAgeFile(`${name} is empty`)
        throw notAgeFile(`${name} is not an age-encrypted file`)
    }
    const stanzas: string[] = []
    for (const line of headText.slice(AGE_MAGIC.length).split('\n')) {
        if (line.startsWith('---')) break
        const match = /^-> (\S+)/.exec(line)
        if (match) stanzas.push(match[1]!)
    }
    if (stanzas.length === 0) {
        throw new ZapoError(
            'BAD_FILE',
            `${name} has a damaged age header: the file is truncated or altered; use an intact copy`,
            { reason: 'header' }
        )
    }
    return {
        armored,
        binary,
        kind: stanzas.includes('scrypt') ? 'passphrase' : 'recipients',
        stanzas
    }
}

/** Decrypts a binary age file; failures become DECRYPT_FAILED (wrong key) or BAD_FILE (damaged). */
export async function decryptAge(
    info: AgeFileInfo,
    decryption: Decryption,
    name: string
): Promise<Uint8Array> {
    const decrypter = new Decrypter()
    if (decryption.passphrase !== null) decrypter.addPassphrase(decryption.passphrase)
    for (const identity of decryption.identities) decrypter.addIdentity(identity)
    let out: ReadableStream<Uint8Array>
    try {
        const input = new Blob([info.binary]).stream() as ReadableStream<Uint8Array>
        out = await decrypter.decrypt(input)
    } catch (error) {
        const message = (error as Error).message ?? ''
        if (/no identity matched/.test(message)) {
            throw new ZapoError(
                'DECRYPT_FAILED',
                info.kind === 'passphrase'
                    ? `wrong passphrase for ${name}: check the passphrase (file or ZAPO_PASSPHRASE) and try again`
                    : `none of the given identities can decrypt ${name}: pass the identity file of one of its recipients with --identity`,
                { encryption: info.kind }
            )
        }
        if (/work factor is too high/.test(message)) {
            throw new ZapoError(
                'BAD_FILE',
                `${name} asks for an scrypt work factor above 2^20: it was not written by zapo; refusing to spend that much memory`,
                {
                    reason: 'header'
                }
            )
        }
        throw new ZapoError(
            'BAD_FILE',
            `${name} has a damaged or altered age header (${message}): use an intact copy`,
            { reason: 'header' }
        )
    }
    const chunks: Uint8Array[] = []
    let size = 0
    try {
        const reader = out.getReader()
        for (;;) {
            const { done, value } = await reader.read()
            if (done) break
            chunks.push(value)
            size += value.byteLength
        }
    } catch (error) {
        throw new ZapoError(
            'BAD_FILE',
            `${name} is truncated or was altered: its encrypted payload fails authentication (${(error as Error).message}); use an intact copy`,
            { reason: 'payload' }
        )
    }
    const plaintext = new Uint8Array(size)
    let at = 0
    for (const chunk of chunks) {
        plaintext.set(chunk, at)
        at += chunk.byteLength
    }
    return plaintext
}
