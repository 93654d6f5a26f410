/**
 * Issue 14's proof with real parts: three simulated agents, each on its own
 * unix socket with its node's share of a migration (the inventory fixture's
 * cluster: pods left on the old pool, idle ones, a wrong-node, an
 * unallocated and an out-of-pool pod), three exporters in per-node mode
 * reading them, one simulated Relay over the same flows with one exporter in
 * Relay mode, and a real Prometheus scraping all four (job `relay` and job
 * `per-node`) with the recording and alert rules loaded.
 *
 * Checked: every hubble_ipam_* family the dashboards and alerts use sums
 * (or, for a cluster-wide fact, maxes) over the per-node exporters to the
 * Relay exporter's value; every dashboard query gives the same answer with
 * $job set to either job; every recording rule and alert expression gives
 * the same rows for both jobs. Hand-written truths pin the Relay side.
 *
 * The flows all happened a minute before the exporters start (they read them
 * from the agents' and the relay's buffers with `since`) and Prometheus
 * starts only once every exporter holds every flow, so each series has one
 * value for the whole test: a rate() is 0 in both modes, and every query is
 * evaluated at one fixed time.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { createLogger } from '../src/log.js';
import { ExporterService } from '../src/service.js';
import type { Scenario, SimPod } from '../src/sim/scenario.js';
import { SimulatedRelay } from '../src/sim/simulated-relay.js';
import { repoRoot } from './support/paths.js';
import { allPanels, poll, PrometheusServer, type Dashboard } from './support/prom-harness.js';
import { selectors } from './support/promql-selectors.js';
import { tempDir } from './support/temp.js';
import { waitFor } from './support/wait.js';

const fx = (name: string) => join(repoRoot, 'test', 'fixtures', 'inventory', name);
const NODES = [
  { name: 'worker1', internalIP: '172.18.0.2' },
  { name: 'worker2', internalIP: '172.18.0.3' },
  { name: 'cp', internalIP: '172.18.0.4' },
];
/** Pods that never talk in the scenario (the restart plan must still list the stale ones: idle). */
const IDLE = new Set(['report-28391040-abcde', 'debug-shell', 'cart-legacy-p2n4m']);
const TOTAL_FLOWS = 6000;

/** The inventory fixture's pods (pods.yaml) as the simulated cluster's pods; host-network pods hold node addresses and send nothing here. */
function scenarioPods(): SimPod[] {
  const docs = parseAllDocuments(readFileSync(fx('pods.yaml'), 'utf8')).map((d) => d.toJS() as { items?: unknown[] });
  type Pod = { metadata: { name: string; namespace: string }; spec: { nodeName: string; hostNetwork?: boolean }; status: { podIPs?: Array<{ ip: string }> } };
  const pods = docs.flatMap((d) => (d?.items ?? [d]) as Pod[]);
  return pods
    .filter((p) => !p.spec.hostNetwork && (p.status.podIPs?.length ?? 0) > 0)
    .map((p) => ({
      name: p.metadata.name,
      namespace: p.metadata.namespace,
      node: p.spec.nodeName,
      ips: p.status.podIPs!.map((x) => x.ip),
      app: p.metadata.name.split('-')[0]!,
      ...(IDLE.has(p.metadata.name) ? { from: 1e6 } : {}),
    }));
}

const scenario: Scenario = {
  seed: 14,
  clusterName: 'kind-kind',
  nodes: NODES,
  pods: scenarioPods(),
  externalIPs: ['142.250.74.110', '2a00:1450:4001:82b::200e'],
  serviceIPs: ['10.96.0.10'],
  flowsPerSecond: 1000,
  totalFlows: TOTAL_FLOWS,
  flowsPerTick: 3,
  noIpEvery: 97,
};

const RELAY_JOB = 'relay';
const PER_NODE_JOB = 'per-node';
const ipamFiles = [fx('ipam.yaml'), fx('pods.yaml'), fx('ciliumendpoints.yaml')];

