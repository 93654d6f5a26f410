import { afterEach, describe, expect, it } from 'vitest';
import type { KubeObject } from '../src/ipam/kube-object.js';
import { KubeIpamWatch, LIST_PAGE_SIZE, requiredRbacRules, type KubeWatchOptions } from '../src/ipam/kube-watch.js';
import { createLogger } from '../src/log.js';
import { FakeKubeApi } from './support/fake-kube-api.js';
import { waitFor } from './support/wait.js';

/** Each test closes what it starts; the lifecycle's signal is never aborted here. */
const signal = new AbortController().signal;

const NODES = '/api/v1/nodes';
const CILIUM_NODES = '/apis/cilium.io/v2/ciliumnodes';
const POOLS = '/apis/cilium.io/v2alpha1/ciliumpodippools';
const CONFIGMAPS = '/api/v1/namespaces/kube-system/configmaps';
const ENDPOINTS = '/apis/cilium.io/v2/ciliumendpoints';

const node = (name: string, podCIDRs: string[], ip: string): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Node',
  metadata: {
    name,
    labels: { 'kubernetes.io/hostname': name },
    annotations: { 'network.cilium.io/ipv4-cilium-host': ip.replace(/\.\d+$/, '.1') },
    creationTimestamp: '2024-05-01T10:00:00Z',
  },
  spec: { podCIDR: podCIDRs[0], podCIDRs },
  status: { addresses: [{ type: 'InternalIP', address: ip }] },
});
const ciliumNode = (name: string, podCIDRs: string[]): KubeObject => ({
  apiVersion: 'cilium.io/v2',
  kind: 'CiliumNode',
  metadata: { name, ownerReferences: [{ kind: 'Node', name }] },
  spec: { ipam: { podCIDRs }, addresses: [{ type: 'CiliumInternalIP', ip: podCIDRs[0]!.replace(/0\/\d+$/, '1') }] },
});
const pool: KubeObject = {
  apiVersion: 'cilium.io/v2alpha1',
  kind: 'CiliumPodIPPool',
  metadata: { name: 'blue' },
  spec: { ipv4: { cidrs: ['10.20.0.0/16'], maskSize: 24 } },
};
const ciliumConfig: KubeObject = {
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: 'cilium-config', namespace: 'kube-system' },
  data: { ipam: 'cluster-pool', 'cluster-pool-ipv4-cidr': '10.0.0.0/8', 'cluster-pool-ipv4-mask-size': '24' },
};
const unrelatedConfigMap: KubeObject = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'coredns', namespace: 'kube-system' }, data: { Corefile: '.:53 {}' } };
const endpoint = (namespace: string, name: string, ip: string): KubeObject => ({
  apiVersion: 'cilium.io/v2',
  kind: 'CiliumEndpoint',
  metadata: { name, namespace },
  status: { id: 1234, networking: { node: '192.168.0.11', addressing: [{ ipv4: ip }] } },
});

const key = (o: KubeObject) => `${o.kind}/${o.metadata?.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata?.name}`;
const keys = (objs: KubeObject[] | undefined) => (objs ?? []).map(key).sort();
const find = (objs: KubeObject[] | undefined, k: string) => objs?.find((o) => key(o) === k);
const podCIDRsOf = (o: KubeObject | undefined) => (o?.spec as { ipam?: { podCIDRs?: string[] } } | undefined)?.ipam?.podCIDRs;

const SEEDED = [
  'CiliumNode/node-a',
  'CiliumNode/node-b',
  'CiliumPodIPPool/blue',
  'ConfigMap/kube-system/cilium-config',
  'Node/node-a',
  'Node/node-b',
];

let fake: FakeKubeApi | undefined;
let watch: KubeIpamWatch | undefined;
afterEach(async () => {
  await watch?.close();
  await fake?.close();
  watch = fake = undefined;
});

