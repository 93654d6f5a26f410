import { describe, expect, it } from 'vitest';
import { stateFromObjects, type SourceItem } from '../src/ipam/from-objects.js';
import { loadIpamFiles } from '../src/ipam/ipam-files.js';
import type { KubeObject } from '../src/ipam/kube-object.js';
import { IpamError } from '../src/ipam/model.js';
import { IpamSnapshot } from '../src/ipam/snapshot.js';
import { IpAddr, parseIpInto } from '../src/net/ip.js';
import { ipamFixture } from './support/fixtures.js';

const items = (objs: KubeObject[], where = 'test.yaml'): SourceItem[] => objs.map((obj) => ({ obj, where }));

function build(input: Parameters<typeof stateFromObjects>[0]) {
  const { state, problems } = stateFromObjects(input);
  expect(problems).toEqual([]);
  return IpamSnapshot.build(state);
}

/** `status pool node` for an address, or `none`. */
function what(snap: IpamSnapshot, ip: string): string {
  const a = new IpAddr();
  if (!parseIpInto(ip, a)) throw new Error(`bad test address ${ip}`);
  const i = snap.resolve(a);
  return i ? `${i.status} ${i.pool || '-'} ${i.node || '-'}${i.status === 'node' ? ` ${i.detail}` : ''}` : 'none';
}

const node = (name: string, podCIDRs: string[], internalIP: string): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Node',
  metadata: { name },
  spec: { podCIDR: podCIDRs[0], podCIDRs },
  status: { addresses: [{ type: 'InternalIP', address: internalIP }, { type: 'Hostname', address: name }] },
});

const ciliumNode = (name: string, ipam: object, extra: object = {}): KubeObject => ({
  apiVersion: 'cilium.io/v2',
  kind: 'CiliumNode',
  metadata: { name, creationTimestamp: '2026-11-01T10:00:00Z' },
  spec: { ipam, ...extra },
});

const ciliumConfig = (data: Record<string, string>): KubeObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: 'cilium-config', namespace: 'kube-system' },
  data,
});

const podPool = (name: string, ipv4: object, annotations: Record<string, string> = {}): KubeObject => ({
  apiVersion: 'cilium.io/v2alpha1',
  kind: 'CiliumPodIPPool',
  metadata: { name, annotations },
  spec: { ipv4 },
});

