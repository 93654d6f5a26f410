import type { Status } from '../attribution/classifier.js';
import type { OffenderQuery } from '../attribution/offenders.js';
import type { AttributionPipeline } from '../attribution/pipeline.js';
import type { IpamSnapshot } from '../ipam/snapshot.js';

export type { OffenderQuery };

/** A tracked anomalous address, as the API and the offline report show it. */
export interface AnomalyRow {
  status: Status;
  ip: string;
  pod: string;
  namespace: string;
  node: string;
  pool: string;
  /** Flows since first seen. */
  flows: number;
  byVerdict: Record<string, number>;
  firstSeen: string;
  lastSeen: string;
  /** Flows in the sliding window (a weighted estimate, not rounded). */
  flowsInWindow: number;
}

/** An anomalous address seen within the window. */
export interface ActiveAnomalyRow {
  status: Status;
  pool: string;
  node: string;
  namespace: string;
  pod: string;
  ip: string;
  /** Flows in the sliding window (a weighted estimate, not rounded). */
  flowsInWindow: number;
}

export interface PoolActivityRow {
  pool: string;
  family: 4 | 6;
  /** Distinct addresses of the pool seen within the window. */
  activeIps: number;
}

/** hubble_ipam_anomalous_addresses: one row per status, pool, node and namespace. */
export interface AnomalousAddressRow {
  status: string;
  pool: string;
  /** The node of the address's allocation ('' for none), as in the anomalies. */
  node: string;
  namespace: string;
  /** (Owning node, address) pairs seen local within the window. */
  addresses: number;
}

/** Migration off one draining pool (see attribution/migration.ts for the definition). */
export interface MigrationRow {
  pool: string;
  cidrs: string[];
  /** Workloads ever seen on the pool. */
  everOn: number;
  /** Of those, active in the window. */
  active: number;
  /** Of the active ones, off the pool in the whole window. */
  moved: number;
  /** moved / active (1: done); null until some workload was seen on the pool ("nothing seen yet" is not "done"). */
  ratio: number | null;
}

/** One hubble_ipam_flows_total series. */
export interface FlowSeriesRow {
  side: string;
  pool: string;
  node: string;
  status: string;
  verdict: string;
  flows: number;
}

/** One hubble_ipam_pool_flows_total series. */
export interface PoolFlowSeriesRow {
  sourcePool: string;
  destinationPool: string;
  verdict: string;
  flows: number;
}

/**
 * The read side of the pipeline: every question /metrics, the JSON API, the
 * demo and `analyze` ask about what the flows showed, answered from the
 * trackers and counters the handlers keep. Nothing else reads those.
 * Answers are fresh plain rows; the windows are judged by the pipeline's
 * `windowNowSec()` (the newest flow's time, or in the live service at least
 * the wall clock less a grace: AttributionPipeline's idleClockSec).
 */
export interface ReadModel {
  /** Window of the offender, activity and migration figures, seconds. */
  readonly windowSec: number;
  /** The newest flow's time, seconds (0 before any); the windows are judged by the pipeline's windowNowSec(). */
  nowSec(): number;
  /** Flows the pipeline processed. */
  flowsProcessed(): number;
  /** Flows stamped ahead of the clock beyond the tolerance, as the pipeline judged them, and the largest recent skew, seconds. */
  futureFlows(): { flows: number; recentSkewSeconds: number };
  /** Every tracked anomalous address matching `q`, most recently seen first: how many, and the first `limit`. */
  anomalies(q?: OffenderQuery, limit?: number): { total: number; rows: AnomalyRow[] };
  /** Anomalous addresses seen within the window matching `q`, most active first, at most `limit`. */
  activeAnomalies(limit?: number, q?: OffenderQuery): ActiveAnomalyRow[];
  /** Active addresses per pool and family. */
  activeIps(): PoolActivityRow[];
  /** Anomalous addresses seen local to their node within the window, per (owning node, address), by status, pool, node and namespace. */
  anomalousAddresses(): AnomalousAddressRow[];
  /** Progress of every pool `snap` says is draining, in the snapshot's order. */
  migration(snap: IpamSnapshot | undefined): MigrationRow[];
  /** Every hubble_ipam_flows_total series. */
  flowSeries(): FlowSeriesRow[];
  /** Every hubble_ipam_pool_flows_total series. */
  poolFlowSeries(): PoolFlowSeriesRow[];
  /** Failures per flow handler, every handler listed. */
  handlerErrors(): Array<{ handler: string; errors: number }>;
}

