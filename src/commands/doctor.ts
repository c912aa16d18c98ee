import type { Command } from 'commander'
import { handle } from '../cli.js'
import { printJson, printLine, stdoutColumns } from '../output.js'
import { palette } from '../ui/color.js'
import { hangingLines } from '../ui/format.js'
import { helpFooter } from './options.js'

interface DoctorFlags {
    readonly storeCheck?: boolean
}

export function register(program: Command): void {
    program
        .command('doctor')
        .description(
            'check Node, zapo-js, the store packages and drivers, WebSocket support, and the store'
        )
        .option('--no-store-check', 'check the machine only, not the store')
        .addHelpText(
            'after',
            helpFooter({
                notes: [
                    'The store is --store / ZAPO_STORE / the config file / ./zapo.sqlite. Exit 0 when nothing failed; warnings do not fail.'
                ],
                examples: [['zapo doctor'], ['zapo doctor --store postgres --json']]
            })
        )
        .action(
            handle<DoctorFlags>(async (flags, ctx) => {
                const store = flags.storeCheck === false ? null : ctx.storeSpec()
                const { runDoctor } = await import('../ops/doctor.js')
                const report = await runDoctor({ store })
                if (ctx.io.json) {
                    printJson(ctx.io, report)
                    return report.exitCode
                }
                const p = palette(ctx.io.colorOut)
                const width = Math.max(...report.checks.map(c => c.name.length))
                const mark = {
                    ok: p.ok('ok  '),
                    warn: p.warn('warn'),
                    fail: p.error('FAIL')
                } as const
                const indent = ' '.repeat(4 + 2 + width + 2)
                // on a terminal a detail wraps under its own column; piped, each stays one line
                const columns = stdoutColumns(ctx.io)
                for (const check of report.checks) {
                    const [first = '', ...more] = check.detail.split('\n')
                    const style = check.status === 'ok' ? (t: string) => t : p.strong
                    const lines = [
                        ...hangingLines(
                            `${mark[check.status]}  ${check.name.padEnd(width)}  `,
                            style(first),
                            columns
                        ),
                        ...more.flatMap(line => hangingLines(indent, style(line), columns))
                    ]
                    for (const line of lines) printLine(ctx.io, line)
                }
                const { ok, warn, fail } = report.summary
                const summary = `${ok} ok, ${warn} warning${warn === 1 ? '' : 's'}, ${fail} failed`
                printLine(ctx.io, '')
                printLine(
                    ctx.io,
                    fail > 0 ? p.error(summary) : warn > 0 ? p.warn(summary) : p.ok(summary)
                )
                return report.exitCode
            })
        )
}
