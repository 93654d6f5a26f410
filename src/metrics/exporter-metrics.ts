import { Counter, Gauge, Registry, collectDefaultMetrics, type Metric } from 'prom-client';
import type { AttributionPipeline } from '../attribution/pipeline.js';
import { labels } from '../prom/labels.js';
import { readModelOf, type ActiveAnomalyRow, type AnomalousAddressRow, type MigrationRow, type PoolActivityRow } from '../read-model/read-model.js';
import type { RelayState, RelayStats } from '../ingest/relay-client.js';
import type { IpamStore } from '../ipam/ipam-store.js';
import type { LiveInventory } from '../inventory/live.js';
import { LostEventSource } from '../gen/flow/flow_pb.js';
import { NodeState } from '../gen/relay/relay_pb.js';

/** Where the pipeline metrics come from: the relay client live, or a file replay. */
export interface StreamSource {
  stats: RelayStats;
  state: RelayState;
}

export interface ExporterMetricsOptions {
  /** The flows' side, read through its read model only. */
  pipeline: AttributionPipeline;
  store: IpamStore;
  /** The relay stream; absent for offline analysis. */
  stream?: () => StreamSource | undefined;
  /** Most anomalous endpoint series exported. Default 50. */
  maxAnomalySeries?: number;
  /** The pod inventory (absent, or without pods: no inventory series; migration progress from traffic). */
  inventory?: LiveInventory;
  /** Node's process metrics (heap, event loop lag, …). Default true. */
  processMetrics?: boolean;
  /**
   * Per-node mode: the node this exporter reads the agent of (`--node-name`).
   * `hubble_ipam_node_allocated_ips` is then this node's rows only and the
   * relay nodes gauge reports this one node; the pool figures stay the whole
   * cluster's (every replica reads the same CiliumNodes: aggregate with max,
   * so a node without a running exporter is never left out). Default: Relay
   * mode (the whole cluster).
   */
  nodeName?: string;
}

const familyName = (f: 4 | 6) => (f === 4 ? 'ipv4' : 'ipv6');

// Every labelled metric's labels: one ordered list of name and getter pairs each (src/prom/labels.ts).
const anomalyLabels = labels<ActiveAnomalyRow>(['status', (o) => o.status], ['pool', (o) => o.pool], ['node', (o) => o.node], ['namespace', (o) => o.namespace], ['pod', (o) => o.pod], ['ip', (o) => o.ip]);
const capacityLabels = labels<{ pool: string; family: 4 | 6 }>(['pool', (c) => c.pool], ['family', (c) => familyName(c.family)]);
const activityLabels = labels<PoolActivityRow>(['pool', (a) => a.pool], ['family', (a) => familyName(a.family)]);
const nodeAllocLabels = labels<{ pool: string; node: string; family: 4 | 6 }>(['pool', (n) => n.pool], ['node', (n) => n.node], ['family', (n) => familyName(n.family)]);
const migrationLabels = labels<MigrationRow>(['pool', (m) => m.pool]);
const migrationCountLabels = labels<{ pool: string; state: 'moved' | 'left' }>(['pool', (m) => m.pool], ['state', (m) => m.state]);
const anomalousAddressLabels = labels<AnomalousAddressRow>(['status', (o) => o.status], ['pool', (o) => o.pool], ['node', (o) => o.node], ['namespace', (o) => o.namespace]);
const podAddressLabels = labels<{ status: string; pool: string; node: string }>(['status', (c) => c.status], ['pool', (c) => c.pool], ['node', (c) => c.node]);
const poolLabels = labels<string>(['pool', (pool) => pool]);
const planLabels = labels<{ node: string; activity: 'talking' | 'idle' }>(['node', (n) => n.node], ['activity', (n) => n.activity]);
const lostLabels = labels<string>(['source', (source) => source]);
const relayNodeLabels = labels<string>(['state', (state) => state]);
const connectLabels = labels<'ok' | 'timeout' | 'error'>(['result', (result) => result]);
const handlerLabels = labels<string>(['handler', (handler) => handler]);
const lostSources = Object.keys(LostEventSource).filter((k) => Number.isNaN(Number(k)) && k !== 'UNKNOWN_LOST_EVENT_SOURCE');
const nodeStates = ['connected', 'unavailable', 'gone', 'error'];

/**
 * Every metric of the exporter on one registry. The per-flow counters live in
 * the pipeline; everything else is computed when scraped, from the pipeline's
 * trackers, the IPAM snapshot in force and the relay stream's counters.
 */
