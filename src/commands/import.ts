/**
 * `zapo import FILE [--session NEW] [--force] [--dry-run]`: flags → typed
 * options → runImport (src/ops/import.ts) → summary. The target store is the
 * global --store (or ZAPO_STORE / the config file / the embedded default).
 */

import type { Command } from 'commander'
import { helpFooter, sharedOption } from './options.js'
import { collect, handle } from '../cli.js'
import type { CliContext } from '../context.js'
import { validateSessionId } from '../context.js'
import { usageError } from '../errors.js'
import { claimInterrupts } from '../interrupt.js'
import { note, printJson, printLine, type Io } from '../output.js'
import { DURABLE_DOMAINS } from '../store/address.js'
import { palette } from '../ui/color.js'
import { describeCounts } from '../ui/counts.js'
import type { ImportOptions, ImportResult } from '../ops/import.js'
import { PASSPHRASE_ENV } from './export.js'

interface ImportFlags {
    readonly session?: string
    readonly force?: boolean
    readonly overwriteLive?: boolean
    readonly dryRun?: boolean
    readonly identity?: readonly string[]
    readonly passphraseFile?: string
}

export function register(program: Command): void {
    program
        .command('import')
        .description(
            'verify a `zapo export` file and write its sessions into a store, all or nothing'
        )
        .argument('<file>', 'the export file ("-" for stdin)')
        .addOption(
            sharedOption(
                'session',
                "import the file's single session under this id (the old id must then never connect)"
            )
        )
        .addOption(sharedOption('force', 'replace a session the target store already holds'))
        .option(
            '--overwrite-live',
            'with --force: replace a session that logged in within the last 10 minutes (an application may be running it)'
        )
        .option(
            '--dry-run',
            'decrypt and verify, show what the file holds, write nothing (no store needed)'
        )
        .option(
            '--identity <file>',
            'age identity file (AGE-SECRET-KEY-1…) for recipient-encrypted exports (repeatable)',
            collect
        )
        .option(
            '--passphrase-file <file>',
            `read the passphrase from the first line of a file (or set ${PASSPHRASE_ENV})`
        )
        .addHelpText(
            'after',
            helpFooter({
                notes: [
                    'Nothing is written unless the whole file decrypts, verifies and passes the credential checks; a failure while writing removes what was written. Format: docs/export-format.md'
                ],
                examples: [
                    ['zapo import t42.age --store postgres://db/zapo', 'asks for the passphrase'],
                    ['zapo import t42.age --dry-run --passphrase-file pass.txt'],
                    ['zapo import t42.age --identity key.txt -s tenant-42b --store redis://…']
                ]
            })
        )
        .action(
            handle<ImportFlags>(async (flags, ctx, args) =>
                importCommand(args[0] ?? '', flags, ctx)
            )
        )
}

export interface ImportCommandOptions extends Omit<ImportOptions, 'input' | 'name'> {
    /** the export file, "-" for stdin */
    readonly file: string
}

/**
 * Flags (and the FILE argument) → typed options: the identity files are read here; the
 * passphrase is asked for (or read) only when the file turns out to need one.
 */
export async function prepare(
    flags: ImportFlags & { readonly file: string },
    ctx: CliContext
): Promise<ImportCommandOptions> {
    const io = ctx.io
    const { file } = flags
    if (file === '') throw usageError('no file given: zapo import FILE')
    if (flags.overwriteLive && !flags.force)
        throw usageError(
            '--overwrite-live only applies with --force: pass both to replace a live session'
        )
    const sessionId = flags.session !== undefined ? validateSessionId(flags.session) : null
    const dryRun = flags.dryRun === true
    const store = dryRun ? null : ctx.storeSpec()
    const { looseModeWarning, readSecretFile, readPassphraseFile } =
        await import('../export/files.js')
    const { parseIdentityFile } = await import('../export/age.js')
    const identities: string[] = []
    for (const path of flags.identity ?? []) {
        identities.push(...parseIdentityFile(await readSecretFile(path, 'identity file'), path))
        const warning = looseModeWarning(path, 'identity file')
        if (warning !== null) note(io, `warning: ${warning}`)
    }
    const fromStdin = file === '-'
    const passphrase = async (): Promise<string | null> => {
        if (flags.passphraseFile !== undefined) {
            const passphrase = await readPassphraseFile(flags.passphraseFile)
            const warning = looseModeWarning(flags.passphraseFile, 'passphrase file')
            if (warning !== null) note(io, `warning: ${warning}`)
            return passphrase
        }
        const fromEnv = ctx.env[PASSPHRASE_ENV]
        if (fromEnv !== undefined && fromEnv !== '') return fromEnv
        const { canPrompt, password } = await import('../ui/prompts.js')
        if (fromStdin || !canPrompt(io)) return null
        return password({
            message: `Passphrase for ${file}`,
            validate: value => (value.length === 0 ? 'the passphrase cannot be empty' : undefined)
        })
    }
    return {
        file,
        store,
        sessionId,
        force: flags.force === true,
        overwriteLive: flags.overwriteLive === true,
        waitMs: ctx.waitMs,
        dryRun,
        identities,
        passphrase
    }
}

