import { fromBinary, toBinary, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import type { ServiceDefinition } from '@grpc/grpc-js';
import {
  GetFlowsRequestSchema,
  GetFlowsResponseSchema,
  GetNodesRequestSchema,
  GetNodesResponseSchema,
  ServerStatusRequestSchema,
  ServerStatusResponseSchema,
} from '../gen/observer/observer_pb.js';

/**
 * grpc-js serialisers for `observer.Observer`, built from the protobuf-es
 * schemas. GetFlows responses travel as raw bytes on both ends: the client
 * decodes them itself (only what it reads, into a reused record), and the
 * simulated relay sends flows it encoded once.
 */
export const paths = {
  getFlows: '/observer.Observer/GetFlows',
  getNodes: '/observer.Observer/GetNodes',
  serverStatus: '/observer.Observer/ServerStatus',
} as const;

export function serializer<D extends DescMessage>(schema: D) {
  return (m: MessageShape<D>): Buffer => {
    const bytes = toBinary(schema, m);
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
}

export function deserializer<D extends DescMessage>(schema: D) {
  return (b: Buffer): MessageShape<D> => fromBinary(schema, b);
}

export const rawBytes = {
  serialize: (b: Uint8Array): Buffer => (Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength)),
  deserialize: (b: Buffer): Buffer => b,
};

/** Server side: requests decoded, GetFlows responses already encoded. */
export const observerServerDefinition: ServiceDefinition = {
  GetFlows: {
    path: paths.getFlows,
    requestStream: false,
    responseStream: true,
    requestSerialize: serializer(GetFlowsRequestSchema),
    requestDeserialize: deserializer(GetFlowsRequestSchema),
    responseSerialize: rawBytes.serialize,
    responseDeserialize: rawBytes.deserialize,
  },
  GetNodes: {
    path: paths.getNodes,
    requestStream: false,
    responseStream: false,
    requestSerialize: serializer(GetNodesRequestSchema),
    requestDeserialize: deserializer(GetNodesRequestSchema),
    responseSerialize: serializer(GetNodesResponseSchema),
    responseDeserialize: deserializer(GetNodesResponseSchema),
  },
  ServerStatus: {
    path: paths.serverStatus,
    requestStream: false,
    responseStream: false,
    requestSerialize: serializer(ServerStatusRequestSchema),
    requestDeserialize: deserializer(ServerStatusRequestSchema),
    responseSerialize: serializer(ServerStatusResponseSchema),
    responseDeserialize: deserializer(ServerStatusResponseSchema),
  },
};

export { GetFlowsResponseSchema };
