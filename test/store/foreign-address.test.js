/** The store grammar of the read-only foreign kinds: baileys:, whatsmeow:, whatsmeow+postgres:. */

import assert from 'node:assert/strict'
import test from 'node:test'
import { ZapoError } from '../../dist/errors.js'
import { parseStoreUrl, resolveStoreSpec, singleStore } from '../../dist/store/address.js'
import { assertWritable } from '../../dist/store/open.js'

const cwd = '/srv/app'
const noConfig = { path: null, backends: {}, domains: {}, check: {} }

function usage(fn, pattern) {
    assert.throws(fn, error => {
        assert.ok(error instanceof ZapoError, `expected ZapoError, got ${error}`)
        assert.equal(error.code, 'USAGE')
        assert.match(error.message, pattern)
        assert.ok(!error.message.includes('\n'), 'one line')
        return true
    })
}

test('baileys: a folder, relative or absolute, with an optional session name', () => {
    const spec = parseStoreUrl('baileys:./auth_info', 'flag', cwd)
    assert.equal(spec.kind, 'baileys')
    assert.equal(spec.target, '/srv/app/auth_info')
    assert.equal(spec.sessionName, undefined)
    const named = parseStoreUrl('baileys:///data/waha/default?session=t42', 'flag', cwd)
    assert.equal(named.target, '/data/waha/default')
    assert.equal(named.sessionName, 't42')
    assert.equal(named.display, 'baileys:/data/waha/default?session=t42')
    usage(() => parseStoreUrl('baileys:', 'flag', cwd), /has no folder/)
    usage(() => parseStoreUrl('baileys:./a?keyPrefix=x', 'flag', cwd), /only option is \?session/)
    usage(() => parseStoreUrl('baileys:./a?session=a%20b', 'flag', cwd), /session id "a b"/)
    assert.equal(
        resolveStoreSpec('baileys', { config: noConfig, env: { ZAPO_BAILEYS: '/x' }, cwd }).primary
            .target,
        '/x'
    )
})

test('whatsmeow: a SQLite path or a PostgreSQL URL, the password never shown', () => {
    const file = parseStoreUrl('whatsmeow:./session.db', 'flag', cwd)
    assert.equal(file.kind, 'whatsmeow')
    assert.equal(file.target, '/srv/app/session.db')
    const pg = parseStoreUrl(
        'whatsmeow+postgres://gows:s3cret@db:5433/gows?session=one',
        'flag',
        cwd
    )
    assert.equal(pg.kind, 'whatsmeow')
    assert.equal(pg.target, 'postgres://gows:s3cret@db:5433/gows')
    assert.equal(pg.sessionName, 'one')
    assert.doesNotMatch(pg.display, /s3cret/)
    assert.equal(
        parseStoreUrl('whatsmeow+postgresql://db/x', 'flag', cwd).target,
        'postgres://db/x'
    )
    usage(
        () => parseStoreUrl('whatsmeow:./s.db?tablePrefix=x', 'flag', cwd),
        /only option is \?session/
    )
})

test('writing to a foreign store is refused in one line before anything opens', () => {
    for (const address of ['baileys:./a', 'whatsmeow:./s.db', 'whatsmeow+postgres://db/x']) {
        const spec = singleStore(parseStoreUrl(address, 'flag', cwd))
        usage(
            () => assertWritable(spec, 'be imported into'),
            /which zapo only reads: it cannot be imported into/
        )
    }
    assert.doesNotThrow(() =>
        assertWritable(singleStore(parseStoreUrl('sqlite:./z.sqlite', 'flag', cwd)), 'x')
    )
})
