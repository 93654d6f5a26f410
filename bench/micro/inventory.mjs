/**
 * The pod inventory at cluster scale (issue 12), in one process, on the path
 * the running exporter takes (LiveInventory over IpamSources' snapshot; the
 * pods as the Pods watch keeps them, cut down by `podShape`):
 *
 * - `pods` pods (default 100,000) at `nodes` dual-stack nodes (5,000; the
 *   cluster of bench/lib/kube-cluster.mjs): Deployments through ReplicaSets
 *   (85 %), StatefulSets, DaemonSets, CronJob Jobs and bare pods; the pods of
 *   the first `staleNodes` nodes (50) are stale (their nodes were re-carved);
 * - memory: heap used by the pod objects, then by the inventory and plan on
 *   top (gc() around each, `--expose-gc`), MB;
 * - full build: a new LiveInventory's first inventory() + plan(); median of `runs`;
 * - one pod change: a new podObjects array with one object replaced (the pod
 *   moved to another address on its node), inventory() + plan(); median of
 *   `changes` (15) after `warmup` (5) not counted;
 * - one IPAM change: one node re-carved (its CiliumNode's podCIDRs move;
 *   its pods become stale), published through IpamSources, then inventory() +
 *   plan(); median of `changes` after `warmup`.
 *
 *   node --expose-gc bench/micro/inventory.mjs [--pods 100000] [--nodes 5000] [--runs 5] [--changes 15] [--warmup 5]
 */
import { performance } from 'node:perf_hooks';
import { podShape } from '../../dist/ipam/kube-watch.js';
import { LiveInventory } from '../../dist/inventory/live.js';
import { num } from '../lib/args.mjs';
import { liveSources, published } from '../lib/live-sources.mjs';
import { nodeName, nodeV4Base } from '../lib/cluster.mjs';
import { ciliumNode, clusterObjects } from '../lib/kube-cluster.mjs';
import { failOnError, microArgs, report } from '../lib/micro.mjs';
import { mb, median } from '../lib/stats.mjs';

failOnError();
const args = microArgs();
const podCount = num(args.pods, 100_000);
const nodes = num(args.nodes, 5000);
const runs = num(args.runs, 5);
const changes = num(args.changes, 15);
const warmup = num(args.warmup, 5);
const staleNodes = Math.min(nodes, num(args.staleNodes, 50));
const gc = globalThis.gc;
if (!gc) throw new Error('run with node --expose-gc (the memory figures need gc())');

