import type { EndpointRecord } from '../../ingest/flow-record.js';
import type { Attribution } from '../classifier.js';
import type { AttributedFlow, FlowHandler, HandlerContext } from '../handler.js';
import { MigrationTracker } from '../migration.js';

/**
 * Feeds the migration tracker behind hubble_ipam_migration_progress_ratio:
 * each pod side on a draining pool, or on a current address (off every
 * draining pool).
 */
export class MigrationProgressHandler implements FlowHandler {
  readonly name = 'migration_progress';
  readonly tracker: MigrationTracker;

  constructor(_ctx: HandlerContext, opts: { windowSec: number }) {
    this.tracker = new MigrationTracker(opts.windowSec);
  }

  processFlow(f: AttributedFlow): void {
    this.one(f.src, f.rec.source, f.nowSec, f.nodeId);
    this.one(f.dst, f.rec.destination, f.nowSec, f.nodeId);
  }

  private one(a: Attribution, ep: EndpointRecord, nowSec: number, nodeId: number): void {
    if (!ep.isPod) return;
    if (a.draining) this.tracker.record(MigrationTracker.key(ep.identity, ep.namespace, ep.podName), a.poolId, nowSec, nodeId);
    else if (a.status === 'current' || a.status === 'wrong_node') this.tracker.record(MigrationTracker.key(ep.identity, ep.namespace, ep.podName), 0, nowSec, nodeId);
  }
}
