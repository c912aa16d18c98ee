/**
 * The loopback HTTP control interface of the sandbox: JSON in, JSON out. It always binds to
 * 127.0.0.1, whatever host the protocol endpoint listens on. See docs/sandbox.md.
 *
 * Only programs on this machine talk to it, never a web page: a browser could otherwise drive it
 * from any site the operator has open (a form or `fetch` with `Content-Type: text/plain` needs
 * no CORS preflight; DNS rebinding gets around the same-origin policy). So a request carrying
 * an `Origin` header, or a `Host` other than the address and port it listens on, is refused
 * (403) before anything else, and a request with a body must say `application/json` (415).
 */
import { createServer } from 'node:http'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

import { parseFaultKind, parseLoginRefusal } from './faults.js'
import type { SandboxApi } from './index.js'
import { GROUP_ACTIONS } from './inject.js'

const MAX_BODY_BYTES = 64 * 1024
const LISTEN_HOST = '127.0.0.1'

class HttpError extends Error {
    constructor(
        readonly status: number,
        message: string,
        readonly headers: Readonly<Record<string, string>> = {}
    ) {
        super(message)
    }
}

type Body = Readonly<Record<string, unknown>>

function str(body: Body, key: string, required = true): string | undefined {
    const value = body[key]
    if (value === undefined || value === null || value === '') {
        if (required) throw new HttpError(400, `missing "${key}"`)
        return undefined
    }
    if (typeof value !== 'string') throw new HttpError(400, `"${key}" must be a string`)
    return value
}

function num(body: Body, key: string): number | undefined {
    const value = body[key]
    if (value === undefined || value === null) return undefined
    if (typeof value !== 'number' || !Number.isFinite(value)) {
        throw new HttpError(400, `"${key}" must be a number`)
    }
    return value
}

function oneOf<T extends string>(body: Body, key: string, allowed: readonly T[]): T | undefined {
    const value = str(body, key, false)
    if (value === undefined) return undefined
    if (!(allowed as readonly string[]).includes(value)) {
        throw new HttpError(400, `"${key}" must be one of ${allowed.join(', ')}`)
    }
    return value as T
}

/**
 * Refuses what a web page could send: an `Origin` header (browsers add it to cross-origin and
 * to POST requests), or a `Host` that is not this listener (a DNS-rebound name).
 */
function checkCaller(req: IncomingMessage, port: number): void {
    if (req.headers.origin !== undefined) {
        throw new HttpError(403, 'requests from web pages are refused (Origin header present)')
    }
    const host = req.headers.host ?? ''
    if (host !== `${LISTEN_HOST}:${port}` && host !== `localhost:${port}`) {
        throw new HttpError(
            403,
            `Host must be ${LISTEN_HOST}:${port} (the control API serves this machine only)`
        )
    }
}

function hasBody(req: IncomingMessage): boolean {
    const length = req.headers['content-length']
    return (
        (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined
    )
}

async function readBody(req: IncomingMessage): Promise<Body> {
    if (!hasBody(req)) return {}
    const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase()
    if (type !== 'application/json') {
        throw new HttpError(415, 'send the body as JSON with Content-Type: application/json')
    }
    const chunks: Buffer[] = []
    let size = 0
    for await (const chunk of req) {
        const buffer = chunk as Buffer
        size += buffer.length
        if (size > MAX_BODY_BYTES) throw new HttpError(413, 'request body is too large')
        chunks.push(buffer)
    }
    if (size === 0) return {}
    try {
        const parsed: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'))
        if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
            throw new HttpError(400, 'body must be a JSON object')
        }
        return parsed as Body
    } catch (error) {
        if (error instanceof HttpError) throw error
        throw new HttpError(400, 'body is not valid JSON')
    }
}

function send(
    res: ServerResponse,
    status: number,
    value: unknown,
    headers: Readonly<Record<string, string>> = {}
): void {
    const body = JSON.stringify(value)
    res.writeHead(status, {
        ...headers,
        'content-type': 'application/json; charset=utf-8',
        'content-length': Buffer.byteLength(body)
    })
    res.end(body)
}

