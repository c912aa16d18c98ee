/**
 * Every interactive prompt goes through here: the only importer of
 * @clack/prompts. A cancelled prompt (Ctrl-C, Escape) becomes a
 * `ZapoError('CANCELLED')`, so callers never see clack's cancel symbol and
 * tests have one module to replace.
 *
 * Callers decide whether prompting is allowed at all (a TTY, human mode):
 * see `canPrompt`. Nothing here checks it again.
 */

import * as clack from '@clack/prompts'
import { ZapoError } from '../errors.js'
import type { Io } from '../output.js'

/** true when a prompt can be shown and answered: stdin and stdout are terminals and output is for people */
export function canPrompt(io: Io): boolean {
    return io.stdinIsTTY && Boolean(io.stdout.isTTY) && !io.json
}

function settle<T>(value: T | symbol): T {
    if (clack.isCancel(value)) {
        clack.cancel('cancelled')
        throw new ZapoError('CANCELLED', 'cancelled at the prompt; nothing was changed')
    }
    return value as T
}

/**
 * Waits for a clack prompt, or for its input to end: Ctrl-D closes clack's reader without an
 * answer, nothing is left to wake the process, and Node would end it with its own exit code 13
 * (a top-level await that never settled; 13 is CLIENT_REJECTED in zapo's table) and no word.
 * The process draining while a prompt waits is that end of input: a cancel, said in one line.
 */
async function answer<T>(prompt: Promise<T | symbol>): Promise<T> {
    let onDrain = (): void => undefined
    const drained = new Promise<never>((_, reject) => {
        onDrain = () => {
            clack.cancel('no answer')
            reject(
                new ZapoError(
                    'CANCELLED',
                    'no answer: the input ended (Ctrl-D) at the prompt; nothing was changed'
                )
            )
        }
        process.once('beforeExit', onDrain)
    })
    try {
        return settle(await Promise.race([prompt, drained]))
    } finally {
        process.off('beforeExit', onDrain)
    }
}

export async function confirm(options: {
    readonly message: string
    readonly initialValue?: boolean
}): Promise<boolean> {
    return answer(
        clack.confirm({
            message: options.message,
            initialValue: options.initialValue ?? false
        })
    )
}

export async function text(options: {
    readonly message: string
    readonly placeholder?: string
    readonly defaultValue?: string
    readonly validate?: (value: string) => string | undefined
}): Promise<string> {
    return answer(
        clack.text({
            message: options.message,
            ...(options.placeholder !== undefined ? { placeholder: options.placeholder } : {}),
            ...(options.defaultValue !== undefined ? { defaultValue: options.defaultValue } : {}),
            ...(options.validate !== undefined ? { validate: options.validate } : {})
        })
    )
}

export async function password(options: {
    readonly message: string
    readonly validate?: (value: string) => string | undefined
}): Promise<string> {
    return answer(
        clack.password({
            message: options.message,
            ...(options.validate !== undefined ? { validate: options.validate } : {})
        })
    )
}

export interface SelectChoice<V extends string> {
    readonly value: V
    readonly label: string
    readonly hint?: string
}

export async function select<V extends string>(options: {
    readonly message: string
    readonly choices: readonly SelectChoice<V>[]
    readonly initialValue?: V
}): Promise<V> {
    const choices = options.choices.map(c => ({
        value: c.value,
        label: c.label,
        ...(c.hint !== undefined ? { hint: c.hint } : {})
    }))
    return answer(
        clack.select<V>({
            message: options.message,
            options: choices as never,
            ...(options.initialValue !== undefined ? { initialValue: options.initialValue } : {})
        })
    )
}
