/**
 * `zapo doctor`: the machine (Node, zapo-js, store packages and drivers, WebSocket) and the
 * store. Flags become typed options here; the checks are src/ops/doctor.ts.
 */

import type { Command } from 'commander'
import { handle } from '../cli.js'
import type { CliContext } from '../context.js'
import { printJson, printLine, stdoutColumns, type Io } from '../output.js'
import { palette } from '../ui/color.js'
import { wrapLine } from '../ui/format.js'
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
                    'The store is --store / ZAPO_STORE / the config file / ./zapo.sqlite. Exit 0 when nothing failed; warnings do not fail. Problems zapo works around (the zapo-js 0.3 / store 1.x peer mismatch) and a store not created yet are info lines.'
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
        info: p.dim('info'),
        warn: p.warn('warn'),
        fail: p.error('FAIL')
    } as const
    // on a terminal a long detail wraps at word boundaries under its own column
    const columns = stdoutColumns(io)
    const hang = 4 + 2 + width + 2
    const indent = ' '.repeat(hang)
    const fitted = (line: string, extra = 0): string => wrapLine(line, columns, hang + extra)
    for (const check of report.checks) {
        const [first, ...more] = check.detail.split('\n')
        const style = check.status === 'ok' || check.status === 'info' ? (t: string) => t : p.strong
        printLine(
            io,
            fitted(`${mark[check.status]}  ${check.name.padEnd(width)}  ${style(first ?? '')}`)
        )
        // a "- item" line hangs under its text, not under its dash
        for (const line of more)
            printLine(io, fitted(`${indent}${style(line)}`, line.startsWith('- ') ? 2 : 0))
    }
    const { ok, info, warn, fail } = report.summary
    const summary = `${ok} ok, ${info} info, ${warn} warning${warn === 1 ? '' : 's'}, ${fail} failed`
    printLine(io, '')
    printLine(io, fail > 0 ? p.error(summary) : warn > 0 ? p.warn(summary) : p.ok(summary))
}
