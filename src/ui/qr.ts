/**
 * The pairing QR code on the terminal (stderr).
 *
 * On a TTY the code is drawn with qrcode-terminal's small form (two modules per character
 * cell, so modules stay square) with the instructions beside it, and redrawn in place: when
 * the code rotates and every second for the remaining validity. A WhatsApp pairing QR is a
 * version 8 code (49 modules): with its quiet zone it needs 26 rows, so on a terminal with
 * fewer rows the top of the block scrolls away (the instructions say to enlarge the window).
 *
 * Without a TTY nothing is animated: each code is printed once, drawing and raw text, so a log
 * or a pipe gets one entry per rotation.
 */

import qrcode from 'qrcode-terminal'
import type { Io } from '../output.js'
import { palette } from './color.js'
import { fit } from './format.js'
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

    const frame = (): string[] => {
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
            qrLines = renderQr(qr)
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
