import { labels } from '../../prom/labels.js';
import { SeriesCounter } from '../../prom/series-counter.js';
import { SIDE_DESTINATION, SIDE_SOURCE, sides, type Attribution } from '../classifier.js';
import type { AttributedFlow, FlowHandler, HandlerContext } from '../handler.js';
import { VERDICT_SLOTS, verdictSlotLabel } from '../verdict-slot.js';

/** One side of one flow: what a hubble_ipam_flows_total series is labelled by. */
export interface FlowSide {
  side: number;
  attr: Attribution;
  /** A verdict slot. */
  verdict: number;
}

export const flowLabels = labels<FlowSide>(
  ['side', (s) => sides[s.side]!],
  ['pool', (s) => s.attr.pool],
  ['node', (s) => s.attr.node],
  ['status', (s) => s.attr.status],
  ['verdict', (s) => verdictSlotLabel(s.verdict)],
);

/** Cache slots per answer: one per side and verdict slot. */
const SLOTS = sides.length * VERDICT_SLOTS;

/** hubble_ipam_flows_total: every flow once per side, by that side's pool, node and status and the verdict. */
export class FlowsTotalHandler implements FlowHandler {
  readonly name = 'flows_total';
  readonly counter: SeriesCounter<FlowSide>;
  private readonly base: number;
  /** The label source of a series not cached yet (reused; only read inside `series()`). */
  private readonly key: FlowSide = { side: 0, attr: undefined as unknown as Attribution, verdict: 0 };

  constructor(ctx: HandlerContext) {
    this.base = ctx.slots.reserve(SLOTS);
    this.counter = new SeriesCounter(
      'hubble_ipam_flows_total',
      "Flows by side, with the pool, node and IPAM status of that side's address and the flow verdict. Every flow counts once per side.",
      flowLabels,
      ctx.registry,
    );
  }

  processFlow(f: AttributedFlow): void {
    this.count(f.src, SIDE_SOURCE, f.verdict);
    this.count(f.dst, SIDE_DESTINATION, f.verdict);
  }

  private count(a: Attribution, side: number, verdict: number): void {
    const slot = this.base + side * VERDICT_SLOTS + verdict;
    let id = a.series[slot]!;
    if (id < 0) {
      const k = this.key;
      k.side = side;
      k.attr = a;
      k.verdict = verdict;
      id = a.series[slot] = this.counter.series(k);
    }
    this.counter.inc(id);
  }
}
