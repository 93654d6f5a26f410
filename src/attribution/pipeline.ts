import type { LostEvent } from '../gen/flow/flow_pb.js';
import { LostEventSource } from '../gen/flow/flow_pb.js';
import type { NodeStatusEvent } from '../gen/relay/relay_pb.js';
import type { FlowRecord } from '../ingest/flow-record.js';
import type { FlowSink } from '../ingest/sink.js';
import { FutureGuard } from '../ingest/future-guard.js';
import type { IpamSnapshot } from '../ipam/snapshot.js';
import { RateLimitedLog, silentLogger, type Logger } from '../log.js';
import { flowLabels, poolFlowLabels } from '../metrics/labels.js';
import { SeriesCounter } from '../metrics/series-counter.js';
import type { Registry } from 'prom-client';
import { ActivityTracker } from './activity.js';
import { Classifier, SIDE_DESTINATION, SIDE_SOURCE, sides, type Attribution } from './classifier.js';
import { MigrationTracker } from './migration.js';
import { OffenderTracker } from './offenders.js';
import { verdictSlot, verdictSlotLabel } from './verdict-slot.js';

export interface PipelineOptions {
  /** Window of the offender, activity and migration figures, seconds. Default 300. */
  windowSec?: number;
  /** Addresses the offender tracker keeps. Default 10000. */
  offenderCapacity?: number;
  /** Registry for the per-flow counters; a fresh one per pipeline in tests. */
  registry?: Registry;
  logger?: Logger;
  /**
   * How far ahead of the wall clock a flow may be stamped, ms; a flow further
   * ahead (a node with a wrong clock) is counted but does not move `nowSec`,
   * the windows' clock. Default 60000.
   */
  futureToleranceMs?: number;
  /** Wall clock, ms since the epoch. Default Date.now (injectable for tests). */
  clock?: () => number;
}

/** One per-flow job. Each runs even when another throws; failures are counted. */
interface FlowHandler {
  readonly name: string;
  processFlow(rec: FlowRecord, src: Attribution, dst: Attribution, verdict: number, nowSec: number): void;
}

const verdictName = verdictSlotLabel;

/**
 * The product: a FlowSink that attributes both sides of every flow to pools
 * and nodes and feeds the per-flow metrics and trackers. Per flow it does two
 * trie walks and array updates; label strings are built once per label set.
 */
export class AttributionPipeline implements FlowSink {
  readonly classifier = new Classifier();
  readonly windowSec: number;
  readonly offenders: OffenderTracker;
  readonly activity: ActivityTracker;
  readonly migration: MigrationTracker;
  readonly flowsTotal: SeriesCounter<typeof flowLabels>;
  readonly poolFlowsTotal: SeriesCounter<typeof poolFlowLabels>;
  /** Flows processed. */
  flows = 0;
  /** Events lost upstream, by source name (from lost_events messages). */
  readonly lost = new Map<string, number>();
  /** Handler failures, by handler. */
  readonly handlerErrors = new Map<string, number>();
  /** Newest flow time seen, seconds, flows stamped in the future excepted; the clock of every window. */
  nowSec = 0;
  /** Recognises (and counts) flows stamped ahead of the wall clock. */
  readonly future: FutureGuard;
  private readonly matrixIds = new Map<number, number>();
  private readonly handlers: FlowHandler[];
  private readonly errorLog: RateLimitedLog;

  constructor(opts: PipelineOptions = {}) {
    this.windowSec = opts.windowSec ?? 300;
    this.future = new FutureGuard(opts.futureToleranceMs, opts.clock);
    if (!(this.windowSec > 0)) throw new RangeError(`windowSec must be positive, got ${this.windowSec}`);
    this.offenders = new OffenderTracker(this.windowSec, opts.offenderCapacity);
    this.activity = new ActivityTracker(this.windowSec);
    this.migration = new MigrationTracker(this.windowSec);
    this.flowsTotal = new SeriesCounter('hubble_ipam_flows_total', 'Flows by side, with the pool, node and IPAM status of that side\'s address and the flow verdict. Every flow counts once per side.', flowLabels, opts.registry);
    this.poolFlowsTotal = new SeriesCounter('hubble_ipam_pool_flows_total', 'Flows from pool to pool by verdict (empty pool: the side has none).', poolFlowLabels, opts.registry);
    const log = opts.logger ?? silentLogger;
    this.errorLog = new RateLimitedLog((m, f) => log.error(m, f));
    this.handlers = [this.flowCounter(), this.poolMatrix(), this.offenderHandler(), this.activityHandler(), this.migrationHandler()];
  }

