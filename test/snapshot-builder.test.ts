import { describe, expect, it } from 'vitest';
import { Classifier, SIDE_SOURCE } from '../src/attribution/classifier.js';
import { FlowRecord } from '../src/ingest/flow-record.js';
import { emptyState, type Allocation, type FormerAllocation, type IpamState, type NodeAddress } from '../src/ipam/model.js';
import { IpamSnapshot, SnapshotBuilder } from '../src/ipam/snapshot.js';
import { IpAddr, parseIpInto } from '../src/net/ip.js';
import { hostPrefix, nthAddress, parsePrefix } from '../src/net/prefix.js';
import { Rng } from '../src/sim/rng.js';
import { plainAnswer as plain, probes } from './support/ipam-probes.js';

/**
 * A node's rules as the sources hand them over: the same objects while the
 * node does not change, new ones when it does.
 */
interface NodeRules {
  allocations: Allocation[];
  addresses: NodeAddress[];
  former: FormerAllocation[];
}

function nodeRules(r: Rng, n: number): NodeRules {
  const node = `w${n}`;
  // CIDRs move between a few places, so that two nodes sometimes hold one (a conflict) and former ones overlap current ones.
  const k = r.int(12);
  const v4 = parsePrefix(`10.${r.int(2)}.${k}.0/24`);
  const v6 = parsePrefix(`fd00:10:${r.int(2)}:${k.toString(16)}::/64`);
  const allocations: Allocation[] = [
    { node, pool: 'default', cidr: v4, origin: `CiliumNode ${node}` },
    { node, pool: 'default', cidr: v6, origin: `CiliumNode ${node}` },
  ];
  const addresses: NodeAddress[] = [
    { node, type: 'InternalIP', ip: hostPrefix(`192.168.0.${n}`), origin: '' },
    { node, type: 'CiliumInternalIP', ip: hostPrefix(nthAddress(v4, 1)), origin: '' },
    { node, type: 'HealthIP', ip: hostPrefix(nthAddress(v6, 2)), origin: '' },
  ];
  const former: FormerAllocation[] =
    r.int(3) === 0 ? [{ node, pool: 'legacy', cidr: parsePrefix(`10.${r.int(2)}.${r.int(12)}.0/${r.int(2) === 0 ? 24 : 25}`), releasedAt: '2024-01-01T00:00:00Z', reason: 'moved', origin: '' }] : [];
  return { allocations, addresses, former };
}

const POOLS = [
  { name: 'default', cidrs: [parsePrefix('10.0.0.0/15'), parsePrefix('fd00:10::/47')], maskSize: { 4: 24, 6: 64 }, state: 'active' as const, origin: 'test' },
  { name: 'legacy', cidrs: [parsePrefix('10.8.0.0/16')], maskSize: {}, state: 'draining' as const, origin: 'test' },
];
const SERVICES = [{ cidr: parsePrefix('10.1.11.0/24'), origin: 'svc' }];

function stateOf(nodes: Map<number, NodeRules>): IpamState {
  const s = emptyState('cluster-pool', 'test');
  s.pools = POOLS.map((p) => ({ ...p }));
  s.serviceCidrs = [...SERVICES];
  for (const rules of nodes.values()) {
    s.allocations.push(...rules.allocations);
    s.nodeAddresses.push(...rules.addresses);
    s.former.push(...rules.former);
  }
  return s;
}

