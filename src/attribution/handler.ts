import type { Registry } from 'prom-client';
import type { FlowRecord } from '../ingest/flow-record.js';
import type { Attribution } from './classifier.js';

/**
 * One flow as every handler sees it. The pipeline fills ONE object and
 * hands it to each handler in turn: read it inside `processFlow`, keep
 * nothing of it (the record is reused by the source too).
 */
export interface AttributedFlow {
  rec: FlowRecord;
  src: Attribution;
  dst: Attribution;
  /** The flow's verdict slot (verdictSlot()). */
  verdict: number;
  /** The windows' clock: newest flow time, seconds. */
  nowSec: number;
  /**
   * `nowSec` in whole seconds: a small integer, so a tracker that takes it
   * as an argument gets it without a number being boxed per call.
   */
  wholeSec: number;
  /**
   * Dense id of the node that observed the flow (its wire name, `cluster/node`),
   * the same for every flow of that node (ObservingNodes). Figures that count
   * things per observing node add up across per-node exporters.
   */
  nodeId: number;
}

/**
 * A per-flow job behind one metric, after Hubble's metrics handlers
 * (`pkg/hubble/metrics/api`): it is created with the registry and its
 * options, owns its metric (or the tracker a scrape-time metric is read
 * from) and updates it in `processFlow`. Per flow: no allocation, no string
 * building (cache series ids in `Attribution.series` slots reserved with
 * `SeriesSlots`). A throw is counted in
 * hubble_ipam_handler_errors_total{handler=name} and the flow goes on to the
 * next handler; the stream never stops for it.
 */
export interface FlowHandler {
  /** The `handler` label of hubble_ipam_handler_errors_total. */
  readonly name: string;
  processFlow(f: AttributedFlow): void;
}

/** What every handler is created with. */
export interface HandlerContext {
  /** Where the handler registers its metrics; none in some tests and offline. */
  registry: Registry | undefined;
  /** Reserves per-Attribution cache slots. */
  slots: SeriesSlots;
}

/** Makes a handler: `(ctx) => new MyHandler(ctx, options)`. */
export type HandlerFactory = (ctx: HandlerContext) => FlowHandler;

/**
 * Hands out ranges of `Attribution.series` slots: each handler that caches
 * a series id per answer reserves its own range, before the classifier
 * builds its answers with `total` slots each.
 */
export class SeriesSlots {
  private next = 0;
  private sealed = false;

  /** The first of `n` slots of the caller's own. */
  reserve(n: number): number {
    if (this.sealed) throw new Error('series slots are reserved when handlers are created, before the classifier builds its answers');
    const base = this.next;
    this.next += n;
    return base;
  }

  /** Slots every Attribution gets; no reservation after this. */
  seal(): number {
    this.sealed = true;
    return this.next;
  }
}
