/** Polls `check` every `intervalMs` until it holds; throws naming `what` after `timeoutMs`. Resolves with the time it took. */
export async function until(check: () => Promise<boolean> | boolean, timeoutMs: number, what = 'condition', intervalMs = 10): Promise<number> {
  const started = performance.now();
  const deadline = started + timeoutMs;
  for (;;) {
    if (await check()) return performance.now() - started;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
