/**
 * The live pod inventory memoised (issue 12, the benchmark's path): each Pod
 * or CiliumEndpoint object is parsed once, and a pod keeps its InventoryPod
 * while its record and its addresses' answers stay the same objects. Over a
 * seeded random sequence of pod and IPAM changes the memoised inventory and
 * plan must equal a fresh buildInventory / buildRestartPlan of the same input.
 */
import { describe, expect, it } from 'vitest';
import { IpamTranslator } from '../src/ipam/from-objects.js';
import type { IpamConfig } from '../src/ipam/ipam-config.js';
import { IpamStore } from '../src/ipam/ipam-store.js';
import type { KubeObject } from '../src/ipam/kube-object.js';
import { buildInventory, type AddressTraffic } from '../src/inventory/inventory.js';
import { LiveInventory } from '../src/inventory/live.js';
import { podsFromObjects } from '../src/inventory/pod.js';
import { buildRestartPlan } from '../src/inventory/restart-plan.js';
import type { ReadModel } from '../src/read-model/read-model.js';

/** Park–Miller: the same sequence for a seed. */
class Rng {
  constructor(private s: number) {}
  next(): number {
    this.s = (this.s * 48271) % 2147483647;
    return this.s / 2147483647;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
}

const NODES = 12;
const nodeName = (n: number) => `node-${n}`;
/** Node n's CIDR in pool `old` (gen 0) or `new` (gen 1). */
const cidrs = (n: number, gen: number) => (gen === 0 ? [`10.244.${n}.0/24`, `fd00:10:244:${n}::/64`] : [`172.20.${n}.0/24`, `fd00:172:20:${n}::/64`]);
const addrs = (n: number, gen: number, k: number) => (gen === 0 ? [`10.244.${n}.${k}`, `fd00:10:244:${n}::${k.toString(16)}`] : [`172.20.${n}.${k}`, `fd00:172:20:${n}::${k.toString(16)}`]);

/** The cluster's IpamConfig: node n on gen[n] (re-carved nodes keep their old CIDRs as former), pool `old` draining or not. */
function config(gens: number[], draining: boolean): IpamConfig {
  return {
    apiVersion: 'hubble-ipam-exporter/v1',
    kind: 'IpamConfig',
    mode: 'cluster-pool',
    serviceCidrs: ['10.96.0.0/12'],
    pools: [
      { name: 'old', cidrs: ['10.244.0.0/16', 'fd00:10:244::/56'], maskSize: { ipv4: 24, ipv6: 64 } },
      { name: 'new', cidrs: ['172.20.0.0/16', 'fd00:172:20::/56'], maskSize: { ipv4: 24, ipv6: 64 } },
    ],
    nodes: gens.map((g, n) => ({
      name: nodeName(n),
      addresses: [{ type: 'InternalIP' as const, ip: `192.168.0.${n + 1}` }],
      allocations: [{ pool: g === 0 ? 'old' : 'new', cidrs: cidrs(n, g) }],
      ...(g === 1 ? { former: [{ pool: 'old', cidrs: cidrs(n, 0), reason: 're-carved', releasedAt: '2024-01-01T00:00:00Z' }] } : {}),
    })),
    ...(draining ? { migration: { from: { pools: ['old'] }, to: { pools: ['new'] } } } : {}),
  } as IpamConfig;
}

const OWNERS = ['rs', 'sts', 'ds', 'job', 'bare', 'host', 'cep'] as const;

/** Pod p (a Pod, or a CiliumEndpoint for kind `cep`) on node n at addresses of gen g, slot k. */
function podObject(p: number, n: number, g: number, k: number, rv: number): KubeObject {
  const kind = OWNERS[p % OWNERS.length]!;
  const ns = `ns-${p % 3}`;
  const name = `pod-${p}`;
  const [v4, v6] = addrs(n, g, k);
  if (kind === 'cep') {
    return { apiVersion: 'cilium.io/v2', kind: 'CiliumEndpoint', metadata: { name, namespace: ns, resourceVersion: String(rv) }, status: { networking: { node: `192.168.0.${n + 1}`, addressing: [{ ipv4: v4, ipv6: v6 }] } } } as KubeObject;
  }
  const owner =
    kind === 'rs' ? { kind: 'ReplicaSet', name: `web-${p % 4}-5d8f7`, controller: true } : kind === 'sts' ? { kind: 'StatefulSet', name: `db-${p % 2}`, controller: true } : kind === 'ds' ? { kind: 'DaemonSet', name: 'agent', controller: true } : kind === 'job' ? { kind: 'Job', name: 'report-28391040', controller: true } : undefined;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: ns, resourceVersion: String(rv), ...(kind === 'rs' ? { labels: { 'pod-template-hash': '5d8f7' } } : {}), ...(owner ? { ownerReferences: [owner] } : {}) },
    spec: { nodeName: nodeName(n), ...(kind === 'host' ? { hostNetwork: true } : {}) },
    status: { phase: 'Running', podIPs: kind === 'host' ? [{ ip: `192.168.0.${n + 1}` }] : [{ ip: v4 }, { ip: v6 }] },
  } as KubeObject;
}

/** A read model that answers only what LiveInventory reads: the anomalies' traffic. */
function readOf(traffic: Map<string, AddressTraffic>): ReadModel {
  return { anomalies: () => ({ total: traffic.size, rows: [...traffic].map(([ip, t]) => ({ ip, flowsInWindow: t.flows, byVerdict: { DROPPED: t.drops } })) }) } as unknown as ReadModel;
}

