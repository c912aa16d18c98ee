/**
 * The records of a session per durable domain, for people: one module for every place that
 * shows them (export and import summaries, the sessions rm preview and result, the --wide
 * columns of sessions list, logout's before/after table, migrate's plan). The domains and the
 * fields each owns come from one table (store/domains.ts, COUNT_FIELDS).
 */

import type { DurableDomain } from '../store/address.js'
import { COUNT_FIELDS, DURABLE_DOMAINS } from '../store/domains.js'
import type { SessionCounts } from '../store/records.types.js'
import { padEnd, padStart } from './format.js'

/** One domain's records in words; `null` when the domain holds nothing. */
function domainWords(domain: DurableDomain, c: SessionCounts): string | null {
    switch (domain) {
        case 'auth':
            return c.credentials ? 'credentials' : null
        case 'signal':
            if (c.registration) return `registration${c.signedPreKey ? ' + signed prekey' : ''}`
            return c.signedPreKey ? 'signed prekey (no registration)' : null
        case 'preKey':
            return c.preKeys > 0 ? `${c.preKeys} prekeys (${c.preKeysUploaded} uploaded)` : null
        case 'session':
            return c.signalSessions > 0 ? `${c.signalSessions} signal sessions` : null
        case 'identity':
            return c.identities > 0 ? `${c.identities} identities` : null
        case 'senderKey':
            return c.senderKeys + c.senderKeyDistributions > 0
                ? `${c.senderKeys} sender keys, ${c.senderKeyDistributions} distributions`
                : null
        case 'appState':
            return c.appStateSyncKeys + c.appStateCollections > 0
                ? `${c.appStateSyncKeys} app-state keys, ${c.appStateCollections} collections`
                : null
        case 'privacyToken':
            return c.privacyTokens > 0 ? `${c.privacyTokens} privacy tokens` : null
    }
}

/** What an empty domain reads as when it was asked for (an export's chosen domains). */
const EMPTY_WORDS: Readonly<Record<DurableDomain, string>> = Object.freeze({
    auth: 'no credentials',
    signal: 'no registration',
    preKey: '0 prekeys (0 uploaded)',
    session: '0 signal sessions',
    identity: '0 identities',
    senderKey: '0 sender keys, 0 distributions',
    appState: '0 app-state keys, 0 collections',
    privacyToken: '0 privacy tokens'
})

/**
 * A session's records in words: "credentials · registration + signed prekey · 30 prekeys (10
 * uploaded) · …". With `domains` (an export's), every one of them is said, empty or not; without,
 * only the domains that hold something ("nothing" when none does).
 */
export function describeCounts(counts: SessionCounts, domains?: readonly DurableDomain[]): string {
    const parts = DURABLE_DOMAINS.filter(d => domains === undefined || domains.includes(d))
        .map(d => domainWords(d, counts) ?? (domains !== undefined ? EMPTY_WORDS[d] : null))
        .filter((part): part is string => part !== null)
    return parts.length > 0 ? parts.join(' · ') : 'nothing'
}

/** The columns of sessions list --wide: a header and a cell per domain that holds numbers. */
export const COUNT_COLUMNS: readonly (readonly [string, (c: SessionCounts) => string])[] =
    Object.freeze([
        ['PREKEYS', c => `${c.preKeysUploaded}/${c.preKeys}`],
        ['SESS', c => String(c.signalSessions)],
        ['IDENT', c => String(c.identities)],
        ['SENDERKEYS', c => `${c.senderKeys}/${c.senderKeyDistributions}`],
        ['APPSTATE', c => `${c.appStateSyncKeys}/${c.appStateCollections}`],
        ['TOKENS', c => String(c.privacyTokens)]
    ])

/**
 * A table of the count fields with their domain and one column per state (logout's "before" and
 * "after"); fields that are zero in every column are left out.
 */
export function countTable(
    columns: readonly (readonly [string, SessionCounts])[],
    indent = '  '
): string[] {
    const rows = DURABLE_DOMAINS.flatMap(domain =>
        COUNT_FIELDS[domain].map(field => ({ field, domain }))
    )
    const line = (cells: readonly string[]): string =>
        indent +
        [
            padEnd(cells[0]!, 24),
            padEnd(cells[1]!, 13),
            ...cells.slice(2).map(cell => padStart(cell, 7))
        ].join(' ')
    const out = [line(['records', 'domain', ...columns.map(([header]) => header)])]
    for (const { field, domain } of rows) {
        const values = columns.map(([, counts]) => Number(counts[field]))
        if (values.every(v => v === 0)) continue
        out.push(line([field, domain, ...values.map(String)]))
    }
    return out
}

/** Records per domain as the migrate plan counts them: "auth 1, signal 2, preKey 30". */
export function describeDomainRecords(
    records: Readonly<Partial<Record<string, number>>>,
    domains: readonly string[]
): string {
    return domains.map(d => `${d} ${records[d] ?? 0}`).join(', ')
}
