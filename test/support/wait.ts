/** Polls `cond` until it holds; fails with `what` and the last observed value after `timeoutMs`. */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = 15_000, describe?: () => unknown): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${describe ? `: ${JSON.stringify(describe())}` : ''}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Calls `probe` until it returns a value other than undefined (a throw counts
 * as not yet); fails after `timeoutMs` with `what` and the last error.
 */
export async function poll<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, everyMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
