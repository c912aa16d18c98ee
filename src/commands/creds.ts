/**
 * `zapo creds show`: a session's stored credentials, secrets redacted unless --reveal (asked for
 * on a terminal). Flags become typed options here; the reading is src/ops/creds.ts.
 */

import type { Command } from 'commander'
import { zapoCommand } from '../hints.js'
import { assertCanConfirm, helpFooter, sharedOption } from './options.js'
import { handle } from '../cli.js'
import type { CliContext } from '../context.js'
import { EXIT_CODES, usageError, ZapoError } from '../errors.js'
import type { CredsView } from '../ops/creds.js'
import type { StoreSpec } from '../store/address.js'
import {
    printJson,
    printLine,
    REDACTED,
    stdoutColumns,
    toJsonValue,
    type Io,
    type Serialised
} from '../output.js'
import { palette } from '../ui/color.js'
import { relativeTime, wrapLine } from '../ui/format.js'
import { oneSession } from './session-choice.js'

interface ShowFlags {
    readonly session?: string
    readonly reveal?: boolean
    readonly yes?: boolean
}

export function register(program: Command): void {
    const creds = program.command('creds').description("inspect a session's stored credentials")
    creds
        .command('show')
        .description(
            'show the auth and Signal registration of a session, secrets redacted, with integrity checks'
        )
        .addOption(
            sharedOption(
                'session',
                "the session (or ZAPO_SESSION; default: the store's only session)"
            )
        )
        .option('--reveal', 'also print the private keys and secrets (asks for confirmation)')
        .addOption(
            sharedOption(
                'yes',
                'with --reveal: do not ask (required without a terminal or with --json)'
            )
        )
        .addHelpText(
            'after',
            helpFooter({
                notes: [
                    'Public keys are shown as fingerprints: the first 8 bytes of SHA-256 of the 32-byte key, in hex. Exit 0 when every integrity check passes, 5 when one fails, 3 when the session is not in the store.'
                ],
                examples: [
                    ['zapo creds show', 'the only session of ./zapo.sqlite'],
                    ['zapo creds show -s tenant-42 --json'],
                    ['zapo creds show -s tenant-42 --reveal', 'private keys too (asks first)']
                ]
            })
        )
        .action(handle<ShowFlags>(showCommand))
}

export interface CredsShowCommandOptions {
    readonly store: StoreSpec
    /** --session (else ZAPO_SESSION, the config file, the store's only session or a picker) */
    readonly session: string | undefined
    readonly reveal: boolean
    /** --reveal without --yes: ask before printing the private keys */
    readonly confirm: boolean
}

/** Flags → typed options; --reveal without --yes needs a terminal to ask on. */
export async function prepare(flags: ShowFlags, ctx: CliContext): Promise<CredsShowCommandOptions> {
    const store = ctx.storeSpec()
    const reveal = flags.reveal === true
    const confirm = reveal && flags.yes !== true
    if (confirm) await assertCanConfirm(ctx.io, '--reveal prints private keys')
    if (flags.yes === true && !reveal)
        throw usageError('--yes only applies to --reveal: add --reveal or drop --yes')
    return { store, session: flags.session, reveal, confirm }
}

async function showCommand(flags: ShowFlags, ctx: CliContext): Promise<number> {
    const { store, session, reveal, confirm } = await prepare(flags, ctx)
    const sessionId = await oneSession(ctx, session, store)
    const { runCredsShow, withoutFullPublicKeys } = await import('../ops/creds.js')
    const view = await runCredsShow({ store, sessionId })
    if (confirm) {
        const prompts = await import('../ui/prompts.js')
        const ok = await prompts.confirm({
            message: `Print the private keys of session "${sessionId}" on this screen? Anyone who sees them can impersonate the device.`
        })
        if (!ok) throw new ZapoError('DECLINED', 'not revealed: the private keys were not printed')
    }
    const shown = reveal ? view : withoutFullPublicKeys(view)
    const code = view.integrity.ok ? EXIT_CODES.OK : EXIT_CODES.INTEGRITY
    if (ctx.io.json) printJson(ctx.io, shown, { reveal })
    else render(ctx.io, toJsonValue(shown, { reveal }) as RenderedView, reveal)
    return code
}

/** The view after the serialiser: bytes are base64, secrets "[redacted]" unless revealed. */
type RenderedView = Serialised<CredsView>
type RenderedKey = RenderedView['credentials']['identityKey']

