/**
 * What every command handler gets: the Io, the config file, and the
 * resolution of the options shared by all commands (--store, --session,
 * --server). Commands turn flags into typed options here and nowhere else.
 */

import type { Command } from 'commander'
import { loadConfig, type ZapoConfig } from './config.js'
import { parseRootCa } from './client/root-ca.js'
import { usageError } from './errors.js'
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
    /** the test-server override from --server/--server-root-ca, ZAPO_SERVER/ZAPO_SERVER_ROOT_CA or the config file */
    server(flags: {
        readonly server?: string
        readonly serverRootCa?: string
    }): { readonly url: string; readonly rootCa: string } | null
}

export function contextFor(command: Command): CliContext {
    const globals = command.optsWithGlobals<GlobalOptions>()
    const io = processIo(globals)
    const config = loadConfig(globals.config)
    const env = process.env
    const cwd = process.cwd()
    const optionalSessionId = (flag: string | undefined): string | null => {
        // an empty ZAPO_SESSION is unset
        const value = flag ?? (env.ZAPO_SESSION || undefined) ?? config.session ?? null
        if (value === null) return null
        return validateSessionId(value)
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
        server: flags => {
            const url = flags.server ?? env.ZAPO_SERVER ?? config.server?.url
            const rootCa = flags.serverRootCa ?? env.ZAPO_SERVER_ROOT_CA ?? config.server?.rootCa
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
    }
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
