/**
 * What every command handler gets: the Io, the config file, and the
 * resolution of the options shared by all commands (--store, --session,
 * --server). Commands turn flags into typed options here and nowhere else.
 */

import type { Command } from 'commander'
import { DEFAULT_ORIGIN, loadConfig, type Origin, type ZapoConfig } from './config.js'
import { parseRootCa } from './client/root-ca.js'
import { usageError } from './errors.js'
import { recordHintFlags } from './hints.js'
import { processIo, type Io } from './output.js'
import { resolveStoreSpec, type StoreSpec } from './store/address.js'

export interface GlobalOptions {
    readonly store?: string
    readonly config?: string
    readonly json?: boolean
    readonly debug?: boolean
    readonly color?: boolean
    readonly wait?: string
}

export interface CliContext {
    readonly io: Io
    readonly config: ZapoConfig
    readonly env: NodeJS.ProcessEnv
    readonly cwd: string
    /** --wait: how long to wait for a session another zapo run holds (ms; 0: not at all) */
    readonly waitMs: number
    /** the store named by --store / ZAPO_STORE / the config file / the embedded default */
    storeSpec(override?: string): StoreSpec
    /** the session named by the flag, ZAPO_SESSION or the config file; a usage error when none */
    sessionId(flag: string | undefined, flagName?: string): string
    /** like sessionId, but null when none is given anywhere */
    optionalSessionId(flag: string | undefined): string | null
    /** the session as optionalSessionId resolves it, and where it came from */
    sessionSetting(flag: string | undefined, flagName?: string): Setting<string | null>
    /** the test-server override from --server/--server-root-ca, ZAPO_SERVER/ZAPO_SERVER_ROOT_CA or the config file */
    server(flags: {
        readonly server?: string
        readonly serverRootCa?: string
    }): { readonly url: string; readonly rootCa: string } | null
    /** the server as server() resolves (and checks) it, and where its URL and root CA came from */
    serverSetting(flags: { readonly server?: string; readonly serverRootCa?: string }): {
        readonly value: { readonly url: string; readonly rootCa: string } | null
        readonly urlOrigin: Origin
        readonly rootCaOrigin: Origin
    }
}

/** A resolved setting and where it came from. */
export interface Setting<T> {
    readonly value: T
    readonly origin: Origin
}

/**
 * The first of flag, environment variable, config-file key that is set (an empty environment
 * variable is unset), with its origin. The one precedence rule of the shared settings.
 */
function firstSet(
    flag: { readonly value: string | undefined; readonly name: string },
    env: { readonly value: string | undefined; readonly name: string },
    file: { readonly value: string | undefined; readonly key: string },
    config: ZapoConfig
): Setting<string | null> {
    if (flag.value !== undefined)
        return { value: flag.value, origin: { source: 'flag', name: flag.name } }
    if (env.value !== undefined && env.value !== '')
        return { value: env.value, origin: { source: 'env', name: env.name } }
    if (file.value !== undefined)
        return {
            value: file.value,
            origin: { source: 'config', path: config.path ?? 'the config file', key: file.key }
        }
    return { value: null, origin: DEFAULT_ORIGIN }
}

