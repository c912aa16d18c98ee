/**
 * The contract every storage backend fulfils: one adapter per backend (sqlite.ts, postgres.ts,
 * mysql.ts, redis/, mongo.ts), registered in registry.ts. An adapter holds everything that
 * differs between backends: its part of the store grammar, opening it through its store package,
 * the catalog (enumerating sessions and keys), the archive key enumeration, the migration marks,
 * exact deletion of one session, the store's identity, existence and writability checks, the
 * driver probe and one classification of its driver's errors.
 *
 * The driver handle (connection, pool, client) never leaves the adapter: an `OpenedBackend`
 * closes over it and offers only the operations below.
 */

import type { WaStoreBackend } from 'zapo-js'
import type { ZapoError } from '../../errors.js'
import type { BackendSpec, SpecSource } from '../address.js'
import type { ZapoSessionCatalog } from '../catalog/types.js'
import type { AnyDomain, ArchiveDomain } from '../domains.js'
import type { MigrationMarks } from '../migration-marks.js'
import type { SessionLeases } from '../lease.js'
import type { BackendKind } from './registry.js'

export type OpenMode = 'read' | 'write'

/** The per-domain store factories every store package exposes (zapo-js store contracts). */
export type DomainStores = WaStoreBackend['stores']

/** The option of a store package that namespaces its tables / keys / collections. */
export type PrefixOption = 'tablePrefix' | 'keyPrefix' | 'collectionPrefix'

/**
 * What a store is, as the server (or the file system) reports it, whatever the address says
 * (rules per backend: docs/stores.md). Two addresses name the same store when kind, instance,
 * scope and namespace agree (`sameStore`); their records can mix when kind, instance and scope
 * agree and their namespaces overlap by the backend's rule (`storesOverlap`).
 */
export interface StoreIdentity {
    readonly kind: BackendKind
    /** the server or file itself: system identifier, server UUID, run id, device:inode, … */
    readonly instance: string
    /** the namespace inside it: database and schema, db number ('' when the instance is enough) */
    readonly scope: string
    /** the table / key / collection prefix, or SQLite's table-name overrides ('' for none) */
    readonly namespace: string
    /**
     * when two namespaces of one scope share records: 'equal' (distinct prefixes name distinct
     * tables), 'nested' (Redis: keys of a prefix match the patterns of any prefix that starts
     * it), 'always' (SQLite: overrides rename some tables, the others are shared)
     */
    readonly overlap: 'equal' | 'nested' | 'always'
    /** how the instance was recognised, for messages and docs ("system identifier", …) */
    readonly basis: string
}

/** Key enumeration of one archive domain in one backend. */
export interface ArchiveDomainKeys {
    /** records per session (sessions without any are absent) */
    countMany(sessionIds: readonly string[]): Promise<ReadonlyMap<string, number>>
    /** the session's keys (message ids / jids), sorted, in pages of at most `pageSize` */
    keys(sessionId: string, pageSize: number): AsyncIterable<readonly string[]>
}

/** A backend opened through its store package. The driver handle stays inside the adapter. */
export interface OpenedBackend {
    readonly spec: BackendSpec
    readonly kind: BackendKind
    readonly stores: DomainStores
    /** the session catalog (prefix / table names of the spec honoured); reads only */
    catalog(): ZapoSessionCatalog
    /** key enumeration of one archive domain; reads only */
    archiveKeys(domain: ArchiveDomain): ArchiveDomainKeys
    /** the migration journal kept in this backend */
    marks(): MigrationMarks
    /** the session leases kept in this backend (store/lease.ts); absent for stores zapo only reads */
    leases?(): SessionLeases
    /** what this store is, as its server reports it */
    identity(): Promise<StoreIdentity>
    /**
     * Deletes one session's records in the given domains by their exact keys — rows `WHERE
     * session_id = ?`, documents by their `_id`, Redis keys read against the store's layout,
     * never a pattern — credentials last.
     */
    clearSession(sessionId: string, domains: readonly AnyDomain[]): Promise<ClearReport>
    /**
     * Tables (or collections) the backend holds that are not zapo's, when it holds none of
     * zapo's: a number > 0 means "some other database".
     */
    foreignObjects(): Promise<number>
    /**
     * Why each of `sessionIds` must not be written, decided by the server (MySQL / MariaDB: ids
     * equal under the session_id column's collation, `A` and `a`, `a` and `a `); absent where
     * the adapter's `idProblem` decides alone
     */
    idProblems?(
        sessionIds: readonly string[],
        present: readonly string[]
    ): Promise<ReadonlyMap<string, string>>
    /**
     * A view of this backend whose domain stores and catalog run on one connection inside one
     * transaction (PostgreSQL), for writing one session at once: a few dozen statements commit
     * together instead of one by one, and a session whose copy fails leaves nothing behind.
     * Absent where the backend has none.
     */
    sessionTransaction?(): Promise<BackendTransaction>
    close(): Promise<void>
}