describe('IPAM modes from the real fixtures', () => {
  it('kubernetes host-scope: the 3-node dual-stack kind cluster (init.yaml)', () => {
    const f = loadIpamFiles([ipamFixture('init.yaml')]);
    expect(f.problems).toEqual([]);
    const snap = build({ objects: f.items });
    const s = snap.state;
    expect(s.mode).toBe('kubernetes');
    expect(s.modeSource).toBe('inferred: CiliumNode podCIDRs match their Node podCIDRs');
    expect(s.pools.map((p) => [p.name, p.state, p.cidrs.length])).toEqual([['kubernetes', 'active', 0]]);
    expect(s.allocations.map((a) => `${a.node} ${a.cidr.text}`).sort()).toEqual([
      'dual-stack-control-plane 10.244.0.0/24',
      'dual-stack-control-plane fd00:10:244::/64',
      'dual-stack-worker 10.244.1.0/24',
      'dual-stack-worker fd00:10:244:1::/64',
      'dual-stack-worker2 10.244.2.0/24',
      'dual-stack-worker2 fd00:10:244:2::/64',
    ]);
    // Per node: InternalIP v4+v6, CiliumInternalIP v4+v6, health v4+v6.
    expect(s.nodeAddresses).toHaveLength(18);
    expect(s.former).toEqual([]);
    expect(what(snap, '10.244.1.77')).toBe('current kubernetes dual-stack-worker');
    expect(what(snap, 'fd00:10:244:2::abcd')).toBe('current kubernetes dual-stack-worker2');
    expect(what(snap, '10.244.1.109')).toBe('node - dual-stack-worker CiliumInternalIP');
    expect(what(snap, 'fd00:10:244:2::e490')).toBe('node - dual-stack-worker2 HealthIP');
    expect(what(snap, '172.18.0.4')).toBe('node - dual-stack-worker InternalIP');
    expect(what(snap, '::ffff:172.18.0.5')).toBe('node - dual-stack-worker2 InternalIP');
    expect(what(snap, '10.96.0.1')).toBe('service - -'); // the kubernetes Service's clusterIP
    expect(what(snap, '10.244.9.1')).toBe('none'); // no pool CIDR is known in host-scope mode
    expect(what(snap, '8.8.8.8')).toBe('none');
  });

  it('the real CiliumNode (ciliumnode.yaml) alone reads as cluster-pool; with cilium-config it is named so', () => {
    const f = loadIpamFiles([ipamFixture('ciliumnode.yaml')]);
    const inferred = build({ objects: f.items });
    expect(inferred.state.mode).toBe('cluster-pool');
    expect(what(inferred, '10.244.1.10')).toBe('current default kind-worker');
    expect(what(inferred, '10.244.1.2')).toBe('node - kind-worker CiliumInternalIP');
    expect(what(inferred, '10.244.1.242')).toBe('node - kind-worker HealthIP');
    const configured = build({
      objects: [...f.items, ...items([ciliumConfig({ ipam: 'cluster-pool', 'cluster-pool-ipv4-cidr': '10.244.0.0/16', 'cluster-pool-ipv4-mask-size': '24', 'cluster-pool-ipv6-cidr': 'fd00:10:244::/56', 'cluster-pool-ipv6-mask-size': '64' })])],
    });
    expect(configured.state.modeSource).toBe('cilium-config ipam');
    expect(what(configured, '10.244.7.1')).toBe('unallocated default -');
    expect(what(configured, 'fd00:10:244:1::99')).toBe('current default kind-worker');
    expect(what(configured, 'fd00:10:244:5::1')).toBe('unallocated default -');
    const cap = configured.poolCapacity();
    expect(cap).toEqual([
      { pool: 'default', state: 'active', family: 4, totalIps: 65536, allocatedIps: 256, allocatedCidrs: 1, maxNodeCidrs: 256, usedIps: undefined, usedFrom: undefined, nodeCidrsLeft: 255 },
      { pool: 'default', state: 'active', family: 6, totalIps: 2 ** 72, allocatedIps: 2 ** 64, allocatedCidrs: 1, maxNodeCidrs: 256, usedIps: undefined, usedFrom: undefined, nodeCidrsLeft: 255 },
    ]);
  });

  it('multi-pool: the real acme-pool plus a CiliumNode with allocated pools (Cilium docs shape)', () => {
    const acme = loadIpamFiles([ipamFixture('acme-pool.yaml')]);
    const snap = build({
      objects: [
        ...acme.items,
        ...items([
          podPool('default', { cidrs: ['10.10.0.0/16'], maskSize: 27 }),
          ciliumNode('worker-1', { pools: { requested: [{ pool: 'default', needed: { 'ipv4-addrs': 16 } }], allocated: [{ pool: 'default', cidrs: ['10.10.0.0/27'] }, { pool: 'acme-pool', cidrs: ['10.20.0.32/27', '10.20.0.64/27'] }] } }),
          ciliumNode('worker-2', { pools: { allocated: [{ pool: 'default', cidrs: ['10.10.0.32/27'] }] } }),
        ]),
      ],
    });
    expect(snap.state.mode).toBe('multi-pool');
    expect(what(snap, '10.20.0.40')).toBe('current acme-pool worker-1');
    expect(what(snap, '10.20.0.70')).toBe('current acme-pool worker-1');
    expect(what(snap, '10.20.0.100')).toBe('unallocated acme-pool -');
    expect(what(snap, '10.10.0.33')).toBe('current default worker-2');
    expect(what(snap, '10.30.0.1')).toBe('none');
    const cap = Object.fromEntries(snap.poolCapacity().map((c) => [c.pool, [c.totalIps, c.allocatedIps, c.allocatedCidrs, c.maxNodeCidrs]]));
    expect(cap).toEqual({ 'acme-pool': [65536, 64, 2, 2048], default: [65536, 64, 2, 2048] });
  });

  it('cluster-pool migration: Node.spec.podCIDR 10.244.x.0/24, CiliumNode podCIDRs 172.20.x.0/24', () => {
    const objs = [
      node('node-1', ['10.244.1.0/24'], '192.168.0.11'),
      node('node-2', ['10.244.2.0/24'], '192.168.0.12'),
      ciliumNode('node-1', { podCIDRs: ['172.20.1.0/24'] }, { addresses: [{ type: 'CiliumInternalIP', ip: '172.20.1.1' }] }),
      ciliumNode('node-2', { podCIDRs: ['172.20.2.0/24'] }),
    ];
    for (const withConfig of [false, true]) {
      const extra = withConfig ? [ciliumConfig({ ipam: 'cluster-pool', 'cluster-pool-ipv4-cidr': '172.20.0.0/16', 'cluster-pool-ipv4-mask-size': '24' })] : [];
      const snap = build({ objects: items([...objs, ...extra]) });
      expect(snap.state.mode).toBe('cluster-pool');
      expect(snap.state.modeSource).toBe(withConfig ? 'cilium-config ipam' : "inferred: CiliumNode podCIDRs differ from their Node's (the Node's are legacy)");
      expect(what(snap, '10.244.1.8')).toBe('stale kubernetes node-1');
      expect(what(snap, '10.244.2.200')).toBe('stale kubernetes node-2');
      expect(what(snap, '172.20.2.8')).toBe('current default node-2');
      expect(what(snap, '172.20.1.1')).toBe('node - node-1 CiliumInternalIP');
      expect(what(snap, '192.168.0.12')).toBe('node - node-2 InternalIP');
      expect(what(snap, '172.20.99.1')).toBe(withConfig ? 'unallocated default -' : 'none');
      expect(snap.state.pools.find((p) => p.name === 'kubernetes')?.state).toBe('draining');
      expect(snap.state.former.map((f) => f.reason)).toEqual([
        'legacy Node spec.podCIDRs[0] from kubernetes host-scope IPAM after the switch to cluster-pool',
        'legacy Node spec.podCIDRs[0] from kubernetes host-scope IPAM after the switch to cluster-pool',
      ]);
    }
  });

  it('CRD-backed (ENI) mode: individual IPs per node, addresses in use from status', () => {
    const snap = build({
      objects: items([
        ciliumConfig({ ipam: 'eni' }),
        {
          ...ciliumNode('ip-10-0-1-5', { pool: { '10.0.1.20': { resource: 'eni-1' }, '10.0.1.21': { resource: 'eni-1' }, '10.0.1.22': { resource: 'eni-2' } } }),
          status: { ipam: { used: { '10.0.1.20': { owner: 'shop/cart-1' }, '10.0.1.21': { owner: 'shop/cart-2' } } } },
        },
      ]),
    });
    expect(snap.state.mode).toBe('eni');
    expect(what(snap, '10.0.1.21')).toBe('current eni ip-10-0-1-5');
    expect(what(snap, '10.0.1.23')).toBe('none');
    expect(snap.nodeCapacity()).toEqual([{ node: 'ip-10-0-1-5', pool: 'eni', family: 4, allocatedIps: 3, usedIps: 2 }]);
  });

  it('CIDRs marked released in CiliumNode status become former allocations', () => {
    const snap = build({
      objects: items([
        ciliumConfig({ ipam: 'cluster-pool', 'cluster-pool-ipv4-cidr': '10.0.0.0/8' }),
        { ...ciliumNode('n1', { podCIDRs: ['10.0.1.0/24', '10.0.2.0/24'] }), status: { ipam: { 'pod-cidrs': { '10.0.1.0/24': { status: 'released' }, '10.0.2.0/24': { status: 'in-use' } } } } },
      ]),
    });
    expect(what(snap, '10.0.1.5')).toBe('stale default n1');
    expect(what(snap, '10.0.2.5')).toBe('current default n1');
    expect(snap.state.former[0]!.reason).toBe('marked released in CiliumNode status.ipam.pod-cidrs');
  });

  it('CiliumEndpoints give addresses in use per pool and their pods', () => {
    const ep = (ns: string, name: string, ip: string): KubeObject => ({
      apiVersion: 'cilium.io/v2',
      kind: 'CiliumEndpoint',
      metadata: { name, namespace: ns },
      status: { networking: { addressing: [{ ipv4: ip }], node: '192.168.0.11' } },
    });
    const snap = build({
      objects: items([
        node('node-1', ['10.244.1.0/24'], '192.168.0.11'),
        ciliumConfig({ ipam: 'kubernetes' }),
        ep('shop', 'cart-1', '10.244.1.10'),
        ep('shop', 'cart-2', '10.244.1.11'),
        ep('shop', 'lost-1', '10.99.0.1'),
      ]),
    });
    expect(snap.state.endpoints.map((e) => `${e.namespace}/${e.pod}@${e.node}`)).toEqual(['shop/cart-1@node-1', 'shop/cart-2@node-1', 'shop/lost-1@node-1']);
    // The host-scope pool has no CIDRs of its own, but its allocation and the two pods in it count.
    expect(snap.poolCapacity()).toEqual([{ pool: 'kubernetes', state: 'active', family: 4, totalIps: 0, allocatedIps: 256, allocatedCidrs: 1, maxNodeCidrs: 0, usedIps: 2, usedFrom: 'endpoints', nodeCidrsLeft: undefined }]);
    expect(snap.nodeCapacity()).toEqual([{ node: 'node-1', pool: 'kubernetes', family: 4, allocatedIps: 256, usedIps: undefined }]);
  });
});

