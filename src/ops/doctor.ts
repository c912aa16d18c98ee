/**
 * `zapo doctor`: is this machine able to run zapo, and is the store usable?
 *
 * The checks are data: a list of `{ name, run }` run in order by
 * `runChecks`. Versions are read from package.json files on disk rather than
 * by importing the packages; the only modules loaded are the ones whose
 * loading is the check (better-sqlite3's native binding, `ws`, and zapo-js
 * itself to see which functions it really exports).
 *
 * The zapo-js / store-package mismatch is found, not assumed: each store
 * package's CommonJS build is scanned for the names it takes from `zapo-js`
 * and `zapo-js/…` subpaths, and those names are looked up on the installed
 * zapo-js at run time.
 */

import { zapoCommand } from '../hints.js'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { basename, dirname, join } from 'node:path'
import { errorLine, EXIT_CODES, isZapoError, type ZapoErrorCode } from '../errors.js'
import type { BackendKind, StoreSpec } from '../store/address.js'
import { allBackends, backendAdapter } from '../store/backends/registry.js'

/**
 * ok: fine. info: a fact worth knowing that needs no action: a problem zapo works around (the
 * zapo-js 0.3 / store 1.x mismatch), a store not created yet. warn: something the user should act
 * on; neither info nor warn changes the exit code. fail: broken; drives the exit code.
 */
export type DoctorStatus = 'ok' | 'info' | 'warn' | 'fail'

export interface DoctorResult {
    readonly name: string
    readonly status: DoctorStatus
    /** one line for people */
    readonly detail: string
    /** for a failed check: the error code it stands for (drives the exit code) */
    readonly code?: ZapoErrorCode
    /** machine-readable facts behind the detail (versions, ranges, counts) */
    readonly data?: Readonly<Record<string, unknown>>
}

export interface DoctorCheck<S> {
    readonly name: string
    /** null: not applicable (e.g. a store check after the store could not be opened) */
    run(state: S): Promise<Omit<DoctorResult, 'name'> | null>
}

/** Runs checks in order; a check that throws is a failure, never a crash of the whole run. */
async function runChecks<S>(
    checks: readonly DoctorCheck<S>[],
    state: S,
    onResult?: (result: DoctorResult) => void
): Promise<readonly DoctorResult[]> {
    const results: DoctorResult[] = []
    for (const check of checks) {
        let outcome: Omit<DoctorResult, 'name'> | null
        try {
            outcome = await check.run(state)
        } catch (error) {
            outcome = isZapoError(error)
                ? { status: 'fail', detail: error.message, code: error.code }
                : {
                      status: 'fail',
                      detail: `check crashed: ${errorLine(error)}`,
                      code: 'CHECK_FAILED'
                  }
        }
        if (outcome === null) continue
        const result = { name: check.name, ...outcome }
        results.push(result)
        onResult?.(result)
    }
    return results
}

export interface DoctorOptions {
    /** the store to check, or null to check the machine only */
    readonly store: StoreSpec | null
}

export interface DoctorReport {
    readonly ok: boolean
    /** the process exit code this report stands for */
    readonly exitCode: number
    readonly store: string | null
    readonly checks: readonly DoctorResult[]
    readonly summary: {
        readonly ok: number
        readonly info: number
        readonly warn: number
        readonly fail: number
    }
}

interface DoctorState {
    readonly options: DoctorOptions
    zapoJsVersion: string | null
    opened: import('../store/open.js').OpenedStore | null
    catalog: import('../store/records.types.js').SessionCatalog | null
}

export async function runDoctor(
    options: DoctorOptions,
    onResult?: (result: DoctorResult) => void
): Promise<DoctorReport> {
    const state: DoctorState = { options, zapoJsVersion: null, opened: null, catalog: null }
    let checks: readonly DoctorResult[]
    try {
        checks = await runChecks(doctorChecks(options), state, onResult)
    } finally {
        await state.opened?.close()
    }
    const summary = {
        ok: checks.filter(c => c.status === 'ok').length,
        info: checks.filter(c => c.status === 'info').length,
        warn: checks.filter(c => c.status === 'warn').length,
        fail: checks.filter(c => c.status === 'fail').length
    }
    return {
        ok: summary.fail === 0,
        exitCode: exitCodeFor(checks),
        store: options.store?.label ?? null,
        checks,
        summary
    }
}

