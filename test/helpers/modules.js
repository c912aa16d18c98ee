// Which modules a zapo run loads: the built binary is spawned with a loader hook that records
// every URL it resolves. `loadedModules(args, { cwd, env }) → { status, stdout, stderr, modules }`.

import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { ZAPO_BIN } from './run.js'

export function loadedModules(args, { cwd, env = {} } = {}) {
    const dir = mkdtempSync(join(tmpdir(), 'zapo-modules-'))
    try {
        const log = join(dir, 'modules.log')
        const hooks = join(dir, 'hooks.mjs')
        writeFileSync(
            hooks,
            `import { appendFileSync } from 'node:fs'
export async function resolve(specifier, context, next) {
    const result = await next(specifier, context)
    appendFileSync(${JSON.stringify(log)}, result.url + '\\n')
    return result
}`
        )
        const register = join(dir, 'register.mjs')
        writeFileSync(
            register,
            `import { register } from 'node:module'\nregister(${JSON.stringify('file://' + hooks)})\n`
        )
        writeFileSync(log, '')
        const result = spawnSync(process.execPath, ['--import', register, ZAPO_BIN, ...args], {
            cwd: cwd ?? dir,
            encoding: 'utf8',
            env: { ...process.env, NO_COLOR: '1', ...env }
        })
        const modules = readFileSync(log, 'utf8').split('\n').filter(Boolean)
        return { ...result, modules }
    } finally {
        rmSync(dir, { recursive: true, force: true })
    }
}
