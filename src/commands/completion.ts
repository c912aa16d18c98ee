/**
 * `zapo completion bash|zsh|fish`: a completion script on stdout, generated from the commander
 * program itself (commands, subcommands, aliases, each command's flags and what their values
 * are), so it never drifts from the real command line. Session ids come from the configured
 * store at completion time through the hidden `zapo __complete sessions`, which prints ids one
 * per line, never prompts, and prints nothing (exit 0) when the store cannot be read.
 */

import type { Argument, Command, Option } from 'commander'
import { handle } from '../cli.js'
import type { CliContext } from '../context.js'
import { usageError } from '../errors.js'
import { helpFooter } from './options.js'

export const SHELLS = Object.freeze(['bash', 'zsh', 'fish'] as const)
export type Shell = (typeof SHELLS)[number]

/** How the value after a flag (or a positional argument) is completed. */
export type ValueKind =
    | { readonly kind: 'session' }
    | { readonly kind: 'file' }
    | { readonly kind: 'store' }
    | { readonly kind: 'choices'; readonly choices: readonly string[] }
    | { readonly kind: 'other' }

export interface CompletionOption {
    /** every spelling: `-s`, `--session` */
    readonly names: readonly string[]
    readonly description: string
    /** null: a switch that takes no value */
    readonly value: ValueKind | null
}

export interface CompletionNode {
    /** the canonical command path, '' for the program itself ('sessions list') */
    readonly path: string
    readonly description: string
    readonly aliases: readonly string[]
    readonly subcommands: readonly string[]
    /** the command's own options (the global ones are listed once, on the root) */
    readonly options: readonly CompletionOption[]
    /** what each positional argument is */
    readonly args: readonly ValueKind[]
}

/** The completion model: one node per visible command, read from the commander definition. */
export function completionModel(
    program: Command,
    logLevels: readonly string[] = []
): readonly CompletionNode[] {
    const nodes: CompletionNode[] = []
    const walk = (command: Command, path: string): void => {
        const visible = command.commands.filter(c => !(c as { _hidden?: boolean })._hidden)
        const options = command.options
            .filter(o => !o.hidden)
            .map(o => completionOption(o, logLevels))
        if (path === '') {
            options.push({ names: ['-h', '--help'], description: 'display help', value: null })
        }
        nodes.push({
            path,
            description: command.description(),
            aliases: command.aliases(),
            subcommands: visible.map(c => c.name()),
            options,
            args: command.registeredArguments.map(argumentKind)
        })
        for (const sub of visible) walk(sub, path === '' ? sub.name() : `${path} ${sub.name()}`)
    }
    walk(program, '')
    return nodes
}

function completionOption(option: Option, logLevels: readonly string[]): CompletionOption {
    const names = [option.short, option.long].filter((n): n is string => typeof n === 'string')
    const takesValue = option.required || option.optional
    return {
        names,
        description: option.description,
        value: takesValue ? valueKind(option, logLevels) : null
    }
}

/** The placeholder says what a value is: `<id>` a session, `<file>`/`<path>` a file, … */
function valueKind(option: Option, logLevels: readonly string[]): ValueKind {
    if (option.argChoices && option.argChoices.length > 0)
        return { kind: 'choices', choices: option.argChoices }
    const placeholder = /<([^>]+)>/.exec(option.flags)?.[1] ?? ''
    return placeholderKind(placeholder, logLevels)
}

function argumentKind(argument: Argument): ValueKind {
    if (argument.argChoices && argument.argChoices.length > 0)
        return { kind: 'choices', choices: argument.argChoices }
    return placeholderKind(argument.name(), [])
}

function placeholderKind(placeholder: string, logLevels: readonly string[]): ValueKind {
    switch (placeholder) {
        case 'id':
            return { kind: 'session' }
        case 'file':
        case 'path':
            return { kind: 'file' }
        case 'address':
        case 'store':
            return { kind: 'store' }
        case 'level':
            return logLevels.length > 0
                ? { kind: 'choices', choices: logLevels }
                : { kind: 'other' }
        default:
            return { kind: 'other' }
    }
}

/** The bare backend names a store flag offers before file names. */
const STORE_NAMES = 'sqlite postgres mysql redis mongo'

/**
 * Flags whose value names the store the session ids are read from ("path|flag", '*' any path), and
 * the flag `zapo __complete sessions` gets it as: migrate's sessions are those of its --from.
 */