/**
 * The exit code of a doctor run: 0 when nothing failed. Otherwise the store's
 * own codes win (STORE_UNAVAILABLE, SESSION_NOT_FOUND for a missing file, …)
 * because they are the most specific; a broken installation is CHECK_FAILED.
 */
function exitCodeFor(checks: readonly DoctorResult[]): number {
    const failed = checks.filter(c => c.status === 'fail')
    if (failed.length === 0) return EXIT_CODES.OK
    const store = failed.find(c => c.name.startsWith('store:') && c.code !== undefined)
    return EXIT_CODES[(store ?? failed[0])!.code ?? 'CHECK_FAILED']
}

// ---------------------------------------------------------------------------------------------
// the checks

/** The store package and driver of every backend (store/backends/registry.ts). */
const STORE_PACKAGES = Object.freeze(
    allBackends()
        .filter(b => b.readOnly === undefined)
        .map(b => ({ name: b.packageName, driver: b.driver, kind: b.kind }))
)

/**
 * What a missing zapo-js export breaks, by the store-package file that calls it, and whether zapo
 * works around it (then it is an info line, not a warning: the user has nothing to do).
 */
const AFFECTED_PATHS: Readonly<
    Record<string, { readonly effect: string; readonly workedAround: boolean }>
> = Object.freeze({
    'contact.store.js': {
        effect: 'contact lookups that miss by jid throw (zapo supplies a stand-in when it loads a store package, so zapo itself is not affected)',
        workedAround: true
    },
    'device-list.store.js': {
        effect: 'device-list cache reads throw (zapo keeps caches in memory, so zapo itself is not affected)',
        workedAround: true
    },
    // backends/shared.ts puts a stand-in on zapo-js/util's exports before loading a store package
    'appstate.store.js': {
        effect: 'app-state MAC comparison would throw on rewriting a collection state (zapo supplies a stand-in when it loads a store package, so zapo itself is not affected)',
        workedAround: true
    }
})

function doctorChecks(options: DoctorOptions): readonly DoctorCheck<DoctorState>[] {
    const checks: DoctorCheck<DoctorState>[] = [
        { name: 'node', run: async () => checkNode() },
        { name: 'zapo-js', run: async state => checkZapoJs(state) },
        ...STORE_PACKAGES.map(pkg => ({
            name: pkg.name,
            run: async (state: DoctorState) => checkStorePackage(pkg.name, state)
        })),
        { name: 'zapo-js-api', run: async () => checkZapoJsApi() },
        ...STORE_PACKAGES.map(pkg => ({
            name: `driver:${pkg.driver}`,
            run: async () => checkDriver(pkg.driver, pkg.name, pkg.kind)
        })),
        { name: 'websocket', run: async () => checkWebSocket() }
    ]
    if (options.store !== null) {
        checks.push(
            { name: 'store:reachable', run: async state => checkStoreReachable(state) },
            { name: 'store:schema', run: async state => checkStoreSchema(state) },
            { name: 'store:sessions', run: async state => checkStoreSessions(state) }
        )
    }
    return checks
}

const requireHere = createRequire(import.meta.url)

/** The part of the `semver` package doctor uses (it ships no types). */
interface Semver {
    satisfies(
        version: string,
        range: string,
        options?: { readonly includePrerelease?: boolean }
    ): boolean
}

async function semver(): Promise<Semver> {
    return requireHere('semver') as Semver
}

interface InstalledPackage {
    readonly name: string
    readonly version: string
    readonly dir: string
    readonly json: Readonly<Record<string, unknown>>
}

/** Finds a package's package.json on disk the way Node looks up node_modules, ignoring "exports". */
export function readInstalledPackage(name: string): InstalledPackage | null {
    for (const base of requireHere.resolve.paths(name) ?? []) {
        const file = join(base, name, 'package.json')
        if (!existsSync(file)) continue
        try {
            const json = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>
            if (json.name !== name) continue
            return { name, version: String(json.version ?? '0.0.0'), dir: dirname(file), json }
        } catch {
            continue
        }
    }
    return null
}

function ownPackage(): Readonly<Record<string, unknown>> {
    return JSON.parse(
        readFileSync(new URL('../../package.json', import.meta.url), 'utf8')
    ) as Record<string, unknown>
}

