import type { NodeStatusEvent } from '../../src/gen/relay/relay_pb.js';
import type { SimulatedRelay } from '../../src/sim/simulated-relay.js';
import { waitFor } from './wait.js';

let markers = 0;

/**
 * Waits until nothing more can arrive, without sleeping: first until `relay`
 * says that `streams` of its GetFlows streams have sent every flow of their
 * range, then sends a marker after them and waits for `sink` to see it. A
 * stream delivers in order, so every message sent before the marker has
 * reached the sink by then, and a finite scenario sends nothing after.
 */
export async function everythingDelivered(relay: SimulatedRelay, sink: { readonly statuses: readonly NodeStatusEvent[] }, streams = 1, timeoutMs = 20_000): Promise<void> {
  await waitFor(() => relay.streamsSentAll >= streams, `the relay to send every flow on ${streams} stream(s)`, timeoutMs, () => relay.streamsSentAll);
  const marker = `end-of-test-stream-${++markers}`;
  if (relay.sendMarker(marker) === 0) throw new Error('no open stream to send the end marker on: the client is not connected');
  await waitFor(() => sink.statuses.some((s) => s.message === marker), `the end marker ${marker} to reach the sink`, timeoutMs);
}
