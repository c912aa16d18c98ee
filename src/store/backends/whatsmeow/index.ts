/**
 * `whatsmeow:PATH` (its SQLite file) and `whatsmeow+postgres://…` — a whatsmeow SQL store,
 * read-only (conversion: ./device.ts; what the foreign stores share: ../foreign.ts). One session
 * per row of `whatsmeow_device`, named from its JID (`15551234567:12@s.whatsapp.net` →
 * `15551234567.12`), or `?session=ID` when the store holds one device.
 *
 * Nothing is ever written: the SQLite file is read into memory (the file itself is never opened
 * by SQLite, so no journal, -wal or -shm is touched), PostgreSQL is read in one READ ONLY
 * REPEATABLE READ transaction that is rolled back.
 */

import { existsSync, readFileSync, statSync } from 'node:fs'
import { isAbsolute, resolve } from 'node:path'
import { usageError, ZapoError } from '../../../errors.js'
import type { BackendSpec, SpecSource } from '../../address.js'
import type { ForeignSource } from '../foreign.js'
import { foreignBackend, readOnlyRefusal } from '../foreign.js'
import {
    connectError,
    CONNECT_TIMEOUT_MS,
    addressPath,
    pathIdentity,
    requireDriver,
    splitQuery,
    socketErrorClass
} from '../shared.js'
import type { BackendAdapter, StoreIdentity } from '../types.js'
import { loadWhatsmeowDevice, sessionIdOf, type Query } from './device.js'

const TITLE = 'a whatsmeow store'

/** The whatsmeow schema versions this reader knows (store/sqlstore/upgrades/: v8 … v15). */
export const WHATSMEOW_SCHEMA = Object.freeze({ oldest: 8, newest: 15 })

const SESSION_ID = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/
const PG_PREFIX = 'postgres://'

export const whatsmeowBackend: BackendAdapter<'whatsmeow'> = {
    kind: 'whatsmeow',
    title: 'whatsmeow store',
    packageName: 'whatsmeow (read by zapo, no package needed)',
    driver: 'better-sqlite3 / pg',
    schemes: ['whatsmeow:', 'whatsmeow+postgres:', 'whatsmeow+postgresql:'],
    names: ['whatsmeow'],
    inProcess: true,
    prefixOption: null,
    envHint: 'ZAPO_WHATSMEOW',
    readOnly: TITLE,
    fromEnv: env => (env.ZAPO_WHATSMEOW ? { url: `whatsmeow:${env.ZAPO_WHATSMEOW}` } : null),
    parseAddress: whatsmeowSpec,
    open: async (spec, mode) => {
        if (mode === 'write') throw readOnlyRefusal(spec, TITLE, 'be written')
        const source = await openWhatsmeow(spec)
        return foreignBackend(spec, 'whatsmeow', source, action =>
            readOnlyRefusal(spec, TITLE, action)
        )
    },
    exists: spec => (spec.target.startsWith(PG_PREFIX) ? null : existsSync(spec.target)),
    unwritable: spec => readOnlyRefusal(spec, TITLE, 'be written'),
    identityOf: spec => identityOf(spec),
    probeDriver: async () => ({ ok: true, detail: '' }),
    classify: () => null,
    patternClears: false
}

/** `rest` follows `whatsmeow:` (a path) or `whatsmeow+postgres:` (`//user@host/db`). */
function whatsmeowSpec(rest: string, source: SpecSource, cwd: string): BackendSpec {
    const { head, query } = splitQuery(rest)
    const params = new URLSearchParams(query)
    const sessionName = params.get('session') ?? undefined
    params.delete('session')
    if (sessionName !== undefined && !SESSION_ID.test(sessionName))
        throw usageError(
            `session id "${sessionName}" in ?session= may only contain letters, digits, '.', '_', ':', '@' and '-' (at most 128)`
        )
    const extra = { source, ...(sessionName !== undefined ? { sessionName } : {}) }
    if (head.startsWith('//') && !head.startsWith('///')) {
        let url: URL
        try {
            url = new URL(`postgres:${head}`)
        } catch {
            throw usageError(
                `malformed whatsmeow PostgreSQL URL: use whatsmeow+postgres://user@host:5432/database`
            )
        }
        for (const [key, value] of params) url.searchParams.set(key, value)
        const target = url.toString()
        const shown = new URL(target)
        if (shown.password) shown.password = '***'
        return {
            kind: 'whatsmeow',
            target,
            display: `whatsmeow+${shown.toString()}${sessionName ? ` (session ${sessionName})` : ''}`,
            ...extra
        }
    }
    if ([...params.keys()].length > 0)
        throw usageError(
            `unknown whatsmeow store option "${[...params.keys()][0]}": the only option is ?session=<id>`
        )
    const path = addressPath(head, rest, 'whatsmeow path')
    if (path === '') throw usageError('whatsmeow store has no path: use whatsmeow:./whatsmeow.db')
    const target = isAbsolute(path) ? path : resolve(cwd, path)
    return {
        kind: 'whatsmeow',
        target,
        display: `whatsmeow:${target}${sessionName ? `?session=${sessionName}` : ''}`,
        ...extra
    }
}

