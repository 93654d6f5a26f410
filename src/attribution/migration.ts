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

/** Pool ids share a workload's map key: key * POOL_SLOTS + poolId stays an exact double. */
const POOL_SLOTS = 256;

export class MigrationTracker {
  /** (workload, draining pool) → last second seen on that pool. */
  private readonly lastOn = new Map<number, number>();
  /** workload → last second seen with an address outside every draining pool. */
  private readonly lastOff = new Map<number, number>();

  constructor(
    readonly windowSec: number,
    readonly maxWorkloads = 200_000,
  ) {}

  /** A workload key: its identity when it has a cluster one, else a hash of its pod name (negative). */
  static key(identity: number, namespace: string, pod: string): number {
    if (identity >= 256) return identity;
    let h = 0x811c9dc5;
    for (let i = 0; i < namespace.length; i++) h = Math.imul(h ^ namespace.charCodeAt(i), 0x01000193);
    h = Math.imul(h ^ 47, 0x01000193);
    for (let i = 0; i < pod.length; i++) h = Math.imul(h ^ pod.charCodeAt(i), 0x01000193);
    return -((h >>> 0) + 1);
  }

  record(key: number, drainingPoolId: number, nowSec: number): void {
    nowSec = Math.floor(nowSec); // whole seconds are stored in place; a fraction would box a number per flow
    if (drainingPoolId > 0) {
      const k = key * POOL_SLOTS + (drainingPoolId % POOL_SLOTS);
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
      const slot = poolId % POOL_SLOTS;
      for (const [k, on] of this.lastOn) {
        // Keys are key * POOL_SLOTS + slot; recover both (negative keys round toward -inf).
        const workload = Math.floor(k / POOL_SLOTS);
        if (k - workload * POOL_SLOTS !== slot) continue;
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
