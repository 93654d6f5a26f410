/**
 * The one lifecycle contract of every long-lived component (relay client,
 * IPAM sources and their watch, simulated relay, HTTP server), after
 * OpenTelemetry Collector's `component.Component`:
 *
 * - `start(signal)` returns fast. Background work (streams, timers, watches)
 *   runs on its own and stops when `signal` aborts, exactly as if `close()`
 *   had been called. A component whose first result takes time (the first
 *   full sync of a watch, a bound port) says so with a separate `ready()` or
 *   a documented promise, never by blocking `start`.
 * - `close()` stops background work and releases resources. It is safe
 *   before `start`, safe twice, and resolves once everything has stopped.
 * - Options are resolved once, in the constructor, into a complete object;
 *   each is documented with its default and unit, and a bad value throws
 *   there, naming the option.
 */
export interface Lifecycle {
  start(signal: AbortSignal): void;
  close(): Promise<void>;
}

/** Calls `close` once when `signal` aborts (at once if it already has). */
export function closeOnAbort(signal: AbortSignal, close: () => Promise<void>): void {
  if (signal.aborted) {
    void close();
    return;
  }
  signal.addEventListener('abort', () => void close(), { once: true });
}
