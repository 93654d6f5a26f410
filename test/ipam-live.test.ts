import { afterEach, describe, expect, it } from 'vitest';
import { IpamSources } from '../src/ipam/ipam-sources.js';
import type { KubeObject } from '../src/ipam/kube-object.js';
import { KubeIpamWatch } from '../src/ipam/kube-watch.js';
import { IpAddr, parseIpInto } from '../src/net/ip.js';
import { FakeKubeApi } from './support/fake-kube-api.js';
import { waitFor } from './support/wait.js';

/** Each test closes what it starts; the lifecycle's signal is never aborted here. */
const signal = new AbortController().signal;

const cm: KubeObject = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cilium-config', namespace: 'kube-system' }, data: { ipam: 'cluster-pool', 'cluster-pool-ipv4-cidr': '172.20.0.0/16', 'cluster-pool-ipv4-mask-size': '24' } };
const node = (name: string, podCIDR: string, ip: string): KubeObject => ({ apiVersion: 'v1', kind: 'Node', metadata: { name }, spec: { podCIDR, podCIDRs: [podCIDR] }, status: { addresses: [{ type: 'InternalIP', address: ip }] } });
const ciliumNode = (name: string, podCIDRs: string[]): KubeObject => ({ apiVersion: 'cilium.io/v2', kind: 'CiliumNode', metadata: { name }, spec: { ipam: { podCIDRs } } });

describe('IPAM from a live watch (fake API server speaking list/watch)', () => {
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  it('follows a CiliumNode whose podCIDRs change: the old CIDR becomes a former allocation of its node', async () => {
    const api = await new FakeKubeApi().start();
    cleanup.push(() => api.close());
    api.upsert(cm);
    api.upsert(node('n1', '10.244.1.0/24', '192.168.0.1'));
    api.upsert(node('n2', '10.244.2.0/24', '192.168.0.2'));
    api.upsert(ciliumNode('n1', ['172.20.1.0/24']));
    api.upsert(ciliumNode('n2', ['172.20.2.0/24']));
    const sources = new IpamSources({ kube: (onChange) => new KubeIpamWatch({ kubeConfig: api.kubeConfig(), onChange, debounceMs: 20 }) });
    cleanup.push(() => sources.close());
    expect(sources.waitingFor()).toEqual(['the first full sync of the Kubernetes watch', 'a first IPAM state']);
    sources.start(signal);
    await sources.ready(10_000);
    expect(sources.waitingFor()).toEqual([]);
    const what = (ip: string) => {
      const a = new IpAddr();
      parseIpInto(ip, a);
      const i = sources.store.snapshot?.resolve(a);
      return i ? `${i.status} ${i.pool} ${i.node}` : 'none';
    };
    expect(sources.store.snapshot?.state.mode).toBe('cluster-pool');
    expect(what('172.20.2.9')).toBe('current default n2');
    expect(what('10.244.2.9')).toBe('stale kubernetes n2'); // legacy Node.spec.podCIDR after the switch

    // The operator re-creates n2's CiliumNode with a new pod CIDR.
    api.upsert(ciliumNode('n2', ['172.20.7.0/24']));
    await waitFor(() => what('172.20.7.9') === 'current default n2', 'the new CIDR to be current');
    expect(what('172.20.2.9')).toBe('stale default n2');
    expect(sources.store.snapshot?.state.former.find((f) => f.cidr.text === '172.20.2.0/24')?.reason).toBe('no longer allocated to n2');

    // A broken object is rejected; the last good state stays.
    const version = sources.store.snapshot!.version;
    api.upsert(ciliumNode('n3', ['172.20.300.0/24']));
    await waitFor(() => sources.store.errorCount === 1, 'the broken CiliumNode to be rejected');
    expect(sources.store.snapshot!.version).toBe(version);
    expect(sources.store.lastError?.problems.map((p) => `${p.where} ${p.field} ${p.value}`)).toEqual(['CiliumNode n3 (kubernetes) spec.ipam.podCIDRs[0] 172.20.300.0/24']);
    expect(what('172.20.7.9')).toBe('current default n2');
  });
});
