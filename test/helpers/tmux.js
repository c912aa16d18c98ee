/**
 * A real terminal for tests: one tmux server on its own socket, one session per call to
 * `terminal()`, sized as asked. `screen()` is what the pane shows now (`capture-pane -p`),
 * `history()` everything written to it (scrollback included), `keys()` types into it.
 *
 *     const term = await openTerminal(t, { cwd, columns: 80, rows: 24 })
 *     term.run(`zapo pair --session demo`)          // the command, then `EXIT=<code>` on exit
 *     await term.waitFor(/Replace it\?/, 'the replace question')
 *     term.keys('n', 'Enter')
 *     const code = await term.exitCode()
 *
 * `tmuxAvailable()` tells whether a test can run at all (skip it otherwise).
 */

import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { ZAPO_BIN } from './run.js'

export function tmuxAvailable() {
    return spawnSync('tmux', ['-V']).status === 0
}

/** Single-quotes a word for sh. */
export function shq(word) {
    return `'${String(word).replace(/'/g, "'\\''")}'`
}

/** The shell command that runs the built zapo (or another checkout's `bin`) with these arguments. */
export function zapoCommand(args, bin = ZAPO_BIN) {
    return [process.execPath, bin, ...args].map(shq).join(' ')
}

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

/**
 * A tmux session of `columns`×`rows` running a login-less `sh` in `cwd`, with `env` exported
 * (NO_COLOR unset unless given: a terminal gets colour like a person's would). Killed after the test.
 */
export function openTerminal(t, { cwd, columns = 80, rows = 24, env = {} }) {
    const dir = mkdtempSync(join(tmpdir(), 'zapo-tmux-'))
    const socket = join(dir, 'tmux.sock')
    const name = 'zapo'
    const tmux = (...args) => spawnSync('tmux', ['-S', socket, ...args], { encoding: 'utf8' })
    const exports = Object.entries({ TERM: 'xterm-256color', ...env })
        .map(([key, value]) =>
            value === undefined ? `unset ${key}` : `export ${key}=${shq(value)}`
        )
        .join('; ')
    const started = tmux(
        'new-session',
        '-d',
        '-x',
        String(columns),
        '-y',
        String(rows),
        '-s',
        name,
        '-c',
        cwd,
        // a plain prompt, so a capture holds what zapo wrote and little else
        `env -u NO_COLOR -u FORCE_COLOR PS1='$ ' sh`
    )
    if (started.status !== 0) throw new Error(`tmux did not start: ${started.stderr}`)
    // no status bar: the pane is the whole window, columns × rows
    tmux('set-option', '-t', name, 'status', 'off')
    tmux('resize-window', '-t', name, '-x', String(columns), '-y', String(rows))
    t.after(() => {
        tmux('kill-server')
        rmSync(dir, { recursive: true, force: true })
    })
    if (exports) tmux('send-keys', '-t', name, '-l', `${exports}; clear`)
    if (exports) tmux('send-keys', '-t', name, 'Enter')

    const term = {
        columns,
        rows,
        /** what the pane shows now, one string per row (trailing blanks trimmed by tmux) */
        screen: () => tmux('capture-pane', '-p', '-t', name).stdout,
        /** the whole pane history, scrollback included */
        history: () => tmux('capture-pane', '-p', '-S', '-', '-t', name).stdout,
        /**
         * the whole history with lines the terminal wrapped joined again (`-J`): a line longer
         * than the width shows up longer than the width here
         */
        joined: () => tmux('capture-pane', '-p', '-J', '-S', '-', '-t', name).stdout,
        keys: (...keys) => {
            for (const key of keys) tmux('send-keys', '-t', name, key)
        },
        /** types text literally (no key names) */
        type: text => tmux('send-keys', '-t', name, '-l', text),
        /** runs a shell command line, then prints EXIT=<code> on a line of its own */
        run: line => {
            tmux('send-keys', '-t', name, '-l', `${line}; echo EXIT=$?`)
            tmux('send-keys', '-t', name, 'Enter')
        },
        /** clears the screen and the scrollback: what follows starts a fresh history */
        clear: async () => {
            tmux('send-keys', '-t', name, '-l', 'clear')
            tmux('send-keys', '-t', name, 'Enter')
            await term.waitFor(text => text.trim() === '$', 'a cleared screen')
            tmux('clear-history', '-t', name)
        },
        /** waits until the screen (or, with `{ history: true }`, the history) matches */
        waitFor: async (pattern, what, { timeoutMs = 40_000, history = false } = {}) => {
            const read = history ? term.history : term.screen
            const deadline = Date.now() + timeoutMs
            for (;;) {
                const text = read()
                if (typeof pattern === 'function' ? pattern(text) : pattern.test(text)) return text
                if (Date.now() > deadline)
                    throw new Error(`terminal never showed ${what}:\n${term.history()}`)
                await sleep(100)
            }
        },
        /** the exit code printed by `run` */
        exitCode: async (options = {}) => {
            const text = await term.waitFor(/^EXIT=\d+$/m, 'the end of the command', {
                history: true,
                ...options
            })
            return Number(/^EXIT=(\d+)$/m.exec(text)[1])
        }
    }
    return term
}

/**
 * Lines of a joined capture (`term.joined()`) longer than the width, leaving out the command
 * lines the test typed (they start with the prompt, `$ `).
 */
export function overlongLines(text, columns) {
    return text.split('\n').filter(line => !line.startsWith('$ ') && [...line].length > columns)
}