export function contextFor(command: Command): CliContext {
    const globals = command.optsWithGlobals<
        GlobalOptions & { readonly server?: string; readonly serverRootCa?: string }
    >()
    // suggested commands carry the flags that decide where they act (hints.ts)
    recordHintFlags({
        store: globals.store,
        config: globals.config,
        server: globals.server,
        serverRootCa: globals.serverRootCa
    })
    const io = processIo(globals)
    const config = loadConfig(globals.config)
    const env = process.env
    const cwd = process.cwd()
    const sessionSetting = (
        flag: string | undefined,
        flagName = '--session'
    ): Setting<string | null> => {
        const found = firstSet(
            { value: flag, name: flagName },
            { value: env.ZAPO_SESSION, name: 'ZAPO_SESSION' },
            { value: config.session, key: 'session' },
            config
        )
        return found.value === null ? found : { ...found, value: validateSessionId(found.value) }
    }
    const optionalSessionId = (flag: string | undefined): string | null =>
        sessionSetting(flag).value
    const serverSetting = (flags: {
        readonly server?: string
        readonly serverRootCa?: string
    }): {
        readonly value: { readonly url: string; readonly rootCa: string } | null
        readonly urlOrigin: Origin
        readonly rootCaOrigin: Origin
    } => {
        const url = firstSet(
            { value: flags.server, name: '--server' },
            { value: env.ZAPO_SERVER, name: 'ZAPO_SERVER' },
            { value: config.server?.url, key: 'server.url' },
            config
        )
        const rootCa = firstSet(
            { value: flags.serverRootCa, name: '--server-root-ca' },
            { value: env.ZAPO_SERVER_ROOT_CA, name: 'ZAPO_SERVER_ROOT_CA' },
            { value: config.server?.rootCa, key: 'server.rootCa' },
            config
        )
        return {
            value: checkServer(url.value ?? undefined, rootCa.value ?? undefined),
            urlOrigin: url.origin,
            rootCaOrigin: rootCa.origin
        }
    }
    const waitMs = globals.wait !== undefined ? parseDuration(globals.wait, '--wait') : 0
    return {
        io,
        config,
        env,
        cwd,
        waitMs,
        storeSpec: override => resolveStoreSpec(override ?? globals.store, { config, env, cwd }),
        sessionId: (flag, flagName = '--session') => {
            const value = optionalSessionId(flag)
            if (value === null)
                throw usageError(`no session given: pass ${flagName} ID (or set ZAPO_SESSION)`)
            return value
        },
        optionalSessionId,
        sessionSetting,
        server: flags => serverSetting(flags).value,
        serverSetting
    }
}

/** A test-server override is both a WebSocket URL and that server's root CA, or neither. */
function checkServer(
    url: string | undefined,
    rootCa: string | undefined
): { readonly url: string; readonly rootCa: string } | null {
    if (url === undefined && rootCa === undefined) return null
    if (url === undefined)
        throw usageError('--server-root-ca needs --server URL (or ZAPO_SERVER) as well')
    if (rootCa === undefined) {
        throw usageError(
            '--server needs --server-root-ca VALUE (or ZAPO_SERVER_ROOT_CA): a test server is trusted only through its own root'
        )
    }
    if (!/^wss?:\/\//i.test(url))
        throw usageError(
            `--server "${url}" is not a WebSocket URL: use ws://host:port/… or wss://…`
        )
    try {
        parseRootCa(rootCa)
    } catch (error) {
        throw usageError(`--server-root-ca: ${(error as Error).message}`)
    }
    return { url, rootCa }
}

const SESSION_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/

/** Session ids are durable keys: the tool accepts them as given, but refuses ones that cannot be typed back safely. */
export function validateSessionId(value: string): string {
    if (!SESSION_ID_PATTERN.test(value)) {
        throw usageError(
            `invalid session id "${value}": use 1-128 letters, digits, '.', '_', ':', '@' or '-', starting with a letter or digit`
        )
    }
    return value
}

/** Parses "30s", "5m", "2h", "1500ms" or a bare number of seconds into milliseconds. */
export function parseDuration(value: string, flag: string): number {
    const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(value.trim())
    if (!match)
        throw usageError(`${flag} "${value}" is not a duration: use e.g. 30s, 5m, 2h or 1500ms`)
    const n = Number(match[1])
    const unit = match[2] ?? 's'
    const factor = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[unit] ?? 1_000
    return Math.round(n * factor)
}

export function parsePositiveInt(value: string, flag: string): number {
    if (!/^\d+$/.test(value.trim()) || Number(value) < 1)
        throw usageError(`${flag} "${value}" must be a whole number of at least 1`)
    return Number(value)
}
