/**
 * `zapo pair`: flags → typed options → runPair → what the user sees.
 *
 * Human mode: the QR (or pairing code) on stderr, the summary on stdout.
 * `--json`: stdout carries NDJSON events only — qr, pairing_code, paired, error — and nothing
 * else; the drawing is left out. Without a TTY nothing is ever prompted.
 */

import { zapoCommand } from '../hints.js'
import type { Command } from 'commander'
import { handle } from '../cli.js'
import { usageError, ZapoError } from '../errors.js'
import { claimInterrupts } from '../interrupt.js'
import { note, printJsonLine, printLine, type Io } from '../output.js'
import { palette } from '../ui/color.js'
import type { CliContext } from '../context.js'
import { parseDuration } from '../context.js'
import { helpFooter, sharedOption } from './options.js'
import type { StoreSpec } from '../store/address.js'

interface PairFlags {
    readonly session?: string
    readonly phone?: string
    readonly force?: boolean
    readonly overwriteLive?: boolean
    readonly timeout?: string
    readonly server?: string
    readonly serverRootCa?: string
    readonly sandbox?: boolean
}

const DEFAULT_TIMEOUT = '3m'

export function register(program: Command): void {
    program
        .command('pair')
        .description(
            'link a new device: scan a QR code in the terminal (or enter a pairing code with --phone) and store its credentials'
        )
        .addOption(
            sharedOption(
                'session',
                'the session id to store the device under (or ZAPO_SESSION); asked for on a terminal'
            )
        )
        .option(
            '--phone <number>',
            'pair with an 8-character code for this phone number (country code included, e.g. +1 555 010 0000)'
        )
        .addOption(
            sharedOption(
                'force',
                'pair again over an already paired session (its old credentials are replaced)'
            )
        )
        .option(
            '--overwrite-live',
            'with --force: replace a session that logged in within the last 10 minutes (an application may be running it)'
        )
        .addOption(
            sharedOption('timeout', 'give up when the pairing has not completed by then').default(
                DEFAULT_TIMEOUT
            )
        )
        .addOption(sharedOption('server'))
        .addOption(sharedOption('serverRootCa'))
        .option(
            '--sandbox',
            'pair against an in-process sandbox that scans the code by itself: try the whole flow without a phone'
        )
        .addHelpText(
            'after',
            helpFooter({
                notes: [
                    'Nothing is written to the store until the phone has confirmed: a timeout, Ctrl-C, a dropped connection or a refused pairing leave it exactly as it was. With --json, stdout is NDJSON: qr, pairing_code, paired, error.'
                ],
                exitCodes: [
                    'OK',
                    'SESSION_BUSY',
                    'USAGE',
                    'EXISTS',
                    'TIMEOUT',
                    'CONNECTION_FAILED',
                    'PAIRING_REFUSED',
                    'UNTRUSTED_SERVER',
                    'DECLINED',
                    'CANCELLED'
                ],
                examples: [
                    ['zapo pair --sandbox --session demo', 'try it without a phone'],
                    ['zapo pair --session tenant-42', 'QR code in the terminal'],
                    ['zapo pair -s tenant-42 --phone +15550100000', 'pairing code instead'],
                    [
                        'zapo pair -s t1 --server "$ZAPO_SERVER" \\\n      --server-root-ca "$ZAPO_SERVER_ROOT_CA"',
                        'a sandbox'
                    ]
                ]
            })
        )
        .action(handle<PairFlags>(pairCommand, { ndjson: true }))
}

/** What the flags say, checked: everything that needs no store and no prompt. */
export interface PreparedPair {
    readonly timeoutMs: number
    /** a test server (--server / ZAPO_SERVER / config), null for WhatsApp or --sandbox */
    readonly server: ReturnType<CliContext['server']>
    readonly phone: string | null
    readonly sandbox: boolean
    readonly force: boolean
    readonly overwriteLive: boolean
}

