import assert from 'node:assert/strict'

/** A failed command said one thing: one `zapo: …` line on stderr, no stack trace. */
export function assertOneErrorLine(result, pattern) {
    const lines = result.stderr.split('\n').filter(Boolean)
    assert.equal(lines.length, 1, `one stderr line, got: ${result.stderr}`)
    assert.match(lines[0], /^zapo: /)
    if (pattern) assert.match(lines[0], pattern)
    assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace')
}
