import type { IpAddr } from '../net/ip.js';
import { addressKey } from '../util/hash.js';
import { MAX_POOL_IDS } from './pool-slots.js';

/** One map per owning node, pool and family: slot = (nodeId × MAX_POOL_IDS + poolId) × FAMILY_SLOTS + (IPv6 ? 1 : 0) < 2^33. */
const FAMILY_SLOTS = 2;

/**
 * Distinct addresses seen per pool and family within a window: the pool's
 * active IPs. An address counts on the node that owns it (the node whose
 * agent saw it as a local endpoint: the caller records only those), once per
 * node, so per-node exporters add up to the Relay exporter's figure. One map
 * per node, pool and family, address → last seen second; entries older than
 * the window are pruned when counted.
 */
export class ActivityTracker {
  private readonly maps = new Map<number, Map<number, number>>();

  constructor(
    readonly windowSec: number,
    /** Addresses remembered per pool and family at most. */
    readonly maxPerPool = 1_000_000,
  ) {}

  /** `ip` of pool `poolId` seen local to observing node `nodeId` at `nowSec`. */
  record(poolId: number, ip: IpAddr, nowSec: number, nodeId = 0): void {
    const slot = (nodeId * MAX_POOL_IDS + poolId) * FAMILY_SLOTS + (ip.family === 6 ? 1 : 0);
    let m = this.maps.get(slot);
    if (m === undefined) {
      m = new Map();
      this.maps.set(slot, m);
    }
    const key = addressKey(ip.family, ip.v4, ip.v6);
    // Whole seconds: a small integer is stored in place, a fraction would box a number per flow.
    if (m.size < this.maxPerPool || m.has(key)) m.set(key, Math.floor(nowSec));
  }

  /** [poolId, family, active addresses summed over nodes] for every pool seen, pruning what fell out of the window. */
  counts(nowSec: number): Array<[number, 4 | 6, number]> {
    const sums = new Map<number, number>();
    const oldest = nowSec - this.windowSec;
    for (const [slot, m] of this.maps) {
      for (const [k, seen] of m) if (seen < oldest) m.delete(k);
      const v6 = slot % FAMILY_SLOTS === 1;
      const poolFamily = (((slot - (v6 ? 1 : 0)) / FAMILY_SLOTS) % MAX_POOL_IDS) * FAMILY_SLOTS + (v6 ? 1 : 0);
      sums.set(poolFamily, (sums.get(poolFamily) ?? 0) + m.size);
    }
    const out: Array<[number, 4 | 6, number]> = [];
    for (const [pf, n] of sums) {
      const v6 = pf % FAMILY_SLOTS === 1;
      out.push([(pf - (v6 ? 1 : 0)) / FAMILY_SLOTS, v6 ? 6 : 4, n]);
    }
    return out;
  }
}
