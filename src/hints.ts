/**
 * Suggested commands ("Next: zapo creds show --session demo", "run zapo logout --session x
 * again") that work when pasted: each carries the flags of this run that decide where it acts —
 * `--store` and `--config`, and for the commands that connect, `--server` and
 * `--server-root-ca` — with every shell-unsafe word quoted. Settings from the environment or
 * the config file need nothing: a pasted command finds them the same way.
 *
 * The flags are recorded once per run (context.ts), so a message built anywhere (ops, client,
 * store) carries them; without a recorded run (the programmatic API) a hint is the bare command.
 * A password in a store URL is never printed: the hint shows it as `***`.
 */

import { redactUrl } from './output.js'

export interface HintFlags {
    readonly store?: string
    readonly config?: string
    readonly server?: string
    readonly serverRootCa?: string
}

let recorded: HintFlags = {}

/** Records the flags of this run that a pasted command needs (context.ts, once per command). */
export function recordHintFlags(flags: HintFlags): void {
    recorded = { ...flags }
}

/**
 * The commands that take `--server` / `--server-root-ca` (check only with `--connect`): a hint
 * for any other command must not carry them (test/foundation/hints.test.js compares this with
 * the program's own definitions).
 */
export const SERVER_COMMANDS: ReadonlySet<string> = new Set([
    'pair',
    'logs',
    'check',
    'logout',
    'config'
])

/** Commands that name their stores with their own flags (`--from`, `--to`), never `--store`. */
const OWN_STORE_FLAGS: ReadonlySet<string> = new Set(['migrate', 'sandbox'])

/** Characters a POSIX shell takes literally in an unquoted word. */
const SAFE_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/

/**
 * A word a POSIX shell reads back as it is: bare when safe, else in single quotes (embedded
 * quotes escaped); `always` quotes even a safe word (a value pasted after `NAME=`, which reads
 * the same either way, looks like one value). The one shell-quoting helper.
 */
export function shellQuote(word: string, options: { readonly always?: boolean } = {}): string {
    if (options.always !== true && word !== '' && SAFE_WORD.test(word)) return word
    return `'${word.replace(/'/g, `'\\''`)}'`
}

/**
 * `zapo <words…>` plus the recorded flags the command needs, each word quoted for a shell.
 * Words that already name a store (`--store`, `--from`) or a server keep theirs.
 */
export function zapoCommand(...words: readonly string[]): string {
    const command = words[0] ?? ''
    const out = [...words]
    const has = (flag: string): boolean => words.includes(flag)
    if (recorded.config !== undefined && !has('--config')) out.push('--config', recorded.config)
    if (recorded.store !== undefined && !has('--store') && !OWN_STORE_FLAGS.has(command))
        out.push('--store', redactUrl(recorded.store))
    const connects = SERVER_COMMANDS.has(command) && (command !== 'check' || has('--connect'))
    if (connects && !has('--server')) {
        if (recorded.server !== undefined) out.push('--server', recorded.server)
        if (recorded.serverRootCa !== undefined) out.push('--server-root-ca', recorded.serverRootCa)
    }
    return ['zapo', ...out.map(word => shellQuote(word))].join(' ')
}
