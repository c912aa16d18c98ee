/**
 * The pairing QR code on the terminal (stderr).
 *
 * On a TTY the code is drawn with qrcode-terminal's small form (two modules per character
 * cell, so modules stay square) with the instructions beside it, and redrawn in place: when
 * the code rotates and every second for the remaining validity. A WhatsApp pairing QR is a
 * version 8 code (49 modules): with its quiet zone it needs 26 rows, so on a terminal with
 * fewer rows the top of the block scrolls away (the instructions say to enlarge the window).
 *
 * Against a test server (`--server`) no phone can scan the drawing, only the server's own
 * phone can, and it needs the QR string: the frame shows that string on a line of its own to
 * paste into `zapo sandbox` (or POST to its /scan), no drawing. A string longer than the width
 * wraps; the frame counts the rows it takes, so the redraw in place still lands on its top.
 *
 * Without a TTY nothing is animated: each code is printed once, drawing and raw text, so a log
 * or a pipe gets one entry per rotation.
 */

import qrcode from 'qrcode-terminal'
import type { Io } from '../output.js'
import { palette } from './color.js'
import { fit, visibleLength } from './format.js'
import { formatCountdown, formatDuration } from '../util/duration.js'

export interface QrScreen {
    /** shows a new code, replacing the previous one */
    show(qr: string, expiresInMs: number): void
    /** a status line under the instructions (e.g. "scanned: saving") */
    status(text: string): void
    /** stops the countdown and clears the frame from the terminal */
    stop(): void
}

export interface QrScreenOptions {
    readonly session: string
    readonly server: string | null
    /** with a server: what to do with the QR string (the line above it) */
    readonly hint?: string
}

/** The QR as text lines, small form (half-block characters). */
export function renderQr(text: string): string[] {
    let out = ''
    qrcode.generate(text, { small: true }, rendered => {
        out = rendered
    })
    return out.split('\n').filter(line => line.length > 0)
}