function render(io: Io, v: RenderedView, reveal: boolean): void {
    const p = palette(io.colorOut)
    const out = (line = ''): void => printLine(io, line)
    const none = p.dim('—')
    const text = (value: string | null | undefined): string =>
        value === null || value === undefined || value === '' ? none : value
    const secret = (value: string | null): string =>
        value === null ? none : value === REDACTED ? p.dim(REDACTED) : p.warn(value)
    const when = (iso: string | null): string =>
        iso === null ? none : `${iso} ${p.dim(`(${relativeTime(Date.parse(iso))})`)}`
    // revealed keys are long: public and private go on lines of their own
    const key = (k: RenderedKey): string =>
        k.pubKey
            ? `${p.strong(k.fingerprint)}\npublic  ${k.pubKey}\nprivate ${secret(k.privKey)}`
            : `${p.strong(k.fingerprint)}  private ${secret(k.privKey)}`
    const c = v.credentials
    // on a terminal a long value wraps at word boundaries under its own column (keys, which have
    // no spaces, are never cut)
    const columns = stdoutColumns(io)
    const section = (title: string, rows: readonly (readonly [string, string])[]): void => {
        out(p.strong(title))
        const width = Math.max(...rows.map(([label]) => label.length))
        for (const [label, value] of rows) {
            const [first, ...more] = value.split('\n')
            out(wrapLine(`  ${label.padEnd(width)}  ${first}`, columns, 2 + width + 2))
            for (const line of more)
                out(wrapLine(`  ${' '.repeat(width)}    ${line}`, columns, 2 + width + 4))
        }
        out()
    }

    section(`Session ${p.session(v.sessionId)}`, [
        ['store', p.path(v.store)],
        [
            'paired',
            v.paired
                ? p.ok('yes')
                : p.warn(`no (${zapoCommand('pair', '--session', v.sessionId)} links it)`)
        ],
        ['me JID', v.account.meJid ? p.jid(v.account.meJid) : none],
        ['me LID', v.account.meLid ? p.jid(v.account.meLid) : none],
        ['display name', text(v.account.displayName)],
        ...(v.account.pushName ? [['push name', v.account.pushName] as const] : []),
        ['platform', text(v.account.platform)],
        ['last login', when(v.account.lastLoginAt)],
        ...(v.account.accountCreatedAt
            ? [['account created', when(v.account.accountCreatedAt)] as const]
            : [])
    ])
    const adv = c.signedIdentity
    section('Auth credentials', [
        ['registration id', String(c.registrationId)],
        ['identity key', key(c.identityKey)],
        [
            'signed prekey',
            `#${c.signedPreKey.keyId}  signature ${c.signedPreKey.signature.fingerprint}${c.signedPreKey.uploaded === null ? '' : `  uploaded ${c.signedPreKey.uploaded ? 'yes' : 'no'}`}  key ${key(c.signedPreKey)}`
        ],
        ['noise key', key(c.noiseKey)],
        ['ADV secret', secret(c.advSecretKey)],
        ['companion static', secret(c.companionEncStatic)],
        [
            'ADV identity',
            adv
                ? `key index ${adv.keyIndex ?? '?'}, ${adv.accountType ?? '?'}${adv.issuedAt ? `, issued ${adv.issuedAt}` : ''}${adv.accountSignatureKey ? `, account key ${adv.accountSignatureKey.fingerprint}` : ''}`
                : none
        ],
        ['server static key', c.server.staticKey ? c.server.staticKey.fingerprint : none],
        [
            'prekeys on server',
            c.server.hasPreKeys === null ? none : c.server.hasPreKeys ? 'yes' : 'no'
        ],
        [
            'routing info',
            c.server.routingInfoBytes === null ? none : `${c.server.routingInfoBytes} bytes`
        ],
        ...(c.server.connectionLocation
            ? [['location', c.server.connectionLocation] as const]
            : []),
        [
            'props versions',
            c.server.propsVersion === null && c.server.abPropsVersion === null
                ? none
                : `props ${c.server.propsVersion ?? '—'}, ab ${c.server.abPropsVersion ?? '—'}`
        ]
    ])
    section('Signal domain', [
        [
            'registration id',
            v.signal.registrationId === null ? p.error('missing') : String(v.signal.registrationId)
        ],
        [
            'identity key',
            v.signal.identityKey ? v.signal.identityKey.fingerprint : p.error('missing')
        ],
        [
            'signed prekey',
            v.signal.signedPreKey
                ? `#${v.signal.signedPreKey.keyId}  ${v.signal.signedPreKey.fingerprint}`
                : p.error('missing')
        ],
        ['prekey rotated', when(v.signal.signedPreKeyRotatedAt)]
    ])
    const checks = v.integrity.checks
    const passed = checks.filter(ch => ch.status === 'pass').length
    const failed = checks.filter(ch => ch.status === 'fail').length
    const skipped = checks.length - passed - failed
    out(
        `${p.strong('Integrity')}  ${v.integrity.ok ? p.ok('consistent') : p.error('FAILED')} ${p.dim(`(${passed} passed, ${failed} failed, ${skipped} skipped)`)}`
    )
    const width = Math.max(...checks.map(ch => ch.name.length))
    const mark = (status: string): string =>
        status === 'pass' ? p.ok('ok  ') : status === 'fail' ? p.error('FAIL') : p.dim('skip')
    for (const ch of checks)
        out(
            wrapLine(
                `  ${mark(ch.status)}  ${ch.name.padEnd(width)}  ${ch.status === 'fail' ? p.strong(ch.detail) : p.dim(ch.detail)}`,
                columns,
                2 + 4 + 2 + width + 2
            )
        )
    if (!reveal) {
        out()
        out(
            wrapLine(
                p.dim(
                    'Secrets are redacted; zapo creds show --reveal prints them after a confirmation.'
                ),
                columns,
                2
            )
        )
    }
}
