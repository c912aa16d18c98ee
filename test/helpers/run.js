/**
 * Spawns the built `zapo` binary the way a CI job runs it: no TTY, NO_COLOR=1, piped stdio.
 * `runZapo(args, { cwd, env, input, timeoutMs, wrap }) → Promise<{ code, stdout, stderr }>`
 * (`wrap`: a command that runs node, e.g. `['setpriv', '--reuid=65534', …]` to run as another user)
 * (`code` is the exit code, or null with `signal` set when the child was killed).
 */

import { spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

/** `env` for runZapo that removes what the machine's environment could set for zapo. */
export const CLEAN_ZAPO_ENV = Object.freeze({
    ZAPO_STORE: undefined,
    ZAPO_SESSION: undefined,
    ZAPO_CONFIG: undefined,
    ZAPO_SERVER: undefined,
    ZAPO_SERVER_ROOT_CA: undefined
})
export const ZAPO_BIN = join(REPO_ROOT, 'bin', 'zapo.js')

export function runZapo(
    args,
    { cwd = process.cwd(), env = {}, input, timeoutMs = 30_000, wrap = [] } = {}
) {
    return new Promise((resolve, reject) => {
        const childEnv = { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0', ...env }
        // a test passes `undefined` to remove an inherited variable (e.g. ZAPO_STORE)
        for (const [key, value] of Object.entries(childEnv))
            if (value === undefined) delete childEnv[key]
        const command = [...wrap, process.execPath, ZAPO_BIN, ...args]
        const child = spawn(command[0], command.slice(1), {
            cwd,
            env: childEnv,
            stdio: ['pipe', 'pipe', 'pipe']
        })
        let stdout = ''
        let stderr = ''
        child.stdout.setEncoding('utf8').on('data', chunk => (stdout += chunk))
        child.stderr.setEncoding('utf8').on('data', chunk => (stderr += chunk))
        let timedOut = false
        const timer = setTimeout(() => {
            timedOut = true
            child.kill('SIGKILL')
        }, timeoutMs)
        child.on('error', error => {
            clearTimeout(timer)
            reject(error)
        })
        child.on('close', (code, signal) => {
            clearTimeout(timer)
            if (timedOut) {
                reject(
                    new Error(
                        `zapo ${args.join(' ')} timed out after ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`
                    )
                )
                return
            }
            resolve({ code, signal, stdout, stderr })
        })
        child.stdin.on('error', () => undefined)
        if (input !== undefined) child.stdin.end(input)
        else child.stdin.end()
    })
}
