export interface BackoffOptions {
  /** First delay, ms. Default 250. */
  initialMs: number;
  /** Upper bound of any delay, ms. Default 30000. */
  maxMs: number;
  /** Growth factor per failed attempt. Default 2. */
  multiplier: number;
  /** Fraction of the delay randomised either way, 0..1. Default 0.2. */
  jitter: number;
}

export const defaultBackoff: BackoffOptions = { initialMs: 250, maxMs: 30_000, multiplier: 2, jitter: 0.2 };

/** Capped exponential backoff with jitter. */
export class Backoff {
  private readonly opts: BackoffOptions;
  private attempt = 0;

  constructor(opts: Partial<BackoffOptions> = {}, private readonly random: () => number = Math.random) {
    this.opts = { ...defaultBackoff, ...opts };
    const { initialMs, maxMs, multiplier, jitter } = this.opts;
    if (!(initialMs > 0) || !(maxMs >= initialMs) || !(multiplier >= 1) || !(jitter >= 0 && jitter <= 1)) {
      throw new RangeError(`invalid backoff: initialMs=${initialMs} maxMs=${maxMs} multiplier=${multiplier} jitter=${jitter}`);
    }
  }

  /** The delay before the next attempt; each call grows it until maxMs. */
  next(): number {
    const { initialMs, maxMs, multiplier, jitter } = this.opts;
    const base = Math.min(maxMs, initialMs * multiplier ** this.attempt);
    this.attempt++;
    const spread = base * jitter * (this.random() * 2 - 1);
    return Math.max(0, Math.min(maxMs, Math.round(base + spread)));
  }

  /** After a success: the next failure starts from initialMs again. */
  reset(): void {
    this.attempt = 0;
  }
}