const STORE_FLAGS: readonly (readonly [string, string])[] = Object.freeze([
    ['*|--store', '--store'],
    ['*|--config', '--config'],
    ['migrate|--from', '--store']
])

/** The `case "$cmdpath|$expect" in` arms that collect the store flags on the line. */
function storeFlagArms(indent: string, shell: 'bash' | 'zsh' | 'fish'): string {
    const pattern = (key: string): string =>
        key.startsWith('*') ? `*${sq(key.slice(1))}` : sq(key)
    if (shell === 'fish')
        return STORE_FLAGS.map(
            ([key, as]) => `${indent}case ${sq(key)}\n${indent}    set -a store_args ${as} $w`
        ).join('\n')
    return STORE_FLAGS.map(
        ([key, as]) => `${indent}${pattern(key)}) store_args+=(${as} "$w") ;;`
    ).join('\n')
}

/** A shell word in single quotes (for values baked into the generated scripts). */
function sq(text: string): string {
    return `'${text.replace(/'/g, `'\\''`)}'`
}

interface Tables {
    readonly subs: readonly (readonly [string, readonly string[]])[]
    /** "path|alias" → canonical path */
    readonly aliases: readonly (readonly [string, string])[]
    readonly opts: readonly (readonly [string, readonly string[]])[]
    /** "path|flag" (path '*' for global flags) → value kind word */
    readonly values: readonly (readonly [string, string])[]
    /** path → kind word of its first positional argument */
    readonly args: readonly (readonly [string, string])[]
}

function kindWord(kind: ValueKind): string {
    return kind.kind === 'choices' ? `choices:${kind.choices.join(' ')}` : kind.kind
}

function tables(nodes: readonly CompletionNode[]): Tables {
    const byPath = new Map(nodes.map(n => [n.path, n]))
    const subs: [string, string[]][] = []
    const aliases: [string, string][] = []
    const opts: [string, string[]][] = []
    const values: [string, string][] = []
    const args: [string, string][] = []
    const root = byPath.get('')!
    for (const node of nodes) {
        if (node.subcommands.length > 0) subs.push([node.path, [...node.subcommands]])
        for (const sub of node.subcommands) {
            const child = byPath.get(node.path === '' ? sub : `${node.path} ${sub}`)!
            for (const alias of child.aliases) aliases.push([`${node.path}|${alias}`, child.path])
        }
        const own = node.path === '' ? [] : node.options
        // the global options count everywhere (commander reads them after a subcommand too),
        // --version only before one
        const globals =
            node.path === ''
                ? root.options
                : root.options.filter(o => !o.names.includes('--version'))
        opts.push([node.path, [...own, ...globals].flatMap(o => o.names)])
        for (const option of own) {
            if (option.value === null) continue
            for (const name of option.names)
                values.push([`${node.path}|${name}`, kindWord(option.value)])
        }
        const first = node.args[0]
        if (first !== undefined) args.push([node.path, kindWord(first)])
    }
    for (const option of root.options) {
        if (option.value === null) continue
        for (const name of option.names) values.push([`*|${name}`, kindWord(option.value)])
    }
    return { subs, aliases, opts, values, args }
}

/** The lookup functions both bash and zsh scripts use (plain `case`, valid in both shells). */
function caseFunctions(t: Tables): string {
    const fn = (
        name: string,
        subject: string,
        rows: readonly (readonly [string, string])[],
        fallback: string
    ): string =>
        [
            `${name}() {`,
            `    case ${subject} in`,
            ...rows.map(
                ([key, out]) =>
                    `        ${key.startsWith('*') ? `*${sq(key.slice(1))}` : sq(key)}) echo ${sq(out)} ;;`
            ),
            `        *) ${fallback} ;;`,
            '    esac',
            '}'
        ].join('\n')
    return [
        fn(
            '_zapo_subs',
            '"$1"',
            t.subs.map(([p, s]) => [p, s.join(' ')]),
            'return 0'
        ),
        fn('_zapo_alias', '"$1|$2"', t.aliases, 'echo "${1:+$1 }$2"'),
        fn(
            '_zapo_opts',
            '"$1"',
            t.opts.map(([p, o]) => [p, o.join(' ')]),
            'return 0'
        ),
        fn('_zapo_value', '"$1|$2"', t.values, 'return 0'),
        fn('_zapo_args', '"$1"', t.args, 'return 0')
    ].join('\n\n')
}

/**
 * One word of the command line, in the loop both bash and zsh scripts run over the words before
 * the cursor: a store flag's value is kept (session ids are read from that store), a flag that
 * takes a value makes the next word its value, a word naming a subcommand moves down the tree.
 */
function wordStep(shell: 'bash' | 'zsh'): string {
    const storeFlagCases = storeFlagArms('                ', shell)
    return `        if [[ -n "$expect" ]]; then
            case "$cmdpath|$expect" in
