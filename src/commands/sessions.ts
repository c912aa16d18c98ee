import type { Command } from 'commander'
import { handle } from '../cli.js'
import { note, printJson, printLine } from '../output.js'
import type { SessionCounts } from '../store/records.types.js'
import { palette } from '../ui/color.js'
import { relativeTime, renderTable, shortDuration } from '../ui/format.js'
import { addShardOptions, parseShardFlags, type ShardFlags } from '../util/shard.js'

export function register(program: Command): void {
    const sessions = program.command('sessions').description('the sessions a store holds')
    const list = sessions
        .command('list')
        .alias('ls')
        .description(
            'list every session in the store: pairing, account, last login, signed prekey and record counts'
        )
        .addHelpText(
            'after',
            '\nJSON: { store, sessions: [{ id, paired, meJid, meLid, displayName, platform, lastLoginAt,\n' +
                '        signedPreKey: { keyId, rotatedAt }, counts: { … } }] }  (see docs/sessions.md)'
        )
    addShardOptions(list).action(
        handle<ShardFlags>(async (flags, ctx) => {
            const store = ctx.storeSpec()
            const shard = parseShardFlags(flags)
            const { runSessionsList } = await import('../ops/sessions.js')
            const result = await runSessionsList({ store, shard })
            const p = palette(ctx.io.color)
            if (result.sessions.length === 0 && shard !== null) {
                note(
                    ctx.io,
                    `zapo: shard ${shard.index}/${shard.count} holds none of the sessions in ${store.label}`
                )
            } else if (result.sessions.length === 0) {
                note(
                    ctx.io,
                    `no sessions in ${store.label}${result.schema === 'missing' ? ' (no zapo data there yet)' : ''}; pair one with zapo pair --session ID`
                )
            }
            const broken = result.sessions.filter(s => s.problem !== null)
            if (broken.length > 0) {
                note(
                    ctx.io,
                    `zapo: ${broken.length} session${broken.length === 1 ? '' : 's'} with unreadable credentials (${broken
                        .slice(0, 3)
                        .map(s => s.id)
                        .join(
                            ', '
                        )}${broken.length > 3 ? ', …' : ''}); zapo creds show --session ID says more`
                )
            }
            for (const problem of result.ambiguousIds) {
                note(
                    ctx.io,
                    `zapo: warning: session "${problem.sessionId}" in ${problem.store}: ${problem.reason}; zapo deletes it by exact keys only; give it another id (zapo export, then zapo import --session NEW) before other tools clear it by pattern`
                )
            }
            if (ctx.io.json) {
                printJson(ctx.io, {
                    store: result.store,
                    ...(shard !== null ? { shard } : {}),
                    sessions: result.sessions
                })
                return
            }
            if (result.sessions.length === 0) return
            type Row = (typeof result.sessions)[number]
            const now = Date.now()
            const lines = renderTable<Row>(
                result.sessions,
                [
                    { header: 'SESSION', value: s => p.session(s.id), max: 22 },
                    {
                        header: 'PAIRED',
                        value: s =>
                            s.problem !== null
                                ? p.error('corrupt')
                                : s.paired
                                  ? p.ok('yes')
                                  : s.counts.credentials
                                    ? p.warn('no')
                                    : p.error('no creds')
                    },
                    {
                        header: 'PHONE',
                        value: s => (s.meJid ? p.jid(jidUser(s.meJid)) : p.dim('—')),
                        max: 18
                    },
                    { header: 'NAME', value: s => s.displayName ?? p.dim('—'), max: 14 },
                    { header: 'PLATFORM', value: s => s.platform ?? p.dim('—'), max: 9 },
                    {
                        header: 'LAST LOGIN',
                        value: s =>
                            s.lastLoginAt
                                ? relativeTime(Date.parse(s.lastLoginAt), now)
                                : p.dim('never')
                    },
                    {
                        header: 'SIGNED PREKEY',
                        value: s =>
                            s.signedPreKey === null
                                ? p.error('missing')
                                : `#${s.signedPreKey.keyId}${s.signedPreKey.rotatedAt ? ` ${shortDuration(now - Date.parse(s.signedPreKey.rotatedAt))} old` : ''}`
                    }
                ],
                { header: p.dim }
            )
            printLine(ctx.io, lines[0])
            result.sessions.forEach((s, i) => {
                printLine(ctx.io, lines[i + 1])
                const lid = s.meLid ? `lid ${jidUser(s.meLid)}  ` : ''
                printLine(ctx.io, p.dim(`  ${lid}${compactCounts(s.counts)}`))
                if (s.problem !== null) printLine(ctx.io, `  ${p.error(s.problem)}`)
            })
            printLine(ctx.io, '')
            const count = result.sessions.length
            printLine(
                ctx.io,
                `${count} session${count === 1 ? '' : 's'} in ${p.path(result.store)}`
            )
            printLine(
                ctx.io,
                p.dim(
                    'pk uploaded/total prekeys · sess Signal sessions · id identities · sk sender keys/distributions'
                )
            )
            printLine(
                ctx.io,
                p.dim(
                    'as app-state sync keys/collections · pt privacy tokens · --json for full JIDs and times'
                )
            )
        })
    )
}

/** "15551234567:12" from "15551234567:12@s.whatsapp.net". */
function jidUser(jid: string): string {
    const at = jid.indexOf('@')
    return at < 0 ? jid : jid.slice(0, at)
}

/** The counts in one short line: "pk 10/30  sess 5  id 5  sk 2/2  as 2/1  pt 2". */
export function compactCounts(c: SessionCounts): string {
    return [
        `pk ${c.preKeysUploaded}/${c.preKeys}`,
        `sess ${c.signalSessions}`,
        `id ${c.identities}`,
        `sk ${c.senderKeys}/${c.senderKeyDistributions}`,
        `as ${c.appStateSyncKeys}/${c.appStateCollections}`,
        `pt ${c.privacyTokens}`
    ].join('  ')
}
