/**
 * Semantic colour helpers: commands say what a piece of text is, not which
 * colour it gets. Colour is decided once per process from the Io flags.
 */

import kleur from 'kleur'

export interface Palette {
    readonly ok: (text: string) => string
    readonly warn: (text: string) => string
    readonly error: (text: string) => string
    readonly dim: (text: string) => string
    readonly strong: (text: string) => string
    readonly session: (text: string) => string
    readonly jid: (text: string) => string
    readonly path: (text: string) => string
    readonly command: (text: string) => string
    readonly event: (type: string, text: string) => string
}

const EVENT_COLOURS: Readonly<Record<string, (text: string) => string>> = Object.freeze({
    message: kleur.green,
    receipt: kleur.blue,
    presence: kleur.gray,
    chatstate: kleur.gray,
    group: kleur.magenta,
    call: kleur.yellow,
    notification: kleur.cyan,
    connection: kleur.bold,
    reconnect: kleur.yellow,
    error: kleur.red
})

const identity = (text: string): string => text

export function palette(enabled: boolean): Palette {
    if (!enabled) {
        return {
            ok: identity,
            warn: identity,
            error: identity,
            dim: identity,
            strong: identity,
            session: identity,
            jid: identity,
            path: identity,
            command: identity,
            event: (_type, text) => text
        }
    }
    kleur.enabled = true
    return {
        ok: kleur.green,
        warn: kleur.yellow,
        error: kleur.red,
        dim: kleur.dim,
        strong: kleur.bold,
        session: kleur.cyan,
        jid: kleur.magenta,
        path: kleur.underline,
        command: kleur.bold,
        event: (type, text) => (EVENT_COLOURS[type] ?? identity)(text)
    }
}
