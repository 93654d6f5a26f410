/** Default tolerance for flows stamped ahead of our clock, ms. */
export const DEFAULT_FUTURE_TOLERANCE_MS = 60_000;
/** How long the largest skew seen stays reported after its flow, ms. */
export const SKEW_MEMORY_MS = 5 * 60_000;

/**
 * Recognises flows stamped ahead of the exporter's wall clock by more than a
 * tolerance (a node with a wrong clock). Such a flow is still counted, but
 * must move neither the resume point nor the windows: one of them would
 * otherwise make a resume skip everything until its time and keep offenders
 * from ageing out.
 *
 * Per flow this is one number comparison: the clock is read only when a flow
 * is newer than the last limit computed, about once per tolerance.
 */
export class FutureGuard {
  /** Flows found ahead of the clock by more than the tolerance (see count()). */
  flows = 0;
  // Flows at or before this second are certainly not in the future.
  private safeUntilSec = -Infinity;
  private skewSec = 0;
  private skewAtMs = -Infinity;

  /**
   * @param toleranceMs how far ahead of the clock a flow may be, ms.
   * @param clock wall clock, ms since the epoch (injectable for tests).
   */
  constructor(
    readonly toleranceMs = DEFAULT_FUTURE_TOLERANCE_MS,
    private readonly clock: () => number = Date.now,
  ) {
    if (!Number.isFinite(toleranceMs) || toleranceMs < 0) throw new RangeError(`futureToleranceMs must be a non-negative number of milliseconds, got ${toleranceMs}`);
  }

  /** True when an event's time is ahead of the clock by more than the tolerance. */
  isFuture(seconds: number, nanos: number): boolean {
    if (seconds <= this.safeUntilSec) return false;
    const nowMs = this.clock();
    // Whole seconds, one short: a flow in that second is below the limit whatever its nanos.
    this.safeUntilSec = Math.floor((nowMs + this.toleranceMs) / 1000) - 1;
    return (seconds - nowMs / 1000 + nanos / 1e9) * 1000 > this.toleranceMs;
  }

  /** Counts a future flow that was delivered and notes its skew; returns how far ahead it is, seconds. */
  count(seconds: number, nanos: number): number {
    this.flows++;
    const nowMs = this.clock();
    const aheadSec = seconds - nowMs / 1000 + nanos / 1e9;
    if (aheadSec > this.skewSec || nowMs - this.skewAtMs > SKEW_MEMORY_MS) {
      this.skewSec = aheadSec;
      this.skewAtMs = nowMs;
    }
    return aheadSec;
  }

  /** The largest skew of a future flow in the last SKEW_MEMORY_MS, seconds (0: none). */
  recentSkewSeconds(): number {
    return this.clock() - this.skewAtMs <= SKEW_MEMORY_MS ? this.skewSec : 0;
  }
}
