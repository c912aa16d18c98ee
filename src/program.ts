/**
 * The root command and its global options. Each command lives in
 * src/commands/<name>.ts and is added here with one line; command files
 * import only light modules and load their work (src/ops/…) when they run.
 */

import { Command } from 'commander'
import { register as registerCompletion } from './commands/completion.js'
import { register as registerConfig } from './commands/config.js'
import { register as registerCreds } from './commands/creds.js'
import { register as registerDoctor } from './commands/doctor.js'
import { register as registerCheck } from './commands/check.js'
import { register as registerExitCodes } from './commands/exit-codes.js'
import { register as registerLogout } from './commands/logout.js'
import { register as registerLogs } from './commands/logs.js'
import { register as registerPair } from './commands/pair.js'
import { register as registerSandbox } from './commands/sandbox.js'
import { register as registerExport } from './commands/export.js'
import { register as registerImport } from './commands/import.js'
import { register as registerMigrate } from './commands/migrate.js'
import { register as registerSessions } from './commands/sessions.js'
import { helpFooter } from './commands/options.js'
import { usageLine } from './errors.js'
import { wrapProse } from './ui/format.js'
import { versionLine } from './version.js'
import { usageError } from './errors.js'

export function buildProgram(): Command {
    const program = new Command('zapo')
        .description(
            'Operate zapo-js WhatsApp sessions: pair, inspect, export, migrate, watch and check them.'
        )
        .version(versionLine(), '-V, --version', 'print the zapo and zapo-js versions')
        .option('--store <address>', 'store: URL, backend name or .sqlite path (or ZAPO_STORE)')
        .option('--config <path>', 'config file (default: ./zapo.config.json, or ZAPO_CONFIG)')
        .option('--json', 'machine-readable output on stdout (one document, or NDJSON for streams)')
        .option('--no-color', 'no colour (also: NO_COLOR=1)')
        .option('--debug', 'show stack traces and debug logs')
        .option(
            '--wait <duration>',
            'wait up to DURATION for a session another zapo run holds (default: exit 21 at once)'
        )
        .showSuggestionAfterError(true)
        .exitOverride()
        // a bad command line is one line, like every error: `zapo: <problem>; run … --help`
        .configureOutput({
            outputError: (message, write) => {
                // wrapped at word boundaries on a terminal, like every error line (main.ts)
                const line = `zapo: ${usageLine(message)}; run with --help for usage`
                const columns = process.stderr.isTTY ? process.stderr.columns : 0
                write(`${columns > 0 ? wrapProse(line, columns - 1) : line}\n`)
            }
        })
        .configureHelp({ sortSubcommands: false, showGlobalOptions: true })
        .addHelpText(
            'after',
            helpFooter({
                notes: [
                    'Stores: sqlite:./file.sqlite | postgres://… | mysql://… | redis://… | mongodb://… or a backend name (sqlite, postgres, mysql, redis, mongo). Default store: ./zapo.sqlite in the working directory. Exit codes: zapo exit-codes'
                ],
                examples: [
                    ['zapo pair --sandbox --session demo', 'try pairing without a phone'],
                    ['zapo sessions list', 'what the store holds'],
                    ['zapo check --json', 'smoke-check every session'],
                    ['zapo pair --help', 'one command in detail']
                ]
            })
        )

    registerPair(program)
    registerSessions(program)
    registerCreds(program)
    registerDoctor(program)
    registerExport(program)
    registerImport(program)
    registerMigrate(program)
    registerLogs(program)
    registerCheck(program)
    registerLogout(program)
    registerSandbox(program)
    registerConfig(program)
    registerExitCodes(program)
    registerCompletion(program)
    // `zapo version` is what people type first: point at the flag (commander would suggest
    // `sessions`)
    program
        .command('version', { hidden: true })
        .allowUnknownOption()
        .action(() => {
            throw usageError('there is no zapo version command: use zapo --version')
        })
    return program
}

/** `zapo` alone: what it is and the first commands to try, in fewer than 24 rows. */
export function startScreen(): string {
    return [
        versionLine(),
        'Pair, inspect, export, migrate, watch and check zapo-js WhatsApp sessions.',
        '',
        'Start here:',
        '  zapo pair --sandbox --session demo     try pairing without a phone',
        '  zapo pair --session tenant-42          link a device (QR in the terminal)',
        '  zapo sessions list                     what the store holds',
        '  zapo check --json                      smoke-check every session',
        '  zapo logs                              tail every session live',
        '  zapo migrate --from sqlite --to postgres',
        '  zapo doctor                            versions, drivers, the store',
        '  zapo config                            the store and session used here',
        '',
        'Store: --store ADDRESS, ZAPO_STORE or zapo.config.json; default ./zapo.sqlite',
        'Tab completion: eval "$(zapo completion bash)" (or zsh, fish; see the README)',
        'All commands: zapo --help    One command: zapo COMMAND --help',
        ''
    ].join('\n')
}
