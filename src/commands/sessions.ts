/**
 * `zapo sessions list` and `zapo sessions rm`.
 *
 * list: a compact table for people on a terminal (`--wide` adds the record counts), header-less
 * tab-separated lines without colour when stdout is a file or a pipe, ids only with `-q`, one
 * JSON document with `--json`. rm: removes one session's stored state without contacting a
 * server (src/ops/sessions-rm.ts does the one write).
 */

import { zapoCommand } from '../hints.js'
import type { Command } from 'commander'
import { assertCanConfirm, helpFooter, sharedOption } from './options.js'
import { handle } from '../cli.js'
import type { CliContext } from '../context.js'
import { validateSessionId } from '../context.js'
import { ZapoError } from '../errors.js'
import { note, printJson, printLine, type Io } from '../output.js'
import type { SessionSummary } from '../ops/sessions.js'
import { palette } from '../ui/color.js'
import { COUNT_COLUMNS, describeCounts } from '../ui/counts.js'
import { relativeTime, renderTable, type TableColumn } from '../ui/format.js'
import { formatDuration } from '../util/duration.js'
import type { StoreSpec } from '../store/address.js'
import { addShardOptions, parseShardFlags, type Shard, type ShardFlags } from '../util/shard.js'

interface ListFlags extends ShardFlags {
    readonly wide?: boolean
    readonly quiet?: boolean
}

interface RmFlags {
    readonly yes?: boolean
}

/** The flags of either subcommand, told apart by `command` (rm's <id> argument rides along). */
export type SessionsFlags =
    | ({ readonly command: 'list' } & ListFlags)
    | ({ readonly command: 'rm'; readonly id: string } & RmFlags)

export type SessionsOptions =
    | {
          readonly command: 'list'
          readonly store: StoreSpec
          readonly shard: Shard | null
          readonly wide: boolean
          readonly quiet: boolean
      }
    | {
          readonly command: 'rm'
          readonly store: StoreSpec
          readonly sessionId: string
          /** no --yes: ask on the terminal first */
          readonly confirm: boolean
      }

export function register(program: Command): void {
    const sessions = program.command('sessions').description('the sessions a store holds')
    const list = sessions
        .command('list')
        .alias('ls')
        .description('list every session in the store: pairing, account and last login')
        .option('--wide', 'also LID, platform, signed prekey and the record counts per domain')
        .addOption(sharedOption('quiet', 'only the session ids, one per line'))
        .addHelpText(
            'after',
            helpFooter({
                notes: [
                    'On a terminal: a table. Piped or redirected: tab-separated lines without a header or colour (id, paired, jid, lid, name, platform, last login (ISO 8601 UTC), signed prekey id; --wide adds the counts). JSON: { store, sessions: [{ id, paired, meJid, … counts }] } (docs/sessions.md).'
                ],
                examples: [
                    ['zapo sessions list'],
                    ['zapo sessions list --wide --store postgres'],
                    ["zapo sessions list | awk -F'\\t' '$2 == \"yes\" {print $1}'"],
                    ['zapo sessions list -q | xargs -n1 zapo check --session']
                ]
            })
        )
    addShardOptions(list).action(
        handle<ListFlags>(async (flags, ctx) => run({ ...flags, command: 'list' }, ctx))
    )
    sessions
        .command('rm')
        .alias('remove')
        .argument('<id>', 'the session to remove (never a default: spell it out)')
        .description(
            "remove one session's stored state from the store, without contacting any server"
        )
        .addOption(sharedOption('yes'))
        .addHelpText(
            'after',
            helpFooter({
                notes: [
                    'For a session whose server is gone (a sandbox) or whose device was already unlinked on the phone. A device that is still linked stays listed on the phone: unlink it there, or use zapo logout instead, which asks the server. Records are deleted by their exact keys; an interrupted removal is finished by running it again.'
                ],
                examples: [
                    ['zapo sessions rm demo'],
                    ['zapo sessions rm tenant-42 --store postgres --yes']
                ]
            })
        )
        .action(
            handle<RmFlags>(async (flags, ctx, args) =>
                run({ ...flags, command: 'rm', id: args[0] ?? '' }, ctx)
            )
        )
}

