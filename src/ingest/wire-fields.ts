/**
 * Wire numbers the fast decoder reads, per message, as Hubble's API defines
 * them (proto/flow/flow.proto, proto/observer/observer.proto). A test holds
 * them to the generated schemas.
 */

/** Protobuf wire types. */
export const WIRE_TYPE = { varint: 0, i64: 1, len: 2, i32: 5 } as const;

/** `observer.GetFlowsResponse`. */
export const RESPONSE_FIELD = { flow: 1, node_status: 2, lost_events: 3, node_name: 1000, time: 1001 } as const;

/** `flow.Flow`. */
export const FLOW_FIELD = {
  time: 1,
  verdict: 2,
  IP: 5,
  source: 8,
  destination: 9,
  Type: 10,
  node_name: 11,
  trace_observation_point: 24,
  drop_reason_desc: 25,
  uuid: 34,
} as const;

/** `flow.IP`. */
export const IP_FIELD = { source: 1, destination: 2 } as const;

/** `flow.Endpoint`. */
export const ENDPOINT_FIELD = { ID: 1, identity: 2, namespace: 3, pod_name: 5 } as const;

/** `google.protobuf.Timestamp`. */
export const TIMESTAMP_FIELD = { seconds: 1, nanos: 2 } as const;

/** The tag (field number and wire type in one varint) of a field. */
export const tagOf = (field: number, wireType: number): number => field * 8 + wireType;
