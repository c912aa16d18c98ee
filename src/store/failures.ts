/**
 * The one rule that decides whose fault a failure is, for every command: an error a backend's
 * driver claims (its adapter's `classify`: a refused or lost connection, a server's refusal) is
 * the store's, STORE_UNAVAILABLE; anything else thrown while a store package reads a record is
 * the data's — the record does not decode — INTEGRITY. A ZapoError keeps its own code.
 */

import { errorLine, ZapoError } from '../errors.js'
import { classifyDriverError } from './backends/registry.js'

export type FailureKind = 'store' | 'data'

export function failureKind(error: unknown): FailureKind {
    return classifyDriverError(error) !== null ? 'store' : 'data'
}

export interface FailureContext {
    readonly sessionId: string
    /** the store's printable address */
    readonly store: string
    /** what was being read, for the INTEGRITY line (default: its records) */
    readonly what?: 'credentials' | 'records'
}

/** A failure while reading a session, as the ZapoError the rule gives it. */
export function sessionFailure(error: unknown, context: FailureContext): ZapoError {
    if (error instanceof ZapoError) return error
    const { sessionId, store } = context
    const message = errorLine(error)
    if (failureKind(error) === 'store') {
        const driverCode = (error as { code?: unknown } | null)?.code
        return new ZapoError(
            'STORE_UNAVAILABLE',
            `lost the store ${store} while reading session "${sessionId}": ${message}; check the store and retry`,
            {
                sessionId,
                store,
                driverCode:
                    typeof driverCode === 'string' || typeof driverCode === 'number'
                        ? driverCode
                        : null
            },
            { cause: error }
        )
    }
    return new ZapoError(
        'INTEGRITY',
        `the ${context.what ?? 'records'} of session "${sessionId}" in ${store} do not decode (${message}): the stored record is corrupt; restore it from an export or re-pair`,
        { sessionId, store },
        { cause: error }
    )
}

/** A store's failure in words for a one-line message ("the disk is full", else its first line). */
export function storeProblem(error: unknown): string {
    return classifyDriverError(error) === 'disk-full' ? 'the disk is full' : errorLine(error)
}
