import { describe, expect, it } from 'vitest';
import { IpamTranslator, stateFromObjects } from '../src/ipam/from-objects.js';
import { IpamStore } from '../src/ipam/ipam-store.js';
import type { KubeObject } from '../src/ipam/kube-object.js';
import { IpamSnapshot } from '../src/ipam/snapshot.js';
import { IpAddr, parseIpInto } from '../src/net/ip.js';

// Cilium's cluster-pool → multi-pool migration (Documentation/network/concepts/ipam/cluster-pool-to-multi-pool.rst,
// operator flag enable-cluster-pool-to-multi-pool-migration): the operator moves each CiliumNode's
// spec.ipam.podCIDRs into spec.ipam.pools.allocated under the default pool (`default`, or the
// `ipam-default-ip-pool` option), which must cover them at the same mask size. Pods keep their addresses.
// The objects below are in the shapes that document shows, dual-stack.

/** `status pool node` for an address, or `none`. */
function what(snap: IpamSnapshot, ip: string): string {
  const a = new IpAddr();
  if (!parseIpInto(ip, a)) throw new Error(`bad test address ${ip}`);
  const i = snap.resolve(a);
  return i ? `${i.status} ${i.pool || '-'} ${i.node || '-'}` : 'none';
}

const config = (data: Record<string, string>): KubeObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cilium-config', namespace: 'kube-system' }, data });
const pool = (name: string): KubeObject => ({
  apiVersion: 'cilium.io/v2alpha1',
  kind: 'CiliumPodIPPool',
  metadata: { name },
  spec: { ipv4: { cidrs: ['10.0.0.0/8'], maskSize: 24 }, ipv6: { cidrs: ['fd00:10::/104'], maskSize: 120 } },
});
const cn = (name: string, ipam: object): KubeObject => ({ apiVersion: 'cilium.io/v2', kind: 'CiliumNode', metadata: { name, creationTimestamp: '2026-11-01T10:00:00Z' }, spec: { ipam } });

/** Mid-migration: the operator has moved kind-worker2's CIDRs, not yet kind-worker's; kind-worker3 holds a CIDR outside every pool. */
const cluster = (defaultPool: string) => [
  pool(defaultPool),
  cn('kind-worker', { podCIDRs: ['10.0.3.0/24', 'fd00:10::300/120'], pools: {} }),
  cn('kind-worker2', { pools: { allocated: [{ pool: defaultPool, cidrs: ['10.0.0.0/24', 'fd00:10::/120'] }] } }),
  cn('kind-worker3', { podCIDRs: ['192.168.7.0/24'], pools: {} }),
];

function build(objects: KubeObject[]): IpamSnapshot {
  const { state, problems } = stateFromObjects({ objects: objects.map((obj) => ({ obj, where: 'test.yaml' })) });
  expect(problems).toEqual([]);
  return IpamSnapshot.build(state);
}

