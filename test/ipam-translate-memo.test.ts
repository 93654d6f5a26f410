import { describe, expect, it } from 'vitest';
import { CONFIG_API_VERSION, type IpamConfig } from '../src/ipam/ipam-config.js';
import { IpamTranslator, stateFromObjects } from '../src/ipam/from-objects.js';
import type { KubeObject } from '../src/ipam/kube-object.js';
import type { IpamState } from '../src/ipam/model.js';
import { Rng } from '../src/sim/rng.js';

const T0 = Date.parse('2024-05-01T00:00:00Z');
const MODES = ['cluster-pool', 'kubernetes', 'multi-pool', 'crd', 'bogus-mode'];

const ciliumConfig = (ipam: string): KubeObject => ({
  kind: 'ConfigMap',
  metadata: { name: 'cilium-config', namespace: 'kube-system' },
  data: { ipam, 'cluster-pool-ipv4-cidr': '10.0.0.0/15', 'cluster-pool-ipv6-cidr': 'fd00:10::/47', 'cluster-pool-ipv6-mask-size': '64' },
});

/** A random change to a small cluster's objects, always a new object (as the watch gives): every kind, the mode, pools, released CIDRs, names held twice, bad values, deletions. */
function mutate(r: Rng, objects: Map<string, KubeObject>): void {
  const n = r.int(8);
  const v4 = (k: number) => `10.${r.int(2)}.${k}.0/24`;
  const v6 = (k: number) => `fd00:10:${r.int(2)}:${k.toString(16)}::/64`;
  switch (r.int(9)) {
    case 0:
    case 1: {
      // a CiliumNode: CIDRs, addresses, released CIDRs, CRD-mode addresses, now and then a bad value
      const released = r.int(3) === 0 ? { [v4(n)]: { status: 'released' } } : {};
      objects.set(`cn/${n}${r.int(6) === 0 ? '/twin' : ''}`, {
        kind: 'CiliumNode',
        metadata: { name: `w${n}`, creationTimestamp: '2024-01-01T00:00:00Z' },
        spec: {
          addresses: [{ type: 'InternalIP', ip: `192.168.0.${r.int(6) === 0 ? n + 1 : n}` }, { type: 'CiliumInternalIP', ip: r.int(12) === 0 ? 'not-an-ip' : `10.0.${n}.1` }],
          health: { ipv4: `10.0.${n}.2` },
          ipam: {
            podCIDRs: r.int(10) === 0 ? ['10.0.300.0/24'] : [v4(n), v6(n)],
            ...(r.int(4) === 0 ? { pools: { allocated: [{ pool: 'blue', cidrs: [`10.0.${n}.0/26`] }] } } : {}),
            ...(r.int(4) === 0 ? { pool: { [`10.0.${n}.7`]: {}, ...(r.int(5) === 0 ? { 'bad-ip': {} } : {}) } } : {}),
          },
        },
        status: { ipam: { used: Object.fromEntries(Array.from({ length: r.int(4) }, (_, i) => [`10.0.${n}.${i + 5}`, {}])), 'pod-cidrs': released } },
      });
      break;
    }
    case 2: // a Node (sometimes a second object of the same name)
      objects.set(`node/${n}${r.int(6) === 0 ? '/twin' : ''}`, {
        kind: 'Node',
        metadata: { name: `w${n}`, annotations: r.int(3) === 0 ? { 'network.cilium.io/ipv4-cilium-host': `10.0.${n}.1`, 'network.cilium.io/ipv4-pod-cidr': v4(n + 8) } : {} },
        spec: { podCIDRs: [v4(n)] },
        status: { addresses: [{ type: 'InternalIP', address: `192.168.0.${n}` }] },
      });
      break;
    case 3:
    case 4: // an endpoint, its node by address
      objects.set(`cep/${r.int(30)}`, { kind: 'CiliumEndpoint', metadata: { name: `p${r.int(30)}`, namespace: 'default' }, status: { networking: { node: `192.168.0.${n}`, addressing: [{ ipv4: r.int(20) === 0 ? '10.0.999.1' : `10.0.${n}.${10 + r.int(200)}` }] } } });
      break;
    case 5: {
      // a deletion
      const keys = [...objects.keys()].filter((k) => k !== 'cm');
      if (keys.length > 0) objects.delete(keys[r.int(keys.length)]!);
      break;
    }
    case 6: // a CiliumPodIPPool appears, changes or goes
      if (objects.has('pool') && r.int(2) === 0) objects.delete('pool');
      else objects.set('pool', { kind: 'CiliumPodIPPool', metadata: { name: 'blue', annotations: r.int(2) === 0 ? { 'hubble-ipam-exporter.io/draining': 'true' } : {} }, spec: { ipv4: { cidrs: [r.int(2) === 0 ? '10.0.0.0/16' : '10.1.0.0/16'], maskSize: 24 } } });
      break;
    case 7: // the mode switches
      objects.set('cm', ciliumConfig(MODES[r.int(MODES.length)]!));
      break;
    default: // a Service
      objects.set(`svc/${r.int(3)}`, { kind: 'Service', metadata: { name: `s${r.int(3)}`, namespace: 'default' }, spec: { clusterIPs: [`10.96.0.${r.int(20)}`, r.int(8) === 0 ? 'bad' : 'None'] } });
  }
}

