/**
 * The benchmark: `npm run bench` (builds, then runs this).
 *
 *   node bench/run.mjs               full run (~10 min): writes bench/results.json
 *   node bench/run.mjs --quick       ~1 min smoke run: writes bench/results-quick.json
 *   node bench/run.mjs --soak        the soak for 10 million flows (at most 10 min) instead of the short one
 *
 * Options: --flows N (flows per throughput run, default 1,000,000), --runs N (5),
 * --pool-size N (pre-encoded messages the relay cycles, 50,000), --pool real|truth
 * (real: flows filled like the real dumps, ~900 bytes, the default; truth: the
 * scenario's flows as before the field-mask rows, 644 bytes), --lag-flows N,
 * --soak-flows N, --soak-pods N, --analyze-lines N, --no-profile, --no-what-if
 * (skip the what-ifs), --what-if-window BYTES (limit's and peer's), --no-wait
 * (do not wait for other processes to quiet down), --out FILE, --only LIST (some of
 * throughput,what-if,lag,profile,soak,lookup,metrics,analyze,ipam,inventory,per-node; written to
 * bench/results-partial.json unless --out says otherwise; per-node alone: bench/results-per-node.json),
 * --aggregate-flows N (the per-node rows' flows per aggregate run, 300,000), e.g.
 *
 *   node bench/run.mjs --only soak --soak --out bench/results-soak.json
 *   node bench/run.mjs --only per-node      (~3 min; bench/lib/per-node-rows.mjs)
 *
 * Every client runs in its own process against the relay in another
 * (bench/relay.mjs); see docs/performance.md for what each figure means.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { num, parseArgs } from './lib/args.mjs';
import { benchDir, runChild, startRelay } from './lib/child.mjs';
import { clusterConfig, soakScenario } from './lib/cluster.mjs';
import { deployedNodeOptions } from './lib/deployed.mjs';
import { byArea, topAllocations, topSelf } from './lib/cpuprofile.mjs';
import { machineBusySeconds, machineInfo, waitQuiet } from './lib/machine.mjs';
import { summarizeSoak } from './lib/soak.mjs';
import { perNodeRows } from './lib/per-node-rows.mjs';
import { evaluateTargets, printReport } from './lib/report.mjs';
import { writeIpamFile } from './lib/scenario.mjs';
import { fmt, median } from './lib/stats.mjs';

const args = parseArgs();
const quick = Boolean(args.quick);
const soak = Boolean(args.soak);
const o = {
  quick,
  flows: num(args.flows, quick ? 100_000 : 1_000_000),
  runs: num(args.runs, quick ? 3 : 5),
  poolSize: num(args['pool-size'], quick ? 20_000 : 50_000),
  pool: args.pool ?? 'real',
  lagFlows: num(args['lag-flows'], quick ? 200_000 : 1_000_000),
  soak,
  soakFlows: num(args['soak-flows'], soak ? 10_000_000 : quick ? 300_000 : 3_000_000),
  soakMaxSeconds: num(args['soak-max-seconds'], 600),
  soakPods: num(args['soak-pods'], quick ? 20_000 : 100_000),
  analyzeLines: num(args['analyze-lines'], quick ? 20_000 : 200_000),
  lookupQueries: num(args['lookup-queries'], 100_000),
  metricsNodes: num(args['metrics-nodes'], 5000),
  profile: !args['no-profile'],
  whatIf: !args['no-what-if'],
  whatIfWindow: num(args['what-if-window'], 4 * 1024 * 1024),
  wait: !args['no-wait'],
  aggregateFlows: num(args['aggregate-flows'], quick ? 90_000 : 300_000),
};
const sections = ['throughput', 'what-if', 'lag', 'profile', 'soak', 'lookup', 'metrics', 'analyze', 'ipam', 'inventory', 'per-node'];
const only = typeof args.only === 'string' ? args.only.split(',') : sections;
for (const x of only) if (!sections.includes(x)) throw new Error(`--only: unknown section ${x} (known: ${sections.join(', ')})`);
const run = (section) => only.includes(section) && (section !== 'profile' || o.profile) && (section !== 'what-if' || o.whatIf);
const defaultOut = quick ? 'results-quick.json' : only.length === 1 && only[0] === 'per-node' ? 'results-per-node.json' : only.length < sections.length ? 'results-partial.json' : 'results.json';
const out = args.out ?? join(benchDir, defaultOut);
const profDir = mkdtempSync(join(os.tmpdir(), 'hie-bench-prof-'));
const t0 = Date.now();
const log = (msg) => console.log(`[${((Date.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${msg}`);
const results = { machine: machineInfo(), options: o, startedAt: new Date().toISOString() };
log(`${results.machine.cpu}, ${results.machine.cores} cores, ${results.machine.memoryGiB} GiB, Node ${results.machine.node}`);

// ours asks for the exporter's field mask (RelayClient's default); limit-mask sends the very
// same request; limit, ours-no-mask and peer ask for whole flows.
const clients = [
  { name: 'limit', script: 'clients/limit.mjs', opts: {} },
  { name: 'limit-mask', script: 'clients/limit.mjs', opts: { mask: true } },
  { name: 'ours', script: 'clients/ours.mjs', opts: {} },
  { name: 'ours-no-mask', script: 'clients/ours.mjs', opts: { 'no-mask': true } },
  { name: 'ours-full-decode', script: 'clients/ours.mjs', opts: { decoder: 'full' } },
  { name: 'peer', script: 'clients/peer.mjs', opts: {} },
];

// Ours runs as deployed: with the Deployment's NODE_OPTIONS (V8's heap sized for its memory limit).
const oursNodeOptions = deployedNodeOptions();
results.oursNodeOptions = oursNodeOptions.join(' ');

/**
 * One client process over one relay stream of `flows` flows. Ours gets the
 * Deployment's NODE_OPTIONS unless `asDeployed` is false.
 */