async function checkNode(): Promise<Omit<DoctorResult, 'name'>> {
    const sv = await semver()
    const version = process.versions.node
    const required = ((ownPackage().engines as Record<string, string> | undefined)?.node ??
        '>=20.11') as string
    const zapoJs = readInstalledPackage('zapo-js')
    const zapoJsRange = (zapoJs?.json.engines as Record<string, string> | undefined)?.node ?? null
    const ours = sv.satisfies(version, required)
    const theirs = zapoJsRange === null || sv.satisfies(version, zapoJsRange)
    const data = { version, required, zapoJsRequires: zapoJsRange }
    if (ours && theirs)
        return { status: 'ok', detail: `${version} (zapo requires ${required})`, data }
    const needs = [
        !ours ? `zapo requires ${required}` : null,
        !theirs ? `zapo-js requires ${zapoJsRange}` : null
    ].filter(Boolean)
    return {
        status: 'fail',
        detail: `${version} is too old: ${needs.join(', ')}; install a newer Node`,
        code: 'CHECK_FAILED',
        data
    }
}

async function checkZapoJs(state: DoctorState): Promise<Omit<DoctorResult, 'name'>> {
    const pkg = readInstalledPackage('zapo-js')
    if (pkg === null)
        return {
            status: 'fail',
            detail: 'zapo-js is not installed; run npm ci in the zapo directory',
            code: 'CHECK_FAILED'
        }
    state.zapoJsVersion = pkg.version
    const declared =
        (ownPackage().dependencies as Record<string, string> | undefined)?.['zapo-js'] ?? null
    return {
        status: 'ok',
        detail: `${pkg.version}${declared ? ` (zapo declares ${declared})` : ''}`,
        data: { version: pkg.version, declared }
    }
}

async function checkStorePackage(
    name: string,
    state: DoctorState
): Promise<Omit<DoctorResult, 'name'>> {
    const pkg = readInstalledPackage(name)
    if (pkg === null)
        return {
            status: 'fail',
            detail: `${name} is not installed; run npm ci in the zapo directory`,
            code: 'CHECK_FAILED'
        }
    const peers = (pkg.json.peerDependencies ?? {}) as Record<string, string>
    const range = peers['zapo-js'] ?? null
    const installed = state.zapoJsVersion
    const data = {
        version: pkg.version,
        peerDependencies: peers,
        zapoJs: installed,
        satisfied: null as boolean | null
    }
    if (range === null || installed === null) {
        return {
            status: 'ok',
            detail: `${pkg.version}${range ? ` (peer zapo-js ${range})` : ''}`,
            data
        }
    }
    const satisfied = (await semver()).satisfies(installed, range)
    data.satisfied = satisfied
    if (satisfied)
        return {
            status: 'ok',
            detail: `${pkg.version}, peer zapo-js ${range}: satisfied by ${installed}`,
            data
        }
    // zapo installs the store packages with npm overrides and covers what they call that zapo-js
    // lacks; zapo-js-api warns when something it does not cover is missing
    return {
        status: 'info',
        detail: `${pkg.version} declares peer zapo-js ${range}, installed zapo-js ${installed} does not satisfy it (npm overrides force it; zapo-js-api says what that breaks)`,
        data
    }
}

interface MissingImport {
    readonly package: string
    readonly module: string
    readonly name: string
    readonly usedIn: readonly string[]
}

/**
 * Which names each store package takes from zapo-js (scanned from its
 * CommonJS build) are not exported by the installed zapo-js.
 */
