/**
 * `zapo config`: what a command run here would use, and where each value came from: the store,
 * the session, the test server and its root CA, the client library's log level, and the config
 * file. Resolution is not repeated here: the values and their origins come from the resolvers
 * every command uses (context.ts, store/address.ts, client/logger.ts). Passwords in store URLs
 * are redacted by the store grammar's display form.
 */

import type { Command } from 'commander'
import { handle } from '../cli.js'
import { CONFIG_FILE_NAME, describeOrigin, type Origin } from '../config.js'
import type { CliContext } from '../context.js'
import { printJson, printLine } from '../output.js'
import { palette } from '../ui/color.js'
import { padEnd } from '../ui/format.js'
import { helpFooter, sharedOption } from './options.js'

interface ConfigFlags {
    readonly session?: string
    readonly server?: string
    readonly serverRootCa?: string
    readonly logLevel?: string
}

/** The resolved settings (the `--json` document). */
export interface ConfigView {
    readonly configFile: {
        /** the file read, or null when the default ./zapo.config.json does not exist */
        readonly path: string | null
        readonly from: Origin
    }
    readonly store: {
        /** the address in use, password redacted */
        readonly address: string
        readonly kind: string
        /** the address as given (a bare name such as `postgres`, a relative path), redacted */
        readonly given: string | null
        readonly from: Origin
        /** how a bare backend name became the address (an environment variable, a config entry) */
        readonly via: string | null
        /** domains routed to other backends by the config file: domain → address */
        readonly domains: Readonly<Record<string, string>>
    }
    readonly session: { readonly id: string | null; readonly from: Origin }
    readonly server: {
        /** null: the WhatsApp service */
        readonly url: string | null
        readonly rootCa: string | null
        readonly from: { readonly url: Origin; readonly rootCa: Origin }
    }
    readonly logLevel: { readonly level: string; readonly from: Origin }
}

/** Flags + environment + config file → the settings a command would use, with their origins. */
export async function prepare(flags: ConfigFlags, ctx: CliContext): Promise<ConfigView> {
    const store = ctx.storeSpec()
    const session = ctx.sessionSetting(flags.session)
    const server = ctx.serverSetting(flags)
    const { resolveLogLevel } = await import('../client/logger.js')
    const logLevel = resolveLogLevel(flags.logLevel, ctx.io.debug)
    const domains: Record<string, string> = {}
    for (const [domain, name] of Object.entries(store.domains)) {
        const backend = name === undefined ? undefined : store.backends[name]
        if (backend !== undefined) domains[domain] = backend.display
    }
    return {
        configFile: {
            path: ctx.config.path,
            from: ctx.config.origin ?? { source: 'default' }
        },
        store: {
            address: store.primary.display,
            kind: store.primary.kind,
            given: store.given ?? null,
            from: store.origin ?? { source: 'default' },
            via: store.primary.via ?? null,
            domains
        },
        session: { id: session.value, from: session.origin },
        server: {
            url: server.value?.url ?? null,
            rootCa: server.value?.rootCa ?? null,
            from: { url: server.urlOrigin, rootCa: server.rootCaOrigin }
        },
        logLevel: { level: logLevel.value, from: logLevel.origin }
    }
}

/** Lines for people: each setting, then where it came from. */
export function renderConfig(view: ConfigView, color: boolean): string[] {
    const p = palette(color)
    const rows: [string, string, string][] = []
    rows.push([
        'config file',
        view.configFile.path ?? `none (no ./${CONFIG_FILE_NAME})`,
        describeOrigin(view.configFile.from)
    ])
    const store = view.store
    const storeFrom = [
        describeOrigin(store.from),
        store.given !== null && store.given !== store.address ? ` "${store.given}"` : '',
        store.via !== null ? `, through ${store.via}` : ''
    ].join('')
    rows.push(['store', store.address, storeFrom])
    for (const [domain, address] of Object.entries(store.domains))
        rows.push([`  ${domain}`, address, `${describeOrigin(store.from)}: domains.${domain}`])
    rows.push([
        'session',
        view.session.id ?? 'none (commands that need one ask, or take every session)',
        describeOrigin(view.session.from)
    ])
    if (view.server.url === null) {
        rows.push(['server', 'the WhatsApp service', 'default'])
    } else {
        rows.push(['server', view.server.url, describeOrigin(view.server.from.url)])
        rows.push(['root CA', view.server.rootCa ?? '', describeOrigin(view.server.from.rootCa)])
    }
    rows.push([
        'log level',
        view.logLevel.level === 'silent'
            ? "silent (the client library's own lines are off)"
            : view.logLevel.level,
        describeOrigin(view.logLevel.from)
    ])
    const width = Math.max(...rows.map(([label]) => label.length))
    const indent = ' '.repeat(width + 2)
    return rows.flatMap(([label, value, from]) => [
        `${padEnd(label, width)}  ${value}`,
        `${indent}${p.dim(`from ${from}`)}`
    ])
}

export function register(program: Command): void {
    program
        .command('config')
        .description(
            'show the store, session, server and log level a command would use, and where each comes from'
        )
        .addOption(sharedOption('session'))
        .addOption(sharedOption('server'))
        .addOption(sharedOption('serverRootCa'))
        .addOption(sharedOption('logLevel'))
        .addHelpText(
            'after',
            helpFooter({
                notes: [
                    'Each value comes from the first of: a flag, an environment variable (ZAPO_STORE, ZAPO_SESSION, ZAPO_SERVER, ZAPO_SERVER_ROOT_CA), the config file, the default. Passwords in store URLs are redacted. Nothing is opened or contacted.'
                ],
                exitCodes: ['OK', 'USAGE'],
                examples: [
                    ['zapo config', 'what this directory uses'],
                    ['zapo config --store postgres --json', 'where "postgres" points']
                ]
            })
        )
        .action(
            handle<ConfigFlags>(async (flags, ctx) => {
                const view = await prepare(flags, ctx)
                if (ctx.io.json) {
                    printJson(ctx.io, view)
                    return
                }
                for (const line of renderConfig(view, ctx.io.colorOut)) printLine(ctx.io, line)
            })
        )
}