/** Flags → typed options; rm never has a default session and, without --yes, needs a terminal. */
export async function prepare(flags: SessionsFlags, ctx: CliContext): Promise<SessionsOptions> {
    if (flags.command === 'list') {
        const store = ctx.storeSpec()
        return {
            command: 'list',
            store,
            shard: parseShardFlags(flags),
            wide: flags.wide === true,
            quiet: flags.quiet === true
        }
    }
    const sessionId = validateSessionId(flags.id)
    const store = ctx.storeSpec()
    const confirm = flags.yes !== true
    if (confirm) await assertCanConfirm(ctx.io, 'zapo sessions rm deletes stored credentials')
    return { command: 'rm', store, sessionId, confirm }
}

async function run(flags: SessionsFlags, ctx: CliContext): Promise<void> {
    const options = await prepare(flags, ctx)
    return options.command === 'list' ? listCommand(options, ctx) : rmCommand(options, ctx)
}

async function listCommand(
    options: Extract<SessionsOptions, { command: 'list' }>,
    ctx: CliContext
): Promise<void> {
    const { store, shard } = options
    const { runSessionsList } = await import('../ops/sessions.js')
    const result = await runSessionsList({ store, shard })
    const io = ctx.io
    if (result.sessions.length === 0 && shard !== null) {
        note(
            io,
            `zapo: shard ${shard.index}/${shard.count} holds none of the sessions in ${store.label}`
        )
    } else if (result.sessions.length === 0) {
        note(
            io,
            `no sessions in ${store.label}${result.schema === 'missing' ? ' (no zapo data there yet)' : ''}; pair one with ${zapoCommand('pair', '--session', 'ID')}`
        )
    }
    const broken = result.sessions.filter(s => s.problem !== null)
    if (broken.length > 0) {
        note(
            io,
            `zapo: ${broken.length} session${broken.length === 1 ? '' : 's'} with unreadable credentials (${broken
                .slice(0, 3)
                .map(s => s.id)
                .join(
                    ', '
                )}${broken.length > 3 ? ', …' : ''}); ${zapoCommand('creds', 'show', '--session', 'ID')} says more`
        )
    }
    for (const problem of result.ambiguousIds) {
        note(
            io,
            `zapo: warning: session "${problem.sessionId}" in ${problem.store}: ${problem.reason}; zapo deletes it by exact keys only; give it another id (zapo export, then zapo import --session NEW) before other tools clear it by pattern`
        )
    }
    if (io.json) {
        printJson(io, {
            store: result.store,
            ...(shard !== null ? { shard } : {}),
            sessions: result.sessions
        })
        return
    }
    if (options.quiet) {
        for (const s of result.sessions) printLine(io, s.id)
        return
    }
    if (result.sessions.length === 0) return
    if (!io.stdout.isTTY) {
        for (const s of result.sessions) printLine(io, tsvLine(s, options.wide))
        return
    }
    printTable(io, result.store, result.sessions, options.wide)
}

/** Paired state in one word, the same in the table and the TSV. */
function pairedWord(s: SessionSummary): string {
    return s.problem !== null
        ? 'corrupt'
        : s.paired
          ? 'yes'
          : s.counts.credentials
            ? 'no'
            : 'no-creds'
}

function tsvLine(s: SessionSummary, wide: boolean): string {
    const c = s.counts
    const cells = [
        s.id,
        pairedWord(s),
        s.meJid ?? '',
        s.meLid ?? '',
        s.displayName ?? '',
        s.platform ?? '',
        s.lastLoginAt ?? '',
        s.signedPreKey ? String(s.signedPreKey.keyId) : '',
        ...(wide
            ? [
                  c.preKeysUploaded,
                  c.preKeys,
                  c.signalSessions,
                  c.identities,
                  c.senderKeys,
                  c.senderKeyDistributions,
                  c.appStateSyncKeys,
                  c.appStateCollections,
                  c.privacyTokens
              ].map(String)
            : [])
    ]
    // a tab or newline inside a name would shift the columns
    return cells.map(cell => cell.replace(/[\t\n\r]/g, ' ')).join('\t')
}

