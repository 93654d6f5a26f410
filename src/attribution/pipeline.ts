import type { LostEvent } from '../gen/flow/flow_pb.js';
import type { NodeStatusEvent } from '../gen/relay/relay_pb.js';
import type { FlowRecord } from '../ingest/flow-record.js';
import type { FlowSink } from '../ingest/sink.js';
import { FutureGuard } from '../ingest/future-guard.js';
import type { IpamSnapshot } from '../ipam/snapshot.js';
import { RateLimitedLog, silentLogger, type Logger } from '../log.js';
import type { Registry } from 'prom-client';
import type { ActivityTracker } from './activity.js';
import { Classifier, SIDE_DESTINATION, SIDE_SOURCE, type Attribution } from './classifier.js';
import { SeriesSlots, type AttributedFlow, type FlowHandler, type HandlerContext, type HandlerFactory } from './handler.js';
import { AnomalousEndpointsHandler } from './handlers/anomalous-endpoints.js';
import { FlowsTotalHandler } from './handlers/flows-total.js';
import { MigrationProgressHandler } from './handlers/migration-progress.js';
import { PoolActiveIpsHandler } from './handlers/pool-active-ips.js';
import { PoolFlowsTotalHandler } from './handlers/pool-flows-total.js';
import type { LocalAddressTracker } from './local-addresses.js';
import type { MigrationTracker } from './migration.js';
import type { OffenderTracker } from './offenders.js';
import { verdictSlot } from './verdict-slot.js';
import { ObservingNodes } from './observing-nodes.js';
import { OwnNodeCheck } from './own-node-check.js';

export interface PipelineOptions {
  /** Window of the offender, activity and migration figures, seconds. Default 300. */
  windowSec?: number;
  /** Addresses the offender tracker keeps. Default 10000. */
  offenderCapacity?: number;
  /** Registry the handlers register their per-flow counters on; a fresh one per pipeline in tests. Default none. */
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
  /**
   * The live service's windows follow the wall clock when flows stop: the
   * windows' clock (`windowNowSec`) is then at least the wall clock minus this
   * many seconds, so a quiet node's exporter, or one whose stream is down,
   * still lets old sightings leave the window (an address seen stale once
   * does not stay "active" for hours). Unset (offline analysis, tests): the
   * windows' clock is the newest flow's time only. Seconds.
   */
  idleClockSec?: number;
  /**
   * Per-node mode: the exporter's own node (bare name); a flow observed on
   * another node is warned about (OwnNodeCheck). Default: none (Relay mode).
   */
  ownNode?: string;
  /** Handlers run after the built-in ones, each with its own error count. Default none. */
  extraHandlers?: HandlerFactory[];
}

/**
 * The product: a FlowSink that attributes both sides of every flow to pools
 * and nodes and runs every handler on it (handlers/, one per metric). Per
 * flow: two trie walks, then each handler, which only indexes arrays and
 * adds to counters. A handler that throws is counted and skipped for that
 * flow; the other handlers and the stream go on.
 *
 * Read side: nothing outside attribution/ reads the trackers or counters
 * directly; src/read-model answers every query.
 */
export class AttributionPipeline implements FlowSink {
  readonly classifier: Classifier;
  readonly windowSec: number;
  readonly flowsTotal: FlowsTotalHandler;
  readonly poolFlowsTotal: PoolFlowsTotalHandler;
  readonly handlers: readonly FlowHandler[];
  /** Flows processed (the stream's own figures, received and duplicates, are in RelayStats). */
  flows = 0;
  /** Newest flow time seen, seconds, flows stamped in the future excepted; what the windows record with. */
  nowSec = 0;
  private readonly idleClockSec: number | undefined;
  private readonly wallClock: () => number;
  /** Recognises (and counts) flows stamped ahead of the wall clock. */
  readonly future: FutureGuard;
  private readonly anomalous: AnomalousEndpointsHandler;
  private readonly active: PoolActiveIpsHandler;
  private readonly migrationHandler: MigrationProgressHandler;
  /** The nodes flows were observed on, by dense id. */
  readonly observingNodes = new ObservingNodes();
  /** Per-node mode's guard (undefined in Relay mode). */
  readonly ownNodeCheck: OwnNodeCheck | undefined;
  /** Failures by handler index. */
  private readonly errors: Float64Array;
  private readonly errorLog: RateLimitedLog;
  /** The one flow object every handler is given (refilled per flow: no allocation). */
  private readonly current: AttributedFlow;

