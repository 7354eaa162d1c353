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
