import type { EndpointRecord } from '../../ingest/flow-record.js';
import type { Attribution } from '../classifier.js';
import type { AttributedFlow, FlowHandler, HandlerContext } from '../handler.js';
import { MigrationTracker } from '../migration.js';

/**
 * Feeds the migration tracker behind hubble_ipam_migration_progress_ratio:
 * each pod side local to the observing node (EndpointRecord.isLocal: the
 * node that holds the pod) on a draining pool, or on a current address (off
 * every draining pool), under that node. Local sides only: a workload counts
 * once per node that runs its pods, not once per node that talks to it, so
 * the pairs stay as many as the pods, in Relay mode as in per-node mode.
 */
export class MigrationProgressHandler implements FlowHandler {
  readonly name = 'migration_progress';
  readonly tracker: MigrationTracker;

  constructor(_ctx: HandlerContext, opts: { windowSec: number }) {
    this.tracker = new MigrationTracker(opts.windowSec);
  }

  processFlow(f: AttributedFlow): void {
    this.one(f.src, f.rec.source, f.wholeSec, f.nodeId);
    this.one(f.dst, f.rec.destination, f.wholeSec, f.nodeId);
  }

  private one(a: Attribution, ep: EndpointRecord, nowSec: number, nodeId: number): void {
    if (!ep.isPod || !ep.isLocal) return;
    if (a.draining) this.tracker.record(MigrationTracker.key(ep.identity, ep.namespace, ep.podName), a.poolId, nowSec, nodeId);
    else if (a.status === 'current' || a.status === 'wrong_node') this.tracker.record(MigrationTracker.key(ep.identity, ep.namespace, ep.podName), 0, nowSec, nodeId);
  }
}