async function checkZapoJsApi(): Promise<Omit<DoctorResult, 'name'>> {
    const exportsCache = new Map<string, ReadonlySet<string> | null>()
    const exportsOf = (module: string): ReadonlySet<string> | null => {
        if (!exportsCache.has(module)) {
            try {
                exportsCache.set(module, new Set(Object.keys(requireHere(module) as object)))
            } catch {
                exportsCache.set(module, null)
            }
        }
        return exportsCache.get(module) ?? null
    }
    const missing: MissingImport[] = []
    let scanned = 0
    for (const { name } of STORE_PACKAGES) {
        const pkg = readInstalledPackage(name)
        if (pkg === null) continue
        const files = listCjsFiles(pkg)
        if (files.length === 0) continue
        scanned += 1
        const sources = files.map(file => ({ file, text: readFileSync(file, 'utf8') }))
        const wanted = new Map<string, Set<string>>() // module → names
        for (const { text } of sources) {
            for (const match of text.matchAll(
                /(?:const|var|let)\s+([A-Za-z_$][\w$]*)\s*=\s*require\("(zapo-js(?:\/[\w-]+)?)"\)/g
            )) {
                const [, variable, module] = match as unknown as [string, string, string]
                for (const use of text.matchAll(
                    new RegExp(`\\b${escapeRegExp(variable)}\\.([A-Za-z_$][\\w$]*)`, 'g')
                )) {
                    const names = wanted.get(module) ?? new Set<string>()
                    names.add(use[1]!)
                    wanted.set(module, names)
                }
            }
        }
        for (const [module, names] of wanted) {
            const available = exportsOf(module)
            for (const exported of names) {
                if (available !== null && available.has(exported)) continue
                // a compiled import alias (`util_1.name`, `helpers_1.name`), not a re-export line
                const use = new RegExp(`_\\d+\\.${escapeRegExp(exported)}\\b`)
                const usedIn = sources
                    .filter(s =>
                        s.text
                            .split('\n')
                            .some(
                                line => use.test(line) && !line.includes('defineProperty(exports')
                            )
                    )
                    .map(s => basename(s.file))
                missing.push({ package: name, module, name: exported, usedIn })
            }
        }
    }
    if (scanned === 0)
        return { status: 'warn', detail: 'no store package build found to compare with zapo-js' }
    const version = readInstalledPackage('zapo-js')?.version ?? '?'
    if (missing.length === 0) {
        return {
            status: 'ok',
            detail: `every name the store packages take from zapo-js is exported by zapo-js ${version}`,
            data: { missing }
        }
    }
    const byName = new Map<string, { module: string; packages: Set<string>; usedIn: Set<string> }>()
    for (const m of missing) {
        const entry = byName.get(m.name) ?? {
            module: m.module,
            packages: new Set<string>(),
            usedIn: new Set<string>()
        }
        entry.packages.add(m.package.replace('@zapo-js/', ''))
        for (const file of m.usedIn) entry.usedIn.add(file)
        byName.set(m.name, entry)
    }
    let unhandled = 0
    const parts = [...byName].map(([exported, entry]) => {
        const effects = [...entry.usedIn].map(file => {
            const known = AFFECTED_PATHS[file]
            if (known?.workedAround !== true) unhandled += 1
            return known?.effect ?? `calls in ${file} throw`
        })
        const users =
            entry.packages.size === STORE_PACKAGES.length
                ? 'every store package'
                : [...entry.packages].join(', ')
        return `${entry.module} ${exported} (${users}): ${effects.join('; ') || 'not called directly'}`
    })
    return {
        status: unhandled > 0 ? 'warn' : 'info',
        detail: `zapo-js ${version} lacks ${byName.size} export${byName.size === 1 ? '' : 's'} the store packages call:\n${parts.map(p => `- ${p}`).join('\n')}`,
        data: { zapoJs: version, missing }
    }
}

function listCjsFiles(pkg: InstalledPackage): readonly string[] {
    const main = typeof pkg.json.main === 'string' ? pkg.json.main : 'dist/index.js'
    const dir = join(pkg.dir, dirname(main))
    try {
        return readdirSync(dir)
            .filter(f => f.endsWith('.js'))
            .map(f => join(dir, f))
    } catch {
        return []
    }
}

async function checkDriver(
    driver: string,
    storePackage: string,
    kind: BackendKind
): Promise<Omit<DoctorResult, 'name'>> {
    const pkg = readInstalledPackage(driver)
    if (pkg === null) {
        return {
            status: 'fail',
            detail: `${driver} is not installed (${storePackage} needs it); run npm ci in the zapo directory`,
            code: 'CHECK_FAILED'
        }
    }
    const range =
        (
            (readInstalledPackage(storePackage)?.json.peerDependencies ?? {}) as Record<
                string,
                string
            >
        )[driver] ?? null
    const data = { version: pkg.version, requiredBy: storePackage, range }
    let loaded: string
    try {
        loaded = (await backendAdapter(kind).probeDriver()).detail
    } catch (error) {
        return {
            status: 'fail',
            detail: `${driver} ${pkg.version} is installed but does not load (${errorLine(error)}); run npm rebuild ${driver}`,
            code: 'CHECK_FAILED',
            data
        }
    }
    if (range !== null && !(await semver()).satisfies(pkg.version, range)) {
        return {
            status: 'warn',
            detail: `${pkg.version}, but ${storePackage} asks for ${range}`,
            data
        }
    }
    return {
        status: 'ok',
        detail: `${pkg.version}${loaded}${range ? ` (${storePackage} asks for ${range})` : ''}`,
        data
    }
}