/** The state with every `releasedAt` blanked (a memoised translation keeps when an entry was first seen released). */
const unstamped = (s: IpamState) => ({ ...s, former: s.former.map((f) => ({ ...f, releasedAt: '' })) });

describe('IPAM translation memoised per object', () => {
  it('after every random change, the memoised translation equals a fresh one (releasedAt: the first time seen, never later than now)', () => {
    for (const seed of [11, 12, 13, 14, 15, 16]) {
      const r = new Rng(seed);
      const objects = new Map<string, KubeObject>([['cm', ciliumConfig('cluster-pool')]]);
      const translator = new IpamTranslator();
      const firstSeen = new Map<string, string>();
      for (let step = 0; step < 80; step++) {
        mutate(r, objects);
        const now = new Date(T0 + step * 1000);
        const list = [...objects.values()];
        const memo = translator.translate({ groups: [{ where: 'kubernetes', objects: list }], serviceCidrs: ['10.96.0.0/12'], now });
        const fresh = stateFromObjects({ objects: list.map((obj) => ({ obj, where: 'kubernetes' })), serviceCidrs: ['10.96.0.0/12'], now });
        const at = `seed ${seed} step ${step}`;
        expect(memo.problems, at).toEqual(fresh.problems);
        expect(unstamped(memo.state), at).toEqual(unstamped(fresh.state));
        // Each former entry: stamped at a step at or before this one, and never re-stamped while it stays.
        const seen = new Map<string, string>();
        for (const f of memo.state.former) {
          const key = `${f.node} ${f.cidr.text} ${f.reason} ${f.origin}`;
          expect(Date.parse(f.releasedAt), at).toBeLessThanOrEqual(now.getTime());
          const before = firstSeen.get(key);
          if (before !== undefined && f.releasedAt !== before) expect(Date.parse(f.releasedAt), `${at} ${key}`).toBeGreaterThan(Date.parse(before));
          seen.set(key, f.releasedAt);
        }
        firstSeen.clear();
        for (const [k, v] of seen) firstSeen.set(k, v);
      }
    }
  });

  it('a fresh translation stamps now on every former allocation, as before', () => {
    const now = new Date(T0);
    const objs: KubeObject[] = [
      ciliumConfig('cluster-pool'),
      { kind: 'CiliumNode', metadata: { name: 'w1' }, spec: { ipam: { podCIDRs: ['10.0.1.0/24'] } }, status: { ipam: { 'pod-cidrs': { '10.0.9.0/24': { status: 'released' } } } } },
      { kind: 'Node', metadata: { name: 'w1' }, spec: { podCIDRs: ['10.244.1.0/24'] } },
    ];
    const { state } = stateFromObjects({ objects: objs.map((obj) => ({ obj, where: 'test' })), now });
    expect(state.former.map((f) => [f.cidr.text, f.releasedAt])).toEqual([
      ['10.0.9.0/24', now.toISOString()],
      ['10.244.1.0/24', now.toISOString()],
    ]);
  });

  it('a former allocation keeps when it was first seen released while it stays, even when its object changes otherwise', () => {
    const translator = new IpamTranslator();
    const cn = (used: number): KubeObject => ({
      kind: 'CiliumNode',
      metadata: { name: 'w1' },
      spec: { ipam: { podCIDRs: ['10.0.1.0/24'] } },
      status: { ipam: { used: Object.fromEntries(Array.from({ length: used }, (_, i) => [`10.0.1.${i + 2}`, {}])), 'pod-cidrs': { '10.0.9.0/24': { status: 'released' } } } },
    });
    const at = (s: number) => new Date(T0 + s * 1000);
    const first = translator.translate({ groups: [{ where: 'kubernetes', objects: [ciliumConfig('cluster-pool'), cn(1)] }], now: at(0) });
    const second = translator.translate({ groups: [{ where: 'kubernetes', objects: [ciliumConfig('cluster-pool'), cn(2)] }], now: at(60) });
    expect(first.state.former[0]!.releasedAt).toBe(at(0).toISOString());
    expect(second.state.former[0]).toBe(first.state.former[0]);
    expect(second.state.allocations[0]).toBe(first.state.allocations[0]);
    expect(second.state.usedByNode.get('w1')).toBe(2);
  });

  it('after one CiliumNode changes in a 200-node, 2,000-endpoint cluster, only that object is translated again: every other entry and every endpoint is the same object', () => {
    const NODES = 200;
    const ENDPOINTS = 2000;
    const cn = (n: number, gen: number): KubeObject => ({
      kind: 'CiliumNode',
      metadata: { name: `n${n}`, creationTimestamp: '2024-01-01T00:00:00Z' },
      spec: {
        addresses: [{ type: 'InternalIP', ip: `192.168.${n >> 8}.${n & 255}` }, { type: 'CiliumInternalIP', ip: `10.${gen}.${n}.1` }],
        health: { ipv4: `10.${gen}.${n}.2`, ipv6: `fd00:${gen}:${n.toString(16)}::2` },
        ipam: { podCIDRs: [`10.${gen}.${n}.0/24`, `fd00:${gen}:${n.toString(16)}::/64`] },
      },
    });
    const node = (n: number): KubeObject => ({ kind: 'Node', metadata: { name: `n${n}` }, spec: { podCIDRs: [`10.0.${n}.0/24`] }, status: { addresses: [{ type: 'InternalIP', address: `192.168.${n >> 8}.${n & 255}` }] } });
    const cep = (e: number): KubeObject => {
      const n = e % NODES;
      return { kind: 'CiliumEndpoint', metadata: { name: `p${e}`, namespace: 'default' }, status: { networking: { node: `192.168.${n >> 8}.${n & 255}`, addressing: [{ ipv4: `10.0.${n}.${3 + Math.floor(e / NODES)}` }] } } };
    };
    const objects: KubeObject[] = [ciliumConfig('cluster-pool')];
    for (let n = 0; n < NODES; n++) objects.push(node(n), cn(n, 0));
    for (let e = 0; e < ENDPOINTS; e++) objects.push(cep(e));
    const translator = new IpamTranslator();
    const translate = (objs: KubeObject[]) => translator.translate({ groups: [{ where: 'kubernetes', objects: objs }], now: new Date(T0) });
    const before = translate(objects);
    expect(before.problems).toEqual([]);
    expect(before.state.allocations).toHaveLength(2 * NODES);
    expect(before.state.endpoints).toHaveLength(ENDPOINTS);
    expect(translator.stats.objectsTranslated).toBe(2 * NODES + ENDPOINTS);

    const CHANGED = 17;
    const next = objects.slice();
    next[2 + 2 * CHANGED] = cn(CHANGED, 1);
    const statsBefore = translator.stats;
    const after = translate(next);
    expect(after.problems).toEqual([]);
    // One object parsed; its entries and its Node's (whose CIDR is now legacy) built again.
    expect(translator.stats.objectsTranslated - statsBefore.objectsTranslated).toBe(1);
    expect(translator.stats.entriesBuilt - statsBefore.entriesBuilt).toBe(2);

    const name = `n${CHANGED}`;
    const others = <T extends { node: string }>(xs: T[]) => xs.filter((x) => x.node !== name);
    expect(others(after.state.allocations)).toHaveLength(2 * (NODES - 1));
    others(after.state.allocations).forEach((a, i) => expect(a).toBe(others(before.state.allocations)[i]));
    others(after.state.nodeAddresses).forEach((a, i) => expect(a).toBe(others(before.state.nodeAddresses)[i]));
    expect(after.state.endpoints).toHaveLength(ENDPOINTS);
    after.state.endpoints.forEach((e, i) => expect(e).toBe(before.state.endpoints[i]));
    // The changed node's new CIDRs and addresses are new entries; its unchanged InternalIP is the same one.
    const mine = after.state.allocations.filter((a) => a.node === name);
    expect(mine.map((a) => a.cidr.text)).toEqual([`10.1.${CHANGED}.0/24`, `fd00:1:${CHANGED.toString(16)}::/64`]);
    for (const a of mine) expect(before.state.allocations).not.toContain(a);
    const addrs = after.state.nodeAddresses.filter((a) => a.node === name);
    expect(addrs.map((a) => a.ip.text)).toEqual([`192.168.0.${CHANGED}/32`, `10.1.${CHANGED}.1/32`, `10.1.${CHANGED}.2/32`, `fd00:1:${CHANGED.toString(16)}::2/128`]);
    expect(addrs[0]).toBe(before.state.nodeAddresses.find((a) => a.node === name && a.type === 'InternalIP'));
    for (const a of addrs.slice(1)) expect(before.state.nodeAddresses).not.toContain(a);
    // The Node's CIDR is legacy now: one former entry, new.
    expect(after.state.former.map((f) => [f.node, f.cidr.text])).toEqual([[name, `10.0.${CHANGED}.0/24`]]);

    // Nothing changed: nothing translated, the same endpoint list.
    const statsSame = translator.stats;
    const same = translate(next.slice());
    expect(translator.stats).toEqual(statsSame);
    expect(same.state.endpoints).toBe(after.state.endpoints);
  });
});