async function streamRun(relay, script, opts, flows, execArgv = [], env = {}, asDeployed = true) {
  const otherBusyCores = o.wait ? await waitQuiet() : undefined;
  await relay.arm(flows);
  const busy0 = machineBusySeconds();
  const t = performance.now();
  const argv = script === 'clients/ours.mjs' && asDeployed ? [...oursNodeOptions, ...execArgv] : execArgv;
  const [res, relayReport] = await Promise.all([runChild(script, { address: relay.address, flows, ...opts }, { execArgv: argv, env }), relay.streamDone()]);
  // Cores other processes used meanwhile: the machine's CPU time less the client's and the
  // relay's (approximate: the client's start-up is counted as the others').
  const othersDuring = busy0 === undefined ? undefined : (machineBusySeconds() - busy0 - res.cpuSeconds - relayReport.cpuSeconds) / ((performance.now() - t) / 1000);
  return { ...res, relay: relayReport, otherBusyCores, othersDuring, loadAvg1: os.loadavg()[0] };
}

/** Waits for a quiet machine before an in-process measurement. */
async function micro(script, opts) {
  if (o.wait) await waitQuiet();
  return runChild(script, opts);
}

function summarize(runs) {
  return {
    rate: median(runs.map((r) => r.rate)),
    cpuSeconds: median(runs.map((r) => r.cpuSeconds)),
    cpuUsPerFlow: median(runs.map((r) => (r.cpuSeconds / r.flows) * 1e6)),
    // CPU per flow from the first flow to the last (no start-up): what the field-mask targets compare.
    streamCpuUsPerFlow: median(runs.map((r) => (r.streamCpuSeconds / r.streamFlows) * 1e6)),
    maxRssMB: Math.max(...runs.map((r) => r.maxRssMB)),
    relayCpuSeconds: median(runs.map((r) => r.relay.cpuSeconds)),
    // What the relay wrote per flow: protobuf bytes, and with gRPC's 5-byte message prefix.
    messageBytesPerFlow: median(runs.map((r) => r.relay.messageBytesPerFlow)),
    wireBytesPerFlow: median(runs.map((r) => r.relay.wireBytesPerFlow)),
    runs,
  };
}

const cpuProf = (name) => ['--cpu-prof', '--cpu-prof-dir', profDir, '--cpu-prof-name', `${name}.cpuprofile`];
const profiles = {};
const readProfile = (name) => {
  const file = join(profDir, `${name}.cpuprofile`);
  return { areas: byArea(file), top: topSelf(file, 15) };
};

