/**
 * `zapo doctor`: the machine (Node, zapo-js, store packages and drivers, WebSocket) and the
 * store. Flags become typed options here; the checks are src/ops/doctor.ts.
 */

import type { Command } from 'commander'
import { handle } from '../cli.js'
import type { CliContext } from '../context.js'
import { printJson, printLine, stdoutColumns, type Io } from '../output.js'
import { palette } from '../ui/color.js'
import { hangingLines } from '../ui/format.js'
import { helpFooter } from './options.js'
import type { DoctorOptions, DoctorReport } from '../ops/doctor.js'

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
                const options = prepare(flags, ctx)
                const { runDoctor } = await import('../ops/doctor.js')
                const report = await runDoctor(options)
                if (ctx.io.json) printJson(ctx.io, report)
                else render(ctx.io, report)
                return report.exitCode
            })
        )
}

/** Flags → typed options: the store to check, or none with --no-store-check. */
export function prepare(flags: DoctorFlags, ctx: CliContext): DoctorOptions {
    return { store: flags.storeCheck === false ? null : ctx.storeSpec() }
}

function render(io: Io, report: DoctorReport): void {
    const p = palette(io.colorOut)
    const width = Math.max(...report.checks.map(c => c.name.length))
    const mark = {
        ok: p.ok('ok  '),
        warn: p.warn('warn'),
        fail: p.error('FAIL')
    } as const
    const indent = ' '.repeat(4 + 2 + width + 2)
    // on a terminal a detail wraps under its own column; piped, each stays one line for grep
    const columns = stdoutColumns(io)
    for (const check of report.checks) {
        const [first = '', ...more] = check.detail.split('\n')
        const style = check.status === 'ok' ? (t: string) => t : p.strong
        const head = `${mark[check.status]}  ${check.name.padEnd(width)}  `
        for (const line of hangingLines(head, style(first), columns)) printLine(io, line)
        for (const line of more)
            for (const l of hangingLines(indent, style(line), columns)) printLine(io, l)
    }
    const { ok, warn, fail } = report.summary
    const summary = `${ok} ok, ${warn} warning${warn === 1 ? '' : 's'}, ${fail} failed`
    printLine(io, '')
    printLine(io, fail > 0 ? p.error(summary) : warn > 0 ? p.warn(summary) : p.ok(summary))
}