describe('prefixes made on the translation path', () => {
  // Texts net/prefix takes, refuses, or leaves to ipaddr.js: the translation must give the same prefix (fields and text) or the same problem.
  const cidrs = ['10.1.2.0/24', '10.1.2.3/24', ' 10.9.0.0/16 ', '0.0.0.0/0', '10.0.0.0/32', '10.0.0.0/33', '10.0.0/8', '010.1.0.0/16', '10.1.0.0/', '10.1.0.0/1x', '10.1.0.0/0024', '/24',
    'fd00:10:244:1::/64', 'FD00:10::/48', 'fd00::1/128', 'fd00::/129', '::/0', '::ffff:10.1.2.0/120', '::ffff:10.1.2.0/95', '::ffff:0a01:0200/120', 'fe80::1%eth0/64', '1:2:3:4:5:6:7:8/64', '1::2::3/64', 'fd00:0000:0000:0000:0000:0000:0000:0001/128', 'x/24'];
  const ips = ['10.0.0.1', ' 10.0.0.2', '10.0.0.256', '1.2.3', 'fd00::5', 'FD00::A', '::ffff:10.0.0.9', 'fe80::1%eth0', 'fd00:0000:0000:0000:0000:0000:0000:0001', 'nope', '::'];
  const cn = (name: string, podCIDRs: string[], addresses: string[]): KubeObject => ({
    kind: 'CiliumNode',
    metadata: { name },
    spec: { addresses: addresses.map((ip) => ({ type: 'InternalIP', ip })), ipam: { podCIDRs } },
  });
  const plain = (p: { family: number; bits: number; v4: number; v6: ArrayLike<number>; text: string }) => ({ family: p.family, bits: p.bits, v4: p.v4, v6: p.family === 6 ? Array.from(p.v6) : [0, 0, 0, 0], text: p.text });

  it('gives the prefixes and problems net/prefix gives, for every text', async () => {
    const { parsePrefix, hostPrefix } = await import('../src/net/prefix.js');
    const objects = [ciliumConfig('cluster-pool'), ...cidrs.map((c, i) => cn(`c${i}`, [c], [])), ...ips.map((ip, i) => cn(`a${i}`, [], [ip]))];
    const { state, problems } = new IpamTranslator().translate({ groups: [{ where: 'test', objects }], now: new Date(T0) });
    let expectedProblems = 0;
    cidrs.forEach((c, i) => {
      const got = state.allocations.filter((a) => a.node === `c${i}`);
      let want;
      try {
        want = parsePrefix(c);
      } catch (e) {
        want = (e as Error).message.replace(/^invalid CIDR "[^"]*": /, 'invalid CIDR: ');
      }
      if (typeof want === 'string') {
        expectedProblems++;
        expect(got, c).toHaveLength(0);
        expect(problems.filter((p) => p.where.includes(`CiliumNode c${i} `)).map((p) => p.message), c).toEqual([want]);
      } else {
        expect(got.map((a) => plain(a.cidr)), c).toEqual([plain(want)]);
      }
    });
    ips.forEach((ip, i) => {
      const got = state.nodeAddresses.filter((a) => a.node === `a${i}`);
      let want;
      try {
        want = hostPrefix(ip);
      } catch {
        want = 'invalid IP address';
      }
      if (typeof want === 'string') {
        expectedProblems++;
        expect(got, ip).toHaveLength(0);
        expect(problems.filter((p) => p.where.includes(`CiliumNode a${i} `)).map((p) => p.message), ip).toEqual([want]);
      } else {
        expect(got.map((a) => plain(a.ip)), ip).toEqual([plain(want)]);
      }
    });
    expect(problems).toHaveLength(expectedProblems);
    // Each prefix is immutable, as net/prefix's are.
    expect(state.allocations.every((a) => Object.isFrozen(a.cidr))).toBe(true);
  });
});