describe('cluster-pool → multi-pool migration', () => {
  it.each([
    ['default', { ipam: 'multi-pool' }],
    ['migrated', { ipam: 'multi-pool', 'ipam-default-ip-pool': 'migrated' }],
  ] as const)('legacy podCIDRs inside the default pool (%s) are its current allocations, both families', (name, data) => {
    const snap = build([config(data), ...cluster(name)]);
    expect(snap.state.mode).toBe('multi-pool');
    // Not yet moved by the operator: still in use by the same node, never stale.
    expect(what(snap, '10.0.3.203')).toBe(`current ${name} kind-worker`);
    expect(what(snap, 'fd00:10::3cb')).toBe(`current ${name} kind-worker`);
    // Already moved: the same answer.
    expect(what(snap, '10.0.0.30')).toBe(`current ${name} kind-worker2`);
    expect(what(snap, 'fd00:10::1e')).toBe(`current ${name} kind-worker2`);
    // Neither: a free CIDR of the pool.
    expect(what(snap, '10.0.9.1')).toBe(`unallocated ${name} -`);
    // Outside every multi-pool pool: the migration cannot import it (the default pool must cover it), so the pods on it must move.
    expect(what(snap, '192.168.7.5')).toBe('stale cluster-pool kind-worker3');
    expect(snap.state.allocations.map((a) => `${a.node} ${a.pool} ${a.cidr.text} ${a.origin}`).sort()).toEqual([
      `kind-worker ${name} 10.0.3.0/24 CiliumNode kind-worker (test.yaml) spec.ipam.podCIDRs[0]`,
      `kind-worker ${name} fd00:10::300/120 CiliumNode kind-worker (test.yaml) spec.ipam.podCIDRs[1]`,
      `kind-worker2 ${name} 10.0.0.0/24 CiliumNode kind-worker2 (test.yaml) spec.ipam.pools.allocated[0].cidrs[0]`,
      `kind-worker2 ${name} fd00:10::/120 CiliumNode kind-worker2 (test.yaml) spec.ipam.pools.allocated[0].cidrs[1]`,
    ]);
    expect(snap.state.former.map((f) => `${f.node} ${f.pool} ${f.cidr.text} ${f.reason}`)).toEqual([
      'kind-worker3 cluster-pool 192.168.7.0/24 legacy CiliumNode spec.ipam.podCIDRs after the switch to multi-pool',
    ]);
    // The default pool is not draining: the migration keeps it.
    expect(snap.state.pools.find((p) => p.name === name)?.state).toBe('active');
    // Headroom counts the imported CIDRs as taken: 2^16 /24s less 2, 2^16 /120s less 2.
    expect(snap.poolCapacity().filter((c) => c.pool === name).map((c) => [c.family, c.allocatedCidrs, c.nodeCidrsLeft])).toEqual([
      [4, 2, 65534],
      [6, 2, 65534],
    ]);
  });

  it('a legacy podCIDR in a pool other than the default one is not imported (the operator imports into the default pool only)', () => {
    // With `ipam-default-ip-pool: other`, a CIDR of the `default` pool is not the default pool's.
    const snap = build([config({ ipam: 'multi-pool', 'ipam-default-ip-pool': 'other' }), pool('default'), cn('kind-worker', { podCIDRs: ['10.0.3.0/24'] })]);
    expect(what(snap, '10.0.3.1')).toBe('stale default kind-worker');
  });

  it('the operator moving podCIDRs into pools.allocated changes no answer; an incremental translation equals a fresh one', () => {
    const translator = new IpamTranslator();
    const before = [config({ ipam: 'multi-pool' }), ...cluster('default')];
    const after = before.map((o) => (o.metadata?.name === 'kind-worker' ? cn('kind-worker', { pools: { allocated: [{ pool: 'default', cidrs: ['10.0.3.0/24', 'fd00:10::300/120'] }] } }) : o));
    const s1 = IpamSnapshot.build(translator.translate({ groups: [{ where: 'kubernetes', objects: before }] }).state);
    const s2 = IpamSnapshot.build(translator.translate({ groups: [{ where: 'kubernetes', objects: after }] }).state);
    const fresh = IpamSnapshot.build(stateFromObjects({ groups: [{ where: 'kubernetes', objects: after }] }).state);
    for (const ip of ['10.0.3.203', 'fd00:10::3cb', '10.0.0.30', '192.168.7.5']) {
      expect(what(s2, ip)).toBe(what(s1, ip));
      expect(what(s2, ip)).toBe(what(fresh, ip));
    }
    expect(what(s2, '10.0.3.203')).toBe('current default kind-worker');
  });

  it('a CIDR a multi-pool CiliumNode removed from spec.ipam.pools.allocated is former: its pods are stale', () => {
    const store = new IpamStore();
    const translator = new IpamTranslator();
    const objs = (cidrs: string[]) => [config({ ipam: 'multi-pool' }), pool('default'), cn('kind-worker', { pools: { allocated: [{ pool: 'default', cidrs }] } })];
    const s1 = store.update(translator.translate({ groups: [{ where: 'kubernetes', objects: objs(['10.0.3.0/24', '10.0.4.0/24', 'fd00:10::300/120']) }] }).state, 'kubernetes')!;
    expect(what(s1, '10.0.4.9')).toBe('current default kind-worker');
    // The agent released 10.0.4.0/24 (the docs: "Cilium agent removes PodCIDRs it has released").
    const s2 = store.update(translator.translate({ groups: [{ where: 'kubernetes', objects: objs(['10.0.3.0/24', 'fd00:10::300/120']) }] }).state, 'kubernetes')!;
    expect(what(s2, '10.0.4.9')).toBe('stale default kind-worker');
    expect(what(s2, '10.0.3.9')).toBe('current default kind-worker');
    expect(what(s2, 'fd00:10::301')).toBe('current default kind-worker');
  });
});
