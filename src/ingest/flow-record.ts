import type { Endpoint, Flow } from '../gen/flow/flow_pb.js';
import { FAMILY_NONE, IpAddr, parseIpInto } from '../net/ip.js';
import { hashCodes } from '../util/hash.js';

/** Identities below this are Cilium's reserved ones (host, world, health, …). */
export const FIRST_CLUSTER_IDENTITY = 256;

/**
 * Scope bits of a numeric identity: local scope (1 << 24: CIDR, FQDN and
 * other node-local identities) and, in newer Cilium, remote-node scope
 * (2 << 24). A cluster identity (a pod's) has none of them.
 */
export const IDENTITY_SCOPE_MASK = 0xff000000;

/**
 * One side of a flow is a pod when it has a pod name, or a numeric identity
 * that is a cluster identity: not reserved (>= 256) and without scope bits.
 * The one rule every decoder applies; it needs no labels, so a field mask can
 * leave them out.
 */
export function isPodEndpoint(podName: string, identity: number): boolean {
  return podName !== '' || (identity >= FIRST_CLUSTER_IDENTITY && (identity & IDENTITY_SCOPE_MASK) === 0);
}

/** Appended to a string cut at its limit (one character: U+2026 HORIZONTAL ELLIPSIS). */
export const CUT_MARKER = '\u2026';
/** Kubernetes' limit on a pod (DNS subdomain) name, characters. */
export const MAX_POD_NAME = 253;
/** Kubernetes' limit on a namespace (DNS label) name, characters. */
export const MAX_NAMESPACE = 63;
/** A node name as Relay sends it: `cluster/node`, a 32-character cluster name, '/', a 253-character node name. */
export const MAX_NODE_NAME = 32 + 1 + 253;
/** Hubble's uuids are 36 characters; anything past this is cut. */
export const MAX_UUID = 64;
/** How much of an unparseable address an error message quotes, characters. */
export const MAX_QUOTED_ADDRESS = 64;

/**
 * `s` cut to its first `limit` UTF-16 code units (one fewer when that would
 * split a surrogate pair) plus CUT_MARKER; `s` itself when it fits.
 */
export function cutText(s: string, limit: number): string {
  if (s.length <= limit) return s;
  let n = limit;
  const c = s.charCodeAt(n - 1);
  if (c >= 0xd800 && c <= 0xdbff) n--;
  // A copy, not a slice: a slice would keep the whole (possibly huge) string alive.
  return Buffer.from(s.slice(0, n) + CUT_MARKER, 'utf8').toString('utf8');
}

/** A flow no decoder accepts (an address that does not parse); the message names the field. */
export class FlowDecodeError extends Error {
  override readonly name = 'FlowDecodeError';
}

/** The error for an address that does not parse: names the side and quotes the (cut) text. */
export function unparseableAddress(side: 'source' | 'destination', text: string): FlowDecodeError {
  return new FlowDecodeError(`unparseable IP.${side} ${JSON.stringify(cutText(text, MAX_QUOTED_ADDRESS))}`);
}

/** One side of a flow, reduced to what attribution reads. */
export class EndpointRecord {
  readonly ip = new IpAddr();
  podName = '';
  namespace = '';
  identity = 0;
  /**
   * Hubble's endpoint ID: set (non-zero) only for an endpoint local to the
   * node that observed the flow (Hubble resolves remote ones from the
   * ipcache, which has none). See `isLocal`.
   */
  endpointId = 0;
  /** The endpoint is a pod (see isPodEndpoint). */
  isPod = false;

  /** The endpoint is local to the observing node: the node that owns its address (issue 14's ownership rule). */
  get isLocal(): boolean {
    return this.endpointId !== 0;
  }

  clear(): void {
    this.ip.clear();
    this.podName = '';
    this.namespace = '';
    this.identity = 0;
    this.endpointId = 0;
    this.isPod = false;
  }

  copyFrom(o: EndpointRecord): void {
    this.ip.copyFrom(o.ip);
    this.podName = o.podName;
    this.namespace = o.namespace;
    this.identity = o.identity;
    this.endpointId = o.endpointId;
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
  /**
   * True when the flow has an IP layer: at least one address. (A masked flow
   * from Hubble carries an empty IP message even when the flow had none.)
   */
  hasIp = false;
  /** Strings of this flow cut at their limit (see cutText). */
  cuts = 0;
  readonly source = new EndpointRecord();
  readonly destination = new EndpointRecord();

  /** The flow's uuid ('' when it has none); decoded from the wire only when read. */
  get uuid(): string {
    if (this.uuidText === undefined) this.uuidText = Buffer.from(this.uuidBytes!.buffer, this.uuidBytes!.byteOffset + this.uuidStart, this.uuidEnd - this.uuidStart).toString('utf8');
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
    this.cuts = 0;
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
    this.cuts = o.cuts;
    this.source.copyFrom(o.source);
    this.destination.copyFrom(o.destination);
  }
}

/** `s` cut to `limit`, counting the cut on `rec`. */
export function cutCounted(s: string, limit: number, rec: FlowRecord): string {
  if (s.length <= limit) return s;
  rec.cuts++;
  return cutText(s, limit);
}

function fillEndpoint(ep: Endpoint | undefined, out: EndpointRecord, rec: FlowRecord): void {
  if (ep === undefined) return;
  out.podName = cutCounted(ep.podName, MAX_POD_NAME, rec);
  out.namespace = cutCounted(ep.namespace, MAX_NAMESPACE, rec);
  out.identity = ep.identity;
  out.endpointId = ep.ID;
  out.isPod = isPodEndpoint(out.podName, out.identity);
}

/**
 * Fills `out` from a decoded `flow.Flow`. `nodeName` is the response's
 * node_name, used when the flow itself has none. Names longer than
 * Kubernetes allows are cut (counted in `out.cuts`); throws FlowDecodeError
 * for an address that does not parse.
 */
export function recordFromFlow(flow: Flow, nodeName: string, out: FlowRecord): FlowRecord {
  out.clear();
  if (flow.time !== undefined) {
    out.timeSeconds = Number(flow.time.seconds);
    out.timeNanos = flow.time.nanos;
  }
  out.nodeName = cutCounted(flow.nodeName !== '' ? flow.nodeName : nodeName, MAX_NODE_NAME, out);
  out.uuid = cutCounted(flow.uuid, MAX_UUID, out);
  out.verdict = flow.verdict;
  out.dropReason = flow.dropReasonDesc;
  out.observationPoint = flow.traceObservationPoint;
  out.type = flow.Type;
  fillEndpoint(flow.source, out.source, out);
  fillEndpoint(flow.destination, out.destination, out);
  const ip = flow.IP;
  if (ip !== undefined) {
    if (ip.source !== '' && !parseIpInto(ip.source, out.source.ip)) throw unparseableAddress('source', ip.source);
    if (ip.destination !== '' && !parseIpInto(ip.destination, out.destination.ip)) throw unparseableAddress('destination', ip.destination);
    out.hasIp = out.source.ip.family !== FAMILY_NONE || out.destination.ip.family !== FAMILY_NONE;
  }
  return out;
}
