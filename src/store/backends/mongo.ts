/**
 * MongoDB, through `@zapo-js/store-mongo` on a MongoClient the tool owns; collections are
 * `<collectionPrefix><name>` in the URL's database. Per-session documents are keyed
 * `_id: <sid>` (auth_credentials, signal_meta, signal_registration, signal_signed_prekey) or
 * `_id: { session_id, … }` (everything else). Existence is checked with listCollections; reading
 * never creates a collection or an index.
 *
 * No MongoDB server runs on the project's machines: this adapter is tested only where
 * MONGODB_URI is set.
 */

import type { Db, Document, MongoClient } from 'mongodb'
import type { SignalAddress } from 'zapo-js/signal'
import type { BackendSpec } from '../address.js'
import type { SchemaState } from '../records.types.js'
import type { ZapoSessionCatalog } from '../catalog/types.js'
import { EMPTY_COUNTS, countsFromRows, sortStrings } from '../catalog/types.js'
import type { MigrationMark, MigrationMarks } from '../migration-marks.js'
import { MARKS_TABLE, toMark } from '../migration-marks.js'
import { LEASES_TABLE, toLease, type LeaseRecord, type SessionLeases } from '../lease.js'
import type {
    ArchiveDomainKeys,
    BackendAdapter,
    DomainStores,
    OpenedBackend,
    StoreIdentity
} from './types.js'
import {
    clearThroughContracts,
    CONNECT_TIMEOUT_MS,
    connectError,
    loadStorePackage,
    SERVER_BACKEND,
    socketErrorClass
} from './shared.js'
import { SQL_ARCHIVE_TABLES } from './sql.js'

export const mongoBackend: BackendAdapter<'mongo'> = {
    kind: 'mongo',
    title: 'MongoDB',
    packageName: '@zapo-js/store-mongo',
    driver: 'mongodb',
    schemes: ['mongodb:', 'mongodb+srv:'],
    names: ['mongo', 'mongodb'],
    ...SERVER_BACKEND,
    prefixOption: 'collectionPrefix',
    envHint: 'MONGODB_URI',
    fromEnv: env => {
        if (env.MONGODB_URI) return { url: env.MONGODB_URI, variable: 'MONGODB_URI' }
        if (env.MONGO_URL) return { url: env.MONGO_URL, variable: 'MONGO_URL' }
        return null
    },
    open: openMongo,
    patternClears: false,
    classify: error => {
        const err = error as { name?: unknown; code?: unknown; message?: unknown } | null
        const name = typeof err?.name === 'string' ? err.name : ''
        const socket = socketErrorClass(error)
        if (socket !== null) return socket
        if (err?.code === 18 || /Authentication failed/i.test(String(err?.message ?? '')))
            return 'credentials'
        if (err?.code === 13) return 'permission'
        if (name === 'MongoServerSelectionError') return 'timeout'
        if (/^Mongo(Network|NetworkTimeout|TopologyClosed|NotConnected)Error$/.test(name))
            return 'lost'
        if (name.startsWith('Mongo')) return 'driver'
        return null
    }
}

async function openMongo(spec: BackendSpec): Promise<OpenedBackend> {
    const { MongoClient } = await import('mongodb')
    const client = new MongoClient(spec.target, {
        serverSelectionTimeoutMS: CONNECT_TIMEOUT_MS,
        connectTimeoutMS: CONNECT_TIMEOUT_MS
    })
    let db: Db
    try {
        await client.connect()
        db = client.db()
        await db.command({ ping: 1 })
    } catch (error) {
        await client.close().catch(() => undefined)
        throw connectError(spec, error, mongoBackend.classify(error))
    }
    const { createMongoStore } = loadStorePackage('@zapo-js/store-mongo')
    const result = createMongoStore({
        db,
        ...(spec.collectionPrefix !== undefined ? { collectionPrefix: spec.collectionPrefix } : {})
    })
    const prefix = spec.collectionPrefix ?? ''
    return {
        spec,
        kind: 'mongo',
        stores: result.stores as unknown as DomainStores,
        catalog: () => mongoCatalog(db, spec),
        archiveKeys: domain => {
            // the mongo package names its archive collections as the SQL packages name their tables
            const { table, column } = SQL_ARCHIVE_TABLES[domain]
            return mongoKeys(db, `${prefix}${table}`, column)
        },
        marks: () => mongoMarks(db, `${prefix}${MARKS_TABLE}`),
        leases: () => mongoLeases(db, `${prefix}${LEASES_TABLE}`),
        identity: () => identity(client, db, spec),
        clearSession: (sessionId, domains) =>
            clearThroughContracts(result.stores as unknown as DomainStores, sessionId, domains),
        foreignObjects: async () => 0,
        close: () => client.close()
    }
}

