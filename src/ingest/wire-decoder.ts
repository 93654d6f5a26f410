import { fromBinary } from '@bufbuild/protobuf';
import { LostEventSchema, type LostEvent } from '../gen/flow/flow_pb.js';
import { NodeStatusEventSchema, type NodeStatusEvent } from '../gen/relay/relay_pb.js';
import { parseIpBytes } from '../net/ip.js';
import { FIRST_CLUSTER_IDENTITY, FlowRecord, hashBytes, type EndpointRecord } from './flow-record.js';
import { KIND_FLOW, KIND_LOST_EVENTS, KIND_NODE_STATUS, KIND_OTHER, type FlowResponseDecoder, type ResponseKind } from './response-decoder.js';
import { ENDPOINT_FIELD, FLOW_FIELD, IP_FIELD, RESPONSE_FIELD, TIMESTAMP_FIELD, WIRE_TYPE, tagOf } from './wire-fields.js';

const VARINT = WIRE_TYPE.varint;
const LEN = WIRE_TYPE.len;
const TAG_SECONDS = tagOf(TIMESTAMP_FIELD.seconds, VARINT);
const TAG_NANOS = tagOf(TIMESTAMP_FIELD.nanos, VARINT);
const TAG_IP_SOURCE = tagOf(IP_FIELD.source, LEN);
const TAG_IP_DESTINATION = tagOf(IP_FIELD.destination, LEN);
const TAG_IDENTITY = tagOf(ENDPOINT_FIELD.identity, VARINT);
const TAG_NAMESPACE = tagOf(ENDPOINT_FIELD.namespace, LEN);
const TAG_POD_NAME = tagOf(ENDPOINT_FIELD.pod_name, LEN);

/**
 * Strings from the wire, made once: the same bytes (a node, pod or namespace
 * name seen before) give back the same string without decoding or
 * allocating. A fixed two-way table indexed by a hash of the bytes: a new
 * string takes the place of the older of its two slots, so the table never
 * grows, rehashes or clears, and the only garbage is a string pushed out.
 */
class StringInterner {
  private readonly strings: string[];
  private readonly hashes: Float64Array;
  private readonly decoder = new TextDecoder();
  private readonly mask: number;

  constructor(slots = 65_536) {
    this.strings = new Array<string>(slots).fill('');
    this.hashes = new Float64Array(slots);
    this.mask = slots - 2; // even slot of a pair
  }

  get(b: Uint8Array, start: number, end: number): string {
    if (end === start) return '';
    const h = hashBytes(b, start, end);
    const i = h & this.mask;
    if (this.hashes[i] === h && this.same(this.strings[i]!, b, start, end)) return this.strings[i]!;
    if (this.hashes[i + 1] === h && this.same(this.strings[i + 1]!, b, start, end)) return this.strings[i + 1]!;
    const fresh = this.decoder.decode(b.subarray(start, end));
    this.strings[i + 1] = this.strings[i]!;
    this.hashes[i + 1] = this.hashes[i]!;
    this.strings[i] = fresh;
    this.hashes[i] = h;
    return fresh;
  }

  private same(s: string, b: Uint8Array, start: number, end: number): boolean {
    if (s.length !== end - start) return false;
    for (let k = 0; k < s.length; k++) if (s.charCodeAt(k) !== b[start + k]) return false;
    return true;
  }
}

/**
 * Decodes `observer.GetFlowsResponse` straight from the wire into a reused
 * FlowRecord, reading only the fields attribution uses and skipping the rest:
 * no message objects, no arrays, strings interned, addresses parsed from the
 * bytes. Node status and lost events (rare) get a full decode. A test holds
 * it to the full decoder's answers.
 */
export class WireDecoder implements FlowResponseDecoder {
  readonly flow = new FlowRecord();
  nodeStatus: NodeStatusEvent | undefined;
  lost: LostEvent | undefined;
  nodeName = '';
  timeSeconds = 0;
  timeNanos = 0;
  private b: Uint8Array = new Uint8Array(0);
  private pos = 0;
  private readonly strings = new StringInterner();

  decode(bytes: Uint8Array): ResponseKind {
    this.b = bytes;
    this.pos = 0;
    this.nodeName = '';
    this.timeSeconds = 0;
    this.timeNanos = 0;
    let kind: ResponseKind = KIND_OTHER;
    const end = bytes.length;
    while (this.pos < end) {
      const tag = this.varint();
      const field = Math.floor(tag / 8);
      const wt = tag & 7;
      if (
        wt === LEN &&
        (field === RESPONSE_FIELD.flow || field === RESPONSE_FIELD.node_status || field === RESPONSE_FIELD.lost_events || field === RESPONSE_FIELD.node_name || field === RESPONSE_FIELD.time)
      ) {
        const len = this.varint();
        const start = this.pos;
        const stop = start + len;
        if (stop > end) throw new Error('truncated message');
        if (field === RESPONSE_FIELD.flow) {
          this.readFlow(stop);
          kind = KIND_FLOW;
        } else if (field === RESPONSE_FIELD.node_status) {
          this.nodeStatus = fromBinary(NodeStatusEventSchema, bytes.subarray(start, stop));
          kind = KIND_NODE_STATUS;
        } else if (field === RESPONSE_FIELD.lost_events) {
          this.lost = fromBinary(LostEventSchema, bytes.subarray(start, stop));
          kind = KIND_LOST_EVENTS;
        } else if (field === RESPONSE_FIELD.node_name) {
          this.nodeName = this.strings.get(bytes, start, stop);
        } else {
          this.readTime(stop);
          this.timeSeconds = this.tS;
          this.timeNanos = this.tN;
        }
        this.pos = stop;
      } else {
        this.skip(wt, end);
      }
    }
    if (kind === KIND_FLOW) {
      const f = this.flow;
      if (f.nodeName === '') f.nodeName = this.nodeName;
      if (f.timeSeconds === 0 && f.timeNanos === 0) {
        f.timeSeconds = this.timeSeconds;
        f.timeNanos = this.timeNanos;
      }
    }
    return kind;
  }

