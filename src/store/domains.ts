/**
 * The store domains of a zapo-js session, as the store contracts name them. A module of its own
 * (re-exported by address.ts) so that the backend adapters can use the lists without importing
 * the store grammar, which imports them.
 */

import type { SessionCounts } from './records.types.js'

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

/** Which catalog fields each durable domain owns, in the order the tool reports them. */
export const COUNT_FIELDS: Readonly<Record<DurableDomain, readonly (keyof SessionCounts)[]>> =
    Object.freeze({
        auth: ['credentials'],
        signal: ['registration', 'signedPreKey'],
        preKey: ['preKeys', 'preKeysUploaded'],
        session: ['signalSessions'],
        identity: ['identities'],
        senderKey: ['senderKeys', 'senderKeyDistributions'],
        appState: ['appStateSyncKeys', 'appStateCollections'],
        privacyToken: ['privacyTokens']
    })

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

export const ALL_DOMAINS: ReadonlySet<string> = new Set([
    ...DURABLE_DOMAINS,
    ...ARCHIVE_DOMAINS,
    ...CACHE_DOMAINS
])

export function isDomain(value: string): value is AnyDomain {
    return ALL_DOMAINS.has(value)
}
