/**
 * `baileys:DIR` — a Baileys multi-file auth folder, read-only (conversion: ./folder.ts; what
 * the foreign stores share: ../foreign.ts).
 *
 *   baileys:./auth                 a folder holding creds.json: one session named after the folder
 *   baileys:./auth?session=t42     the same, named t42
 *   baileys:./sessions             a folder whose subfolders hold creds.json (the WAHA and
 *                                  Evolution API layouts): one session per subfolder
 *
 * Nothing is ever written: files are listed and read, and every command that would write is
 * refused before it starts (`unwritable`).
 */

import { existsSync, readdirSync, statSync } from 'node:fs'
import { basename, isAbsolute, join, resolve, sep } from 'node:path'
import { usageError, ZapoError } from '../../../errors.js'
import type { BackendSpec, SpecSource } from '../../address.js'
import type { ForeignSource } from '../foreign.js'
import { foreignBackend, readOnlyRefusal } from '../foreign.js'
import { addressPath, pathIdentity, realPathOf, splitQuery } from '../shared.js'
import type { BackendAdapter } from '../types.js'
import { isBaileysFile, loadBaileysSession } from './folder.js'

const TITLE = 'a Baileys auth folder'

/** Session ids zapo accepts (the rule of context.ts, repeated for folder names it derives). */
const SESSION_ID = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/

export const baileysBackend: BackendAdapter<'baileys'> = {
    kind: 'baileys',
    title: 'Baileys auth folder',
    packageName: 'baileys (read by zapo, no package needed)',
    driver: 'node:fs',
    schemes: ['baileys:'],
    names: ['baileys'],
    inProcess: true,
    prefixOption: null,
    envHint: 'ZAPO_BAILEYS',
    readOnly: TITLE,
    fromEnv: env => (env.ZAPO_BAILEYS ? { url: `baileys:${env.ZAPO_BAILEYS}` } : null),
    parseAddress: baileysSpec,
    open: async (spec, mode) => {
        if (mode === 'write') throw readOnlyRefusal(spec, TITLE, 'be written')
        const source = openFolder(spec)
        return foreignBackend(spec, 'baileys', source, action =>
            readOnlyRefusal(spec, TITLE, action)
        )
    },
    exists: spec => existsSync(spec.target),
    unwritable: spec => readOnlyRefusal(spec, TITLE, 'be written'),
    identityOf: spec => pathIdentity('baileys', spec.target, { what: 'folder' }),
    probeDriver: async () => ({ ok: true, detail: '' }),
    classify: () => null,
    patternClears: false
}

function baileysSpec(rest: string, source: SpecSource, cwd: string): BackendSpec {
    const { head, query } = splitQuery(rest)
    const pathPart = addressPath(head, rest, 'Baileys folder')
    if (pathPart === '')
        throw usageError('Baileys store has no folder: use baileys:./auth_info_baileys')
    const path = isAbsolute(pathPart) ? pathPart : resolve(cwd, pathPart)
    let sessionName: string | undefined
    for (const [key, value] of new URLSearchParams(query)) {
        if (key !== 'session')
            throw usageError(
                `unknown Baileys store option "${key}": the only option is ?session=<id> (the name of a single-session folder)`
            )
        if (!SESSION_ID.test(value))
            throw usageError(
                `session id "${value}" in ?session= may only contain letters, digits, '.', '_', ':', '@' and '-' (at most 128)`
            )
        sessionName = value
    }
    return {
        kind: 'baileys',
        target: path,
        display: `baileys:${path}${sessionName !== undefined ? `?session=${sessionName}` : ''}`,
        source,
        ...(sessionName !== undefined ? { sessionName } : {})
    }
}

function isDirectory(path: string): boolean {
    try {
        return statSync(path).isDirectory()
    } catch {
        return false
    }
}

