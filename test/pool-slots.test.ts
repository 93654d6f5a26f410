/**
 * Pool ids on the hot path go through checked helpers with a stated limit
 * (MAX_POOL_IDS): the packed keys are dense, exact and distinct up to it,
 * and a snapshot that would need more ids is refused when the classifier
 * takes it, with the snapshot in force kept: never a silent collision.
 */
import { describe, expect, it } from 'vitest';
import { Classifier, SIDE_SOURCE } from '../src/attribution/classifier.js';
import { MigrationTracker } from '../src/attribution/migration.js';
import { MAX_POOL_IDS, MAX_WORKLOAD_KEY, checkPoolId, poolOfKey, poolPairKey, workloadOfKey, workloadPoolKey } from '../src/attribution/pool-slots.js';
import { VERDICT_SLOTS } from '../src/attribution/verdict-slot.js';
import { FlowRecord } from '../src/ingest/flow-record.js';
import { stateFromObjects } from '../src/ipam/from-objects.js';
import { IpamSnapshot } from '../src/ipam/snapshot.js';
import { parseIpInto } from '../src/net/ip.js';

describe('pool id layouts', () => {
  it('poolPairKey is dense and exact: the last key of one source pool is one below the first of the next, up to MAX_POOL_IDS', () => {
    const last = MAX_POOL_IDS - 1;
    expect(poolPairKey(0, last, VERDICT_SLOTS - 1) + 1).toBe(poolPairKey(1, 0, 0));
    expect(poolPairKey(0, 0, VERDICT_SLOTS - 1) + 1).toBe(poolPairKey(0, 1, 0));
    const top = poolPairKey(last, last, VERDICT_SLOTS - 1);
    expect(top).toBe(MAX_POOL_IDS * MAX_POOL_IDS * VERDICT_SLOTS - 1);
    expect(Number.isSafeInteger(top)).toBe(true);
  });

  it('workloadPoolKey gives back its workload and pool at the extremes of both', () => {
    const workloads = [-MAX_WORKLOAD_KEY, -(2 ** 31), -1, 0, 1, 256, 2 ** 32 - 1, MAX_WORKLOAD_KEY];
    const pools = [0, 1, 255, 256, 257, MAX_POOL_IDS - 1];
    const keys = new Set<number>();
    for (const w of workloads) {
      for (const p of pools) {
        const k = workloadPoolKey(w, p);
        expect(Number.isSafeInteger(k), `${w}/${p}`).toBe(true);
        expect([workloadOfKey(k), poolOfKey(k)], `${w}/${p}`).toEqual([w, p]);
        keys.add(k);
      }
    }
    expect(keys.size).toBe(workloads.length * pools.length);
  });

  it('a workload key stays within MAX_WORKLOAD_KEY: the largest identity and any pod name hash', () => {
    // The largest cluster identity is itself; an identity with scope bits is no workload's: the pod name hash keys it.
    expect(MigrationTracker.key(0x00ffffff, 'ns', 'p')).toBe(0x00ffffff);
    expect(MigrationTracker.key(0xffffffff, 'ns', 'p')).toBe(MigrationTracker.key(0, 'ns', 'p'));
    for (const [ns, pod] of [['', ''], ['kube-system', 'coredns-5d78c9869d-abcde'], ['x'.repeat(63), 'y'.repeat(253)]] as const) {
      const k = MigrationTracker.key(0, ns, pod);
      expect(k).toBeLessThan(0);
      expect(-k).toBeLessThanOrEqual(MAX_WORKLOAD_KEY);
    }
  });

  it('checkPoolId states the range', () => {
    expect(checkPoolId(0)).toBe(0);
    expect(checkPoolId(MAX_POOL_IDS - 1)).toBe(MAX_POOL_IDS - 1);
    expect(() => checkPoolId(MAX_POOL_IDS)).toThrow(`pool id ${MAX_POOL_IDS} is outside 0..${MAX_POOL_IDS - 1} (MAX_POOL_IDS)`);
    expect(() => checkPoolId(-1)).toThrow('outside');
    expect(() => checkPoolId(1.5)).toThrow('outside');
  });

  it('migration progress keeps pool 257 apart from pool 1 (a % 256 slot made them one)', () => {
    const m = new MigrationTracker(60);
    const w = MigrationTracker.key(1001, 'shop', 'a-1');
    m.record(w, 257, 100);
    expect(m.progress([1, 257], 100)).toEqual([
      { poolId: 1, everOn: 0, active: 0, moved: 0, ratio: 1 },
      { poolId: 257, everOn: 1, active: 1, moved: 0, ratio: 0 },
    ]);
  });
});

function snapshotWithPools(names: string[], version: number): IpamSnapshot {
  const { state, problems } = stateFromObjects({
    objects: [],
    configs: [
      {
        where: 't',
        config: { apiVersion: 'hubble-ipam-exporter/v1', kind: 'IpamConfig', mode: 'multi-pool', pools: names.map((name, i) => ({ name, cidrs: [`10.${i}.0.0/16`] })) },
      },
    ],
  });
  expect(problems).toEqual([]);
  return IpamSnapshot.build(state, version);
}

describe('the classifier refuses more pools than the layouts hold', () => {
  it('a classifier cannot be made to hand out more ids than MAX_POOL_IDS', () => {
    expect(() => new Classifier(0, MAX_POOL_IDS + 1)).toThrow(`maxPoolIds must be 1..${MAX_POOL_IDS}, got ${MAX_POOL_IDS + 1}`);
    expect(() => new Classifier(0, MAX_POOL_IDS)).not.toThrow();
  });

  it('past its limit a snapshot is refused whole, naming the limit, and the one in force stays', () => {
    const first = snapshotWithPools(['a', 'b'], 1);
    const limit = 1 + new Set([...first.state.pools.map((p) => p.name), ...first.infos.map((i) => i.pool)].filter((n) => n !== '')).size;
    const c = new Classifier(0, limit);
    c.setSnapshot(first);
    const rec = new FlowRecord();
    rec.hasIp = true;
    expect(parseIpInto('10.1.2.3', rec.source.ip)).toBe(true);
    rec.source.isPod = true;
    const before = c.classify(rec, SIDE_SOURCE);
    expect([before.status, before.pool]).toEqual(['unallocated', 'b']);

    const second = snapshotWithPools(['a', 'b', 'c'], 2);
    expect(() => c.setSnapshot(second)).toThrow(
      `IPAM snapshot version 2 brings 1 new pool name(s) to the ${limit - 1} seen since start; the per-flow keys hold ${limit - 1} pools (MAX_POOL_IDS): the snapshot in force stays. Restart the exporter to forget pools that are gone.`,
    );
    expect(c.snapshot).toBe(first);
    expect(c.classify(rec, SIDE_SOURCE)).toBe(before);
    expect(c.poolNames()).toHaveLength(limit);
    expect(c.findPoolId('c')).toBeUndefined();
  });
});
