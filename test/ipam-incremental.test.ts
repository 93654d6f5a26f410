import { describe, expect, it } from 'vitest';
import { PrefixCache, stateFromObjects } from '../src/ipam/from-objects.js';
import { IpamSources } from '../src/ipam/ipam-sources.js';
import type { KubeObject } from '../src/ipam/kube-object.js';
import { IpamStore } from '../src/ipam/ipam-store.js';
import { IpamSnapshot } from '../src/ipam/snapshot.js';
import { Rng } from '../src/sim/rng.js';
import { plainAnswer, probes } from './support/ipam-probes.js';

const NOW = new Date('2024-05-01T00:00:00Z');

/** A random change to a small dual-stack cluster's objects: CIDRs moved, nodes and endpoints added and removed, a bad value now and then. */
function mutate(r: Rng, objects: Map<string, KubeObject>): void {
  const n = r.int(8);
  const v4 = (k: number) => `10.${r.int(2)}.${k}.0/24`;
  const v6 = (k: number) => `fd00:10:${r.int(2)}:${k.toString(16)}::/64`;
  switch (r.int(6)) {
    case 0:
    case 1: // a CiliumNode's CIDRs (the common case), sometimes a bad one
      objects.set(`cn/${n}`, {
        kind: 'CiliumNode',
        metadata: { name: `w${n}` },
        spec: {
          addresses: [{ type: 'InternalIP', ip: `192.168.0.${n}` }, { type: 'CiliumInternalIP', ip: `10.0.${n}.1` }],
          ipam: { podCIDRs: r.int(10) === 0 ? ['10.0.300.0/24'] : [v4(n), v6(n)] },
        },
        status: { ipam: { used: Object.fromEntries(Array.from({ length: r.int(4) }, (_, i) => [`10.0.${n}.${i + 5}`, {}])) } },
      });
      break;
    case 2: // a Node
      objects.set(`node/${n}`, { kind: 'Node', metadata: { name: `w${n}` }, spec: { podCIDRs: [v4(n)] }, status: { addresses: [{ type: 'InternalIP', address: `192.168.0.${n}` }] } });
      break;
    case 3: // an endpoint
      objects.set(`cep/${r.int(30)}`, { kind: 'CiliumEndpoint', metadata: { name: `p${r.int(30)}`, namespace: 'default' }, status: { networking: { node: `192.168.0.${n}`, addressing: [{ ipv4: `10.0.${n}.${10 + r.int(200)}` }] } } });
      break;
    case 4: {
      // a deletion
      const keys = [...objects.keys()].filter((k) => k !== 'cm');
      if (keys.length > 0) objects.delete(keys[r.int(keys.length)]!);
      break;
    }
    default: // a CiliumPodIPPool appears or goes (switches the mode to multi-pool and back)
      if (objects.has('pool')) objects.delete('pool');
      else objects.set('pool', { kind: 'CiliumPodIPPool', metadata: { name: 'blue' }, spec: { ipv4: { cidrs: ['10.0.0.0/16'], maskSize: 24 } } });
  }
}

describe('IPAM state across changes', () => {
  it('translating with the cache kept across changes gives exactly the state and problems of a fresh translation, after random sequences of changes', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const r = new Rng(seed);
      const objects = new Map<string, KubeObject>([['cm', { kind: 'ConfigMap', metadata: { name: 'cilium-config' }, data: { ipam: 'cluster-pool', 'cluster-pool-ipv4-cidr': '10.0.0.0/15', 'cluster-pool-ipv6-cidr': 'fd00:10::/47', 'cluster-pool-ipv6-mask-size': '64' } }]]);
      const cache = new PrefixCache();
      for (let step = 0; step < 60; step++) {
        mutate(r, objects);
        const items = [...objects.values()].map((obj) => ({ obj, where: 'kubernetes' }));
        const cached = stateFromObjects({ objects: items, cache, now: NOW });
        const fresh = stateFromObjects({ objects: items, now: NOW });
        expect(cached.problems, `seed ${seed} step ${step}`).toEqual(fresh.problems);
        expect(cached.state, `seed ${seed} step ${step}`).toEqual(fresh.state);
      }
    }
  });

  it('the sources publish, after every change, the snapshot a full rebuild from scratch gives (same answers, same former allocations)', () => {
    for (const seed of [7, 8, 9]) {
      const r = new Rng(seed);
      const objects = new Map<string, KubeObject>([['cm', { kind: 'ConfigMap', metadata: { name: 'cilium-config' }, data: { ipam: 'cluster-pool', 'cluster-pool-ipv4-cidr': '10.0.0.0/15', 'cluster-pool-ipv6-cidr': 'fd00:10::/47', 'cluster-pool-ipv6-mask-size': '64' } }]]);
      const clock = () => NOW;
      const sources = new IpamSources({ store: new IpamStore({ now: clock }) });
      // The reference: a new store fed every state from scratch (no cache), in the same order.
      const reference = new IpamStore({ now: clock });
      for (let step = 0; step < 40; step++) {
        mutate(r, objects);
        const list = [...objects.values()];
        sources.setObjects(list, 'test');
        const { state, problems } = stateFromObjects({ objects: list.map((obj) => ({ obj, where: 'memory' })), serviceCidrs: [], now: NOW });
        reference.update(state, 'test', problems);
        const got = sources.store.snapshot;
        const want = reference.snapshot;
        expect(got?.version, `seed ${seed} step ${step}`).toBe(want?.version);
        if (!got || !want) continue;
        // Every address answers as in a snapshot built from scratch (answer indexes depend on a builder's history).
        const scratch = IpamSnapshot.build(structuredClone(got.state));
        for (const a of probes(want.state)) {
          expect(plainAnswer(got.resolve(a)), `seed ${seed} step ${step}`).toEqual(plainAnswer(scratch.resolve(a)));
          expect(plainAnswer(got.resolve(a)), `seed ${seed} step ${step}`).toEqual(plainAnswer(want.resolve(a)));
        }
        expect(got.state.former, `seed ${seed} step ${step}`).toEqual(want.state.former);
        expect(got.lookupCompiles).toBeLessThanOrEqual(2);
      }
      expect(sources.store.errorCount).toBe(reference.errorCount);
    }
  });
});
