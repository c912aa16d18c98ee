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

import type { BackendConfigEntry, Origin, ZapoConfig } from '../config.js'
import { usageError } from '../errors.js'
import { redactUrl } from '../output.js'
import type { BackendKind } from './backends/registry.js'
import { allBackends, BACKENDS } from './backends/registry.js'
import type { PrefixOption } from './backends/types.js'
import type { AnyDomain } from './domains.js'
import { ALL_DOMAINS } from './domains.js'

export { BACKEND_KINDS } from './backends/registry.js'
export type { BackendKind } from './backends/registry.js'
export { DEFAULT_SQLITE_FILE } from './backends/sqlite.js'
export {
    ARCHIVE_DOMAINS,
    CACHE_DOMAINS,
    DURABLE_DOMAINS,
    isDomain,
    type AnyDomain,
    type ArchiveDomain,
    type CacheDomain,
    type DurableDomain,
    type StoreDomain
} from './domains.js'

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
    /** a foreign single-session store's session id (`baileys:DIR?session=ID`) */
    readonly sessionName?: string
    /** where the address came from, for messages */
    readonly source: SpecSource
    /**
     * how a bare backend name became this address: the environment variable, the config file's
     * `backends.<name>` entry, or the embedded default (for `zapo config`)
     */
    readonly via?: string
}

/** A store as the tool sees it: the primary backend plus optional per-domain routing. */
export interface StoreSpec {
    readonly primary: BackendSpec
    /** extra backends named in the config's domain mapping, by name */
    readonly backends: Readonly<Record<string, BackendSpec>>
    /** domain → backend name; absent domains live in the primary backend */
    readonly domains: Readonly<Partial<Record<AnyDomain, string>>>
    /** short text for messages: the primary's display form, plus the routing when there is one */
    readonly label: string
    /** what named the store (--store, ZAPO_STORE, the config file's `store`, the default) */
    readonly origin?: Origin
    /** the address as it was given (a password in it redacted); absent for the default */
    readonly given?: string
}

const BARE_NAMES: Readonly<Record<string, BackendKind>> = Object.freeze(
    Object.fromEntries(allBackends().flatMap(b => b.names.map(name => [name, b.kind])))
)

const SCHEMES: Readonly<Record<string, BackendKind>> = Object.freeze(
    Object.fromEntries(allBackends().flatMap(b => b.schemes.map(scheme => [scheme, b.kind])))
)

const SUPPORTED_SCHEMES_TEXT = allBackends()
    .flatMap(b => b.schemes.filter(s => s !== 'file:').map(s => (b.parseAddress ? s : `${s}//`)))
    .join(', ')

const BACKEND_NAMES_TEXT = allBackends()
    .map(b => b.names[0])
    .join(', ')

const SQLITE_EXTENSIONS = /\.(sqlite3?|db)$/i

const PREFIX_OPTIONS: readonly PrefixOption[] = ['tablePrefix', 'keyPrefix', 'collectionPrefix']

/** Query parameters by which a driver reaches its server through a socket instead of a host. */
const SOCKET_PARAMS = Object.freeze(['host', 'socketPath'])

export interface ResolveContext {
    readonly config: ZapoConfig
    readonly env: NodeJS.ProcessEnv
    readonly cwd: string
}

/**
 * Resolves the store for a command: `--store` (or ZAPO_STORE), else the
 * config file's `store` with its domain mapping, else the embedded default.
 */
export function resolveStoreSpec(
    flag: string | undefined,
    ctx: ResolveContext,
    flagName = '--store'
): StoreSpec {
    if (flag !== undefined && flag !== '')
        return {
            ...singleStore(resolveBackend(flag, 'flag', ctx)),
            origin: { source: 'flag', name: flagName },
            given: redactUrl(flag)
        }
    const fromEnv = ctx.env.ZAPO_STORE
    if (fromEnv)
        return {
            ...singleStore(resolveBackend(fromEnv, 'env', ctx)),
            origin: { source: 'env', name: 'ZAPO_STORE' },
            given: redactUrl(fromEnv)
        }
    const primary = ctx.config.store
        ? resolveBackend(ctx.config.store, 'config', ctx)
        : defaultSqlite(ctx)
    const origin: Origin =
        ctx.config.store && ctx.config.path !== null
            ? { source: 'config', path: ctx.config.path, key: 'store' }
            : { source: 'default' }
    const domains: Partial<Record<AnyDomain, string>> = {}
    const backends: Record<string, BackendSpec> = {}
    for (const [domain, name] of Object.entries(ctx.config.domains)) {
        if (!ALL_DOMAINS.has(domain)) {
            throw usageError(
                `config file ${ctx.config.path}: unknown domain "${domain}" in "domains" (known: ${[...ALL_DOMAINS].join(', ')})`
            )
        }
        // the primary's own name needs no second backend; any other name that is the same store
        // (however its address is spelled) is merged by identity when the store opens
        if (name === ctx.config.store) continue
        backends[name] = resolveBackend(name, 'config', ctx)
        domains[domain as AnyDomain] = name
    }
    const routed = Object.entries(domains)
    const label =
        routed.length === 0
            ? primary.display
            : `${primary.display} (+ ${routed.map(([d, n]) => `${d}→${backends[n!]!.display}`).join(', ')})`
    return {
        primary,
        backends,
        domains,
        label,
        origin,
        ...(ctx.config.store ? { given: redactUrl(ctx.config.store) } : {})
    }
}

