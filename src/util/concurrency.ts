/** Runs `fn` over `items` with at most `limit` in flight; results keep the input order. */
export async function mapBounded<T, R>(
    items: readonly T[],
    limit: number,
    fn: (item: T) => Promise<R>
): Promise<R[]> {
    const out = new Array<R>(items.length)
    let next = 0
    const worker = async (): Promise<void> => {
        while (next < items.length) {
            const i = next++
            out[i] = await fn(items[i]!)
        }
    }
    await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker))
    return out
}

/**
 * A start rate: each call of the returned function resolves at the next free slot, slots
 * `1000 / perSecond` ms apart (the first at once). Aborting `signal` releases every waiter at once.
 */
export function startRate(perSecond: number, signal?: AbortSignal): () => Promise<void> {
    const interval = 1000 / perSecond
    let next = 0
    return () => {
        const now = performance.now()
        const at = Math.max(now, next)
        next = at + interval
        if (at <= now || signal?.aborted) return Promise.resolve()
        return new Promise<void>(resolve => {
            const done = (): void => {
                clearTimeout(timer)
                signal?.removeEventListener('abort', done)
                resolve()
            }
            const timer = setTimeout(done, at - now)
            signal?.addEventListener('abort', done, { once: true })
        })
    }
}
