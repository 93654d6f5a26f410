import type { Endpoint, Flow } from '../gen/flow/flow_pb.js';
import { IpAddr, parseIpInto } from '../net/ip.js';

/** Identities below this are Cilium's reserved ones (host, world, health, …). */
export const FIRST_CLUSTER_IDENTITY = 256;

/** One side of a flow, reduced to what attribution reads. */
export class EndpointRecord {
  readonly ip = new IpAddr();
  /** True when the flow carried an address for this side that did not parse. */
  badIp = false;
  podName = '';
  namespace = '';
  identity = 0;
  /** The endpoint is a pod: it has a pod name, or a cluster identity with `k8s:` labels. */
  isPod = false;

  clear(): void {
    this.ip.clear();
    this.badIp = false;
    this.podName = '';
    this.namespace = '';
    this.identity = 0;
    this.isPod = false;
  }

  copyFrom(o: EndpointRecord): void {
    this.ip.copyFrom(o.ip);
    this.badIp = o.badIp;
    this.podName = o.podName;
    this.namespace = o.namespace;
    this.identity = o.identity;
    this.isPod = o.isPod;
  }
}

/**
 * The fields of a flow that the exporter reads, flat and reusable.
 *
 * A source fills one record per flow and hands it downstream synchronously;
 * after the call returns the record is overwritten, so a consumer that keeps
 * anything copies it. This keeps the per-flow path free of allocation beyond
 * what decoding itself needs.
 */
export class FlowRecord {
  /** Flow time, seconds since the epoch. */
  timeSeconds = 0;
  /** Flow time, nanoseconds within the second. */
  timeNanos = 0;
  /** The node that observed the flow, as Relay names it (may carry a `cluster/` prefix). */
  nodeName = '';
  uuid = '';
  /** `flow.Verdict` number. */
  verdict = 0;
  /** `flow.DropReason` number (drop_reason_desc). */
  dropReason = 0;
  /** `flow.TraceObservationPoint` number. */
  observationPoint = 0;
  /** `flow.FlowType` number. */
  type = 0;
  /** True when the flow has an IP layer. */
  hasIp = false;
  readonly source = new EndpointRecord();
  readonly destination = new EndpointRecord();

  clear(): void {
    this.timeSeconds = 0;
    this.timeNanos = 0;
    this.nodeName = '';
    this.uuid = '';
    this.verdict = 0;
    this.dropReason = 0;
    this.observationPoint = 0;
    this.type = 0;
    this.hasIp = false;
    this.source.clear();
    this.destination.clear();
  }

  copyFrom(o: FlowRecord): void {
    this.timeSeconds = o.timeSeconds;
    this.timeNanos = o.timeNanos;
    this.nodeName = o.nodeName;
    this.uuid = o.uuid;
    this.verdict = o.verdict;
    this.dropReason = o.dropReason;
    this.observationPoint = o.observationPoint;
    this.type = o.type;
    this.hasIp = o.hasIp;
    this.source.copyFrom(o.source);
    this.destination.copyFrom(o.destination);
  }
}

function fillEndpoint(ep: Endpoint | undefined, out: EndpointRecord): void {
  if (ep === undefined) return;
  out.podName = ep.podName;
  out.namespace = ep.namespace;
  out.identity = ep.identity;
  out.isPod = ep.podName !== '' || (ep.identity >= FIRST_CLUSTER_IDENTITY && hasK8sLabel(ep.labels));
}

/** True when any label is a Kubernetes one (`k8s:` source). */
export function hasK8sLabel(labels: readonly string[]): boolean {
  for (let i = 0; i < labels.length; i++) if (labels[i]!.startsWith('k8s:')) return true;
  return false;
}

/**
 * Fills `out` from a decoded `flow.Flow`. `nodeName` is the response's
 * node_name, used when the flow itself has none.
 */
export function recordFromFlow(flow: Flow, nodeName: string, out: FlowRecord): FlowRecord {
  out.clear();
  if (flow.time !== undefined) {
    out.timeSeconds = Number(flow.time.seconds);
    out.timeNanos = flow.time.nanos;
  }
  out.nodeName = flow.nodeName !== '' ? flow.nodeName : nodeName;
  out.uuid = flow.uuid;
  out.verdict = flow.verdict;
  out.dropReason = flow.dropReasonDesc;
  out.observationPoint = flow.traceObservationPoint;
  out.type = flow.Type;
  fillEndpoint(flow.source, out.source);
  fillEndpoint(flow.destination, out.destination);
  const ip = flow.IP;
  if (ip !== undefined) {
    out.hasIp = true;
    if (ip.source !== '' && !parseIpInto(ip.source, out.source.ip)) out.source.badIp = true;
    if (ip.destination !== '' && !parseIpInto(ip.destination, out.destination.ip)) out.destination.badIp = true;
  }
  return out;
}
