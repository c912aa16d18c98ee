import type { Command } from 'commander'
import { handle } from '../cli.js'
import { EXIT_CODE_MEANINGS, EXIT_CODES, SEVERITY, type ZapoErrorCode } from '../errors.js'
import { printJson, printLine } from '../output.js'

export function register(program: Command): void {
    program
        .command('exit-codes')
        .description('list the exit codes zapo uses and what each means')
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
                for (const row of rows)
                    printLine(
                        ctx.io,
                        `${String(row.exitCode).padStart(3)}  ${row.code.padEnd(20)} ${row.meaning}`
                    )
                printLine(
                    ctx.io,
                    `\nseveral outcomes in one run (check --all, logs --all) exit with the most severe, most severe first: ${SEVERITY.map(code => EXIT_CODES[code]).join(', ')}`
                )
            })
        )
}
