/**
 * `zapo export --session ID … -o FILE`: flags → typed options → runExport
 * (src/ops/export.ts) → summary. The file is always age-encrypted: to a
 * passphrase (--passphrase-file, ZAPO_PASSPHRASE, or typed twice on a
 * terminal; never from argv) or to age recipients.
 */

import type { Command } from 'commander'
import { helpFooter, parseDomainList, sharedOption } from './options.js'
import { collect, handle } from '../cli.js'
import type { CliContext } from '../context.js'
import { validateSessionId } from '../context.js'
import { usageError } from '../errors.js'
import { claimInterrupts } from '../interrupt.js'
import { note, printJson, printLine, stdoutColumns, type Io } from '../output.js'
import { wrapLine } from '../ui/format.js'
import { DURABLE_DOMAINS, type DurableDomain, type StoreSpec } from '../store/address.js'
import { palette } from '../ui/color.js'
import { describeCounts } from '../ui/counts.js'
import { formatBytes } from '../ui/format.js'
import type { Encryption } from '../export/age.js'
import type { InputFile } from '../export/files.js'
import { addShardOptions, parseShardFlags, type Shard, type ShardFlags } from '../util/shard.js'
import type { ExportOptions, ExportResult } from '../ops/export.js'
import { oneSession } from './session-choice.js'

interface ExportFlags extends ShardFlags {
    readonly session?: readonly string[]
    readonly all?: boolean
    readonly output?: string
    readonly domains?: string
    readonly passphraseFile?: string
    readonly recipient?: readonly string[]
    readonly recipientsFile?: readonly string[]
    readonly armor?: boolean
    readonly force?: boolean
}

export const PASSPHRASE_ENV = 'ZAPO_PASSPHRASE'
/** Test/CI knob: the scrypt work factor (log2 N) of passphrase exports; default 18 like age itself. */
export const WORK_FACTOR_ENV = 'ZAPO_SCRYPT_WORK_FACTOR'

export function register(program: Command): void {
    const command = program
        .command('export')
        .description('write the durable state of sessions to an age-encrypted, verifiable file')
        .addOption(
            sharedOption(
                'sessions',
                "a session to export (repeatable; default ZAPO_SESSION / config, else the store's only session)"
            )
        )
        .option('--all', 'every session in the store, into one file')
    addShardOptions(command, 'with --all: ')
    command
        .option('-o, --output <file>', 'the file to write ("-" for stdout)')
        .option(
            '--domains <list>',
            `comma-separated durable domains (default: all: ${DURABLE_DOMAINS.join(', ')})`
        )
        .option(
            '--passphrase-file <file>',
            `read the passphrase from the first line of a file (or set ${PASSPHRASE_ENV})`
        )
        .option(
            '--recipient <age1…>',
            'encrypt to an age public key instead of a passphrase (repeatable)',
            collect
        )
        .option(
            '--recipients-file <file>',
            'encrypt to every age1… key in a file, one per line (repeatable)',
            collect
        )
        .option('--armor', 'ASCII-armored output (PEM-like text) instead of binary')
        .addOption(sharedOption('force', 'replace an existing output file'))
        .addHelpText(
            'after',
            helpFooter({
                notes: [
                    'The passphrase is never taken from the command line. Files are created with mode 0600. Format and what a partial (--domains) export restores: docs/export-format.md'
                ],
                examples: [
                    ['zapo export -s tenant-42 -o t42.age', 'asks for a passphrase twice'],
                    [`${PASSPHRASE_ENV}=… zapo export -s a -s b -o ab.age`],
                    [
                        'zapo export -s tenant-42 --recipient age1… --armor -o - \\\n      | ssh host zapo import - --identity key.txt',
                        'to another host'
                    ]
                ]
            })
        )
        .action(handle<ExportFlags>(async (flags, ctx) => exportCommand(flags, ctx)))
}

export function parseExportDomains(value: string | undefined): DurableDomain[] {
    const chosen = parseDomainList(value, DURABLE_DOMAINS)
    return chosen === undefined
        ? [...DURABLE_DOMAINS]
        : DURABLE_DOMAINS.filter(d => chosen.includes(d))
}

export function parseWorkFactor(env: NodeJS.ProcessEnv): number | undefined {
    const raw = env[WORK_FACTOR_ENV]
    if (raw === undefined || raw === '') return undefined
    if (!/^\d+$/.test(raw) || Number(raw) < 10 || Number(raw) > 20) {
        throw usageError(
            `${WORK_FACTOR_ENV}="${raw}" must be a whole number from 10 to 20 (default 18)`
        )
    }
    return Number(raw)
}

