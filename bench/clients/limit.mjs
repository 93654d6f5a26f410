/**
 * The limit: a bare grpc-js client that takes GetFlows responses as raw
 * bytes (identity deserializer) and only counts them. What the relay, the
 * loopback and grpc-js can deliver at all.
 *
 *   node bench/clients/limit.mjs --address 127.0.0.1:PORT --flows 1000000
 */
import grpc from '@grpc/grpc-js';
import { StreamClock, clientOptions, failOnError, finish } from '../lib/client.mjs';

failOnError();
const { address, flows } = clientOptions();
const client = new grpc.Client(address, grpc.credentials.createInsecure());
const clock = new StreamClock();
const identity = (b) => b;
// GetFlowsRequest{follow: true}
const call = client.makeServerStreamRequest('/observer.Observer/GetFlows', identity, identity, Buffer.from([0x18, 0x01]), new grpc.Metadata());
let n = 0;
call.on('data', () => {
  n++;
  if (n === 1) clock.start(1);
  if (n === flows) {
    const r = clock.end(n);
    call.cancel();
    client.close();
    finish({ client: 'limit', ...r });
  }
});
call.on('error', (e) => {
  if (n < flows) throw e;
});
