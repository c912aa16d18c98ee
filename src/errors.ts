/**
 * One error type and one exit-code table for the whole tool.
 *
 * Every failure a user can cause or meet is a `ZapoError` with a stable
 * `code`; the top-level catch in main.ts maps the code to the process exit
 * code through `EXIT_CODES`. The README's exit-code table and `zapo exit-codes`
 * print the same data.
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
    DECLINED: 22,
    CANCELLED: 130
} as const)

export type ZapoErrorCode = keyof typeof EXIT_CODES

/** What each exit code means; the README table and `zapo exit-codes` print this. */
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
    DECLINED: 'the answer to a confirmation was no; nothing was changed',
    CANCELLED: 'interrupted (Ctrl-C, or Escape at a prompt)'
})

/**
 * Every exit code, most severe first. A run with several outcomes (the sessions of `check
 * --all`, of `logs --all`) exits with the most severe of them (`worstExit`): a banned account
 * outranks a logged-out device, which outranks a transient connection failure.
 */
export const SEVERITY: readonly ZapoErrorCode[] = Object.freeze([
    'INTERNAL',
    'USAGE',
    'STORE_UNAVAILABLE',
    'INTEGRITY',
    'ACCOUNT_BLOCKED',
    'LOGGED_OUT',
    'CLIENT_REJECTED',
    'REPLACED',
    'SESSION_NOT_FOUND',
    'NOT_PAIRED',
    'UNTRUSTED_SERVER',
    'SESSION_BUSY',
    'CONNECTION_FAILED',
    'PAIRING_REFUSED',
    'DECRYPT_FAILED',
    'BAD_FILE',
    'UNSUPPORTED_VERSION',
    'VERIFY_FAILED',
    'EXISTS',
    'TIMEOUT',
    'CHECK_FAILED',
    'DECLINED',
    'CANCELLED',
    'OK'
] as const)

/** The most severe of some exit codes (OK when none). */
export function worstExit(codes: Iterable<ZapoErrorCode>): ZapoErrorCode {
    let worst: ZapoErrorCode = 'OK'
    for (const code of codes) {
        if (SEVERITY.indexOf(code) < SEVERITY.indexOf(worst)) worst = code
    }
    return worst
}

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

/** What the operating system's error codes mean, in words (`osProblem`). */
const OS_WORDS: Readonly<Record<string, string>> = Object.freeze({
    ENOENT: 'no such file or directory',
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    EISDIR: 'it is a directory',
    ENOTDIR: 'a part of the path is not a directory',
    ELOOP: 'too many symbolic links (a symlink loop?)',
    ENAMETOOLONG: 'the name is too long',
    EEXIST: 'it already exists',
    ENOSPC: 'no space left on the device',
    EDQUOT: 'disk quota exceeded',
    EROFS: 'read-only file system',
    EIO: 'input/output error',
    EBUSY: 'the file is busy',
    ETXTBSY: 'the file is busy',
    EMFILE: 'too many open files',
    ENFILE: 'too many open files',
    EXDEV: 'it is on another device',
    ENXIO: 'no such device',
    ENODEV: 'no such device',
    EINVAL: 'invalid argument'
})

/**
 * An operating-system error (EACCES, ENOENT, ENOSPC, …) in words, for a one-line message:
 * "permission denied". Errors without a known code give their first line.
 */
export function osProblem(error: unknown): string {
    const code = (error as { code?: unknown } | null)?.code
    if (typeof code === 'string' && OS_WORDS[code] !== undefined) return OS_WORDS[code]
    return errorLine(error, 120)
}

/** Echoed input longer than this (a run of characters without a space) is cut in the middle. */
export const ECHO_MAX_RUN = 160
/** A message longer than this is cut in the middle. */
export const MESSAGE_MAX = 1_000

// C0 and C1 controls, DEL, and the bidirectional overrides that reorder what a terminal shows
// eslint-disable-next-line no-control-regex
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/gu
const NAMED_ESCAPES: Readonly<Record<string, string>> = Object.freeze({
    '\n': '\\n',
    '\r': '\\r',
    '\t': '\\t',
    '\u001b': '\\e'
})

function cutMiddle(text: string, max: number): string {
    const chars = [...text]
    if (chars.length <= max) return text
    const head = Math.ceil(max * 0.6)
    const tail = max - head
    return `${chars.slice(0, head).join('')}…[${chars.length - max} characters left out]…${chars.slice(chars.length - tail).join('')}`
}

/**
 * A message as it may reach a terminal: control characters (ESC, newline, NUL, …) and
 * bidirectional overrides escaped (`\e`, `\n`, `\x00`, `\u202e`), an echoed id, path or URL
 * longer than ECHO_MAX_RUN characters cut in the middle, and the whole at most MESSAGE_MAX.
 * main.ts's error renderer passes every error line through it, so what a user typed is never
 * echoed raw, whichever command quotes it.
 */
export function printable(text: string): string {
    const escaped = text.replace(UNPRINTABLE, ch => {
        const named = NAMED_ESCAPES[ch]
        if (named !== undefined) return named
        const code = ch.codePointAt(0)!
        return code <= 0xff
            ? `\\x${code.toString(16).padStart(2, '0')}`
            : `\\u${code.toString(16).padStart(4, '0')}`
    })
    const runs = escaped.replace(/\S+/gu, run => cutMiddle(run, ECHO_MAX_RUN))
    return cutMiddle(runs, MESSAGE_MAX)
}

/**
 * commander's message as one line: `error: ` dropped, its suggestion (`(Did you mean …?)`) kept
 * on the same line, and passed through `printable` like every error line.
 */
export function usageLine(message: string): string {
    return printable(
        message
            .replace(/^error: /, '')
            .split('\n')
            .map(part => part.trim())
            .filter(Boolean)
            .join(' ')
            // commander ends some messages with a full stop; a `; run with --help` follows
            .replace(/\.$/, '')
    )
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
