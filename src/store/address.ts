/**
 * The store grammar: one way to name a store everywhere.
 *
 *   sqlite:./path/file.sqlite   (or a bare path ending in .sqlite / .sqlite3 / .db)
 *   postgres://… postgresql://…
 *   mysql://… mariadb://…
 *   redis://… rediss://…
 *   mongodb://… mongodb+srv://…
 *   sqlite | postgres | mysql | mariadb | redis | mongo   (bare backend names)
 *
 * Bare names resolve through the config file's `backends`, then the usual
 * environment variables, then (sqlite only) the embedded default file.
 * Options of the store packages ride on the URL's query string and are
 * removed before the URL reaches the driver:
 *   tablePrefix=…        postgres, mysql
 *   keyPrefix=…          redis
 *   collectionPrefix=…   mongo
 *   table.<name>=<table> sqlite (table-name overrides)
 *
 * This module is pure: no I/O beyond reading the environment it is given.
 */

import { isAbsolute, resolve } from 'node:path'
import type { BackendConfigEntry, ZapoConfig } from '../config.js'
import { usageError } from '../errors.js'

export const BACKEND_KINDS = Object.freeze([
    'sqlite',
    'postgres',
    'mysql',
    'redis',
    'mongo'
] as const)
export type BackendKind = (typeof BACKEND_KINDS)[number]

/** The embedded default: a SQLite file in the working directory. */
export const DEFAULT_SQLITE_FILE = 'zapo.sqlite'

export type SpecSource = 'flag' | 'env' | 'config' | 'default'

export interface BackendSpec {
    readonly kind: BackendKind
    /** for sqlite the absolute file path; otherwise the driver URL without zapo's own parameters ('' = driver defaults / PG* env) */
    readonly target: string
    /** a form safe to print: no password */
    readonly display: string
    readonly tablePrefix?: string
    readonly keyPrefix?: string
    readonly collectionPrefix?: string
    readonly tableNames?: Readonly<Record<string, string>>
    /** where the address came from, for messages */
    readonly source: SpecSource
}

/** The durable domains of a session, in the order the tool reports them. */
export const DURABLE_DOMAINS = Object.freeze([
    'auth',
    'signal',
    'preKey',
    'session',
    'identity',
    'senderKey',
    'appState',
    'privacyToken'
] as const)
export type DurableDomain = (typeof DURABLE_DOMAINS)[number]

export const ARCHIVE_DOMAINS = Object.freeze(['messages', 'threads', 'contacts'] as const)
export type ArchiveDomain = (typeof ARCHIVE_DOMAINS)[number]

export const CACHE_DOMAINS = Object.freeze([
    'retry',
    'participants',
    'deviceList',
    'messageSecret'
] as const)
export type CacheDomain = (typeof CACHE_DOMAINS)[number]

export type StoreDomain = DurableDomain | ArchiveDomain
export type AnyDomain = StoreDomain | CacheDomain

const ALL_DOMAINS: ReadonlySet<string> = new Set([
    ...DURABLE_DOMAINS,
    ...ARCHIVE_DOMAINS,
    ...CACHE_DOMAINS
])

/** A store as the tool sees it: the primary backend plus optional per-domain routing. */
export interface StoreSpec {
    readonly primary: BackendSpec
    /** extra backends named in the config's domain mapping, by name */
    readonly backends: Readonly<Record<string, BackendSpec>>
    /** domain → backend name; absent domains live in the primary backend */
    readonly domains: Readonly<Partial<Record<AnyDomain, string>>>
    /** short text for messages: the primary's display form, plus the routing when there is one */
    readonly label: string
}

const BARE_NAMES: Readonly<Record<string, BackendKind>> = Object.freeze({
    sqlite: 'sqlite',
    sqlite3: 'sqlite',
    postgres: 'postgres',
    postgresql: 'postgres',
    pg: 'postgres',
    mysql: 'mysql',
    mariadb: 'mysql',
    redis: 'redis',
    mongo: 'mongo',
    mongodb: 'mongo'
})