async function importCommand(file: string, flags: ImportFlags, ctx: CliContext): Promise<number> {
    const io = ctx.io
    const { file: path, ...options } = await prepare({ ...flags, file }, ctx)
    const { readInput } = await import('../export/files.js')
    const input = await readInput(path)
    const name = path === '-' ? 'stdin' : path
    const colors = palette(io.colorErr)
    const signal = claimInterrupts(io, {
        stopping: options.dryRun
            ? 'abandoning the dry run'
            : 'removing what this import wrote; the target store is left as it was',
        forced: options.dryRun
            ? 'nothing was written'
            : 'if the import had started writing, the target holds part of it (credentials are written last, so no client logs in with it): rerun the same zapo import with --force to complete it'
    })
    const { runImport } = await import('../ops/import.js')
    const result: ImportResult = await runImport(
        { ...options, input, name },
        {
            signal,
            onWarning: line => note(io, colors.warn(`warning: ${line}`))
        }
    )
    if (io.json) {
        printJson(io, result)
        return 0
    }
    printSummary(io, result)
    return 0
}

function printSummary(io: Io, result: ImportResult): void {
    const colors = palette(io.colorOut)
    const f = result.file
    const domains =
        f.domains.length === DURABLE_DOMAINS.length
            ? 'all domains'
            : `domains ${f.domains.join(', ')} (partial)`
    const by =
        f.zapo !== null
            ? `zapo ${f.zapo}${f.zapoJs !== null ? ` (zapo-js ${f.zapoJs})` : ''}`
            : 'unknown'
    if (result.dryRun) {
        printLine(
            io,
            `${colors.strong(f.name)}: ${f.format} version ${f.version}, created ${f.createdAt} by ${by}`
        )
        printLine(
            io,
            `  ${f.encryption === 'passphrase' ? 'passphrase' : 'recipient'}-encrypted${f.armored ? ', armored' : ''}, ${domains}, ${f.records} records, digests verified`
        )
    } else {
        printLine(
            io,
            `${colors.ok('imported')} ${result.sessions.length} session${result.sessions.length === 1 ? '' : 's'} (${f.records} records) into ${result.store ?? ''}, read back and verified`
        )
    }
    for (const s of result.sessions) {
        const rename = s.id !== s.sourceId ? ` (from ${colors.session(s.sourceId)})` : ''
        const replaced = s.replaced ? colors.warn(' replaced') : ''
        const jids = [s.meJid, s.meLid]
            .filter((j): j is string => j !== null)
            .map(j => colors.jid(j))
            .join(' ')
        printLine(
            io,
            `  ${colors.session(s.id)}${rename}${replaced}  ${jids !== '' ? jids : colors.dim('not paired')}`
        )
        printLine(io, `    ${describeCounts(s.counts, f.domains)}`)
        if (result.dryRun) {
            const passed = s.integrity.filter(c => c.status === 'pass').length
            printLine(
                io,
                `    credential checks: ${passed} passed, ${s.integrity.filter(c => c.status === 'skip').length} skipped`
            )
        }
    }
    if (result.dryRun) printLine(io, colors.dim('dry run: nothing was written'))
}
