/**
 * The loopback HTTP control interface of the sandbox: JSON in, JSON out. It always binds to
 * 127.0.0.1, whatever host the protocol endpoint listens on. See docs/sandbox.md.
 */
import { createServer } from 'node:http'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

import { parseFaultKind, parseLoginRefusal } from './faults.js'
import type { SandboxApi } from './index.js'
import { GROUP_ACTIONS } from './inject.js'

const MAX_BODY_BYTES = 64 * 1024

class HttpError extends Error {
    constructor(
        readonly status: number,
        message: string
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

async function readBody(req: IncomingMessage): Promise<Body> {
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

function send(res: ServerResponse, status: number, value: unknown): void {
    const body = JSON.stringify(value)
    res.writeHead(status, {
        'content-type': 'application/json; charset=utf-8',
        'content-length': Buffer.byteLength(body)
    })
    res.end(body)
}

async function route(
    server: SandboxApi,
    method: string,
    path: string,
    query: URLSearchParams,
    body: Body
): Promise<unknown> {
    if (method === 'GET' && path === '/') {
        return {
            endpoints: [
                'GET /devices',
                'GET /messages?peer=',
                'POST /scan',
                'POST /refuse-next-scan',
                'POST /pairing-code',
                'POST /message',
                'POST /group-message',
                'POST /presence',
                'POST /chatstate',
                'POST /receipt',
                'POST /notification',
                'POST /group-event',
                'POST /call',
                'POST /fault',
                'POST /refuse-next-login'
            ]
        }
    }
    if (method === 'GET' && path === '/devices') {
        return { devices: server.devices() }
    }
    if (method === 'GET' && path === '/messages') {
        const peer = query.get('peer')
        return {
            messages: server.peerMessages(peer).map(({ message: _message, ...entry }) => entry)
        }
    }
    if (method !== 'POST') throw new HttpError(405, 'use POST')
    switch (path) {
        case '/scan': {
            const qr = str(body, 'qr') as string
            const phone = str(body, 'phone', false)
            const options = phone ? { phone } : {}
            return body.delayed === true ? server.presentQr(qr, options) : server.scan(qr, options)
        }
        case '/refuse-next-scan':
            server.refuseNextScan()
            return { ok: true }
        case '/pairing-code': {
            const phone = str(body, 'phone', false)
            return server.enterPairingCode(str(body, 'code') as string, phone ? { phone } : {})
        }
        case '/message':
            return server.sendMessage({
                to: str(body, 'to') as string,
                from: str(body, 'from') as string,
                text: str(body, 'text') as string,
                ...(str(body, 'id', false) ? { id: str(body, 'id') as string } : {}),
                ...(str(body, 'pushName', false)
                    ? { pushName: str(body, 'pushName') as string }
                    : {})
            })
        case '/group-message': {
            const id = str(body, 'id', false)
            const pushName = str(body, 'pushName', false)
            return server.sendGroupMessage({
                to: str(body, 'to') as string,
                group: str(body, 'group') as string,
                from: str(body, 'from') as string,
                text: str(body, 'text') as string,
                ...(id ? { id } : {}),
                ...(pushName ? { pushName } : {})
            })
        }
        case '/presence': {
            const type = oneOf(body, 'type', ['available', 'unavailable'] as const)
            const last = num(body, 'last')
            await server.sendPresence({
                to: str(body, 'to') as string,
                from: str(body, 'from') as string,
                ...(type ? { type } : {}),
                ...(last !== undefined ? { last } : {})
            })
            return { ok: true }
        }
        case '/chatstate': {
            const state = oneOf(body, 'state', ['composing', 'paused', 'recording'] as const)
            const participant = str(body, 'participant', false)
            await server.sendChatstate({
                to: str(body, 'to') as string,
                from: str(body, 'from') as string,
                ...(state ? { state } : {}),
                ...(participant ? { participant } : {})
            })
            return { ok: true }
        }
        case '/receipt': {
            const type = oneOf(body, 'type', ['delivery', 'read', 'played'] as const)
            await server.sendReceipt({
                to: str(body, 'to') as string,
                from: str(body, 'from') as string,
                id: str(body, 'id') as string,
                ...(type ? { type } : {})
            })
            return { ok: true }
        }
        case '/notification': {
            const type = str(body, 'type', false)
            const from = str(body, 'from', false)
            const id = await server.sendNotification({
                to: str(body, 'to') as string,
                ...(type ? { type } : {}),
                ...(from ? { from } : {})
            })
            return { id }
        }
        case '/group-event': {
            const action = oneOf(body, 'action', GROUP_ACTIONS) ?? 'add'
            const participants = body.participants
            if (
                participants !== undefined &&
                (!Array.isArray(participants) || participants.some(p => typeof p !== 'string'))
            ) {
                throw new HttpError(400, '"participants" must be an array of strings')
            }
            const subject = str(body, 'subject', false)
            const id = await server.sendGroupEvent({
                to: str(body, 'to') as string,
                group: str(body, 'group') as string,
                author: str(body, 'author') as string,
                action,
                ...(participants ? { participants: participants as string[] } : {}),
                ...(subject ? { subject } : {})
            })
            return { id }
        }
        case '/call': {
            const callId = await server.sendCall({
                to: str(body, 'to') as string,
                from: str(body, 'from') as string,
                video: body.video === true
            })
            return { callId }
        }
        case '/fault': {
            let kind
            try {
                kind = parseFaultKind(str(body, 'kind') as string)
            } catch (error) {
                throw new HttpError(400, (error as Error).message)
            }
            const ms = num(body, 'ms')
            await server.fault(str(body, 'device') as string, kind, ms !== undefined ? { ms } : {})
            return { ok: true }
        }
        case '/refuse-next-login': {
            let kind
            try {
                kind = parseLoginRefusal(str(body, 'kind') as string)
            } catch (error) {
                throw new HttpError(400, (error as Error).message)
            }
            server.refuseNextLogin(str(body, 'device') as string, kind)
            return { ok: true }
        }
        default:
            throw new HttpError(404, `no endpoint ${method} ${path}`)
    }
}

export interface ControlServer {
    readonly url: string
    close(): Promise<void>
}

export async function startControlServer(server: SandboxApi, port = 0): Promise<ControlServer> {
    const http: Server = createServer((req, res) => {
        const url = new URL(req.url ?? '/', 'http://localhost')
        const path = url.pathname.replace(/\/+$/, '') || '/'
        readBody(req)
            .then(body => route(server, req.method ?? 'GET', path, url.searchParams, body))
            .then(result => send(res, 200, result))
            .catch((error: unknown) => {
                const status = error instanceof HttpError ? error.status : 409
                send(res, status, { error: (error as Error).message })
            })
    })
    await new Promise<void>((resolve, reject) => {
        http.once('error', reject)
        http.listen(port, '127.0.0.1', () => {
            http.off('error', reject)
            resolve()
        })
    })
    const address = http.address() as AddressInfo
    return {
        url: `http://127.0.0.1:${address.port}`,
        close: () =>
            new Promise<void>(resolve => {
                http.close(() => resolve())
                http.closeAllConnections()
            })
    }
}
