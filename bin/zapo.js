#!/usr/bin/env node
// A signal that arrives while zapo loads is held here and handed to main, which owns every
// interrupt from then on and ends the process (docs/interrupts.md).
const held = []
const hold = signal => void held.push(signal)
process.on('SIGINT', hold)
process.on('SIGTERM', hold)
const { main } = await import('../dist/main.js')
const run = main(process.argv, { heldSignals: held })
process.off('SIGINT', hold)
process.off('SIGTERM', hold)
await run
