/** `FlowRate`: counts kept, one per tick: the rate is over the last `RATE_TICKS - 1` ticks. */
export const RATE_TICKS = 11;

/** Flows per second over the last few ticks, from a running total sampled once per tick. */
export class FlowRate {
  private readonly at: number[] = [];
  private readonly total: number[] = [];

  /** Records the running total at `atMs`. */
  tick(atMs: number, flows: number): void {
    this.at.push(atMs);
    this.total.push(flows);
    if (this.at.length > RATE_TICKS) {
      this.at.shift();
      this.total.shift();
    }
  }

  /** Flows per second between the oldest and newest tick kept; null before two ticks. */
  perSecond(): number | null {
    const n = this.at.length;
    if (n < 2) return null;
    const ms = this.at[n - 1]! - this.at[0]!;
    return ms > 0 ? ((this.total[n - 1]! - this.total[0]!) * 1000) / ms : null;
  }
}