// 1. Throughput: the four clients, alternating, median of `runs`.
let relay;
if (['throughput', 'what-if', 'lag', 'profile'].some(run)) {
  relay = await startRelay({ pool: o.pool, 'pool-size': o.poolSize });
  results.relayPool = { ...relay.summary, buildMs: relay.buildMs, maskedAvgBytes: relay.masked.avgBytes };
  log(`relay ${relay.address}: ${o.poolSize} pre-encoded ${o.pool} flows (${fmt(relay.summary.avgBytes, 0)} B each, ${fmt(relay.masked.avgBytes, 0)} B under the exporter's field mask, ${(relay.summary.ipv6Share * 100).toFixed(0)}% IPv6, ${(relay.summary.droppedShare * 100).toFixed(0)}% dropped${relay.summary.labelSource ? `; labels: ${relay.summary.labelSource}` : ''})`);
}
const byClient = Object.fromEntries(clients.map((c) => [c.name, []]));
for (let r = 0; r < (run('throughput') ? o.runs : 0); r++) {
  const order = [...clients.slice(r % clients.length), ...clients.slice(0, r % clients.length)];
  for (const c of order) {
    const res = await streamRun(relay, c.script, c.opts, o.flows);
    byClient[c.name].push(res);
    const busy = Math.max(res.otherBusyCores ?? 0, res.othersDuring ?? 0);
    log(`run ${r + 1}/${o.runs} ${c.name.padEnd(16)} ${fmt(res.rate).padStart(9)} flows/s  cpu ${res.cpuSeconds.toFixed(2)} s (${((res.streamCpuSeconds / res.streamFlows) * 1e6).toFixed(1)} µs/flow streaming, ${res.relay.wireBytesPerFlow.toFixed(0)} B/flow)  peak rss ${res.maxRssMB.toFixed(0)} MB${busy > 0.25 ? `  (other processes busy: ${busy.toFixed(2)} cores)` : ''}`);
  }
}
if (run('throughput')) results.throughput = Object.fromEntries(Object.entries(byClient).map(([k, v]) => [k, summarize(v)]));

// 1b. The HTTP/2 flow-control window. RelayClient asks for 4 MiB (flowControlWindowBytes);
// grpc-js's own default is 64 KB. The preload forces one window on every channel of a
// client process: ours at grpc-js's default, limit and peer with the large one. No target.
if (run('what-if')) {
  const runs = { ours: [], ours64k: [], limitWindow: [], peerWindow: [] };
  const preload = ['--import', join(benchDir, 'lib/flow-control-window.mjs')];
  const window = (bytes) => ({ BENCH_FLOW_CONTROL_WINDOW: String(bytes) });
  const flows = Math.min(o.flows, 500_000);
  for (let r = 0; r < (o.quick ? 1 : Math.min(2, o.runs)); r++) {
    runs.ours.push(await streamRun(relay, 'clients/ours.mjs', {}, flows));
    runs.ours64k.push(await streamRun(relay, 'clients/ours.mjs', {}, flows, preload, window(65_535)));
    runs.limitWindow.push(await streamRun(relay, 'clients/limit.mjs', {}, flows, preload, window(o.whatIfWindow)));
    runs.peerWindow.push(await streamRun(relay, 'clients/peer.mjs', {}, flows, preload, window(o.whatIfWindow)));
  }
  results.whatIfWindow = { windowBytes: o.whatIfWindow, flows, ...Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, summarize(v)])) };
  const w = results.whatIfWindow;
  log(`window: ours ${fmt(w.ours.rate)} flows/s, with grpc-js's 64 KB ${fmt(w.ours64k.rate)}; limit ${fmt(w.limitWindow.rate)} and peer ${fmt(w.peerWindow.rate)} with ${o.whatIfWindow / 1048576} MB`);
}