/** flags → typed options (the thin-commands shape: prepare, then run). */
export async function prepare(flags: PairFlags, ctx: CliContext): Promise<PreparedPair> {
    if (flags.overwriteLive && !flags.force)
        throw usageError(
            '--overwrite-live only applies with --force: pass both to replace a live session'
        )
    const timeoutMs = parseDuration(flags.timeout ?? DEFAULT_TIMEOUT, '--timeout')
    if (timeoutMs < 1_000)
        throw usageError(`--timeout ${flags.timeout} is too short: give at least 1s (e.g. 3m)`)
    if (flags.sandbox && (flags.server !== undefined || flags.serverRootCa !== undefined)) {
        throw usageError(
            '--sandbox starts its own server: drop --server / --server-root-ca, or drop --sandbox'
        )
    }
    const { normalizePhone } = await import('../ops/pair.js')
    return {
        timeoutMs,
        server: flags.sandbox ? null : ctx.server(flags),
        phone: flags.phone !== undefined ? normalizePhone(flags.phone) : null,
        sandbox: flags.sandbox === true,
        force: flags.force === true,
        overwriteLive: flags.overwriteLive === true
    }
}

async function pairCommand(flags: PairFlags, ctx: CliContext): Promise<number> {
    const io = ctx.io
    const prepared = await prepare(flags, ctx)
    const { timeoutMs, server } = prepared
    const { runPair } = await import('../ops/pair.js')
    let phone = prepared.phone
    let storeSpec = ctx.storeSpec()
    let sessionId = ctx.optionalSessionId(flags.session)
    let replaceConfirmed = false

    if (sessionId === null) {
        const { canPrompt } = await import('../ui/prompts.js')
        if (!canPrompt(io)) {
            throw usageError(
                'no session given: pass --session ID (or set ZAPO_SESSION); zapo pair only asks on a terminal'
            )
        }
        const answers = await ask(ctx, storeSpec, phone, flags.force === true)
        sessionId = answers.sessionId
        phone = answers.phone
        storeSpec = answers.storeSpec
        replaceConfirmed = answers.replace
    }

    const p = palette(io.colorErr)
    // the decisive question first: a paired session is refused (or, on a terminal, its
    // replacement confirmed) before anything says "connecting" (the wizard asked it already,
    // right after the session id)
    const force =
        flags.force === true || replaceConfirmed || (await mayReplace(ctx, storeSpec, sessionId))
    if (!io.json) {
        if (flags.sandbox) {
            note(
                io,
                p.warn(
                    'starting an in-process sandbox (not WhatsApp): its phone links by itself in ~3 s'
                )
            )
        } else if (server) {
            note(io, p.warn(`connecting to the test server ${server.url} (not WhatsApp)`))
        } else {
            note(
                io,
                `connecting to WhatsApp to pair session ${p.session(sessionId)} (store ${p.path(storeSpec.label)})`
            )
        }
    } else if (server) {
        note(io, `zapo: connecting to the test server ${server.url} (not WhatsApp)`)
    }

    // --sandbox: an in-process sandbox plays the phone; the pairing only sees its URL and root
    const sandboxPhone = flags.sandbox
        ? await (await import('./pair-sandbox.js')).startSandboxPhone({ phone })
        : null
    const screen = await createScreen(io, {
        session: sessionId,
        phone,
        server: flags.sandbox ? 'in-process sandbox' : (server?.url ?? null),
        ...(flags.sandbox ? { hint: 'Its phone scans this QR string by itself in a moment:' } : {})
    })
    const signal = claimInterrupts(io, {
        stopping:
            'cancelling the pairing; nothing is stored unless the phone has already confirmed',
        forced: `nothing was stored unless the phone had confirmed: check with ${zapoCommand('sessions', 'list')}, and remove a device the phone lists but the store lacks`
    })
    let result: Awaited<ReturnType<typeof runPair>>
    try {
        result = await runPair(
            {
                storeSpec,
                sessionId,
                method: phone !== null ? { kind: 'phone', phone } : { kind: 'qr' },
                force,
                overwriteLive: flags.overwriteLive === true,
                waitMs: ctx.waitMs,
                timeoutMs,
                server: sandboxPhone?.server ?? server
            },
            {
                signal,
                ...(io.debug ? { logger: await debugLogger(io, sessionId) } : {}),
                onProgress: event => {
                    sandboxPhone?.onProgress(event)
                    switch (event.type) {
                        case 'qr':
                            if (io.json)
                                printJsonLine(io, {
                                    event: 'qr',
                                    qr: event.qr,
                                    expiresInMs: event.expiresInMs
                                })
                            else screen?.showQr(event.qr, event.expiresInMs)
                            break
                        case 'pairing_code':
                            if (io.json)
                                printJsonLine(io, {
                                    event: 'pairing_code',
                                    code: event.code,
                                    expiresInMs: event.expiresInMs
                                })
                            else screen?.showCode(event.code, event.expiresInMs)
                            break
                        case 'scanned':
                            if (!io.json)
                                screen?.status(p.ok(`confirmed as ${event.meJid}, saving`))
                            break
                        case 'saving':
                        case 'connecting':
                            break
                    }
                }
            }
        )
    } finally {
        screen?.stop()
        await sandboxPhone?.close()
    }

    if (io.json) {
        printJsonLine(io, {
            event: 'paired',
            session: result.sessionId,
            meJid: result.meJid,
            meLid: result.meLid,
            platform: result.platform
        })
        return 0
    }
    const o = palette(io.colorOut)
    printLine(
        io,
        `${o.ok('paired')} session ${o.session(result.sessionId)} → ${o.path(result.store)}`
    )
    printLine(io, `  JID       ${o.jid(result.meJid)}`)
    printLine(io, `  LID       ${result.meLid ? o.jid(result.meLid) : o.dim('(none)')}`)
    printLine(io, `  name      ${result.displayName ?? o.dim('(not sent yet)')}`)
    printLine(io, `  platform  ${result.platform ?? o.dim('(unknown)')}`)
    if (result.replaced) {
        note(
            io,
            p.warn(
                `replaced the credentials of ${result.previousMeJid}: remove that old device on the phone (Linked devices)`
            )
        )
    }
    if (flags.sandbox) {
        note(io, p.dim('(a sandbox device, not a WhatsApp one: for trying zapo only)'))
    }
    if (!result.settled)
        note(
            io,
            p.warn(
                'the first login did not finish uploading keys before exit; it completes on the next connection'
            )
        )
    note(
        io,
        p.dim(
            `disconnected (the device stays linked). Next: ${zapoCommand('creds', 'show', '--session', result.sessionId)}`
        )
    )
    return 0
}