  private varint(): number {
    const b = this.b;
    let x = b[this.pos++];
    if (x === undefined) throw new Error('truncated varint');
    if (x < 0x80) return x;
    let result = x & 0x7f;
    let scale = 0x80;
    for (let i = 1; i < 10; i++) {
      x = b[this.pos++];
      if (x === undefined) throw new Error('truncated varint');
      result += (x & 0x7f) * scale;
      if (x < 0x80) return result;
      scale *= 0x80;
    }
    throw new Error('varint too long');
  }

  /** Skips one field's value. */
  private skip(wt: number, end: number): void {
    if (wt === VARINT) this.varint();
    else if (wt === WIRE_TYPE.i64) this.pos += 8;
    else if (wt === LEN) {
      // Read the length first: `this.pos += this.varint()` would add it to the
      // position from before the length prefix.
      const len = this.varint();
      this.pos += len;
    } else if (wt === WIRE_TYPE.i32) this.pos += 4;
    else throw new Error(`unsupported wire type ${wt}`);
    if (this.pos > end) throw new Error('truncated message');
  }

  private tS = 0;
  private tN = 0;

  private readTime(stop: number): void {
    this.tS = 0;
    this.tN = 0;
    while (this.pos < stop) {
      const tag = this.varint();
      if (tag === TAG_SECONDS) this.tS = this.varint();
      else if (tag === TAG_NANOS) this.tN = this.varint();
      else this.skip(tag & 7, stop);
    }
  }

  private readFlow(stop: number): void {
    const f = this.flow;
    f.clear();
    const b = this.b;
    while (this.pos < stop) {
      const tag = this.varint();
      const field = Math.floor(tag / 8);
      const wt = tag & 7;
      if (wt === VARINT) {
        const v = this.varint();
        if (field === FLOW_FIELD.verdict) f.verdict = v;
        else if (field === FLOW_FIELD.drop_reason_desc) f.dropReason = v;
        else if (field === FLOW_FIELD.Type) f.type = v;
        else if (field === FLOW_FIELD.trace_observation_point) f.observationPoint = v;
        continue;
      }
      if (wt !== LEN) {
        this.skip(wt, stop);
        continue;
      }
      const len = this.varint();
      const start = this.pos;
      const end = start + len;
      if (end > stop) throw new Error('truncated flow');
      switch (field) {
        case FLOW_FIELD.time:
          this.readTime(end);
          f.timeSeconds = this.tS;
          f.timeNanos = this.tN;
          break;
        case FLOW_FIELD.uuid:
          f.setUuidBytes(b, start, end, hashBytes(b, start, end));
          break;
        case FLOW_FIELD.IP:
          this.readIp(end, f);
          break;
        case FLOW_FIELD.source:
          this.readEndpoint(end, f.source);
          break;
        case FLOW_FIELD.destination:
          this.readEndpoint(end, f.destination);
          break;
        case FLOW_FIELD.node_name:
          f.nodeName = this.strings.get(b, start, end);
          break;
        default:
          break;
      }
      this.pos = end;
    }
  }

  private readIp(stop: number, f: FlowRecord): void {
    f.hasIp = true;
    const b = this.b;
    while (this.pos < stop) {
      const tag = this.varint();
      if (tag === TAG_IP_SOURCE || tag === TAG_IP_DESTINATION) {
        const len = this.varint();
        const start = this.pos;
        this.pos += len;
        if (this.pos > stop) throw new Error('truncated IP');
        if (len === 0) continue;
        const ep = tag === TAG_IP_SOURCE ? f.source : f.destination;
        if (!parseIpBytes(b, start, start + len, ep.ip)) ep.badIp = true;
      } else {
        this.skip(tag & 7, stop);
      }
    }
  }

  private readEndpoint(stop: number, ep: EndpointRecord): void {
    const b = this.b;
    let k8s = false;
    while (this.pos < stop) {
      const tag = this.varint();
      if (tag === TAG_IDENTITY) {
        ep.identity = this.varint();
        continue;
      }
      if ((tag & 7) !== LEN) {
        this.skip(tag & 7, stop);
        continue;
      }
      const len = this.varint();
      const start = this.pos;
      const end = start + len;
      if (end > stop) throw new Error('truncated endpoint');
      if (tag === TAG_NAMESPACE) ep.namespace = this.strings.get(b, start, end);
      else if (tag === TAG_POD_NAME) ep.podName = this.strings.get(b, start, end);
      else if (tag === 34 && !k8s) k8s = len >= 4 && b[start] === 107 && b[start + 1] === 56 && b[start + 2] === 115 && b[start + 3] === 58; // "k8s:"
      this.pos = end;
    }
    ep.isPod = ep.podName !== '' || (ep.identity >= FIRST_CLUSTER_IDENTITY && k8s);
  }
}
