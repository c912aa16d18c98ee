/**
 * Files holding secrets: written with mode 0600, atomically (a temporary file
 * in the same directory, fsync, then rename), and never over an existing file
 * unless the caller forces it.
 */

import { randomBytes } from 'node:crypto'
import { existsSync, linkSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs'
import { open, readFile, stat } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import { ZapoError, usageError } from '../errors.js'
import { atForcedStop } from '../interrupt.js'

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

export interface AtomicWriteOptions {
    readonly force: boolean
    /**
     * Called before each chunk is written and, last, right before the rename: throwing stops the
     * write (an interrupt) and nothing is left behind.
     */
    readonly checkpoint?: () => void
}

/**
 * Writes every chunk of `source` to `path` atomically with mode 0600: a temporary file in the
 * same directory, fsync, then one rename — the single commit point. Before it, an error or a
 * `checkpoint` that throws removes the temporary file and leaves no output; a forced stop
 * removes it too (atForcedStop). The last checkpoint and the rename run in one synchronous step,
 * so an interrupt is either before the commit (no file) or after it (the complete file).
 * Without `force` an existing file is never replaced, even one created while this ran (the
 * commit is then a hard link, which fails on an existing name).
 */
export async function writeFileAtomic(
    path: string,
    source: AsyncIterable<Uint8Array>,
    options: AtomicWriteOptions
): Promise<{ readonly path: string; readonly bytes: number }> {
    const target = resolve(path)
    refuseExisting(target, options.force)
    removeStaleTemps(target)
    const temp = join(
        dirname(target),
        `.${basename(target)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`
    )
    // registered before the file exists: a forced stop at any later moment removes it
    const forget = atForcedStop(() => rmSync(temp, { force: true }))
    let handle: import('node:fs/promises').FileHandle
    try {
        handle = await open(temp, 'wx', 0o600)
    } catch (error) {
        forget()
        throw writeError(target, error)
    }
    let bytes = 0
    try {
        try {
            for await (const chunk of source) {
                options.checkpoint?.()
                await handle.write(chunk)
                bytes += chunk.byteLength
            }
            options.checkpoint?.()
            await handle.sync()
        } finally {
            await handle.close()
        }
        options.checkpoint?.()
        commitSync(temp, target, options.force)
    } catch (error) {
        rmSync(temp, { force: true })
        if (error instanceof ZapoError) throw error
        throw writeError(target, error)
    } finally {
        forget()
    }
    await syncDirectory(dirname(target))
    return { path: target, bytes }
}

/**
 * Removes the temporary files an earlier write to `target` left when its process was killed
 * outright (kill -9): `.NAME.PID.RANDOM.tmp` beside it, whose process no longer runs.
 */
function removeStaleTemps(target: string): void {
    const prefix = `.${basename(target)}.`
    let names: string[]
    try {
        names = readdirSync(dirname(target))
    } catch {
        return
    }
    for (const name of names) {
        if (!name.startsWith(prefix) || !name.endsWith('.tmp')) continue
        const pid = /^(\d+)\.[0-9a-f]{12}$/.exec(name.slice(prefix.length, -'.tmp'.length))?.[1]
        if (pid !== undefined && !processRuns(Number(pid)))
            rmSync(join(dirname(target), name), { force: true })
    }
}

function processRuns(pid: number): boolean {
    try {
        process.kill(pid, 0)
        return true
    } catch (error) {
        return (error as NodeJS.ErrnoException).code === 'EPERM'
    }
}

/** The commit: `temp` becomes `target` in one step (synchronous: nothing runs in between). */
function commitSync(temp: string, target: string, force: boolean): void {
    if (force) {
        renameSync(temp, target)
        return
    }
    try {
        linkSync(temp, target)
    } catch (error) {
        const code = (error as NodeJS.ErrnoException).code
        if (code === 'EEXIST') refuseExisting(target, false)
        // file systems without hard links: check, then rename
        if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EXDEV')
            throw error
        refuseExisting(target, false)
        renameSync(temp, target)
        return
    }
    rmSync(temp, { force: true })
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