interface Screen {
    showQr(qr: string, expiresInMs: number): void
    showCode(code: string, expiresInMs: number): void
    status(text: string): void
    stop(): void
}

/** Human mode only: the QR / pairing-code drawing on stderr. */
async function createScreen(
    io: Io,
    options: {
        readonly session: string
        readonly phone: string | null
        readonly server: string | null
        readonly hint?: string
    }
): Promise<Screen | null> {
    if (io.json) return null
    if (options.phone !== null) {
        const { createPairingCodeScreen } = await import('../ui/pairing-code.js')
        const screen = createPairingCodeScreen(io, {
            session: options.session,
            phone: options.phone,
            // --sandbox types the code by itself: the phone's steps are as good as any
            server: options.hint === undefined ? options.server : null
        })
        return {
            showQr: () => undefined,
            showCode: (c, ms) => screen.show(c, ms),
            status: t => screen.status(t),
            stop: () => screen.stop()
        }
    }
    const { createQrScreen } = await import('../ui/qr.js')
    const screen = createQrScreen(io, {
        session: options.session,
        server: options.server,
        ...(options.hint !== undefined ? { hint: options.hint } : {})
    })
    return {
        showQr: (qr, ms) => screen.show(qr, ms),
        showCode: () => undefined,
        status: t => screen.status(t),
        stop: () => screen.stop()
    }
}

