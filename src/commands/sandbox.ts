/**
 * `zapo sandbox`: a local WhatsApp Web protocol server for offline pairing, event and CI tests.
 *
 * With --json the first stdout line is one JSON object ({ url, rootCa, controlUrl, host, port });
 * each later line is one sandbox event ({ event, ... }) as NDJSON. Runs until the first SIGINT /
 * SIGTERM (src/interrupt.ts) or the given AbortSignal, then closes every connection and resolves
 * with exit code 0.
 */
import { createInterface } from 'node:readline'

import type { Command } from 'commander'

import { handle } from '../cli.js'
import type { CliContext } from '../context.js'
import { errorLine, usageError, ZapoError } from '../errors.js'
import { claimInterrupts } from '../interrupt.js'
import { note, printJsonLine, printLine, stderrColumns } from '../output.js'
import type { Io } from '../output.js'
import { helpFooter } from './options.js'

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
    /**
     * Lines to scan (QR strings, `zapo pair --json` lines, pairing codes): the command passes
     * its standard input.
     */
    readonly input?: NodeJS.ReadableStream & { readonly isTTY?: boolean }
}

export interface SandboxReadyInfo {
    readonly url: string
    readonly rootCa: string
    readonly controlUrl: string
    readonly host: string
    readonly port: number
}

