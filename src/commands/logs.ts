/**
 * `zapo logs`: tail live events of one or many sessions, as lines for people or NDJSON for
 * programs. Flags become typed options here; the work is src/ops/logs.ts; the records are
 * rendered here (src/ui/event-line.ts for people, one JSON object per line with --json).
 */

import type { Command } from 'commander'
import { collect, handle } from '../cli.js'
import { helpFooter, sharedOption } from './options.js'
import type { CliContext } from '../context.js'
import { parseDuration, parsePositiveInt, validateSessionId } from '../context.js'
import { EXIT_CODES, usageError } from '../errors.js'
import { claimInterrupts } from '../interrupt.js'
import { note } from '../output.js'
import { palette } from '../ui/color.js'
import { addShardOptions, parseShardFlags, type ShardFlags } from '../util/shard.js'
import type { LogsOptions } from '../ops/logs.js'
import type { EventRecord } from '../client/event-json.js'
import type { LogLevelName } from '../client/logger.js'

interface LogsFlags extends ShardFlags {
    readonly session?: readonly string[]
    readonly all?: boolean
    readonly type?: readonly string[]
    readonly chat?: string
    readonly from?: string
    readonly count?: string
    readonly timeout?: string
    readonly raw?: boolean
    readonly logLevel?: string
    readonly server?: string
    readonly serverRootCa?: string
}

export function register(program: Command): void {
    const command = program
        .command('logs')
        .description(
            'tail the live events of one or many paired sessions (messages, receipts, presence, groups, calls, …)'
        )
        .addOption(
            sharedOption(
                'sessions',
                'a session to tail; repeat for several (default: ZAPO_SESSION, else every paired session)'
            )
        )
        .option('--all', 'tail every paired session in the store (the default without a session)')
    addShardOptions(command, 'over every session: ')
    command
        .option(
            '--type <types>',
            'only these event types, comma-separated (message, receipt, presence, chatstate, call, notification, group, …)',
            collect
        )
        .option('--chat <jid>', 'only events of this chat (a JID, or a phone number)')
        .option(
            '--from <jid>',
            'only events caused by this JID (any of its devices), or phone number'
        )
        .option(
            '--count <n>',
            'stop after N matching events (status lines such as connection, reconnect, error are not counted)'
        )
        .addOption(sharedOption('timeout', 'stop after this long, with exit 0 (e.g. 30s, 5m)'))
        .option('--raw', 'with --json: add the raw binary node of each stanza as "raw"')
        .addOption(sharedOption('logLevel'))
        .addOption(sharedOption('server'))
        .addOption(sharedOption('serverRootCa'))
        .addHelpText(
            'after',
            helpFooter({
                notes: [
                    'Connecting kicks an app running the same session while this runs (one connection per device). Ctrl-C or SIGTERM disconnects (the device stays linked) and exits 0; a second Ctrl-C exits at once (130).',
                    'When every session stopped by itself the most severe reason wins; transient failures are retried with backoff, without end. JSON schema and reconnect policy: docs/logs.md'
                ],
                exitCodes: [
                    'OK',
                    'SESSION_BUSY',
                    'USAGE',
                    'SESSION_NOT_FOUND',
                    'STORE_UNAVAILABLE',
                    'NOT_PAIRED',
                    'LOGGED_OUT',
                    'REPLACED',
                    'ACCOUNT_BLOCKED',
                    'CLIENT_REJECTED',
                    'CONNECTION_FAILED',
                    'UNTRUSTED_SERVER',
                    'CANCELLED'
                ],
                examples: [
                    ['zapo logs', 'every paired session, for people'],
                    ['zapo logs -s tenant-42 --json', 'one session, NDJSON'],
                    ['zapo logs --type message --count 10', 'the next ten messages'],
                    ['zapo logs --type notification', 'notifications, with bulletins'],
                    ['zapo logs --log-level info', "also zapo-js's own log lines"],
                    ['zapo logs --timeout 10m > events.txt', 'ten minutes of lines into a file']
                ]
            })
        )
        .action(handle<LogsFlags>(runLogsCommand))
}

export interface Prepared {
    readonly options: LogsOptions
    readonly logLevel: LogLevelName
}

