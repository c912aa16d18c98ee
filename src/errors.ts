/**
 * One error type and one exit-code table for the whole tool.
 *
 * Every failure a user can cause or meet is a `ZapoError` with a stable
 * `code`; the top-level catch in main.ts maps the code to the process exit
 * code through `EXIT_CODES`. The README's exit-code table is printed from the
 * same data (`zapo help exit-codes`).
 */

export const EXIT_CODES = Object.freeze({
    OK: 0,
    INTERNAL: 1,
    USAGE: 2,
    SESSION_NOT_FOUND: 3,
    STORE_UNAVAILABLE: 4,
    INTEGRITY: 5,
    NOT_PAIRED: 6,
    EXISTS: 7,
    TIMEOUT: 8,
    CHECK_FAILED: 9,
    LOGGED_OUT: 10,
    REPLACED: 11,
    ACCOUNT_BLOCKED: 12,
    CLIENT_REJECTED: 13,
    CONNECTION_FAILED: 14,
    PAIRING_REFUSED: 15,
    DECRYPT_FAILED: 16,
    BAD_FILE: 17,
    UNSUPPORTED_VERSION: 18,
    VERIFY_FAILED: 19,
    UNTRUSTED_SERVER: 20,
    SESSION_BUSY: 21,
    CANCELLED: 130
} as const)

export type ZapoErrorCode = keyof typeof EXIT_CODES

/** What each exit code means; the README table and `zapo help exit-codes` print this. */
export const EXIT_CODE_MEANINGS: Readonly<Record<ZapoErrorCode, string>> = Object.freeze({
    OK: 'success: every requested step finished and every check passed',
    INTERNAL: 'unexpected internal error (rerun with --debug and report it)',
    USAGE: 'bad command line, store address or config file',
    SESSION_NOT_FOUND: 'the session, store file or database holds no such session',
    STORE_UNAVAILABLE: 'store unreachable, credentials rejected, or not a zapo store',
    INTEGRITY: 'stored credentials are inconsistent or corrupt',
    NOT_PAIRED: 'the session exists but is not paired (run `zapo pair`)',
    EXISTS: 'the target already exists and --force / --overwrite was not given',
    TIMEOUT: 'the operation did not finish within --timeout',
    CHECK_FAILED: 'a health check is below its threshold (prekey stock, key age, last login)',
    LOGGED_OUT: 'the server logged the device out or removed it (re-pair)',
    REPLACED: 'another connection with the same credentials took over',
    ACCOUNT_BLOCKED: 'the account is banned, locked or not authorised',
    CLIENT_REJECTED: 'the server rejected the client (too old, bad user agent)',
    CONNECTION_FAILED: 'could not connect to the WhatsApp server',
    PAIRING_REFUSED: 'the phone refused or cancelled the pairing',
    DECRYPT_FAILED: 'wrong passphrase or identity for an encrypted file',
    BAD_FILE: 'the file is not a zapo export, or is truncated or tampered with',
    UNSUPPORTED_VERSION: 'the file was written by a newer format version',
    VERIFY_FAILED: 'verification found records that differ between source and target',
    UNTRUSTED_SERVER:
        "the server's certificate does not chain to the trusted root (--server-root-ca, or WhatsApp's own)",
    SESSION_BUSY:
        'another zapo run (or an application holding its lease) is using the session; --wait DURATION waits',
    CANCELLED: 'interrupted (Ctrl-C) or cancelled at a prompt'
})

export class ZapoError extends Error {
    override readonly name = 'ZapoError'
    readonly code: ZapoErrorCode
    readonly meta: Readonly<Record<string, unknown>>

    constructor(
        code: ZapoErrorCode,
        message: string,
        meta: Readonly<Record<string, unknown>> = {},
        options?: { readonly cause?: unknown }
    ) {
        super(message, options)
        this.code = code
        this.meta = meta
    }

    get exitCode(): number {
        return EXIT_CODES[this.code]
    }
}

export function isZapoError(value: unknown): value is ZapoError {
    return value instanceof ZapoError
}

/** The first line of an error's message (at most `max` characters), for one-line reports. */
export function errorLine(error: unknown, max = 200): string {
    const message = (error as { message?: unknown } | null | undefined)?.message
    return String(message ?? error)
        .split('\n')[0]!
        .slice(0, max)
}

export function toError(value: unknown): Error {
    if (value instanceof Error) return value
    return new Error(typeof value === 'string' ? value : JSON.stringify(value))
}

export function usageError(
    message: string,
    meta: Readonly<Record<string, unknown>> = {}
): ZapoError {
    return new ZapoError('USAGE', message, meta)
}
