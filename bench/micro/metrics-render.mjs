/**
 * /metrics render time at 5,000 nodes: the registry of a pipeline whose IPAM
 * snapshot has 5,000 dual-stack nodes, after flows that touched every node
 * (so flows_total has per-node series), rendered with registry.metrics() as
 * the /metrics route does. Median of 5 renders after one warm-up.
 *
 *   node bench/micro/metrics-render.mjs [--nodes 5000] [--runs 5] [--profile FILE.cpuprofile]
 */
import { Registry } from 'prom-client';
import { AttributionPipeline } from '../../dist/attribution/pipeline.js';
import { FlowRecord } from '../../dist/ingest/flow-record.js';
import { stateFromObjects } from '../../dist/ipam/from-objects.js';
import { IpamStore } from '../../dist/ipam/ipam-store.js';
import { createExporterMetrics } from '../../dist/metrics/exporter-metrics.js';
import { parseIpInto } from '../../dist/net/ip.js';
import { num } from '../lib/args.mjs';
import { clusterConfig, nodeName, podV4, podV6, stalePodV4 } from '../lib/cluster.mjs';
import { profiled } from '../lib/inspector-profile.mjs';
import { failOnError, microArgs, report } from '../lib/micro.mjs';
import { median } from '../lib/stats.mjs';

failOnError();
const args = microArgs();
const nodes = num(args.nodes, 5000);
const runs = num(args.runs, 5);

const store = new IpamStore();
const { state, problems } = stateFromObjects({ objects: [], configs: [{ config: clusterConfig(nodes), where: 'bench' }] });
if (problems.length > 0) throw new Error(`bad generated IPAM: ${JSON.stringify(problems[0])}`);
const snap = store.update(state, 'bench');
const registry = new Registry();
const pipeline = new AttributionPipeline({ registry });
pipeline.setSnapshot(snap);
createExporterMetrics(registry, { pipeline, store });

// Flows touching every node: pod to pod on the next node (both families,
// forwarded and dropped), host to pod, and on every 10th node a stale and a
// wrong-node address.
const FORWARDED = 1;
const DROPPED = 2;
const FROM_ENDPOINT = 5;
const TO_ENDPOINT = 101;
const rec = new FlowRecord();
let flows = 0;
function flow(node, src, dst, verdict, point, srcPod = true, dstPod = true) {
  rec.clear();
  rec.timeSeconds = 1_800_000_000 + Math.floor(flows / 1000);
  rec.nodeName = `bench/${nodeName(node)}`;
  rec.hasIp = true;
  rec.verdict = verdict;
  rec.observationPoint = point;
  parseIpInto(src, rec.source.ip);
  parseIpInto(dst, rec.destination.ip);
  rec.source.isPod = srcPod;
  rec.source.podName = srcPod ? `pod-${flows % 1000}` : '';
  rec.source.namespace = 'shop';
  rec.source.identity = 1000 + (flows % 50);
  rec.destination.isPod = dstPod;
  rec.destination.podName = dstPod ? 'peer' : '';
  rec.destination.namespace = 'shop';
  rec.destination.identity = 2000;
  pipeline.flow(rec);
  flows++;
}
for (let n = 0; n < nodes; n++) {
  const m = (n + 1) % nodes;
  for (const v of [FORWARDED, DROPPED]) {
    flow(n, podV4(n, 0), podV4(m, 1), v, FROM_ENDPOINT);
    flow(n, podV6(n, 0), podV6(m, 1), v, FROM_ENDPOINT);
  }
  flow(n, `192.168.${n >> 8}.${n & 255}`, podV4(n, 3), FORWARDED, TO_ENDPOINT, false, true);
  if (n % 10 === 0) {
    flow(n, stalePodV4(n, 5), podV4(m, 1), DROPPED, FROM_ENDPOINT);
    flow(m, podV4(n, 7), '142.250.74.110', FORWARDED, FROM_ENDPOINT, true, false); // seen local on the wrong node
  }
}

const times = [];
let text = '';
text = await registry.metrics(); // warm-up
await profiled(args.profile, async () => {
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    text = await registry.metrics();
    times.push(performance.now() - t);
  }
});
const lines = text.split('\n');
const series = lines.filter((l) => l !== '' && !l.startsWith('#')).length;
report({
  nodes,
  flowsFed: flows,
  flowsTotalSeries: pipeline.flowsTotal.counter.seriesCount,
  seriesRendered: series,
  bytes: text.length,
  ms: median(times),
  all: times,
});
