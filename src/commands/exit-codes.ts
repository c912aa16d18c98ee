import type { Command } from 'commander'
import { handle } from '../cli.js'
import { EXIT_CODE_MEANINGS, EXIT_CODES, SEVERITY, type ZapoErrorCode } from '../errors.js'
import { printJson, printLine, stdoutColumns } from '../output.js'
import { wrapLine } from '../ui/format.js'
import { helpFooter } from './options.js'

export function register(program: Command): void {
    program
        .command('exit-codes')
        .description('list the exit codes zapo uses and what each means')
        .addHelpText(
            'after',
            helpFooter({
                examples: [['zapo exit-codes'], ['zapo exit-codes --json', 'the table for scripts']]
            })
        )
        .action(
            handle(async (_options, ctx) => {
                const rows = (Object.keys(EXIT_CODES) as ZapoErrorCode[]).map(code => ({
                    exitCode: EXIT_CODES[code],
                    code,
                    meaning: EXIT_CODE_MEANINGS[code]
                }))
                if (ctx.io.json) {
                    printJson(ctx.io, { exitCodes: rows, severity: SEVERITY })
                    return
                }
                // on a terminal a meaning wraps under its column; piped, one line per code
                const columns = stdoutColumns(ctx.io)
                for (const row of rows) {
                    const head = `${String(row.exitCode).padStart(3)}  ${row.code.padEnd(20)} `
                    printLine(ctx.io, wrapLine(head + row.meaning, columns, head.length))
                }
                const severity = `several outcomes in one run (check --all, logs --all) exit with the most severe, most severe first: ${SEVERITY.map(code => EXIT_CODES[code]).join(', ')}`
                printLine(ctx.io, '')
                printLine(ctx.io, wrapLine(severity, columns, 0))
            })
        )
}
