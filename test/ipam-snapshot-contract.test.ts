import { describe, expect, it } from 'vitest';
import { stateFromObjects } from '../src/ipam/from-objects.js';
import type { KubeObject } from '../src/ipam/kube-object.js';
import { IpamSnapshot } from '../src/ipam/snapshot.js';
import { IpAddr, parseIpInto } from '../src/net/ip.js';

/** Two dual-stack nodes in cluster-pool mode, as the API server gives them. */
const objects: KubeObject[] = [
  { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cilium-config', namespace: 'kube-system' }, data: { ipam: 'cluster-pool', 'cluster-pool-ipv4-cidr': '10.0.0.0/16', 'cluster-pool-ipv6-cidr': 'fd00:10::/48', 'cluster-pool-ipv6-mask-size': '64' } },
  ...[0, 1].map((n) => ({
    apiVersion: 'cilium.io/v2',
    kind: 'CiliumNode',
    metadata: { name: `w${n}` },
    spec: { addresses: [{ type: 'InternalIP', ip: `192.168.0.${n + 1}` }, { type: 'CiliumInternalIP', ip: `10.0.${n}.1` }], ipam: { podCIDRs: [`10.0.${n}.0/24`, `fd00:10:0:${n}::/64`] } },
  })),
];

function snapshot(): IpamSnapshot {
  const { state, problems } = stateFromObjects({ objects: objects.map((obj) => ({ obj, where: 'test' })) });
  expect(problems).toEqual([]);
  return IpamSnapshot.build(state);
}

describe('the IPAM snapshot contract', () => {
  it('compiles its lookup tables when it is built, never inside a lookup (a flow)', () => {
    const snap = snapshot();
    // One compile per family, at build.
    expect(snap.lookupCompiles).toBe(2);
    const a = new IpAddr();
    for (const ip of ['10.0.0.7', '10.0.1.1', '192.168.0.2', 'fd00:10:0:1::9', '172.16.0.1', 'fd99::1']) {
      parseIpInto(ip, a);
      snap.resolveIndex(a);
      snap.resolve(a);
    }
    expect(snap.lookupCompiles).toBe(2);
    parseIpInto('10.0.0.7', a);
    expect(snap.resolve(a)).toMatchObject({ status: 'current', node: 'w0', cidr: '10.0.0.0/24' });
    parseIpInto('fd00:10:0:1::9', a);
    expect(snap.resolve(a)).toMatchObject({ status: 'current', node: 'w1', cidr: 'fd00:10:0:1::/64' });
  });

  it('is immutable once built: the snapshot, its answers and its state lists are frozen', () => {
    const snap = snapshot();
    expect(Object.isFrozen(snap)).toBe(true);
    expect(Object.isFrozen(snap.infos)).toBe(true);
    expect(Object.isFrozen(snap.state)).toBe(true);
    for (const list of [snap.state.pools, snap.state.allocations, snap.state.former, snap.state.nodeAddresses, snap.state.serviceCidrs, snap.state.endpoints]) expect(Object.isFrozen(list)).toBe(true);
    expect(() => (snap.state.allocations as unknown[]).push({})).toThrow(TypeError);
    expect(snap.state.allocations.length).toBe(4);
  });
});
