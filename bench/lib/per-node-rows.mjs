/**
 * The per-node rows (issue 14; `node bench/run.mjs --only per-node`, written
 * to bench/results-per-node.json). Info rows: the issue sets no target.
 *
 * 1. One per-node exporter (bench/clients/ours.mjs with --node-name, the
 *    DaemonSet's NODE_OPTIONS) on its agent's unix socket, the agent paced at
 *    a node's share of a large cluster (PACED_RATES), the IPAM of a
 *    5,000-node dual-stack cluster as per-node mode gets it in a cluster (the
 *    watch's Node and CiliumNode objects and cilium-config: --kube-nodes),
 *    scraped every SCRAPE_MS: its CPU (cores busy from the first flow to the
 *    last) per 1,000 flows/s, which is the same number as CPU seconds per
 *    1,000 flows, and its RSS. Then the same at the lower rate with the
 *    IPAM from a 5,000-node file (--ipam-file): the file's YAML parse peaks
 *    higher; first with the DaemonSet's heap flags, and if that runs out of
 *    heap (recorded), with the Deployment's.
 * 2. Aggregate flows/s on this machine, Relay mode vs per-node mode: one
 *    exporter reading a relay that serves the three nodes' flows as fast as
 *    it can, vs three per-node exporters each reading its own agent (the same
 *    flows, a third each), started together. Both with the 5,000-node
 *    watch objects.
 *
 * The agents and the relay are bench/relay.mjs processes (pre-encoded flows
 * of bench/lib/per-node.mjs, the exporter's field mask honoured).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { runChild, startRelay } from './child.mjs';
import { nodeName } from './cluster.mjs';
import { PER_NODE_DAEMONSET_FILE, deployedNodeOptions, deployedResources } from './deployed.mjs';
import { machineBusySeconds, waitQuiet } from './machine.mjs';
import { OBSERVING_NODES, IPAM_NODES, perNodeIpam } from './per-node.mjs';
import { writeIpamFile } from './scenario.mjs';
import { median } from './stats.mjs';

/**
 * Flows/s of one node's agent in the paced rows. A node's share of a large
 * cluster: upstream's Relay saturates near 70,000 flows/s for the whole
 * cluster, i.e. about 1,000 flows/s per node at 70 nodes and 5,000 at 14;
 * busy nodes of large clusters see a few thousand. NEAR_IDLE_RATE: what the
 * exporter costs with (almost) no traffic.
 */
export const PACED_RATES = [1000, 5000];
export const NEAR_IDLE_RATE = 10;
/** Seconds each paced run lasts (flows = rate × this). */
export const PACED_SECONDS = 20;
/** Prometheus's scrape interval in the paced rows (the PodMonitor's order of magnitude). */
export const SCRAPE_MS = 15_000;
/** The client's flow-count poll in the paced rows: coarse, so its own CPU stays out of the figure. */
const PACED_POLL_MS = 100;
/** Flows the relay's pool holds (cycled); each agent's pool holds its third. */
const POOL_FLOWS = 15_000;
/** Seconds of the --ipam-file row. */
const FILE_ROW_SECONDS = 10;

const OURS = 'clients/ours.mjs';

