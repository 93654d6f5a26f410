/**
 * The limit: a bare grpc-js client that takes GetFlows responses as raw
 * bytes (identity deserializer) and only counts them. What the relay, the
 * loopback and grpc-js can deliver at all.
 *
 * With `--mask` it sends the request the exporter sends (follow, and the
 * exporter's field mask as both `field_mask` and `experimental.field_mask`,
 * as RelayClient builds it): the bare cost of the same stream.
 *
 *   node bench/clients/limit.mjs --address 127.0.0.1:PORT --flows 1000000 [--mask]
 */
import { create, toBinary } from '@bufbuild/protobuf';
import grpc from '@grpc/grpc-js';
import { exporterFieldMask } from '../../dist/ingest/field-mask.js';
import { GetFlowsRequestSchema } from '../../dist/gen/observer/observer_pb.js';
import { StreamClock, clientOptions, failOnError, finish } from '../lib/client.mjs';

failOnError();
const { address, flows, mask } = clientOptions();
const client = new grpc.Client(address, grpc.credentials.createInsecure());
const clock = new StreamClock();
const identity = (b) => b;
// GetFlowsRequest{follow: true}, with the exporter's field mask under --mask; encoded once.
const req = create(GetFlowsRequestSchema, { follow: true });
if (mask) {
  req.fieldMask = exporterFieldMask();
  req.experimental = { $typeName: 'observer.GetFlowsRequest.Experimental', fieldMask: exporterFieldMask() };
}
const call = client.makeServerStreamRequest('/observer.Observer/GetFlows', identity, identity, Buffer.from(toBinary(GetFlowsRequestSchema, req)), new grpc.Metadata());
let n = 0;
call.on('data', () => {
  n++;
  if (n === 1) clock.start(1);
  if (n === flows) {
    const r = clock.end(n);
    call.cancel();
    client.close();
    finish({ client: mask ? 'limit-mask' : 'limit', ...r });
  }
});
call.on('error', (e) => {
  if (n < flows) throw e;
});
