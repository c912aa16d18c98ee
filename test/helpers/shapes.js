/** `makeSession` shapes the command tests share (on top of fixtures.js's DEFAULT_SHAPE). */

/** Paired, but no Signal sessions, identities, sender keys or distributions. */
export const LEAN_SHAPE = Object.freeze({
    signalSessions: 0,
    identities: 0,
    senderKeys: 0,
    distributions: 0
})

/** A device that never paired: credentials and a few unuploaded prekeys, nothing else. */
export const UNPAIRED_SHAPE = Object.freeze({
    ...LEAN_SHAPE,
    paired: false,
    uploaded: 0,
    appStateKeys: 0,
    collections: 0,
    privacyTokens: 0
})
