import { Counter, Gauge, Registry, collectDefaultMetrics, type Metric } from 'prom-client';
import type { AttributionPipeline } from '../attribution/pipeline.js';
import type { RelayState, RelayStats } from '../ingest/relay-client.js';
import type { IpamStore } from '../ipam/ipam-store.js';
import { LostEventSource } from '../gen/flow/flow_pb.js';
import { NodeState } from '../gen/relay/relay_pb.js';
import { anomalyLabels, labelsOf, lostLabels, migrationLabels, nodeAllocLabels, poolFamilyLabels, relayNodeLabels } from './labels.js';

/** Where the pipeline metrics come from: the relay client live, or a file replay. */
export interface StreamSource {
  stats: RelayStats;
  state: RelayState;
}

export interface ExporterMetricsOptions {
  pipeline: AttributionPipeline;
  store: IpamStore;
  /** The relay stream; absent for offline analysis. */
  stream?: () => StreamSource | undefined;
  /** Most anomalous endpoint series exported. Default 50. */
  maxAnomalySeries?: number;
  /** Node's process metrics (heap, event loop lag, …). Default true. */
  processMetrics?: boolean;
}

const familyName = (f: 4 | 6) => (f === 4 ? 'ipv4' : 'ipv6');
const lostSources = Object.keys(LostEventSource).filter((k) => Number.isNaN(Number(k)) && k !== 'UNKNOWN_LOST_EVENT_SOURCE');
const nodeStates = ['connected', 'unavailable', 'gone', 'error'];

/**
 * Every metric of the exporter on one registry. The per-flow counters live in
 * the pipeline; everything else is computed when scraped, from the pipeline's
 * trackers, the IPAM snapshot in force and the relay stream's counters.
 */