  setSnapshot(snap: IpamSnapshot): void {
    this.classifier.setSnapshot(snap);
  }

  flow(rec: FlowRecord): boolean {
    const src = this.classifier.classify(rec, SIDE_SOURCE);
    const dst = this.classifier.classify(rec, SIDE_DESTINATION);
    const t = rec.timeSeconds + rec.timeNanos * 1e-9;
    if (t > this.nowSec) {
      if (!this.future.isFuture(rec.timeSeconds, rec.timeNanos)) this.nowSec = t;
      else this.future.count(rec.timeSeconds, rec.timeNanos);
    }
    const v = verdictSlot(rec.verdict);
    this.flows++;
    for (let i = 0; i < this.handlers.length; i++) {
      const h = this.handlers[i]!;
      try {
        h.processFlow(rec, src, dst, v, this.nowSec);
      } catch (e) {
        this.handlerErrors.set(h.name, (this.handlerErrors.get(h.name) ?? 0) + 1);
        this.errorLog.emit('flow handler failed; the stream goes on', { handler: h.name, node: rec.nodeName, error: (e as Error).message });
      }
    }
    return true;
  }

  lostEvents(ev: LostEvent): void {
    const source = LostEventSource[ev.source] ?? String(ev.source);
    this.lost.set(source, (this.lost.get(source) ?? 0) + Number(ev.numEventsLost));
  }

  nodeStatus(_ev: NodeStatusEvent): void {}

  private flowCounter(): FlowHandler {
    const c = this.flowsTotal;
    const count = (a: Attribution, side: number, v: number) => {
      const slot = side * 16 + v;
      let id = a.series[slot]!;
      if (id < 0) id = a.series[slot] = c.series([sides[side]!, a.pool, a.node, a.status, verdictName(v)]);
      c.inc(id);
    };
    return {
      name: 'flows_total',
      processFlow: (_rec, src, dst, v) => {
        count(src, SIDE_SOURCE, v);
        count(dst, SIDE_DESTINATION, v);
      },
    };
  }

  private poolMatrix(): FlowHandler {
    const c = this.poolFlowsTotal;
    const ids = this.matrixIds;
    return {
      name: 'pool_flows_total',
      processFlow: (_rec, src, dst, v) => {
        const key = (src.poolId * 65536 + dst.poolId) * 16 + v;
        let id = ids.get(key);
        if (id === undefined) {
          id = c.series([src.pool, dst.pool, verdictName(v)]);
          ids.set(key, id);
        }
        c.inc(id);
      },
    };
  }

  private offenderHandler(): FlowHandler {
    const off = this.offenders;
    return {
      name: 'anomalous_endpoints',
      processFlow: (rec, src, dst, v, now) => {
        if (src.anomalous) off.record(src, rec.source.ip, rec.source.namespace, rec.source.podName, v, now);
        if (dst.anomalous) off.record(dst, rec.destination.ip, rec.destination.namespace, rec.destination.podName, v, now);
      },
    };
  }

  private activityHandler(): FlowHandler {
    const act = this.activity;
    return {
      name: 'pool_active_ips',
      processFlow: (rec, src, dst, _v, now) => {
        if (src.poolId !== 0) act.record(src.poolId, rec.source.ip, now);
        if (dst.poolId !== 0) act.record(dst.poolId, rec.destination.ip, now);
      },
    };
  }

  private migrationHandler(): FlowHandler {
    const mig = this.migration;
    const one = (a: Attribution, identity: number, ns: string, pod: string, isPod: boolean, now: number) => {
      if (!isPod) return;
      if (a.draining) mig.record(MigrationTracker.key(identity, ns, pod), a.poolId, now);
      else if (a.status === 'current' || a.status === 'wrong_node') mig.record(MigrationTracker.key(identity, ns, pod), 0, now);
    };
    return {
      name: 'migration_progress',
      processFlow: (rec, src, dst, _v, now) => {
        const s = rec.source;
        const d = rec.destination;
        one(src, s.identity, s.namespace, s.podName, s.isPod, now);
        one(dst, d.identity, d.namespace, d.podName, d.isPod, now);
      },
    };
  }
}
