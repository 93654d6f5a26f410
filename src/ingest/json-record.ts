import { DropReason, FlowType, TraceObservationPoint, Verdict } from '../gen/flow/flow_pb.js';
import { parseIpInto } from '../net/ip.js';
import { FAMILY_NONE } from '../net/ip.js';
import { MAX_NAMESPACE, MAX_NODE_NAME, MAX_POD_NAME, MAX_UUID, cutCounted, isPodEndpoint, unparseableAddress, type EndpointRecord, type FlowRecord } from './flow-record.js';

/**
 * Fills a FlowRecord straight from a parsed protojson flow (`hubble observe
 * -o jsonpb`), reading only the fields attribution uses, under their proto or
 * JSON names. The file path's fast lane: the full protobuf-es `fromJson`
 * builds every message first and costs several times `JSON.parse` itself. A
 * test holds both paths to the same answers.
 */
type Json = Record<string, unknown>;

export class JsonFlowError extends Error {
  override readonly name = 'JsonFlowError';
}

const pick = (o: Json, proto: string, json: string): unknown => (o[proto] !== undefined ? o[proto] : o[json]);

function enumValue(v: unknown, names: Record<string, string | number>, field: string): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'string') {
    const n = names[v];
    // Unknown names (a newer Hubble) read as 0, as protobuf-es does with ignoreUnknownFields.
    return typeof n === 'number' ? n : 0;
  }
  throw new JsonFlowError(`${field}: expected an enum name or number, got ${JSON.stringify(v)}`);
}

function uint(v: unknown, field: string): number {
  if (v === undefined || v === null) return 0;
  const n = typeof v === 'string' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) throw new JsonFlowError(`${field}: expected a whole number, got ${JSON.stringify(v)}`);
  return n;
}

function str(v: unknown, field: string): string {
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw new JsonFlowError(`${field}: expected a string, got ${JSON.stringify(v)}`);
  return v;
}

const digit = (s: string, i: number) => {
  const c = s.charCodeAt(i) - 48;
  if (c < 0 || c > 9) throw new JsonFlowError('');
  return c;
};
const num = (s: string, i: number, n: number) => {
  let v = 0;
  for (let k = 0; k < n; k++) v = v * 10 + digit(s, i + k);
  return v;
};

/** RFC 3339 (`2021-06-16T16:52:13.136834446Z`, or with an offset) into seconds and nanos. */
export function parseRfc3339(s: string, out: { seconds: number; nanos: number }): boolean {
  try {
    if (s.length < 20 || s[4] !== '-' || s[7] !== '-' || (s[10] !== 'T' && s[10] !== 't') || s[13] !== ':' || s[16] !== ':') return false;
    let seconds = Date.UTC(num(s, 0, 4), num(s, 5, 2) - 1, num(s, 8, 2), num(s, 11, 2), num(s, 14, 2), num(s, 17, 2)) / 1000;
    let i = 19;
    let nanos = 0;
    if (s[i] === '.') {
      i++;
      let scale = 100_000_000;
      const start = i;
      while (i < s.length && s.charCodeAt(i) >= 48 && s.charCodeAt(i) <= 57) {
        if (i - start < 9) nanos += digit(s, i) * scale;
        scale /= 10;
        i++;
      }
      if (i === start) return false;
    }
    if (s[i] === 'Z' || s[i] === 'z') {
      if (i + 1 !== s.length) return false;
    } else if ((s[i] === '+' || s[i] === '-') && s.length === i + 6 && s[i + 3] === ':') {
      const off = num(s, i + 1, 2) * 3600 + num(s, i + 4, 2) * 60;
      seconds += s[i] === '+' ? -off : off;
    } else return false;
    out.seconds = seconds;
    out.nanos = Math.round(nanos);
    return Number.isFinite(seconds);
  } catch {
    return false;
  }
}

const scratchTime = { seconds: 0, nanos: 0 };

function readTime(t: unknown, field: string, out: FlowRecord): void {
  if (t === undefined || t === null) return;
  if (typeof t !== 'string' || !parseRfc3339(t, scratchTime)) throw new JsonFlowError(`${field}: invalid RFC 3339 timestamp ${JSON.stringify(t)}`);
  out.timeSeconds = scratchTime.seconds;
  out.timeNanos = scratchTime.nanos;
}

function endpoint(v: unknown, ep: EndpointRecord, field: string, rec: FlowRecord): void {
  if (v === undefined || v === null) return;
  if (typeof v !== 'object') throw new JsonFlowError(`${field}: expected an object`);
  const o = v as Json;
  ep.identity = uint(o.identity, `${field}.identity`);
  ep.endpointId = uint(o.ID, `${field}.ID`);
  ep.namespace = cutCounted(str(o.namespace, `${field}.namespace`), MAX_NAMESPACE, rec);
  ep.podName = cutCounted(str(pick(o, 'pod_name', 'podName'), `${field}.pod_name`), MAX_POD_NAME, rec);
  ep.isPod = isPodEndpoint(ep.podName, ep.identity);
}

/**
 * Fills `out` from a protojson flow object; `nodeName` and `time` are the
 * response's, used when the flow has none. Throws JsonFlowError naming the
 * field for a value of the wrong kind, FlowDecodeError for an address that
 * does not parse. Names longer than Kubernetes allows are cut (`out.cuts`).
 */
export function recordFromJson(flow: Json, nodeName: string, time: unknown, out: FlowRecord): FlowRecord {
  out.clear();
  readTime(flow.time, 'flow.time', out);
  // The epoch itself counts as no time, as in the binary decoders: the response's is used.
  if (out.timeSeconds === 0 && out.timeNanos === 0) readTime(time, 'time', out);
  const node = str(pick(flow, 'node_name', 'nodeName'), 'flow.node_name');
  out.nodeName = cutCounted(node !== '' ? node : nodeName, MAX_NODE_NAME, out);
  out.uuid = cutCounted(str(flow.uuid, 'flow.uuid'), MAX_UUID, out);
  out.verdict = enumValue(flow.verdict, Verdict as never, 'flow.verdict');
  out.dropReason = enumValue(pick(flow, 'drop_reason_desc', 'dropReasonDesc'), DropReason as never, 'flow.drop_reason_desc');
  out.observationPoint = enumValue(pick(flow, 'trace_observation_point', 'traceObservationPoint'), TraceObservationPoint as never, 'flow.trace_observation_point');
  out.type = enumValue(flow.Type, FlowType as never, 'flow.Type');
  endpoint(flow.source, out.source, 'flow.source', out);
  endpoint(flow.destination, out.destination, 'flow.destination', out);
  const ip = flow.IP;
  if (ip !== undefined && ip !== null) {
    if (typeof ip !== 'object') throw new JsonFlowError('flow.IP: expected an object');
    const src = str((ip as Json).source, 'flow.IP.source');
    const dst = str((ip as Json).destination, 'flow.IP.destination');
    if (src !== '' && !parseIpInto(src, out.source.ip)) throw unparseableAddress('source', src);
    if (dst !== '' && !parseIpInto(dst, out.destination.ip)) throw unparseableAddress('destination', dst);
    out.hasIp = out.source.ip.family !== FAMILY_NONE || out.destination.ip.family !== FAMILY_NONE;
  }
  return out;
}
