/** Polls `cond` until it holds; fails with `what` and the last observed value after `timeoutMs`. */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = 15_000, describe?: () => unknown): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${describe ? `: ${JSON.stringify(describe())}` : ''}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
