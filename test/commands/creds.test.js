/**
 * `zapo creds show`, run as the built binary against real stores: redaction, --reveal,
 * integrity failures written through the store contracts, missing sessions.
 */

import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { generateRegistrationInfo, generateSignedPreKey } from 'zapo-js/signal'
import { assertOneErrorLine } from '../helpers/cli-assert.js'
import { dropStore, makeSession, openTestStore, storeUrls } from '../helpers/fixtures.js'
import { REPO_ROOT, runZapo } from '../helpers/run.js'
import { LEAN_SHAPE, UNPAIRED_SHAPE } from '../helpers/shapes.js'

const cwd = mkdtempSync(join(tmpdir(), 'zapo-creds-'))
const env = { ZAPO_STORE: undefined, ZAPO_SESSION: undefined, ZAPO_CONFIG: undefined }
const zapo = (args, options = {}) => runZapo(args, { cwd, env, ...options })

const b64 = bytes => Buffer.from(bytes).toString('base64')
const hex = bytes => Buffer.from(bytes).toString('hex')

/** Every secret of a session's credentials, as the strings that would leak them. */
function secretStrings(credentials) {
    const secrets = [
        credentials.registrationInfo.identityKeyPair.privKey,
        credentials.signedPreKey.keyPair.privKey,
        credentials.noiseKeyPair.privKey,
        credentials.advSecretKey,
        ...(credentials.companionEncStatic ? [credentials.companionEncStatic] : [])
    ]
    return secrets.flatMap(bytes => [b64(bytes), hex(bytes), b64(bytes).replace(/=+$/, '')])
}

function assertNoSecrets(output, credentials, where) {
    for (const secret of secretStrings(credentials)) {
        assert.ok(!output.includes(secret), `${where}: a secret appears in the output`)
    }
}

/**
 * Runs zapo on a pseudo-terminal (util-linux script(1)); once `prompt` shows up, types
 * `answer` and Enter. Resolves with the exit code and everything the terminal showed.
 */