/**
 * What the server's `hello` reports: a replica set by its name (every member holds the same
 * data), a single server by its process id (topologyVersion.processId, new at each start), else
 * the host and port it calls itself. Then the database, then the collection prefix.
 */
async function identity(client: MongoClient, db: Db, spec: BackendSpec): Promise<StoreIdentity> {
    const hello = (await client.db('admin').command({ hello: 1 })) as {
        setName?: string
        me?: string
        topologyVersion?: { processId?: { toHexString?: () => string } }
    }
    const processId = hello.topologyVersion?.processId?.toHexString?.()
    const [instance, basis] = hello.setName
        ? [`rs:${hello.setName}`, 'replica set name']
        : processId
          ? [`process:${processId}`, 'process id']
          : [`host:${hello.me ?? spec.target}`, 'host']
    return {
        kind: 'mongo',
        instance,
        scope: db.databaseName,
        namespace: spec.collectionPrefix ?? '',
        overlap: 'equal',
        basis
    }
}

const MONGO_DURABLE = Object.freeze([
    'auth_credentials',
    'signal_meta',
    'signal_registration',
    'signal_signed_prekey',
    'signal_prekeys',
    'signal_sessions',
    'signal_identities',
    'sender_keys',
    'sender_key_distribution',
    'appstate_sync_keys',
    'appstate_collection_versions',
    'appstate_collection_index_values',
    'privacy_tokens'
] as const)
type MongoCollection = (typeof MONGO_DURABLE)[number]

const PLAIN_ID: ReadonlySet<MongoCollection> = new Set([
    'auth_credentials',
    'signal_meta',
    'signal_registration',
    'signal_signed_prekey'
])
const SESSION_COLLECTIONS: readonly MongoCollection[] = MONGO_DURABLE.filter(
    c => c !== 'signal_meta' && c !== 'appstate_collection_index_values'
)

function bytesOf(value: unknown): Uint8Array {
    const v = value as { buffer?: unknown; value?: (asRaw?: boolean) => unknown }
    if (value instanceof Uint8Array) return new Uint8Array(value)
    if (v && v.buffer instanceof Uint8Array) return new Uint8Array(v.buffer)
    throw new Error('catalog: expected binary _id part')
}

