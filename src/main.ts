/**
 * The entry: builds the program, runs it, and maps every outcome to an exit
 * code in one place. Nothing heavy is imported here: each command loads its
 * implementation only when it runs.
 */

import { CommanderError } from 'commander'
import { takeExitCode } from './cli.js'
import { errorLine, EXIT_CODES, isZapoError, toError, ZapoError } from './errors.js'
import { stringifyJson } from './output.js'
import { buildProgram } from './program.js'

export async function main(argv: readonly string[]): Promise<number> {
    // a closed pipe (zapo … | head) ends the command quietly
    for (const stream of [process.stdout, process.stderr]) {
        stream.on('error', (error: NodeJS.ErrnoException) => {
            if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0)
            throw error
        })
    }
    const program = buildProgram()
    const wantsJson = argv.includes('--json')
    const debug = argv.includes('--debug')
    try {
        await program.parseAsync(argv as string[])
        return takeExitCode()
    } catch (error) {
        if (error instanceof CommanderError) {
            if (error.exitCode === 0) return 0
            // commander already printed its message to stderr
            if (wantsJson) {
                process.stdout.write(
                    stringifyJson({
                        error: {
                            code: 'USAGE',
                            exitCode: EXIT_CODES.USAGE,
                            message: error.message.replace(/^error: /, '')
                        }
                    }) + '\n'
                )
            }
            return EXIT_CODES.USAGE
        }
        return reportError(error, { json: wantsJson, debug })
    }
}

export function reportError(
    error: unknown,
    flags: { readonly json: boolean; readonly debug: boolean }
): number {
    const zapoError: ZapoError = isZapoError(error) ? error : internalError(error)
    const line = `zapo: ${zapoError.message}`
    process.stderr.write(line + '\n')
    if (flags.debug) {
        const cause = (zapoError.cause ?? zapoError) as Error
        process.stderr.write(`${cause.stack ?? String(cause)}\n`)
    } else if (zapoError.code === 'INTERNAL') {
        process.stderr.write('zapo: rerun with --debug for the stack trace\n')
    }
    if (flags.json) {
        process.stdout.write(
            stringifyJson({
                error: {
                    code: zapoError.code,
                    exitCode: zapoError.exitCode,
                    message: zapoError.message,
                    meta: zapoError.meta
                }
            }) + '\n'
        )
    }
    return zapoError.exitCode
}

function internalError(error: unknown): ZapoError {
    const err = toError(error)
    return new ZapoError('INTERNAL', `unexpected error: ${errorLine(err)}`, {}, { cause: err })
}