interface Route {
    readonly method: 'GET' | 'POST'
    readonly handle: (api: SandboxApi, body: Body, query: URLSearchParams) => unknown
}

function parsed<T>(parse: () => T): T {
    try {
        return parse()
    } catch (error) {
        throw new HttpError(400, (error as Error).message)
    }
}

/** Every endpoint, by path. `GET /` lists them. */
const ROUTES: Readonly<Record<string, Route>> = Object.freeze({
    '/': {
        method: 'GET',
        handle: () => ({
            endpoints: Object.entries(ROUTES)
                .filter(([path]) => path !== '/')
                .map(([path, route]) => `${route.method} ${path}${QUERY_HINTS[path] ?? ''}`)
        })
    },
    '/devices': { method: 'GET', handle: api => ({ devices: api.devices() }) },
    '/messages': {
        method: 'GET',
        handle: (api, _body, query) => ({
            messages: api.peerMessages(query.get('peer')).map(({ message: _m, ...entry }) => entry)
        })
    },
    '/scan': {
        method: 'POST',
        handle: (api, body) => {
            const qr = str(body, 'qr') as string
            const phone = str(body, 'phone', false)
            const options = phone ? { phone } : {}
            return body.delayed === true ? api.presentQr(qr, options) : api.scan(qr, options)
        }
    },
    '/refuse-next-scan': {
        method: 'POST',
        handle: api => {
            api.refuseNextScan()
            return { ok: true }
        }
    },
    '/pairing-code': {
        method: 'POST',
        handle: (api, body) => {
            const phone = str(body, 'phone', false)
            return api.enterPairingCode(str(body, 'code') as string, phone ? { phone } : {})
        }
    },
    '/message': {
        method: 'POST',
        handle: (api, body) => {
            const id = str(body, 'id', false)
            const pushName = str(body, 'pushName', false)
            return api.sendMessage({
                to: str(body, 'to') as string,
                from: str(body, 'from') as string,
                text: str(body, 'text') as string,
                ...(id ? { id } : {}),
                ...(pushName ? { pushName } : {})
            })
        }
    },
    '/group-message': {
        method: 'POST',
        handle: (api, body) => {
            const id = str(body, 'id', false)
            const pushName = str(body, 'pushName', false)
            return api.sendGroupMessage({
                to: str(body, 'to') as string,
                group: str(body, 'group') as string,
                from: str(body, 'from') as string,
                text: str(body, 'text') as string,
                ...(id ? { id } : {}),
                ...(pushName ? { pushName } : {})
            })
        }
    },
    '/initial-sync': {
        method: 'POST',
        handle: (api, body) => api.sendInitialSync({ to: str(body, 'to') as string })
    },
    '/presence': {
        method: 'POST',
        handle: async (api, body) => {
            const type = oneOf(body, 'type', ['available', 'unavailable'] as const)
            const last = num(body, 'last')
            await api.sendPresence({
                to: str(body, 'to') as string,
                from: str(body, 'from') as string,
                ...(type ? { type } : {}),
                ...(last !== undefined ? { last } : {})
            })
            return { ok: true }
        }
    },
    '/chatstate': {
        method: 'POST',
        handle: async (api, body) => {
            const state = oneOf(body, 'state', ['composing', 'paused', 'recording'] as const)
            const participant = str(body, 'participant', false)
            await api.sendChatstate({
                to: str(body, 'to') as string,
                from: str(body, 'from') as string,
                ...(state ? { state } : {}),
                ...(participant ? { participant } : {})
            })
            return { ok: true }
        }
    },
    '/receipt': {
        method: 'POST',
        handle: async (api, body) => {
            const type = oneOf(body, 'type', ['delivery', 'read', 'played'] as const)
            await api.sendReceipt({
                to: str(body, 'to') as string,
                from: str(body, 'from') as string,
                id: str(body, 'id') as string,
                ...(type ? { type } : {})
            })
            return { ok: true }
        }
    },
    '/notification': {
        method: 'POST',
        handle: async (api, body) => {
            const type = str(body, 'type', false)
            const from = str(body, 'from', false)
            const id = await api.sendNotification({
                to: str(body, 'to') as string,
                ...(type ? { type } : {}),
                ...(from ? { from } : {})
            })
            return { id }
        }
    },
    '/group-event': {
        method: 'POST',
        handle: async (api, body) => {
            const action = oneOf(body, 'action', GROUP_ACTIONS) ?? 'add'
            const participants = body.participants
            if (
                participants !== undefined &&
                (!Array.isArray(participants) || participants.some(p => typeof p !== 'string'))
            ) {
                throw new HttpError(400, '"participants" must be an array of strings')
            }
            const subject = str(body, 'subject', false)
            const id = await api.sendGroupEvent({
                to: str(body, 'to') as string,
                group: str(body, 'group') as string,
                author: str(body, 'author') as string,
                action,
                ...(participants ? { participants: participants as string[] } : {}),
                ...(subject ? { subject } : {})
            })
            return { id }
        }
    },
    '/call': {
        method: 'POST',
        handle: async (api, body) => {
            const callId = await api.sendCall({
                to: str(body, 'to') as string,
                from: str(body, 'from') as string,
                video: body.video === true
            })
            return { callId }
        }
    },
    '/fault': {
        method: 'POST',
        handle: async (api, body) => {
            const kind = parsed(() => parseFaultKind(str(body, 'kind') as string))
            const ms = num(body, 'ms')
            await api.fault(str(body, 'device') as string, kind, ms !== undefined ? { ms } : {})
            return { ok: true }
        }
    },
    '/refuse-next-login': {
        method: 'POST',
        handle: (api, body) => {
            const kind = parsed(() => parseLoginRefusal(str(body, 'kind') as string))
            api.refuseNextLogin(str(body, 'device') as string, kind)
            return { ok: true }
        }
    }
})

