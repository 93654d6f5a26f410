/**
 * Ours: the exporter's whole service path, as `serve` runs it:
 * ExporterService = RelayClient (wire decoder by default) → AttributionPipeline
 * with its registry and createExporterMetrics, IPAM from a file, the HTTP
 * server listening. Counts until the pipeline has taken the last flow.
 *
 *   node bench/clients/ours.mjs --address 127.0.0.1:PORT --flows 1000000
 *     [--decoder full]        protobuf-es full decode instead of the wire decoder
 *     [--no-mask]             RelayClient's fieldMask: false (whole flows); default: the mask
 *     [--ipam FILE]           IPAM file (default: the truth scenario's config)
 *     [--kube-nodes N]        IPAM from a stand-in Kubernetes watch instead of a file: N nodes'
 *                             Node and CiliumNode objects and the cilium-config ConfigMap
 *                             (bench/lib/kube-cluster.mjs), held as the live watch holds them
 *     [--scrape-ms 1000]      render the registry every so often during the run;
 *                             reports event-loop lag (monitorEventLoopDelay, 10 ms resolution,
 *                             the resolution subtracted) and render times
 *     [--rss-samples 10]      sample RSS at every 1/N of the flows (the soak)
 *     [--max-seconds S]       stop after S seconds even if not every flow came
 *     [--heap-profile FILE]   sample every allocation (collected ones too) into a .heapprofile
 *     [--node-name NODE]      per-node mode (serve --node-name): --address is that node's agent
 *                             (unix:///path); default: Relay mode
 *     [--poll-ms 1]           how often the flow count is read, ms; a paced run uses a coarser
 *                             poll so that the poll's own CPU stays out of the figure
 */
import { rmSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { ExporterService } from '../../dist/service.js';
import { num } from '../lib/args.mjs';
import { StreamClock, clientOptions, failOnError, finish } from '../lib/client.mjs';
import { startHeapSampling } from '../lib/inspector-profile.mjs';
import { clusterObjects } from '../lib/kube-cluster.mjs';
import { truthConfigYaml, writeIpamFile } from '../lib/scenario.mjs';

failOnError();
const opts = clientOptions();
const { address, flows } = opts;
const decoder = opts.decoder === 'full' ? 'full' : 'wire';
const scrapeMs = num(opts['scrape-ms'], 0);
const rssSamples = num(opts['rss-samples'], 0);
const maxSeconds = num(opts['max-seconds'], Infinity);
const kubeNodes = num(opts['kube-nodes'], 0);
const ipamFile = kubeNodes > 0 ? undefined : (opts.ipam ?? writeIpamFile('truth.yaml', truthConfigYaml));
/** The stand-in watch: hands every object over once, as KubeIpamWatch's first sync does. */
const kubeObjects = kubeNodes > 0 ? clusterObjects(kubeNodes) : undefined;
const kube = (onChange) => ({ start() {}, ready: async () => onChange(kubeObjects), close: async () => {}, synced: true });
const ipam = kubeObjects ? { kube } : { files: [ipamFile] };

const fieldMask = !opts['no-mask'];
const nodeName = opts['node-name'];
const pollMs = num(opts['poll-ms'], 1);
const service = new ExporterService({ relay: { address, decoder, fieldMask }, ipam, listenAddress: '127.0.0.1:0', ...(typeof nodeName === 'string' ? { nodeName } : {}) });
const pipeline = service.pipeline;
const clock = new StreamClock();
// The histogram records the time between ticks of a 10 ms timer: lag = that - 10 ms.
const LAG_RESOLUTION_MS = 10;
const lag = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });
const renders = [];
const rss = [];
let started = false;
let scrapeTimer;
let nextSample = rssSamples > 0 ? flows / rssSamples : Infinity;

const sample = (at) => {
  const m = process.memoryUsage();
  const MB = 1048576;
  rss.push({ flows: at, seconds: (performance.now() - clock.t0) / 1000, rssMB: m.rss / MB, heapTotalMB: m.heapTotal / MB, heapUsedMB: m.heapUsed / MB, externalMB: m.external / MB, arrayBuffersMB: m.arrayBuffers / MB });
};

async function scrape() {
  const t = performance.now();
  const text = await service.registry.metrics();
  renders.push({ ms: performance.now() - t, bytes: text.length });
}

// The pipeline counts synchronously inside the stream's 'data' handler; a
// timer (every --poll-ms, 1 ms by default) reads the count between socket reads.
const poll = setInterval(() => {
  const n = pipeline.flows;
  if (!started && n > 0) {
    started = true;
    clock.start(n);
    lag.enable();
    if (scrapeMs > 0) scrapeTimer = setInterval(() => void scrape(), scrapeMs);
  }
  while (n >= nextSample) {
    sample(Math.round(nextSample));
    nextSample += flows / rssSamples;
  }
  if (n >= flows || (started && performance.now() - clock.t0 > maxSeconds * 1000)) void done(n);
}, pollMs);

let finished = false;
async function done(n) {
  if (finished) return;
  finished = true;
  const r = clock.end(n);
  lag.disable();
  clearInterval(poll);
  clearInterval(scrapeTimer);
  if (rssSamples > 0 && (rss.length === 0 || rss.at(-1).flows < n)) sample(n);
  const extra = {
    decodeErrors: service.client.stats.decodeErrors,
    handlerErrors: Object.fromEntries(pipeline.handlerErrors().map((e) => [e.handler, e.errors])),
    series: pipeline.flowsTotal.counter.seriesCount,
    offenders: pipeline.offenders.size,
    offendersEvicted: pipeline.offenders.evicted,
  };
  if (scrapeMs > 0) {
    const ms = (ns) => Math.max(0, ns / 1e6 - LAG_RESOLUTION_MS);
    extra.lag = { p50: ms(lag.percentile(50)), p99: ms(lag.percentile(99)), max: ms(lag.max), samples: lag.count, resolutionMs: LAG_RESOLUTION_MS };
    extra.renders = { count: renders.length, maxMs: Math.max(0, ...renders.map((x) => x.ms)), meanMs: renders.reduce((a, x) => a + x.ms, 0) / Math.max(1, renders.length), bytes: renders.at(-1)?.bytes ?? 0 };
  }
  if (rssSamples > 0) extra.rss = rss;
  await service.close();
  if (!opts.ipam && ipamFile) rmSync(ipamFile, { force: true });
  await stopHeapSampling?.(opts['heap-profile']);
  finish({ client: `${decoder === 'full' ? 'ours-full-decode' : 'ours'}${fieldMask ? '' : '-no-mask'}`, ...r, ...extra });
}

const stopHeapSampling = opts['heap-profile'] ? await startHeapSampling() : undefined;
await service.start();