describe('our IpamConfig', () => {
  it('declares pools, nodes, service CIDRs and a migration; draining pool allocations turn stale', () => {
    const { state, problems } = stateFromObjects({
      objects: [],
      configs: [
        {
          where: 'ipam.yaml',
          config: {
            apiVersion: 'hubble-ipam-exporter/v1',
            kind: 'IpamConfig',
            mode: 'cluster-pool',
            serviceCidrs: ['10.96.0.0/12', 'fd00:10:96::/112'],
            pools: [
              { name: 'kubernetes', cidrs: ['10.244.0.0/16'], maskSize: { ipv4: 24 } },
              { name: 'default', cidrs: ['172.20.0.0/16'], maskSize: { ipv4: 24 } },
            ],
            nodes: [
              { name: 'a', addresses: [{ type: 'InternalIP', ip: '192.168.1.1' }], allocations: [{ pool: 'kubernetes', cidrs: ['10.244.0.0/24'] }, { pool: 'default', cidrs: ['172.20.0.0/24'] }] },
              { name: 'b', allocations: [{ pool: 'default', cidrs: ['172.20.1.0/24'] }], former: [{ pool: 'kubernetes', cidrs: ['10.244.1.0/24'], reason: 'host-scope before the switch' }] },
            ],
            migration: { from: { pools: ['kubernetes'] }, to: { pools: ['default'] } },
          },
        },
      ],
    });
    expect(problems).toEqual([]);
    const snap = IpamSnapshot.build(state);
    expect(snap.state.modeSource).toBe('ipam.yaml mode');
    expect(what(snap, '10.244.0.9')).toBe('stale kubernetes a');
    expect(what(snap, '10.244.1.9')).toBe('stale kubernetes b');
    expect(what(snap, '10.244.2.9')).toBe('unallocated kubernetes -');
    expect(what(snap, '172.20.1.9')).toBe('current default b');
    expect(what(snap, '10.96.0.10')).toBe('service - -');
    expect(what(snap, 'fd00:10:96::a')).toBe('service - -');
    expect(snap.state.pools.map((p) => `${p.name}:${p.state}`)).toEqual(['default:active', 'kubernetes:draining']);
  });
});

