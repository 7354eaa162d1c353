/** Polls `probe` every 50 ms until it holds, or fails after `seconds` naming `what` (waits on real servers; never a timed assertion). */
export async function until(what: string, probe: () => Promise<boolean> | boolean, seconds = 60): Promise<void> {
    const end = Date.now() + seconds * 1000;
    while (!(await probe())) {
        if (Date.now() > end) {
            throw new Error(`gave up waiting for ${what}`);
        }
        await new Promise((r) => setTimeout(r, 50));
    }
}

/**
 * Polls `probe` every `everyMs` until it gives a value (undefined, or a throw, is "not yet"), or fails after `seconds`
 * naming `what`; resolves with that value.
 */
export async function untilValue<T>(what: string, probe: () => Promise<T | undefined>, seconds = 120, everyMs = 250): Promise<T> {
    const end = Date.now() + seconds * 1000;
    for (;;) {
        const v = await probe().catch(() => undefined);
        if (v !== undefined) {
            return v;
        }
        if (Date.now() > end) {
            throw new Error(`gave up waiting for ${what} (${seconds} s)`);
        }
        await new Promise((r) => setTimeout(r, everyMs));
    }
}
