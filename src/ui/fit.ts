/** Fitting status lines to the terminal width, so an in-place redraw never meets a wrapped line. */

const ANSI = /\x1b\[[0-9;]*m/g

/** Cuts a line to `width` visible characters (colour codes do not count), ending it with '…'. */
export function fit(line: string, width: number): string {
    const visible = [...line.replace(ANSI, '')]
    if (visible.length <= width) return line
    return visible.slice(0, Math.max(0, width - 1)).join('') + '…'
}