/** Events in --json (one NDJSON line each) and, those that matter to people, in the human log. */
const SANDBOX_EVENTS = [
    'connection',
    'qr',
    'pairing-code',
    'paired',
    'pairing-failed',
    'login',
    'login-refused',
    'disconnect',
    'fault',
    'message',
    'peer-message',
    'device-removed'
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
    const ui = await import('../ui/sandbox-log.js')
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
    const input = hooks.input ?? null
    const columns = () => stderrColumns(io)
    if (opts.json) {
        printJsonLine(io, info)
        // for the person watching a CI log or a terminal: stdout stays NDJSON
        note(io, ui.exportLines(info)[0]!)
    } else {
        const width = io.stdout.isTTY
            ? ((io.stdout as { readonly columns?: number }).columns ?? 80)
            : Number.POSITIVE_INFINITY
        const lines = ui.startScreen(
            { ...info, autoScanMs: opts.autoScanMs, readsInput: input?.isTTY === true },
            io.colorOut,
            width
        )
        for (const line of lines) printLine(io, line)
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

    // the human log: one timed line per event that matters to a person (stderr)
    const shownQr = new Set<unknown>()
    const log = (line: string | null) => {
        if (line !== null) io.stderr.write(line + '\n')
    }
    const listeners = SANDBOX_EVENTS.map(name => {
        const listener = (event: Readonly<Record<string, unknown>>) => {
            if (opts.json) {
                printJsonLine(io, { event: name, ...event })
                return
            }
            if (name === 'qr') {
                // a QR rotation is not news: one line per connection that waits for a scan
                if (shownQr.has(event.connectionId)) return
                shownQr.add(event.connectionId)
            }
            log(
                ui.sandboxLogLine(name, event, {
                    color: io.colorErr,
                    columns: columns(),
                    pasting: input?.isTTY === true
                })
            )
        }
        sandbox.on(name, listener as never)
        return { name, listener }
    })

    // what is typed or piped in: QR strings, `zapo pair --json` lines, pairing codes
    const reader =
        input === null
            ? null
            : readScans(input, sandbox, opts, (label, detail) => {
                  const line = ui.sandboxNoteLine(label, detail, {
                      color: io.colorErr,
                      columns: columns()
                  })
                  if (opts.json) printJsonLine(io, { event: 'input', result: label, detail })
                  else log(line)
              })

    // the first Ctrl-C / SIGTERM (or the hook's signal) closes the sandbox; a second quits at once
    const interrupted = claimInterrupts(io, { stopping: 'closing the sandbox' })
    const stop = hooks.signal ? AbortSignal.any([interrupted, hooks.signal]) : interrupted
    if (!stop.aborted)
        await new Promise<void>(resolve => stop.addEventListener('abort', () => resolve()))
    reader?.close()
    for (const { name, listener } of listeners) sandbox.off(name, listener as never)
    await sandbox.close()
    return 0
}

/** A pairing code as the companion shows it: 8 letters and digits, maybe split by a dash. */
const PAIRING_CODE = /^[A-Z0-9]{4}-?[A-Z0-9]{4}$/i

/**
 * One scan per line of `input`: a QR string (`ref,noise,identity,adv[,platform]`), a `zapo pair
 * --json` line carrying one (`{"event":"qr","qr":…}`) or a pairing code (`{"event":
 * "pairing_code",…}`, or typed). Other lines, and `zapo pair --json`'s other events, are passed
 * over. Sent to the background of an interactive shell (`zapo sandbox &`) it keeps running
 * (test/commands/sandbox-terminal.test.js).
 */
function readScans(
    input: NodeJS.ReadableStream & { readonly isTTY?: boolean },
    sandbox: Awaited<ReturnType<typeof import('../sandbox/index.js').startSandbox>>,
    opts: SandboxCommandOptions,
    report: (label: string, detail: string) => void
): { close(): void } {
    const lines = createInterface({ input, terminal: false })
    lines.on('error', () => lines.close())
    ;(input as NodeJS.ReadableStream).on('error', () => lines.close())
    const scan = (qr: string): void => {
        const scanned = opts.autoScanMs !== null ? sandbox.presentQr(qr) : sandbox.scan(qr)
        scanned.then(
            result => {
                if (result.status === 'refused') report('refused', 'the scan was refused')
            },
            (error: unknown) => report('not scanned', errorLine(error))
        )
    }
    const enterCode = (code: string): void => {
        sandbox
            .enterPairingCode(code.replace('-', '').toUpperCase())
            .catch((error: unknown) => report('not entered', errorLine(error)))
    }
    lines.on('line', raw => {
        const line = raw.trim()
        if (line === '') return
        if (line.startsWith('{')) {
            let event: { event?: unknown; qr?: unknown; code?: unknown }
            try {
                event = JSON.parse(line) as typeof event
            } catch {
                report('ignored', 'a line that is not JSON, a QR string or a pairing code')
                return
            }
            if (event.event === 'qr' && typeof event.qr === 'string') scan(event.qr)
            else if (event.event === 'pairing_code' && typeof event.code === 'string')
                enterCode(event.code)
            return
        }
        if (PAIRING_CODE.test(line)) enterCode(line)
        else if (line.split(',').length >= 4) scan(line)
        else report('ignored', 'not a QR string or a pairing code')
    })
    return {
        close: () => {
            lines.close()
            ;(input as { destroy?: () => void }).destroy?.()
        }
    }
}

interface SandboxFlags {
    readonly host?: string
    readonly port?: string
    readonly autoScan?: string
}

/** flags → typed options (the thin-commands shape: prepare, then run). */
export function prepare(flags: SandboxFlags, ctx: CliContext): SandboxCommandOptions {
    return {
        host: flags.host ?? '127.0.0.1',
        port: parsePort(flags.port ?? '0'),
        autoScanMs: flags.autoScan === undefined ? null : parseAutoScanMs(flags.autoScan),
        json: ctx.io.json
    }
}

/** One-line registration for src/program.ts: `registerSandbox(program)`. */
export function register(program: Command): void {
    program
        .command('sandbox')
        .description('run a local WhatsApp Web protocol server for offline pairing and smoke tests')
        .option('--host <host>', 'interface for the protocol endpoint', '127.0.0.1')
        .option('--port <n>', 'port for the protocol endpoint (0: any free port)', '0')
        .option(
            '--auto-scan <ms>',
            'scan the QRs handed over (stdin, POST /scan with "delayed") after this delay'
        )
        .addHelpText(
            'after',
            helpFooter({
                notes: [
                    'It prints an export line that points zapo at it (ZAPO_SERVER, ZAPO_SERVER_ROOT_CA), then one line per pairing, login, fault and message. Its phone scans what it reads on standard input: a QR string or a pairing code pasted from zapo pair, or zapo pair --json lines piped in. With --json, stdout is NDJSON: {url, rootCa, controlUrl, host, port}, then one line per event.'
                ],
                exitCodes: ['OK', 'USAGE'],
                examples: [
                    ['zapo sandbox', 'then paste its export line elsewhere'],
                    ['zapo pair --session demo', 'there: paste its QR string back here'],
                    ['zapo sandbox --json > sandbox.jsonl', 'for scripts (docs/sandbox.md)']
                ]
            })
        )
        .action(
            handle<SandboxFlags>(async (flags, ctx) =>
                runSandboxCommand(prepare(flags, ctx), ctx.io, { input: process.stdin })
            )
        )
}