// 2. Event-loop lag of ours while its registry is rendered every second.
if (run('lag')) {
  const res = await streamRun(relay, 'clients/ours.mjs', { 'scrape-ms': 1000 }, o.lagFlows);
  results.lag = res;
  log(`ours scraped every 1 s: ${fmt(res.rate)} flows/s, lag p99 ${res.lag.p99.toFixed(1)} ms (max ${res.lag.max.toFixed(1)}), ${res.renders.count} renders of ${fmt(res.renders.meanMs, 1)} ms`);
  // The same with an IPAM snapshot of 5,000 nodes in force (its per-node gauges on every scrape).
  const ipamFile = writeIpamFile('ipam-5000.json', JSON.stringify(clusterConfig(o.metricsNodes)));
  const big = await streamRun(relay, 'clients/ours.mjs', { 'scrape-ms': 1000, ipam: ipamFile }, o.lagFlows);
  rmSync(ipamFile, { force: true });
  results.lagLargeIpam = big;
  log(`the same with a ${o.metricsNodes}-node IPAM: ${fmt(big.rate)} flows/s, lag p99 ${big.lag.p99.toFixed(1)} ms (max ${big.lag.max.toFixed(1)}), ${big.renders.count} renders of ${fmt(big.renders.meanMs, 1)} ms`);
}

// 3. Where ours spends its CPU.
if (run('profile')) {
  const flows = Math.min(o.flows, 300_000);
  await streamRun(relay, 'clients/ours.mjs', {}, flows, cpuProf('ours'));
  profiles.ours = readProfile('ours');
  await streamRun(relay, 'clients/ours.mjs', { 'no-mask': true }, flows, cpuProf('oursNoMask'));
  profiles.oursNoMask = readProfile('oursNoMask');
  await streamRun(relay, 'clients/peer.mjs', {}, flows, cpuProf('peer'));
  profiles.peer = readProfile('peer');
  await streamRun(relay, 'clients/limit.mjs', { mask: true }, flows, cpuProf('limitMask'));
  profiles.limitMask = readProfile('limitMask');
  // What ours allocates per flow (garbage included): what drives its GC and RSS swings.
  await streamRun(relay, 'clients/ours.mjs', { 'heap-profile': join(profDir, 'ours.heapprofile') }, flows);
  const alloc = topAllocations(join(profDir, 'ours.heapprofile'), 15);
  profiles.oursAllocations = { bytesPerFlow: Math.round(alloc.totalBytes / flows), top: alloc.top };
}
await relay?.stop();
if (run('profile')) {
  // The relay's side of a stream to the limit client (the relay profiles its first stream).
  const profiledRelay = await startRelay({ pool: o.pool, 'pool-size': o.poolSize, profile: join(profDir, 'relay.cpuprofile') });
  await streamRun(profiledRelay, 'clients/limit.mjs', {}, Math.min(o.flows, 300_000), cpuProf('limit'));
  await profiledRelay.stop();
  profiles.relay = readProfile('relay');
  profiles.limit = readProfile('limit');
  log('profiled ours (CPU and allocations; and without the mask), peer, limit (with and without the mask) and the relay');
}

// 4. Soak: RSS of ours over many flows with 100,000 distinct endpoints.
if (run('soak')) {
  const s = soakScenario({ pods: o.soakPods });
  const ipamFile = writeIpamFile('soak-ipam.json', JSON.stringify(s.config));
  relay = await startRelay({ pool: 'soak', 'soak-pods': o.soakPods });
  log(`soak relay: ${relay.summary.messages} flows over ${fmt(relay.summary.distinctPods)} pods, ${fmt(relay.summary.distinctAddresses)} addresses`);
  const soakOpts = { ipam: ipamFile, 'scrape-ms': 1000, 'rss-samples': 40, 'max-seconds': o.soakMaxSeconds };
  const res = summarizeSoak(await streamRun(relay, 'clients/ours.mjs', soakOpts, o.soakFlows));
  results.soak = { short: !o.soak, pods: relay.summary.distinctPods, addresses: relay.summary.distinctAddresses, ...res };
  log(`soak: ${fmt(res.flows)} flows in ${res.seconds.toFixed(0)} s, rss ${res.halfRssMB.toFixed(0)} MB at half, ${res.endRssMB.toFixed(0)} MB at the end, ${res.minSecondHalfMB.toFixed(0)}-${res.maxSecondHalfMB.toFixed(0)} MB over the second half`);
  if (o.whatIf) {
    // The same without NODE_OPTIONS: V8 sizes the heap for this machine's memory and collects lazily.
    const bare = summarizeSoak(await streamRun(relay, 'clients/ours.mjs', soakOpts, o.soakFlows, [], {}, false));
    results.soakDefaultHeap = bare;
    log(`soak without NODE_OPTIONS: ${fmt(bare.rate)} flows/s, ${bare.minSecondHalfMB.toFixed(0)}-${bare.maxSecondHalfMB.toFixed(0)} MB over the second half`);
  }
  await relay.stop();
  rmSync(ipamFile, { force: true });
}