const SCHEMES: Readonly<Record<string, BackendKind>> = Object.freeze({
    'sqlite:': 'sqlite',
    'file:': 'sqlite',
    'postgres:': 'postgres',
    'postgresql:': 'postgres',
    'mysql:': 'mysql',
    'mariadb:': 'mysql',
    'redis:': 'redis',
    'rediss:': 'redis',
    'mongodb:': 'mongo',
    'mongodb+srv:': 'mongo'
})

const SUPPORTED_SCHEMES_TEXT =
    'sqlite:, postgres://, mysql://, mariadb://, redis://, rediss://, mongodb://, mongodb+srv://'

const SQLITE_EXTENSIONS = /\.(sqlite3?|db)$/i

export interface ResolveContext {
    readonly config: ZapoConfig
    readonly env: NodeJS.ProcessEnv
    readonly cwd: string
}

/**
 * Resolves the store for a command: `--store` (or ZAPO_STORE), else the
 * config file's `store` with its domain mapping, else the embedded default.
 */
export function resolveStoreSpec(flag: string | undefined, ctx: ResolveContext): StoreSpec {
    if (flag !== undefined && flag !== '') return singleStore(resolveBackend(flag, 'flag', ctx))
    const fromEnv = ctx.env.ZAPO_STORE
    if (fromEnv) return singleStore(resolveBackend(fromEnv, 'env', ctx))
    const primary = ctx.config.store
        ? resolveBackend(ctx.config.store, 'config', ctx)
        : defaultSqlite(ctx, 'default')
    const domains: Partial<Record<AnyDomain, string>> = {}
    const backends: Record<string, BackendSpec> = {}
    for (const [domain, name] of Object.entries(ctx.config.domains)) {
        if (!ALL_DOMAINS.has(domain)) {
            throw usageError(
                `config file ${ctx.config.path}: unknown domain "${domain}" in "domains" (known: ${[...ALL_DOMAINS].join(', ')})`
            )
        }
        const spec = resolveBackend(name, 'config', ctx)
        if (sameBackend(spec, primary)) continue
        backends[name] = spec
        domains[domain as AnyDomain] = name
    }
    const routed = Object.entries(domains)
    const label =
        routed.length === 0
            ? primary.display
            : `${primary.display} (+ ${routed.map(([d, n]) => `${d}→${backends[n!]!.display}`).join(', ')})`
    return { primary, backends, domains, label }
}

export function singleStore(primary: BackendSpec): StoreSpec {
    return { primary, backends: {}, domains: {}, label: primary.display }
}

function sameBackend(a: BackendSpec, b: BackendSpec): boolean {
    return (
        a.kind === b.kind &&
        a.target === b.target &&
        a.tablePrefix === b.tablePrefix &&
        a.keyPrefix === b.keyPrefix &&
        a.collectionPrefix === b.collectionPrefix
    )
}

/** Resolves one store value: a URL, a bare backend name, or a path to a SQLite file. */
export function resolveBackend(
    value: string,
    source: SpecSource,
    ctx: ResolveContext
): BackendSpec {
    const trimmed = value.trim()
    if (trimmed === '')
        throw usageError(
            'empty store address: pass a URL such as sqlite:./zapo.sqlite or postgres://host/db'
        )
    const bare = BARE_NAMES[trimmed.toLowerCase()]
    if (bare) return resolveBareName(trimmed.toLowerCase(), bare, ctx)
    return parseStoreUrl(trimmed, source, ctx.cwd)
}