export function singleStore(primary: BackendSpec): StoreSpec {
    return { primary, backends: {}, domains: {}, label: primary.display }
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
    const configuredName =
        ctx.config.backends[name] !== undefined
            ? name
            : findConfiguredName(ctx.config.backends, kind)
    if (configuredName !== undefined)
        return {
            ...fromConfigEntry(ctx.config.backends[configuredName]!, ctx),
            via: `${ctx.config.path ?? 'the config file'}: backends.${configuredName}`
        }
    const adapter = BACKENDS[kind]
    const found = adapter.fromEnv(ctx.env)
    if (found === null) {
        const fallback = adapter.fallback?.(ctx.cwd)
        if (fallback === undefined) return missingBackend(name, adapter.envHint)
        return { ...fallback, via: 'the embedded default' }
    }
    const via = found.variable ?? adapter.envHint
    if ('spec' in found) return { ...found.spec, source: 'env', via }
    return { ...parseStoreUrl(found.url, 'env', ctx.cwd), via }
}

function findConfiguredName(
    backends: Readonly<Record<string, BackendConfigEntry>>,
    kind: BackendKind
): string | undefined {
    for (const name of Object.keys(backends)) {
        if (BARE_NAMES[name.toLowerCase()] === kind) return name
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

/** The embedded default: a SQLite file in the working directory. */
function defaultSqlite(ctx: ResolveContext): BackendSpec {
    return BACKENDS.sqlite.fallback!(ctx.cwd)
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
            return BACKENDS.sqlite.parseAddress!(value, source, cwd)
        }
        throw usageError(
            `unknown store "${value}": pass a URL (${SUPPORTED_SCHEMES_TEXT}), a backend name (${BACKEND_NAMES_TEXT}) or a path to a .sqlite file`
        )
    }
    const kind = SCHEMES[scheme]
    if (!kind) {
        throw usageError(
            `unknown store scheme "${scheme}" in "${redactUrl(value)}": use one of ${SUPPORTED_SCHEMES_TEXT}`
        )
    }
    const adapter = BACKENDS[kind]
    if (adapter.parseAddress) return adapter.parseAddress(value.slice(scheme.length), source, cwd)
    let url: URL
    try {
        url = new URL(value)
    } catch {
        throw usageError(
            `malformed store URL "${redactUrl(value)}": check its host, port and escaping (a password with @ or / must be percent-encoded)`
        )
    }
    // `postgres://` alone: the driver would make up every part of the address
    const named =
        url.hostname !== '' ||
        url.pathname.replace(/^\/+/, '') !== '' ||
        SOCKET_PARAMS.some(p => url.searchParams.has(p))
    if (!named) {
        throw usageError(
            `store URL "${redactUrl(value)}" names no server and no database: use ${scheme}//user@host:port/… (the README's Stores table)`
        )
    }
    const options: { -readonly [O in PrefixOption]?: string } = {}
    for (const name of PREFIX_OPTIONS) {
        const v = url.searchParams.get(name)
        if (v === null) continue
        if (adapter.prefixOption !== name) {
            throw usageError(
                `${name} does not apply to ${kind} stores; use ${adapter.prefixOption ?? 'no prefix option'} instead`
            )
        }
        if (name !== 'keyPrefix' && !/^[A-Za-z0-9_]*$/.test(v)) {
            throw usageError(`${name} "${v}" may only contain letters, digits and underscores`)
        }
        options[name] = v
        url.searchParams.delete(name)
    }
    // table-name overrides are SQLite's: on a server they would reach the driver unnoticed
    const override = [...url.searchParams.keys()].find(key => key.startsWith('table.'))
    if (override !== undefined) {
        throw usageError(
            `${override} does not apply to ${kind} stores: table-name overrides are for sqlite only${adapter.prefixOption ? `; use ${adapter.prefixOption} to name a prefix` : ''}`
        )
    }
    adapter.normalizeUrl?.(url)
    const target = url.toString()
    return {
        kind,
        target,
        display: redactUrl(target) + describeOptions(options),
        source,
        ...options
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

export { redactUrl }