/** A fake API server seeded with a small cluster, and a watch on it recording every onChange. */
async function setup(o: { omitKinds?: string[]; watch?: Partial<KubeWatchOptions> } = {}) {
  const api = await new FakeKubeApi({ omitKinds: o.omitKinds }).start();
  api.upsert(node('node-a', ['10.0.1.0/24'], '192.168.0.11'));
  api.upsert(node('node-b', ['10.0.2.0/24'], '192.168.0.12'));
  api.upsert(ciliumNode('node-a', ['10.0.1.0/24']));
  api.upsert(ciliumNode('node-b', ['10.0.2.0/24']));
  if (!o.omitKinds?.includes('CiliumPodIPPool')) api.upsert(pool);
  api.upsert(ciliumConfig);
  api.upsert(unrelatedConfigMap);
  const calls: KubeObject[][] = [];
  const logs: string[] = [];
  const w = new KubeIpamWatch({
    kubeConfig: api.kubeConfig(),
    debounceMs: 50,
    logger: createLogger('debug', (l) => logs.push(l)),
    onChange: (objs) => calls.push(objs),
    ...o.watch,
  });
  fake = api;
  watch = w;
  return { api, w, calls, logs, last: () => calls.at(-1) };
}

describe('KubeIpamWatch against a list/watch API server', () => {
  it('delivers exactly the seeded objects, JSON-shaped with apiVersion and kind, after the first full sync', async () => {
    const { api, w, calls } = await setup();
    expect(w.synced).toBe(false);
    w.start(signal);
    await w.ready(5_000);
    expect(w.synced).toBe(true);
    expect(calls).toHaveLength(1);
    const objs = calls[0]!;
    expect(keys(objs)).toEqual(SEEDED);

    // Exactly what the server stores (and `kubectl get -o json` shows), apiVersion/kind filled in.
    for (const o of objs) expect(o).toEqual(api.get(o.kind!, o.metadata!.name!, o.metadata!.namespace));
    const nodeA = find(objs, 'Node/node-a')!;
    expect(nodeA.apiVersion).toBe('v1');
    expect(nodeA.spec).toEqual({ podCIDR: '10.0.1.0/24', podCIDRs: ['10.0.1.0/24'] });
    expect(nodeA.metadata?.annotations).toEqual({ 'network.cilium.io/ipv4-cilium-host': '192.168.0.1' });
    expect(nodeA.metadata?.creationTimestamp).toBe('2024-05-01T10:00:00Z');
    expect(Object.getPrototypeOf(nodeA)).toBe(Object.prototype);
    expect(Object.getPrototypeOf(nodeA.metadata)).toBe(Object.prototype);
    expect(podCIDRsOf(find(objs, 'CiliumNode/node-b'))).toEqual(['10.0.2.0/24']);
    expect(find(objs, 'CiliumNode/node-b')?.apiVersion).toBe('cilium.io/v2');
    expect(find(objs, 'CiliumPodIPPool/blue')?.apiVersion).toBe('cilium.io/v2alpha1');
    const cm = find(objs, 'ConfigMap/kube-system/cilium-config')!;
    expect(cm.apiVersion).toBe('v1');
    expect(cm.data).toEqual({ ipam: 'cluster-pool', 'cluster-pool-ipv4-cidr': '10.0.0.0/8', 'cluster-pool-ipv4-mask-size': '24' });

    expect(w.status()).toEqual({
      nodes: { synced: true, objects: 2, relists: 0 },
      ciliumnodes: { synced: true, objects: 2, relists: 0 },
      ciliumpodippools: { synced: true, objects: 1, relists: 0 },
      configmap: { synced: true, objects: 1, relists: 0 },
      ciliumendpoints: { synced: false, objects: 0, relists: 0 },
    });

    // One list per resource, then a watch from the list's resourceVersion with bookmarks allowed.
    await waitFor(() => api.openWatches() === 4, 'four open watches', 5_000, () => api.requests);
    for (const path of [NODES, CILIUM_NODES, POOLS, CONFIGMAPS]) {
      expect(api.listCount(path)).toBe(1);
      expect(api.watchCount(path)).toBe(1);
    }
    const watches = api.requests.filter((r) => r.watch);
    for (const r of watches) {
      expect(r.query.allowWatchBookmarks).toBe('true');
      expect(r.query.resourceVersion).toBe(String(api.rv));
    }
    const cmRequests = api.requests.filter((r) => r.path === CONFIGMAPS);
    expect(cmRequests.map((r) => r.query.fieldSelector)).toEqual(['metadata.name=cilium-config', 'metadata.name=cilium-config']);
  });

  it('follows MODIFIED, DELETED and ADDED events: new CiliumNode podCIDRs, a Node gone, a Node added', async () => {
    const { api, w, calls, last } = await setup();
    w.start(signal);
    await w.ready(5_000);
    await waitFor(() => api.openWatches() === 4, 'four open watches');

    api.upsert(ciliumNode('node-a', ['10.0.1.0/24', '10.0.9.0/24']));
    await waitFor(() => podCIDRsOf(find(last(), 'CiliumNode/node-a'))?.length === 2, 'the new podCIDRs', 5_000, () => calls.length);
    expect(calls).toHaveLength(2);
    expect(podCIDRsOf(find(last(), 'CiliumNode/node-a'))).toEqual(['10.0.1.0/24', '10.0.9.0/24']);
    expect(find(last(), 'CiliumNode/node-a')).toEqual(api.get('CiliumNode', 'node-a'));
    expect(keys(last())).toEqual(SEEDED);
    // What did not change is handed over as the same objects (the translation reuses their entries); the changed one is new.
    for (const k of SEEDED.filter((k) => k !== 'CiliumNode/node-a')) expect(find(last(), k), k).toBe(find(calls[0], k));
    expect(find(last(), 'CiliumNode/node-a')).not.toBe(find(calls[0], 'CiliumNode/node-a'));

    // A burst of two events: one debounced onChange with both.
    expect(api.remove('Node', 'node-b')).toBe(true);
    api.upsert(node('node-c', ['10.0.3.0/24'], '192.168.0.13'));
    await waitFor(() => calls.length === 3, 'the third onChange');
    expect(keys(last())).toEqual([...SEEDED.filter((k) => k !== 'Node/node-b'), 'Node/node-c'].sort());
    expect((find(last(), 'Node/node-c')?.spec as { podCIDRs?: string[] }).podCIDRs).toEqual(['10.0.3.0/24']);
    expect(w.status().nodes).toEqual({ synced: true, objects: 2, relists: 0 });

    // A change to a ConfigMap the field selector excludes is never seen.
    api.upsert({ ...unrelatedConfigMap, data: { Corefile: 'changed' } });
    api.upsert({ ...ciliumConfig, data: { ...ciliumConfig.data, ipam: 'multi-pool' } });
    await waitFor(() => calls.length === 4, 'the fourth onChange');
    expect(find(last(), 'ConfigMap/kube-system/cilium-config')?.data?.ipam).toBe('multi-pool');
    expect(find(last(), 'ConfigMap/kube-system/coredns')).toBeUndefined();
  });

  it('relists after 410 Gone (history compacted while the watches were down) and sees the change made in the gap', async () => {
    const { api, w, calls, last } = await setup();
    w.start(signal);
    await w.ready(5_000);
    await waitFor(() => api.openWatches() === 4, 'four open watches');

    // The watches end, a CiliumNode changes, the history is compacted before anyone reconnects.
    api.closeWatches();
    api.upsert(ciliumNode('node-b', ['10.0.2.0/24', '10.0.8.0/24']));
    api.compactHistory();

    await waitFor(
      () => Object.values(w.status()).filter((s) => s.relists === 1).length === 4 && podCIDRsOf(find(last(), 'CiliumNode/node-b'))?.length === 2,
      'every resource relisted and the gap change delivered',
      8_000,
      () => w.status(),
    );
    expect(podCIDRsOf(find(last(), 'CiliumNode/node-b'))).toEqual(['10.0.2.0/24', '10.0.8.0/24']);
    expect(keys(last())).toEqual(SEEDED);
    // One onChange for the one object that differs; the unchanged relists add none.
    expect(calls).toHaveLength(2);
    for (const path of [NODES, CILIUM_NODES, POOLS, CONFIGMAPS]) expect(api.listCount(path)).toBe(2);
    expect(w.status()).toEqual({
      nodes: { synced: true, objects: 2, relists: 1 },
      ciliumnodes: { synced: true, objects: 2, relists: 1 },
      ciliumpodippools: { synced: true, objects: 1, relists: 1 },
      configmap: { synced: true, objects: 1, relists: 1 },
      ciliumendpoints: { synced: false, objects: 0, relists: 0 },
    });

    // After the relist the watch resumes from the new list's resourceVersion.
    await waitFor(() => api.openWatches() === 4, 'four open watches again');
    api.remove('CiliumNode', 'node-b');
    await waitFor(() => calls.length === 3, 'the DELETED after the relist');
    expect(keys(last())).toEqual(SEEDED.filter((k) => k !== 'CiliumNode/node-b'));
  });

  it('takes bookmarks without an onChange and without breaking the stream, and resumes from the bookmark', async () => {
    const { api, w, calls, last } = await setup();
    w.start(signal);
    await w.ready(5_000);
    await waitFor(() => api.openWatches() === 4, 'four open watches');
    const watchesBefore = api.requests.filter((r) => r.watch).length;

    // Writes the watched collections do not see move the global resourceVersion on.
    api.upsert({ ...unrelatedConfigMap, data: { Corefile: 'v2' } });
    api.upsert({ ...unrelatedConfigMap, data: { Corefile: 'v3' } });
    const bookmarkRv = api.sendBookmarks();
    expect(api.bookmarksSent).toBe(4);

    api.upsert(node('node-b', ['10.0.2.0/24', 'fd00:2::/64'], '192.168.0.12'));
    await waitFor(() => (find(last(), 'Node/node-b')?.spec as { podCIDRs?: string[] }).podCIDRs?.length === 2, 'the Node change');
    expect(calls).toHaveLength(2);
    expect(keys(last())).toEqual(SEEDED);
    expect(api.requests.filter((r) => r.watch).length).toBe(watchesBefore);
    expect(api.openWatches()).toBe(4);

    // A plain end of stream: re-watch from the bookmark's resourceVersion, no relist.
    api.closeWatches();
    await waitFor(() => api.openWatches() === 4, 'four watches again');
    expect(api.requests.filter((r) => r.watch && r.path === CILIUM_NODES).map((r) => r.query.resourceVersion).at(-1)).toBe(bookmarkRv);
    for (const path of [NODES, CILIUM_NODES, POOLS, CONFIGMAPS]) expect(api.listCount(path)).toBe(1);
    expect(Object.values(w.status()).map((s) => s.relists)).toEqual([0, 0, 0, 0, 0]);
    expect(calls).toHaveLength(2);
  });

  it('treats a missing CiliumPodIPPool CRD (404) as synced and empty, logs it once and does not retry in a loop', async () => {
    const { api, w, calls, logs, last } = await setup({ omitKinds: ['CiliumPodIPPool'] });
    w.start(signal);
    await w.ready(5_000);
    expect(keys(calls[0])).toEqual(SEEDED.filter((k) => !k.startsWith('CiliumPodIPPool')));
    expect(w.status().ciliumpodippools).toEqual({ synced: true, objects: 0, relists: 0 });

    // The rest keeps working; the pool path was asked once.
    await waitFor(() => api.openWatches() === 3, 'three open watches');
    api.upsert(ciliumNode('node-c', ['10.0.3.0/24']));
    await waitFor(() => calls.length === 2, 'the second onChange');
    expect(find(last(), 'CiliumNode/node-c')).toBeDefined();
    expect(api.listCount(POOLS)).toBe(1);
    expect(api.watchCount(POOLS)).toBe(0);
    expect(logs.filter((l) => l.includes('CRD not installed'))).toEqual([
      'level=info msg="CiliumPodIPPool CRD not installed (404), treating it as empty" resource=ciliumpodippools path=/apis/cilium.io/v2alpha1/ciliumpodippools',
    ]);
  });

  it('rejects start() naming the resource and the status when it answers 503', async () => {
    const { api, w, calls } = await setup();
    api.setUnavailable(CILIUM_NODES, true);
    w.start(signal);
    await expect(w.ready(1_000)).rejects.toThrow(
      'kube watch: not synced after 1000 ms: ciliumnodes (/apis/cilium.io/v2/ciliumnodes): list /apis/cilium.io/v2/ciliumnodes: HTTP 503 Service Unavailable: the server is currently unable to handle the request',
    );
    expect(w.synced).toBe(false);
    expect(calls).toHaveLength(0);
    expect(api.listCount(CILIUM_NODES)).toBeGreaterThan(1); // it retried before giving up
    await waitFor(() => api.openWatches() === 0, 'the other watches closed');
  });

  it('survives a 503 after the sync: keeps the last objects, records lastError, resumes when the server is back', async () => {
    const { api, w, calls, last } = await setup();
    w.start(signal);
    await w.ready(5_000);
    await waitFor(() => api.openWatches() === 4, 'four open watches');

    api.setUnavailable(CILIUM_NODES, true);
    api.upsert(ciliumNode('node-a', ['10.0.1.0/24', '10.0.7.0/24']));
    await waitFor(() => w.status().ciliumnodes.lastError !== undefined, 'the 503 recorded');
    expect(w.status().ciliumnodes.lastError).toBe('watch /apis/cilium.io/v2/ciliumnodes: HTTP 503 Service Unavailable');

    // The other resources keep flowing, with the CiliumNodes as last seen.
    api.upsert(node('node-c', ['10.0.3.0/24'], '192.168.0.13'));
    await waitFor(() => find(last(), 'Node/node-c') !== undefined, 'the new Node');
    expect(podCIDRsOf(find(last(), 'CiliumNode/node-a'))).toEqual(['10.0.1.0/24']);
    expect(keys(last())).toEqual([...SEEDED, 'Node/node-c'].sort());

    api.setUnavailable(CILIUM_NODES, false);
    await waitFor(() => podCIDRsOf(find(last(), 'CiliumNode/node-a'))?.length === 2, 'the change made during the outage', 8_000);
    expect(podCIDRsOf(find(last(), 'CiliumNode/node-a'))).toEqual(['10.0.1.0/24', '10.0.7.0/24']);
    // Resumed from its resourceVersion (history still there): no relist.
    expect(w.status().ciliumnodes).toEqual({ synced: true, objects: 2, relists: 0, lastError: 'watch /apis/cilium.io/v2/ciliumnodes: HTTP 503 Service Unavailable' });
    expect(api.listCount(CILIUM_NODES)).toBe(1);
    expect(calls).toHaveLength(3);
  });

  it('close() is safe before start() and twice, and no onChange fires after it', async () => {
    const api = await new FakeKubeApi().start();
    const idle = new KubeIpamWatch({ kubeConfig: api.kubeConfig(), onChange: () => {} });
    await idle.close();
    await idle.close();
    idle.start(signal);
    await expect(idle.ready()).rejects.toThrow('kube watch is closed');
    expect(api.requests).toEqual([]);
    await api.close();

    const { w, calls } = await setup({ watch: { debounceMs: 500 } });
    w.start(signal);
    await w.ready(5_000);
    await waitFor(() => fake!.openWatches() === 4, 'four open watches');
    // A new CiliumNode reaches the cache; its onChange is pending in the debounce when close() runs.
    fake!.upsert(ciliumNode('node-c', ['10.0.3.0/24']));
    await waitFor(() => w.status().ciliumnodes.objects === 3, 'the ADDED CiliumNode in the cache');
    expect(w.changePending).toBe(true);
    await w.close();
    await w.close();
    // The debounced onChange is cancelled, not left to fire: nothing is scheduled, nothing was called.
    expect(w.changePending).toBe(false);
    await waitFor(() => fake!.openWatches() === 0, 'every watch closed');
    expect(w.changePending).toBe(false);
    expect(calls).toHaveLength(1);
  });

  it('watches CiliumEndpoints in every namespace with watchEndpoints, and needs no more than requiredRbacRules', async () => {
    const { api, w, calls, last } = await setup({ watch: { watchEndpoints: true } });
    api.upsert(endpoint('default', 'web-1', '10.0.1.17'));
    api.upsert(endpoint('shop', 'cart-1', '10.0.2.33'));
    w.start(signal);
    await w.ready(5_000);
    expect(keys(calls[0])).toEqual([...SEEDED, 'CiliumEndpoint/default/web-1', 'CiliumEndpoint/shop/cart-1'].sort());
    expect(find(calls[0], 'CiliumEndpoint/shop/cart-1')).toEqual(api.get('CiliumEndpoint', 'cart-1', 'shop'));
    await waitFor(() => api.openWatches() === 5, 'five open watches');
    api.remove('CiliumEndpoint', 'web-1', 'default');
    await waitFor(() => calls.length === 2, 'the DELETED endpoint');
    expect(keys(last()).filter((k) => k.startsWith('CiliumEndpoint'))).toEqual(['CiliumEndpoint/shop/cart-1']);
    expect(w.status().ciliumendpoints).toEqual({ synced: true, objects: 1, relists: 0 });
    expect(api.listCount(ENDPOINTS)).toBe(1);

    expect(requiredRbacRules).toEqual([
      { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: [''], resources: ['configmaps'], resourceNames: ['cilium-config'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: ['cilium.io'], resources: ['ciliumnodes', 'ciliumpodippools', 'ciliumendpoints'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] },
    ]);
    // Every request is allowed by a rule: group and resource from the path, the name from the field selector.
    const used = new Set<string>();
    for (const r of api.requests) {
      const m = /^\/(?:api\/v1|apis\/([^/]+)\/[^/]+)(?:\/namespaces\/[^/]+)?\/([^/]+)$/.exec(r.path)!;
      const [group, resource] = [m[1] ?? '', m[2]!];
      const name = r.query.fieldSelector?.replace(/^metadata\.name=/, '');
      const verb = r.watch ? 'watch' : 'list';
      const rule = requiredRbacRules.find(
        (x) => x.apiGroups.includes(group) && x.resources.includes(resource) && x.verbs.includes(verb) && (!x.resourceNames || (name !== undefined && x.resourceNames.includes(name))),
      );
      expect(rule, `${verb} ${r.path}`).toBeDefined();
      used.add(`${group}/${resource}`);
    }
    expect([...used].sort()).toEqual(['/configmaps', '/nodes', 'cilium.io/ciliumendpoints', 'cilium.io/ciliumnodes', 'cilium.io/ciliumpodippools']);
  });

  it('watches Pods with watchPods: live ones only (phase selector), cut down to what the inventory reads, listed in pages', async () => {
    const pod = (name: string, phase: string, extra: Record<string, unknown> = {}): KubeObject => ({
      kind: 'Pod',
      metadata: {
        name,
        namespace: 'shop',
        labels: { app: 'cart', 'pod-template-hash': '7d9f' },
        annotations: { 'kubectl.kubernetes.io/restartedAt': '2024-05-01T00:00:00Z' },
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'cart-7d9f', uid: 'u1', controller: true }],
      },
      spec: { nodeName: 'node-a', containers: [{ name: 'cart', image: 'shop/cart:1.2', env: [{ name: 'BIG', value: 'x'.repeat(2000) }] }], ...extra },
      status: { phase, podIP: '10.0.1.17', podIPs: [{ ip: '10.0.1.17' }, { ip: 'fd00:10:0:1::17' }], startTime: '2024-05-01T00:00:00Z', conditions: [{ type: 'Ready', status: 'True' }] },
    });
    const { api, w, calls, last } = await setup({ watch: { watchPods: true } });
    api.upsert(pod('cart-1', 'Running'));
    api.upsert(pod('report-1', 'Succeeded'));
    // More pods than one page holds: the list takes three requests.
    for (let i = 0; i < 2 * LIST_PAGE_SIZE + 3; i++) api.upsert({ kind: 'Pod', metadata: { name: `filler-${i}`, namespace: 'batch' }, spec: { nodeName: 'node-b' }, status: { phase: 'Running', podIP: `10.0.2.${i % 250}` } });
    w.start(signal);
    await w.ready(10_000);
    const pods = () => last()!.filter((o) => o.kind === 'Pod');
    expect(pods()).toHaveLength(1 + 2 * LIST_PAGE_SIZE + 3);
    expect(api.listCount('/api/v1/pods')).toBe(3);
    expect(api.requests.filter((r) => r.path === '/api/v1/pods' && !r.watch).map((r) => [r.query.limit, r.query.continue !== undefined, r.query.fieldSelector])).toEqual([
      [String(LIST_PAGE_SIZE), false, 'status.phase!=Succeeded,status.phase!=Failed'],
      [String(LIST_PAGE_SIZE), true, 'status.phase!=Succeeded,status.phase!=Failed'],
      [String(LIST_PAGE_SIZE), true, 'status.phase!=Succeeded,status.phase!=Failed'],
    ]);
    const stored = api.get('Pod', 'cart-1', 'shop')!;
    expect(find(last(), 'Pod/shop/cart-1')).toEqual({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: 'cart-1',
        namespace: 'shop',
        uid: stored.metadata!.uid,
        resourceVersion: stored.metadata!.resourceVersion,
        labels: { 'pod-template-hash': '7d9f' },
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'cart-7d9f', controller: true }],
      },
      spec: { nodeName: 'node-a', hostNetwork: undefined },
      status: { phase: 'Running', podIP: '10.0.1.17', podIPs: [{ ip: '10.0.1.17' }, { ip: 'fd00:10:0:1::17' }], startTime: '2024-05-01T00:00:00Z' },
    });
    expect(find(last(), 'Pod/shop/report-1')).toBeUndefined();

    // A pod that completes leaves the selector: the watch sees it DELETED; a change arrives cut down too.
    await waitFor(() => api.openWatches('/api/v1/pods') === 1, 'the pods watch');
    const before = calls.length;
    api.upsert(pod('cart-1', 'Succeeded'));
    api.upsert(pod('cart-2', 'Running', { hostNetwork: true }));
    await waitFor(() => calls.length > before && find(last(), 'Pod/shop/cart-2') !== undefined && find(last(), 'Pod/shop/cart-1') === undefined, 'cart-1 gone and cart-2 in');
    expect((find(last(), 'Pod/shop/cart-2')?.spec as Record<string, unknown>).hostNetwork).toBe(true);
    expect(JSON.stringify(find(last(), 'Pod/shop/cart-2'))).not.toContain('BIG');
    expect(w.status().pods).toEqual({ synced: true, objects: 2 * LIST_PAGE_SIZE + 4, relists: 0 });
  });

  it('per-node mode (podNodeName): only the live Pods of its own node, through the spec.nodeName index of the API server; the cluster-wide IPAM objects as before', async () => {
    const pod = (name: string, node: string, phase = 'Running'): KubeObject => ({
      kind: 'Pod',
      metadata: { name, namespace: 'shop' },
      spec: { nodeName: node },
      status: { phase, podIP: `10.0.${node === 'node-a' ? 1 : 2}.${name.length}` },
    });
    const { api, w, calls, last } = await setup({ watch: { watchPods: true, podNodeName: 'node-a' } });
    api.upsert(pod('a-1', 'node-a'));
    api.upsert(pod('a-done', 'node-a', 'Succeeded'));
    api.upsert(pod('b-1', 'node-b'));
    api.upsert(pod('pending', '', 'Pending'));
    w.start(signal);
    await w.ready(10_000);
    const podNames = () => last()!.filter((o) => o.kind === 'Pod').map((o) => o.metadata!.name).sort();
    expect(podNames()).toEqual(['a-1']);
    // Every Pods request carries the node term; nothing else is narrowed: both nodes' Node and CiliumNode objects are there.
    const podRequests = api.requests.filter((r) => r.path === '/api/v1/pods');
    expect(new Set(podRequests.map((r) => r.query.fieldSelector))).toEqual(new Set(['status.phase!=Succeeded,status.phase!=Failed,spec.nodeName=node-a']));
    expect(last()!.filter((o) => o.kind === 'Node' || o.kind === 'CiliumNode').map((o) => `${o.kind}/${o.metadata!.name}`).sort()).toEqual(['CiliumNode/node-a', 'CiliumNode/node-b', 'Node/node-a', 'Node/node-b']);

    // Events in order on one watch: b-2 (node-b) is upserted before the pending pod is scheduled to node-a,
    // so once the scheduled pod has arrived, b-2 would have too had the server sent it.
    await waitFor(() => api.openWatches('/api/v1/pods') === 1, 'the pods watch');
    const before = calls.length;
    api.upsert(pod('b-2', 'node-b'));
    api.upsert(pod('pending', 'node-a'));
    await waitFor(() => calls.length > before && podNames().includes('pending'), 'the pod scheduled to node-a');
    expect(podNames()).toEqual(['a-1', 'pending']);
    expect(w.status().pods).toEqual({ synced: true, objects: 2, relists: 0 });
  });
});