export function createExporterMetrics(registry: Registry, opts: ExporterMetricsOptions): Registry {
  const { pipeline, store } = opts;
  const maxSeries = opts.maxAnomalySeries ?? 50;
  const r = [registry];
  if (opts.processMetrics !== false) collectDefaultMetrics({ register: registry });

  new Gauge({
    name: 'hubble_ipam_anomalous_endpoints',
    help: `Addresses seen with a stale, unallocated, wrong_node or out_of_pool status within the window; value = their flows in the window. At most ${maxSeries} series, the most active.`,
    labelNames: anomalyLabels,
    registers: r,
    collect() {
      this.reset();
      for (const { o, flows } of pipeline.offenders.active(pipeline.nowSec, maxSeries)) {
        this.set(labelsOf(anomalyLabels, [o.status, o.pool, o.node, o.namespace, o.pod, o.ip]), Math.round(flows * 1000) / 1000);
      }
    },
  });

  const capacity = () => store.snapshot?.poolCapacity() ?? [];
  const gauge = (name: string, help: string, labelNames: readonly string[], fill: (g: Gauge<string>) => void) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers: r,
      collect() {
        this.reset();
        fill(this);
      },
    });
  gauge('hubble_ipam_pool_capacity_ips', 'Addresses in the pool\'s CIDRs (no series for a pool whose CIDRs are unknown, such as host-scope without a configured range).', poolFamilyLabels, (g) => {
    for (const c of capacity()) if (c.totalIps > 0) g.set(labelsOf(poolFamilyLabels, [c.pool, familyName(c.family)]), c.totalIps);
  });
  gauge('hubble_ipam_pool_allocated_ips', 'Addresses of the pool in CIDRs allocated to nodes now.', poolFamilyLabels, (g) => {
    for (const c of capacity()) g.set(labelsOf(poolFamilyLabels, [c.pool, familyName(c.family)]), c.allocatedIps);
  });
  // Per node: thousands of series that change only with the IPAM snapshot, so they are set once
  // per snapshot, not on every scrape (a scrape of a 5,000-node cluster would rebuild 10,000).
  let nodeGaugeSnapshot: typeof store.snapshot | null = null;
  new Gauge({
    name: 'hubble_ipam_node_allocated_ips',
    help: 'Addresses allocated to a node, per pool.',
    labelNames: nodeAllocLabels,
    registers: r,
    collect() {
      const snap = store.snapshot;
      if (snap === nodeGaugeSnapshot) return;
      nodeGaugeSnapshot = snap;
      this.reset();
      for (const n of snap?.nodeCapacity() ?? []) this.set(labelsOf(nodeAllocLabels, [n.pool, n.node, familyName(n.family)]), n.allocatedIps);
    },
  });
  gauge('hubble_ipam_pool_active_ips', 'Distinct addresses of the pool seen in flows within the window.', poolFamilyLabels, (g) => {
    const names = pipeline.classifier.poolNames();
    for (const [poolId, fam, n] of pipeline.activity.counts(pipeline.nowSec)) g.set(labelsOf(poolFamilyLabels, [names[poolId] ?? '', familyName(fam)]), n);
  });
  gauge('hubble_ipam_migration_progress_ratio', 'For a draining pool: active workloads already off it / active workloads that were on it (1 = done).', migrationLabels, (g) => {
    const draining = store.snapshot?.state.pools.filter((p) => p.state === 'draining') ?? [];
    const ids = draining.map((p) => pipeline.classifier.poolId(p.name));
    const names = pipeline.classifier.poolNames();
    // No series until some workload was seen on the pool: "nothing seen yet" is not "done".
    for (const m of pipeline.migration.progress(ids, pipeline.nowSec)) if (m.everOn > 0) g.set(labelsOf(migrationLabels, [names[m.poolId]!]), m.ratio);
  });

  // Pipeline health.
  const stream = () => opts.stream?.();
  const total = (name: string, help: string, value: () => number) =>
    new Counter({
      name,
      help,
      registers: r,
      collect() {
        this.reset();
        this.inc(value());
      },
    });
  total('hubble_ipam_flows_received_total', 'Flows received (each once: replays after a reconnect are not counted).', () => stream()?.stats.flows ?? pipeline.flows);
  new Counter({
    name: 'hubble_ipam_lost_events_total',
    help: 'Events Hubble reported lost before they reached us, by where they were lost.',
    labelNames: lostLabels,
    registers: r,
    collect() {
      this.reset();
      // Every known source from the start, so that rate() sees the first loss.
      for (const source of lostSources) this.inc(labelsOf(lostLabels, [source]), 0);
      const lost = stream()?.stats.lostEvents ?? pipeline.lost;
      for (const [source, n] of lost) this.inc(labelsOf(lostLabels, [source]), n);
    },
  });
  gauge('hubble_ipam_relay_connected', '1 while the flow stream from Hubble Relay is up.', [], (g) => g.set(stream()?.state === 'streaming' ? 1 : 0));
  total('hubble_ipam_relay_reconnects_total', 'Flow streams started after the first one.', () => stream()?.stats.reconnects ?? 0);
  new Counter({
    name: 'hubble_ipam_relay_connect_attempts_total',
    help: 'Attempts to open the flow stream, by result: ok (the relay answered), timeout (no answer by the connect deadline), error (failed before answering).',
    labelNames: ['result'],
    registers: r,
    collect() {
      this.reset();
      const a = stream()?.stats.connectAttempts ?? { ok: 0, timeout: 0, error: 0 };
      for (const result of ['ok', 'timeout', 'error'] as const) this.inc({ result }, a[result]);
    },
  });
  total('hubble_ipam_flows_future_total', 'Flows stamped ahead of the exporter\'s clock by more than the tolerance (a node with a wrong clock): counted, but moving neither the resume point nor the windows.', () => stream()?.stats.futureFlows ?? pipeline.future.flows);
  gauge('hubble_ipam_clock_skew_seconds', 'How far ahead of the exporter\'s clock the most future-stamped flow of the last 5 minutes was, seconds (0: none beyond the tolerance).', [], (g) => g.set(stream()?.stats.futureSkewSeconds() ?? pipeline.future.recentSkewSeconds()));
  gauge('hubble_ipam_relay_nodes', 'Nodes behind the relay by state, as the relay reports them.', relayNodeLabels, (g) => {
    const counts = new Map<string, number>(nodeStates.map((s) => [s, 0]));
    for (const s of stream()?.stats.nodes.values() ?? []) {
      const name = (NodeState[s] ?? String(s)).replace(/^NODE_/, '').toLowerCase();
      counts.set(name, (counts.get(name) ?? 0) + 1);
    }
    for (const [state, n] of counts) g.set(labelsOf(relayNodeLabels, [state]), n);
  });
  total('hubble_ipam_decode_errors_total', 'Relay responses that could not be decoded (dropped and logged with their node).', () => stream()?.stats.decodeErrors ?? 0);
  total('hubble_ipam_strings_cut_total', 'Names in flows longer than Kubernetes allows (pod and node names 253 characters, namespaces 63), cut at the limit with a "…" marker.', () => stream()?.stats.cutStrings ?? 0);
  total('hubble_ipam_ipam_errors_total', 'IPAM updates rejected for bad input (the state in force, if any, stays).', () => store.errorCount);
  gauge('hubble_ipam_last_flow_timestamp_seconds', 'Time of the newest flow received, seconds since the epoch.', [], (g) => g.set(pipeline.nowSec));
  return registry;
}

/**
 * Renders the registry as OpenMetrics. prom-client renames counters in place
 * when it renders OpenMetrics, so render through throwaway views instead and
 * leave the real metrics untouched for the next Prometheus-text scrape.
 */
export async function renderOpenMetrics(registry: Registry): Promise<string> {
  type Source = { name: string; help: string; type: string; get(): Promise<object> };
  const view = new Registry();
  view.setContentType(Registry.OPENMETRICS_CONTENT_TYPE as never);
  for (const m of registry.getMetricsAsArray() as unknown as Source[]) {
    const name = m.type === 'counter' ? m.name.replace(/_total$/, '') : m.name;
    view.registerMetric({ name, help: m.help, type: m.type, get: async () => ({ ...(await m.get()), name }), reset: () => {} } as unknown as Metric);
  }
  return view.metrics();
}