${storeFlagCases}
            esac
            expect=""
        elif [[ "$w" == -* ]]; then
            [[ "$w" == *=* ]] && continue
            [[ -n "$(_zapo_value "$cmdpath" "$w")" ]] && expect="$w"
        else
            subs=" $(_zapo_subs "$cmdpath") "
            candidate="$(_zapo_alias "$cmdpath" "$w")"
            if [[ "$subs" == *" \${candidate##* } "* ]]; then cmdpath="$candidate"; fi
        fi`
}

export function bashScript(nodes: readonly CompletionNode[]): string {
    const shell = 'bash'
    return `# zapo completion for bash (generated by \`zapo completion bash\`; regenerate after an upgrade)
# load it now:      eval "$(zapo completion bash)"
# or for good:      zapo completion bash > ~/.local/share/bash-completion/completions/zapo

${caseFunctions(tables(nodes))}

# the session ids of the store named on the line (or the configured one); nothing when unreadable
_zapo_sessions() {
    "$1" __complete sessions "\${@:2}" 2>/dev/null </dev/null
}

_zapo_complete() {
    local line="\${COMP_LINE:0:COMP_POINT}"
    local -a words
    local IFS=$' \\t\\n'
    read -ra words <<< "$line"
    local cur=""
    local last=$((\${#words[@]} - 1))
    if [[ -n "$line" && ! "$line" =~ [[:space:]]$ ]]; then
        cur="\${words[last]}"
        unset "words[$last]"
    fi
    local bin="\${words[0]/#\\~/$HOME}"
    local cmdpath="" expect="" w i candidate subs
    local -a store_args=()
    for ((i = 1; i < \${#words[@]}; i++)); do
        w="\${words[i]}"
${wordStep(shell)}
    done
    COMPREPLY=()
    local kind=""
    if [[ -n "$expect" ]]; then
        kind="$(_zapo_value "$cmdpath" "$expect")"
    elif [[ "$cur" == -* ]]; then
        COMPREPLY=($(compgen -W "$(_zapo_opts "$cmdpath")" -- "$cur"))
    else
        subs="$(_zapo_subs "$cmdpath")"
        if [[ -n "$subs" ]]; then
            COMPREPLY=($(compgen -W "$subs" -- "$cur"))
        else
            kind="$(_zapo_args "$cmdpath")"
        fi
    fi
    case "$kind" in
        session) COMPREPLY=($(compgen -W "$(_zapo_sessions "$bin" "\${store_args[@]}")" -- "$cur")) ;;
        file) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur")) ;;
        store) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -W "${STORE_NAMES}" -- "$cur") $(compgen -f -- "$cur")) ;;
        choices:*) COMPREPLY=($(compgen -W "\${kind#choices:}" -- "$cur")) ;;
    esac
    # bash splits words at ':' (session ids, store URLs): complete only the part after it
    if [[ "$cur" == *:* && "$COMP_WORDBREAKS" == *:* ]]; then
        local prefix="\${cur%"\${cur##*:}"}" k
        for k in "\${!COMPREPLY[@]}"; do COMPREPLY[k]="\${COMPREPLY[k]#"$prefix"}"; done
    fi
    return 0
}

complete -F _zapo_complete zapo
`
}

export function zshScript(nodes: readonly CompletionNode[]): string {
    const byPath = new Map(nodes.map(n => [n.path, n]))
    const describeRows = nodes
        .filter(n => n.subcommands.length > 0)
        .map(n => {
            const lines = n.subcommands.map(sub => {
                const child = byPath.get(n.path === '' ? sub : `${n.path} ${sub}`)!
                return `${sub.replace(/:/g, '\\:')}:${child.description.split('\n')[0] ?? ''}`
            })
            return `        ${sq(n.path)}) lines=(${lines.map(sq).join(' ')}) ;;`
        })
        .join('\n')
    const shell = 'zsh'
    return `#compdef zapo
# zapo completion for zsh (generated by \`zapo completion zsh\`; regenerate after an upgrade)
# load it now:      source <(zapo completion zsh)
# or for good:      zapo completion zsh > "\${fpath[1]}/_zapo"   (then restart zsh)

