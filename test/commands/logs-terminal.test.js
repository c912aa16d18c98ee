/**
 * `zapo logs` as a person sees it: the built binary in a real terminal (tmux) at 80×24 and
 * 120×40, tailing a session the sandbox restarts (515) and whose socket it drops; and with stdout
 * sent to a file while stderr stays on the terminal.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'

import { CLEAN_ZAPO_ENV, ZAPO_BIN } from '../helpers/run.js'
import { shellQuote, startTmux, tmuxAvailable, TMUX_MISSING } from '../helpers/tmux.js'
import { pairWithQr, startTestSandbox, tempDir } from '../sandbox/helpers.js'

const PEER = '15559990000@s.whatsapp.net'
/** a text that needs wrapping at 80 columns, made of words a wrap must not cut */
const LONG_TEXT = Array.from({ length: 16 }, (_, i) => `wordy${i}`).join(' ')

/** A sandbox and a session `t1` paired into a SQLite file in a fresh directory. */
async function setup(t) {
    const sandbox = await startTestSandbox(t)
    const dir = tempDir(t)
    const path = join(dir, 'zapo.sqlite')
    const handle = await pairWithQr(t, sandbox, { path, sessionId: 't1' })
    await handle.cleanup()
    return { sandbox, dir, path, jid: handle.jid }
}

/** The terminal of a person: colour allowed, UTF-8, no zapo settings from the machine. */
const TERMINAL_ENV = Object.freeze({
    ...CLEAN_ZAPO_ENV,
    NO_COLOR: undefined,
    FORCE_COLOR: undefined,
    LC_ALL: 'C.UTF-8',
    LANG: 'C.UTF-8'
})

function logsCommand({ path, sandbox }, extra = '') {
    return [
        shellQuote(process.execPath),
        shellQuote(ZAPO_BIN),
        'logs',
        '--store',
        shellQuote(`sqlite:${path}`),
        '--server',
        shellQuote(sandbox.url),
        '--server-root-ca',
        shellQuote(sandbox.rootCa),
        '-s',
        't1',
        extra
    ].join(' ')
}

/** The sandbox restarts the stream (515), then drops the socket; a long message in between. */
async function restartAndDrop(term, { sandbox, jid }) {
    await sandbox.fault(jid, 'restart')
    await term.waitFor(/reconnected after/, 'the reconnect after the 515')
    await sandbox.waitForDevice(jid)
    await sandbox.sendMessage({ to: jid, from: PEER, text: LONG_TEXT, pushName: 'Bob' })
    await term.waitFor(/wordy15/, 'the long message')
    const logins = sandbox.devices().find(d => d.jid === jid).logins
    await sandbox.fault(jid, 'drop')
    await term.waitFor(
        text => (text.match(/reconnected after/g) ?? []).length >= 2,
        'the reconnect after the drop'
    )
    while (sandbox.devices().find(d => d.jid === jid).logins <= logins)
        await new Promise(resolve => setTimeout(resolve, 50))
}

/** Lines as the terminal shows them fit its width. */
function assertFits(lines, width) {
    for (const line of lines)
        assert.ok(
            [...line].length <= width,
            `a line runs past ${width} columns (${[...line].length}):\n${line}`
        )
}

/** Records as lines again: a line indented under the summary column continues the one before. */
function unwrap(lines) {
    const out = []
    for (const line of lines) {
        if (/^ {20,}\S/.test(line) && out.length > 0) out[out.length - 1] += ` ${line.trim()}`
        else out.push(line)
    }
    return out
}

/** Every word of the long message is whole: a wrap never cut one. */
function assertWordsWhole(text) {
    for (let i = 0; i < 16; i += 1)
        assert.match(
            text,
            new RegExp(`(^|[\\s"])wordy${i}([\\s"]|$)`),
            `wordy${i} is cut:\n${text}`
        )
}

