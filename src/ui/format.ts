/**
 * Small text helpers for human output: relative times, aligned key/value
 * blocks, plain tables and lines cut to the terminal width (so an in-place redraw never meets a
 * wrapped line). Width is measured by string-width (colour codes take no columns), prose is
 * wrapped by wrap-ansi.
 */

import stringWidth from 'string-width'
import wrapAnsi from 'wrap-ansi'
import { formatDuration } from '../util/duration.js'

const ANSI = /\u001b\[[0-9;]*m/g

/** Columns a text takes on a terminal (colour codes take none, wide characters two). */
export function visibleLength(text: string): number {
    return stringWidth(text)
}

/** Cuts a line to `width` visible characters (colour codes do not count), ending it with '…'. */
export function fit(line: string, width: number): string {
    if (stringWidth(line) <= width) return line
    let out = ''
    for (const ch of line.replace(ANSI, '')) {
        if (stringWidth(out + ch) > width - 1) break
        out += ch
    }
    return out + '…'
}

/**
 * Prose wrapped at word boundaries to `width` columns, every line after the first indented by
 * `indent` spaces (a hanging indent), so a wrapped message still reads as one item.
 */
export function wrapProse(text: string, width: number, indent = 2): string {
    const pad = ' '.repeat(indent)
    return text
        .split('\n')
        .map(paragraph =>
            wrapAnsi(paragraph, Math.max(20, width - indent), { trim: true })
                .split('\n')
                .map((line, i) => (i === 0 ? line : pad + line))
                .join('\n')
        )
        .join('\n')
}

/**
 * A labelled line on a terminal of `width` columns: `prefix` (a mark, a name column) then
 * `detail` wrapped at word boundaries, its continuation lines indented under the detail's first
 * character. `width` null (piped, a file): one line, unwrapped, so grep still finds it whole.
 */
export function hangingLines(prefix: string, detail: string, width: number | null): string[] {
    const indent = visibleLength(prefix)
    if (width === null) return [prefix + detail]
    const pad = ' '.repeat(indent)
    const room = Math.max(20, width - 1 - indent)
    return wrapAnsi(detail, room, { trim: true, hard: false })
        .split('\n')
        .map((line, i) => (i === 0 ? prefix : pad) + line)
}

export function padEnd(text: string, width: number): string {
    const pad = width - visibleLength(text)
    return pad > 0 ? text + ' '.repeat(pad) : text
}

export function padStart(text: string, width: number): string {
    const pad = width - visibleLength(text)
    return pad > 0 ? ' '.repeat(pad) + text : text
}

/** "3m ago", "2.5h ago", "5d ago", "in 4m" (for clocks that run ahead); the duration is util/duration.ts. */
export function relativeTime(thenMs: number, nowMs: number = Date.now()): string {
    const delta = nowMs - thenMs
    const text = formatDuration(Math.abs(delta))
    return delta < 0 ? `in ${text}` : `${text} ago`
}

/** "512 B", "3.4 kB", "1.2 MB": a size for people (1 kB = 1024 bytes). */
export function formatBytes(bytes: number): string {
    if (bytes < 1024) return `${bytes} B`
    if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} kB`
    return `${(bytes / 1024 / 1024).toFixed(1)} MB`
}

/** Lines of "label  value" with the labels padded to one width. */
export function keyValueLines(
    rows: readonly (readonly [string, string])[],
    indent = '  '
): string[] {
    const width = Math.max(0, ...rows.map(([label]) => visibleLength(label)))
    return rows.map(([label, value]) => `${indent}${padEnd(label, width)}  ${value}`)
}

export interface TableColumn<R> {
    readonly header: string
    readonly value: (row: R) => string
    readonly align?: 'left' | 'right'
    /** cut longer values to this many characters (with "…") */
    readonly max?: number
}

/** A plain table: header, then one line per row; columns separated by two spaces. */
export function renderTable<R>(
    rows: readonly R[],
    columns: readonly TableColumn<R>[],
    style: { readonly header?: (text: string) => string } = {}
): string[] {
    const cells = rows.map(row =>
        columns.map(col => {
            const value = col.value(row)
            return col.max !== undefined ? fit(value, col.max) : value
        })
    )
    const widths = columns.map((col, i) =>
        Math.max(col.header.length, ...cells.map(r => visibleLength(r[i]!)))
    )
    const line = (values: readonly string[]): string =>
        values
            .map((v, i) =>
                columns[i]!.align === 'right'
                    ? padStart(v, widths[i]!)
                    : i === values.length - 1
                      ? v
                      : padEnd(v, widths[i]!)
            )
            .join('  ')
            .trimEnd()
    const header = line(columns.map(c => c.header))
    return [style.header ? style.header(header) : header, ...cells.map(line)]
}
