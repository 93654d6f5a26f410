/**
 * Migration progress per draining pool, by workload: a workload (Cilium
 * security identity, or the pod when it has none) that was seen on a
 * draining pool counts as moved once it is active and none of its traffic in
 * the window came from that pool any more.
 *
 * progress(pool) = workloads active in the window that were on the pool and
 * are off it now / workloads active in the window that were on the pool.
 */
interface Workload {
  /** Last second seen with an address of each draining pool (by pool id). */
  readonly lastOn: Map<number, number>;
  /** Last second seen with an address outside every draining pool. */
  lastOff: number;
}

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
  private readonly workloads = new Map<number, Workload>();

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
    let w = this.workloads.get(key);
    if (w === undefined) {
      if (this.workloads.size >= this.maxWorkloads) return;
      w = { lastOn: new Map(), lastOff: -Infinity };
      this.workloads.set(key, w);
    }
    if (drainingPoolId > 0) w.lastOn.set(drainingPoolId, nowSec);
    else if (nowSec > w.lastOff) w.lastOff = nowSec;
  }

  progress(poolIds: number[], nowSec: number): MigrationProgress[] {
    const oldest = nowSec - this.windowSec;
    return poolIds.map((poolId) => {
      let everOn = 0;
      let active = 0;
      let moved = 0;
      for (const w of this.workloads.values()) {
        const on = w.lastOn.get(poolId);
        if (on === undefined) continue;
        everOn++;
        if (on >= oldest) active++;
        else if (w.lastOff >= oldest) {
          active++;
          moved++;
        }
      }
      // Nothing that was on the pool is active: nothing is left to move.
      return { poolId, everOn, active, moved, ratio: active === 0 ? 1 : moved / active };
    });
  }
}