for (const [width, height] of [
    [80, 24],
    [120, 40]
]) {
    test(`terminal ${width}×${height}: a 515 and a dropped socket read as words, fit the width, no library lines`, async t => {
        if (!tmuxAvailable()) return t.skip(TMUX_MISSING)
        const setupDone = await setup(t)
        const term = startTmux(t, {
            cwd: setupDone.dir,
            width,
            height,
            env: TERMINAL_ENV,
            command: `${logsCommand(setupDone)}; echo EXIT=$?`
        })
        await term.waitFor(/ connection +connected$/m, 'the first login')
        await setupDone.sandbox.waitForDevice(setupDone.jid)
        await restartAndDrop(term, setupDone)
        term.keys('C-c')
        await term.waitFor(/EXIT=\d+/, 'the end of the run')
        // -J: a line the terminal had to wrap comes back as one long line
        const lines = term.history({ joined: true })
        const text = lines.join('\n')
        assert.match(text, /EXIT=0/)
        assertFits(lines, width)
        assertWordsWhole(text)
        // the lines as records: a wrapped record's continuation lines joined back
        const records = unwrap(lines).join('\n')
        const time = '\\d\\d:\\d\\d:\\d\\d'
        for (const pattern of [
            `^${time}  connection +connected$`,
            `^${time}  reconnect +connection lost: server asked to reconnect \\(515\\) — reconnecting now$`,
            `^${time}  connection +reconnected after [\\d.]+(ms|s)$`,
            `^${time}  reconnect +connection lost: socket closed \\(1006\\) — reconnecting in 2s$`,
            `^${time}  message +Bob <15559990000@s\\.whatsapp\\.net> +"wordy0`
        ])
            assert.match(records, new RegExp(pattern, 'm'), `no line like ${pattern}:\n${text}`)
        // the long message wraps under its summary column (a hanging indent), not at column 0
        if (width === 80) assert.match(text, /^ {24}\S*wordy\d+/m, text)
        assert.doesNotMatch(
            records,
            /^\d\d:\d\d:\d\d {2}t1 /m,
            'no session column when one session is tailed'
        )
        assert.doesNotMatch(text, /ib\.offline|info_bulletin/, 'protocol bulletins hidden')
        assert.doesNotMatch(
            text,
            /stream_error|failure_|socket_closed|\[routine\]|\[transient\]/,
            'no protocol names for people'
        )
        assert.doesNotMatch(
            text,
            /WARN|\bwarn\b|received stream:error|forced login|scheduling reconnect/,
            'no library log lines without --log-level'
        )
        assert.doesNotMatch(text, /\d{4}-\d\d-\d\dT\d\d:/, 'no ISO times for people')
        // colour where it is allowed: on the terminal
        assert.ok(term.history({ escapes: true }).join('\n').includes('\u001b['), 'colour on a TTY')
    })
}

test("terminal 120×40 with --log-level warn: the library's lines in zapo's line format, not pino's", async t => {
    if (!tmuxAvailable()) return t.skip(TMUX_MISSING)
    const setupDone = await setup(t)
    const term = startTmux(t, {
        cwd: setupDone.dir,
        width: 120,
        height: 40,
        env: TERMINAL_ENV,
        command: `${logsCommand(setupDone, '--log-level warn')}; echo EXIT=$?`
    })
    await term.waitFor(/ connection +connected$/m, 'the first login')
    await setupDone.sandbox.waitForDevice(setupDone.jid)
    await setupDone.sandbox.fault(setupDone.jid, 'restart')
    await term.waitFor(/reconnected after/, 'the reconnect after the 515')
    term.keys('C-c')
    await term.waitFor(/EXIT=\d+/, 'the end of the run')
    const lines = term.history({ joined: true })
    const text = lines.join('\n')
    assertFits(lines, 120)
    assert.match(
        text,
        /^\d\d:\d\d:\d\d {2}warn {10}received stream:error with code {2}code=515$/m,
        text
    )
    assert.doesNotMatch(text, /WARN|^\[\d\d:/m, "not pino-pretty's format")
})

test('pipe: stdout to a file gets one plain line per record, the terminal keeps stderr (80×24)', async t => {
    if (!tmuxAvailable()) return t.skip(TMUX_MISSING)
    const setupDone = await setup(t)
    const out = join(setupDone.dir, 'events.txt')
    const term = startTmux(t, {
        cwd: setupDone.dir,
        width: 80,
        height: 24,
        env: TERMINAL_ENV,
        command: `${logsCommand(setupDone)} > ${shellQuote(out)}; echo EXIT=$?`
    })
    await term.waitFor(/connecting session t1/, 'the connecting note')
    await setupDone.sandbox.waitForDevice(setupDone.jid)
    await restartAndDrop({ waitFor: (pattern, what) => waitForFile(out, pattern, what) }, setupDone)
    term.keys('C-c')
    await term.waitFor(/EXIT=\d+/, 'the end of the run')
    const screen = term.history({ joined: true })
    const shown = screen.join('\n')
    assert.match(shown, /EXIT=0/)
    // stderr on the terminal: the note wrapped at word boundaries, no event line
    assertFits(
        screen.filter(l => !l.includes('wordy')),
        80
    )
    assert.match(shown, /an app running the same session will be disconnected/)
    assert.doesNotMatch(shown, /reconnected after|connection lost/, 'results go to the file only')
    const file = readFileSync(out, 'utf8')
    assert.ok(!file.includes('\u001b'), 'no colour codes in the file')
    const lines = file.trimEnd().split('\n')
    const message = lines.find(l => l.includes('wordy0'))
    assert.ok(message?.includes('wordy15'), 'a long message stays on one line in a file')
    assert.ok(message.length > 80)
    assert.ok(
        lines.every(l => /^\d\d:\d\d:\d\d {2}\S/.test(l)),
        file
    )
    assert.ok(
        lines.some(l => /reconnect +connection lost: socket closed \(1006\)/.test(l)),
        file
    )
    assert.ok(
        lines.some(l => /connection +reconnected after/.test(l)),
        file
    )
})

async function waitForFile(path, pattern, what, ms = 30_000) {
    const test = typeof pattern === 'function' ? pattern : text => pattern.test(text)
    const deadline = Date.now() + ms
    for (;;) {
        let text = ''
        try {
            text = readFileSync(path, 'utf8')
        } catch {
            // not created yet
        }
        if (test(text)) return text
        if (Date.now() > deadline)
            throw new Error(`timed out waiting for ${what} in ${path}:\n${text}`)
        await new Promise(resolve => setTimeout(resolve, 100))
    }
}
