/**
 * The sandbox and the pair wizard as a person meets them: the real binary in real terminals
 * (tmux at 80×24 and 120×40), two of them side by side. `zapo sandbox` in one shows the export
 * line to paste into the other; `zapo pair` there shows the QR string; pasted back into the
 * sandbox's terminal, its phone scans it. Nothing is handed over behind the terminals' backs.
 */

import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, test } from 'node:test'

import { makeSession, openTestStore } from '../helpers/fixtures.js'
import { storeDigest } from '../helpers/store-digest.js'
import { openTerminal, overlongLines, tmuxAvailable, zapoCommand } from '../helpers/tmux.js'

function tempDir(t) {
    const dir = mkdtempSync(join(tmpdir(), 'zapo-term-'))
    t.after(() => rmSync(dir, { recursive: true, force: true }))
    return dir
}

/** A store holding a paired session `demo`. */
async function pairedStore(dir) {
    const url = `sqlite:${join(dir, 'zapo.sqlite')}`
    const store = await openTestStore(url, 'write')
    await makeSession(store, 'demo', {})
    await store.close()
    return url
}

async function meJidOf(url, session) {
    const store = await openTestStore(url, 'read')
    try {
        return (await store.domain('auth', session).load())?.meJid ?? null
    } finally {
        await store.close()
    }
}

const ESC = /\x1b/
const CLOCK = /^\d\d:\d\d:\d\d {2}/

/**
 * `zapo sandbox` in a terminal of its own; resolves with the terminal and the export command as
 * the screen shows it (one line, or two joined by a backslash on a narrow terminal).
 */
async function sandboxTerminal(t, { cwd, columns, rows, redirect = '' }) {
    const term = openTerminal(t, { cwd, columns, rows })
    term.run(`${zapoCommand(['sandbox'])}${redirect}`)
    let screen
    if (redirect === '') {
        screen = await term.waitFor(/Stop with Ctrl-C/, 'the sandbox start screen')
    }
    return { term, screen }
}

/** The export command on a start screen: its lines, as a person would select and copy them. */
function exportCommand(screen) {
    const lines = screen.split('\n')
    const i = lines.findIndex(line => line.startsWith('export ZAPO_SERVER='))
    assert.ok(i >= 0, `no export line on the screen:\n${screen}`)
    return lines[i].endsWith('\\') ? [lines[i], lines[i + 1]] : [lines[i]]
}

/** Pastes lines into a terminal's shell (a multi-line paste: each line ends with Enter). */
function paste(term, lines) {
    for (const line of lines) {
        term.type(line.trimEnd())
        term.keys('Enter')
    }
}

/** The newest QR string a pair frame shows (its wrapped rows joined again). */
function qrStringOn(term) {
    return term
        .joined()
        .split('\n')
        .filter(line => /^[^\s,]+(,[A-Za-z0-9+/=]+){3},\d$/.test(line))
        .at(-1)
}

const SIZES = [
    [80, 24],
    [120, 40]
]