const dotted = (v) => `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
/** Pod p's addresses: on node p % nodes, slot k = p / nodes (+ `moved` to move it within the node's gen-0 CIDRs). */
const podIps = (p, moved = 0) => {
  const n = p % nodes;
  const k = Math.floor(p / nodes) + moved;
  return [dotted(nodeV4Base(n, 24) + 3 + (k % 250)), `fd00:10:0:${n.toString(16)}::${(k + 3).toString(16)}`];
};

/** Pod p as the Pods watch keeps it (podShape of a full Pod). */
function pod(p, moved = 0, rv = 2_000_000 + p) {
  const ns = `ns-${p % 50}`;
  const app = `app-${p % 2000}`;
  const kind = p % 100;
  let owner;
  let labels;
  let name;
  if (kind < 85) {
    const hash = `7c${(p % 2000).toString(36).padStart(6, '0')}`;
    owner = { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `${app}-${hash}`, controller: true, uid: `rs-${p % 2000}` };
    labels = { app, 'pod-template-hash': hash };
    name = `${app}-${hash}-${p.toString(36)}`;
  } else if (kind < 90) {
    owner = { apiVersion: 'apps/v1', kind: 'StatefulSet', name: `db-${p % 200}`, controller: true };
    name = `db-${p % 200}-${p}`;
  } else if (kind < 95) {
    owner = { apiVersion: 'apps/v1', kind: 'DaemonSet', name: `agent-${p % 20}`, controller: true };
    name = `agent-${p % 20}-${p.toString(36)}`;
  } else if (kind < 98) {
    owner = { apiVersion: 'batch/v1', kind: 'Job', name: `report-${p % 30}-28391040`, controller: true };
    name = `report-${p % 30}-28391040-${p.toString(36)}`;
  } else name = `debug-${p}`;
  const [v4, v6] = podIps(p, moved);
  return podShape({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: ns, uid: `pod-${p}`, resourceVersion: String(rv), labels: { ...labels, team: 'x' }, ...(owner ? { ownerReferences: [owner] } : {}), annotations: { a: 'b' } },
    spec: { nodeName: nodeName(p % nodes), containers: [{ name: 'c', image: 'i' }] },
    status: { phase: 'Running', podIP: v4, podIPs: [{ ip: v4 }, { ip: v6 }], startTime: '2024-01-01T00:00:00Z' },
  });
}


// IPAM: 5,000 nodes; the first `staleNodes` re-carved (their gen-0 CIDRs become former allocations).
const objects = clusterObjects(nodes, 0);
const { sources, push } = await liveSources(objects);
let rv = 10_000_000;
for (let n = 0; n < staleNodes; n++) objects[2 + 2 * n] = ciliumNode(n, 1, rv++);
{
  const done = published(sources);
  push(objects.slice());
  await done;
}

const noTraffic = { anomalies: () => ({ total: 0, rows: [] }) };
let clock = 0;
const now = () => (clock += 10_000); // every call past the reuse second: each inventory() builds
let podItems;
const newLive = () => new LiveInventory({ pods: () => podItems, snapshot: () => sources.store.snapshot, read: noTraffic, now });
const buildBoth = (live) => {
  const t = performance.now();
  const inv = live.inventory();
  const plan = live.plan();
  const ms = performance.now() - t;
  if (!inv || !plan) throw new Error('no inventory');
  return { ms, inv, plan };
};

// Memory: the pod objects, then the inventory and plan on top.
gc();
gc();
const heap0 = process.memoryUsage().heapUsed;
podItems = Array.from({ length: podCount }, (_, p) => ({ obj: pod(p), where: 'kubernetes' }));
gc();
gc();
const heapPods = process.memoryUsage().heapUsed;
let live = newLive();
let first = buildBoth(live);
gc();
gc();
const heapInventory = process.memoryUsage().heapUsed;
const staleExpected = Math.min(podCount, staleNodes * Math.ceil(podCount / nodes));
const stalePods = first.inv.pods.filter((p) => p.status === 'stale').length;
if (first.inv.pods.length !== podCount || stalePods === 0 || stalePods > staleExpected || first.plan.pods !== stalePods) {
  throw new Error(`unexpected inventory: ${first.inv.pods.length} pods, ${stalePods} stale, plan ${first.plan.pods}`);
}

// Full build: a new LiveInventory each run (parsing included).
const full = [first.ms];
for (let i = 1; i < runs; i++) {
  live = newLive();
  first = buildBoth(live);
  full.push(first.ms);
}

// One pod change: pod p moves to another address on its node (a new object, a new array).
const podChange = [];
let lastParsed;
for (let i = 0; i < warmup + changes; i++) {
  const p = (i * 7919) % podCount;
  podItems = podItems.slice();
  podItems[p] = { obj: pod(p, 1 + i, rv++), where: 'kubernetes' };
  const r = buildBoth(live);
  if (i >= warmup) podChange.push(r.ms);
  lastParsed = live.stats?.lastParsed;
  if (r.inv.pods.length !== podCount) throw new Error('pod change lost pods');
}

// One IPAM change: node n (not one of the stale ones) re-carved; its pods become stale.
const ipamChange = [];
for (let i = 0; i < warmup + changes; i++) {
  const n = staleNodes + 1 + i;
  objects[2 + 2 * n] = ciliumNode(n, 1, rv++);
  const done = published(sources);
  push(objects.slice());
  await done;
  const r = buildBoth(live);
  if (i >= warmup) ipamChange.push(r.ms);
  const name = nodeName(n);
  if (!r.inv.pods.some((x) => x.node === name && x.status === 'stale')) throw new Error(`the re-carve of ${name} is not in the inventory`);
}
await sources.close();

report({
  pods: podCount,
  nodes,
  stalePods,
  heapPodsMB: mb(heapPods - heap0),
  heapInventoryMB: mb(heapInventory - heapPods),
  fullBuildMs: median(full),
  fullBuildRunsMs: full,
  podChangeMs: median(podChange),
  podChangeRunsMs: podChange,
  ipamChangeMs: median(ipamChange),
  ipamChangeRunsMs: ipamChange,
  warmup,
  ...(lastParsed !== undefined ? { parsedPerPodChange: lastParsed } : {}),
});
