import { create } from '@bufbuild/protobuf';
import { FieldMaskSchema, type FieldMask } from '@bufbuild/protobuf/wkt';

/**
 * The Flow fields the exporter reads, as `GetFlowsRequest.field_mask` paths
 * (proto field names): Hubble then sends only these, a fraction of a full
 * flow's bytes. Every field the wire decoder reads (wire-fields.ts) is here;
 * a test holds the two lists together.
 *
 * `time` and `node_name` must be in the mask even though the response carries
 * them too: Hubble fills the response's time and node_name from the masked
 * flow. Labels are not needed: the pod test reads the numeric identity
 * (isPodEndpoint).
 */
export const FLOW_MASK_PATHS: readonly string[] = [
  'time',
  'uuid',
  'verdict',
  'drop_reason_desc',
  'Type',
  'node_name',
  'trace_observation_point',
  'IP.source',
  'IP.destination',
  'source.ID',
  'source.identity',
  'source.namespace',
  'source.pod_name',
  'destination.ID',
  'destination.identity',
  'destination.namespace',
  'destination.pod_name',
];

/** A fresh FieldMask of FLOW_MASK_PATHS. */
export function exporterFieldMask(): FieldMask {
  return create(FieldMaskSchema, { paths: [...FLOW_MASK_PATHS] });
}
