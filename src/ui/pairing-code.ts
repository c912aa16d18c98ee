/**
 * The 8-character pairing code, large and grouped the way the phone shows it (ABCD-EFGH),
 * with the steps to enter it and its remaining validity. Drawn on stderr; on a TTY the
 * validity line counts down in place.
 */

import type { Io } from '../output.js'
import { palette } from './color.js'
import { fit } from './format.js'
import { formatCountdown, formatDuration } from '../util/duration.js'

/** 4×5 glyphs of the pairing-code alphabet (Crockford base32: no 0, I, O, U). */
const GLYPHS: Readonly<Record<string, readonly string[]>> = Object.freeze({
    '1': [' ## ', '### ', ' ## ', ' ## ', '####'],
    '2': ['### ', '   #', ' ## ', '#   ', '####'],
    '3': ['### ', '   #', ' ## ', '   #', '### '],
    '4': ['#  #', '#  #', '####', '   #', '   #'],
    '5': ['####', '#   ', '### ', '   #', '### '],
    '6': [' ## ', '#   ', '### ', '#  #', ' ## '],
    '7': ['####', '   #', '  # ', ' #  ', ' #  '],
    '8': [' ## ', '#  #', ' ## ', '#  #', ' ## '],
    '9': [' ## ', '#  #', ' ###', '   #', ' ## '],
    A: [' ## ', '#  #', '####', '#  #', '#  #'],
    B: ['### ', '#  #', '### ', '#  #', '### '],
    C: [' ###', '#   ', '#   ', '#   ', ' ###'],
    D: ['### ', '#  #', '#  #', '#  #', '### '],
    E: ['####', '#   ', '### ', '#   ', '####'],
    F: ['####', '#   ', '### ', '#   ', '#   '],
    G: [' ###', '#   ', '# ##', '#  #', ' ###'],
    H: ['#  #', '#  #', '####', '#  #', '#  #'],
    J: ['   #', '   #', '   #', '#  #', ' ## '],
    K: ['#  #', '# # ', '##  ', '# # ', '#  #'],
    L: ['#   ', '#   ', '#   ', '#   ', '####'],
    M: ['#  #', '####', '####', '#  #', '#  #'],
    N: ['#  #', '## #', '# ##', '#  #', '#  #'],
    P: ['### ', '#  #', '### ', '#   ', '#   '],
    Q: [' ## ', '#  #', '#  #', '# ##', ' ###'],
    R: ['### ', '#  #', '### ', '# # ', '#  #'],
    S: [' ###', '#   ', ' ## ', '   #', '### '],
    T: ['####', ' ## ', ' ## ', ' ## ', ' ## '],
    V: ['#  #', '#  #', '#  #', ' ## ', ' ## '],
    W: ['#  #', '#  #', '####', '####', '#  #'],
    X: ['#  #', '#  #', ' ## ', '#  #', '#  #'],
    Y: ['#  #', '#  #', ' ## ', ' ## ', ' ## '],
    Z: ['####', '   #', ' ## ', '#   ', '####'],
    '-': ['    ', '    ', '### ', '    ', '    ']
})

/** "ABCDEFGH" → "ABCD-EFGH" (the grouping the phone displays). */
export function groupPairingCode(code: string): string {
    const clean = code.replace(/-/g, '').toUpperCase()
    return clean.length === 8 ? `${clean.slice(0, 4)}-${clean.slice(4)}` : clean
}

/** The grouped code in 5-row block letters. */
export function renderPairingCode(code: string): string[] {
    const grouped = groupPairingCode(code)
    const rows = ['', '', '', '', '']
    for (const ch of grouped) {
        const glyph = GLYPHS[ch] ?? GLYPHS['-'] ?? []
        for (let r = 0; r < 5; r += 1) rows[r] += (glyph[r] ?? '    ').replace(/#/g, '█') + ' '
    }
    return rows.map(row => '  ' + row.trimEnd())
}

export interface PairingCodeScreen {
    show(code: string, expiresInMs: number): void
    status(text: string): void
    stop(): void
}

export function createPairingCodeScreen(
    io: Io,
    options: {
        readonly session: string
        readonly phone: string
        /** a test server: its phone is not in anyone's hand, the code goes to its terminal */
        readonly server?: string | null
    }
): PairingCodeScreen {
    const stream = io.stderr as NodeJS.WriteStream
    const tty = io.cursor
    const p = palette(io.colorErr)
    let ticker: NodeJS.Timeout | null = null
    let expiresAt = 0
    let statusText = ''

    const validity = (): string => {
        const remaining = expiresAt - Date.now()
        const head =
            remaining > 0
                ? `valid for ${p.strong(formatCountdown(remaining))}`
                : p.warn('expired: run zapo pair again')
        return fit(
            `  ${head}   ${statusText || p.dim('Ctrl-C cancels')}`,
            (stream.columns ?? 80) - 1
        )
    }
    const redrawValidity = (): void => {
        // the validity line is the last one written: go up one line and rewrite it
        stream.write(`\x1b[1A\r\x1b[2K${validity()}\n`)
    }

    return {
        show(code, expiresInMs) {
            expiresAt = Date.now() + expiresInMs
            const lines = [
                '',
                `Pairing code for +${options.phone} (session ${p.session(options.session)}):`,
                '',
                ...renderPairingCode(code).map(line => p.strong(line)),
                '',
                `  ${p.strong(groupPairingCode(code))}`,
                '',
                ...(options.server
                    ? [
                          `  ${p.warn(options.server)} ${p.dim('(not WhatsApp)')}: type the code`,
                          '  into the terminal running zapo sandbox.'
                      ]
                    : [
                          '  On the phone: WhatsApp › Settings › Linked devices › Link a device',
                          '  › "Link with phone number instead", then type the code above.'
                      ]),
                '',
                tty ? validity() : `  valid for ${formatDuration(expiresInMs)}`
            ]
            stream.write(lines.join('\n') + '\n')
            if (tty && !ticker) {
                ticker = setInterval(redrawValidity, 1_000)
                ticker.unref()
            }
        },
        status(text) {
            statusText = text
            if (tty && expiresAt > 0) redrawValidity()
            else stream.write(text + '\n')
        },
        stop() {
            if (ticker) clearInterval(ticker)
            ticker = null
        }
    }
}
