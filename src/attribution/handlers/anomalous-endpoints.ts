import type { AttributedFlow, FlowHandler, HandlerContext } from '../handler.js';
import { OffenderTracker } from '../offenders.js';

export interface AnomalousEndpointsOptions {
  /** Window, seconds. */
  windowSec: number;
  /** Addresses tracked at most. Default 10000. */
  capacity?: number | undefined;
}

/**
 * Feeds the offender tracker behind hubble_ipam_anomalous_endpoints and
 * /api/v1/anomalies (both read it through the read model, at scrape/request
 * time): every anomalous side of a flow.
 */
export class AnomalousEndpointsHandler implements FlowHandler {
  readonly name = 'anomalous_endpoints';
  readonly tracker: OffenderTracker;

  constructor(_ctx: HandlerContext, opts: AnomalousEndpointsOptions) {
    this.tracker = new OffenderTracker(opts.windowSec, opts.capacity);
  }

  processFlow(f: AttributedFlow): void {
    const { rec, src, dst } = f;
    if (src.anomalous) this.tracker.record(src, rec.source.ip, rec.source.namespace, rec.source.podName, f.verdict, f.nowSec, rec.source.isLocal ? f.nodeId : -1);
    if (dst.anomalous) this.tracker.record(dst, rec.destination.ip, rec.destination.namespace, rec.destination.podName, f.verdict, f.nowSec, rec.destination.isLocal ? f.nodeId : -1);
  }
}
