/**
 * The options several commands share, defined once: their flags (short forms the same
 * everywhere: -s session, -y yes, -q quiet), their placeholder and their help. A command adds
 * one with `.addOption(sharedOption('session', help))` — only the help's wording may differ per
 * command, never the flag. The exit-code lines of help texts come from the exit-code table
 * (`exitCodesHelp`), and each help ends with examples (`examplesHelp`).
 */

import { Option } from 'commander'
import { EXIT_CODES, usageError, type ZapoErrorCode } from '../errors.js'
import type { Io } from '../output.js'
import { collect } from '../cli.js'
import { wrapProse } from '../ui/format.js'

interface SharedOption {
    readonly flags: string
    readonly help: string
    readonly repeatable?: boolean
}

export const SHARED_OPTIONS = Object.freeze({
    session: { flags: '-s, --session <id>', help: 'the session (or ZAPO_SESSION)' },
    sessions: {
        flags: '-s, --session <id>',
        help: 'a session; repeat for several (or ZAPO_SESSION)',
        repeatable: true
    },
    server: {
        flags: '--server <url>',
        help: 'a test server (zapo sandbox) instead of WhatsApp (or ZAPO_SERVER)'
    },
    serverRootCa: {
        flags: '--server-root-ca <ca>',
        help: "with --server: the test server's root CA as zapo sandbox prints it (or ZAPO_SERVER_ROOT_CA)"
    },
    timeout: { flags: '--timeout <duration>', help: 'give up after this long (e.g. 30s, 5m)' },
    yes: { flags: '-y, --yes', help: 'do not ask for confirmation (required without a terminal)' },
    force: { flags: '--force', help: 'replace what already exists' },
    logLevel: {
        flags: '--log-level <level>',
        help: "the client library's own log lines on stderr, in zapo's format: trace, debug, info, warn, error (default: none; debug with --debug)"
    },
    quiet: { flags: '-q, --quiet', help: 'only the essential output' }
} satisfies Record<string, SharedOption>)

export type SharedOptionName = keyof typeof SHARED_OPTIONS

/** A shared option for `command.addOption(…)`; `help` rewords it for one command, never the flag. */
export function sharedOption(name: SharedOptionName, help?: string): Option {
    const definition: SharedOption = SHARED_OPTIONS[name]
    const option = new Option(definition.flags, help ?? definition.help)
    return definition.repeatable ? option.argParser(collect) : option
}

/**
 * "Exit codes: 0 OK, 2 USAGE, 7 EXISTS, …" for the codes a command can end with, from the one
 * exit-code table; `zapo exit-codes` says what each means.
 */
export function exitCodesHelp(codes: readonly ZapoErrorCode[]): string {
    const listed = [...new Set(codes)].sort((a, b) => EXIT_CODES[a] - EXIT_CODES[b])
    return `Exit codes: ${listed.map(code => `${EXIT_CODES[code]}\u00a0${code}`).join(', ')} (zapo exit-codes says what each means).`
}

/** "Examples:" with one command per line, each of which works when pasted. */
export function examplesHelp(examples: readonly (readonly [string, string?])[]): string {
    // comments line up after the short commands; a long command gets its comment above it
    const SHORT = 48
    const width = Math.max(0, ...examples.map(([line]) => line.length).filter(n => n <= SHORT))
    const lines = examples.map(([line, what]) =>
        what === undefined
            ? `  ${line}`
            : line.length <= SHORT
              ? `  ${line.padEnd(width)}  # ${what}`
              : `  # ${what}\n  ${line}`
    )
    return `Examples:\n${lines.join('\n')}`
}

/**
 * The text after a command's options, for `addHelpText('after', helpFooter({…}))`: notes and the
 * exit-code line wrapped at word boundaries to the terminal's width (hanging indent), then the
 * examples, which are never wrapped (they must paste as they are).
 */
export function helpFooter(parts: {
    readonly notes?: readonly string[]
    readonly exitCodes?: readonly ZapoErrorCode[]
    readonly examples?: readonly (readonly [string, string?])[]
}): () => string {
    return () => {
        const width = Math.min(process.stdout.columns || 80, 100)
        const prose = [...(parts.notes ?? [])]
        if (parts.exitCodes) prose.push(exitCodesHelp(parts.exitCodes))
        const blocks = prose.map(p => wrapProse(p, width))
        if (parts.examples) blocks.push(examplesHelp(parts.examples))
        return `\n${blocks.join('\n\n')}`
    }
}

/**
 * The --yes rule: a command that asks before it acts needs a terminal to ask on, else --yes.
 * `what` says what it does ("logout unlinks tenant-42 for good"); the usage error adds the rest.
 */
export async function assertCanConfirm(io: Io, what: string): Promise<void> {
    const { canPrompt } = await import('../ui/prompts.js')
    if (!canPrompt(io))
        throw usageError(
            `${what} and needs a confirmation: pass --yes (there is no terminal to ask on${io.json ? ', or --json' : ''})`
        )
}

/**
 * A --domains list: names separated by commas, each one of `allowed` (an empty list or an
 * unknown name is a usage error naming them all); undefined when the flag was not given.
 */
export function parseDomainList(
    value: string | undefined,
    allowed: readonly string[]
): string[] | undefined {
    if (value === undefined) return undefined
    const chosen = value
        .split(',')
        .map(d => d.trim())
        .filter(d => d !== '')
    if (chosen.length === 0)
        throw usageError(`--domains is empty: pass some of ${allowed.join(', ')}`)
    for (const domain of chosen) {
        if (!allowed.includes(domain))
            throw usageError(`unknown domain "${domain}" in --domains: use ${allowed.join(', ')}`)
    }
    return chosen
}
