/**
 * The project config file: `zapo.config.json` in the working directory, or
 * the file named by `--config` / `ZAPO_CONFIG`. Optional; every key is too.
 *
 * {
 *   "store": "postgres",                       default store (URL or backend name)
 *   "session": "tenant-1",                     default --session
 *   "backends": {                              what bare backend names resolve to
 *     "postgres": "postgres://db/zapo?tablePrefix=wa_",
 *     "redis": { "url": "redis://cache:6379", "keyPrefix": "zapo:" }
 *   },
 *   "domains": { "retry": "redis", "deviceList": "redis" },
 *   "server": { "url": "ws://127.0.0.1:7400/ws/chat", "rootCa": "…" },
 *   "check": { "minPreKeys": 50, "maxSignedPreKeyAgeDays": 30, "maxSinceLoginHours": 168,
 *              "timeoutSeconds": 30, "concurrency": 4 }
 * }
 */

import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { osProblem, usageError } from './errors.js'

export const CONFIG_FILE_NAME = 'zapo.config.json'

/**
 * Where a setting came from: a flag, an environment variable, a key of the config file, or the
 * built-in default. The resolvers (context.ts, store/address.ts, client/logger.ts) return it
 * beside the value; `zapo config` shows it.
 */
export type Origin =
    | { readonly source: 'flag'; readonly name: string }
    | { readonly source: 'env'; readonly name: string }
    | { readonly source: 'config'; readonly path: string; readonly key: string }
    | { readonly source: 'default' }

export const DEFAULT_ORIGIN: Origin = Object.freeze({ source: 'default' })

/** "--store", "ZAPO_STORE", "/srv/zapo.config.json: store", "default". */
export function describeOrigin(origin: Origin): string {
    switch (origin.source) {
        case 'flag':
        case 'env':
            return origin.name
        case 'config':
            return `${origin.path}: ${origin.key}`
        case 'default':
            return 'default'
    }
}

export interface BackendConfigObject {
    readonly url: string
    readonly tablePrefix?: string
    readonly keyPrefix?: string
    readonly collectionPrefix?: string
    readonly tableNames?: Readonly<Record<string, string>>
}

export type BackendConfigEntry = string | BackendConfigObject

export interface ZapoConfig {
    /** absolute path of the file the config came from, or null when none was found */
    readonly path: string | null
    /** what named the file: --config, ZAPO_CONFIG, or the default ./zapo.config.json */
    readonly origin?: Origin
    readonly store?: string
    readonly session?: string
    readonly backends: Readonly<Record<string, BackendConfigEntry>>
    readonly domains: Readonly<Record<string, string>>
    readonly server?: { readonly url?: string; readonly rootCa?: string }
    readonly check: Readonly<Record<string, number>>
}

const EMPTY_CONFIG: ZapoConfig = Object.freeze({ path: null, backends: {}, domains: {}, check: {} })

const KNOWN_KEYS = new Set([
    '$schema',
    'store',
    'session',
    'backends',
    'domains',
    'server',
    'check'
])

/**
 * Loads the config file. A file named explicitly must exist; the default
 * `zapo.config.json` is optional. A malformed file is a usage error naming
 * the file and the problem.
 */
export function loadConfig(explicitPath: string | undefined, cwd = process.cwd()): ZapoConfig {
    const named = explicitPath ?? process.env.ZAPO_CONFIG
    const origin: Origin =
        explicitPath !== undefined
            ? { source: 'flag', name: '--config' }
            : named
              ? { source: 'env', name: 'ZAPO_CONFIG' }
              : DEFAULT_ORIGIN
    const path = resolve(cwd, named && named !== '' ? named : CONFIG_FILE_NAME)
    let text: string
    try {
        text = readFileSync(path, 'utf8')
    } catch (error) {
        const code = (error as NodeJS.ErrnoException).code
        if ((code === 'ENOENT' || code === 'ENOTDIR') && !named) return EMPTY_CONFIG
        throw usageError(
            `cannot read config file ${path}: ${osProblem(error)}; fix the path given to --config or ZAPO_CONFIG`
        )
    }
    let raw: unknown
    try {
        raw = JSON.parse(text)
    } catch (error) {
        const detail = error instanceof Error ? error.message : 'invalid JSON'
        throw usageError(
            `config file ${path} is not valid JSON (${detail}); fix the file or pass --config with another one`
        )
    }
    return { ...validateConfig(raw, path), origin }
}

function validateConfig(raw: unknown, path: string): ZapoConfig {
    const fail = (what: string): never => {
        throw usageError(`config file ${path}: ${what}`)
    }
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
        fail('expected a JSON object at the top level')
    const obj = raw as Record<string, unknown>
    for (const key of Object.keys(obj)) {
        if (!KNOWN_KEYS.has(key))
            fail(`unknown key "${key}" (known: ${[...KNOWN_KEYS].slice(1).join(', ')})`)
    }
    const optString = (key: string): string | undefined => {
        const value = obj[key]
        if (value === undefined) return undefined
        if (typeof value !== 'string' || value === '') fail(`"${key}" must be a non-empty string`)
        return value as string
    }
    const record = (key: string): Record<string, unknown> => {
        const value = obj[key]
        if (value === undefined) return {}
        if (typeof value !== 'object' || value === null || Array.isArray(value))
            fail(`"${key}" must be an object`)
        return value as Record<string, unknown>
    }
    const backends: Record<string, BackendConfigEntry> = {}
    for (const [name, entry] of Object.entries(record('backends'))) {
        if (typeof entry === 'string' && entry !== '') {
            backends[name] = entry
        } else if (
            typeof entry === 'object' &&
            entry !== null &&
            typeof (entry as { url?: unknown }).url === 'string'
        ) {
            backends[name] = entry as BackendConfigObject
        } else {
            fail(`backends.${name} must be a store URL or an object with a "url"`)
        }
    }
    const domains: Record<string, string> = {}
    for (const [domain, target] of Object.entries(record('domains'))) {
        if (typeof target !== 'string' || target === '')
            fail(`domains.${domain} must name a backend`)
        domains[domain] = target as string
    }
    const check: Record<string, number> = {}
    for (const [name, value] of Object.entries(record('check'))) {
        if (typeof value !== 'number' || !Number.isFinite(value) || value < 0)
            fail(`check.${name} must be a non-negative number`)
        check[name] = value as number
    }
    const serverRaw = record('server')
    const server: { url?: string; rootCa?: string } = {}
    for (const key of ['url', 'rootCa'] as const) {
        const value = serverRaw[key]
        if (value === undefined) continue
        if (typeof value !== 'string' || value === '')
            fail(`server.${key} must be a non-empty string`)
        server[key] = value as string
    }
    const store = optString('store')
    const session = optString('session')
    return {
        path,
        ...(store ? { store } : {}),
        ...(session ? { session } : {}),
        backends,
        domains,
        server,
        check
    }
}
