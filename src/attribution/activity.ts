import type { IpAddr } from '../net/ip.js';
import { addressKey } from '../util/hash.js';
import { PerNode } from './per-node.js';

/** One set of maps per pool and family: slot = poolId × FAMILY_SLOTS + (IPv6 ? 1 : 0), a small integer. */
const FAMILY_SLOTS = 2;

/**
 * Distinct addresses seen per pool and family within a window: the pool's
 * active IPs. An address counts on the node that holds it (the node whose
 * agent saw it as a local endpoint: the caller records only those), once per
 * node, so per-node exporters add up to the Relay exporter's figure. Per pool
 * and family, one map per observing node, address → last seen second (keys
 * stay small integers however many nodes: no number is boxed per flow);
 * entries older than the window, and maps left empty, are pruned when
 * counted.
 */
export class ActivityTracker {
  private readonly maps = new Map<number, PerNode<Map<number, number>>>();
  /** Addresses remembered per pool and family, over every node. */
  private readonly sizes = new Map<number, number>();

  constructor(
    readonly windowSec: number,
    /** Addresses remembered per pool and family at most. */
    readonly maxPerPool = 1_000_000,
  ) {}

  /** `ip` of pool `poolId` seen local to observing node `nodeId` at `nowSec`. */
  record(poolId: number, ip: IpAddr, nowSec: number, nodeId = 0): void {
    const slot = poolId * FAMILY_SLOTS + (ip.family === 6 ? 1 : 0);
    let byNode = this.maps.get(slot);
    if (byNode === undefined) {
      byNode = new PerNode(() => new Map<number, number>());
      this.maps.set(slot, byNode);
    }
    const m = byNode.of(nodeId);
    const key = addressKey(ip.family, ip.v4, ip.v6);
    // Whole seconds: a small integer is stored in place, a fraction would box a number per flow.
    if (m.has(key)) {
      m.set(key, Math.floor(nowSec));
      return;
    }
    const size = this.sizes.get(slot) ?? 0;
    if (size < this.maxPerPool) {
      m.set(key, Math.floor(nowSec));
      this.sizes.set(slot, size + 1);
    }
  }

  /** [poolId, family, active addresses summed over nodes] for every pool seen, pruning what fell out of the window. */
  counts(nowSec: number): Array<[number, 4 | 6, number]> {
    const out: Array<[number, 4 | 6, number]> = [];
    const oldest = nowSec - this.windowSec;
    for (const [slot, byNode] of this.maps) {
      let n = 0;
      for (const [nodeId, m] of byNode.entries()) {
        for (const [k, seen] of m) if (seen < oldest) m.delete(k);
        if (m.size === 0) byNode.delete(nodeId);
        n += m.size;
      }
      this.sizes.set(slot, n);
      const v6 = slot % FAMILY_SLOTS === 1;
      out.push([(slot - (v6 ? 1 : 0)) / FAMILY_SLOTS, v6 ? 6 : 4, n]);
    }
    return out;
  }
}
