import { ActivityTracker } from '../activity.js';
import type { AttributedFlow, FlowHandler, HandlerContext } from '../handler.js';

/**
 * Feeds the activity tracker behind hubble_ipam_pool_active_ips: every side
 * with a pool that is local to the observing node (the node that owns the
 * address; EndpointRecord.isLocal), counted once per node.
 */
export class PoolActiveIpsHandler implements FlowHandler {
  readonly name = 'pool_active_ips';
  readonly tracker: ActivityTracker;

  constructor(_ctx: HandlerContext, opts: { windowSec: number }) {
    this.tracker = new ActivityTracker(opts.windowSec);
  }

  processFlow(f: AttributedFlow): void {
    if (f.src.poolId !== 0 && f.rec.source.isLocal) this.tracker.record(f.src.poolId, f.rec.source.ip, f.wholeSec, f.nodeId);
    if (f.dst.poolId !== 0 && f.rec.destination.isLocal) this.tracker.record(f.dst.poolId, f.rec.destination.ip, f.wholeSec, f.nodeId);
  }
}
