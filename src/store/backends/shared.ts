/**
 * What the backend adapters share: loading a store package, the connect timeout, the lines a
 * connect failure turns into, and the part of error classification every driver has in common
 * (Node's socket errors).
 */

import { timingSafeEqual } from 'node:crypto'
import { realpathSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { basename, dirname, join } from 'node:path'
import { usageError, ZapoError } from '../../errors.js'
import type { BackendSpec } from '../address.js'
import type { AnyDomain } from '../domains.js'
import type { BackendKind } from './registry.js'
import type {
    BackendAdapter,
    ClearReport,
    DomainStores,
    DriverErrorClass,
    StoreIdentity
} from './types.js'

export const CONNECT_TIMEOUT_MS = 5_000

type StorePackages = {
    '@zapo-js/store-sqlite': typeof import('@zapo-js/store-sqlite')
    '@zapo-js/store-postgres': typeof import('@zapo-js/store-postgres')
    '@zapo-js/store-mysql': typeof import('@zapo-js/store-mysql')
    '@zapo-js/store-redis': typeof import('@zapo-js/store-redis')
    '@zapo-js/store-mongo': typeof import('@zapo-js/store-mongo')
}

/**
 * Loads a store package through its CommonJS build. The ESM builds of the 1.x store packages
 * import `uint8TimingSafeEqual` from `zapo-js/util`, which zapo-js 0.3 does not export, so
 * `import()` fails at link time; the CommonJS build only fails if that path is ever called
 * (app-state MAC comparison, see doctor).
 */
export function loadStorePackage<N extends keyof StorePackages>(name: N): StorePackages[N] {
    const require = createRequire(import.meta.url)
    provideMissingZapoHelpers(require)
    return require(name) as StorePackages[N]
}

/**
 * The 1.x store packages compare app-state value MACs with `uint8TimingSafeEqual` from
 * `zapo-js/util`, a helper zapo-js 0.3 lacks: rewriting a collection state that already exists
 * (an idempotent re-import / migrate rerun) would throw "is not a function". Supplies it on
 * zapo-js's CommonJS util exports (the store packages look it up at call time) when absent.
 */
function provideMissingZapoHelpers(require: NodeJS.Require): void {
    provideIsUserJid(require)
    const util = require('zapo-js/util') as Record<string, unknown>
    if (typeof util.uint8TimingSafeEqual === 'function' || !Object.isExtensible(util)) return
    util.uint8TimingSafeEqual = (a: Uint8Array, b: Uint8Array): boolean =>
        a.byteLength === b.byteLength && timingSafeEqual(a, b)
}

/**
 * The 1.x contact stores call `isUserJid` from `zapo-js` when `getByJid` finds no row for the
 * jid, to fall back to a lookup by phone number; zapo-js 0.3 lacks it, so a contact miss would
 * throw "is not a function". Supplied (when absent) following the library's own JID rules, the
 * shape 0.3's `isLidJid` / `isGroupJid` check for their servers: exactly one '@', a non-empty
 * user part, and the phone-number user server (`WA_DEFAULTS.HOST_DOMAIN`, "s.whatsapp.net").
 * Its only effect in the store packages is whether that phone-number fallback runs.
 */
function provideIsUserJid(require: NodeJS.Require): void {
    const root = require('zapo-js') as Record<string, unknown> & {
        WA_DEFAULTS?: { HOST_DOMAIN?: string }
    }
    if (typeof root.isUserJid === 'function' || !Object.isExtensible(root)) return
    const server = root.WA_DEFAULTS?.HOST_DOMAIN ?? 's.whatsapp.net'
    root.isUserJid = (jid: string): boolean => {
        if (typeof jid !== 'string') return false
        const at = jid.length - server.length - 1
        return (
            at >= 1 && jid.charCodeAt(at) === 64 && jid.indexOf('@') === at && jid.endsWith(server)
        )
    }
}

/** Whether a driver package can be required from here (it is installed and loads). */
export function requireDriver(name: string): unknown {
    return createRequire(import.meta.url)(name)
}

export function unavailable(spec: BackendSpec, problem: string, fix: string): ZapoError {
    return new ZapoError('STORE_UNAVAILABLE', `${problem}; ${fix}`, {
        store: spec.display,
        backend: spec.kind
    })
}

/** Node's own socket and resolver errors, the same under every driver. */
export function socketErrorClass(error: unknown): DriverErrorClass | null {
    const err = error as { code?: unknown; message?: unknown } | null
    const code = typeof err?.code === 'string' ? err.code : ''
    const message = typeof err?.message === 'string' ? err.message : ''
    if (code === 'ECONNREFUSED' || /ECONNREFUSED/.test(message)) return 'refused'
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || /ENOTFOUND|EAI_AGAIN/.test(message))
        return 'unknown-host'
    if (code === 'ETIMEDOUT' || /ETIMEDOUT/.test(message)) return 'timeout'
    if (/^(ECONNRESET|EPIPE|EHOSTUNREACH|ENETUNREACH|ECONNABORTED)$/.test(code)) return 'lost'
    if (/ECONNRESET|EPIPE|EHOSTUNREACH/.test(message)) return 'lost'
    return null
}