async function readRecipientsFile(path: string): Promise<string> {
    const { readSecretFile } = await import('../export/files.js')
    return readSecretFile(path, 'recipients file')
}

/** Chooses the encryption from the flags, the environment, or (on a terminal) a passphrase typed twice. */
export async function exportEncryption(
    flags: ExportFlags,
    ctx: CliContext,
    toStdout: boolean
): Promise<Encryption> {
    const { checkRecipient, parseRecipientsFile } = await import('../export/age.js')
    const recipients: string[] = (flags.recipient ?? []).map(r => checkRecipient(r, '--recipient'))
    for (const file of flags.recipientsFile ?? [])
        recipients.push(...parseRecipientsFile(await readRecipientsFile(file), file))
    if (recipients.length > 0) {
        if (flags.passphraseFile !== undefined) {
            throw usageError(
                '--passphrase-file and --recipient / --recipients-file exclude each other: an age file has either a passphrase or recipients'
            )
        }
        return { kind: 'recipients', recipients }
    }
    const workFactor = parseWorkFactor(ctx.env)
    const withFactor = (passphrase: string): Encryption => ({
        kind: 'passphrase',
        passphrase,
        ...(workFactor !== undefined ? { workFactor } : {})
    })
    if (flags.passphraseFile !== undefined) {
        const { looseModeWarning, readPassphraseFile } = await import('../export/files.js')
        const passphrase = await readPassphraseFile(flags.passphraseFile)
        const warning = looseModeWarning(flags.passphraseFile, 'passphrase file')
        if (warning !== null) note(ctx.io, `warning: ${warning}`)
        return withFactor(passphrase)
    }
    const fromEnv = ctx.env[PASSPHRASE_ENV]
    if (fromEnv !== undefined && fromEnv !== '') return withFactor(fromEnv)
    const { canPrompt, password } = await import('../ui/prompts.js')
    if (!canPrompt(ctx.io) || toStdout) {
        throw usageError(
            `no passphrase or recipient: pass --passphrase-file FILE, set ${PASSPHRASE_ENV}, or pass --recipient age1… / --recipients-file FILE (a passphrase is asked for only on a terminal)`
        )
    }
    const first = await password({
        message: 'Passphrase for the export (it protects private keys: use a long one)',
        validate: value =>
            value.length === 0
                ? 'the passphrase cannot be empty'
                : value.length < 8
                  ? 'use at least 8 characters'
                  : undefined
    })
    const second = await password({
        message: 'Type the passphrase again',
        validate: value => (value !== first ? 'the two passphrases differ' : undefined)
    })
    return withFactor(second)
}

export interface ExportCommandOptions {
    readonly store: StoreSpec
    /** the file to write, or null for stdout (-o -) */
    readonly output: string | null
    /** the sessions named with --session, or null: the store's only session (or a picker) */
    readonly sessionIds: readonly string[] | null
    readonly all: boolean
    readonly shard: Shard | null
    readonly domains: DurableDomain[]
    readonly armor: boolean
    readonly force: boolean
    /** the files the export must never overwrite: the store's, the passphrase and recipients files */
    readonly inputs: readonly InputFile[]
}

/**
 * Flags → typed options. A target that is one of the inputs, lies in a foreign store being read,
 * or exists without --force is refused here, before a passphrase is asked for.
 */
