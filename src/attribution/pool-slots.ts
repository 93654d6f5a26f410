import { VERDICT_SLOTS } from './verdict-slot.js';

/**
 * Pool ids in the per-flow keys. A pool id is a dense small integer, one per
 * pool name seen since start (0: no pool); the hot path packs ids into
 * numbers instead of building strings:
 *
 * - `poolPairKey`: pool_flows_total's series key,
 *   (source × MAX_POOL_IDS + destination) × VERDICT_SLOTS + verdict < 2^36;
 * - `workloadPoolKey`: the migration tracker's key,
 *   workload × MAX_POOL_IDS + pool, with a workload key in ±2^32 (a Cilium
 *   identity or a 32-bit pod name hash): |key| < 2^49.
 *
 * Both stay exact doubles (below 2^53) and distinct for every id below
 * MAX_POOL_IDS. The classifier hands out no id past it: more pools than this
 * is an error when the snapshot is taken in, not a collision in a counter.
 */
export const MAX_POOL_IDS = 65_536;

/** Workload keys `workloadPoolKey` holds: |key| ≤ MAX_WORKLOAD_KEY (a uint32 identity or a 32-bit hash + 1). */
export const MAX_WORKLOAD_KEY = 2 ** 32;

/** Throws unless `id` is a pool id the layouts hold (an integer in 0 .. MAX_POOL_IDS - 1). */
export function checkPoolId(id: number): number {
  if (!Number.isInteger(id) || id < 0 || id >= MAX_POOL_IDS) throw new RangeError(`pool id ${id} is outside 0..${MAX_POOL_IDS - 1} (MAX_POOL_IDS)`);
  return id;
}

/** One number per (source pool, destination pool, verdict slot). Ids already checked by the classifier. */
export function poolPairKey(sourcePoolId: number, destinationPoolId: number, verdictSlot: number): number {
  return (sourcePoolId * MAX_POOL_IDS + destinationPoolId) * VERDICT_SLOTS + verdictSlot;
}

/** One number per (workload key, pool id). */
export function workloadPoolKey(workload: number, poolId: number): number {
  return workload * MAX_POOL_IDS + poolId;
}

/** The pool id of a `workloadPoolKey` (negative workload keys round toward -inf). */
export function poolOfKey(key: number): number {
  return key - workloadOfKey(key) * MAX_POOL_IDS;
}

/** The workload key of a `workloadPoolKey`. */
export function workloadOfKey(key: number): number {
  return Math.floor(key / MAX_POOL_IDS);
}