describe('the parsed-CIDR cache across changes', () => {
  it('keeps every CIDR the cluster still uses after one object changes (it used to forget them all once the cache held more than 1,024)', () => {
    const NODES = 600;
    const node = (n: number, gen: number): KubeObject => ({
      kind: 'CiliumNode',
      metadata: { name: `n${n}` },
      spec: { ipam: { podCIDRs: [`10.${gen}.${n >> 8}.${n & 255}/32`, `fd00:${gen}::${n.toString(16)}/128`] } },
    });
    const objects = [ciliumConfig('cluster-pool'), ...Array.from({ length: NODES }, (_, n) => node(n, 0))];
    const t = new IpamTranslator();
    const translate = () => t.translate({ groups: [{ where: 'test', objects: [...objects] }], now: new Date(T0) });
    translate();
    // Two CIDRs per node and the ConfigMap's two.
    expect(t.cache.cidrs.size).toBe(2 * NODES + 2);
    objects[1] = node(0, 1);
    const { state } = translate();
    expect(state.allocations).toHaveLength(2 * NODES);
    // The changed node's two new CIDRs join the others.
    expect(t.cache.cidrs.size).toBe(2 * NODES + 4);
  });
});

describe('states the translator handed out', () => {
  it('never change when a later translation adds our config entries or draining pools', () => {
    const objects: KubeObject[] = [ciliumConfig('cluster-pool'), ...[0, 1, 2].map((n) => ({ kind: 'CiliumNode', metadata: { name: `n${n}` }, spec: { addresses: [{ type: 'InternalIP', ip: `192.168.0.${n}` }], ipam: { podCIDRs: [`10.0.${n}.0/24`] } } }) as KubeObject)];
    const config = (k: number): Array<{ where: string; config: IpamConfig }> => [{ where: 'ipam.yaml', config: { apiVersion: CONFIG_API_VERSION, kind: 'IpamConfig', nodes: [{ name: `extra${k}`, addresses: [{ type: 'InternalIP' as const, ip: `192.168.9.${k}` }], allocations: [{ pool: 'default', cidrs: [`10.0.${100 + k}.0/24`] }] }] } }];
    const t = new IpamTranslator();
    const translate = (k: number) => t.translate({ groups: [{ where: 'test', objects: [...objects] }], configs: config(k), now: new Date(T0) });
    const first = translate(1).state;
    const counts = () => [first.nodeAddresses.length, first.allocations.length, first.former.length];
    // Three nodes' entries and the config's one of each.
    expect(counts()).toEqual([4, 4, 0]);
    // The same objects, another config node.
    const second = translate(2).state;
    expect(counts()).toEqual([4, 4, 0]);
    expect(second.allocations.map((a) => a.node)).toEqual(['n0', 'n1', 'n2', 'extra2']);
    objects[2] = { ...objects[2]!, spec: { ipam: { podCIDRs: ['10.0.50.0/24'] } } };
    const third = translate(3).state;
    expect(counts()).toEqual([4, 4, 0]);
    expect(second.allocations.map((a) => a.node)).toEqual(['n0', 'n1', 'n2', 'extra2']);
    expect(third).toEqual(stateFromObjects({ objects: objects.map((obj) => ({ obj, where: 'test' })), configs: config(3), now: new Date(T0) }).state);
  });
});

