/**
 * One duration format for people (src/util/duration.ts): every human line that says how long
 * something took, lasts or is old goes through formatDuration; countdowns through
 * formatCountdown.
 */

import assert from 'node:assert/strict'
import test from 'node:test'
import { formatCountdown, formatDuration } from '../../dist/util/duration.js'
import { relativeTime } from '../../dist/ui/format.js'

test('formatDuration: one decimal below 10 of a unit, whole minutes, never ".0"', () => {
    const cases = [
        [0, '0ms'],
        [250, '250ms'],
        [999, '999ms'],
        [1_000, '1s'],
        [1_500, '1.5s'],
        [9_960, '10s'],
        [12_345, '12s'],
        [42_000, '42s'],
        [90_000, '2m'],
        [125_000, '2m'],
        [600_000, '10m'],
        [3_600_000, '1h'],
        [9_000_000, '2.5h'],
        [36 * 3_600_000, '36h'],
        [2 * 86_400_000, '2d'],
        [3.5 * 86_400_000, '3.5d'],
        [30 * 86_400_000, '30d'],
        [-1_500, '-1.5s']
    ]
    for (const [ms, text] of cases) assert.equal(formatDuration(ms), text, `${ms} ms`)
})

test('formatCountdown is a clock: minutes and two-digit seconds, rounded up, never negative', () => {
    assert.equal(formatCountdown(42_000), '0:42')
    assert.equal(formatCountdown(41_001), '0:42')
    assert.equal(formatCountdown(245_000), '4:05')
    assert.equal(formatCountdown(-5), '0:00')
})

test('relative times read as the one duration', () => {
    const now = 1_700_000_000_000
    assert.equal(relativeTime(now - 180_000, now), '3m ago')
    assert.equal(relativeTime(now - 9_000_000, now), '2.5h ago')
    assert.equal(relativeTime(now + 240_000, now), 'in 4m')
    for (const ms of [250, 1_500, 4_000, 12_345, 90_000, 9_000_000])
        assert.equal(relativeTime(now - ms, now), `${formatDuration(ms)} ago`)
})