interface Reader {
    readonly query: Query
    close(): Promise<void>
}

async function sqliteReader(spec: BackendSpec): Promise<Reader> {
    const path = spec.target
    if (!existsSync(path))
        throw new ZapoError(
            'SESSION_NOT_FOUND',
            `${path} does not exist: point whatsmeow: at the SQLite file whatsmeow's sqlstore writes`,
            { store: spec.display }
        )
    if (!statSync(path).isFile())
        throw new ZapoError(
            'STORE_UNAVAILABLE',
            `${path} is not a file: point whatsmeow: at the SQLite file whatsmeow's sqlstore writes`,
            { store: spec.display }
        )
    let wal = 0
    try {
        wal = statSync(`${path}-wal`).size
    } catch {
        // no -wal: every record is in the main file
    }
    if (wal > 0)
        throw new ZapoError(
            'STORE_UNAVAILABLE',
            `${path}-wal holds writes not yet in ${path}: the app using it is running or did not close cleanly; stop it (it folds the -wal in when it closes) and retry`,
            { store: spec.display }
        )
    let bytes: Buffer
    try {
        bytes = readFileSync(path)
    } catch {
        throw new ZapoError(
            'STORE_UNAVAILABLE',
            `cannot read ${path}: permission denied; run zapo as a user who can read the file`,
            { store: spec.display }
        )
    }
    const { default: Database } = await import('better-sqlite3')
    let db: import('better-sqlite3').Database
    try {
        db = new Database(bytes, { readonly: true })
        db.prepare('SELECT name FROM sqlite_master LIMIT 1').all()
    } catch (error) {
        throw new ZapoError(
            'STORE_UNAVAILABLE',
            `${path} is not a SQLite database (${(error as Error).message}); point whatsmeow: at whatsmeow's SQLite file`,
            { store: spec.display }
        )
    }
    return {
        query: async (sql, params) =>
            db.prepare(sql).all(...(params as unknown[])) as Record<string, unknown>[],
        close: async () => {
            db.close()
        }
    }
}

async function postgresReader(spec: BackendSpec): Promise<Reader> {
    const pg = requireDriver('pg') as typeof import('pg')
    const client = new pg.Client({
        connectionString: spec.target,
        connectionTimeoutMillis: CONNECT_TIMEOUT_MS
    })
    try {
        await client.connect()
        await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY')
    } catch (error) {
        await client.end().catch(() => undefined)
        throw connectError(spec, error, socketErrorClass(error))
    }
    return {
        query: async (sql, params) => {
            let n = 0
            const text = sql.replace(/\?/g, () => `$${++n}`)
            const result = await client.query(text, params as unknown[])
            return result.rows.map(row => {
                const out: Record<string, unknown> = {}
                for (const [k, v] of Object.entries(row as Record<string, unknown>))
                    out[k] = Buffer.isBuffer(v) ? new Uint8Array(v) : v
                return out
            })
        },
        close: async () => {
            await client.query('ROLLBACK').catch(() => undefined)
            await client.end().catch(() => undefined)
        }
    }
}

