import type { IpAddr } from '../net/ip.js';
import { addressKey } from '../util/hash.js';

/** One map per pool and family: slot = poolId × FAMILY_SLOTS + (IPv6 ? 1 : 0). */
const FAMILY_SLOTS = 2;

/**
 * Distinct addresses seen per pool and family within a window: the pool's
 * active IPs. One map per pool and family, address → last seen second;
 * entries older than the window are pruned when counted.
 */
export class ActivityTracker {
  private readonly maps = new Map<number, Map<number, number>>();

  constructor(
    readonly windowSec: number,
    /** Addresses remembered per pool and family at most. */
    readonly maxPerPool = 1_000_000,
  ) {}

  record(poolId: number, ip: IpAddr, nowSec: number): void {
    const slot = poolId * FAMILY_SLOTS + (ip.family === 6 ? 1 : 0);
    let m = this.maps.get(slot);
    if (m === undefined) {
      m = new Map();
      this.maps.set(slot, m);
    }
    const key = addressKey(ip.family, ip.v4, ip.v6);
    // Whole seconds: a small integer is stored in place, a fraction would box a number per flow.
    if (m.size < this.maxPerPool || m.has(key)) m.set(key, Math.floor(nowSec));
  }

  /** [poolId, family, active addresses] for every pool seen, pruning what fell out of the window. */
  counts(nowSec: number): Array<[number, 4 | 6, number]> {
    const out: Array<[number, 4 | 6, number]> = [];
    const oldest = nowSec - this.windowSec;
    for (const [slot, m] of this.maps) {
      for (const [k, seen] of m) if (seen < oldest) m.delete(k);
      const v6 = slot % FAMILY_SLOTS === 1;
      out.push([(slot - (v6 ? 1 : 0)) / FAMILY_SLOTS, v6 ? 6 : 4, m.size]);
    }
    return out;
  }
}