/** Which sessions the folder holds: one (creds.json in it) or one per subfolder. */
function layoutOf(spec: BackendSpec): Map<string, string> {
    const dir = spec.target
    if (!existsSync(dir))
        throw new ZapoError(
            'SESSION_NOT_FOUND',
            `${dir} does not exist: point baileys: at the folder Baileys's useMultiFileAuthState writes`,
            { store: spec.display }
        )
    if (!isDirectory(dir))
        throw new ZapoError(
            'STORE_UNAVAILABLE',
            `${dir} is not a folder: point baileys: at the folder Baileys's useMultiFileAuthState writes`,
            { store: spec.display }
        )
    let entries: string[]
    try {
        entries = readdirSync(dir).sort()
    } catch {
        throw new ZapoError(
            'STORE_UNAVAILABLE',
            `cannot read ${dir}: permission denied; run zapo as a user who can read the folder`,
            { store: spec.display }
        )
    }
    if (entries.includes('creds.json')) {
        const id = spec.sessionName ?? basename(dir)
        if (!SESSION_ID.test(id))
            throw usageError(
                `the folder name "${id}" is not a valid session id: name the session with ${spec.display}?session=<id>`,
                { store: spec.display }
            )
        return new Map([[id, dir]])
    }
    const records = entries.filter(isBaileysFile)
    if (records.length > 0)
        throw new ZapoError(
            'INTEGRITY',
            `${dir} holds ${records.length} Baileys record files but no creds.json: the folder is half-written or damaged; restore creds.json from a backup`,
            { store: spec.display }
        )
    const sessions = new Map<string, string>()
    for (const name of entries) {
        const sub = join(dir, name)
        if (!isDirectory(sub)) continue
        let inner: string[]
        try {
            inner = readdirSync(sub)
        } catch {
            continue
        }
        if (inner.includes('creds.json')) {
            if (!SESSION_ID.test(name))
                throw usageError(
                    `subfolder "${name}" of ${dir} is not a valid session id (letters, digits, '.', '_', ':', '@', '-'): rename it or point baileys: at it with ?session=<id>`,
                    { store: spec.display }
                )
            sessions.set(name, sub)
        } else if (inner.some(isBaileysFile)) {
            throw new ZapoError(
                'INTEGRITY',
                `${sub} holds Baileys record files but no creds.json: that session is half-written or damaged; restore its creds.json or move the subfolder away`,
                { store: spec.display }
            )
        }
    }
    if (sessions.size === 0)
        throw new ZapoError(
            'STORE_UNAVAILABLE',
            `${dir} is not a Baileys auth folder: neither it nor its subfolders hold creds.json; point baileys: at the folder Baileys's useMultiFileAuthState writes`,
            { store: spec.display }
        )
    if (spec.sessionName !== undefined)
        throw usageError(
            `?session= names the session of a single-session folder, but ${dir} holds one session per subfolder (named after them): drop ?session=`,
            { store: spec.display }
        )
    return sessions
}

function openFolder(spec: BackendSpec): ForeignSource {
    const sessions = layoutOf(spec)
    return {
        listSessionIds: async () => [...sessions.keys()],
        load: async sessionId => {
            const folder = sessions.get(sessionId)
            return folder === undefined ? null : loadBaileysSession(folder, sessionId)
        },
        identity: async () => pathIdentity('baileys', spec.target, { what: 'folder' }),
        close: async () => {}
    }
}

/**
 * The foreign source among `backends` that `path` (a file zapo would write: a SQLite target, an
 * export) would write into, or null: a Baileys folder holding it, or the whatsmeow SQLite file
 * itself. Nothing is ever written to a foreign store, so such a path is refused. Both sides are
 * compared by their real paths, so `./auth/../auth/x` and a symlink count too.
 */
export function foreignFolderHolding(
    backends: readonly BackendSpec[],
    path: string
): string | null {
    const file = realPathOf(resolve(path))
    for (const backend of backends) {
        if (backend.kind !== 'baileys' && backend.kind !== 'whatsmeow') continue
        if (backend.kind === 'whatsmeow' && backend.target.includes('://')) continue
        const source = realPathOf(resolve(backend.target))
        if (file === source) return backend.target
        if (
            backend.kind === 'baileys' &&
            file.startsWith(source.endsWith(sep) ? source : source + sep)
        )
            return backend.target
    }
    return null
}