// 5. In-process micro-measurements, each in its own process.
const file = (n) => join(profDir, `${n}.cpuprofile`);
if (run('lookup')) {
  results.lookup = await micro('micro/lookup.mjs', { queries: o.lookupQueries, runs: o.runs });
  log(`lookups: ${fmt(results.lookup.small.perSecond)}/s at 3 nodes, ${fmt(results.lookup.large.perSecond)}/s at ${results.lookup.large.nodes}`);
}
if (run('metrics')) {
  results.metricsRender = await micro('micro/metrics-render.mjs', { nodes: o.metricsNodes, runs: o.runs });
  log(`/metrics at ${o.metricsNodes} nodes: ${results.metricsRender.ms.toFixed(0)} ms (${fmt(results.metricsRender.seriesRendered)} series)`);
  if (o.profile) {
    await runChild('micro/metrics-render.mjs', { nodes: o.metricsNodes, runs: 3, profile: file('metrics-render') });
    profiles.metricsRender = readProfile('metrics-render');
  }
}
if (run('analyze')) {
  results.analyze = await micro('micro/analyze.mjs', { lines: o.analyzeLines, runs: o.runs });
  log(`analyze: ${fmt(results.analyze.analyzeLinesPerSecond)} lines/s, bare JSON.parse ${fmt(results.analyze.bareJsonParseLinesPerSecond)} lines/s`);
  if (o.profile) {
    await runChild('micro/analyze.mjs', { lines: o.analyzeLines, profile: file('analyze') });
    profiles.analyze = readProfile('analyze');
  }
}
if (run('ipam')) {
  // IPAM changes at cluster scale (issue 11): full rebuild, one change, churn; see bench/micro/ipam-change.mjs.
  results.ipam = await micro('micro/ipam-change.mjs', { nodes: 5000, endpoints: 100_000, runs: o.runs });
  log(`IPAM: full rebuild ${results.ipam.fullRebuildMs.toFixed(0)} ms, one change ${results.ipam.changeMs.toFixed(0)} ms, churn lag p99 ${results.ipam.churn.lag.p99.toFixed(0)} ms`);
}
if (run('inventory')) {
  // The pod inventory at 100,000 pods and 5,000 nodes (issue 12): memory, full build, one pod change, one node re-carved; see bench/micro/inventory.mjs.
  if (o.wait) await waitQuiet();
  results.inventory = await runChild('micro/inventory.mjs', { pods: 100_000, nodes: 5000, runs: o.runs }, { execArgv: ['--expose-gc'] });
  log(`inventory: ${fmt(results.inventory.pods)} pods, heap ${results.inventory.heapPodsMB.toFixed(0)} + ${results.inventory.heapInventoryMB.toFixed(0)} MB, full build ${results.inventory.fullBuildMs.toFixed(0)} ms, one pod change ${results.inventory.podChangeMs.toFixed(0)} ms, one node re-carved ${results.inventory.ipamChangeMs.toFixed(0)} ms`);
}
if (run('per-node')) {
  // Per-node mode (issue 14): one exporter at a node's rate; Relay mode vs per-node mode on this machine. Info rows.
  results.perNode = await perNodeRows({ wait: o.wait, runs: o.quick ? 1 : Math.min(2, o.runs), aggregateFlows: o.aggregateFlows, ...(o.quick ? { pacedSeconds: 10 } : {}), log });
}
results.profiles = profiles;

// 6. Targets, results.json and the table.
results.targets = evaluateTargets(results);
results.durationSeconds = (Date.now() - t0) / 1000;
writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
rmSync(profDir, { recursive: true, force: true });
printReport(results, clients.map((c) => c.name), out);
