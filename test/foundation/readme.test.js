// The README is part of the product: its exit-code table and the commands
// it shows must match what zapo does.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import test from 'node:test'
import { fileURLToPath } from 'node:url'
import { EXIT_CODE_MEANINGS, EXIT_CODES, SEVERITY, worstExit } from '../../dist/errors.js'

const root = fileURLToPath(new URL('../..', import.meta.url))
const readme = readFileSync(root + 'README.md', 'utf8')

test('the README exit-code table is the one zapo uses', () => {
    const block = readme.split('<!-- exit-codes:start -->')[1].split('<!-- exit-codes:end -->')[0]
    const rows = block
        .split('\n')
        .filter(line => /^\| \d+ \|/.test(line))
        .map(line => line.split('|').map(cell => cell.trim()))
        .map(cells => ({ exitCode: Number(cells[1]), code: cells[2], meaning: cells[3] }))
    const expected = Object.entries(EXIT_CODES).map(([code, exitCode]) => ({
        exitCode,
        code,
        meaning: EXIT_CODE_MEANINGS[code]
    }))
    assert.deepEqual(rows, expected)
})

test('the README severity order is the one table, and it ranks every exit code once', () => {
    assert.deepEqual([...SEVERITY].sort(), Object.keys(EXIT_CODES).sort())
    assert.equal(new Set(SEVERITY).size, SEVERITY.length)
    const block = readme.split('<!-- severity:start -->')[1].split('<!-- severity:end -->')[0]
    const listed = block
        .split(',')
        .map(item => item.trim())
        .filter(Boolean)
    assert.deepEqual(
        listed,
        SEVERITY.map(code => `${code} (${EXIT_CODES[code]})`)
    )
    // a banned account outranks a logged-out device, whatever the order they come in
    assert.equal(worstExit(['LOGGED_OUT', 'ACCOUNT_BLOCKED']), 'ACCOUNT_BLOCKED')
    assert.equal(worstExit(['ACCOUNT_BLOCKED', 'LOGGED_OUT']), 'ACCOUNT_BLOCKED')
    assert.equal(worstExit([]), 'OK')
})