function mongoCatalog(db: Db, spec: BackendSpec): ZapoSessionCatalog {
    const prefix = spec.collectionPrefix ?? ''
    const name = (c: MongoCollection): string => `${prefix}${c}`
    const col = (c: MongoCollection) => db.collection(name(c))

    const present = async (): Promise<ReadonlySet<MongoCollection>> => {
        const names = new Set(
            (await db.listCollections({}, { nameOnly: true }).toArray()).map(c => c.name)
        )
        return new Set(MONGO_DURABLE.filter(c => names.has(name(c))))
    }
    const sidField = (c: MongoCollection): string => (PLAIN_ID.has(c) ? '_id' : '_id.session_id')

    const countBy = async (
        c: MongoCollection,
        ids: readonly string[],
        have: ReadonlySet<MongoCollection>,
        extra: Document = {}
    ) => {
        const out = new Map<string, Document>()
        if (!have.has(c)) return out
        const rows = await col(c)
            .aggregate([
                { $match: { [sidField(c)]: { $in: ids } } },
                { $group: { _id: `$${sidField(c)}`, n: { $sum: 1 }, ...extra } }
            ])
            .toArray()
        for (const row of rows) out.set(String(row._id), row)
        return out
    }

    async function* pages<T>(
        c: MongoCollection,
        sessionId: string,
        fields: readonly string[],
        pageSize: number,
        toItem: (id: Document) => T
    ): AsyncIterable<readonly T[]> {
        if (!(await present()).has(c)) return
        const sort: Record<string, 1> = {}
        for (const f of fields) sort[`_id.${f}`] = 1
        const cursor = col(c)
            .find({ '_id.session_id': sessionId }, { projection: { _id: 1 } })
            .sort(sort)
            .batchSize(pageSize)
        let page: T[] = []
        for await (const doc of cursor) {
            page.push(toItem(doc._id as Document))
            if (page.length >= pageSize) {
                yield page
                page = []
            }
        }
        if (page.length > 0) yield page
    }

    const toAddress = (id: Document): SignalAddress => ({
        user: String(id.user),
        server: String(id.server),
        device: Number(id.device)
    })

    const catalog: ZapoSessionCatalog = {
        kind: 'mongo',
        async schemaState() {
            const have = await present()
            if (have.size === 0)
                return {
                    state: 'missing' as SchemaState,
                    detail: `no zapo collections with prefix "${prefix}"`
                }
            // collections are created on first write: a store that never held a domain lacks it
            const missing = MONGO_DURABLE.filter(c => !have.has(c))
            if (!have.has('auth_credentials')) {
                return {
                    state: 'partial' as SchemaState,
                    detail: `missing collections: ${missing.map(name).join(', ')}`
                }
            }
            return {
                state: 'ready' as SchemaState,
                detail:
                    missing.length === 0
                        ? 'all durable collections'
                        : `not yet written: ${missing.map(name).join(', ')}`
            }
        },
        async listSessionIds() {
            const have = await present()
            const ids = new Set<string>()
            for (const c of SESSION_COLLECTIONS) {
                if (!have.has(c)) continue
                for (const v of await col(c).distinct(sidField(c))) ids.add(String(v))
            }
            return sortStrings(ids)
        },
        async counts(sessionId) {
            return (await catalog.countsMany([sessionId])).get(sessionId) ?? EMPTY_COUNTS
        },
        async countsMany(sessionIds) {
            const ids = [...new Set(sessionIds)]
            const have = await present()
            const rows = await Promise.all([
                countBy('auth_credentials', ids, have),
                countBy('signal_registration', ids, have),
                countBy('signal_signed_prekey', ids, have),
                countBy('signal_prekeys', ids, have, {
                    up: { $sum: { $cond: ['$uploaded', 1, 0] } }
                }),
                countBy('signal_sessions', ids, have),
                countBy('signal_identities', ids, have),
                countBy('sender_keys', ids, have),
                countBy('sender_key_distribution', ids, have),
                countBy('appstate_sync_keys', ids, have),
                countBy('appstate_collection_versions', ids, have),
                countBy('privacy_tokens', ids, have)
            ])
            return countsFromRows(ids, rows)
        },
        async nextPreKeyId(sessionId) {
            if (!(await present()).has('signal_meta')) return null
            const doc = await col('signal_meta').findOne({ _id: sessionId as never })
            return doc && doc.next_prekey_id !== undefined ? Number(doc.next_prekey_id) : null
        },
        preKeyIds: (sessionId, pageSize) =>
            pages('signal_prekeys', sessionId, ['key_id'], pageSize, id => Number(id.key_id)),
        sessionAddresses: (sessionId, pageSize) =>
            pages('signal_sessions', sessionId, ['user', 'server', 'device'], pageSize, toAddress),
        identityAddresses: (sessionId, pageSize) =>
            pages(
                'signal_identities',
                sessionId,
                ['user', 'server', 'device'],
                pageSize,
                toAddress
            ),
        async *senderKeyGroupIds(sessionId, pageSize) {
            const have = await present()
            const groups = new Set<string>()
            for (const c of ['sender_keys', 'sender_key_distribution'] as const) {
                if (!have.has(c)) continue
                for (const g of await col(c).distinct('_id.group_id', {
                    '_id.session_id': sessionId
                }))
                    groups.add(String(g))
            }
            const all = sortStrings(groups)
            for (let at = 0; at < all.length; at += pageSize) yield all.slice(at, at + pageSize)
        },
        appStateSyncKeyIds: (sessionId, pageSize) =>
            pages('appstate_sync_keys', sessionId, ['key_id'], pageSize, id => bytesOf(id.key_id)),
        async appStateCollections(sessionId) {
            if (!(await present()).has('appstate_collection_versions')) return []
            const docs = await col('appstate_collection_versions')
                .find({ '_id.session_id': sessionId }, { projection: { _id: 1 } })
                .toArray()
            return sortStrings(docs.map(d => String((d._id as unknown as Document).collection)))
        },
        privacyTokenJids: (sessionId, pageSize) =>
            pages('privacy_tokens', sessionId, ['jid'], pageSize, id => String(id.jid))
    }
    return catalog
}