/** Turns a driver's connection error into one line naming the problem and the fix. */
export function connectError(
    spec: BackendSpec,
    error: unknown,
    errorClass: DriverErrorClass | null
): ZapoError {
    const err = error as { code?: unknown; message?: unknown } | null
    const code = typeof err?.code === 'string' ? err.code : ''
    const message = typeof err?.message === 'string' ? err.message : String(error)
    const where = spec.display
    let line: string
    switch (errorClass) {
        case 'refused':
            line = `cannot reach ${spec.kind} at ${where}: connection refused; start the server or fix the host and port`
            break
        case 'unknown-host':
            line = `cannot reach ${spec.kind} at ${where}: unknown host; fix the host name in the store URL`
            break
        case 'timeout':
            line = `cannot reach ${spec.kind} at ${where}: timed out after ${CONNECT_TIMEOUT_MS / 1000}s; check the host, port and firewall`
            break
        case 'credentials':
            line = `${spec.kind} at ${where} rejected the credentials; fix the user name and password in the store URL`
            break
        case 'no-database':
            line = `${spec.kind} at ${where} has no such database; create it or fix the database name in the store URL`
            break
        default:
            line = `cannot open ${spec.kind} store at ${where}: ${message.split('\n')[0]}; check the store URL`
    }
    return new ZapoError(
        'STORE_UNAVAILABLE',
        line,
        { store: where, backend: spec.kind, driverCode: code || null },
        { cause: error }
    )
}

/**
 * Clears one session through the store contracts, for the packages whose `clear()` deletes by
 * exact session id (`WHERE session_id = ?`, `_id` matches): credentials last.
 */
export async function clearThroughContracts(
    stores: DomainStores,
    sessionId: string,
    domains: readonly AnyDomain[]
): Promise<ClearReport> {
    const ordered = [...domains.filter(d => d !== 'auth'), ...domains.filter(d => d === 'auth')]
    for (const domain of ordered) {
        const factory = (
            stores as Record<string, ((id: string) => { clear(): Promise<unknown> }) | undefined>
        )[domain]
        if (factory !== undefined) await factory(sessionId).clear()
    }
    return { removed: null, shared: [] }
}

/**
 * What every backend reached over the network shares: its server alone tells whether the store
 * exists or can be written, and its driver probe is loading the package (`driver` named by the
 * adapter, which spreads this).
 */
export const SERVER_BACKEND: Pick<
    BackendAdapter,
    'inProcess' | 'exists' | 'unwritable' | 'probeDriver'
> = Object.freeze({
    inProcess: false,
    exists: () => null,
    unwritable: () => null,
    probeDriver(this: BackendAdapter) {
        requireDriver(this.driver)
        return Promise.resolve({ ok: true, detail: '' })
    }
})

/** The real path of a file that may not exist: its nearest existing ancestor resolved, then the rest. */
export function realPathOf(path: string): string {
    const rest: string[] = []
    let at = path
    for (;;) {
        try {
            return join(realpathSync(at), ...rest.reverse())
        } catch {
            const parent = dirname(at)
            if (parent === at) return path
            rest.push(basename(at))
            at = parent
        }
    }
}

/**
 * The identity of a store that is a file or a folder (SQLite, a whatsmeow file, a Baileys
 * folder), whatever path names it (`data/./m.sqlite`, `data//m.sqlite`, a symlink, a hard link):
 * its device and inode; one that does not exist yet, its real path (that of its nearest existing
 * ancestor, then the rest). `what` names the thing in the basis ("file", "folder"; none for
 * SQLite, whose kind says it).
 */
export function pathIdentity(
    kind: BackendKind,
    path: string,
    options: {
        readonly what?: string
        readonly namespace?: string
        readonly overlap?: StoreIdentity['overlap']
    } = {}
): StoreIdentity {
    const base = {
        kind,
        scope: '',
        namespace: options.namespace ?? '',
        overlap: options.overlap ?? 'equal'
    }
    const basis = (how: string): string =>
        options.what !== undefined ? `${options.what} (${how})` : how
    try {
        const stat = statSync(path)
        return {
            ...base,
            instance: `inode:${stat.dev}:${stat.ino}`,
            basis: basis('device and inode')
        }
    } catch {
        return { ...base, instance: `path:${realPathOf(path)}`, basis: basis('real path') }
    }
}

/** A file or folder address (what follows `sqlite:`, `baileys:`, …) split at its first '?'. */
export function splitQuery(rest: string): { readonly head: string; readonly query: string } {
    const q = rest.indexOf('?')
    return q >= 0 ? { head: rest.slice(0, q), query: rest.slice(q + 1) } : { head: rest, query: '' }
}

/**
 * The path of a file or folder address: the `//` of `sqlite:///abs/path` dropped, percent-escapes
 * decoded (a malformed one is a usage error naming `what` and the address `rest`). Relative
 * paths stay relative: the caller resolves them against the working directory.
 */
export function addressPath(head: string, rest: string, what: string): string {
    const raw = head.startsWith('//') ? head.slice(2) : head
    try {
        return decodeURIComponent(raw)
    } catch {
        throw usageError(`malformed ${what} "${rest}": fix its percent-escapes`)
    }
}
