import { fromBinary } from '@bufbuild/protobuf';
import { LostEventSchema, type LostEvent } from '../gen/flow/flow_pb.js';
import { NodeStatusEventSchema, type NodeStatusEvent } from '../gen/relay/relay_pb.js';
import { FAMILY_NONE, parseIpBytes } from '../net/ip.js';
import { hashBytes } from '../util/hash.js';
import {
  CUT_MARKER,
  FlowRecord,
  MAX_NAMESPACE,
  MAX_NODE_NAME,
  MAX_POD_NAME,
  MAX_QUOTED_ADDRESS,
  MAX_UUID,
  cutText,
  isPodEndpoint,
  unparseableAddress,
  type EndpointRecord,
} from './flow-record.js';
import { KIND_FLOW, KIND_LOST_EVENTS, KIND_NODE_STATUS, KIND_OTHER, type FlowResponseDecoder, type ResponseKind } from './response-decoder.js';
import { ENDPOINT_FIELD, FLOW_FIELD, IP_FIELD, RESPONSE_FIELD, TIMESTAMP_FIELD, WIRE_TYPE, tagOf } from './wire-fields.js';

const VARINT = WIRE_TYPE.varint;
const LEN = WIRE_TYPE.len;
const TAG_SECONDS = tagOf(TIMESTAMP_FIELD.seconds, VARINT);
const TAG_NANOS = tagOf(TIMESTAMP_FIELD.nanos, VARINT);
const TAG_IP_SOURCE = tagOf(IP_FIELD.source, LEN);
const TAG_IP_DESTINATION = tagOf(IP_FIELD.destination, LEN);
const TAG_ENDPOINT_ID = tagOf(ENDPOINT_FIELD.ID, VARINT);
const TAG_IDENTITY = tagOf(ENDPOINT_FIELD.identity, VARINT);
const TAG_NAMESPACE = tagOf(ENDPOINT_FIELD.namespace, LEN);
const TAG_POD_NAME = tagOf(ENDPOINT_FIELD.pod_name, LEN);

/**
 * Strings from the wire, made once: the same bytes (a node, pod or namespace
 * name seen before) give back the same string without decoding or
 * allocating. A fixed two-way table indexed by a hash of the bytes: a new
 * string takes the place of the older of its two slots, so the table never
 * grows, rehashes or clears, and the only garbage is a string pushed out.
 *
 * A string longer than its limit is cut (cutText) and counted in `cuts`; only
 * the cut string is decoded and kept, in a table of its own keyed by the
 * bytes before the cut, so hostile megabyte names cost neither memory nor a
 * decode per flow.
 */
class StringInterner {
  private readonly strings: string[];
  private readonly hashes: Float64Array;
  private readonly cutStrings: string[];
  private readonly cutHashes: Float64Array;
  private readonly decoder = new TextDecoder();
  private readonly mask: number;
  /** Strings cut so far. */
  cuts = 0;

  constructor(slots = 65_536, cutSlots = 1024) {
    this.strings = new Array<string>(slots).fill('');
    this.hashes = new Float64Array(slots);
    this.mask = slots - 2; // even slot of a pair
    this.cutStrings = new Array<string>(cutSlots).fill('');
    this.cutHashes = new Float64Array(cutSlots);
  }

  /** The string of bytes [start, end), cut to `limit` characters when longer. */
  get(b: Uint8Array, start: number, end: number, limit: number): string {
    if (end === start) return '';
    if (end - start > limit) return this.getCut(b, start, end, limit);
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

  private samePrefix(s: string, n: number, b: Uint8Array, start: number): boolean {
    for (let k = 0; k < n; k++) if (s.charCodeAt(k) !== b[start + k]) return false;
    return true;
  }

  private getCut(b: Uint8Array, start: number, end: number, limit: number): string {
    // ASCII (every Kubernetes name): the cut is the first `limit` bytes plus the marker.
    const h = hashBytes(b, start, start + limit);
    const i = h % this.cutHashes.length;
    const known = this.cutStrings[i]!;
    if (this.cutHashes[i] === h && known.length === limit + CUT_MARKER.length && this.samePrefix(known, limit, b, start)) {
      this.cuts++;
      return known;
    }
    // Decode no more than can hold `limit` characters (4 bytes each at most).
    const text = this.decoder.decode(b.subarray(start, Math.min(end, start + 4 * limit)));
    // Longer in bytes but not in characters (non-ASCII): not cut.
    if (text.length <= limit && end - start <= 4 * limit) return text;
    const cut = cutText(text, limit);
    this.cuts++;
    this.cutStrings[i] = cut;
    this.cutHashes[i] = h;
    return cut;
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

  /** Strings cut at their limit so far (see FlowResponseDecoder). */
  get cutStrings(): number {
    return this.strings.cuts;
  }

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
          this.nodeName = this.strings.get(bytes, start, stop, MAX_NODE_NAME);
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
    const cutsBefore = this.strings.cuts;
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
          if (len <= MAX_UUID) f.setUuidBytes(b, start, end, hashBytes(b, start, end));
          else f.uuid = this.strings.get(b, start, end, MAX_UUID);
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
          f.nodeName = this.strings.get(b, start, end, MAX_NODE_NAME);
          break;
        default:
          break;
      }
      this.pos = end;
    }
    f.cuts = this.strings.cuts - cutsBefore;
  }

  private readIp(stop: number, f: FlowRecord): void {
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
        if (!parseIpBytes(b, start, start + len, ep.ip)) {
          throw unparseableAddress(tag === TAG_IP_SOURCE ? 'source' : 'destination', new TextDecoder().decode(b.subarray(start, Math.min(start + len, start + 4 * MAX_QUOTED_ADDRESS))));
        }
      } else {
        this.skip(tag & 7, stop);
      }
    }
    f.hasIp = f.source.ip.family !== FAMILY_NONE || f.destination.ip.family !== FAMILY_NONE;
  }

  private readEndpoint(stop: number, ep: EndpointRecord): void {
    const b = this.b;
    while (this.pos < stop) {
      const tag = this.varint();
      if (tag === TAG_IDENTITY) {
        ep.identity = this.varint();
        continue;
      }
      if (tag === TAG_ENDPOINT_ID) {
        ep.endpointId = this.varint();
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
      if (tag === TAG_NAMESPACE) ep.namespace = this.strings.get(b, start, end, MAX_NAMESPACE);
      else if (tag === TAG_POD_NAME) ep.podName = this.strings.get(b, start, end, MAX_POD_NAME);
      this.pos = end;
    }
    ep.isPod = isPodEndpoint(ep.podName, ep.identity);
  }
}
