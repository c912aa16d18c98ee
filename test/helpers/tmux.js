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
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { ZAPO_BIN } from './run.js'

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

/** The shell command that runs the built zapo (or another checkout's `bin`) with these arguments. */
export function zapoCommand(args, bin = ZAPO_BIN) {
    return [process.execPath, bin, ...args].map(shellQuote).join(' ')
}

/*
 * An interactive terminal for stories of several commands (two terminals side by side, pasting
 * from one into the other): `openTerminal()` starts a plain `sh` with a `$ ` prompt instead of
 * one command; `run(line)` types a command line followed by `echo EXIT=$?`, `type()` pastes
 * text, `exitCode()` waits for the EXIT line.
 *
 *     const term = openTerminal(t, { cwd, columns: 80, rows: 24 })
 *     term.run(zapoCommand(['pair', '--session', 'demo']))
 *     await term.waitFor(/Replace it\?/, 'the replace question')
 *     term.keys('n')
 *     assert.equal(await term.exitCode(), 22)
 */

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
            value === undefined ? `unset ${key}` : `export ${key}=${shellQuote(value)}`
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
