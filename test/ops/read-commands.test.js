/**
 * The programmatic side of sessions list, creds show and doctor (dist/ops/…): results come
 * back as values or thrown ZapoErrors; nothing is printed and nothing exits.
 */

import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { ZapoError } from '../../dist/errors.js'
import { runCredsShow } from '../../dist/ops/creds.js'
import { runDoctor } from '../../dist/ops/doctor.js'
import { runSessionsList } from '../../dist/ops/sessions.js'
import { toJsonValue } from '../../dist/output.js'
import { parseStoreUrl, singleStore } from '../../dist/store/address.js'
import { dropStore, makeSession, openTestStore, storeUrls } from '../helpers/fixtures.js'

const urls = storeUrls()
const spec = singleStore(parseStoreUrl(urls.sqlite, 'flag', process.cwd()))
let made

before(async () => {
    const store = await openTestStore(urls.sqlite, 'write')
    try {
        made = await makeSession(store, 'ops-1', { signalSessions: 1, identities: 1 })
    } finally {
        await store.close()
    }
})

after(async () => {
    await dropStore(urls.sqlite)
})

/** Runs fn with stdout/stderr writes and process.exit trapped; returns what was attempted. */
async function silently(fn) {
    const writes = []
    const { write: out } = process.stdout
    const { write: err } = process.stderr
    const exit = process.exit
    process.stdout.write = chunk => (writes.push(['stdout', String(chunk)]), true)
    process.stderr.write = chunk => (writes.push(['stderr', String(chunk)]), true)
    process.exit = code => {
        throw new Error(`process.exit(${code}) called`)
    }
    try {
        return { value: await fn(), writes }
    } catch (error) {
        return { error, writes }
    } finally {
        process.stdout.write = out
        process.stderr.write = err
        process.exit = exit
    }
}

test('runSessionsList, runCredsShow and runDoctor return values and print nothing', async () => {
    const list = await silently(() => runSessionsList({ store: spec }))
    assert.deepEqual(list.writes, [])
    assert.deepEqual(
        list.value.sessions.map(s => s.id),
        ['ops-1']
    )

    const creds = await silently(() => runCredsShow({ store: spec, sessionId: 'ops-1' }))
    assert.deepEqual(creds.writes, [])
    assert.equal(creds.value.integrity.ok, true)
    // the result keeps secrets under redacted field names: serialised, none survives
    const json = JSON.stringify(toJsonValue(creds.value))
    for (const secret of [
        made.credentials.noiseKeyPair.privKey,
        made.credentials.advSecretKey,
        made.credentials.registrationInfo.identityKeyPair.privKey
    ]) {
        assert.ok(!json.includes(Buffer.from(secret).toString('base64')))
    }

    const doctor = await silently(() => runDoctor({ store: spec }))
    assert.deepEqual(doctor.writes, [])
    assert.equal(doctor.value.checks.find(c => c.name === 'store:sessions').data.sessions, 1)
})

test('a missing session is a thrown ZapoError, not output', async () => {
    const result = await silently(() => runCredsShow({ store: spec, sessionId: 'nobody' }))
    assert.deepEqual(result.writes, [])
    assert.ok(result.error instanceof ZapoError)
    assert.equal(result.error.code, 'SESSION_NOT_FOUND')
})
