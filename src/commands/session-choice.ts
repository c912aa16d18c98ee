/**
 * Which session a command acts on when the command line names none (docs/sessions.md,
 * "Which session a command uses"):
 *
 * - `--session`, then `ZAPO_SESSION`, then the config file's `session` always win;
 * - commands that look at a fleet (logs, check, migrate) then take every session;
 * - commands that act on one session (creds show, export) take the store's only session, offer
 *   a picker on a terminal when there are several, and otherwise fail listing the ids;
 * - commands that unlink or remove (logout, sessions rm) never default.
 */

import { zapoCommand } from '../hints.js'
import type { CliContext } from '../context.js'
import { usageError, ZapoError } from '../errors.js'
import type { StoreSpec } from '../store/address.js'

/** At most this many ids are named in an error message. */
const IDS_IN_MESSAGE = 10

export function listIds(ids: readonly string[]): string {
    const shown = ids.slice(0, IDS_IN_MESSAGE).join(', ')
    return ids.length > IDS_IN_MESSAGE ? `${shown}, … (${ids.length} in all)` : shown
}

/**
 * The one session a command acts on: the one named (flag, ZAPO_SESSION, config file), else the
 * store's only session, else a picker on a terminal, else a usage error naming the ids.
 */
export async function oneSession(
    ctx: CliContext,
    flag: string | undefined,
    store: StoreSpec
): Promise<string> {
    const named = ctx.optionalSessionId(flag)
    if (named !== null) return named
    const { listSessionIds } = await import('../ops/sessions.js')
    const ids = await listSessionIds(store)
    if (ids.length === 0) {
        throw new ZapoError(
            'SESSION_NOT_FOUND',
            `no session in ${store.label}: pair one (${zapoCommand('pair', '--session', 'ID')}) or pass --store`,
            { store: store.label }
        )
    }
    if (ids.length === 1) return ids[0]!
    const { canPrompt, select } = await import('../ui/prompts.js')
    if (!canPrompt(ctx.io)) {
        throw usageError(
            `${ids.length} sessions in ${store.label}: pass --session ID (${listIds(ids)})`,
            { sessions: ids }
        )
    }
    return select({
        message: `Which session of ${store.label}?`,
        choices: ids.map(id => ({ value: id, label: id }))
    })
}
