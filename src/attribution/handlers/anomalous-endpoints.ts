import type { AttributedFlow, FlowHandler, HandlerContext } from '../handler.js';
import { LocalAddressTracker } from '../local-addresses.js';
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
 * time): every anomalous side of a flow; and the local-address tracker
 * behind hubble_ipam_anomalous_addresses: every anomalous side that is local
 * to the observing node (EndpointRecord.isLocal), under that node.
 */
export class AnomalousEndpointsHandler implements FlowHandler {
  readonly name = 'anomalous_endpoints';
  readonly tracker: OffenderTracker;
  readonly local: LocalAddressTracker;

  constructor(_ctx: HandlerContext, opts: AnomalousEndpointsOptions) {
    this.tracker = new OffenderTracker(opts.windowSec, opts.capacity);
    this.local = new LocalAddressTracker(opts.windowSec);
  }

  processFlow(f: AttributedFlow): void {
    const { rec, src, dst } = f;
    if (src.anomalous) {
      this.tracker.record(src, rec.source.ip, rec.source.namespace, rec.source.podName, f.verdict, f.nowSec);
      if (rec.source.isLocal) this.local.record(f.nodeId, rec.source.ip, src, rec.source.namespace, f.wholeSec);
    }
    if (dst.anomalous) {
      this.tracker.record(dst, rec.destination.ip, rec.destination.namespace, rec.destination.podName, f.verdict, f.nowSec);
      if (rec.destination.isLocal) this.local.record(f.nodeId, rec.destination.ip, dst, rec.destination.namespace, f.wholeSec);
    }
  }
}
