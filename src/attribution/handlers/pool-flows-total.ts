import { labels } from '../../prom/labels.js';
import { SeriesCounter } from '../../prom/series-counter.js';
import type { Attribution } from '../classifier.js';
import type { AttributedFlow, FlowHandler, HandlerContext } from '../handler.js';
import { poolPairKey } from '../pool-slots.js';
import { verdictSlotLabel } from '../verdict-slot.js';

/** What a hubble_ipam_pool_flows_total series is labelled by. */
export interface PoolPair {
  src: Attribution;
  dst: Attribution;
  verdict: number;
}

export const poolFlowLabels = labels<PoolPair>(
  ['source_pool', (p) => p.src.pool],
  ['destination_pool', (p) => p.dst.pool],
  ['verdict', (p) => verdictSlotLabel(p.verdict)],
);

/** hubble_ipam_pool_flows_total: flows from pool to pool by verdict. */
export class PoolFlowsTotalHandler implements FlowHandler {
  readonly name = 'pool_flows_total';
  readonly counter: SeriesCounter<PoolPair>;
  /** poolPairKey → series id. */
  private readonly ids = new Map<number, number>();
  private readonly key: PoolPair = { src: undefined as unknown as Attribution, dst: undefined as unknown as Attribution, verdict: 0 };

  constructor(ctx: HandlerContext) {
    this.counter = new SeriesCounter('hubble_ipam_pool_flows_total', 'Flows from pool to pool by verdict (empty pool: the side has none).', poolFlowLabels, ctx.registry);
  }

  processFlow(f: AttributedFlow): void {
    const key = poolPairKey(f.src.poolId, f.dst.poolId, f.verdict);
    let id = this.ids.get(key);
    if (id === undefined) {
      const k = this.key;
      k.src = f.src;
      k.dst = f.dst;
      k.verdict = f.verdict;
      id = this.counter.series(k);
      this.ids.set(key, id);
    }
    this.counter.inc(id);
  }
}