describe('zapo sandbox and zapo pair in terminals', { concurrency: 2 }, () => {
    for (const [columns, rows] of SIZES) {
        test(`sandbox start screen: the export line fits ${columns}×${rows} and, pasted, points zapo at it`, async t => {
            if (!tmuxAvailable()) return t.skip('tmux is not installed (apt-get install tmux)')
            const cwd = tempDir(t)
            const { term: sandbox, screen } = await sandboxTerminal(t, { cwd, columns, rows })
            assert.deepEqual(overlongLines(sandbox.joined(), columns), [])
            const command = exportCommand(screen)
            assert.equal(command.length, columns < 120 ? 2 : 1, screen)
            const [, url] = /ZAPO_SERVER='(ws:\/\/127\.0\.0\.1:\d+\/ws\/chat)'/.exec(
                command.join(' ')
            )
            const [, rootCa] = /ZAPO_SERVER_ROOT_CA='(\d+:[A-Za-z0-9+/]+=*)'/.exec(
                command.join(' ')
            )
            // pasted into another terminal, the shell gets exactly these values
            const shell = openTerminal(t, { cwd, columns, rows })
            paste(shell, command)
            shell.run('printf "[%s|%s]\\n" "$ZAPO_SERVER" "$ZAPO_SERVER_ROOT_CA"')
            // the output may follow a redrawn prompt ("$ $ [ws:…]"); the typed printf never matches
            const echoed = await shell.waitFor(/^(?:\$ )*\[ws:.*\]$/m, 'the echoed variables', {
                history: true
            })
            assert.match(
                echoed,
                new RegExp(`^(?:\\$ )*\\[${url}\\|${rootCa.replace(/[+/]/g, '\\$&')}\\]$`, 'm')
            )
            sandbox.keys('C-c')
            assert.equal(await sandbox.exitCode(), 0)
        })

        test(`pair wizard over a paired session at ${columns}×${rows}: asked first; "n" exits 22 unchanged, "y" pairs by the pasted QR string`, async t => {
            if (!tmuxAvailable()) return t.skip('tmux is not installed (apt-get install tmux)')
            const cwd = tempDir(t)
            const url = await pairedStore(cwd)
            const before = await storeDigest(url)
            const oldJid = await meJidOf(url, 'demo')
            const { term: sandbox, screen } = await sandboxTerminal(t, { cwd, columns, rows })
            const pair = openTerminal(t, { cwd, columns, rows })
            paste(pair, exportCommand(screen))
            await pair.clear()

            // "n": the question comes right after the session id, before anything connects
            pair.run(zapoCommand(['pair', '--store', url]))
            await pair.waitFor(/Session id for the new device/, 'the session prompt')
            pair.type('demo')
            pair.keys('Enter')
            const asked = await pair.waitFor(/Replace it\?/, 'the replace question')
            assert.match(asked, /session demo is already paired as \S+@s\.whatsapp\.net/)
            assert.doesNotMatch(asked, /How will the phone|connecting/i)
            assert.deepEqual(overlongLines(pair.joined(), columns), [])
            pair.keys('n')
            assert.equal(await pair.exitCode(), 22)
            assert.match(pair.history(), /not paired: demo is unchanged/)
            assert.doesNotMatch(pair.history(), /connecting/i)
            assert.equal(await storeDigest(url), before, 'the store is unchanged')
            assert.doesNotMatch(sandbox.screen(), /qr {2}/, 'nothing reached the sandbox')

            // "y": the method, the store, then the QR string, pasted into the sandbox's terminal
            await pair.clear()
            pair.run(zapoCommand(['pair', '--store', url]))
            await pair.waitFor(/Session id for the new device/, 'the session prompt')
            pair.type('demo')
            pair.keys('Enter')
            await pair.waitFor(/Replace it\?/, 'the replace question')
            pair.keys('y')
            await pair.waitFor(/How will the phone link it\?/, 'the method prompt')
            pair.keys('Enter')
            await pair.waitFor(/Store the credentials in/, 'the store question')
            pair.keys('Enter')
            await pair.waitFor(() => qrStringOn(pair) !== undefined, 'the QR string')
            const shown = pair.screen()
            assert.match(shown, /Paste this QR string into the terminal running zapo sandbox/)
            assert.doesNotMatch(shown, /▀|▄|█/)
            await sandbox.waitFor(/waits for a scan: paste its QR string here/, 'the qr line')
            const qr = qrStringOn(pair)
            paste(sandbox, [qr])
            assert.equal(await pair.exitCode(), 0, pair.history())
            const end = pair.screen()
            assert.match(end, /paired session demo/)
            assert.doesNotMatch(
                end,
                /code #|Paste this QR/,
                'the QR frame is cleared after success'
            )
            const newJid = await meJidOf(url, 'demo')
            assert.notEqual(newJid, oldJid)
            assert.match(newJid, /@s\.whatsapp\.net$/)

            // the sandbox's log: one timed line per step, within the width
            const log = await sandbox.waitFor(/login {6}/, 'the login line')
            const lines = log.split('\n').filter(line => CLOCK.test(line))
            const labels = lines.map(line => line.slice(10).split(/\s+/)[0])
            for (const label of ['qr', 'paired', 'login']) assert.ok(labels.includes(label), log)
            assert.ok(lines.some(line => line.includes(newJid.split('@')[0].split(':')[0])))
            // (the pasted QR string is the person's own input, echoed by the terminal)
            const wide = overlongLines(sandbox.joined(), columns).filter(line => line !== qr)
            assert.deepEqual(wide, [])
        })
    }

    test('piped: terminal on stderr, files on stdout; the files hold no escape codes (80×24)', async t => {
        if (!tmuxAvailable()) return t.skip('tmux is not installed (apt-get install tmux)')
        const cwd = tempDir(t)
        const url = `sqlite:${join(cwd, 'piped.sqlite')}`
        const { term: sandbox } = await sandboxTerminal(t, {
            cwd,
            columns: 80,
            rows: 24,
            redirect: ' > sandbox.txt'
        })
        const started = () => {
            try {
                return readFileSync(join(cwd, 'sandbox.txt'), 'utf8')
            } catch {
                return ''
            }
        }
        for (let i = 0; i < 200 && !/Stop with Ctrl-C/.test(started()); i += 1)
            await new Promise(resolve => setTimeout(resolve, 100))
        const text = started()
        // a file gets the one-line form: `eval "$(grep '^export ' sandbox.txt)"` works
        const exportLine = text.split('\n').find(line => line.startsWith('export '))
        assert.match(exportLine, /^export ZAPO_SERVER='ws:[^']+' ZAPO_SERVER_ROOT_CA='[^']+'$/)

        const pair = openTerminal(t, { cwd, columns: 80, rows: 24 })
        pair.run(`eval "$(grep '^export ' sandbox.txt)"`)
        await pair.clear()
        pair.run(zapoCommand(['pair', '--session', 'piped', '--store', url]) + ' > pair.txt')
        await pair.waitFor(() => qrStringOn(pair) !== undefined, 'the QR string on stderr')
        await sandbox.waitFor(/waits for a scan/, 'the sandbox log on its terminal')
        paste(sandbox, [qrStringOn(pair)])
        assert.equal(await pair.exitCode(), 0, pair.history())
        sandbox.keys('C-c')
        assert.equal(await sandbox.exitCode(), 0)

        const pairOut = readFileSync(join(cwd, 'pair.txt'), 'utf8')
        assert.match(pairOut, /paired session piped/)
        assert.doesNotMatch(pairOut, ESC, 'no escape code in the pair summary file')
        assert.doesNotMatch(started(), ESC, 'no escape code in the sandbox file')
        assert.doesNotMatch(started(), /paired|login/, 'the log stays on the terminal')
        const log = sandbox.history()
        assert.match(log, /^\d\d:\d\d:\d\d {2}paired {4}/m)
        assert.match(log, /^\d\d:\d\d:\d\d {2}login {5}/m)
    })

    test('a sandbox sent to the background of an interactive shell keeps running (its terminal input is left alone)', async t => {
        if (!tmuxAvailable()) return t.skip('tmux is not installed (apt-get install tmux)')
        const cwd = tempDir(t)
        const term = openTerminal(t, { cwd, columns: 80, rows: 24 })
        term.run(
            `set -m; ${zapoCommand(['sandbox'])} > bg.txt & until grep -q '^export' bg.txt; do sleep 0.2; done; sleep 1; echo "STATE=$(ps -o stat= -p $!)"; kill $!; wait $!`
        )
        // the line may follow a redrawn prompt ("$ STATE=Sl"); the command's own "STATE=$(ps"
        // never matches: a process state is letters and <, +
        const STATE = /STATE=([A-Za-z<+]+)\s*$/m
        const text = await term.waitFor(STATE, 'the state of the background job', {
            history: true
        })
        const [, state] = STATE.exec(text)
        assert.doesNotMatch(state, /T/, `the background sandbox was stopped (${state})`)
        assert.match(readFileSync(join(cwd, 'bg.txt'), 'utf8'), /^export ZAPO_SERVER=/m)
    })

    test('pairing code at 80×24: zapo pair --phone shows it, typed into the sandbox terminal it pairs', async t => {
        if (!tmuxAvailable()) return t.skip('tmux is not installed (apt-get install tmux)')
        const cwd = tempDir(t)
        const url = `sqlite:${join(cwd, 'code.sqlite')}`
        const { term: sandbox, screen } = await sandboxTerminal(t, { cwd, columns: 80, rows: 24 })
        const pair = openTerminal(t, { cwd, columns: 80, rows: 24 })
        paste(pair, exportCommand(screen))
        await pair.clear()
        pair.run(
            zapoCommand(['pair', '-s', 'bycode', '--store', url, '--phone', '+1 555 010 0000'])
        )
        const shown = await pair.waitFor(/^ {2}([1-9A-Z]{4}-[1-9A-Z]{4})$/m, 'the pairing code')
        assert.match(shown, /type the code\s+into the terminal running zapo sandbox/)
        assert.doesNotMatch(shown, /On the phone: WhatsApp/)
        await sandbox.waitFor(
            /code {8}#\d+ asked for a pairing code for \+15550100000: type/,
            'the code line'
        )
        const [, code] = /^ {2}([1-9A-Z]{4}-[1-9A-Z]{4})$/m.exec(shown)
        paste(sandbox, [code])
        assert.equal(await pair.exitCode(), 0, pair.history())
        assert.match(await meJidOf(url, 'bycode'), /^15550100000:\d+@s\.whatsapp\.net$/)
        await sandbox.waitFor(
            /paired {6}15550100000:\d+@s\.whatsapp\.net by code/,
            'the paired line'
        )
        assert.deepEqual(overlongLines(pair.joined(), 80), [])
    })
})
