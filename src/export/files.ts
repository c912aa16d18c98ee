/**
 * Files holding secrets: written with mode 0600, atomically (a temporary file
 * in the same directory, fsync, then rename), and never over an existing file
 * unless the caller forces it.
 */

import { randomBytes } from 'node:crypto'
import {
    linkSync,
    lstatSync,
    readdirSync,
    realpathSync,
    renameSync,
    rmSync,
    statSync
} from 'node:fs'
import { open, readFile, stat } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import { osProblem, ZapoError, usageError } from '../errors.js'
import { atForcedStop } from '../interrupt.js'
import type { StoreSpec } from '../store/address.js'

/**
 * Throws EXISTS when something is at `path` (a dangling or looping symlink counts) and `force`
 * is not set; refuses (USAGE) a directory, device or fifo there even with `force`.
 */
export function refuseExisting(path: string, force: boolean, flag = '--force'): void {
    let entry: import('node:fs').Stats
    try {
        entry = lstatSync(path)
    } catch {
        return
    }
    let kind = entry.isSymbolicLink() ? null : entry
    if (kind === null) {
        try {
            kind = statSync(path)
        } catch {
            // a dangling or looping link: replacing it replaces the link
        }
    }
    if (kind !== null && !kind.isFile()) {
        throw usageError(
            `${path} is ${kind.isDirectory() ? 'a directory' : 'not a regular file'}: pass the path of a file to write`,
            { path }
        )
    }
    if (!force) {
        throw new ZapoError(
            'EXISTS',
            `${path} already exists: choose another file name or pass ${flag} to replace it`,
            { path }
        )
    }
}

/** A file a command reads, which its output must never replace. */
export interface InputFile {
    readonly path: string
    /** what it is, for the refusal: "the passphrase file", "the SQLite store sqlite:…" */
    readonly what: string
    /** a SQLite database: its -wal, -shm and -journal files are protected too */
    readonly sqlite?: boolean
}

/** The SQLite files of a store: an export must never be written over one of them. */
export function storeInputs(spec: StoreSpec): InputFile[] {
    return [spec.primary, ...Object.values(spec.backends)]
        .filter(backend => backend.kind === 'sqlite')
        .map(backend => ({
            path: backend.target,
            what: `the SQLite store ${backend.display}`,
            sqlite: true
        }))
}

const SQLITE_SIDECARS = Object.freeze(['-wal', '-shm', '-journal'] as const)

interface FileId {
    readonly dev: number
    readonly ino: number
}

/** The file a path names (symlinks followed), or null when there is none. */
function fileId(path: string): FileId | null {
    try {
        const info = statSync(path)
        return { dev: info.dev, ino: info.ino }
    } catch {
        return null
    }
}

/** The directory entry a path names: its directory's file id and its last component. */
function entryId(path: string): string | null {
    const dir = fileId(dirname(resolve(path)))
    return dir === null ? null : `${dir.dev}:${dir.ino}/${basename(resolve(path))}`
}

const sameFile = (a: FileId | null, b: FileId | null): boolean =>
    a !== null && b !== null && a.dev === b.dev && a.ino === b.ino

/**
 * Refuses (USAGE, whatever --force says) an output that is one of the files the command reads:
 * compared by device and inode, so a symlink, `./`, `//` or a hard link to an input is caught.
 * For a SQLite input its -wal, -shm and -journal files count too, existing or not (beside the
 * path as given and beside the file it resolves to).
 */
export function refuseOwnInputs(output: string, inputs: readonly InputFile[]): void {
    const outFile = fileId(output)
    const outEntry = entryId(output)
    for (const input of inputs) {
        let hit = sameFile(outFile, fileId(input.path))
        if (!hit && input.sqlite) {
            const bases = [input.path]
            try {
                bases.push(realpathSync(input.path))
            } catch {
                // not there (yet): its sidecars are named after the path as given
            }
            hit = bases.some(base =>
                SQLITE_SIDECARS.some(
                    suffix =>
                        sameFile(outFile, fileId(base + suffix)) ||
                        (outEntry !== null && outEntry === entryId(base + suffix))
                )
            )
        }
        if (hit) {
            throw usageError(
                `refusing to write ${output}: it is ${input.what}, which this command reads; choose another output file (--force does not change this)`,
                { path: output, input: input.path }
            )
        }
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
    if (code === 'ENOSPC' || code === 'EDQUOT')
        return usageError(
            `cannot write ${path}: ${osProblem(error)}; free some space or choose another path`,
            { path }
        )
    if (typeof (error as NodeJS.ErrnoException).syscall === 'string')
        return usageError(`cannot write ${path}: ${osProblem(error)}; choose another path`, {
            path,
            errno: code
        })
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
    /** files the output must never replace, checked again at the commit (see refuseOwnInputs) */
    readonly inputs?: readonly InputFile[]
    /** the file's mode (default 0600: exports hold secrets; metrics files are 0644) */
    readonly mode?: number
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
        handle = await open(temp, 'wx', options.mode ?? 0o600)
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
        refuseOwnInputs(target, options.inputs ?? [])
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
        throw usageError(`cannot read ${path}: ${osProblem(error)}; check the path of the export`)
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
        throw usageError(`cannot read ${what} ${path}: ${osProblem(error)}; check the path`)
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