describe('snapshots built from the last one', () => {
  it('answer every address as a snapshot built from scratch does, through random changes (nodes re-carved, added, removed; conflicts; former ranges)', () => {
    for (const seed of [1, 2, 3, 4, 5, 6]) {
      const r = new Rng(seed);
      const nodes = new Map<number, NodeRules>();
      for (let n = 0; n < 6; n++) nodes.set(n, nodeRules(r, n));
      const builder = new SnapshotBuilder();
      for (let step = 0; step < 80; step++) {
        const n = r.int(9);
        if (r.int(5) === 0) nodes.delete(n);
        else nodes.set(n, nodeRules(r, n));
        const state = stateOf(nodes);
        const got = builder.build(state, step + 1);
        const want = IpamSnapshot.build(stateOf(nodes));
        expect(got.lookupCompiles).toBeLessThanOrEqual(2);
        for (const a of probes(state)) {
          expect(plain(got.resolve(a)), `seed ${seed} step ${step}`).toEqual(plain(want.resolve(a)));
          expect(got.resolveIndex(a) >= 0 ? got.infos[got.resolveIndex(a)] : undefined).toBe(got.resolve(a));
        }
      }
    }
  });

  it('a change to one node touches only its rules and the answers under them; unchanged answers keep their objects and indexes', () => {
    const r = new Rng(42);
    const nodes = new Map<number, NodeRules>();
    for (let n = 0; n < 6; n++) nodes.set(n, { ...nodeRules(r, n), former: [] });
    const builder = new SnapshotBuilder();
    // Distinct CIDRs per node, so that each answer belongs to one node.
    for (const [n, rules] of nodes) {
      rules.allocations = rules.allocations.map((a) => ({ ...a, cidr: parsePrefix(a.cidr.family === 4 ? `10.0.${n}.0/24` : `fd00:10:0:${n}::/64`) }));
      rules.addresses = [{ node: `w${n}`, type: 'InternalIP', ip: hostPrefix(`192.168.0.${n}`), origin: '' }];
    }
    const first = builder.build(stateOf(nodes));
    expect(builder.last.fresh).toBe(true);
    // Every rule: 6 × (2 allocations + 1 address) + 3 pool CIDRs + 1 service CIDR.
    expect(builder.last.rulesChanged).toBe(22);
    expect(first.lookupCompiles).toBe(2);

    // Node 3 moves to new CIDRs: its 2 allocations go and 2 new ones come; its address object is kept.
    const moved = nodes.get(3)!;
    nodes.set(3, { ...moved, allocations: [{ ...moved.allocations[0]!, cidr: parsePrefix('10.0.9.0/24') }, { ...moved.allocations[1]!, cidr: parsePrefix('fd00:10:0:9::/64') }] });
    const second = builder.build(stateOf(nodes), 2);
    expect(builder.last.fresh).toBe(false);
    expect(builder.last.rulesChanged).toBe(4);
    // Two prefixes left the table (their answers dropped) and two came: four answers changed, nothing else.
    expect(builder.last.answersChanged).toBe(4);
    expect(second.lookupCompiles).toBe(2); // one patch per family
    const a = new IpAddr();
    for (const [ip, status, node] of [
      ['10.0.3.5', 'unallocated', ''],
      ['10.0.9.5', 'current', 'w3'],
      ['fd00:10:0:9::5', 'current', 'w3'],
      ['10.0.4.5', 'current', 'w4'],
      ['192.168.0.3', 'node', 'w3'],
    ] as const) {
      parseIpInto(ip, a);
      expect(second.resolve(a), ip).toMatchObject({ status, node });
    }
    // Node 4's answer is the same object, at the same index, in both snapshots.
    parseIpInto('10.0.4.5', a);
    expect(second.resolve(a)).toBe(first.resolve(a));
    expect(second.resolveIndex(a)).toBe(first.resolveIndex(a));
    // The first snapshot still answers as it did: it is never patched.
    parseIpInto('10.0.3.5', a);
    expect(first.resolve(a)).toMatchObject({ status: 'current', node: 'w3' });
    parseIpInto('10.0.9.5', a);
    expect(first.resolve(a)).toMatchObject({ status: 'unallocated' });

    // The same state again: nothing changes, no table is compiled.
    const third = builder.build(stateOf(nodes), 3);
    expect(builder.last.rulesChanged).toBe(0);
    expect(third.lookupCompiles).toBe(0);
  });

  it('the classifier keeps the attributions of answers a change left alone, builds those it added, and starts over when a pool starts draining', () => {
    const r = new Rng(5);
    const nodes = new Map<number, NodeRules>();
    for (let n = 0; n < 4; n++) {
      const rules = nodeRules(r, n);
      rules.allocations = rules.allocations.map((a) => ({ ...a, cidr: parsePrefix(a.cidr.family === 4 ? `10.0.${n}.0/24` : `fd00:10:0:${n}::/64`) }));
      rules.addresses = [];
      rules.former = [];
      nodes.set(n, rules);
    }
    const builder = new SnapshotBuilder();
    const classifier = new Classifier();
    const rec = new FlowRecord();
    rec.hasIp = true;
    rec.source.isPod = true;
    const at = (ip: string) => {
      expect(parseIpInto(ip, rec.source.ip)).toBe(true);
      return classifier.classify(rec, SIDE_SOURCE);
    };
    const first = builder.build(stateOf(nodes), 1);
    classifier.setSnapshot(first);
    const w1 = at('10.0.1.9');
    const w2 = at('10.0.2.9');
    expect([w1.status, w1.node, w2.node]).toEqual(['current', 'w1', 'w2']);

    const moved = nodes.get(2)!;
    nodes.set(2, { ...moved, allocations: [{ ...moved.allocations[0]!, cidr: parsePrefix('10.0.7.0/24') }, moved.allocations[1]!] });
    const second = builder.build(stateOf(nodes), 2);
    expect(second.epoch).toBe(first.epoch);
    classifier.setSnapshot(second);
    expect(at('10.0.1.9')).toBe(w1);
    expect(at('10.0.2.9')).toMatchObject({ status: 'unallocated', node: '' });
    expect(at('10.0.7.9')).toMatchObject({ status: 'current', node: 'w2' });

    // A pool that starts draining changes what every answer of it means: all are built again.
    const draining = stateOf(nodes);
    draining.pools = draining.pools.map((p) => (p.name === 'default' ? { ...p, state: 'draining' as const } : p));
    classifier.setSnapshot(builder.build(draining, 3));
    const again = at('10.0.1.9');
    expect(again).not.toBe(w1);
    expect([again.status, again.node, again.draining]).toEqual(['current', 'w1', true]);
  });
});