const QUERY_HINTS: Readonly<Record<string, string>> = Object.freeze({ '/messages': '?peer=' })

/**
 * The caller's checks, then the route (404 for an unknown path, 405 for the wrong method), then
 * the body. An error the sandbox itself raises (unknown device, expired QR, …) is a 409.
 */
async function answer(api: SandboxApi, req: IncomingMessage, port: number): Promise<unknown> {
    checkCaller(req, port)
    const url = new URL(req.url ?? '/', `http://${LISTEN_HOST}`)
    const path = url.pathname.replace(/\/+$/, '') || '/'
    const method = req.method ?? 'GET'
    const route = Object.hasOwn(ROUTES, path) ? ROUTES[path] : undefined
    if (!route) throw new HttpError(404, `no endpoint ${path} (GET / lists them)`)
    if (route.method !== method) {
        throw new HttpError(405, `use ${route.method} ${path}`, { allow: route.method })
    }
    const body = await readBody(req)
    return route.handle(api, body, url.searchParams)
}

export interface ControlServer {
    readonly url: string
    close(): Promise<void>
}

export async function startControlServer(api: SandboxApi, port = 0): Promise<ControlServer> {
    let boundPort = 0
    // a request without Host gets the same 403 as any other Host, not Node's bare 400
    const http: Server = createServer({ requireHostHeader: false }, (req, res) => {
        answer(api, req, boundPort)
            .then(result => send(res, 200, result))
            .catch((error: unknown) => {
                const status = error instanceof HttpError ? error.status : 409
                const headers = error instanceof HttpError ? error.headers : {}
                send(res, status, { error: (error as Error).message }, headers)
                // an answer sent before the body was read: do not keep reading it
                if (!req.complete) req.resume()
            })
    })
    await new Promise<void>((resolve, reject) => {
        http.once('error', reject)
        http.listen(port, LISTEN_HOST, () => {
            http.off('error', reject)
            resolve()
        })
    })
    boundPort = (http.address() as AddressInfo).port
    return {
        url: `http://${LISTEN_HOST}:${boundPort}`,
        close: () =>
            new Promise<void>(resolve => {
                http.close(() => resolve())
                http.closeAllConnections()
            })
    }
}
