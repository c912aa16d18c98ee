/**
 * Output primitives shared by every command.
 *
 * stdout carries results only: in `--json` mode exactly one JSON document per
 * command (or one object per line for streams). Everything else (progress,
 * warnings, QR codes, logs) goes to stderr.
 *
 * Bytes are always rendered as standard padded base64 strings; secrets are
 * redacted here, by the serialiser, not by each caller.
 */

import type { Writable } from 'node:stream'
import { wrapProse } from './ui/format.js'

export interface Io {
    readonly stdout: Writable & { readonly isTTY?: boolean }
    readonly stderr: Writable & { readonly isTTY?: boolean }
    readonly stdinIsTTY: boolean
    /** true when the user asked for machine-readable output */
    readonly json: boolean
    /** colour is allowed at all (no --no-color, NO_COLOR, FORCE_COLOR=0 or TERM=dumb) and one stream is a terminal */
    readonly color: boolean
    /** colour in what goes to stdout: allowed, and stdout is a terminal (a file or pipe gets none) */
    readonly colorOut: boolean
    /** colour in what goes to stderr: allowed, and stderr is a terminal */
    readonly colorErr: boolean
    /** stderr is a terminal that moves its cursor (not TERM=dumb): redrawn lines and frames */
    readonly cursor: boolean
    readonly debug: boolean
}

export function processIo(flags: {
    readonly json?: boolean
    readonly color?: boolean
    readonly debug?: boolean
}): Io {
    const env = process.env
    const dumb = env.TERM === 'dumb'
    const allowed =
        flags.color !== false &&
        !(env.NO_COLOR !== undefined && env.NO_COLOR !== '') &&
        !dumb &&
        env.FORCE_COLOR !== '0'
    const colorOut = allowed && Boolean(process.stdout.isTTY)
    const colorErr = allowed && Boolean(process.stderr.isTTY)
    return {
        stdout: process.stdout,
        stderr: process.stderr,
        stdinIsTTY: Boolean(process.stdin.isTTY),
        json: flags.json === true,
        color: colorOut || colorErr,
        colorOut,
        colorErr,
        cursor: Boolean(process.stderr.isTTY) && !dumb,
        debug: flags.debug === true
    }
}

/** The width of the terminal on stderr (80 when it is not one). */
export function stderrColumns(io: Io): number {
    const columns = (io.stderr as { readonly columns?: number }).columns
    return typeof columns === 'number' && columns > 0 ? columns : 80
}

/** The width of stdout when it is a terminal (read at each call: it follows a resize); null when piped. */
export function stdoutColumns(io: Io): number | null {
    const columns = (io.stdout as { readonly columns?: number }).columns
    return io.stdout.isTTY === true && typeof columns === 'number' && columns > 0 ? columns : null
}

/** Field names whose values are secrets: redacted unless the caller explicitly reveals. */
export const SECRET_FIELDS: ReadonlySet<string> = new Set([
    'privKey',
    'privateKey',
    'private',
    'advSecretKey',
    'advSecret',
    'companionEncStatic',
    'chainKey',
    'rootKey',
    'macKey',
    'cipherKey',
    'keyData',
    'seed',
    'tcToken',
    'nctSalt',
    'passphrase'
])

export const REDACTED = '[redacted]'

export interface JsonOptions {
    /** show secret fields instead of "[redacted]" */
    readonly reveal?: boolean
}

/** The type of `toJsonValue(value)` for a `T` made of plain objects, arrays, bytes and primitives. */
export type Serialised<T> = T extends Uint8Array
    ? string
    : T extends readonly (infer E)[]
      ? Serialised<E>[]
      : T extends object
        ? { readonly [K in keyof T]: Serialised<T[K]> }
        : T

/** Converts a value into something JSON.stringify renders the way zapo documents. */
export function toJsonValue(value: unknown, options: JsonOptions = {}): unknown {
    return convert(value, options, undefined, new WeakSet())
}

function convert(
    value: unknown,
    options: JsonOptions,
    key: string | undefined,
    seen: WeakSet<object>
): unknown {
    if (
        key !== undefined &&
        !options.reveal &&
        SECRET_FIELDS.has(key) &&
        value !== undefined &&
        value !== null
    ) {
        return REDACTED
    }
    if (value === null || value === undefined) return value ?? null
    if (typeof value === 'bigint') return value.toString()
    if (typeof value === 'number') return Number.isFinite(value) ? value : null
    if (typeof value !== 'object') return value
    if (value instanceof Uint8Array) return base64(value)
    if (value instanceof ArrayBuffer) return base64(new Uint8Array(value))
    if (value instanceof Date) return value.toISOString()
    if (value instanceof Error) return { name: value.name, message: value.message }
    if (seen.has(value)) return '[circular]'
    seen.add(value)
    try {
        if (value instanceof Map) {
            const out: Record<string, unknown> = {}
            for (const [k, v] of value) out[String(k)] = convert(v, options, String(k), seen)
            return out
        }
        if (value instanceof Set) return [...value].map(v => convert(v, options, undefined, seen))
        if (Array.isArray(value)) return value.map(v => convert(v, options, undefined, seen))
        if (typeof (value as { toJSON?: unknown }).toJSON === 'function' && !isPlainObject(value)) {
            return convert((value as { toJSON(): unknown }).toJSON(), options, key, seen)
        }
        const out: Record<string, unknown> = {}
        for (const [k, v] of Object.entries(value)) {
            if (v === undefined || typeof v === 'function') continue
            out[k] = convert(v, options, k, seen)
        }
        return out
    } finally {
        seen.delete(value)
    }
}

function isPlainObject(value: object): boolean {
    const proto = Object.getPrototypeOf(value)
    return proto === Object.prototype || proto === null
}

export function base64(bytes: Uint8Array): string {
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')
}

export function stringifyJson(
    value: unknown,
    options: JsonOptions & { readonly pretty?: boolean } = {}
): string {
    return JSON.stringify(toJsonValue(value, options), null, options.pretty ? 2 : undefined)
}

/** Writes one JSON document (pretty on a TTY, compact otherwise) to stdout. */
export function printJson(io: Io, value: unknown, options: JsonOptions = {}): void {
    io.stdout.write(stringifyJson(value, { ...options, pretty: Boolean(io.stdout.isTTY) }) + '\n')
}

/** Writes one NDJSON line to stdout. */
export function printJsonLine(io: Io, value: unknown, options: JsonOptions = {}): boolean {
    return io.stdout.write(stringifyJson(value, options) + '\n')
}

export function printLine(io: Io, line = ''): void {
    io.stdout.write(line + '\n')
}

/** A line for people on stderr; on a terminal, wrapped at word boundaries with a hanging indent. */
export function note(io: Io, line: string): void {
    io.stderr.write((io.stderr.isTTY ? wrapProse(line, stderrColumns(io) - 1) : line) + '\n')
}