/** The families the dashboards and alerts use, by how they add up across replicas (issue 14's design). */
const ADDITIVE = new Set([
  'hubble_ipam_flows_total',
  'hubble_ipam_pool_flows_total',
  'hubble_ipam_anomalous_addresses',
  'hubble_ipam_migration_count',
  'hubble_ipam_pod_addresses',
  'hubble_ipam_pods_left_on_draining_pool',
  'hubble_ipam_restart_plan_pods',
  'hubble_ipam_node_allocated_ips',
  'hubble_ipam_pool_active_ips',
  'hubble_ipam_flows_received_total',
  'hubble_ipam_lost_events_total',
  'hubble_ipam_relay_nodes',
  // Per address, flows summed over the replicas that saw it (the offenders table); no replica is past its top-K here.
  'hubble_ipam_anomalous_endpoints',
  // Per-exporter error counters: none in either mode here, so their sums agree too.
  'hubble_ipam_relay_reconnects_total',
  'hubble_ipam_decode_errors_total',
  'hubble_ipam_strings_cut_total',
  'hubble_ipam_flows_future_total',
  'hubble_ipam_handler_errors_total',
]);
const CLUSTER_WIDE = new Set(['hubble_ipam_pool_capacity_ips', 'hubble_ipam_pool_node_cidrs_left', 'hubble_ipam_pool_allocated_ips', 'hubble_ipam_pool_free_ips', 'hubble_ipam_ipam_errors_total', 'hubble_ipam_last_flow_timestamp_seconds', 'hubble_ipam_clock_skew_seconds']);
/** One per exporter by nature: what differs between one exporter and three, and why. */
const PER_EXPORTER: Record<string, string> = {
  hubble_ipam_relay_connected: 'one stream per exporter (1 against 3)',
  hubble_ipam_relay_connect_attempts_total: 'one successful connect per exporter',
  hubble_ipam_migration_progress_ratio: "a replica's own ratio; the cluster's is the recording rule",
  process_resident_memory_bytes: 'process metrics',
  nodejs_heap_size_used_bytes: 'process metrics',
  nodejs_eventloop_lag_p99_seconds: 'process metrics',
  process_cpu_seconds_total: 'process metrics',
};

/** Dashboard panels that show each exporter on its own, not the cluster: they differ between one exporter and three by design. */
const PER_EXPORTER_PANELS: string[] = [
  'hubble-ipam-migration.json: Migration progress by exporter', // each replica's own ratio
  'hubble-ipam-pipeline.json: CPU', // process metrics, per instance
  'hubble-ipam-pipeline.json: Event-loop lag (p99)',
  'hubble-ipam-pipeline.json: Flow freshness', // newest flow age per instance
  'hubble-ipam-pipeline.json: Flows/s received', // a line per instance
  'hubble-ipam-pipeline.json: Memory',
  'hubble-ipam-pipeline.json: Offender series exported', // each replica's top-K, counted per instance
  'hubble-ipam-pipeline.json: Relay connection', // streams and connects: one per exporter
  'hubble-ipam-pipeline.json: Relay stream',
];

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

const agents: SimulatedRelay[] = [];
let relay: SimulatedRelay;
let relayAddress = '';
const exporters: Array<{ service: ExporterService; node?: string }> = [];
const prom = new PrometheusServer();
let at = 0;

async function query(expr: string): Promise<Sample[]> {
  const r = await prom.api<{ resultType: string; result: Sample[] }>('/api/v1/query', { query: expr, time: String(at) });
  if (r.status !== 'success') throw new Error(`${expr}: ${r.error}`);
  return r.data.resultType === 'scalar' ? [{ metric: {}, value: r.data.result as unknown as [number, string] }] : r.data.result;
}

/** Rows as comparable text: labels (minus those named) sorted, and the value. */
function rows(samples: Sample[], drop: string[] = []): string[] {
  return samples
    .map((s) => {
      const labels = Object.entries(s.metric)
        .filter(([k]) => !drop.includes(k))
        .sort(([a], [b]) => a.localeCompare(b));
      return `${JSON.stringify(labels)} ${s.value[1]}`;
    })
    .sort();
}