describe('bad input names the object, the field and the value', () => {
  it('an invalid CIDR in a CiliumNode', () => {
    const { problems } = stateFromObjects({ objects: items([ciliumNode('w1', { podCIDRs: ['10.244.1.0/24', '10.244.300.0/24'] })], 'nodes.yaml') });
    expect(problems).toEqual([
      { where: 'CiliumNode w1 (nodes.yaml)', field: 'spec.ipam.podCIDRs[1]', value: '10.244.300.0/24', message: 'invalid CIDR: expected address/length such as 10.244.0.0/16 or fd00:10:244::/56' },
    ]);
  });

  it('a mask size larger than its CIDR, overlapping pools, an unknown pool', () => {
    const acme = loadIpamFiles([ipamFixture('acme-pool.yaml')]);
    const { state, problems } = stateFromObjects({
      objects: [
        ...acme.items,
        ...items([
          podPool('mars', { cidrs: ['10.20.128.0/17'], maskSize: 27 }),
          podPool('tiny', { cidrs: ['10.99.0.0/24'], maskSize: 16 }),
          ciliumNode('w1', { pools: { allocated: [{ pool: 'jupiter', cidrs: ['10.50.0.0/27'] }] } }),
        ]),
      ],
    });
    expect(problems).toEqual([]);
    let err: IpamError | undefined;
    try {
      IpamSnapshot.build(state);
    } catch (e) {
      err = e as IpamError;
    }
    expect(err).toBeInstanceOf(IpamError);
    expect(err!.problems.map((p) => `${p.where} | ${p.field} | ${p.value} | ${p.message}`)).toEqual([
      'CiliumPodIPPool tiny (test.yaml) | maskSize (IPv4) | 16 | a /16 node CIDR is larger than the pool CIDR 10.99.0.0/24',
      `CiliumPodIPPool mars (test.yaml) | cidrs | 10.20.128.0/17 | overlaps 10.20.0.0/16 of pool acme-pool (CiliumPodIPPool acme-pool (${ipamFixture('acme-pool.yaml')}))`,
      'CiliumNode w1 (test.yaml) spec.ipam.pools.allocated[0].cidrs[0] | pool | jupiter | unknown pool (known: acme-pool, mars, tiny)',
    ]);
  });

  it('an unknown IPAM mode in cilium-config', () => {
    const { problems } = stateFromObjects({ objects: items([ciliumConfig({ ipam: 'cluster-poool' })]) });
    expect(problems.map((p) => `${p.where} ${p.field} ${p.value}`)).toEqual(['ConfigMap kube-system/cilium-config (test.yaml) data.ipam cluster-poool']);
  });
});
