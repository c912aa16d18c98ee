/**
 * Faults a test injects into a device's live connection (`fault(device, kind)` / `POST /fault`):
 * the stream errors and `<failure>` stanzas the real service ends a stream with, a cut TCP
 * connection, and answers held back (`late`). The login refusals `refuseNextLogin` takes are the
 * same kinds; login.ts sends them instead of `<success>`.
 */
import type { Logger } from 'zapo-js'
import type { BinaryNode } from 'zapo-js/transport'

import type { Connection } from './connection.js'
import type { SandboxEmitter } from './events.js'
import type { DeviceRegistry } from './registry.js'

export const FaultKind = Object.freeze({
    RESTART: 'restart',
    REPLACED: 'replaced',
    DEVICE_REMOVED: 'device_removed',
    NOT_AUTHORIZED: 'not_authorized',
    FORCE_LOGOUT: 'force_logout',
    SERVICE_UNAVAILABLE: 'service_unavailable',
    DROP: 'drop',
    LATE: 'late',
    LOCKED: 'locked',
    BANNED: 'banned',
    CLIENT_TOO_OLD: 'client_too_old',
    BAD_USER_AGENT: 'bad_user_agent',
    TEMP_BANNED: 'temp_banned'
} as const)
export type FaultKind = (typeof FaultKind)[keyof typeof FaultKind]

/**
 * The `<failure reason=…>` each refusal sends; zapo-js 0.3.0 maps exactly these reasons to close
 * events (`client/incoming.js` FAILURE_REASON_TO_DISCONNECT). These are the kinds
 * `refuseNextLogin` takes: the real service answers a login with them instead of `<success>`.
 */
export const LOGIN_REFUSAL_REASONS: Readonly<Partial<Record<FaultKind, number>>> = Object.freeze({
    not_authorized: 401,
    locked: 403,
    client_too_old: 405,
    banned: 406,
    bad_user_agent: 409,
    service_unavailable: 503,
    // zapo-js 0.3.0 maps no close event to 402: it only emits `failure`, the server closes
    temp_banned: 402
})

/** Refusals the real service gives only at login (it checks the client's version and user agent there). */
const LOGIN_ONLY_FAULTS: ReadonlySet<FaultKind> = new Set<FaultKind>([
    'client_too_old',
    'bad_user_agent'
])

const FAULT_ALIASES: Readonly<Record<string, FaultKind>> = Object.freeze({
    '515': 'restart',
    stream_error_515: 'restart',
    conflict: 'replaced',
    '401': 'not_authorized',
    '516': 'force_logout',
    '503': 'service_unavailable',
    drop_socket: 'drop',
    '403': 'locked',
    '406': 'banned',
    '405': 'client_too_old',
    '409': 'bad_user_agent',
    '402': 'temp_banned'
})

const DEFAULT_LATE_MS = 30_000

export function parseFaultKind(value: string): FaultKind {
    const normalized = value.trim().toLowerCase().replace(/-/g, '_')
    const known = Object.values(FaultKind) as string[]
    if (known.includes(normalized)) return normalized as FaultKind
    const alias = FAULT_ALIASES[normalized]
    if (alias) return alias
    throw new Error(`unknown fault "${value}": expected one of ${known.join(', ')}`)
}

/** Parses a login refusal kind (a fault kind the real service can answer a login with). */
export function parseLoginRefusal(value: string): FaultKind {
    const kind = parseFaultKind(value)
    if (LOGIN_REFUSAL_REASONS[kind] === undefined) {
        const allowed = Object.keys(LOGIN_REFUSAL_REASONS).join(', ')
        throw new Error(`"${value}" is not a login refusal: expected one of ${allowed}`)
    }
    return kind
}

export interface FaultsOptions {
    readonly registry: DeviceRegistry
    readonly logger: Logger
    /** the live connections, for a target given as a connection id */
    readonly connections: () => Iterable<Connection>
    readonly events?: SandboxEmitter
}

export class Faults {
    constructor(private readonly options: FaultsOptions) {}

    /**
     * Acts on the live connections of `target`: a device JID, an account JID or phone number
     * (every connected device of it), or a connection id. `ms` is the delay of `late`.
     */
    readonly fault = async (
        target: string,
        kind: FaultKind | string,
        options: { readonly ms?: number } = {}
    ): Promise<void> => {
        const parsed = parseFaultKind(kind)
        if (LOGIN_ONLY_FAULTS.has(parsed)) {
            throw new Error(
                `${parsed} is refused at login only: use refuseNextLogin (POST /refuse-next-login)`
            )
        }
        const conns = this.resolveConnections(target)
        if (conns.length === 0) throw new Error(`no live connection for ${target}`)
        this.options.events?.emit('fault', { target, kind: parsed })
        await Promise.all(
            conns.map(conn => this.apply(conn, parsed, options.ms ?? DEFAULT_LATE_MS))
        )
    }

    private resolveConnections(target: string): Connection[] {
        const fromDevices = this.options.registry
            .resolveDevices(target)
            .map(device => device.connection)
            .filter((conn): conn is Connection => conn !== null && !conn.closed)
        if (fromDevices.length > 0) return fromDevices
        const byId = Number(target)
        return [...this.options.connections()].filter(conn => conn.id === byId && !conn.closed)
    }

    private async apply(conn: Connection, kind: FaultKind, lateMs: number): Promise<void> {
        const device = conn.device
        const removeDevice = () => {
            if (device) this.options.registry.removeDevice(device.jid)
        }
        this.options.logger.info('sandbox injecting fault', { connectionId: conn.id, kind })
        switch (kind) {
            case 'restart':
                await conn.endWith({ tag: 'stream:error', attrs: { code: '515' } })
                return
            case 'replaced':
                await conn.endWith(streamConflict('replaced'))
                return
            case 'device_removed':
                removeDevice()
                await conn.endWith(streamConflict('device_removed'))
                return
            case 'not_authorized':
                removeDevice()
                await conn.endWith(failureNode(401))
                return
            case 'force_logout':
                removeDevice()
                await conn.endWith({ tag: 'stream:error', attrs: { code: '516' } })
                return
            case 'service_unavailable':
                await conn.endWith(failureNode(503))
                return
            case 'locked':
            case 'banned':
            case 'client_too_old':
            case 'bad_user_agent':
            case 'temp_banned':
                await conn.endWith(failureNode(LOGIN_REFUSAL_REASONS[kind] as number))
                return
            case 'drop':
                conn.terminate()
                return
            case 'late':
                conn.lateMs = lateMs
                return
        }
    }
}

/** `<failure reason=… location="sandbox"/>`: how the service refuses a login or ends a session. */
export function failureNode(reason: number): BinaryNode {
    return { tag: 'failure', attrs: { reason: String(reason), location: 'sandbox' } }
}

/** `<stream:error><conflict type=…/></stream:error>` (`replaced`, `device_removed`). */
export function streamConflict(type: 'replaced' | 'device_removed'): BinaryNode {
    return { tag: 'stream:error', attrs: {}, content: [{ tag: 'conflict', attrs: { type } }] }
}