/** The schema version, checked: a store of another whatsmeow generation is refused. */
async function checkSchema(spec: BackendSpec, query: Query): Promise<void> {
    const tables = await query(
        spec.target.startsWith(PG_PREFIX)
            ? "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema() AND table_name IN ('whatsmeow_device', 'whatsmeow_version')"
            : "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('whatsmeow_device', 'whatsmeow_version')",
        []
    )
    const names = new Set(tables.map(t => String(t.name)))
    if (!names.has('whatsmeow_device'))
        throw new ZapoError(
            'STORE_UNAVAILABLE',
            `${spec.display} is not a whatsmeow store: it has no whatsmeow_device table; point whatsmeow: at the database whatsmeow's sqlstore uses`,
            { store: spec.display }
        )
    const [row] = names.has('whatsmeow_version')
        ? await query('SELECT version, compat FROM whatsmeow_version', [])
        : []
    const version = row ? Number(row.version) : NaN
    const compat =
        row && row.compat !== null && row.compat !== undefined ? Number(row.compat) : version
    if (!Number.isInteger(version))
        throw new ZapoError(
            'UNSUPPORTED_VERSION',
            `${spec.display} records no whatsmeow schema version (whatsmeow_version): zapo reads schema v${WHATSMEOW_SCHEMA.oldest}–v${WHATSMEOW_SCHEMA.newest}; open it once with whatsmeow to upgrade it`,
            { store: spec.display }
        )
    if (version < WHATSMEOW_SCHEMA.oldest)
        throw new ZapoError(
            'UNSUPPORTED_VERSION',
            `${spec.display} has whatsmeow schema v${version}, older than v${WHATSMEOW_SCHEMA.oldest}: open it once with a current whatsmeow (it upgrades the schema), then retry`,
            { store: spec.display, version }
        )
    if (version > WHATSMEOW_SCHEMA.newest && compat > WHATSMEOW_SCHEMA.newest)
        throw new ZapoError(
            'UNSUPPORTED_VERSION',
            `${spec.display} has whatsmeow schema v${version} (readable from v${compat} on), newer than zapo knows (v${WHATSMEOW_SCHEMA.newest}): upgrade zapo`,
            { store: spec.display, version, compat }
        )
}

async function openWhatsmeow(spec: BackendSpec): Promise<ForeignSource> {
    const reader = spec.target.startsWith(PG_PREFIX)
        ? await postgresReader(spec)
        : await sqliteReader(spec)
    try {
        await checkSchema(spec, reader.query)
        const jids = (await reader.query('SELECT jid FROM whatsmeow_device ORDER BY jid', [])).map(
            r => String(r.jid)
        )
        if (jids.length === 0)
            throw new ZapoError(
                'NOT_PAIRED',
                `${spec.display} holds no logged-in device (whatsmeow deletes a device's row when it logs out): there is nothing to move; pair the account with zapo pair instead`,
                { store: spec.display }
            )
        if (spec.sessionName !== undefined && jids.length > 1)
            throw usageError(
                `?session= names the device of a single-device store, but ${spec.display} holds ${jids.length} devices (named from their JIDs): drop ?session=`,
                { store: spec.display }
            )
        const byId = new Map<string, string>()
        for (const jid of jids) byId.set(spec.sessionName ?? sessionIdOf(jid), jid)
        return {
            listSessionIds: async () => [...byId.keys()].sort(),
            load: async sessionId => {
                const jid = byId.get(sessionId)
                return jid === undefined
                    ? null
                    : loadWhatsmeowDevice(reader.query, jid, sessionId, spec.display)
            },
            identity: async () => identityOf(spec),
            close: () => reader.close()
        }
    } catch (error) {
        await reader.close()
        throw error
    }
}

/** The PostgreSQL server and database, or the file (shared.ts, pathIdentity). */
function identityOf(spec: BackendSpec): StoreIdentity {
    return spec.target.startsWith(PG_PREFIX)
        ? urlIdentity(spec)
        : pathIdentity('whatsmeow', spec.target, { what: 'file' })
}

function urlIdentity(spec: BackendSpec): StoreIdentity {
    const url = new URL(spec.target)
    return {
        kind: 'whatsmeow',
        instance: `${url.hostname}:${url.port || '5432'}`,
        scope: url.pathname,
        namespace: '',
        overlap: 'equal',
        basis: 'server address and database'
    }
}