/** --debug: the client's logs on stderr (pretty, or JSON lines with --json), secrets redacted. */
async function debugLogger(io: Io, session: string): Promise<import('zapo-js').Logger> {
    const { createClientLogger } = await import('../ui/client-logger.js')
    return createClientLogger({
        level: 'debug',
        json: io.json,
        color: io.colorErr,
        bindings: { session }
    })
}

/** Bare `zapo pair` on a terminal: session id, method, and the store it will write to. */
async function ask(
    ctx: CliContext,
    storeSpec: StoreSpec,
    phone: string | null,
    force: boolean
): Promise<{
    readonly sessionId: string
    readonly phone: string | null
    readonly storeSpec: StoreSpec
    /** the session was paired and the user said to replace it */
    readonly replace: boolean
}> {
    const prompts = await import('../ui/prompts.js')
    const { suggestSessionId, normalizePhone } = await import('../ops/pair.js')
    const { validateSessionId } = await import('../context.js')
    const suggestion = await suggestSessionId(storeSpec)
    const sessionId = await prompts.text({
        message: 'Session id for the new device',
        placeholder: suggestion,
        defaultValue: suggestion,
        validate: value => {
            if (value === '' || value === undefined) return undefined
            try {
                validateSessionId(value)
                return undefined
            } catch (error) {
                return (error as Error).message
            }
        }
    })
    const chosenId = validateSessionId(sessionId === '' ? suggestion : sessionId)
    // asked now, before the method: a "no" must not come after three more questions
    const replace = !force && (await mayReplace(ctx, storeSpec, chosenId))
    let chosenPhone = phone
    if (chosenPhone === null) {
        const method = await prompts.select<'qr' | 'phone'>({
            message: 'How will the phone link it?',
            choices: [
                { value: 'qr', label: 'Scan a QR code', hint: 'shown here in the terminal' },
                { value: 'phone', label: 'Enter a pairing code', hint: 'for a phone number' }
            ],
            initialValue: 'qr'
        })
        if (method === 'phone') {
            const number = await prompts.text({
                message: 'Phone number, with country code',
                placeholder: '+1 555 010 0000',
                validate: value => {
                    try {
                        normalizePhone(value ?? '')
                        return undefined
                    } catch (error) {
                        return (error as Error).message
                    }
                }
            })
            chosenPhone = normalizePhone(number)
        }
    }
    const ok = await prompts.confirm({
        message: `Store the credentials in ${storeSpec.label}?`,
        initialValue: true
    })
    if (!ok)
        throw new ZapoError('DECLINED', 'not paired: pass --store ADDRESS to choose another store')
    return { sessionId: chosenId, phone: chosenPhone, storeSpec, replace }
}

/**
 * Whether pairing may replace what the session holds: false when it is not paired; when it is,
 * on a terminal the user is asked "Replace it?" (No by default: exit 22, unchanged), elsewhere
 * it is refused (exit 7, pass --force). Reads the store only; nothing connects before this.
 */
async function mayReplace(
    ctx: CliContext,
    storeSpec: StoreSpec,
    sessionId: string
): Promise<boolean> {
    const io = ctx.io
    const { readExisting } = await import('../ops/pair.js')
    const existing = await readExisting(storeSpec, sessionId)
    if (existing.meJid === null) return false
    const prompts = await import('../ui/prompts.js')
    if (!prompts.canPrompt(io))
        throw new ZapoError(
            'EXISTS',
            `session "${sessionId}" is already paired as ${existing.meJid}: pass --force to pair it again (the old linked device stays listed on the phone until you remove it there; its credentials in this store are replaced)`,
            { session: sessionId, meJid: existing.meJid }
        )
    const p = palette(io.colorErr)
    note(
        io,
        `session ${p.session(sessionId)} is already paired as ${p.jid(existing.meJid)} in ${storeSpec.label}; a new pairing replaces its credentials (the old device stays listed on the phone until you remove it there)`
    )
    const ok = await prompts.confirm({ message: 'Replace it?' })
    if (!ok) throw new ZapoError('DECLINED', `not paired: ${sessionId} is unchanged`)
    return true
}