${caseFunctions(tables(nodes))}

_zapo_describe_subs() {
    local -a lines
    case "$1" in
${describeRows}
    esac
    _describe -t commands 'zapo command' lines
}

_zapo() {
    local cur="\${words[CURRENT]}" bin="\${words[1]/#\\~/$HOME}"
    local cmdpath="" expect="" w candidate subs kind=""
    local -a store_args
    for w in "\${(@)words[2,CURRENT-1]}"; do
${wordStep(shell)}
    done
    if [[ -n "$expect" ]]; then
        kind="$(_zapo_value "$cmdpath" "$expect")"
    elif [[ "$cur" == -* ]]; then
        compadd -- \${=\$(_zapo_opts "$cmdpath")}
        return
    elif [[ -n "$(_zapo_subs "$cmdpath")" ]]; then
        _zapo_describe_subs "$cmdpath"
        return
    else
        kind="$(_zapo_args "$cmdpath")"
    fi
    case "$kind" in
        session) compadd -- \${(f)"$("$bin" __complete sessions "\${store_args[@]}" 2>/dev/null </dev/null)"} ;;
        file) _files ;;
        store) compadd -- ${STORE_NAMES}; _files ;;
        choices:*) compadd -- \${=kind#choices:} ;;
    esac
}

if [[ "\${funcstack[1]}" == "_zapo" ]]; then
    _zapo "$@"
else
    compdef _zapo zapo
fi
`
}

export function fishScript(nodes: readonly CompletionNode[]): string {
    const t = tables(nodes)
    const root = nodes.find(n => n.path === '')!
    const lines: string[] = []
    const flagSpec = (names: readonly string[]): string =>
        names.map(n => (n.startsWith('--') ? `-l ${n.slice(2)}` : `-s ${n.slice(1)}`)).join(' ')
    const valueSpec = (kind: ValueKind | null): string => {
        if (kind === null) return ''
        switch (kind.kind) {
            case 'session':
                return ` -x -a '(__zapo_sessions)'`
            case 'file':
                return ' -r -F'
            case 'store':
                return ` -r -F -a ${sq(STORE_NAMES)}`
            case 'choices':
                return ` -x -a ${sq(kind.choices.join(' '))}`
            case 'other':
                return ' -x'
        }
    }
    const byPath = new Map(nodes.map(n => [n.path, n]))
    for (const node of nodes) {
        const at = `-n "__zapo_at '${node.path}'"`
        for (const sub of node.subcommands) {
            const child = byPath.get(node.path === '' ? sub : `${node.path} ${sub}`)!
            lines.push(
                `complete -c zapo ${at} -f -a ${sq(sub)} -d ${sq(child.description.split('\n')[0] ?? '')}`
            )
        }
        if (node.path !== '') {
            for (const option of node.options)
                lines.push(
                    `complete -c zapo ${at} ${flagSpec(option.names)}${valueSpec(option.value)} -d ${sq(option.description)}`
                )
        }
        const first = node.args[0]
        if (first !== undefined && node.subcommands.length === 0) {
            const spec = valueSpec(first)
            if (first.kind === 'session' || first.kind === 'choices')
                lines.push(`complete -c zapo ${at} -f${spec.replace(' -x', '')}`)
            else if (first.kind === 'file' || first.kind === 'store')
                lines.push(`complete -c zapo ${at} -F`)
        }
    }
    for (const option of root.options)
        lines.push(
            `complete -c zapo ${flagSpec(option.names)}${valueSpec(option.value)} -d ${sq(option.description)}`
        )
    const valueFlags = t.values.map(([key]) => key)
    const aliasRows = t.aliases.map(([key, canonical]) => `${key}=${canonical}`)
    const pathRows = nodes.map(n => n.path).filter(p => p !== '')
    const storeFlagCases = storeFlagArms('            ', 'fish')
    return `# zapo completion for fish (generated by \`zapo completion fish\`; regenerate after an upgrade)
# load it now:      zapo completion fish | source
# or for good:      zapo completion fish > ~/.config/fish/completions/zapo.fish

set -g __zapo_value_flags ${valueFlags.map(sq).join(' ')}
set -g __zapo_aliases ${aliasRows.map(sq).join(' ')}
set -g __zapo_paths ${pathRows.map(sq).join(' ')}

# the command path typed so far ('sessions list'), and the store flags on the line
function __zapo_walk
    set -l tokens (commandline -opc)
    set -e tokens[1]
    set -l cmdpath ''
    set -l expect ''
    set -l store_args
    for w in $tokens
        if test -n "$expect"
            switch "$cmdpath|$expect"
