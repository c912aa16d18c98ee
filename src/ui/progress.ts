/**
 * The progress line of a long command, on stderr: one line redrawn in place on a terminal (cut
 * to its width, so it never wraps), a plain line every few seconds otherwise. The caller says
 * what the line reads; nothing is drawn with --json (the caller makes none).
 */

import { note, stderrColumns, type Io } from '../output.js'
import { fit } from './format.js'

/** How often a plain (non-terminal) progress line is written. */
const PLAIN_EVERY_MS = 2_000

export class ProgressLine {
    private lastPlain = 0
    private drawn = false
    private readonly tty: boolean

    constructor(private readonly io: Io) {
        this.tty = io.cursor
    }

    /** The current state: redrawn on a terminal, else written when the last line is old enough. */
    update(text: string): void {
        if (this.tty) {
            // one terminal line, never wrapped: a wrapped line cannot be redrawn in place
            this.io.stderr.write(`\r\x1b[2K${fit(text, stderrColumns(this.io) - 1)}`)
            this.drawn = true
            return
        }
        const now = Date.now()
        if (now - this.lastPlain < PLAIN_EVERY_MS) return
        this.lastPlain = now
        note(this.io, text)
    }

    /** A step finished: its line is written without a terminal; on one the redrawn line is cleared. */
    step(text: () => string): void {
        if (this.tty) {
            this.clear()
            return
        }
        note(this.io, text())
    }

    clear(): void {
        if (this.tty && this.drawn) this.io.stderr.write('\r\x1b[2K')
        this.drawn = false
    }
}
