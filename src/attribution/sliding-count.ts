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

/** A stable number for an address: the IPv4 value, or a 53-bit hash of the IPv6 words (negative). */
export function addressKey(family: number, v4: number, v6: ArrayLike<number>): number {
  if (family === 4) return v4;
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193;
  for (let k = 0; k < 4; k++) {
    h1 = Math.imul(h1 ^ v6[k]!, 0x85ebca6b) >>> 0;
    h2 = Math.imul(h2 ^ v6[3 - k]!, 0xc2b2ae35) >>> 0;
  }
  return -((h1 * 0x200000 + (h2 & 0x1fffff)) + 1);
}
