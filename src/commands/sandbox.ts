/**
 * `zapo sandbox`: a local WhatsApp Web protocol server for offline pairing, event and CI tests.
 *
 * With --json the first stdout line is one JSON object ({ url, rootCa, controlUrl, host, port });
 * each later line is one sandbox event ({ event, ... }) as NDJSON. Runs until the first SIGINT /
 * SIGTERM (src/interrupt.ts) or the given AbortSignal, then closes every connection and resolves
 * with exit code 0.
 */
import type { Command } from 'commander'

import { handle } from '../cli.js'
import { errorLine, usageError, ZapoError } from '../errors.js'
import { claimInterrupts } from '../interrupt.js'
import { note, printJsonLine, printLine } from '../output.js'
import type { Io } from '../output.js'

export interface SandboxCommandOptions {
    readonly host: string
    readonly port: number
    readonly autoScanMs: number | null
    readonly json: boolean
}

export interface SandboxCommandHooks {
    /** Stops the sandbox like SIGINT would (tests, embedding). */
    readonly signal?: AbortSignal
    /** Called once the sandbox listens, with what the first JSON line carries. */
    readonly onReady?: (info: SandboxReadyInfo) => void
}

export interface SandboxReadyInfo {
    readonly url: string
    readonly rootCa: string
    readonly controlUrl: string
    readonly host: string
    readonly port: number
}

const SANDBOX_EVENTS = [
    'connection',
    'qr',
    'pairing-code',
    'paired',
    'login',
    'disconnect'
] as const

export function parsePort(value: string): number {
    const port = Number(value)
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(port) || port > 65_535) {
        throw usageError(`--port must be an integer from 0 to 65535, got "${value}"`)
    }
    return port
}

export function parseAutoScanMs(value: string): number {
    const ms = Number(value)
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(ms)) {
        throw usageError(`--auto-scan must be a number of milliseconds, got "${value}"`)
    }
    return ms
}

/**
 * Why the sandbox could not listen, as one line naming the flag that fixes it: a port in use or
 * reserved, a host that does not resolve or is not an address of this machine.
 */
function listenError(error: unknown, opts: SandboxCommandOptions): ZapoError {
    const code = (error as NodeJS.ErrnoException).code ?? ''
    const where = { host: opts.host, port: opts.port, reason: code || null }
    switch (code) {
        case 'EADDRINUSE':
            return usageError(
                `--port ${opts.port} is already in use on ${opts.host}: pick another --port (0 picks a free one)`,
                where
            )
        case 'EACCES':
            return usageError(
                `--port ${opts.port} on ${opts.host} needs privileges this user does not have: pick a port from 1024 up (0 picks a free one)`,
                where
            )
        case 'ENOTFOUND':
        case 'EAI_AGAIN':
        case 'EAI_NONAME':
            return usageError(
                `--host ${opts.host} does not resolve to an address: pass an address of this machine (default 127.0.0.1)`,
                where
            )
        case 'EADDRNOTAVAIL':
            return usageError(
                `--host ${opts.host} is not an address of this machine: pass one of its addresses (default 127.0.0.1)`,
                where
            )
        default:
            return new ZapoError(
                'INTERNAL',
                `could not listen on ${opts.host}:${opts.port}: ${errorLine(error)}`,
                where,
                { cause: error }
            )
    }
}

export async function runSandboxCommand(
    opts: SandboxCommandOptions,
    io: Io,
    hooks: SandboxCommandHooks = {}
): Promise<number> {
    const { isLoopbackHost, startSandbox } = await import('../sandbox/index.js')
    let sandbox
    try {
        sandbox = await startSandbox({
            host: opts.host,
            port: opts.port,
            autoScanMs: opts.autoScanMs
        })
    } catch (error) {
        throw listenError(error, opts)
    }
    const info: SandboxReadyInfo = {
        url: sandbox.url,
        rootCa: sandbox.rootCa,
        controlUrl: sandbox.controlUrl,
        host: sandbox.host,
        port: sandbox.port
    }
    if (opts.json) {
        printJsonLine(io, info)
    } else {
        printLine(io, `zapo sandbox listening (a local protocol server; nothing reaches WhatsApp)`)
        printLine(io, `  --server          ${info.url}`)
        printLine(io, `  --server-root-ca  ${info.rootCa}`)
        printLine(
            io,
            `  control API       ${info.controlUrl}  (loopback only, see docs/sandbox.md)`
        )
        if (opts.autoScanMs !== null) {
            printLine(
                io,
                `  auto scan         ${opts.autoScanMs} ms after a QR is handed to POST /scan`
            )
        }
        printLine(io, `Stop with Ctrl-C.`)
    }
    if (!isLoopbackHost(opts.host)) {
        note(
            io,
            `warning: the protocol endpoint listens on ${opts.host}: ` +
                'anyone who can reach this port can ' +
                `pair against it; the control API stays on 127.0.0.1`
        )
    }
    hooks.onReady?.(info)

    const listeners = SANDBOX_EVENTS.map(name => {
        const listener = (event: Readonly<Record<string, unknown>>) => {
            if (opts.json) {
                printJsonLine(io, { event: name, ...event })
            } else if (name === 'paired' || name === 'login' || name === 'disconnect') {
                const jid = typeof event.jid === 'string' ? event.jid : '(unpaired)'
                note(io, `${name}: ${jid}`)
            }
        }
        sandbox.on(name, listener)
        return { name, listener }
    })

    // the first Ctrl-C / SIGTERM (or the hook's signal) closes the sandbox; a second quits at once
    const interrupted = claimInterrupts(io, { stopping: 'closing the sandbox' })
    const stop = hooks.signal ? AbortSignal.any([interrupted, hooks.signal]) : interrupted
    if (!stop.aborted)
        await new Promise<void>(resolve => stop.addEventListener('abort', () => resolve()))
    for (const { name, listener } of listeners) sandbox.off(name, listener)
    await sandbox.close()
    return 0
}

interface SandboxFlags {
    readonly host?: string
    readonly port?: string
    readonly autoScan?: string
}

/** One-line registration for src/program.ts: `registerSandbox(program)`. */
export function register(program: Command): void {
    program
        .command('sandbox')
        .description('run a local WhatsApp Web protocol server for offline pairing and smoke tests')
        .option('--host <host>', 'interface for the protocol endpoint', '127.0.0.1')
        .option('--port <n>', 'port for the protocol endpoint (0: any free port)', '0')
        .option('--auto-scan <ms>', 'scan QRs handed to the control API after this delay')
        .action(
            handle<SandboxFlags>(async (flags, ctx) =>
                runSandboxCommand(
                    {
                        host: flags.host ?? '127.0.0.1',
                        port: parsePort(flags.port ?? '0'),
                        autoScanMs:
                            flags.autoScan === undefined ? null : parseAutoScanMs(flags.autoScan),
                        json: ctx.io.json
                    },
                    ctx.io
                )
            )
        )
}
