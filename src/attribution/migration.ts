import { isPodEndpoint } from '../ingest/flow-record.js';
import { podNameHash32 } from '../util/hash.js';
import { poolOfKey, workloadOfKey, workloadPoolKey } from './pool-slots.js';

/**
 * Migration progress per draining pool, by workload: a workload (Cilium
 * security identity, or the pod when it has none) that was seen on a
 * draining pool counts as moved once it is active and none of its traffic in
 * the window came from that pool any more.
 *
 * progress(pool) = workloads active in the window that were on the pool and
 * are off it now / workloads active in the window that were on the pool.
 */
export interface MigrationProgress {
  poolId: number;
  /** Workloads that were ever seen on the pool. */
  everOn: number;
  /** Of those, active in the window. */
  active: number;
  /** Of the active ones, off the pool in the whole window. */
  moved: number;
  /** moved / active; 1 when nothing that was on the pool is active (any more). */
  ratio: number;
}

export class MigrationTracker {
  /** (workload, draining pool) → last second seen on that pool. */
  private readonly lastOn = new Map<number, number>();
  /** workload → last second seen with an address outside every draining pool. */
  private readonly lastOff = new Map<number, number>();

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

  record(key: number, drainingPoolId: number, nowSec: number): void {
    nowSec = Math.floor(nowSec); // whole seconds are stored in place; a fraction would box a number per flow
    if (drainingPoolId > 0) {
      const k = workloadPoolKey(key, drainingPoolId);
      if (this.lastOn.size < this.maxWorkloads || this.lastOn.has(k)) this.lastOn.set(k, nowSec);
    } else if (this.lastOff.size < this.maxWorkloads || this.lastOff.has(key)) {
      const prev = this.lastOff.get(key);
      if (prev === undefined || nowSec > prev) this.lastOff.set(key, nowSec);
    }
  }

  progress(poolIds: number[], nowSec: number): MigrationProgress[] {
    const oldest = nowSec - this.windowSec;
    return poolIds.map((poolId) => {
      let everOn = 0;
      let active = 0;
      let moved = 0;
      for (const [k, on] of this.lastOn) {
        if (poolOfKey(k) !== poolId) continue;
        const workload = workloadOfKey(k);
        everOn++;
        if (on >= oldest) active++;
        else if ((this.lastOff.get(workload) ?? -Infinity) >= oldest) {
          active++;
          moved++;
        }
      }
      // Nothing that was on the pool is active: nothing is left to move.
      return { poolId, everOn, active, moved, ratio: active === 0 ? 1 : moved / active };
    });
  }
}