test('every zapo command the README shows exists', () => {
    const help = spawnSync(process.execPath, [root + 'bin/zapo.js', '--help'], {
        encoding: 'utf8'
    }).stdout
    // code: fenced blocks and inline `…` spans
    const code = [
        ...readme.matchAll(/```[a-z]*\n([\s\S]*?)```/g),
        ...readme.matchAll(/`([^`\n]+)`/g)
    ]
        .map(m => m[1])
        .join('\n')
    const commands = new Set(
        [...code.matchAll(/(?:^|\s|&& )(?:\.\/bin\/zapo\.js|zapo) ([a-z][a-z-]+)/gm)].map(m => m[1])
    )
    assert.ok(commands.has('pair') && commands.has('migrate'), 'the README shows commands')
    const missing = [...commands].filter(c => !new RegExp(`^  ${c}\\b`, 'm').test(help))
    assert.deepEqual(
        missing,
        [],
        `README mentions commands zapo does not have: ${missing.join(', ')}`
    )
})

test('every flag the README passes to a zapo command is one that command takes', () => {
    const code = [...readme.matchAll(/```[a-z]*\n([\s\S]*?)```/g)].map(m => m[1]).join('\n')
    const helpOf = new Map()
    const problems = []
    for (const line of code.split('\n')) {
        for (const m of line.matchAll(
            /(?:^|\s|&& )(?:\.\/bin\/zapo\.js|zapo) ((?:[a-z][a-z-]+)(?: (?:list|ls|show))?)((?: [^|&;#]*)?)/g
        )) {
            const command = m[1]
            if (!helpOf.has(command)) {
                const result = spawnSync(
                    process.execPath,
                    [root + 'bin/zapo.js', ...command.split(' '), '--help'],
                    { encoding: 'utf8' }
                )
                helpOf.set(command, result.stdout)
            }
            for (const flag of (m[2] ?? '').match(/--[a-z][a-z-]*/g) ?? []) {
                if (!new RegExp(`(^|[\\s,])${flag}\\b`, 'm').test(helpOf.get(command)))
                    problems.push(`zapo ${command} ${flag}`)
            }
        }
    }
    assert.deepEqual(problems, [], `README flags zapo does not take: ${problems.join(', ')}`)
})

/** The README's opening block: the lines a new user copies first. */
function openingLines() {
    const block = /```\n([\s\S]*?)```/.exec(readme)[1]
    return block
        .split('\n')
        .map(line => line.replace(/#.*$/, '').trim())
        .filter(line => line !== '')
}

test('the README opens with the four lines of issue 16', () => {
    assert.deepEqual(openingLines(), [
        'zapo pair --session tenant-42',
        'zapo migrate --from sqlite --to postgres',
        'zapo logs --json',
        'zapo check --json'
    ])
})

test('each opening line works as written: sandbox through ZAPO_SERVER, sqlite = ./zapo.sqlite, postgres = DATABASE_URL', async t => {
    const { spawn } = await import('node:child_process')
    const { mkdtempSync, rmSync } = await import('node:fs')
    const { tmpdir } = await import('node:os')
    const { join } = await import('node:path')
    const { runZapo, ZAPO_BIN, CLEAN_ZAPO_ENV } = await import('../helpers/run.js')
    const { storeUrls, dropStore } = await import('../helpers/fixtures.js')
    const { digestOf } = await import('../helpers/export.js')
    const { startTestSandbox } = await import('../sandbox/helpers.js')

    const sandbox = await startTestSandbox(t)
    const cwd = mkdtempSync(join(tmpdir(), 'zapo-readme-'))
    const postgres = storeUrls().postgres
    t.after(async () => {
        await dropStore(postgres)
        rmSync(cwd, { recursive: true, force: true })
    })
    const env = {
        ...CLEAN_ZAPO_ENV,
        ZAPO_SERVER: sandbox.url,
        ZAPO_SERVER_ROOT_CA: sandbox.rootCa,
        DATABASE_URL: postgres,
        PGHOST: undefined,
        PGDATABASE: undefined
    }
    const [pair, migrate, logs, check] = openingLines().map(line => line.split(/\s+/).slice(1))

    // zapo pair --session tenant-42: no terminal, so the QR is printed once with its text; the
    // sandbox's phone scans that text
    const paired = new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [ZAPO_BIN, ...pair], {
            cwd,
            env: Object.fromEntries(
                Object.entries({ ...process.env, NO_COLOR: '1', ...env }).filter(
                    ([, v]) => v !== undefined
                )
            ),
            stdio: ['ignore', 'pipe', 'pipe']
        })
        let stdout = ''
        let stderr = ''
        let scanned = false
        const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
        child.stdout.setEncoding('utf8').on('data', c => (stdout += c))
        child.stderr.setEncoding('utf8').on('data', c => {
            stderr += c
            const qr = /^([^\s,]+(?:,[A-Za-z0-9+/=]+){3,4})$/m.exec(stderr)
            if (qr && !scanned) {
                scanned = true
                sandbox.scan(qr[1]).catch(reject)
            }
        })
        child.on('error', reject)
        child.on('close', code => {
            clearTimeout(timer)
            resolve({ code, stdout, stderr })
        })
    })
    const p = await paired
    assert.equal(p.code, 0, p.stderr)
    assert.match(p.stdout, /paired session tenant-42 → sqlite:.*zapo\.sqlite/)

    // zapo migrate --from sqlite --to postgres: every session (the only one), no terminal to ask on
    const m = await runZapo(migrate, { cwd, env, timeoutMs: 60_000 })
    assert.equal(m.code, 0, m.stderr)
    assert.match(m.stderr, /migrating 1 session\(s\) from sqlite:.*zapo\.sqlite to postgres/)
    const sqlite = `sqlite:${join(cwd, 'zapo.sqlite')}`
    const [source, target] = await Promise.all([
        digestOf(sqlite, 'tenant-42'),
        digestOf(postgres, 'tenant-42')
    ])
    assert.ok(source.counts.credentials, 'the source holds the paired credentials')
    assert.deepEqual(target.digests, source.digests, 'postgres holds the same records')

    // zapo logs --json: every session of ./zapo.sqlite, named on stderr; a message arrives
    const child = spawn(process.execPath, [ZAPO_BIN, ...logs], {
        cwd,
        env: Object.fromEntries(
            Object.entries({ ...process.env, NO_COLOR: '1', ...env }).filter(
                ([, v]) => v !== undefined
            )
        ),
        stdio: ['ignore', 'pipe', 'pipe']
    })
    t.after(() => child.exitCode === null && child.kill('SIGKILL'))
    let out = ''
    let err = ''
    child.stderr.setEncoding('utf8').on('data', c => (err += c))
    const ended = new Promise(resolve => child.on('close', code => resolve(code)))
    const until = predicate =>
        new Promise((resolve, reject) => {
            const timer = setTimeout(
                () => reject(new Error(`no such line\nstdout:\n${out}\nstderr:\n${err}`)),
                20_000
            )
            const look = () => {
                const line = out
                    .split('\n')
                    .filter(l => l.startsWith('{'))
                    .map(l => JSON.parse(l))
                    .find(predicate)
                if (line) {
                    clearTimeout(timer)
                    child.stdout.off('data', look)
                    resolve(line)
                }
            }
            child.stdout.on('data', look)
            look()
        })
    child.stdout.setEncoding('utf8').on('data', c => (out += c))
    await until(r => r.type === 'connection' && r.status === 'open' && r.session === 'tenant-42')
    assert.match(err, /connecting session tenant-42 to the test server/)
    const meJid = /JID\s+(\S+)/.exec(p.stdout)[1]
    await sandbox.waitForDevice(meJid)
    await sandbox.sendMessage({ to: meJid, from: '15559990000@s.whatsapp.net', text: 'readme' })
    const message = await until(r => r.type === 'message')
    assert.equal(message.text, 'readme')
    child.kill('SIGINT')
    assert.equal(await ended, 0, err)

    // zapo check --json: every session, one JSON document, exit 0
    const c = await runZapo(check, { cwd, env, timeoutMs: 60_000 })
    assert.equal(c.code, 0, c.stderr + c.stdout)
    const report = JSON.parse(c.stdout)
    assert.deepEqual(
        report.sessions.map(s => [s.sessionId, s.result]),
        [['tenant-42', 'OK']]
    )
})