describe('LiveInventory memoised per pod', () => {
  it('after every random pod and IPAM change, the inventory and plan equal a fresh build of the same input', () => {
    for (const seed of [3, 17, 29, 41]) {
      const r = new Rng(seed);
      const gens = Array.from({ length: NODES }, () => 0);
      let draining = false;
      const translator = new IpamTranslator();
      const store = new IpamStore();
      const publish = () => {
        const { state, problems } = translator.translate({ configs: [{ config: config(gens, draining), where: 'cfg.yaml' }] });
        if (!store.update(state, 'test', problems)) throw new Error(`rejected: ${store.lastError?.message}`);
      };
      publish();
      const pods = new Map<number, KubeObject>();
      let rv = 1;
      let nextPod = 0;
      const place = (p: number) => {
        const n = r.int(NODES);
        // Mostly on its node's current CIDR; sometimes on the old one, another node's, or outside every pool.
        const roll = r.int(10);
        const obj = roll < 6 ? podObject(p, n, gens[n]!, 3 + r.int(200), rv++) : roll < 8 ? podObject(p, n, 0, 3 + r.int(200), rv++) : roll < 9 ? podObject(p, (n + 1) % NODES, gens[(n + 1) % NODES]!, 3 + r.int(200), rv++) : podObject(p, n, 1, 3 + r.int(200), rv++);
        if (roll === 8) obj.spec = { ...(obj.spec as object), nodeName: nodeName(n) };
        pods.set(p, obj);
      };
      for (let i = 0; i < 60; i++) place(nextPod++);
      let items = [...pods.values()].map((obj) => ({ obj, where: 'kubernetes' }));
      const traffic = new Map<string, AddressTraffic>();
      let clock = 0;
      const live = new LiveInventory({ pods: () => items, snapshot: () => store.snapshot, read: readOf(traffic), now: () => (clock += 5000) });
      for (let step = 0; step < 80; step++) {
        const op = r.int(8);
        if (op === 0) place(nextPod++);
        else if (op === 1 && pods.size > 1) pods.delete([...pods.keys()][r.int(pods.size)]!);
        else if (op === 2 || op === 3) place([...pods.keys()][r.int(pods.size)]!); // moved to a new address
        else if (op === 4) {
          const n = r.int(NODES);
          gens[n] = 1 - gens[n]!; // re-carved (or back)
          publish();
        } else if (op === 5) {
          draining = !draining;
          publish();
        } else if (op === 6) {
          const a = items[r.int(items.length)]?.obj;
          const ip = (a?.status as { podIPs?: Array<{ ip: string }> } | undefined)?.podIPs?.[0]?.ip;
          if (ip) traffic.set(ip, { flows: r.int(5), drops: r.int(3) });
        }
        // else: nothing changed (the inventory is built again after its second)
        if (op <= 3) items = [...pods.values()].map((obj) => ({ obj, where: 'kubernetes' }));
        const at = `seed ${seed} step ${step} op ${op}`;
        const fresh = podsFromObjects(items);
        const inv = buildInventory({ snapshot: store.snapshot!, pods: fresh.pods, traffic: new Map(traffic) });
        expect(live.problems(), at).toEqual(fresh.problems);
        expect(live.inventory(), at).toEqual(inv);
        expect(live.plan(), at).toEqual(buildRestartPlan(inv));
      }
      // The sequence did reuse: far fewer pods classified than built.
      expect(live.stats.classified).toBeLessThan(live.stats.builds * 60);
    }
  });

  it('one pod changed at 2,000 pods: one object parsed, one pod classified, every other InventoryPod the same object', () => {
    const gens = Array.from({ length: NODES }, (_, n) => (n < 3 ? 1 : 0));
    const store = new IpamStore();
    const { state, problems } = new IpamTranslator().translate({ configs: [{ config: config(gens, false), where: 'cfg.yaml' }] });
    store.update(state, 'test', problems);
    const count = 2000;
    const objs = Array.from({ length: count }, (_, p) => podObject(p, p % NODES, 0, 3 + Math.floor(p / NODES), p));
    let items = objs.map((obj) => ({ obj, where: 'kubernetes' }));
    let clock = 0;
    const live = new LiveInventory({ pods: () => items, snapshot: () => store.snapshot, read: readOf(new Map()), now: () => (clock += 5000) });
    const before = live.inventory()!;
    const planBefore = live.plan()!;
    expect(before.pods).toHaveLength(count);
    expect(live.stats.parsed).toBe(count);

    items = items.slice();
    items[1000] = { obj: podObject(1000, 1000 % NODES, 0, 250, 99_999), where: 'kubernetes' }; // pod-1000 moves on its node
    const after = live.inventory()!;
    expect(live.stats.lastParsed).toBe(1);
    expect(live.stats.parsed).toBe(count + 1);
    expect(live.stats.lastClassified).toBe(1);
    const prev = new Map(before.pods.map((p) => [`${p.pod.namespace}/${p.pod.name}`, p]));
    let same = 0;
    for (const p of after.pods) {
      const key = `${p.pod.namespace}/${p.pod.name}`;
      if (p.pod.name === 'pod-1000') expect(p).not.toBe(prev.get(key));
      else {
        expect(p).toBe(prev.get(key));
        same++;
      }
    }
    expect(same).toBe(count - 1);
    expect(after.pods.find((p) => p.pod.name === 'pod-1000')!.addresses.map((a) => a.ip)).toEqual(['10.244.4.250', 'fd00:10:244:4::fa']);
    // pod-1000 is on node 4 (current, not in the plan): the plan is the same one.
    expect(live.plan()).toBe(planBefore);
    expect(after).toEqual(buildInventory({ snapshot: store.snapshot!, pods: podsFromObjects(items).pods, traffic: new Map() }));
  });
});