${storeFlagCases}
            end
            set expect ''
            continue
        end
        switch $w
            case '-*=*'
            case '-*'
                if contains -- "$cmdpath|$w" $__zapo_value_flags; or contains -- "*|$w" $__zapo_value_flags
                    set expect $w
                end
            case '*'
                set -l candidate (string trim -- "$cmdpath $w")
                for row in $__zapo_aliases
                    set -l pair (string split -m1 = -- $row)
                    if test "$pair[1]" = "$cmdpath|$w"
                        set candidate $pair[2]
                    end
                end
                if contains -- $candidate $__zapo_paths
                    set cmdpath $candidate
                end
        end
    end
    echo $cmdpath
    for a in $store_args
        echo $a
    end
end

function __zapo_at
    set -l walked (__zapo_walk)
    test "$walked[1]" = "$argv[1]"
end

function __zapo_sessions
    set -l walked (__zapo_walk)
    set -e walked[1]
    set -l bin (commandline -opc)[1]
    $bin __complete sessions $walked 2>/dev/null </dev/null
end

${lines.join('\n')}
`
}

export function completionScript(shell: Shell, nodes: readonly CompletionNode[]): string {
    switch (shell) {
        case 'bash':
            return bashScript(nodes)
        case 'zsh':
            return zshScript(nodes)
        case 'fish':
            return fishScript(nodes)
    }
}

interface CompletionFlags {
    /** the positional argument */
    readonly shell?: string
}

export interface PreparedCompletion {
    readonly shell: Shell
}

/** Flags (and the shell argument) → typed options. */
export async function prepare(
    flags: CompletionFlags,
    _ctx: CliContext
): Promise<PreparedCompletion> {
    const shell = flags.shell
    const name = (shell ?? '').trim().toLowerCase()
    if (!(SHELLS as readonly string[]).includes(name))
        throw usageError(
            `${shell === undefined || shell === '' ? 'no shell given' : `unknown shell "${shell}"`}: use zapo completion bash, zsh or fish`
        )
    return { shell: name as Shell }
}

export function register(program: Command): void {
    program
        .command('completion')
        .argument('[shell]', 'bash, zsh or fish')
        .description('print a shell completion script (commands, flags, session ids)')
        .addHelpText(
            'after',
            helpFooter({
                notes: [
                    'Session ids are read from the store named on the line (--store, --config, migrate --from) or the configured one, when you press Tab; an unreachable store completes nothing.'
                ],
                exitCodes: ['OK', 'USAGE'],
                examples: [
                    ['eval "$(zapo completion bash)"', 'bash, this shell'],
                    [
                        'zapo completion bash > ~/.local/share/bash-completion/completions/zapo',
                        'bash, for good'
                    ],
                    ['source <(zapo completion zsh)', 'zsh, this shell'],
                    ['zapo completion fish > ~/.config/fish/completions/zapo.fish', 'fish']
                ]
            })
        )
        .action(
            handle<CompletionFlags>(async (flags, ctx, args, command) => {
                const { shell } = await prepare({ ...flags, shell: args[0] }, ctx)
                const { LOG_LEVELS } = await import('../client/logger.js')
                const levels = LOG_LEVELS.filter(l => l !== 'silent')
                ctx.io.stdout.write(
                    completionScript(shell, completionModel(command.parent!, levels))
                )
            })
        )
    // what the scripts call back when Tab needs session ids: quiet, never prompts, always exit 0
    program
        .command('__complete', { hidden: true })
        .argument('[what]')
        .allowExcessArguments()
        .action(async (what: string | undefined, _options: unknown, command: Command) => {
            if (what !== 'sessions') return
            try {
                const { contextFor } = await import('../context.js')
                const ctx = contextFor(command)
                const { listSessionIds } = await import('../ops/sessions.js')
                const ids = await withTimeout(listSessionIds(ctx.storeSpec()), 3_000)
                if (ids.length > 0) process.stdout.write(ids.join('\n') + '\n')
            } catch {
                // an unreachable store, a bad config: Tab completes nothing
            }
        })
}

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
    let timer: NodeJS.Timeout | undefined
    try {
        return await Promise.race([
            promise,
            new Promise<never>((_, reject) => {
                timer = setTimeout(() => reject(new Error('timed out')), ms)
            })
        ])
    } finally {
        clearTimeout(timer)
    }
}
