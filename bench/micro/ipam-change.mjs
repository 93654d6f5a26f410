/**
 * The cost of IPAM changes at cluster scale (issue 11), in one process, on the
 * code path the live watch calls (IpamSources fed by a watch's onChange; here
 * a stand-in that hands over the objects a KubeIpamWatch would):
 *
 * - full rebuild: every object of `nodes` dual-stack nodes (Node, CiliumNode,
 *   cilium-config) translated and built into a compiled snapshot, from a cold
 *   cache; median of `runs`;
 * - one change: at `nodes` nodes and `endpoints` CiliumEndpoints, one
 *   CiliumNode's podCIDRs move; event-loop busy time (eventLoopUtilization)
 *   from the watch's onChange to the store publishing the snapshot; median of
 *   `changes` changes (default 15) after `warmup` (default 5) not counted:
 *   the first ones after building 100,000 endpoints pay that garbage and the
 *   JIT's warm-up, which a running exporter paid long before;
 * - churn: `churnPerSecond` CiliumNode updates per second for `churnSeconds`,
 *   handed over as the watch's debounce does under a steady stream (once per
 *   maxWaitMs, 2000 ms by default); event-loop lag p50/p99/max (10 ms
 *   resolution, less the resolution) and the share of the event loop the
 *   rebuilds took (what flows lose to them).
 *
 *   node bench/micro/ipam-change.mjs [--nodes 5000] [--endpoints 100000] [--runs 5] [--changes 15] [--warmup 5]
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { PrefixCache, stateFromObjects } from '../../dist/ipam/from-objects.js';
import { IpamStore } from '../../dist/ipam/ipam-store.js';
import { num } from '../lib/args.mjs';
import { liveSources, published } from '../lib/live-sources.mjs';
import { ciliumNode, clusterObjects } from '../lib/kube-cluster.mjs';
import { failOnError, microArgs, report } from '../lib/micro.mjs';
import { median } from '../lib/stats.mjs';

failOnError();
const args = microArgs();
const nodes = num(args.nodes, 5000);
const endpoints = num(args.endpoints, 100_000);
const runs = num(args.runs, 5);
const changes = num(args.changes, 15);
const warmup = num(args.warmup, 5);
const churnPerSecond = num(args.churnPerSecond, 100);
const churnSeconds = num(args.churnSeconds, 10);
const MAX_WAIT_MS = 2000;
const LAG_RESOLUTION_MS = 10;

// Full rebuild from 5,000 nodes' objects, cold.
const nodeObjects = clusterObjects(nodes, 0).map((obj) => ({ obj, where: 'kubernetes' }));
const full = [];
if (process.env.DEBUG) console.error('full rebuild runs', runs);
for (let i = 0; i < runs; i++) {
  const store = new IpamStore();
  const t = performance.now();
  const { state, problems } = stateFromObjects({ objects: nodeObjects, cache: new PrefixCache() });
  if (!store.update(state, 'bench', problems)) throw new Error(`bad generated IPAM: ${store.lastError?.message}`);
  full.push(performance.now() - t);
}


// One change at nodes + endpoints.
const objects = clusterObjects(nodes, endpoints);
const { sources, push } = await liveSources(objects);
if (process.env.DEBUG) console.error("synced", sources.store.snapshot.version);
const change = [];
let rv = 10_000_000;
for (let i = 0; i < warmup + changes; i++) {
  const n = 1 + 2 * i; // objects[1 + 2n] is node n's Node, [2 + 2n] its CiliumNode
  objects[2 + 2 * n] = ciliumNode(n, 1 + (i % 3), rv++); // within the pool (10.0.0.0/8 holds generations 0-3)
  const next = objects.slice();
  const done = published(sources);
  const elu0 = performance.eventLoopUtilization();
  push(next);
  await done;
  const busy = performance.eventLoopUtilization(elu0).active;
  if (i >= warmup) change.push(busy);
  if (process.env.DEBUG) console.error('change', i, change.at(-1));
  const snap = sources.store.snapshot;
  if (!snap.state.allocations.some((a) => a.node === `worker-${String(n).padStart(4, '0')}` && a.cidr.text === ciliumNode(n, 1 + (i % 3)).spec.ipam.podCIDRs[0])) throw new Error('the change is not in the published snapshot');
}
await sources.close();

// Churn at nodes (no endpoints): updates accumulate, handed over once per MAX_WAIT_MS.
const churnObjects = clusterObjects(nodes, 0);
const churn = await liveSources(churnObjects);
const lag = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });
let updates = 0;
const tick = setInterval(() => {
  const n = updates % nodes;
  churnObjects[2 + 2 * n] = ciliumNode(n, updates % 2 === 0 ? 0 : 1, rv++);
  updates++;
}, 1000 / churnPerSecond);
const handOver = setInterval(() => churn.push(churnObjects.slice()), MAX_WAIT_MS);
const before = churn.sources.rebuilds;
lag.enable();
const elu0 = performance.eventLoopUtilization();
await new Promise((r) => setTimeout(r, churnSeconds * 1000));
const elu = performance.eventLoopUtilization(elu0);
lag.disable();
clearInterval(tick);
clearInterval(handOver);
const ms = (ns) => Math.max(0, ns / 1e6 - LAG_RESOLUTION_MS);
const rebuilds = churn.sources.rebuilds - before;
await churn.sources.close();

report({
  nodes,
  endpoints,
  fullRebuildMs: median(full),
  fullRebuildRunsMs: full,
  changeMs: median(change),
  changeP90Ms: [...change].sort((a, b) => a - b)[Math.floor(change.length * 0.9)],
  changeWarmup: warmup,
  changeRunsMs: change,
  churn: {
    perSecond: churnPerSecond,
    seconds: churnSeconds,
    updates,
    rebuilds,
    maxWaitMs: MAX_WAIT_MS,
    lag: { p50: ms(lag.percentile(50)), p99: ms(lag.percentile(99)), max: ms(lag.max), resolutionMs: LAG_RESOLUTION_MS },
    // Event-loop share the rebuilds (and the churn timers) took: flows/s under churn ≈ (1 - share) × without.
    busyShare: elu.utilization,
    flowsRatioBound: 1 - elu.utilization,
  },
});
