/**
 * A real terminal for tests: a tmux server on its own socket (in the test's directory), one
 * detached session of a given size running a shell command, and the screen read back with
 * `capture-pane`. Judges output the way a person sees it: at 80×24, 120×40, with the width the
 * terminal really has.
 *
 *     if (!tmuxAvailable()) return t.skip(TMUX_MISSING)
 *     const term = startTmux(t, { cwd, width: 80, height: 24, command: 'zapo logs …; echo EXIT=$?' })
 *     await term.waitFor(/connected/, 'the first login')
 *     term.keys('C-c')
 *     const lines = term.history({ joined: true }) // terminal-wrapped lines joined back
 */
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'

export const TMUX_MISSING = 'tmux is not installed (apt-get install tmux)'

export function tmuxAvailable() {
    return spawnSync('tmux', ['-V']).status === 0
}

/** Quotes one argument for the shell tmux runs the command with. */
export function shellQuote(value) {
    return `'${String(value).replace(/'/g, `'\\''`)}'`
}

/**
 * Starts `command` (a shell command line) in a detached tmux session `width`×`height`.
 * `env`: the environment of the tmux server, hence of the command (`undefined` removes a
 * variable). The server is killed when the test ends.
 */
export function startTmux(t, { cwd, width, height, command, env = {}, name = 'term' }) {
    const socket = join(cwd, `tmux-${name}.sock`)
    const serverEnv = { ...process.env, ...env }
    for (const [key, value] of Object.entries(serverEnv))
        if (value === undefined) delete serverEnv[key]
    const tmux = (...args) =>
        spawnSync('tmux', ['-S', socket, '-f', '/dev/null', ...args], {
            encoding: 'utf8',
            env: serverEnv,
            cwd
        })
    // the pane stays after the command ends, so its last screen can still be read
    const started = tmux(
        'new-session',
        '-d',
        '-x',
        String(width),
        '-y',
        String(height),
        '-s',
        name,
        `${command}; sleep 120`
    )
    if (started.status !== 0) throw new Error(`tmux new-session failed: ${started.stderr}`)
    t.after(() => tmux('kill-server'))
    const capture = (...flags) => tmux('capture-pane', '-p', ...flags, '-t', name).stdout
    const term = {
        /** the visible screen, one string per row (trailing blanks trimmed) */
        screen: () => capture().split('\n'),
        /**
         * everything written, scrollback included; `joined`: lines the terminal wrapped are
         * joined back (so a line longer than the width shows as longer than the width);
         * `escapes`: keep colour codes
         */
        history: ({ joined = false, escapes = false } = {}) =>
            capture('-S', '-', ...(joined ? ['-J'] : []), ...(escapes ? ['-e'] : []))
                .replace(/\n+$/, '')
                .split('\n'),
        keys: (...keys) => tmux('send-keys', '-t', name, ...keys),
        /** waits until the history matches `pattern` (a RegExp or a predicate on the text) */
        async waitFor(pattern, what, ms = 30_000) {
            const test = typeof pattern === 'function' ? pattern : text => pattern.test(text)
            const deadline = Date.now() + ms
            for (;;) {
                const text = term.history({ joined: true }).join('\n')
                if (test(text)) return text
                if (Date.now() > deadline)
                    throw new Error(`timed out waiting for ${what}; the terminal shows:\n${text}`)
                await new Promise(resolve => setTimeout(resolve, 100))
            }
        }
    }
    return term
}