async function checkWebSocket(): Promise<Omit<DoctorResult, 'name'>> {
    const ws = readInstalledPackage('ws')
    const hasGlobal = typeof (globalThis as { WebSocket?: unknown }).WebSocket === 'function'
    if (ws !== null) {
        try {
            requireHere('ws')
            return {
                status: 'ok',
                detail: `ws ${ws.version} (zapo hands it to the client${hasGlobal ? '; a global WebSocket exists too' : '; Node has no global WebSocket'})`,
                data: { global: hasGlobal, ws: ws.version }
            }
        } catch (error) {
            if (hasGlobal)
                return {
                    status: 'warn',
                    detail: `ws does not load (${errorLine(error)}); the global WebSocket will be used`,
                    data: { global: true, ws: null }
                }
        }
    }
    if (hasGlobal)
        return { status: 'ok', detail: 'global WebSocket', data: { global: true, ws: null } }
    return {
        status: 'fail',
        detail: 'no WebSocket: Node has no global one and the ws package is missing; run npm ci in the zapo directory',
        code: 'CHECK_FAILED',
        data: { global: false, ws: null }
    }
}

async function checkStoreReachable(state: DoctorState): Promise<Omit<DoctorResult, 'name'>> {
    const spec = state.options.store!
    const { openStore, storeExists } = await import('../store/open.js')
    try {
        state.opened = await openStore(spec, 'read')
    } catch (error) {
        if (
            isZapoError(error) &&
            error.code === 'SESSION_NOT_FOUND' &&
            spec.primary.source === 'default' &&
            storeExists(spec) === false
        ) {
            return {
                status: 'info',
                detail: `no store yet at ${spec.primary.target} (zapo pair creates it)`,
                data: { store: spec.label, exists: false }
            }
        }
        throw error
    }
    const { catalogForStore } = await import('../store/catalog.js')
    state.catalog = catalogForStore(state.opened)
    return {
        status: 'ok',
        detail: `${spec.label} (${spec.primary.kind})`,
        data: { store: spec.label, kind: spec.primary.kind }
    }
}

async function checkStoreSchema(state: DoctorState): Promise<Omit<DoctorResult, 'name'> | null> {
    if (state.catalog === null) return null
    const { state: schema, detail } = await state.catalog.schemaState()
    const data = { state: schema, detail }
    switch (schema) {
        case 'ready':
            return { status: 'ok', detail: `ready: ${detail}`, data }
        case 'missing':
            if (state.opened !== null && (await state.opened.primary.foreignObjects()) > 0) {
                return {
                    status: 'fail',
                    detail: `not a zapo store: it holds tables, none of them zapo's; point --store at the SQLite file zapo pair wrote`,
                    code: 'STORE_UNAVAILABLE',
                    data
                }
            }
            return {
                status: 'info',
                detail: `no zapo schema yet: ${detail} (the first write, e.g. zapo pair, creates it)`,
                data
            }
        case 'partial':
            // the store packages create a domain's tables on its first use: a session that never
            // received a message has no Signal-session tables yet, and that is normal
            return { status: 'ok', detail: `${detail} (created on first use)`, data }
    }
}

async function checkStoreSessions(state: DoctorState): Promise<Omit<DoctorResult, 'name'> | null> {
    if (state.catalog === null) return null
    const ids = await state.catalog.listSessionIds()
    if (ids.length === 0)
        return {
            status: 'info',
            detail: `no sessions yet (${zapoCommand('pair', '--session', 'ID')} adds one)`,
            data: { sessions: 0 }
        }
    const detail = `${ids.length} session${ids.length === 1 ? '' : 's'}`
    const { ambiguousSessionIds } = await import('../store/session-ids.js')
    const ambiguous = state.opened === null ? [] : await ambiguousSessionIds(state.opened)
    if (ambiguous.length > 0) {
        return {
            status: 'warn',
            detail: `${detail}; ${ambiguous.length} with ambiguous keys: ${ambiguous
                .slice(0, 3)
                .map(a => `"${a.sessionId}" (${a.reason})`)
                .join('; ')}${ambiguous.length > 3 ? '; …' : ''}`,
            data: { sessions: ids.length, ambiguous: ambiguous.map(a => a.sessionId) }
        }
    }
    return { status: 'ok', detail, data: { sessions: ids.length } }
}

function escapeRegExp(value: string): string {
    return value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