function resolveBareName(name: string, kind: BackendKind, ctx: ResolveContext): BackendSpec {
    const configured = ctx.config.backends[name] ?? findConfiguredKind(ctx.config.backends, kind)
    if (configured !== undefined) return fromConfigEntry(configured, ctx)
    const env = ctx.env
    switch (kind) {
        case 'sqlite':
            return env.ZAPO_SQLITE
                ? parseStoreUrl(env.ZAPO_SQLITE, 'env', ctx.cwd)
                : defaultSqlite(ctx, 'default')
        case 'postgres': {
            if (env.DATABASE_URL && /^postgres(ql)?:/i.test(env.DATABASE_URL))
                return parseStoreUrl(env.DATABASE_URL, 'env', ctx.cwd)
            if (env.POSTGRES_URL) return parseStoreUrl(env.POSTGRES_URL, 'env', ctx.cwd)
            if (env.PGHOST || env.PGDATABASE || env.PGUSER || env.PGPORT || env.PGSERVICE) {
                const display = `postgres://${env.PGUSER ? `${env.PGUSER}@` : ''}${env.PGHOST ?? 'localhost'}${env.PGPORT ? `:${env.PGPORT}` : ''}/${env.PGDATABASE ?? env.PGUSER ?? ''} (from PG* variables)`
                return { kind, target: '', display, source: 'env' }
            }
            return missingBackend(name, 'DATABASE_URL (or PGHOST/PGDATABASE…)')
        }
        case 'mysql': {
            const url =
                env.MYSQL_URL ??
                env.MARIADB_URL ??
                (env.DATABASE_URL && /^(mysql|mariadb):/i.test(env.DATABASE_URL)
                    ? env.DATABASE_URL
                    : undefined)
            return url ? parseStoreUrl(url, 'env', ctx.cwd) : missingBackend(name, 'MYSQL_URL')
        }
        case 'redis':
            return env.REDIS_URL
                ? parseStoreUrl(env.REDIS_URL, 'env', ctx.cwd)
                : missingBackend(name, 'REDIS_URL')
        case 'mongo': {
            const url = env.MONGODB_URI ?? env.MONGO_URL
            return url ? parseStoreUrl(url, 'env', ctx.cwd) : missingBackend(name, 'MONGODB_URI')
        }
    }
}

function findConfiguredKind(
    backends: Readonly<Record<string, BackendConfigEntry>>,
    kind: BackendKind
): BackendConfigEntry | undefined {
    for (const [name, entry] of Object.entries(backends)) {
        if (BARE_NAMES[name.toLowerCase()] === kind) return entry
    }
    return undefined
}

function missingBackend(name: string, variable: string): never {
    throw usageError(
        `store "${name}" is not configured: set ${variable}, add backends.${name} to zapo.config.json, or pass a full URL to --store`
    )
}

function fromConfigEntry(entry: BackendConfigEntry, ctx: ResolveContext): BackendSpec {
    if (typeof entry === 'string') return parseStoreUrl(entry, 'config', ctx.cwd)
    const base = parseStoreUrl(entry.url, 'config', ctx.cwd)
    return {
        ...base,
        ...(entry.tablePrefix !== undefined ? { tablePrefix: entry.tablePrefix } : {}),
        ...(entry.keyPrefix !== undefined ? { keyPrefix: entry.keyPrefix } : {}),
        ...(entry.collectionPrefix !== undefined
            ? { collectionPrefix: entry.collectionPrefix }
            : {}),
        ...(entry.tableNames !== undefined
            ? { tableNames: { ...base.tableNames, ...entry.tableNames } }
            : {})
    }
}

function defaultSqlite(ctx: ResolveContext, source: SpecSource): BackendSpec {
    const path = resolve(ctx.cwd, DEFAULT_SQLITE_FILE)
    return { kind: 'sqlite', target: path, display: `sqlite:${path}`, source }
}

