/**
 * Flows within a sliding window, kept as two aligned buckets (this window and
 * the one before, weighted by how much of it still overlaps): O(1) memory
 * per endpoint and O(1) per flow.
 */
export class SlidingCount {
  cur = 0;
  prev = 0;
  bucket = 0;

  add(bucket: number, by = 1): void {
    if (bucket !== this.bucket) this.roll(bucket);
    this.cur += by;
  }

  /** Back to no flows. */
  clear(): void {
    this.cur = 0;
    this.prev = 0;
    this.bucket = 0;
  }

  private roll(bucket: number): void {
    this.prev = bucket - this.bucket === 1 ? this.cur : 0;
    this.cur = 0;
    this.bucket = bucket;
  }

  /** The count over the window ending at `nowSec`. */
  value(nowSec: number, windowSec: number): number {
    const bucket = Math.floor(nowSec / windowSec);
    const frac = nowSec / windowSec - bucket;
    if (bucket === this.bucket) return this.cur + this.prev * (1 - frac);
    if (bucket - this.bucket === 1) return this.cur * (1 - frac);
    return 0;
  }
}