export async function perNodeRows({ wait, runs, aggregateFlows, pacedSeconds = PACED_SECONDS, log }) {
  const ipamFile = writeIpamFile('per-node-ipam.json', JSON.stringify(perNodeIpam()));
  const dir = mkdtempSync(join(os.tmpdir(), 'hie-bench-agents-'));
  const sock = (n) => `unix://${join(dir, `${nodeName(n)}.sock`)}`;
  const perNodeOptions = deployedNodeOptions(PER_NODE_DAEMONSET_FILE);
  const relayModeOptions = deployedNodeOptions();
  const nodes = Array.from({ length: OBSERVING_NODES }, (_, n) => n);
  const kubeIpam = { 'kube-nodes': IPAM_NODES };
  const quiet = async () => (wait ? waitQuiet() : undefined);
  let relay;
  let agents = [];
  try {
    [relay, ...agents] = await Promise.all([
      startRelay({ pool: 'per-node', 'pool-size': POOL_FLOWS }),
      ...nodes.map((n) => startRelay({ pool: 'per-node', 'pool-size': POOL_FLOWS, 'agent-node': nodeName(n), listen: sock(n) })),
    ]);
    log(`per-node: relay of ${OBSERVING_NODES} nodes (${relay.summary.messages} pre-encoded flows, ${relay.masked.avgBytes.toFixed(0)} B under the exporter's mask), agents of ${agents.map((a) => `${a.summary.agentNode} (${a.summary.messages})`).join(', ')}; IPAM of ${IPAM_NODES} nodes`);

    // 1. One per-node exporter at a node's rate.
    const paced = [];
    for (const rate of [NEAR_IDLE_RATE, ...PACED_RATES]) {
      const flows = rate * pacedSeconds;
      const otherBusyCores = await quiet();
      await agents[0].arm(flows, undefined, { rate });
      const [res, agent] = await Promise.all([
        runChild(OURS, { address: sock(0), flows, ...kubeIpam, 'node-name': nodeName(0), 'scrape-ms': SCRAPE_MS, 'poll-ms': PACED_POLL_MS }, { execArgv: perNodeOptions }),
        agents[0].streamDone(),
      ]);
      const cores = res.streamCpuSeconds / res.seconds;
      paced.push({
        rate,
        flows,
        seconds: res.seconds,
        achievedRate: res.rate,
        cores,
        coresPer1000FlowsPerSecond: cores / (res.rate / 1000),
        cpuSecondsPer1000Flows: (res.streamCpuSeconds / res.streamFlows) * 1000,
        startCpuSeconds: res.cpuSeconds - res.streamCpuSeconds,
        maxRssMB: res.maxRssMB,
        endRssMB: res.rssMB,
        renders: res.renders,
        agentCpuSeconds: agent.cpuSeconds,
        decodeErrors: res.decodeErrors,
        otherBusyCores,
      });
      const p = paced.at(-1);
      log(`per-node exporter at ${rate} flows/s: ${p.cores.toFixed(3)} cores (${p.coresPer1000FlowsPerSecond.toFixed(3)} per 1,000 flows/s), peak rss ${p.maxRssMB.toFixed(0)} MB, ${p.endRssMB.toFixed(0)} MB at the end`);
    }
    const nearIdle = paced.shift();

    // 1b. The IPAM from a 5,000-node file: what its parse costs in memory.
    const fileRow = { rate: PACED_RATES[0], flows: PACED_RATES[0] * FILE_ROW_SECONDS, attempts: [] };
    for (const [flags, execArgv] of [['daemonset', perNodeOptions], ['deployment', relayModeOptions]]) {
      await quiet();
      await agents[0].arm(fileRow.flows, undefined, { rate: fileRow.rate });
      const child = runChild(OURS, { address: sock(0), flows: fileRow.flows, ipam: ipamFile, 'node-name': nodeName(0), 'poll-ms': PACED_POLL_MS }, { execArgv });
      const res = await child.catch((e) => ({ error: e.message }));
      if (res.error) {
        // The agent's stream may not have started: arm again before the next attempt.
        fileRow.attempts.push({ flags, nodeOptions: execArgv.join(' '), error: res.error });
        log(`per-node exporter with a ${IPAM_NODES}-node IPAM file and the ${flags}'s NODE_OPTIONS: ${res.error}`);
        continue;
      }
      await agents[0].streamDone();
      fileRow.attempts.push({ flags, nodeOptions: execArgv.join(' '), maxRssMB: res.maxRssMB, endRssMB: res.rssMB, startCpuSeconds: res.cpuSeconds - res.streamCpuSeconds, cores: res.streamCpuSeconds / res.seconds });
      log(`per-node exporter with a ${IPAM_NODES}-node IPAM file (${flags}'s NODE_OPTIONS): peak rss ${res.maxRssMB.toFixed(0)} MB, ${res.rssMB.toFixed(0)} MB at the end`);
      break;
    }
    if (fileRow.attempts.some((a) => a.error)) {
      // A fresh agent: a failed exporter may have left a stream report the aggregate rows would take.
      await agents[0].stop();
      agents[0] = await startRelay({ pool: 'per-node', 'pool-size': POOL_FLOWS, 'agent-node': nodeName(0), listen: sock(0) });
    }

    // 2. Aggregate flows/s, alternating Relay mode and per-node mode.
    const relayRuns = [];
    const perNodeRuns = [];
    const each = Math.round(aggregateFlows / OBSERVING_NODES);
    for (let r = 0; r < runs; r++) {
      let otherBusyCores = await quiet();
      await relay.arm(aggregateFlows);
      let busy0 = machineBusySeconds();
      const [res, sent] = await Promise.all([runChild(OURS, { address: relay.address, flows: aggregateFlows, ...kubeIpam }, { execArgv: relayModeOptions }), relay.streamDone()]);
      relayRuns.push({
        flows: res.streamFlows,
        seconds: res.seconds,
        rate: res.rate,
        exporterCpuSeconds: res.streamCpuSeconds,
        exporterCores: res.streamCpuSeconds / res.seconds,
        senderCpuSeconds: sent.cpuSeconds,
        maxRssMB: res.maxRssMB,
        otherBusyCores,
        machineCpuSecondsWholeRun: busy0 === undefined ? undefined : machineBusySeconds() - busy0,
      });
      log(`aggregate, Relay mode, run ${r + 1}/${runs}: ${Math.round(res.rate)} flows/s, exporter ${(res.streamCpuSeconds / res.seconds).toFixed(2)} cores`);

      otherBusyCores = await quiet();
      await Promise.all(agents.map((a) => a.arm(each, undefined, { hold: true })));
      const children = Promise.all(nodes.map((n) => runChild(OURS, { address: sock(n), flows: each, ...kubeIpam, 'node-name': nodeName(n) }, { execArgv: perNodeOptions })));
      // Every exporter has loaded its IPAM and opened its stream: the agents start together.
      await Promise.race([Promise.all(agents.map((a) => a.streamOpen())), children]);
      busy0 = machineBusySeconds();
      const t0 = performance.now();
      for (const a of agents) a.go();
      const [results, reports] = await Promise.all([children, Promise.all(agents.map((a) => a.streamDone()))]);
      const machineCores = busy0 === undefined ? undefined : (machineBusySeconds() - busy0) / ((performance.now() - t0) / 1000);
      const start = Math.min(...results.map((x) => x.startMs));
      const end = Math.max(...results.map((x) => x.endMs));
      const flows = results.reduce((a, x) => a + x.streamFlows, 0);
      const exporterCpu = results.reduce((a, x) => a + x.streamCpuSeconds, 0);
      const seconds = (end - start) / 1000;
      perNodeRuns.push({
        flows,
        seconds,
        rate: flows / seconds,
        exporterRates: results.map((x) => x.rate),
        exporterCpuSeconds: exporterCpu,
        exporterCores: exporterCpu / seconds,
        senderCpuSeconds: reports.reduce((a, x) => a + x.cpuSeconds, 0),
        maxRssMB: Math.max(...results.map((x) => x.maxRssMB)),
        machineCores,
        otherBusyCores,
      });
      log(`aggregate, per-node mode (${OBSERVING_NODES} exporters), run ${r + 1}/${runs}: ${Math.round(flows / seconds)} flows/s, exporters ${(exporterCpu / seconds).toFixed(2)} cores, machine ${machineCores?.toFixed(2) ?? '-'} cores`);
    }
    const summarize = (xs) => {
      const cpuPerFlow = median(xs.map((x) => x.exporterCpuSeconds / x.flows));
      const senderPerFlow = median(xs.map((x) => x.senderCpuSeconds / x.flows));
      return {
        rate: median(xs.map((x) => x.rate)),
        exporterCores: median(xs.map((x) => x.exporterCores)),
        exporterCpuSecondsPer1000Flows: cpuPerFlow * 1000,
        senderCpuSecondsPer1000Flows: senderPerFlow * 1000,
        maxRssMB: Math.max(...xs.map((x) => x.maxRssMB)),
        // What the machine could do if exporters and senders had every core: cores / (their CPU per flow).
        coreBoundRate: os.cpus().length / (cpuPerFlow + senderPerFlow),
        // One exporter is one JavaScript thread: one core / its CPU per flow.
        oneThreadBoundRate: 1 / cpuPerFlow,
        runs: xs,
      };
    };
    return {
      ipamNodes: IPAM_NODES,
      observingNodes: OBSERVING_NODES,
      scrapeMs: SCRAPE_MS,
      perNodeNodeOptions: perNodeOptions.join(' '),
      perNodeResources: deployedResources(PER_NODE_DAEMONSET_FILE),
      relayModeNodeOptions: relayModeOptions.join(' '),
      relayModeResources: deployedResources(),
      pool: { relay: relay.summary, relayMaskedAvgBytes: relay.masked.avgBytes, agents: agents.map((a) => ({ node: a.summary.agentNode, messages: a.summary.messages })) },
      ipamSource: `stand-in Kubernetes watch: ${IPAM_NODES} Nodes and CiliumNodes (dual stack) and cilium-config`,
      nearIdle,
      paced,
      ipamFileRow: fileRow,
      aggregate: { flowsPerRun: aggregateFlows, relayMode: summarize(relayRuns), perNodeMode: summarize(perNodeRuns) },
    };
  } finally {
    await Promise.all([relay, ...agents].filter(Boolean).map((x) => x.stop()));
    rmSync(dir, { recursive: true, force: true });
    rmSync(ipamFile, { force: true });
  }
}