/** See `OpenedBackend.sessionTransaction`. After `commit` or `rollback` the view is spent. */
export interface BackendTransaction {
    readonly backend: OpenedBackend
    commit(): Promise<void>
    /** never throws: a connection that cannot roll back is discarded (the server rolls back) */
    rollback(): Promise<void>
}

export interface ClearReport {
    /** records (rows, documents, keys) removed, when the backend can tell; else null */
    readonly removed: number | null
    /** keys left alone because they also read as another present session's (Redis) */
    readonly shared: readonly string[]
}

/** How a driver error is classified (null: not a driver error, i.e. the data is at fault). */
export type DriverErrorClass =
    | 'refused'
    | 'unknown-host'
    | 'timeout'
    | 'credentials'
    | 'no-database'
    | 'permission'
    | 'disk-full'
    | 'lost'
    | 'driver'

/** What a bare backend name resolves to from the environment. */
/** An address found in the environment, and the variable(s) it came from (for `zapo config`). */
export type EnvAddress =
    | { readonly url: string; readonly variable?: string }
    | { readonly spec: Omit<BackendSpec, 'source'>; readonly variable?: string }
    | null

export interface DriverProbe {
    readonly ok: boolean
    /** appended to the version in doctor's line (e.g. ", native module loads") */
    readonly detail: string
}

export interface BackendAdapter<K extends string = string> {
    readonly kind: K
    /** printable name: "PostgreSQL" */
    readonly title: string
    /** the official store package and the driver it needs */
    readonly packageName: string
    readonly driver: string
    /** URL schemes (with the colon) and bare names that select this backend */
    readonly schemes: readonly string[]
    readonly names: readonly string[]
    /**
     * the driver runs in this process (SQLite): a keyed read costs no round trip, so reading one
     * key at a time beats the store package's batch getters
     */
    readonly inProcess: boolean
    /** the namespacing option this backend's addresses take, or null */
    readonly prefixOption: PrefixOption | null
    /**
     * a foreign format zapo only reads (baileys/, whatsmeow/): what it is, for the one-line
     * refusal of every command that would write to it ("a Baileys auth folder")
     */
    readonly readOnly?: string
    /** the environment variables a bare name reads, for the "not configured" message */
    readonly envHint: string
    /** where a bare backend name points from the environment, or null */
    fromEnv(env: NodeJS.ProcessEnv): EnvAddress
    /** where a bare name points when nothing configures it (SQLite: the embedded default) */
    fallback?(cwd: string): BackendSpec
    /**
     * Parses an address of this backend's own form instead of the shared URL grammar (SQLite:
     * paths); `rest` is what follows the scheme.
     */
    parseAddress?(rest: string, source: SpecSource, cwd: string): BackendSpec
    /** checks and normalises a parsed URL in place (scheme aliases, the database part) */
    normalizeUrl?(url: URL): void
    open(spec: BackendSpec, mode: OpenMode): Promise<OpenedBackend>
    /**
     * Whether the store exists, when that can be told without connecting (SQLite: the file);
     * null when only the server can tell.
     */
    exists(spec: BackendSpec): boolean | null
    /** why the store could not be written (SQLite: the file or its directory), or null */
    unwritable(spec: BackendSpec): ZapoError | null
    /** the identity of a store, when it can be told without opening it (SQLite) */
    identityOf?(spec: BackendSpec): StoreIdentity
    /** loads the driver (and its native part); `detail` goes into doctor's line */
    probeDriver(): Promise<DriverProbe>
    /** the one classification of this driver's errors (null: not this driver's error) */
    classify(error: unknown): DriverErrorClass | null
    /**
     * the store package clears a session by key pattern (Redis): the library's own clean-up
     * (zapo-js `clearStoredState`) must not run on it — zapo clears by exact keys instead
     */
    readonly patternClears: boolean
    /**
     * Why a new session id must not be written to this backend (its keys would read as another
     * session's), given the ids it holds; null when it may. Absent: every valid id may.
     */
    idProblem?(sessionId: string, present: readonly string[]): string | null
}
