/**
 * The shapes shared by everything that reads or writes a whole session:
 * the session catalog (key enumeration, the only backend-specific code),
 * and the record reader/writer that goes through the zapo-js store
 * contracts. Export/import, migrate, sessions list and check build on these.
 */

import type { WaAuthCredentials } from 'zapo-js'
import type { WaAppStateSyncKey } from 'zapo-js/appstate'
import type {
    PreKeyRecord,
    RegistrationInfo,
    SenderKeyDistributionRecord,
    SenderKeyRecord,
    SignalAddress,
    SignalSessionRecord,
    SignedPreKeyRecord
} from 'zapo-js/signal'

/** Record counts of one session, per durable domain. */
export interface SessionCounts {
    readonly credentials: boolean
    readonly registration: boolean
    readonly signedPreKey: boolean
    readonly preKeys: number
    readonly preKeysUploaded: number
    readonly signalSessions: number
    readonly identities: number
    readonly senderKeys: number
    readonly senderKeyDistributions: number
    readonly appStateSyncKeys: number
    readonly appStateCollections: number
    readonly privacyTokens: number
}

export type SchemaState = 'missing' | 'partial' | 'ready'

/**
 * Backend-specific key enumeration over one opened backend. Pages are
 * arrays of keys (at most `pageSize`), streamed so memory does not grow
 * with the store.
 */
export interface SessionCatalog {
    /** whether the zapo tables / keys exist; reading never creates them */
    schemaState(): Promise<{ readonly state: SchemaState; readonly detail: string }>
    /** every session id holding any durable record, sorted */
    listSessionIds(): Promise<readonly string[]>
    counts(sessionId: string): Promise<SessionCounts>
    preKeyIds(sessionId: string, pageSize: number): AsyncIterable<readonly number[]>
    sessionAddresses(sessionId: string, pageSize: number): AsyncIterable<readonly SignalAddress[]>
    identityAddresses(sessionId: string, pageSize: number): AsyncIterable<readonly SignalAddress[]>
    /** group ids with sender keys or distributions */
    senderKeyGroupIds(sessionId: string, pageSize: number): AsyncIterable<readonly string[]>
    appStateSyncKeyIds(sessionId: string, pageSize: number): AsyncIterable<readonly Uint8Array[]>
    appStateCollections(sessionId: string): Promise<readonly string[]>
    privacyTokenJids(sessionId: string, pageSize: number): AsyncIterable<readonly string[]>
}

/** One batch of a session's records, as read through the store contracts. */
export type RecordBatch =
    | { readonly domain: 'auth'; readonly credentials: WaAuthCredentials }
    | {
          readonly domain: 'signal'
          readonly registration: RegistrationInfo | null
          readonly signedPreKey: SignedPreKeyRecord | null
          readonly signedPreKeyRotationTs: number | null
      }
    | {
          readonly domain: 'preKey'
          readonly records: readonly PreKeyRecord[]
          readonly serverHasPreKeys: boolean
          /** the store's next one-time prekey id (its counter); absent/null when unknown */
          readonly nextPreKeyId?: number | null
      }
    | {
          readonly domain: 'session'
          readonly entries: readonly {
              readonly address: SignalAddress
              readonly session: SignalSessionRecord
          }[]
      }
    | {
          readonly domain: 'identity'
          readonly entries: readonly {
              readonly address: SignalAddress
              readonly identityKey: Uint8Array
          }[]
      }
    | {
          readonly domain: 'senderKey'
          readonly senderKeys: readonly SenderKeyRecord[]
          readonly distributions: readonly SenderKeyDistributionRecord[]
      }
    | { readonly domain: 'appState'; readonly syncKeys: readonly WaAppStateSyncKey[] }
    | {
          readonly domain: 'appStateCollections'
          readonly collections: readonly {
              readonly collection: string
              readonly version: number
              readonly hash: Uint8Array
              readonly indexValueMap: ReadonlyMap<string, Uint8Array>
          }[]
      }
    | {
          readonly domain: 'privacyToken'
          readonly records: readonly import('zapo-js/store').WaStoredPrivacyTokenRecord[]
      }
