import { fromBinary } from '@bufbuild/protobuf';
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import type { LostEvent } from '../gen/flow/flow_pb.js';
import { GetFlowsResponseSchema } from '../gen/observer/observer_pb.js';
import type { NodeStatusEvent } from '../gen/relay/relay_pb.js';
import { FlowRecord, MAX_NODE_NAME, cutText, recordFromFlow } from './flow-record.js';

export const KIND_OTHER = 0;
export const KIND_FLOW = 1;
export const KIND_NODE_STATUS = 2;
export const KIND_LOST_EVENTS = 3;
export type ResponseKind = typeof KIND_OTHER | typeof KIND_FLOW | typeof KIND_NODE_STATUS | typeof KIND_LOST_EVENTS;

/**
 * The contract of a response decoder: `decode` turns one encoded
 * `observer.GetFlowsResponse` into its kind plus the decoded payload, held on
 * the decoder itself and valid until the next call. Throws on bytes that are
 * not a GetFlowsResponse.
 */
export interface FlowResponseDecoder {
  readonly flow: FlowRecord;
  nodeStatus: NodeStatusEvent | undefined;
  lost: LostEvent | undefined;
  /** The response's node_name. */
  nodeName: string;
  /** The response's time, seconds and nanos (0 when absent). */
  timeSeconds: number;
  timeNanos: number;
  /**
   * Strings cut at their limit so far (node, pod and namespace names, uuids
   * longer than Kubernetes or Hubble allow; see cutText), over every response
   * decoded, whether or not it was a flow.
   */
  readonly cutStrings: number;
  /**
   * Decodes one response. Throws on bytes that are not a GetFlowsResponse, and
   * FlowDecodeError on a flow no decoder accepts (an address that does not
   * parse).
   */
  decode(bytes: Uint8Array): ResponseKind;
}

/** The full decoder: protobuf-es decodes the whole message, then the record is filled from it. */
export class ResponseDecoder implements FlowResponseDecoder {
  readonly flow = new FlowRecord();
  nodeStatus: NodeStatusEvent | undefined;
  lost: LostEvent | undefined;
  nodeName = '';
  timeSeconds = 0;
  timeNanos = 0;
  cutStrings = 0;

  decode(bytes: Uint8Array): ResponseKind {
    const res = fromBinary(GetFlowsResponseSchema, bytes);
    this.nodeName = res.nodeName;
    if (res.nodeName.length > MAX_NODE_NAME) {
      this.nodeName = cutText(res.nodeName, MAX_NODE_NAME);
      this.cutStrings++;
    }
    this.timeSeconds = res.time ? Number(res.time.seconds) : 0;
    this.timeNanos = res.time ? res.time.nanos : 0;
    const r = res.responseTypes;
    switch (r.case) {
      case 'flow':
        recordFromFlow(r.value, this.nodeName, this.flow);
        this.cutStrings += this.flow.cuts;
        if (this.flow.timeSeconds === 0 && this.flow.timeNanos === 0) {
          this.flow.timeSeconds = this.timeSeconds;
          this.flow.timeNanos = this.timeNanos;
        }
        return KIND_FLOW;
      case 'nodeStatus':
        this.nodeStatus = r.value;
        return KIND_NODE_STATUS;
      case 'lostEvents':
        this.lost = r.value;
        return KIND_LOST_EVENTS;
      default:
        return KIND_OTHER;
    }
  }
}

/**
 * Best-effort node_name (field 1000) of a response that failed to decode, so
 * the error can say where the bad flow came from. Returns '' when not found.
 */
export function peekNodeName(bytes: Uint8Array): string {
  try {
    const r = new BinaryReader(bytes);
    while (r.pos < r.len) {
      const [field, wt] = r.tag();
      if (field === 1000 && wt === WireType.LengthDelimited) return r.string();
      r.skip(wt, field);
    }
  } catch {
    // truncated or garbage: nothing to say
  }
  return '';
}
