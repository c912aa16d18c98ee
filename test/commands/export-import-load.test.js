/**
 * export and import load zapo-js once: through its CommonJS build, the one the store packages
 * load (src/zapo-cjs.ts), never its ESM build beside it (issue 12: one load of zapo-js).
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { test } from 'node:test'

import { ENV, passFile, seed, tempDir } from '../helpers/export.js'
import { loadedModules } from '../helpers/modules.js'

const ESM_BUILD = /\/node_modules\/zapo-js\/dist\/esm\//

test('export and import (dry run and into a store) never load the ESM build of zapo-js', async t => {
    const dir = tempDir(t)
    const src = `sqlite:${join(dir, 'src.sqlite')}`
    await seed(src, ['s1'])
    const pass = passFile(dir)
    const env = { ...ENV, ZAPO_PASSPHRASE: '', ZAPO_STORE: '', ZAPO_SESSION: '' }
    for (const args of [
        ['--store', src, 'export', '--session', 's1', '-o', 's1.age', '--passphrase-file', pass],
        ['import', 's1.age', '--dry-run', '--passphrase-file', pass],
        ['--store', `sqlite:${join(dir, 'dst.sqlite')}`, 'import', 's1.age'].concat([
            '--passphrase-file',
            pass
        ])
    ]) {
        const run = loadedModules(args, { cwd: dir, env })
        assert.equal(run.status, 0, `${args.join(' ')}: ${run.stderr}`)
        assert.ok(
            run.modules.some(m => m.includes('/dist/main.js')),
            'the hook saw the modules'
        )
        const esm = run.modules.filter(m => ESM_BUILD.test(m))
        assert.deepEqual(esm.slice(0, 3), [], `${args[2] ?? args[0]}: ESM zapo-js loaded`)
    }
})
