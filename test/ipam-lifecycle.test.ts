import { afterEach, describe, expect, it } from 'vitest';
import { IpamSources } from '../src/ipam/ipam-sources.js';
import type { KubeObject } from '../src/ipam/kube-object.js';
import { KubeIpamWatch } from '../src/ipam/kube-watch.js';
import { FakeKubeApi } from './support/fake-kube-api.js';
import { waitFor } from './support/wait.js';

const cm: KubeObject = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cilium-config', namespace: 'kube-system' }, data: { ipam: 'cluster-pool', 'cluster-pool-ipv4-cidr': '172.20.0.0/16', 'cluster-pool-ipv4-mask-size': '24' } };
const ciliumNode = (name: string, podCIDRs: string[]): KubeObject => ({ apiVersion: 'cilium.io/v2', kind: 'CiliumNode', metadata: { name }, spec: { ipam: { podCIDRs } } });

describe('IPAM sources and watch follow the lifecycle contract', () => {
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  async function cluster() {
    const api = await new FakeKubeApi().start();
    cleanup.push(() => api.close());
    api.upsert(cm);
    api.upsert(ciliumNode('n1', ['172.20.1.0/24']));
    return api;
  }

  it('start(signal) returns before anything is loaded; ready() resolves with the first state; aborting the signal stops the watch', async () => {
    const api = await cluster();
    let watch: KubeIpamWatch | undefined;
    const sources = new IpamSources({ kube: (onChange) => (watch = new KubeIpamWatch({ kubeConfig: api.kubeConfig(), onChange, debounceMs: 20 })) });
    cleanup.push(() => sources.close());
    const run = new AbortController();
    expect(sources.start(run.signal)).toBeUndefined();
    // Nothing can have been listed yet: start did not wait for the files or the API server.
    expect(sources.store.snapshot).toBeUndefined();
    await sources.ready(10_000);
    expect(sources.store.snapshot?.state.allocations.map((a) => `${a.node} ${a.cidr.text}`)).toEqual(['n1 172.20.1.0/24']);
    expect(api.openWatches()).toBeGreaterThan(0);
    run.abort();
    await waitFor(() => api.openWatches() === 0, 'every watch request to end after the abort');
    expect(watch!.synced).toBe(true);
    // A change after the abort reaches nobody: the version stays.
    const version = sources.store.snapshot!.version;
    api.upsert(ciliumNode('n2', ['172.20.2.0/24']));
    await sources.close();
    expect(sources.store.snapshot!.version).toBe(version);
  });

  it('close() is safe before start() and twice; ready() before start() says to call start(signal)', async () => {
    const idle = new IpamSources({ files: [] });
    await expect(idle.ready()).rejects.toThrow('IPAM sources not started: call start(signal) first');
    await idle.close();
    await idle.close();
    const api = await cluster();
    const w = new KubeIpamWatch({ kubeConfig: api.kubeConfig(), onChange: () => {} });
    await expect(w.ready()).rejects.toThrow('kube watch not started: call start(signal) first');
    await w.close();
    await w.close();
  });

  it('rejects a bad debounce or max wait at construction, naming the option', async () => {
    const api = await cluster();
    expect(() => new KubeIpamWatch({ kubeConfig: api.kubeConfig(), onChange: () => {}, debounceMs: -1 })).toThrow('kube watch: debounceMs must be a number of milliseconds >= 0, got -1');
    expect(() => new KubeIpamWatch({ kubeConfig: api.kubeConfig(), onChange: () => {}, maxWaitMs: Number.NaN })).toThrow('kube watch: maxWaitMs must be a number of milliseconds >= 0, got NaN');
  });

  it('a burst of watch events becomes one rebuild, and the state ends with every change in it', async () => {
    const api = await cluster();
    const sources = new IpamSources({ kube: (onChange) => new KubeIpamWatch({ kubeConfig: api.kubeConfig(), onChange, debounceMs: 300, maxWaitMs: 5_000 }) });
    cleanup.push(() => sources.close());
    sources.start(new AbortController().signal);
    await sources.ready(10_000);
    expect(sources.rebuilds).toBe(1);
    for (let i = 2; i <= 6; i++) api.upsert(ciliumNode(`n${i}`, [`172.20.${i}.0/24`]));
    await waitFor(() => sources.store.snapshot?.state.allocations.length === 6, 'the five new CiliumNodes in the state');
    expect(sources.rebuilds).toBe(2);
  });
});

describe('IPAM sources under a stream of watch changes', () => {
  it('never loses a change made while the previous one is being published (e.g. from a listener of the publish)', async () => {
    const objects = (cidr: string): KubeObject[] => [cm, ciliumNode('n1', [cidr])];
    let push: (o: KubeObject[]) => void = () => {};
    // A stand-in for the watch: hands over the objects at its first sync, then whenever the test says.
    const sources = new IpamSources({
      kube: (onChange) => {
        push = onChange;
        return { start() {}, ready: async () => onChange(objects('172.20.1.0/24')), close: async () => {}, synced: true } as unknown as KubeIpamWatch;
      },
    });
    sources.start(new AbortController().signal);
    await sources.ready();
    let asked = false;
    sources.store.onChange(() => {
      if (asked) return;
      asked = true;
      // The next change arrives right after the second state is published (as an awaiting caller's continuation runs).
      queueMicrotask(() => push(objects('172.20.3.0/24')));
    });
    push(objects('172.20.2.0/24'));
    await waitFor(() => sources.store.snapshot?.state.allocations[0]?.cidr.text === '172.20.3.0/24', 'the third CIDR in the state', 5_000, () => sources.store.snapshot?.state.allocations.map((a) => a.cidr.text));
    expect(sources.store.snapshot!.version).toBe(3);
    await sources.close();
  });
});
