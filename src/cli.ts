/**
 * The glue between commander and the command handlers: a handler gets its
 * typed options and the CliContext, and returns an exit code (or nothing for
 * 0). It never calls process.exit; main.ts does the one exit.
 */

import type { Command } from 'commander'
import { contextFor, type CliContext } from './context.js'

let pendingExitCode = 0
let streamsJson = false

export function takeExitCode(): number {
    const code = pendingExitCode
    pendingExitCode = 0
    return code
}

/** Whether the running command streams NDJSON on stdout (its --json errors are one more event). */
export function commandStreamsJson(): boolean {
    return streamsJson
}

export type Handler<O> = (
    options: O,
    ctx: CliContext,
    args: readonly string[],
    command: Command
) => Promise<number | void>

export interface HandleOptions {
    /** with --json it streams NDJSON events: an error is one more, `{"event":"error",…}` */
    readonly ndjson?: boolean
}

/** Wraps a handler as a commander action. */
export function handle<O>(
    handler: Handler<O>,
    handleOptions: HandleOptions = {}
): (...args: unknown[]) => Promise<void> {
    return async (...args: unknown[]) => {
        streamsJson = handleOptions.ndjson === true
        const command = args[args.length - 1] as Command
        const options = command.opts() as O
        const positional = args.slice(0, -2).filter((a): a is string => typeof a === 'string')
        const code = await handler(options, contextFor(command), positional, command)
        pendingExitCode = code ?? 0
    }
}

/** Collects a repeatable flag's values into an array (commander's option argParser). */
export function collect(value: string, previous: readonly string[] | undefined): string[] {
    return [...(previous ?? []), value]
}