export function createQrScreen(io: Io, options: QrScreenOptions): QrScreen {
    const stream = io.stderr as NodeJS.WriteStream
    const tty = io.cursor
    const p = palette(io.colorErr)
    let qrLines: string[] = []
    let qrText = ''
    let expiresAt = 0
    let statusText = ''
    let drawnHeight = 0
    let ticker: NodeJS.Timeout | null = null
    let rotations = 0

    const instructions = (): string[] => {
        const remaining = expiresAt - Date.now()
        return [
            p.strong('Link a device'),
            '',
            '1. WhatsApp › Settings',
            '2. Linked devices',
            '3. Link a device',
            '4. Scan this code',
            '',
            `${remaining > 0 ? `valid for ${p.strong(formatCountdown(remaining))}` : p.warn('expired: wait for a new one')}`,
            `code #${rotations}`,
            ...((stream.rows ?? 100) <= qrLines.length
                ? [p.warn(`enlarge to ${qrLines.length + 1}+ rows`)]
                : []),
            '',
            `session ${p.session(options.session)}`,
            ...(options.server ? [p.warn('test server:'), options.server] : []),
            '',
            statusText ? statusText : p.dim('Ctrl-C cancels')
        ]
    }

    /** a test server: the QR string to hand to its phone, and the state, no drawing */
    const textFrame = (columns: number): string[] => {
        const remaining = expiresAt - Date.now()
        const width = columns - 1
        return [
            fit(
                // a URL is named as the test server it is; a label ("in-process sandbox") as is
                `${(options.server ?? '').includes('://') ? `${p.warn('test server')} ` : ''}${options.server ?? ''} ${p.dim('(not WhatsApp)')}`,
                width
            ),
            fit(
                options.hint ?? 'Paste this QR string into the terminal running zapo sandbox:',
                width
            ),
            '',
            qrText,
            '',
            fit(
                `session ${p.session(options.session)} · code #${rotations} · ${remaining > 0 ? `valid for ${p.strong(formatCountdown(remaining))}` : p.warn('expired: wait for a new one')}`,
                width
            ),
            fit(statusText ? statusText : p.dim('Ctrl-C cancels'), width)
        ]
    }

    /** rows a line takes on the terminal (a long QR string wraps) */
    const rowsOf = (lines: readonly string[], columns: number): number =>
        lines.reduce((n, line) => n + Math.max(1, Math.ceil(visibleLength(line) / columns)), 0)

    const frame = (): string[] => {
        if (options.server !== null) return textFrame(stream.columns ?? 80)
        const side = instructions()
        const columns = stream.columns ?? 80
        const qrWidth = qrLines.reduce((n, l) => Math.max(n, [...l].length), 0)
        if (columns >= qrWidth + 2 + 24) {
            const height = Math.max(qrLines.length, side.length)
            const lines: string[] = []
            const room = columns - qrWidth - 3
            for (let i = 0; i < height; i += 1) {
                const left = qrLines[i] ?? ' '.repeat(qrWidth)
                lines.push(`${left}  ${fit(side[i] ?? '', room)}`)
            }
            return lines
        }
        return [...qrLines, ...side.filter(line => line !== '').map(line => fit(line, columns - 1))]
    }

    const draw = (): void => {
        const lines = frame()
        if (options.server !== null) {
            // back to the top of the previous frame, clear everything below, write it anew
            const columns = stream.columns ?? 80
            let out =
                drawnHeight > 0 ? `\r${drawnHeight > 1 ? `\x1b[${drawnHeight - 1}A` : ''}` : ''
            out += `\x1b[J${lines.join('\n')}`
            stream.write(out)
            drawnHeight = rowsOf(lines, columns)
            return
        }
        const rows = stream.rows ?? Number.POSITIVE_INFINITY
        if (lines.length >= rows) {
            // taller than the screen: overwrite it from the top, line by line, without ever
            // scrolling or clearing it (either would push a copy of the frame into the history
            // at every tick); the side text asks for a taller window, and a resize redraws
            stream.write(
                `\x1b[H${lines
                    .slice(0, rows)
                    .map(line => `\x1b[2K${line}`)
                    .join('\n')}`
            )
            drawnHeight = rows
            return
        }
        let out = ''
        if (drawnHeight > 0) {
            // back to the first line of the previous frame, then overwrite it line by line
            out += `\r\x1b[${drawnHeight - 1}A`
        }
        out += lines.map(line => `\x1b[2K${line}`).join('\n')
        // the previous frame was taller: clear what is left of it
        out += '\x1b[J'
        stream.write(out)
        drawnHeight = lines.length
    }
    const onResize = (): void => {
        if (drawnHeight === 0) return
        // the terminal may have reflowed the old frame: start over from the top
        stream.write('\x1b[H')
        drawnHeight = 0
        draw()
    }

    const stopTicker = (): void => {
        if (ticker) clearInterval(ticker)
        ticker = null
    }

    return {
        show(qr, expiresInMs) {
            rotations += 1
            qrText = qr
            qrLines = options.server !== null && tty ? [] : renderQr(qr)
            expiresAt = Date.now() + expiresInMs
            if (!tty) {
                stream.write(
                    `\nQR code #${rotations} for session ${options.session}, valid ${formatDuration(expiresInMs)} ` +
                        '(WhatsApp › Settings › Linked devices › Link a device):\n' +
                        qrLines.join('\n') +
                        `\n${qr}\n`
                )
                return
            }
            draw()
            if (!ticker) {
                stream.on('resize', onResize)
                ticker = setInterval(draw, 1_000)
                ticker.unref()
            }
        },
        status(text) {
            statusText = text
            if (tty && drawnHeight > 0) draw()
            else stream.write(text + '\n')
        },
        stop() {
            stopTicker()
            stream.off('resize', onResize)
            if (tty && drawnHeight > 0) {
                // the code is no use any more: clear its frame (what follows starts in its place)
                stream.write(`\r${drawnHeight > 1 ? `\x1b[${drawnHeight - 1}A` : ''}\x1b[J`)
                drawnHeight = 0
            }
        }
    }
}
