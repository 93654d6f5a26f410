import type { Endpoint, Flow } from '../gen/flow/flow_pb.js';
import { IpAddr, parseIpInto } from '../net/ip.js';

/** A 53-bit non-zero hash of a string's code units (for ASCII the same as of its UTF-8 bytes). */
export function hashCodes(s: string): number {
  let h1 = 0x811c9dc5;
  let h2 = 0x9747b28c;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h2 = Math.imul(h2 ^ c, 0x5bd1e995);
  }
  return (h1 >>> 0) * 0x200000 + ((h2 >>> 0) & 0x1fffff) + 1;
}

/** The same hash over bytes [start, end). */
export function hashBytes(b: Uint8Array, start: number, end: number): number {
  let h1 = 0x811c9dc5;
  let h2 = 0x9747b28c;
  for (let i = start; i < end; i++) {
    const c = b[i]!;
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h2 = Math.imul(h2 ^ c, 0x5bd1e995);
  }
  return (h1 >>> 0) * 0x200000 + ((h2 >>> 0) & 0x1fffff) + 1;
}

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
  /** A 53-bit hash of the uuid (0: none): what replay detection compares, without a string. */
  uuidHash = 0;
  private uuidText: string | undefined = '';
  private uuidBytes: Uint8Array | undefined;
  private uuidStart = 0;
  private uuidEnd = 0;
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

  /** The flow's uuid ('' when it has none); decoded from the wire only when read. */
  get uuid(): string {
    if (this.uuidText === undefined) this.uuidText = Buffer.from(this.uuidBytes!.buffer, this.uuidBytes!.byteOffset + this.uuidStart, this.uuidEnd - this.uuidStart).toString('latin1');
    return this.uuidText;
  }

  set uuid(v: string) {
    this.uuidText = v;
    this.uuidBytes = undefined;
    this.uuidHash = v === '' ? 0 : hashCodes(v);
  }

  /** Sets the uuid from wire bytes without making a string. */
  setUuidBytes(bytes: Uint8Array, start: number, end: number, hash: number): void {
    this.uuidBytes = bytes;
    this.uuidStart = start;
    this.uuidEnd = end;
    this.uuidText = end > start ? undefined : '';
    this.uuidHash = end > start ? hash : 0;
  }

  clear(): void {
    this.timeSeconds = 0;
    this.timeNanos = 0;
    this.nodeName = '';
    this.uuidHash = 0;
    this.uuidText = '';
    this.uuidBytes = undefined;
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
    this.uuidHash = o.uuidHash;
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
