/**
 * A signal that never aborts, for tests that stop a component with
 * `close()` (the lifecycle contract takes a signal on every `start`).
 */
export const untilClosed: AbortSignal = new AbortController().signal;