beforeAll(async () => {
  const dir = tempDir('per-node-prom');
  const epochMs = Date.now() - 60_000;
  const since = new Date(epochMs - 1000);
  for (const n of NODES) {
    const agent = new SimulatedRelay({ scenario, epochMs, agentNode: n.name });
    await agent.listen(`unix://${join(dir, `${n.name}.sock`)}`);
    agents.push(agent);
  }
  relay = new SimulatedRelay({ scenario, epochMs });
  relayAddress = await relay.listen('127.0.0.1:0');
  const start = async (address: string, node?: string) => {
    const service = new ExporterService({
      relay: { address, since },
      ipam: { files: ipamFiles, fileSettleMs: 0 },
      listenAddress: '127.0.0.1:0',
      windowSec: 3600,
      ...(node ? { nodeName: node } : {}),
    });
    exporters.push({ service, ...(node ? { node } : {}) });
    await service.start(new AbortController().signal);
  };
  await start(relayAddress);
  for (const n of NODES) await start(`unix://${join(dir, `${n.name}.sock`)}`, n.name);
  // Every flow delivered: the relay and each agent sent their whole range, and each exporter counted exactly that.
  const sources = [relay, ...agents];
  await waitFor(
    () => sources.every((s, i) => s.streamsSentAll >= 1 && exporters[i]!.service.pipeline.flows === s.flowsSent),
    'every exporter to hold every flow of its source',
    30_000,
    () => sources.map((s, i) => `${exporters[i]!.service.pipeline.flows}/${s.flowsSent}`).join(' '),
  );
  expect(relay.flowsSent).toBe(TOTAL_FLOWS);
  expect(agents.reduce((n, a) => n + a.flowsSent, 0)).toBe(TOTAL_FLOWS);

  const hostPort = (s: ExporterService) => s.address.replace(/^https?:\/\//, '');
  await prom.start({
    ruleFiles: [join(repoRoot, 'deploy/alerts/rules.yaml')],
    jobs: [
      { name: RELAY_JOB, targets: [hostPort(exporters[0]!.service)] },
      { name: PER_NODE_JOB, targets: exporters.slice(1).map((e) => hostPort(e.service)) },
    ],
  });
  // Two successful scrapes of all four, then a rule evaluation after them.
  await poll('Prometheus to scrape all four exporters twice', 60_000, async () => {
    const r = await prom.query('count(sum_over_time(up[1m]) >= 2)');
    return Number((r.data.result[0] as Sample | undefined)?.value[1] ?? 0) === 4 ? true : undefined;
  });
  await poll('the recording rules to be evaluated', 30_000, async () => ((await prom.query('hubble_ipam:pool_allocated:ratio')).data.result.length > 0 ? true : undefined));
  at = Date.now() / 1000;
}, 180_000);

afterAll(async () => {
  await prom.stop();
  for (const e of exporters) await e.service.close();
  for (const s of [relay, ...agents]) await s?.close();
});

const rulesDoc = parseYaml(readFileSync(join(repoRoot, 'deploy/alerts/rules.yaml'), 'utf8')) as { groups: Array<{ rules: Array<{ alert?: string; record?: string; expr: string }> }> };
const rules = rulesDoc.groups.flatMap((g) => g.rules);
const dashboards = ['hubble-ipam-migration.json', 'hubble-ipam-pipeline.json'].map((f) => ({ file: f, d: JSON.parse(readFileSync(join(repoRoot, 'dashboards', f), 'utf8')) as Dashboard }));
const panelTargets = dashboards.flatMap(({ file, d }) => allPanels(d).flatMap((p) => (p.targets ?? []).map((t) => ({ where: `${file}: ${p.title} (${t.refId})`, expr: t.expr }))));

/** A dashboard query with $job set, every other variable matching anything; Grafana's intervals fixed. */
function withJob(expr: string, job: string): string {
  return expr
    .replace(/\$\{?__rate_interval\}?/g, '1m')
    .replace(/\$\{?__interval\}?/g, '15s')
    .replace(/\$\{?__range\}?/g, '5m')
    .replace(/\$\{?job(?::\w+)?\}?/g, job)
    .replace(/\$\{[A-Za-z_]\w*(?::\w+)?\}|\$[A-Za-z_]\w*/g, '.*');
}

describe('per-node mode and Relay mode, scraped by one Prometheus', () => {
  it('the Relay side is what the cluster holds (hand-written truths)', async () => {
    const one = async (expr: string) => rows(await query(expr));
    // The inventory fixture: 14 stale pod addresses (13 Pods' and the CiliumEndpoint-only orphan-worker), 13 pods in the plan, 3 of them idle here.
    expect(await one(`sum(hubble_ipam_pod_addresses{job="${RELAY_JOB}", status="stale"})`)).toEqual(['[] 14']);
    expect(await one(`sum(hubble_ipam_restart_plan_pods{job="${RELAY_JOB}"})`)).toEqual(['[] 13']);
    expect(await one(`sum by (status) (hubble_ipam_anomalous_addresses{job="${RELAY_JOB}"})`)).toEqual(
      // Talking anomalous pods, each counted on its own node: stale coredns ×2, hubble-relay, prometheus-k8s-0,
      // fluent-bit, migrate-db (6 pods, 8 addresses: 3 are dual-stack and talk over both); wrong_node frontend-wn8rx
      // (its IPv4 only: the IPv6 is worker2's own); unallocated cache-0 (both); out_of_pool batch-api.
      ['[["status","out_of_pool"]] 1', '[["status","stale"]] 9', '[["status","unallocated"]] 2', '[["status","wrong_node"]] 1'],
    );
    expect(await one(`sum(hubble_ipam_flows_received_total{job="${RELAY_JOB}"})`)).toEqual([`[] ${TOTAL_FLOWS}`]);
    expect(await one(`sum(hubble_ipam_flows_received_total{job="${PER_NODE_JOB}"})`)).toEqual([`[] ${TOTAL_FLOWS}`]);
  });

  it('every family the dashboards and alerts use: the sum (or, for a cluster-wide fact, the max) over per-node exporters equals the Relay exporter', async () => {
    const used = new Set<string>();
    for (const e of [...panelTargets.map((t) => t.expr), ...rules.map((r) => r.expr)]) for (const s of selectors(e)) if (s.name !== '' && !s.name.includes(':')) used.add(s.name);
    const unclassified = [...used].filter((n) => !ADDITIVE.has(n) && !CLUSTER_WIDE.has(n) && !(n in PER_EXPORTER));
    expect(unclassified, 'every family used is classified here').toEqual([]);
    let compared = 0;
    for (const name of [...used].sort()) {
      if (name in PER_EXPORTER) continue;
      const agg = ADDITIVE.has(name) ? 'sum' : 'max';
      const relaySide = rows(await query(`${agg} without (instance, job) (${name}{job="${RELAY_JOB}"})`));
      const perNode = rows(await query(`${agg} without (instance, job) (${name}{job="${PER_NODE_JOB}"})`));
      expect(perNode, name).toEqual(relaySide);
      expect(relaySide.length, `${name} has series`).toBeGreaterThan(0);
      compared++;
    }
    expect(compared).toBe(used.size - [...used].filter((n) => n in PER_EXPORTER).length);
  });

  it('every dashboard query gives the same answer with $job = relay and with $job = per-node', async () => {
    let nonEmpty = 0;
    const perExporter = new Set<string>();
    for (const t of panelTargets) {
      const a = await query(withJob(t.expr, RELAY_JOB));
      const b = await query(withJob(t.expr, PER_NODE_JOB));
      // A view per exporter (a line per instance, or a per-exporter family) shows one exporter against three by design.
      if ([...a, ...b].some((s) => 'instance' in s.metric) || selectors(t.expr).some((s) => s.name in PER_EXPORTER)) {
        perExporter.add(t.where.replace(/ \(\w+\)$/, ''));
        continue;
      }
      expect(rows(b), t.where).toEqual(rows(a));
      if (a.length > 0) nonEmpty++;
    }
    // Exactly the panels that show each exporter on its own (docs/dashboards.md says so for each).
    expect([...perExporter].sort()).toEqual(PER_EXPORTER_PANELS);
    // Most of the rest answer with data here (the others read rates, which are 0 in both, or no lost events).
    expect(nonEmpty).toBeGreaterThan((panelTargets.length - PER_EXPORTER_PANELS.length) / 2);
  });

  it('every recording rule and alert expression gives the same rows for both jobs', async () => {
    let nonEmpty = 0;
    for (const r of rules) {
      const all = await query(r.expr);
      const of = (job: string) =>
        rows(
          all.filter((s) => s.metric.job === job),
          ['job', 'instance'],
        );
      expect(of(PER_NODE_JOB), r.alert ?? r.record).toEqual(of(RELAY_JOB));
      if (of(RELAY_JOB).length > 0) nonEmpty++;
    }
    // The ratios, and the alerts a cluster mid-migration raises, have rows.
    expect(nonEmpty).toBeGreaterThanOrEqual(4);
  });

  it('each per-node exporter saw only its own node; one pointed at the Relay by mistake says so, naming both nodes', async () => {
    for (const e of exporters.slice(1)) expect(e.service.pipeline.ownNodeCheck!.others, e.node).toBe(0);
    // The API and console say which share an exporter shows.
    const scope = async (e: ExporterService) => ((await (await fetch(`${e.address}/api/v1/summary`)).json()) as { scope: unknown }).scope;
    expect(await scope(exporters[0]!.service)).toEqual({ mode: 'relay', node: null });
    expect(await scope(exporters[1]!.service)).toEqual({ mode: 'per-node', node: 'worker1' });
    expect(exporters[0]!.service.pipeline.ownNodeCheck).toBeUndefined();
    const warnings: string[] = [];
    const log = createLogger('warn', (l) => warnings.push(l));
    const wrong = new ExporterService({
      relay: { address: relayAddress, since: new Date(Date.now() - 120_000) },
      ipam: { files: ipamFiles, fileSettleMs: 0 },
      listenAddress: '127.0.0.1:0',
      windowSec: 3600,
      nodeName: 'worker1',
      logger: log,
    });
    try {
      await wrong.start(new AbortController().signal);
      await waitFor(() => wrong.pipeline.flows === TOTAL_FLOWS, 'the misconfigured exporter to read the whole relay', 30_000, () => wrong.pipeline.flows);
      // Every flow not observed on worker1 (worker1's own agent sent exactly its share).
      expect(wrong.pipeline.ownNodeCheck!.others).toBe(TOTAL_FLOWS - agents[0]!.flowsSent);
      expect(warnings.filter((w) => w.includes('a flow from another node reached this per-node exporter')).length).toBeGreaterThanOrEqual(1);
      expect(warnings.find((w) => w.includes('another node'))).toMatch(/kind-kind\/(worker2|cp)/);
    } finally {
      await wrong.close();
    }
  });
});