/** The read model of a pipeline. Cheap: it keeps no state of its own. */
export function readModelOf(p: AttributionPipeline): ReadModel {
  return new PipelineReadModel(p);
}

class PipelineReadModel implements ReadModel {
  constructor(private readonly p: AttributionPipeline) {}

  get windowSec(): number {
    return this.p.windowSec;
  }

  nowSec(): number {
    return this.p.nowSec;
  }

  flowsProcessed(): number {
    return this.p.flows;
  }

  futureFlows(): { flows: number; recentSkewSeconds: number } {
    return { flows: this.p.future.flows, recentSkewSeconds: this.p.future.recentSkewSeconds() };
  }

  anomalies(q: OffenderQuery = {}, limit = Infinity): { total: number; rows: AnomalyRow[] } {
    const all = this.p.offenders.all(q);
    const now = this.p.windowNowSec();
    const shown = all.length > limit ? all.slice(0, limit) : all;
    return { total: all.length, rows: shown.map((o) => ({ ...o.summary(), flowsInWindow: o.window.value(now, this.p.windowSec) })) };
  }

  activeAnomalies(limit = Infinity, q: OffenderQuery = {}): ActiveAnomalyRow[] {
    return this.p.offenders
      .active(this.p.windowNowSec(), limit, q)
      .map(({ o, flows }) => ({ status: o.status, pool: o.pool, node: o.node, namespace: o.namespace, pod: o.pod, ip: o.ip, flowsInWindow: flows }));
  }

  anomalousAddresses(): AnomalousAddressRow[] {
    return this.p.localAnomalies.counts(this.p.windowNowSec());
  }

  activeIps(): PoolActivityRow[] {
    const names = this.p.classifier.poolNames();
    return this.p.activity.counts(this.p.windowNowSec()).map(([poolId, family, n]) => ({ pool: names[poolId] ?? '', family, activeIps: n }));
  }

  migration(snap: IpamSnapshot | undefined): MigrationRow[] {
    const draining = snap?.state.pools.filter((pool) => pool.state === 'draining') ?? [];
    // A pool no flow was classified against yet has no id: no workload can have been on it (-1 matches none).
    const ids = draining.map((pool) => this.p.classifier.findPoolId(pool.name) ?? -1);
    const progress = this.p.migration.progress(ids, this.p.windowNowSec());
    return draining.map((pool, i) => {
      const m = progress[i]!;
      return { pool: pool.name, cidrs: pool.cidrs.map((c) => c.text), everOn: m.everOn, active: m.active, moved: m.moved, ratio: m.everOn > 0 ? m.ratio : null };
    });
  }

  flowSeries(): FlowSeriesRow[] {
    return this.p.flowsTotal.counter.entries().map(({ labels: l, value }) => ({ side: l.side!, pool: l.pool!, node: l.node!, status: l.status!, verdict: l.verdict!, flows: value }));
  }

  poolFlowSeries(): PoolFlowSeriesRow[] {
    return this.p.poolFlowsTotal.counter.entries().map(({ labels: l, value }) => ({ sourcePool: l.source_pool!, destinationPool: l.destination_pool!, verdict: l.verdict!, flows: value }));
  }

  handlerErrors(): Array<{ handler: string; errors: number }> {
    return this.p.handlerErrors();
  }
}
