import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'

/** The package version, read once from package.json next to dist/. */
export const VERSION: string = (
    JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
        version: string
    }
).version

/** The installed zapo-js version (what every connecting command runs on), or null when not found. */
export function zapoJsVersion(): string | null {
    try {
        const require = createRequire(import.meta.url)
        let dir = dirname(require.resolve('zapo-js'))
        for (;;) {
            const file = join(dir, 'package.json')
            if (existsSync(file)) {
                const pkg = JSON.parse(readFileSync(file, 'utf8')) as {
                    name?: string
                    version?: string
                }
                if (pkg.name === 'zapo-js') return pkg.version ?? null
            }
            const parent = dirname(dir)
            if (parent === dir) return null
            dir = parent
        }
    } catch {
        return null
    }
}

/** What `zapo --version` prints: zapo's version and the zapo-js it runs on. */
export function versionLine(): string {
    return `zapo ${VERSION} (zapo-js ${zapoJsVersion() ?? 'not installed'}, Node ${process.versions.node})`
}
