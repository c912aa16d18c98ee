/**
 * Files holding secrets: written with mode 0600, atomically (a temporary file
 * in the same directory, fsync, then rename), and never over an existing file
 * unless the caller forces it.
 */

import { randomBytes } from 'node:crypto'
import { existsSync, statSync } from 'node:fs'
import { link, open, readFile, rename, stat, unlink } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import { ZapoError, usageError } from '../errors.js'

/** Throws EXISTS when `path` exists and `force` is not set. */
export function refuseExisting(path: string, force: boolean, flag = '--force'): void {
    if (!force && existsSync(path)) {
        throw new ZapoError(
            'EXISTS',
            `${path} already exists: choose another file name or pass ${flag} to replace it`,
            { path }
        )
    }
}

function writeError(path: string, error: unknown): ZapoError {
    const code = (error as NodeJS.ErrnoException).code ?? 'error'
    if (code === 'ENOENT')
        return usageError(
            `cannot write ${path}: its directory does not exist; create it or choose another path`
        )
    if (code === 'EACCES' || code === 'EPERM')
        return usageError(
            `cannot write ${path}: permission denied; choose a directory you can write`
        )
    if (code === 'EISDIR')
        return usageError(`cannot write ${path}: it is a directory; pass a file name`)
    return new ZapoError(
        'INTERNAL',
        `cannot write ${path} (${code}): ${(error as Error).message}`,
        { path },
        { cause: error }
    )
}

/**
 * Writes every chunk of `source` to `path` atomically with mode 0600.
 * Without `force` an existing file is never replaced, even one created while
 * this ran (the final step is a hard link, which fails on an existing name).
 */
export async function writeFileAtomic(
    path: string,
    source: AsyncIterable<Uint8Array>,
    options: { readonly force: boolean }
): Promise<{ readonly path: string; readonly bytes: number }> {
    const target = resolve(path)
    refuseExisting(target, options.force)
    const temp = join(dirname(target), `.${basename(target)}.${randomBytes(6).toString('hex')}.tmp`)
    let handle: import('node:fs/promises').FileHandle
    try {
        handle = await open(temp, 'wx', 0o600)
    } catch (error) {
        throw writeError(target, error)
    }
    let bytes = 0
    let placed = false
    try {
        try {
            for await (const chunk of source) {
                await handle.write(chunk)
                bytes += chunk.byteLength
            }
            await handle.sync()
        } finally {
            await handle.close()
        }
        if (options.force) {
            await rename(temp, target)
        } else {
            try {
                await link(temp, target)
            } catch (error) {
                const code = (error as NodeJS.ErrnoException).code
                if (code === 'EEXIST') refuseExisting(target, false)
                // file systems without hard links: check, then rename
                if (
                    code !== 'EPERM' &&
                    code !== 'ENOTSUP' &&
                    code !== 'EOPNOTSUPP' &&
                    code !== 'EXDEV'
                )
                    throw error
                refuseExisting(target, false)
                await rename(temp, target)
                placed = true
            }
        }
        placed = true
    } catch (error) {
        await unlink(temp).catch(() => undefined)
        if (error instanceof ZapoError) throw error
        throw writeError(target, error)
    }
    if (placed) await unlink(temp).catch(() => undefined)
    await syncDirectory(dirname(target))
    return { path: target, bytes }
}

async function syncDirectory(dir: string): Promise<void> {
    try {
        const handle = await open(dir, 'r')
        try {
            await handle.sync()
        } finally {
            await handle.close()
        }
    } catch {
        // best effort: not every platform can fsync a directory
    }
}

/** Reads an input file (or stdin for "-") whole; a missing file is a usage error. */
export async function readInput(
    path: string,
    stdin: NodeJS.ReadableStream = process.stdin
): Promise<Uint8Array> {
    if (path === '-') {
        if ((stdin as { isTTY?: boolean }).isTTY)
            throw usageError(
                '"-" reads the export from stdin, but stdin is a terminal: pipe the file in, or pass its path'
            )
        const chunks: Buffer[] = []
        for await (const chunk of stdin)
            chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string))
        const all = Buffer.concat(chunks)
        return new Uint8Array(all.buffer, all.byteOffset, all.byteLength)
    }
    try {
        const info = await stat(path)
        if (info.isDirectory()) throw usageError(`${path} is a directory: pass the export file`)
        const data = await readFile(path)
        return new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
    } catch (error) {
        if (error instanceof ZapoError) throw error
        const code = (error as NodeJS.ErrnoException).code
        if (code === 'ENOENT')
            throw usageError(`no such file: ${path}; check the path of the export`)
        if (code === 'EACCES') throw usageError(`cannot read ${path}: permission denied`)
        throw error
    }
}

/** Reads a small secret file (passphrase, identity): first line for passphrases, whole text otherwise. */
export async function readSecretFile(path: string, what: string): Promise<string> {
    try {
        return await readFile(path, 'utf8')
    } catch (error) {
        const code = (error as NodeJS.ErrnoException).code
        if (code === 'ENOENT') throw usageError(`${what} ${path} does not exist; check the path`)
        if (code === 'EACCES') throw usageError(`cannot read ${what} ${path}: permission denied`)
        if (code === 'EISDIR') throw usageError(`${what} ${path} is a directory; pass a file`)
        throw error
    }
}

/** The passphrase in a passphrase file: its first line, without the line ending. */
export async function readPassphraseFile(path: string): Promise<string> {
    const text = await readSecretFile(path, 'passphrase file')
    const first = text.split(/\r?\n/)[0] ?? ''
    if (first === '')
        throw usageError(`passphrase file ${path} is empty: put the passphrase on its first line`)
    return first
}

/** A warning line when a secret file is readable or writable by group or others, else null. */
export function looseModeWarning(path: string, what: string): string | null {
    try {
        const mode = statSync(path).mode & 0o777
        if ((mode & 0o077) === 0) return null
        return `${what} ${path} is accessible to other users (mode ${mode.toString(8).padStart(4, '0')}): chmod 600 ${path}`
    } catch {
        return null
    }
}
