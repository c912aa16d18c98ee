/**
 * `zapo logout`: unlink a session's device through the server and report what the library
 * removed from the store. The only command that may call `logout()` (src/ops/logout.ts).
 */

import type { Command } from 'commander'
import { assertCanConfirm, helpFooter, sharedOption } from './options.js'
import { handle } from '../cli.js'
import type { CliContext } from '../context.js'
import { parseDuration } from '../context.js'
import { EXIT_CODES, usageError } from '../errors.js'
import { claimInterrupts } from '../interrupt.js'
import { note, printJson, printLine } from '../output.js'
import { palette } from '../ui/color.js'
import { countTable } from '../ui/counts.js'
import type { LogoutOptions, LogoutResult, LogoutTarget } from '../ops/logout.js'

interface LogoutFlags {
    readonly session?: string
    readonly yes?: boolean
    readonly timeout?: string
    readonly server?: string
    readonly serverRootCa?: string
    readonly logLevel?: string
}

const DEFAULT_TIMEOUT_MS = 30_000

export function register(program: Command): void {
    program
        .command('logout')
        .description(
            "unlink a session's device through the server (it leaves the phone's linked devices) and remove its stored state"
        )
        .addOption(
            sharedOption('session', 'the session to log out (or ZAPO_SESSION; never a default)')
        )
        .addOption(sharedOption('yes'))
        .addOption(
            sharedOption('timeout', "for the login and for the server's answer (default 30s)")
        )
        .addOption(sharedOption('server'))
        .addOption(sharedOption('serverRootCa'))
        .addOption(sharedOption('logLevel'))
        .addHelpText(
            'after',
            helpFooter({
                notes: [
                    'Nothing is removed when the server cannot be reached (exit 14): the device would stay linked on the phone. To drop a session whose server is gone, use zapo sessions rm.'
                ],
                exitCodes: [
                    'OK',
                    'SESSION_BUSY',
                    'USAGE',
                    'SESSION_NOT_FOUND',
                    'NOT_PAIRED',
                    'TIMEOUT',
                    'REPLACED',
                    'CONNECTION_FAILED',
                    'VERIFY_FAILED',
                    'UNTRUSTED_SERVER',
                    'DECLINED',
                    'CANCELLED'
                ],
                examples: [
                    ['zapo logout -s tenant-42'],
                    ['zapo logout -s tenant-42 --yes --json', 'in a script']
                ]
            })
        )
        .action(handle<LogoutFlags>(runLogoutCommand))
}

export interface LogoutCommandOptions extends LogoutOptions {
    /** --yes: no confirmation (without a terminal it is required) */
    readonly yes: boolean
}

/** Flags → typed options. Never a default session; without --yes a terminal to ask on. */
export async function prepare(flags: LogoutFlags, ctx: CliContext): Promise<LogoutCommandOptions> {
    const sessionId = ctx.sessionId(flags.session)
    const yes = flags.yes === true
    if (!yes) await assertCanConfirm(ctx.io, `logout unlinks ${sessionId} for good`)
    const timeoutMs =
        flags.timeout !== undefined ? parseDuration(flags.timeout, '--timeout') : DEFAULT_TIMEOUT_MS
    if (timeoutMs <= 0) throw usageError('--timeout must be longer than 0: use e.g. 30s')
    const server = ctx.server(flags)
    const store = ctx.storeSpec()
    const { clientLogger } = await import('./check.js')
    const logging = await clientLogger(ctx, flags.logLevel)
    return { store, sessionId, server, timeoutMs, waitMs: ctx.waitMs, ...logging, yes }
}

async function runLogoutCommand(flags: LogoutFlags, ctx: CliContext): Promise<number> {
    const { yes, ...options } = await prepare(flags, ctx)
    const { server } = options
    const c = palette(ctx.io.colorOut)
    const [{ runLogout }, { confirm }] = await Promise.all([
        import('../ops/logout.js'),
        import('../ui/prompts.js')
    ])
    const signal = claimInterrupts(ctx.io, {
        stopping:
            'disconnecting; nothing is removed unless the server was already asked to remove the device (then the logout finishes)',
        forced: 'if the server had been asked to remove the device, run zapo logout again to remove its stored state'
    })
    const result = await runLogout(options, {
        confirm: async (target: LogoutTarget) => {
            const where = server ? `the test server ${server.url}` : 'WhatsApp'
            note(
                ctx.io,
                `zapo: logging out ${target.sessionId} (${target.jid}) in ${target.store} through ${where}: the device leaves the phone's linked devices and its stored state is removed; an app running with this session is disconnected`
            )
            if (yes) return true
            return confirm({
                message: `Log out ${target.sessionId} (${target.jid}) for good?`,
                initialValue: false
            })
        },
        onProgress: line => note(ctx.io, `zapo: ${line}`),
        signal
    })
    if (ctx.io.json) {
        printJson(ctx.io, { ...result, exitCode: EXIT_CODES[result.result] })
    } else {
        render(result, ctx, c)
    }
    return EXIT_CODES[result.result]
}

function render(result: LogoutResult, ctx: CliContext, c: ReturnType<typeof palette>): void {
    const io = ctx.io
    const who = `${c.session(result.sessionId)}${result.jid ? ` (${c.jid(result.jid)})` : ''}`
    if (result.status === 'not-paired') {
        printLine(
            io,
            `${who} is not paired: no device is linked on a phone, so there is nothing to log out; nothing was removed`
        )
        printLine(io, c.dim(`(pair it with zapo pair --session ${result.sessionId})`))
        return
    }
    const how =
        result.status === 'already-logged-out'
            ? `the server had already unlinked it (${result.reason ?? 'logged out'})`
            : 'the server removed the device'
    const by =
        result.clearedBy === 'library'
            ? 'the library removed its stored state'
            : result.clearedBy === 'zapo'
              ? 'zapo removed its stored state (the server kept the stream open)'
              : 'nothing was removed'
    printLine(io, `logged out ${who}: ${how}; ${by}`)
    for (const line of countTable([
        ['before', result.before],
        ['after', result.after]
    ]))
        printLine(io, line)
    if (result.remaining.length > 0) {
        printLine(
            io,
            c.error(
                `records left behind: ${result.remaining.join(', ')}; inspect them with zapo creds show --session ${result.sessionId}`
            )
        )
    }
}