describe('a group whose objects are replaced in place', () => {
  it('keeps endpoints inside Lists in their order between plain ones when only a CiliumNode changes', () => {
    const ep = (i: number, node: string): KubeObject => ({ kind: 'CiliumEndpoint', metadata: { name: `p${i}`, namespace: 'ns' }, status: { networking: { node, addressing: [{ ipv4: `10.0.0.${i}` }] } } });
    const cn = (g: number): KubeObject => ({ kind: 'CiliumNode', metadata: { name: 'n1' }, spec: { addresses: [{ type: 'InternalIP', ip: '192.168.0.1' }], ipam: { podCIDRs: [`10.${g}.0.0/24`] } } });
    const objects: KubeObject[] = [ep(1, '192.168.0.1'), { kind: 'List', items: [ep(2, '192.168.0.1'), ep(3, '192.168.0.9')] }, ep(4, '192.168.0.1'), cn(0), ciliumConfig('cluster-pool'), ep(5, '192.168.0.9')];
    const t = new IpamTranslator();
    const translate = () => t.translate({ groups: [{ where: 'm', objects: [...objects] }], now: new Date(T0) });
    translate();
    translate();
    for (const g of [1, 2, 3]) {
      objects[3] = cn(g);
      const got = translate().state;
      expect(got.endpoints.map((e) => `${e.pod}@${e.node}`)).toEqual(['p1@n1', 'p2@n1', 'p3@192.168.0.9', 'p4@n1', 'p5@192.168.0.9']);
      expect(got.allocations.map((a) => a.cidr.text)).toEqual([`10.${g}.0.0/24`]);
      expect(got).toEqual(stateFromObjects({ groups: [{ where: 'm', objects: [...objects] }], now: new Date(T0) }).state);
    }
  });
});