function mongoKeys(db: Db, collection: string, column: string): ArchiveDomainKeys {
    let present = false
    const exists = async (): Promise<boolean> =>
        (present ||=
            (await db.listCollections({ name: collection }, { nameOnly: true }).toArray()).length >
            0)
    const keyPath = `_id.${column}`
    return {
        async countMany(ids) {
            const out = new Map<string, number>()
            if (ids.length === 0 || !(await exists())) return out
            const rows = await db
                .collection(collection)
                .aggregate([
                    { $match: { '_id.session_id': { $in: [...ids] } } },
                    { $group: { _id: '$_id.session_id', n: { $sum: 1 } } }
                ])
                .toArray()
            for (const row of rows) out.set(String(row._id), Number(row.n))
            return out
        },
        async *keys(sessionId, pageSize) {
            if (!(await exists())) return
            let cursor: string | null = null
            for (;;) {
                const filter: Record<string, unknown> = { '_id.session_id': sessionId }
                if (cursor !== null) filter[keyPath] = { $gt: cursor }
                const docs = await db
                    .collection(collection)
                    .find(filter, { projection: { _id: 1 } })
                    .sort({ [keyPath]: 1 })
                    .limit(pageSize)
                    .toArray()
                if (docs.length === 0) return
                const keys = docs.map(d =>
                    String((d._id as unknown as Record<string, unknown>)[column])
                )
                yield keys
                if (docs.length < pageSize) return
                cursor = keys[keys.length - 1]!
            }
        }
    }
}

function mongoMarks(db: Db, name: string): MigrationMarks {
    interface MarkDoc {
        _id: string
        source: string
        state: string
        updatedAt: number
    }
    const collection = db.collection<MarkDoc>(name)
    return {
        readAll: async () => {
            const out = new Map<string, MigrationMark>()
            for await (const doc of collection.find({})) {
                const mark = toMark({
                    session_id: doc._id,
                    source: doc.source,
                    state: doc.state,
                    updated_at: doc.updatedAt
                })
                if (mark) out.set(mark.sessionId, mark)
            }
            return out
        },
        write: async mark => {
            await collection.updateOne(
                { _id: mark.sessionId },
                { $set: { source: mark.source, state: mark.state, updatedAt: mark.updatedAt } },
                { upsert: true }
            )
        },
        remove: async sessionId => {
            await collection.deleteOne({ _id: sessionId })
        }
    }
}

/**
 * Session leases in MongoDB (store/lease.ts): one document per leased session in
 * `<collectionPrefix>zapo_session_leases`, `_id` the session id. Taking is an upsert whose filter
 * matches only an expired lease: on a live one the upsert collides with the existing `_id`
 * (duplicate key), which means "held". Renewal and release match the token.
 */
function mongoLeases(db: Db, name: string): SessionLeases {
    interface LeaseDoc extends Omit<LeaseRecord, never> {
        _id: string
    }
    const collection = db.collection<LeaseDoc>(name)
    const current = async (sessionId: string): Promise<LeaseRecord | null> =>
        toLease((await collection.findOne({ _id: sessionId })) as Record<string, unknown> | null)
    return {
        take: async (sessionId, lease, now) => {
            for (;;) {
                try {
                    await collection.updateOne(
                        { _id: sessionId, expires: { $lt: now } },
                        { $set: { ...lease } },
                        { upsert: true }
                    )
                } catch (error) {
                    if ((error as { code?: unknown }).code !== 11000) throw error
                }
                const held = await current(sessionId)
                if (held !== null) return held.token === lease.token ? null : held
            }
        },
        renew: async (sessionId, token, expires) => {
            const result = await collection.updateOne(
                { _id: sessionId, token },
                { $set: { expires } }
            )
            return result.matchedCount === 1
        },
        release: async (sessionId, token) => {
            await collection.deleteOne({ _id: sessionId, token })
        },
        read: async (sessionId, now) => {
            const held = await current(sessionId)
            return held !== null && held.expires >= now ? held : null
        }
    }
}
