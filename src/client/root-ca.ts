/**
 * The textual form of a Noise root certificate authority, as printed by `zapo sandbox --json`
 * (`rootCa`) and accepted verbatim by `--server-root-ca`.
 *
 * Format: `<serial>:<base64 public key>` where serial is a non-negative integer and the public
 * key is the 32-byte raw X25519 key in standard base64 (padding optional).
 */
export interface NoiseRootCa {
    readonly publicKey: Uint8Array
    readonly serial: number
}

const ROOT_CA_PATTERN = /^(\d{1,10}):([A-Za-z0-9+/]+={0,2})$/

class RootCaFormatError extends Error {
    readonly code = 'E_ROOT_CA_FORMAT'

    constructor(message: string) {
        super(message)
        this.name = 'RootCaFormatError'
    }
}

export function formatRootCa(rootCa: NoiseRootCa): string {
    if (!Number.isSafeInteger(rootCa.serial) || rootCa.serial < 0) {
        throw new RootCaFormatError('root CA serial must be a non-negative integer')
    }
    if (rootCa.publicKey.length !== 32) {
        throw new RootCaFormatError('root CA public key must be 32 bytes')
    }
    return `${rootCa.serial}:${Buffer.from(rootCa.publicKey).toString('base64')}`
}

export function parseRootCa(value: string): NoiseRootCa {
    const match = ROOT_CA_PATTERN.exec(value.trim())
    if (!match) {
        throw new RootCaFormatError(
            'invalid server root CA: expected "<serial>:<base64 public key>" ' +
                'as printed by zapo sandbox --json'
        )
    }
    const serial = Number(match[1])
    if (!Number.isSafeInteger(serial) || serial > 0xffff_ffff) {
        throw new RootCaFormatError('invalid server root CA: serial is out of range')
    }
    const publicKey = new Uint8Array(Buffer.from(match[2] ?? '', 'base64'))
    if (publicKey.length !== 32) {
        throw new RootCaFormatError(
            `invalid server root CA: public key must decode to 32 bytes, got ${publicKey.length}`
        )
    }
    return Object.freeze({ publicKey, serial })
}