export function createExporterMetrics(registry: Registry, opts: ExporterMetricsOptions): Registry {
  const { store } = opts;
  const read = readModelOf(opts.pipeline);
  const maxSeries = opts.maxAnomalySeries ?? 50;
  const r = [registry];
  if (opts.processMetrics !== false) collectDefaultMetrics({ register: registry });

  new Gauge({
    name: 'hubble_ipam_anomalous_endpoints',
    help: `Addresses seen with a stale, unallocated, wrong_node or out_of_pool status within the window; value = their flows in the window. At most ${maxSeries} series, the most active.`,
    labelNames: anomalyLabels.names,
    registers: r,
    collect() {
      this.reset();
      for (const o of read.activeAnomalies(maxSeries)) this.set(anomalyLabels.of(o), Math.round(o.flowsInWindow * 1000) / 1000);
    },
  });

  // Additive (issue 14): one series per status, pool, node and namespace whose value sums across per-node exporters.
  new Gauge({
    name: 'hubble_ipam_anomalous_addresses',
    help: 'Addresses with a stale, unallocated, wrong_node or out_of_pool status seen as a local endpoint (on the node that holds them: Hubble sets the endpoint ID) within the window, counted once per holding node: sum() over per-node exporters is the Relay exporter\'s value. No top-K: every such address counts.',
    labelNames: anomalousAddressLabels.names,
    registers: r,
    collect() {
      this.reset();
      for (const row of read.anomalousAddresses()) this.set(anomalousAddressLabels.of(row), row.addresses);
    },
  });

  // One computation per snapshot (it walks every endpoint through the trie), shared by the pool gauges.
  let capacitySnapshot: typeof store.snapshot | null = null;
  let capacityRows: ReturnType<NonNullable<typeof store.snapshot>['poolCapacity']> = [];
  const capacity = () => {
    const snap = store.snapshot;
    if (snap !== capacitySnapshot) {
      capacitySnapshot = snap;
      capacityRows = snap?.poolCapacity() ?? [];
    }
    return capacityRows;
  };
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
  gauge('hubble_ipam_pool_capacity_ips', 'Addresses in the pool\'s CIDRs (no series for a pool whose CIDRs are unknown, such as host-scope without a configured range). A cluster-wide fact: every per-node exporter exports the same value (aggregate with max).', capacityLabels.names, (g) => {
    for (const c of capacity()) if (c.totalIps > 0) g.set(capacityLabels.of(c), c.totalIps);
  });
  gauge('hubble_ipam_pool_allocated_ips', 'Addresses of the pool in CIDRs allocated to nodes now. A cluster-wide fact: every per-node exporter exports the same value (aggregate with max).', capacityLabels.names, (g) => {
    for (const c of capacity()) g.set(capacityLabels.of(c), c.allocatedIps);
  });
  // Headroom (issue 12): series only where the figure is known, so an alert never reads an unknown as 0.
  gauge('hubble_ipam_pool_node_cidrs_left', "Node CIDRs the pool can still hand out at its mask size: the CIDRs of that size its ranges hold, less the blocks allocated to nodes. No series for a pool without a mask size (host-scope, CRD-backed modes). A cluster-wide fact: every per-node exporter exports the same value (aggregate with max).", capacityLabels.names, (g) => {
    for (const c of capacity()) if (c.nodeCidrsLeft !== undefined) g.set(capacityLabels.of(c), c.nodeCidrsLeft);
  });
  gauge('hubble_ipam_pool_free_ips', "Addresses in the pool's node CIDRs not in use: allocated - used. Used is counted from the CiliumEndpoints' addresses when any are known, else from the CiliumNodes' status.ipam.used (a node's count goes to the one pool and family it holds; no series where that is ambiguous or missing). A cluster-wide fact: every per-node exporter exports the same value (aggregate with max).", capacityLabels.names, (g) => {
    for (const c of capacity()) if (c.usedIps !== undefined) g.set(capacityLabels.of(c), c.allocatedIps - c.usedIps);
  });
  // Per node: thousands of series that change only with the IPAM snapshot, so they are set once
  // per snapshot, not on every scrape (a scrape of a 5,000-node cluster would rebuild 10,000).
  let nodeGaugeSnapshot: typeof store.snapshot | null = null;
  new Gauge({
    name: 'hubble_ipam_node_allocated_ips',
    help: 'Addresses allocated to a node, per pool. Per-node mode: this exporter\'s node only (sum across exporters; a node without a running exporter has no series).',
    labelNames: nodeAllocLabels.names,
    registers: r,
    collect() {
      const snap = store.snapshot;
      if (snap === nodeGaugeSnapshot) return;
      nodeGaugeSnapshot = snap;
      this.reset();
      for (const n of snap?.nodeCapacity() ?? []) if (opts.nodeName === undefined || n.node === opts.nodeName) this.set(nodeAllocLabels.of(n), n.allocatedIps);
    },
  });
  gauge('hubble_ipam_pool_active_ips', 'Distinct addresses of the pool seen in flows as a local endpoint (by the node that holds them: Hubble sets the endpoint ID) within the window, once per holding node: sum() over per-node exporters is the Relay exporter\'s value.', activityLabels.names, (g) => {
    for (const a of read.activeIps()) g.set(activityLabels.of(a), a.activeIps);
  });
  gauge(
    'hubble_ipam_migration_progress_ratio',
    'For a draining pool: with the pod inventory, pods off it / pods off it and left on it (idle pods count); without it, active workloads already off it / active workloads that were on it (1 = done). /api/v1/migration says which.',
    migrationLabels.names,
    (g) => {
      const inv = opts.inventory?.inventory();
      if (inv) {
        for (const d of inv.draining) if (d.progress !== null) g.set({ pool: d.pool }, d.progress);
        return;
      }
      // No series until some workload was seen on the pool (ratio null): "nothing seen yet" is not "done".
      for (const m of read.migration(store.snapshot)) if (m.ratio !== null) g.set(migrationLabels.of(m), m.ratio);
    },
  );

  // What the ratio is made of (issue 14): sum() of each state across per-node exporters, then moved / (moved + left).
  gauge(
    'hubble_ipam_migration_count',
    'For a draining pool, what hubble_ipam_migration_progress_ratio is made of, as counts that add up across per-node exporters: with the pod inventory, pods off the pool (moved) and pods still on it (left); without it, (observing node, workload) pairs active in the window that are off the pool (moved) or still on it (left). Series only where the ratio has one. Cluster-wide progress: sum(moved) / sum(moved + left), 1 where both are 0 (the recording rule hubble_ipam:migration_progress:ratio).',
    migrationCountLabels.names,
    (g) => {
      const set = (pool: string, moved: number, left: number) => {
        g.set(migrationCountLabels.of({ pool, state: 'moved' }), moved);
        g.set(migrationCountLabels.of({ pool, state: 'left' }), left);
      };
      const inv = opts.inventory?.inventory();
      if (inv) {
        for (const d of inv.draining) if (d.progress !== null) set(d.pool, d.podsOff, d.podsLeft);
        return;
      }
      for (const m of read.migration(store.snapshot)) if (m.ratio !== null) set(m.pool, m.moved, m.active - m.moved);
    },
  );

  // The pod inventory: every pod address, talking or idle (no pod or address label: bounded by statuses, pools and nodes).
  gauge('hubble_ipam_pod_addresses', 'Pod addresses known to the cluster (Pods, CiliumEndpoints; host-network pods left out) by IPAM status, pool and the pod\'s node, whether they carry traffic or not.', podAddressLabels.names, (g) => {
    for (const c of opts.inventory?.inventory()?.counts ?? []) g.set(podAddressLabels.of(c), c.addresses);
  });
  gauge('hubble_ipam_pods_left_on_draining_pool', 'For a draining pool: pods that still hold an address in it (they move only when restarted).', poolLabels.names, (g) => {
    for (const d of opts.inventory?.inventory()?.draining ?? []) g.set(poolLabels.of(d.pool), d.podsLeft);
  });
  gauge('hubble_ipam_restart_plan_pods', 'Pods in the restart plan (a stale, unallocated, wrong_node or out_of_pool address) by node, and whether they carried traffic in the window (talking) or not (idle: they break when they next talk).', planLabels.names, (g) => {
    const plan = opts.inventory?.plan();
    if (!plan) return;
    for (const n of plan.byNode) {
      let talking = 0;
      for (const p of n.pods) if (p.flows > 0) talking++;
      g.set(planLabels.of({ node: n.node, activity: 'talking' }), talking);
      g.set(planLabels.of({ node: n.node, activity: 'idle' }), n.pods.length - talking);
    }
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
  // The stream's figure; without a stream (flows handed to the pipeline directly) the pipeline's own count is all there is.
  total('hubble_ipam_flows_received_total', 'Flows received (each once: replays after a reconnect are not counted).', () => stream()?.stats.flows ?? read.flowsProcessed());
  new Counter({
    name: 'hubble_ipam_lost_events_total',
    help: 'Events Hubble reported lost before they reached us, by where they were lost.',
    labelNames: lostLabels.names,
    registers: r,
    collect() {
      this.reset();
      // Every known source from the start, so that rate() sees the first loss.
      for (const source of lostSources) this.inc(lostLabels.of(source), 0);
      // Lost events are the stream's figure only (RelayStats).
      for (const [source, n] of stream()?.stats.lostEvents ?? []) this.inc(lostLabels.of(source), n);
    },
  });
  gauge('hubble_ipam_relay_connected', '1 while the flow stream from Hubble Relay is up.', [], (g) => g.set(stream()?.state === 'streaming' ? 1 : 0));
  total('hubble_ipam_relay_reconnects_total', 'Flow streams started after the first one.', () => stream()?.stats.reconnects ?? 0);
  new Counter({
    name: 'hubble_ipam_relay_connect_attempts_total',
    help: 'Attempts to open the flow stream, by result: ok (the relay answered), timeout (no answer by the connect deadline), error (failed before answering).',
    labelNames: connectLabels.names,
    registers: r,
    collect() {
      this.reset();
      const a = stream()?.stats.connectAttempts ?? { ok: 0, timeout: 0, error: 0 };
      for (const result of ['ok', 'timeout', 'error'] as const) this.inc(connectLabels.of(result), a[result]);
    },
  });
  total('hubble_ipam_flows_future_total', 'Flows stamped ahead of the exporter\'s clock by more than the tolerance (a node with a wrong clock): counted, but moving neither the resume point nor the windows.', () => stream()?.stats.futureFlows ?? read.futureFlows().flows);
  gauge('hubble_ipam_clock_skew_seconds', 'How far ahead of the exporter\'s clock the most future-stamped flow of the last 5 minutes was, seconds (0: none beyond the tolerance).', [], (g) => g.set(stream()?.stats.futureSkewSeconds() ?? read.futureFlows().recentSkewSeconds));
  gauge('hubble_ipam_relay_nodes', 'Nodes behind the relay by state, as the relay reports them. Per-node mode (an agent sends no node states): this exporter\'s node, connected while its stream is up, else unavailable; sum across exporters.', relayNodeLabels.names, (g) => {
    const counts = new Map<string, number>(nodeStates.map((s) => [s, 0]));
    const st = stream();
    if (opts.nodeName !== undefined && st !== undefined && st.stats.nodes.size === 0) counts.set(st.state === 'streaming' ? 'connected' : 'unavailable', 1);
    for (const s of stream()?.stats.nodes.values() ?? []) {
      const name = (NodeState[s] ?? String(s)).replace(/^NODE_/, '').toLowerCase();
      counts.set(name, (counts.get(name) ?? 0) + 1);
    }
    for (const [state, n] of counts) g.set(relayNodeLabels.of(state), n);
  });
  total('hubble_ipam_decode_errors_total', 'Relay responses that could not be decoded (dropped and logged with their node).', () => stream()?.stats.decodeErrors ?? 0);
  total('hubble_ipam_strings_cut_total', 'Names in flows longer than Kubernetes allows (pod and node names 253 characters, namespaces 63), cut at the limit with a "…" marker.', () => stream()?.stats.cutStrings ?? 0);
  total('hubble_ipam_ipam_errors_total', 'IPAM updates rejected for bad input (the state in force, if any, stays).', () => store.errorCount);
  gauge('hubble_ipam_last_flow_timestamp_seconds', 'Time of the newest flow received, seconds since the epoch.', [], (g) => g.set(read.nowSec()));
  new Counter({
    name: 'hubble_ipam_handler_errors_total',
    help: 'Flows a per-flow handler failed on, by handler (the flow still went to every other handler, and the stream went on).',
    labelNames: handlerLabels.names,
    registers: r,
    collect() {
      this.reset();
      // Every handler from the start, so that rate() sees the first failure.
      for (const { handler, errors } of read.handlerErrors()) this.inc(handlerLabels.of(handler), errors);
    },
  });
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