  constructor(opts: PipelineOptions = {}) {
    this.windowSec = opts.windowSec ?? 300;
    if (!(this.windowSec > 0)) throw new RangeError(`windowSec must be positive, got ${this.windowSec}`);
    this.future = new FutureGuard(opts.futureToleranceMs, opts.clock);
    this.wallClock = opts.clock ?? Date.now;
    if (opts.idleClockSec !== undefined && !(opts.idleClockSec >= 0)) throw new RangeError(`idleClockSec must be 0 or more, got ${opts.idleClockSec}`);
    this.idleClockSec = opts.idleClockSec;
    const slots = new SeriesSlots();
    const ctx: HandlerContext = { registry: opts.registry, slots };
    const windowSec = this.windowSec;
    this.flowsTotal = new FlowsTotalHandler(ctx);
    this.poolFlowsTotal = new PoolFlowsTotalHandler(ctx);
    this.anomalous = new AnomalousEndpointsHandler(ctx, { windowSec, capacity: opts.offenderCapacity });
    this.active = new PoolActiveIpsHandler(ctx, { windowSec });
    this.migrationHandler = new MigrationProgressHandler(ctx, { windowSec });
    this.handlers = [this.flowsTotal, this.poolFlowsTotal, this.anomalous, this.active, this.migrationHandler, ...(opts.extraHandlers ?? []).map((make) => make(ctx))];
    const names = this.handlers.map((h) => h.name);
    const dup = names.find((n, i) => names.indexOf(n) !== i);
    if (dup !== undefined) throw new Error(`two flow handlers are named '${dup}'; each needs its own name (the handler label of hubble_ipam_handler_errors_total)`);
    this.errors = new Float64Array(this.handlers.length);
    this.classifier = new Classifier(slots.seal());
    const log = opts.logger ?? silentLogger;
    this.ownNodeCheck = opts.ownNode === undefined ? undefined : new OwnNodeCheck(opts.ownNode, (id) => this.observingNodes.nameOf(id), log);
    this.errorLog = new RateLimitedLog((m, f) => log.error(m, f));
    // Filled by every flow before any handler sees it.
    this.current = { rec: undefined as unknown as FlowRecord, src: undefined as unknown as Attribution, dst: undefined as unknown as Attribution, verdict: 0, nowSec: 0, wholeSec: 0, nodeId: 0 };
  }

  /** The offender tracker (anomalous_endpoints handler). */
  get offenders(): OffenderTracker {
    return this.anomalous.tracker;
  }

  /** The local anomalous addresses (anomalous_endpoints handler): hubble_ipam_anomalous_addresses. */
  get localAnomalies(): LocalAddressTracker {
    return this.anomalous.local;
  }

  /** The activity tracker (pool_active_ips handler). */
  get activity(): ActivityTracker {
    return this.active.tracker;
  }

  /** The migration tracker (migration_progress handler). */
  get migration(): MigrationTracker {
    return this.migrationHandler.tracker;
  }

  /**
   * The clock the windows are judged by when read: the newest flow's time,
   * and with `idleClockSec` at least the wall clock minus it.
   */
  windowNowSec(): number {
    if (this.idleClockSec === undefined) return this.nowSec;
    return Math.max(this.nowSec, this.wallClock() / 1000 - this.idleClockSec);
  }

  /** Takes a new IPAM snapshot; throws (keeping the one in force) when its pools exceed MAX_POOL_IDS. */
  setSnapshot(snap: IpamSnapshot): void {
    this.classifier.setSnapshot(snap);
  }

  flow(rec: FlowRecord): boolean {
    const f = this.current;
    f.rec = rec;
    f.src = this.classifier.classify(rec, SIDE_SOURCE);
    f.dst = this.classifier.classify(rec, SIDE_DESTINATION);
    const t = rec.timeSeconds + rec.timeNanos * 1e-9;
    if (t > this.nowSec) {
      if (!this.future.isFuture(rec.timeSeconds, rec.timeNanos)) this.nowSec = t;
      else this.future.count(rec.timeSeconds, rec.timeNanos);
    }
    f.verdict = verdictSlot(rec.verdict);
    f.nowSec = this.nowSec;
    f.wholeSec = Math.floor(this.nowSec);
    f.nodeId = this.observingNodes.idOf(rec.nodeName);
    if (this.ownNodeCheck !== undefined) this.ownNodeCheck.check(f.nodeId);
    this.flows++;
    const hs = this.handlers;
    for (let i = 0; i < hs.length; i++) {
      try {
        hs[i]!.processFlow(f);
      } catch (e) {
        this.errors[i]!++;
        this.errorLog.emit('flow handler failed; the stream goes on', { handler: hs[i]!.name, node: rec.nodeName, error: (e as Error).message });
      }
    }
    return true;
  }

  /** Failures per handler, every handler listed (0 when none). */
  handlerErrors(): Array<{ handler: string; errors: number }> {
    return this.handlers.map((h, i) => ({ handler: h.name, errors: this.errors[i]! }));
  }

  /** Lost events are the stream's figure (RelayStats.lostEvents; analyze tallies its files'): nothing to keep here. */
  lostEvents(_ev: LostEvent): void {}

  nodeStatus(_ev: NodeStatusEvent): void {}
}
