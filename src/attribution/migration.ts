import { isPodEndpoint } from '../ingest/flow-record.js';
import { podNameHash32 } from '../util/hash.js';
import { PerNode } from './per-node.js';
import { poolOfKey, workloadOfKey, workloadPoolKey } from './pool-slots.js';

/**
 * Migration progress per draining pool, by workload and node: a workload
 * (Cilium security identity, or the pod when it has none) whose pods on a
 * node were seen on a draining pool counts as moved on that node once it is
 * active there and none of its pods' traffic there in the window came from
 * that pool any more. The unit is the (node, workload) pair, recorded from
 * the pod sides local to the observing node (the handler passes only those),
 * so the pairs are about as many as the pods, and per-node exporters add up
 * to the Relay exporter's counts exactly (each flow is observed by one node;
 * issue 14).
 *
 * progress(pool) = pairs active in the window that were on the pool and are
 * off it now / pairs active in the window that were on the pool.
 */
export interface MigrationProgress {
  poolId: number;
  /** (Node, workload) pairs that were ever seen on the pool. */
  everOn: number;
  /** Of those, active in the window. */
  active: number;
  /** Of the active ones, off the pool in the whole window. */
  moved: number;
  /** moved / active; 1 when nothing that was on the pool is active (any more). */
  ratio: number;
}

/** What one observing node saw. */
class NodeWorkloads {
  /** (workload, draining pool) → last second seen on that pool. */
  readonly lastOn = new Map<number, number>();
  /** workload → last second seen with an address outside every draining pool. */
  readonly lastOff = new Map<number, number>();
}

export class MigrationTracker {
  /** Observing node id → what it saw. */
  private readonly nodes = new PerNode(() => new NodeWorkloads());
  /** Entries over every node's maps (bounded by maxWorkloads per kind). */
  private onEntries = 0;
  private offEntries = 0;

  constructor(
    readonly windowSec: number,
    readonly maxWorkloads = 200_000,
  ) {}

  /**
   * A workload key: its identity when it is a cluster identity (the one
   * rule, isPodEndpoint, with no pod name), else a hash of its pod name
   * (negative). |key| ≤ MAX_WORKLOAD_KEY.
   */
  static key(identity: number, namespace: string, pod: string): number {
    if (isPodEndpoint('', identity)) return identity;
    return -(podNameHash32(namespace, pod) + 1);
  }

  /**
   * Forgets "off" sightings older than the window (they can no longer make a
   * pair count as moved) and nodes with nothing left, so the off entries are
   * the pods active in the window, not every pod ever seen. "On" entries are
   * kept: a pair that was on a draining pool and comes back off it later has
   * moved.
   */
  private forgetOff(oldest: number): void {
    for (const [nodeId, n] of this.nodes.entries()) {
      for (const [w, off] of n.lastOff) {
        if (off < oldest) {
          n.lastOff.delete(w);
          this.offEntries--;
        }
      }
      if (n.lastOn.size === 0 && n.lastOff.size === 0) this.nodes.delete(nodeId);
    }
  }

  /** Workload `key` seen by observing node `nodeId` on draining pool `drainingPoolId` (0: off every draining pool). */
  record(key: number, drainingPoolId: number, nowSec: number, nodeId = 0): void {
    nowSec = Math.floor(nowSec); // whole seconds are stored in place; a fraction would box a number per flow
    const n = this.nodes.of(nodeId);
    if (drainingPoolId > 0) {
      const k = workloadPoolKey(key, drainingPoolId);
      const had = n.lastOn.has(k);
      if (had || this.onEntries < this.maxWorkloads) {
        n.lastOn.set(k, nowSec);
        if (!had) this.onEntries++;
      }
      return;
    }
    const prev = n.lastOff.get(key);
    if (prev === undefined) {
      if (this.offEntries < this.maxWorkloads) {
        n.lastOff.set(key, nowSec);
        this.offEntries++;
      }
    } else if (nowSec > prev) n.lastOff.set(key, nowSec);
  }

  progress(poolIds: number[], nowSec: number): MigrationProgress[] {
    const oldest = nowSec - this.windowSec;
    this.forgetOff(oldest);
    return poolIds.map((poolId) => {
      let everOn = 0;
      let active = 0;
      let moved = 0;
      for (const n of this.nodes.values()) {
        for (const [k, on] of n.lastOn) {
          if (poolOfKey(k) !== poolId) continue;
          const workload = workloadOfKey(k);
          everOn++;
          if (on >= oldest) active++;
          else if ((n.lastOff.get(workload) ?? -Infinity) >= oldest) {
            active++;
            moved++;
          }
        }
      }
      // Nothing that was on the pool is active: nothing is left to move.
      return { poolId, everOn, active, moved, ratio: active === 0 ? 1 : moved / active };
    });
  }
}