function printTable(
    io: Io,
    storeLabel: string,
    sessions: readonly SessionSummary[],
    wide: boolean
): void {
    const p = palette(io.colorOut)
    const now = Date.now()
    const columns: TableColumn<SessionSummary>[] = [
        { header: 'SESSION', value: s => p.session(s.id) },
        {
            header: 'PAIRED',
            value: s => {
                const word = pairedWord(s)
                return word === 'yes' ? p.ok(word) : word === 'no' ? p.warn(word) : p.error(word)
            }
        },
        { header: 'PHONE', value: s => (s.meJid ? p.jid(jidUser(s.meJid)) : p.dim('—')), max: 18 },
        { header: 'NAME', value: s => s.displayName ?? p.dim('—'), max: 14 },
        {
            header: 'LAST LOGIN',
            value: s =>
                s.lastLoginAt ? relativeTime(Date.parse(s.lastLoginAt), now) : p.dim('never')
        }
    ]
    if (wide) {
        columns.push(
            { header: 'LID', value: s => (s.meLid ? jidUser(s.meLid) : p.dim('—')), max: 18 },
            { header: 'PLATFORM', value: s => s.platform ?? p.dim('—'), max: 9 },
            {
                header: 'SIGNED PREKEY',
                value: s =>
                    s.signedPreKey === null
                        ? p.error('missing')
                        : `#${s.signedPreKey.keyId}${s.signedPreKey.rotatedAt ? ` ${formatDuration(Math.max(0, now - Date.parse(s.signedPreKey.rotatedAt)))} old` : ''}`
            },
            ...COUNT_COLUMNS.map(([header, value]) => ({
                header,
                value: (s: SessionSummary) => value(s.counts),
                align: 'right' as const
            }))
        )
    }
    for (const line of renderTable(sessions, columns, { header: p.dim })) printLine(io, line)
    for (const s of sessions)
        if (s.problem !== null) printLine(io, `${p.session(s.id)}: ${p.error(s.problem)}`)
    const count = sessions.length
    printLine(
        io,
        p.dim(
            `${count} session${count === 1 ? '' : 's'} in ${storeLabel}${wide ? '' : ' (--wide for record counts)'}`
        )
    )
}

/** "15551234567:12" from "15551234567:12@s.whatsapp.net". */
function jidUser(jid: string): string {
    const at = jid.indexOf('@')
    return at < 0 ? jid : jid.slice(0, at)
}

async function rmCommand(
    options: Extract<SessionsOptions, { command: 'rm' }>,
    ctx: CliContext
): Promise<void> {
    const { beginSessionRemoval } = await import('../ops/sessions-rm.js')
    // the lease first: what is shown (and asked about) is what is removed
    const pending = await beginSessionRemoval(options.store, options.sessionId, {
        waitMs: ctx.waitMs
    })
    try {
        await confirmAndRemove(pending, options, ctx)
    } finally {
        await pending.release()
    }
}

async function confirmAndRemove(
    pending: import('../ops/sessions-rm.js').PendingRemoval,
    options: Extract<SessionsOptions, { command: 'rm' }>,
    ctx: CliContext
): Promise<void> {
    const { store, sessionId } = options
    const io = ctx.io
    const { isEmpty } = await import('../ops/sessions-rm.js')
    const preview = pending.preview
    const e = palette(io.colorErr)
    if (!io.json) {
        note(
            io,
            `zapo: removing ${e.session(sessionId)}${preview.meJid ? ` (${e.jid(preview.meJid)})` : ''} from ${store.label}: ${describeCounts(preview.counts)}`
        )
        if (preview.meJid)
            note(
                io,
                e.warn(
                    'zapo: no server is contacted: if the device is still linked it stays listed on the phone (Linked devices); zapo logout unlinks it instead'
                )
            )
    }
    if (options.confirm) {
        const { confirm } = await import('../ui/prompts.js')
        const ok = await confirm({ message: `Remove ${sessionId} from ${store.label}?` })
        if (!ok) throw new ZapoError('DECLINED', `not removed: ${sessionId} is unchanged`)
    }
    const removal = await pending.remove()
    if (io.json) {
        printJson(io, removal)
        return
    }
    const p = palette(io.colorOut)
    printLine(
        io,
        `${p.ok('removed')} ${p.session(sessionId)} from ${store.label}: ${describeCounts(removal.before)}`
    )
    if (!isEmpty(removal.after))
        note(
            io,
            e.warn(
                `zapo: records were written meanwhile (${describeCounts(removal.after)}): something is using the session; stop it and run ${zapoCommand('sessions', 'rm', sessionId)} again`
            )
        )
    if (removal.shared.length > 0)
        note(
            io,
            `zapo: ${removal.shared.length} key(s) left alone: they also belong to another session (docs/stores.md)`
        )
}