function onTerminal(args, prompt, answer) {
    const quoted = ['node', join(REPO_ROOT, 'bin', 'zapo.js'), ...args]
        .map(a => `'${a.replace(/'/g, `'\\''`)}'`)
        .join(' ')
    return new Promise((resolve, reject) => {
        // a fresh pty has 0 columns: give it a size, or the prompt wraps after every character
        const child = spawn('script', ['-qec', `stty cols 160 rows 50; ${quoted}`, '/dev/null'], {
            cwd,
            env: { ...process.env, NO_COLOR: '1', ZAPO_STORE: '', ZAPO_SESSION: '' },
            stdio: ['pipe', 'pipe', 'pipe']
        })
        let output = ''
        let answered = false
        const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
        const onData = chunk => {
            output += chunk
            if (!answered && prompt.test(output)) {
                answered = true
                child.stdin.write(answer)
                setTimeout(() => child.stdin.write('\r'), 300)
            }
        }
        child.stdout.setEncoding('utf8').on('data', onData)
        child.stderr.setEncoding('utf8').on('data', onData)
        child.on('error', reject)
        child.on('close', code => {
            clearTimeout(timer)
            resolve({ code, output })
        })
    })
}

function flip(bytes, index = 5) {
    const copy = new Uint8Array(bytes)
    copy[index] ^= 0x01
    return copy
}

describe('zapo creds show', () => {
    const urls = storeUrls()
    const url = urls.sqlite
    /** `zapo creds show --session <session> --store <url> [flags]` */
    const show = (session, ...flags) =>
        zapo(['creds', 'show', '--session', session, '--store', url, ...flags])
    let alpha
    let unpaired
    const pgUrl = urls.postgres

    before(async () => {
        const store = await openTestStore(url, 'write')
        try {
            alpha = await makeSession(store, 'alpha', {
                preKeys: 5,
                uploaded: 2,
                signalSessions: 1,
                identities: 1
            })
            // a companion static key too, so that every secret field of the credentials is exercised
            alpha.credentials = {
                ...alpha.credentials,
                companionEncStatic: new Uint8Array(randomBytes(32))
            }
            await store.domain('auth', 'alpha').save(alpha.credentials)
            unpaired = await makeSession(store, 'fresh', { ...UNPAIRED_SHAPE, preKeys: 3 })
            // altered signed prekey in the signal domain only (the contract's own setter)
            const spkSignal = await makeSession(store, 'spk-signal', {
                signalSessions: 0,
                identities: 0
            })
            await store.domain('signal', 'spk-signal').setSignedPreKey({
                ...spkSignal.signedPreKey,
                signature: flip(spkSignal.signedPreKey.signature)
            })
            // altered signed prekey signature in the credentials themselves
            const spkAuth = await makeSession(store, 'spk-auth', {
                signalSessions: 0,
                identities: 0
            })
            await store.domain('auth', 'spk-auth').save({
                ...spkAuth.credentials,
                signedPreKey: {
                    ...spkAuth.credentials.signedPreKey,
                    signature: flip(spkAuth.credentials.signedPreKey.signature)
                }
            })
            // the signal domain holds another identity than the credentials
            await makeSession(store, 'mismatch', { signalSessions: 0, identities: 0 })
            await store
                .domain('signal', 'mismatch')
                .setRegistrationInfo(await generateRegistrationInfo())
            // a healthy rotation: zapo-js puts the next signed prekey in the signal domain only
            const rotated = await makeSession(store, 'rotated', {
                signalSessions: 0,
                identities: 0
            })
            await store
                .domain('signal', 'rotated')
                .setSignedPreKey(
                    await generateSignedPreKey(
                        rotated.signedPreKey.keyId + 1,
                        new Uint8Array(rotated.registration.identityKeyPair.privKey)
                    )
                )
            // a paired device whose own ADV device signature was altered
            const adv = await makeSession(store, 'adv', { signalSessions: 0, identities: 0 })
            await store.domain('auth', 'adv').save({
                ...adv.credentials,
                signedIdentity: {
                    ...adv.credentials.signedIdentity,
                    deviceSignature: flip(adv.credentials.signedIdentity.deviceSignature, 10)
                }
            })
            // Signal records without credentials (half-deleted)
            await makeSession(store, 'headless', { ...LEAN_SHAPE, paired: false })
            await store.domain('auth', 'headless').clear()
        } finally {
            await store.close()
        }
        const pg = await openTestStore(pgUrl, 'write')
        try {
            const tampered = await makeSession(pg, 'pg-spk', LEAN_SHAPE)
            await pg.domain('auth', 'pg-spk').save({
                ...tampered.credentials,
                signedPreKey: {
                    ...tampered.credentials.signedPreKey,
                    signature: flip(tampered.credentials.signedPreKey.signature, 40)
                }
            })
        } finally {
            await pg.close()
        }
    })

    after(async () => {
        await dropStore(url)
        await dropStore(pgUrl)
    })

    test('a consistent paired session: exit 0, every check passes, secrets redacted', async () => {
        const result = await show('alpha')
        assert.equal(result.code, 0, result.stderr)
        assert.match(result.stdout, /Session alpha/)
        assert.match(result.stdout, /paired\s+yes/)
        assert.ok(result.stdout.includes(alpha.credentials.meJid))
        assert.match(result.stdout, /Integrity\s+consistent \(8 passed, 0 failed, 0 skipped\)/)
        assert.match(result.stdout, /\[redacted\]/)
        assertNoSecrets(result.stdout + result.stderr, alpha.credentials, 'human output')
    })

    test('--json: one document, integrity ok, fingerprints instead of keys, secrets redacted', async () => {
        const result = await show('alpha', '--json')
        assert.equal(result.code, 0, result.stderr)
        const doc = JSON.parse(result.stdout)
        assert.equal(doc.sessionId, 'alpha')
        assert.equal(doc.paired, true)
        assert.equal(doc.account.meJid, alpha.credentials.meJid)
        assert.equal(doc.account.meLid, alpha.credentials.meLid)
        assert.equal(
            doc.credentials.registrationId,
            alpha.credentials.registrationInfo.registrationId
        )
        assert.equal(doc.credentials.identityKey.privKey, '[redacted]')
        assert.equal(doc.credentials.signedPreKey.privKey, '[redacted]')
        assert.equal(doc.credentials.noiseKey.privKey, '[redacted]')
        assert.equal(doc.credentials.advSecretKey, '[redacted]')
        assert.equal(doc.credentials.companionEncStatic, '[redacted]')
        assert.match(doc.credentials.identityKey.fingerprint, /^[0-9a-f]{16}$/)
        assert.equal(
            doc.credentials.identityKey.pubKey,
            undefined,
            'no full public key unless revealed'
        )
        assert.equal(doc.signal.identityKey.fingerprint, doc.credentials.identityKey.fingerprint)
        assert.equal(doc.integrity.ok, true)
        assert.deepEqual(
            doc.integrity.checks.map(c => [c.name, c.status]),
            [
                ['identity-key-pair', 'pass'],
                ['noise-key-pair', 'pass'],
                ['signed-prekey-key-pair', 'pass'],
                ['signed-prekey-signature', 'pass'],
                ['registration-identity', 'pass'],
                ['signal-signed-prekey', 'pass'],
                ['adv-account-signature', 'pass'],
                ['adv-device-signature', 'pass']
            ]
        )
        assertNoSecrets(result.stdout + result.stderr, alpha.credentials, 'JSON output')
    })

    test('an unpaired session is not an error: paired false, ADV checks skipped', async () => {
        const result = await show('fresh', '--json')
        assert.equal(result.code, 0, result.stderr)
        const doc = JSON.parse(result.stdout)
        assert.equal(doc.paired, false)
        assert.equal(doc.account.meJid, null)
        const adv = doc.integrity.checks.filter(c => c.name.startsWith('adv-'))
        assert.deepEqual(
            adv.map(c => c.status),
            ['skip', 'skip']
        )
        assertNoSecrets(result.stdout, unpaired.credentials, 'unpaired JSON')
    })

    for (const [session, failing, where] of [
        ['spk-signal', 'signal-signed-prekey', 'sqlite'],
        ['spk-auth', 'signed-prekey-signature', 'sqlite'],
        ['mismatch', 'registration-identity', 'sqlite'],
        ['adv', 'adv-device-signature', 'sqlite'],
        ['pg-spk', 'signed-prekey-signature', 'postgres']
    ]) {
        test(`integrity failure (${failing}, ${where}) exits 5 and names the check`, async () => {
            const storeUrl = where === 'postgres' ? pgUrl : url
            const json = await zapo([
                'creds',
                'show',
                '--session',
                session,
                '--store',
                storeUrl,
                '--json'
            ])
            assert.equal(json.code, 5, json.stderr)
            const doc = JSON.parse(json.stdout)
            assert.equal(doc.integrity.ok, false)
            const failed = doc.integrity.checks.filter(c => c.status === 'fail').map(c => c.name)
            assert.ok(failed.includes(failing), `failed checks: ${failed.join(', ')}`)
            const human = await zapo(['creds', 'show', '--session', session, '--store', storeUrl])
            assert.equal(human.code, 5)
            assert.match(human.stdout, /Integrity\s+FAILED/)
            assert.match(human.stdout, new RegExp(`FAIL\\s+${failing}`))
        })
    }

    test('a signed prekey rotated in the signal domain is consistent; sessions list shows the new id', async () => {
        const result = await show('rotated', '--json')
        assert.equal(result.code, 0, result.stdout)
        const doc = JSON.parse(result.stdout)
        assert.equal(doc.signal.signedPreKey.keyId, doc.credentials.signedPreKey.keyId + 1)
        const check = doc.integrity.checks.find(c => c.name === 'signal-signed-prekey')
        assert.equal(check.status, 'pass')
        assert.match(check.detail, /rotation/)
        const list = await zapo(['sessions', 'list', '--store', url, '--json'])
        const entry = JSON.parse(list.stdout).sessions.find(s => s.id === 'rotated')
        assert.equal(entry.signedPreKey.keyId, doc.signal.signedPreKey.keyId)
    })

    test('Signal records without credentials: exit 5, one line', async () => {
        const result = await show('headless')
        assert.equal(result.code, 5)
        assertOneErrorLine(result, /holds records but no credentials/)
        assert.equal(result.stdout, '')
    })

    test('a missing session: exit 3, one line; --json gives the error document', async () => {
        const result = await show('nobody')
        assert.equal(result.code, 3)
        assertOneErrorLine(result, /no session "nobody"/)
        const json = await show('nobody', '--json')
        assert.equal(json.code, 3)
        assert.equal(JSON.parse(json.stdout).error.code, 'SESSION_NOT_FOUND')
    })

    test('no --session anywhere: usage error naming --session', async () => {
        const result = await zapo(['creds', 'show', '--store', url])
        assert.equal(result.code, 2)
        assertOneErrorLine(result, /--session/)
    })

    test('--reveal without a terminal and without --yes: exit 2, names --yes, prints nothing secret', async () => {
        const result = await show('alpha', '--reveal')
        assert.equal(result.code, 2)
        assertOneErrorLine(result, /--yes/)
        assert.equal(result.stdout, '')
        assertNoSecrets(result.stdout + result.stderr, alpha.credentials, '--reveal refused')
        const json = await show('alpha', '--reveal', '--json')
        assert.equal(json.code, 2)
        assert.equal(JSON.parse(json.stdout).error.code, 'USAGE')
        assertNoSecrets(json.stdout + json.stderr, alpha.credentials, '--reveal --json refused')
    })

    test('--reveal --yes prints the private keys (human and JSON)', async () => {
        const result = await show('alpha', '--reveal', '--yes')
        assert.equal(result.code, 0, result.stderr)
        assert.ok(
            result.stdout.includes(b64(alpha.credentials.registrationInfo.identityKeyPair.privKey))
        )
        assert.ok(result.stdout.includes(b64(alpha.credentials.noiseKeyPair.privKey)))
        const json = await show('alpha', '--reveal', '--yes', '--json')
        assert.equal(json.code, 0, json.stderr)
        const doc = JSON.parse(json.stdout)
        assert.equal(
            doc.credentials.identityKey.privKey,
            b64(alpha.credentials.registrationInfo.identityKeyPair.privKey)
        )
        assert.equal(
            doc.credentials.signedPreKey.privKey,
            b64(alpha.credentials.signedPreKey.keyPair.privKey)
        )
        assert.equal(doc.credentials.noiseKey.privKey, b64(alpha.credentials.noiseKeyPair.privKey))
        assert.equal(doc.credentials.advSecretKey, b64(alpha.credentials.advSecretKey))
        assert.equal(doc.credentials.companionEncStatic, b64(alpha.credentials.companionEncStatic))
        assert.equal(
            doc.credentials.identityKey.pubKey,
            b64(alpha.credentials.registrationInfo.identityKeyPair.pubKey)
        )
    })

    test('--reveal on a terminal asks first: yes prints the keys, no prints nothing secret (exit 22, declined)', async t => {
        if (spawnSync('script', ['--version']).status !== 0) {
            t.skip('no script(1) to give zapo a terminal')
            return
        }
        for (const [answer, code] of [
            ['y', 0],
            ['n', 22]
        ]) {
            const result = await onTerminal(
                ['creds', 'show', '--session', 'alpha', '--store', url, '--reveal'],
                /Print the private keys/,
                answer
            )
            assert.equal(result.code, code, result.output)
            assert.match(result.output, /Print the private keys of session "alpha"/)
            const identityPriv = b64(alpha.credentials.registrationInfo.identityKeyPair.privKey)
            if (answer === 'y')
                assert.ok(result.output.includes(identityPriv), 'revealed after yes')
            else {
                assertNoSecrets(result.output, alpha.credentials, 'declined --reveal')
                assert.match(result.output, /not revealed/)
            }
        }
    })

    test('--yes without --reveal is a usage error', async () => {
        const result = await show('alpha', '--yes')
        assert.equal(result.code, 2)
        assertOneErrorLine(result, /--reveal/)
    })
})

describe('zapo creds show on a device paired through the real pairing flow', () => {
    test('zapo pair --sandbox, then creds show: every check passes, sessions list agrees', async () => {
        const dir = mkdtempSync(join(tmpdir(), 'zapo-creds-paired-'))
        const pair = await runZapo(['pair', '--sandbox', '--session', 'real', '--json'], {
            cwd: dir,
            env,
            timeoutMs: 60_000
        })
        assert.equal(pair.code, 0, pair.stderr)
        const paired = pair.stdout
            .split('\n')
            .filter(Boolean)
            .map(line => JSON.parse(line))
            .find(event => event.event === 'paired')
        assert.ok(paired, pair.stdout)
        const result = await runZapo(['creds', 'show', '--session', 'real', '--json'], {
            cwd: dir,
            env
        })
        assert.equal(result.code, 0, result.stdout + result.stderr)
        const doc = JSON.parse(result.stdout)
        assert.equal(doc.paired, true)
        assert.equal(doc.account.meJid, paired.meJid)
        assert.deepEqual(
            doc.integrity.checks.filter(c => c.status !== 'pass').map(c => c.name),
            []
        )
        const list = await runZapo(['sessions', 'list', '--json'], { cwd: dir, env })
        assert.equal(list.code, 0, list.stderr)
        const [entry] = JSON.parse(list.stdout).sessions
        assert.equal(entry.id, 'real')
        assert.equal(entry.meJid, paired.meJid)
        assert.equal(entry.counts.credentials, true)
        rmSync(dir, { recursive: true, force: true })
    })
})
