/**
 * The entry: builds the program, runs it, and maps every outcome to an exit
 * code in one place. Nothing heavy is imported here: each command loads its
 * implementation only when it runs.
 *
 * main.ts is the only module that ends the process: once the command has
 * returned and its output is flushed, on a forced stop (src/interrupt.ts hands
 * it over), and on a closed pipe.
 */

import { CommanderError } from 'commander'
import { commandStreamsJson, takeExitCode } from './cli.js'
import {
    errorLine,
    EXIT_CODES,
    isZapoError,
    printable,
    toError,
    usageLine,
    ZapoError
} from './errors.js'
import {
    installInterrupts,
    interruptAnnounced,
    releaseInterrupts,
    runLastResorts,
    type ForcedStop
} from './interrupt.js'
import { stringifyJson } from './output.js'
import { wrapProse } from './ui/format.js'
import { buildProgram, startScreen } from './program.js'

/** How long a forced stop gives the last-resort clean-ups (temporary files, stores) in all. */
export const FORCED_STOP_BUDGET_MS = 500

export interface MainOptions {
    /** signals that arrived while the program was loading (bin/zapo.js holds them) */
    readonly heldSignals?: readonly ForcedStop['signal'][]
}

export async function main(argv: readonly string[], options: MainOptions = {}): Promise<never> {
    // a closed pipe (zapo … | head) ends the command quietly
    for (const stream of [process.stdout, process.stderr]) {
        stream.on('error', (error: NodeJS.ErrnoException) => {
            if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0)
            throw error
        })
    }
    const wantsJson = argv.includes('--json')
    const debug = argv.includes('--debug')
    let finished: number | null = null
    let forcing = false
    const forcedStop = async (stop: ForcedStop): Promise<void> => {
        // the command has its result; only the process is still winding down
        if (finished !== null) process.exit(finished)
        if (forcing) process.exit(EXIT_CODES.CANCELLED)
        forcing = true
        await runLastResorts(FORCED_STOP_BUDGET_MS)
        const message =
            stop.claim === null
                ? `interrupted (${stop.signal})`
                : `interrupted again (${stop.signal}): stopped at once${stop.claim.forced ? `; ${stop.claim.forced}` : ''}`
        const flags = { json: wantsJson, debug: false, stream: commandStreamsJson() }
        process.exit(reportError(new ZapoError('CANCELLED', message), flags))
    }
    installInterrupts(stop => void forcedStop(stop))
    const held = options.heldSignals?.[0]
    if (held !== undefined) await forcedStop({ signal: held, claim: null })

    if (argv.length <= 2) {
        // `zapo` alone: a short start screen instead of the full help
        process.stdout.write(startScreen())
        process.exit(0)
    }
    const program = buildProgram()
    const failure = await program.parseAsync(argv as string[]).then(
        () => null,
        (error: unknown) => ({ error })
    )
    // a forced stop is under way: what the command does meanwhile (stores closed under it) is
    // not its result; the forced stop reports and exits
    if (forcing) await new Promise<never>(() => undefined)
    const code =
        failure === null ? takeExitCode() : exitCodeOf(failure.error, { json: wantsJson, debug })
    releaseInterrupts()
    finished = code
    // end as soon as the output is flushed: a library timer left behind (zapo-js 0.3's 10 s
    // socket-close timer) must not hold the exit, and a signal from now on finds the process
    // still handling signals (a natural exit tears them down before the process is gone)
    await new Promise(resolve => process.stdout.write('', () => process.stderr.write('', resolve)))
    process.exit(code)
}

function exitCodeOf(error: unknown, flags: { readonly json: boolean; readonly debug: boolean }) {
    if (error instanceof CommanderError) {
        if (error.exitCode === 0) return 0
        // commander already printed its message to stderr
        if (flags.json) {
            process.stdout.write(
                stringifyJson({
                    error: {
                        code: 'USAGE',
                        exitCode: EXIT_CODES.USAGE,
                        message: usageLine(error.message)
                    }
                }) + '\n'
            )
        }
        return EXIT_CODES.USAGE
    }
    const zapoError = isZapoError(error) ? error : internalError(error)
    // the first interrupt's `stopping` line already said it: the CANCELLED ending the stop is quiet
    const said = zapoError.code === 'CANCELLED' && interruptAnnounced() && !flags.debug
    return reportError(zapoError, { ...flags, stream: commandStreamsJson(), quiet: said })
}

/**
 * Reports an error: one line on stderr (unless it is the CANCELLED that follows an interrupt's
 * own `stopping` line), the stack with --debug, and with --json the error on stdout, as a
 * document `{"error":{…}}` or, for a command that streams NDJSON, as one `{"event":"error",…}`
 * line. Returns the exit code.
 */
export function reportError(
    error: unknown,
    flags: {
        readonly json: boolean
        readonly debug: boolean
        readonly stream?: boolean
        /** no line on stderr (it was already said) */
        readonly quiet?: boolean
    }
): number {
    const zapoError: ZapoError = isZapoError(error) ? error : internalError(error)
    // what the user typed (ids, paths, URLs) is echoed escaped and cut, never raw
    const message = printable(zapoError.message)
    if (flags.quiet !== true) {
        // on a terminal: wrapped at word boundaries, continuation lines indented
        const columns = process.stderr.isTTY ? process.stderr.columns : 0
        const line = `zapo: ${message}`
        process.stderr.write(`${columns > 0 ? wrapProse(line, columns - 1) : line}\n`)
    }
    if (flags.debug) {
        const cause = (zapoError.cause ?? zapoError) as Error
        process.stderr.write(`${cause.stack ?? String(cause)}\n`)
    } else if (zapoError.code === 'INTERNAL') {
        process.stderr.write('zapo: rerun with --debug for the stack trace\n')
    }
    if (flags.json) {
        const fields = {
            code: zapoError.code,
            exitCode: zapoError.exitCode,
            message,
            meta: zapoError.meta
        }
        const doc = flags.stream ? { event: 'error', ...fields } : { error: fields }
        process.stdout.write(stringifyJson(doc) + '\n')
    }
    return zapoError.exitCode
}

function internalError(error: unknown): ZapoError {
    const err = toError(error)
    return new ZapoError('INTERNAL', `unexpected error: ${errorLine(err)}`, {}, { cause: err })
}