export async function prepare(flags: LogsFlags, ctx: CliContext): Promise<Prepared> {
    const [{ parseEventTypes, normalizeJidFlag }, { resolveLogLevel }] = await Promise.all([
        import('../client/event-json.js'),
        import('../client/logger.js')
    ])
    const given = flags.session ?? []
    if (flags.all && given.length > 0)
        throw usageError('--all and --session exclude each other: pass one of them')
    const sessions: readonly string[] | 'all' = flags.all
        ? 'all'
        : given.length > 0
          ? given.map(id => validateSessionId(id))
          : (() => {
                // ZAPO_SESSION / the config file's session, else every paired session
                const named = ctx.optionalSessionId(undefined)
                return named === null ? 'all' : [named]
            })()
    const asUsage = <T>(fn: () => T, flag: string): T => {
        try {
            return fn()
        } catch (error) {
            throw usageError(`${flag}: ${(error as Error).message}`)
        }
    }
    const timeoutMs = flags.timeout !== undefined ? parseDuration(flags.timeout, '--timeout') : null
    if (timeoutMs !== null && timeoutMs <= 0)
        throw usageError('--timeout must be longer than 0: use e.g. 30s')
    if (flags.raw && !ctx.io.json)
        throw usageError('--raw adds binary nodes to JSON lines: use it with --json')
    const server = ctx.server(flags)
    const options: LogsOptions = {
        storeSpec: ctx.storeSpec(),
        waitMs: ctx.waitMs,
        sessions,
        shard: parseShardFlags(flags, sessions === 'all' ? null : '--all'),
        server,
        types: asUsage(() => parseEventTypes(flags.type ?? []), '--type'),
        chat:
            flags.chat !== undefined
                ? asUsage(() => normalizeJidFlag(flags.chat as string), '--chat')
                : null,
        from:
            flags.from !== undefined
                ? asUsage(() => normalizeJidFlag(flags.from as string), '--from')
                : null,
        count: flags.count !== undefined ? parsePositiveInt(flags.count, '--count') : null,
        timeoutMs,
        raw: flags.raw === true
    }
    const logLevel = resolveLogLevel(flags.logLevel, ctx.io.debug).value
    return { options, logLevel }
}

async function runLogsCommand(flags: LogsFlags, ctx: CliContext): Promise<number> {
    // the first Ctrl-C / SIGTERM disconnects every session and ends with 0; a second quits at once
    const signal = claimInterrupts(ctx.io, {
        stopping: 'disconnecting (the device stays linked)'
    })
    const { options, logLevel } = await prepare(flags, ctx)
    const [{ runLogs }, { eventLineFormatter }, { createClientLogger }] = await Promise.all([
        import('../ops/logs.js'),
        import('../ui/event-line.js'),
        import('../ui/client-logger.js')
    ])
    const { io } = ctx
    // a session column when several sessions are tailed, or every one is asked for (--all)
    let several =
        flags.all === true || (options.sessions !== 'all' && new Set(options.sessions).size > 1)
    const sessionColumn = (): boolean => several
    let sessionWidth = 0
    // the clients' own log lines (only with --log-level / --debug): stderr, in the same line
    // format as the events for people, pino JSON lines with --json
    const logger = createClientLogger({
        level: logLevel,
        json: io.json,
        color: io.colorErr,
        sessionColumn,
        sessionWidth: () => sessionWidth,
        width: () => terminalWidth(io.stderr)
    })
    const p = palette(io.colorErr)
    const formatter = eventLineFormatter(io.colorOut, {
        sessionColumn,
        sessionWidth: () => sessionWidth,
        // on a terminal long lines wrap under the summary; a file or pipe gets one line a record
        width: () => terminalWidth(io.stdout),
        // protocol bulletins (ib.offline after every login) when asked for: --type notification
        // or --debug; --json always has them
        bulletins: io.debug || options.types?.has('notification') === true,
        reconnectLines: options.types === null || options.types.has('reconnect')
    })

    // why a session ended, on stderr: its code for people, zapo-js's reason name beside it with
    // --json (the name the `stopped` record carries)
    const stopLine = (record: EventRecord) => {
        const code = typeof record.code === 'number' ? record.code : null
        const why = io.json
            ? ` (${String(record.reason)}${code !== null ? ` ${code}` : ''})`
            : code !== null
              ? ` (${code})`
              : ''
        note(
            io,
            p.error(
                `zapo: ${record.session}: ${String(record.summary)}${why}: ${String(record.hint)}`
            )
        )
    }
    const onRecord = (record: EventRecord) => {
        if (record.type === 'stopped') stopLine(record)
        if (io.json) {
            // records are already JSON-ready (bytes base64, secrets redacted) by client/event-json.ts
            io.stdout.write(JSON.stringify(record) + '\n')
            return
        }
        const line = formatter.format(record)
        if (line !== null) io.stdout.write(line + '\n')
    }

    const result = await runLogs(options, {
        onRecord,
        logger,
        signal,
        onConnecting: ids => {
            // sessions in one column: pad to the longest id (up to 24)
            several = flags.all === true || ids.length > 1
            sessionWidth = Math.min(24, Math.max(0, ...ids.map(id => id.length)))
            const who =
                ids.length === 1
                    ? `session ${ids[0]}`
                    : `${ids.length} sessions (${ids.join(', ')})`
            const where = options.server ? ` to the test server ${options.server.url}` : ''
            note(
                io,
                p.warn(
                    `zapo: connecting ${who}${where}: an app running the same session will be disconnected while this runs`
                )
            )
        }
    })
    if (!io.json && result.ended === 'timeout')
        note(io, p.dim(`zapo: --timeout reached after ${result.matched} event(s)`))
    return EXIT_CODES[result.exit]
}

/** The width of a stream that is a terminal (read at each line: it follows a resize); null otherwise. */
function terminalWidth(stream: unknown): number | null {
    const tty = stream as { readonly isTTY?: boolean; readonly columns?: number }
    return tty.isTTY === true && typeof tty.columns === 'number' && tty.columns > 0
        ? tty.columns
        : null
}