/** Parses a store URL (or a bare SQLite path) into a backend spec. */
export function parseStoreUrl(value: string, source: SpecSource, cwd: string): BackendSpec {
    const schemeMatch = /^([a-z][a-z0-9+.-]*:)/i.exec(value)
    const scheme = schemeMatch?.[1]?.toLowerCase()
    if (!scheme || (scheme.length === 2 && /^[a-z]:$/i.test(scheme))) {
        if (
            SQLITE_EXTENSIONS.test(value.split('?')[0] ?? '') ||
            value.includes('/') ||
            value.startsWith('.')
        ) {
            return sqliteSpec(value, source, cwd)
        }
        throw usageError(
            `unknown store "${value}": pass a URL (${SUPPORTED_SCHEMES_TEXT}), a backend name (sqlite, postgres, mysql, redis, mongo) or a path to a .sqlite file`
        )
    }
    const kind = SCHEMES[scheme]
    if (!kind) {
        throw usageError(
            `unknown store scheme "${scheme}" in "${redactUrl(value)}": use one of ${SUPPORTED_SCHEMES_TEXT}`
        )
    }
    if (kind === 'sqlite') return sqliteSpec(value.slice(scheme.length), source, cwd)
    let url: URL
    try {
        url = new URL(value)
    } catch {
        throw usageError(
            `malformed store URL "${redactUrl(value)}": check its host, port and escaping (a password with @ or / must be percent-encoded)`
        )
    }
    const options: { tablePrefix?: string; keyPrefix?: string; collectionPrefix?: string } = {}
    const optionNames: Readonly<Record<BackendKind, readonly string[]>> = {
        sqlite: [],
        postgres: ['tablePrefix'],
        mysql: ['tablePrefix'],
        redis: ['keyPrefix'],
        mongo: ['collectionPrefix']
    }
    for (const name of ['tablePrefix', 'keyPrefix', 'collectionPrefix'] as const) {
        const v = url.searchParams.get(name)
        if (v === null) continue
        if (!optionNames[kind].includes(name)) {
            throw usageError(
                `${name} does not apply to ${kind} stores; use ${optionNames[kind].join(' or ') || 'no prefix option'} instead`
            )
        }
        if (kind !== 'redis' && !/^[A-Za-z0-9_]*$/.test(v)) {
            throw usageError(`${name} "${v}" may only contain letters, digits and underscores`)
        }
        options[name] = v
        url.searchParams.delete(name)
    }
    if (kind === 'mysql' && url.protocol === 'mariadb:') url.protocol = 'mysql:'
    const target = url.toString()
    return {
        kind,
        target,
        display: redactUrl(target) + describeOptions(options),
        source,
        ...options
    }
}

function sqliteSpec(rest: string, source: SpecSource, cwd: string): BackendSpec {
    let pathPart = rest
    let query = ''
    const q = rest.indexOf('?')
    if (q >= 0) {
        pathPart = rest.slice(0, q)
        query = rest.slice(q + 1)
    }
    if (pathPart.startsWith('//')) pathPart = pathPart.slice(2) // sqlite:///abs/path → /abs/path
    try {
        pathPart = decodeURIComponent(pathPart)
    } catch {
        throw usageError(`malformed SQLite path "${rest}": fix its percent-escapes`)
    }
    if (pathPart === '') throw usageError('SQLite store has no path: use sqlite:./zapo.sqlite')
    if (pathPart === ':memory:')
        throw usageError(
            'an in-memory SQLite store holds nothing between runs: give a file path such as sqlite:./zapo.sqlite'
        )
    const path = isAbsolute(pathPart) ? pathPart : resolve(cwd, pathPart)
    const tableNames: Record<string, string> = {}
    for (const [key, value] of new URLSearchParams(query)) {
        if (key.startsWith('table.')) {
            if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(value))
                throw usageError(
                    `table name "${value}" for ${key} may only contain letters, digits and underscores`
                )
            tableNames[key.slice('table.'.length)] = value
        } else {
            throw usageError(
                `unknown SQLite store option "${key}": SQLite takes only table.<name>=<table> overrides`
            )
        }
    }
    const hasNames = Object.keys(tableNames).length > 0
    return {
        kind: 'sqlite',
        target: path,
        display: `sqlite:${path}${
            hasNames
                ? ` (tables: ${Object.entries(tableNames)
                      .map(([k, v]) => `${k}=${v}`)
                      .join(', ')})`
                : ''
        }`,
        source,
        ...(hasNames ? { tableNames } : {})
    }
}

function describeOptions(options: {
    tablePrefix?: string
    keyPrefix?: string
    collectionPrefix?: string
}): string {
    const parts = Object.entries(options).map(([k, v]) => `${k}=${v}`)
    return parts.length === 0 ? '' : ` (${parts.join(', ')})`
}

/** Replaces the password of a URL with "***" so the URL can be printed. */
export function redactUrl(value: string): string {
    try {
        const url = new URL(value)
        if (url.password) url.password = '***'
        return url.toString()
    } catch {
        return value.replace(/\/\/([^:/@]+):([^@]*)@/, '//$1:***@')
    }
}

export function isDomain(value: string): value is AnyDomain {
    return ALL_DOMAINS.has(value)
}