export async function prepare(flags: ExportFlags, ctx: CliContext): Promise<ExportCommandOptions> {
    const io = ctx.io
    if (flags.output === undefined || flags.output === '')
        throw usageError('no output file: pass -o FILE (or -o - for stdout)')
    const toStdout = flags.output === '-'
    if (toStdout && io.json)
        throw usageError(
            '--json and -o - both write to stdout: pass -o FILE to get the JSON summary'
        )
    if (toStdout && io.stdout.isTTY && !flags.armor) {
        throw usageError(
            'refusing to write a binary file to the terminal: redirect stdout, pass -o FILE, or add --armor'
        )
    }
    if (flags.all && (flags.session ?? []).length > 0)
        throw usageError('--all and --session exclude each other: pass one of them')
    const shard = parseShardFlags(flags, flags.all ? null : '--all')
    const sessionIds = flags.all
        ? []
        : (flags.session ?? []).length > 0
          ? flags.session!.map(id => validateSessionId(id))
          : null
    const domains = parseExportDomains(flags.domains)
    const store = ctx.storeSpec()
    const { refuseExisting, refuseOwnInputs, storeInputs } = await import('../export/files.js')
    const inputs: InputFile[] = [
        ...storeInputs(store),
        ...(flags.passphraseFile !== undefined
            ? [{ path: flags.passphraseFile, what: 'the passphrase file' }]
            : []),
        ...(flags.recipientsFile ?? []).map(path => ({ path, what: 'a recipients file' }))
    ]
    if (!toStdout) {
        // fail before asking for a passphrase
        refuseOwnInputs(flags.output, inputs)
        const { foreignFolderHolding } = await import('../store/identity.js')
        const { resolve } = await import('node:path')
        const folder = foreignFolderHolding(
            [store.primary, ...Object.values(store.backends)],
            resolve(ctx.cwd, flags.output)
        )
        if (folder !== null)
            throw usageError(
                `-o ${flags.output} would write into the foreign store ${folder} being exported: nothing is ever written to a foreign store; write the file elsewhere`
            )
        refuseExisting(flags.output, flags.force === true)
    }
    return {
        store,
        output: toStdout ? null : flags.output,
        sessionIds,
        all: flags.all === true,
        shard,
        domains,
        armor: flags.armor === true,
        force: flags.force === true,
        inputs
    }
}

async function exportCommand(flags: ExportFlags, ctx: CliContext): Promise<number> {
    const io = ctx.io
    const prepared = await prepare(flags, ctx)
    const { store, output } = prepared
    const toStdout = output === null
    // before the passphrase: the store's only session, or a picker / the ids in the error
    const sessionIds = prepared.sessionIds ?? [await oneSession(ctx, undefined, store)]
    const encryption = await exportEncryption(flags, ctx, toStdout)
    const options: ExportOptions = {
        store,
        sessionIds,
        ...(prepared.all ? { all: true, shard: prepared.shard } : {}),
        domains: prepared.domains,
        encryption,
        armor: prepared.armor,
        target:
            output === null
                ? { kind: 'stream', write: chunk => writeStdout(io, chunk) }
                : { kind: 'file', path: output, force: prepared.force, inputs: prepared.inputs }
    }
    const { runExport } = await import('../ops/export.js')
    const signal = claimInterrupts(io, {
        stopping: toStdout
            ? 'abandoning the export (what reached stdout is incomplete and will not decrypt)'
            : 'abandoning the export; no file is written',
        forced: toStdout ? 'what reached stdout is incomplete' : 'no file was written'
    })
    const result: ExportResult = await runExport(options, {
        signal,
        onWarning: line => note(io, palette(io.colorErr).warn(`warning: ${line}`))
    })
    if (io.json) {
        printJson(io, result)
        return 0
    }
    // the summary goes to stderr when the export itself goes to stdout; on a terminal it wraps
    // at word boundaries, continuation lines under their item
    const say = toStdout
        ? (line: string) => note(io, line)
        : (line: string, indent = 2) => printLine(io, wrapLine(line, stdoutColumns(io), indent))
    printSummary(io, result, say, toStdout ? io.colorErr : io.colorOut)
    return 0
}

function writeStdout(io: Io, chunk: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
        io.stdout.write(chunk, error => (error ? reject(error) : resolve()))
    })
}

function printSummary(
    io: Io,
    result: ExportResult,
    say: (line: string, indent?: number) => void,
    color: boolean
): void {
    const colors = palette(color)
    const how =
        result.encryption === 'passphrase'
            ? 'passphrase'
            : `${result.recipients} recipient${result.recipients === 1 ? '' : 's'}`
    const where = result.file !== null ? colors.path(result.file) : 'stdout'
    say(
        `${colors.ok('exported')} ${result.sessions.length} session${result.sessions.length === 1 ? '' : 's'} (${result.records} records) to ${where}` +
            ` (${formatBytes(result.bytes)}, ${how}${result.armor ? ', armored' : ''}${result.file !== null ? ', mode 0600' : ''})`
    )
    for (const s of result.sessions) {
        say(
            `  ${colors.session(s.id)}  ${s.meJid !== null ? colors.jid(s.meJid) : colors.dim('not paired')}`
        )
        say(`    ${describeCounts(s.counts, result.domains)}`, 4)
    }
    if (result.partial) {
        note(
            io,
            palette(io.colorErr).warn(
                `partial export (${result.domains.join(', ')}): it cannot restore the other domains; see docs/export-format.md before relying on it`
            )
        )
    }
}
