import { status } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { RelayClient, type RelayClientOptions, type RelayState } from '../src/ingest/relay-client.js';
import { RecordingSink } from './support/recording-sink.js';
import { QueueSink } from '../src/ingest/sink.js';
import { NodeState } from '../src/gen/relay/relay_pb.js';
import { Verdict } from '../src/gen/flow/flow_pb.js';
import { defaultScenario, type Scenario } from '../src/sim/scenario.js';
import { SimulatedRelay } from '../src/sim/simulated-relay.js';
import { makeTestPki } from './support/certs.js';
import { untilClosed } from './support/lifecycle.js';
import { freePort } from './support/ports.js';
import { everythingDelivered } from './support/relay-marker.js';
import { waitFor } from './support/wait.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function startRelay(scenario: Scenario, epochMs: number, address = '127.0.0.1:0', extra: Partial<ConstructorParameters<typeof SimulatedRelay>[0]> = {}) {
  const relay = new SimulatedRelay({ scenario, epochMs, ...extra });
  const bound = await relay.listen(address);
  cleanups.push(() => relay.close());
  return { relay, address: bound };
}

function startClient(address: string, sink: RecordingSink | QueueSink, opts: Partial<RelayClientOptions> = {}) {
  const states: RelayState[] = [];
  const client = new RelayClient(
    { address, backoff: { initialMs: 50, maxMs: 400 }, onStateChange: (s) => states.push(s), ...opts },
    sink,
  );
  cleanups.push(() => client.close());
  client.start(untilClosed);
  return { client, states };
}

/** A finite scenario whose ground truth is its flow count, lost-event count and node events. */
function finite(total: number, rate: number, extra: Partial<Scenario> = {}): Scenario {
  return defaultScenario({ totalFlows: total, flowsPerSecond: rate, lostEventEvery: 500, lostEventCount: 7, ...extra });
}

/** LostEvents precede flows 500, 1000, … (not 0): this many in `total` flows. */
const lostEventsIn = (total: number) => Math.floor((total - 1) / 500);

function expectExactlyOnce(sink: RecordingSink, total: number) {
  expect(sink.duplicates()).toEqual([]);
  expect(sink.keys.size).toBe(total);
  expect(sink.flows).toBe(total);
}

describe('relay client over loopback gRPC', () => {
  it('receives every flow exactly once when the relay is down at start', async () => {
    const total = 3000;
    const port = await freePort();
    const epoch = Date.now();
    const sink = new RecordingSink();
    const { client, states } = startClient(`127.0.0.1:${port}`, sink, { since: new Date(epoch - 1000) });
    await waitFor(() => client.stats.reconnects >= 2, 'two failed attempts while the relay is down');
    expect(states).toContain('backoff');
    expect(sink.flows).toBe(0);
    const { relay } = await startRelay(finite(total, 3000), epoch, `127.0.0.1:${port}`);
    await everythingDelivered(relay, sink);
    expectExactlyOnce(sink, total);
    expect(client.state).toBe('streaming');
    expect(client.stats.flows).toBe(total);
    expect(client.stats.lostEvents.get('HUBBLE_RING_BUFFER')).toBe(lostEventsIn(total) * 7);
    expect(sink.lostTotal()).toBe(lostEventsIn(total) * 7);
  });

  for (const keyed of ['uuid', 'time and node'] as const) {
    it(`resumes without gaps or duplicates across two relay restarts (flows keyed by ${keyed})`, async () => {
      const total = 6000;
      // Without uuids, three flows share each timestamp (one per node), so only time+node tells them apart.
      const scenario = finite(total, 2000, keyed === 'uuid' ? {} : { uuids: false, flowsPerTick: 3 });
      const epoch = Date.now();
      const first = await startRelay(scenario, epoch);
      const sink = new RecordingSink();
      const { client } = startClient(first.address, sink, { since: new Date(epoch - 1000) });

      await waitFor(() => sink.flows >= 1500, '1500 flows before the first restart');
      await first.relay.close();
      await waitFor(() => client.state === 'backoff', 'the client noticing the dead relay');
      const second = await startRelay(scenario, epoch, first.address);
      await waitFor(() => sink.flows >= 3500, '3500 flows before the second restart');
      await second.relay.close();
      await waitFor(() => client.state === 'backoff', 'the client noticing the second death');
      const third = await startRelay(scenario, epoch, first.address);

      await everythingDelivered(third.relay, sink);
      expectExactlyOnce(sink, total);
      expect(client.stats.reconnects).toBeGreaterThanOrEqual(2);
      // The resumed streams replayed what was already counted, and it was dropped.
      expect(client.stats.duplicates).toBeGreaterThan(0);
      expect(sink.lostTotal()).toBe(lostEventsIn(total) * 7);
    });
  }

  it('resumes after the server cuts the stream with an error', async () => {
    const total = 4000;
    const epoch = Date.now();
    const { relay, address } = await startRelay(finite(total, 4000), epoch);
    relay.injectFault(1200, status.INTERNAL, 'stream reset by test');
    const sink = new RecordingSink();
    const errors: string[] = [];
    const { client } = startClient(address, sink, {
      since: new Date(epoch - 1000),
      onStateChange: (s, e) => e && errors.push(e.message),
    });
    await everythingDelivered(relay, sink);
    expectExactlyOnce(sink, total);
    expect(client.stats.reconnects).toBe(1);
    expect(errors).toEqual([`relay call failed (relay ${address}): INTERNAL: stream reset by test`]);
    expect(relay.streamsOpened).toBe(2);
  });

  it('tracks node status events and answers ServerStatus and GetNodes', async () => {
    const scenario = finite(3000, 3000, {
      nodeEvents: [
        { atFlow: 1000, state: 'NODE_UNAVAILABLE', nodes: ['kind-worker2'], message: 'connection refused' },
        { atFlow: 2000, state: 'NODE_CONNECTED', nodes: ['kind-worker2'] },
        { atFlow: 2500, state: 'NODE_GONE', nodes: ['kind-worker'] },
      ],
    });
    const epoch = Date.now();
    const { address } = await startRelay(scenario, epoch);
    const sink = new RecordingSink();
    const { client } = startClient(address, sink, { since: new Date(epoch - 1000) });
    await waitFor(() => sink.flows >= 3000, '3000 flows');
    // The opening status names all three nodes; then the three changes.
    expect(sink.statuses.map((s) => [NodeState[s.stateChange], s.nodeNames.join(',')])).toEqual([
      ['NODE_CONNECTED', 'kind-kind/kind-control-plane,kind-kind/kind-worker,kind-kind/kind-worker2'],
      ['NODE_UNAVAILABLE', 'kind-kind/kind-worker2'],
      ['NODE_CONNECTED', 'kind-kind/kind-worker2'],
      ['NODE_GONE', 'kind-kind/kind-worker'],
    ]);
    expect(Object.fromEntries([...client.stats.nodes].map(([n, s]) => [n, NodeState[s]]))).toEqual({
      'kind-kind/kind-control-plane': 'NODE_CONNECTED',
      'kind-kind/kind-worker': 'NODE_GONE',
      'kind-kind/kind-worker2': 'NODE_CONNECTED',
    });
    const st = await client.serverStatus();
    expect(Number(st.seenFlows)).toBe(3000);
    expect(Number(st.maxFlows)).toBe(65_536);
    expect(st.numConnectedNodes).toBe(2);
    expect(st.unavailableNodes).toEqual(['kind-kind/kind-worker']);
    expect(st.flowsRate).toBe(3000);
    const nodes = await client.getNodes();
    expect(nodes.nodes.map((n) => n.name)).toEqual(['kind-kind/kind-control-plane', 'kind-kind/kind-worker', 'kind-kind/kind-worker2']);
  });

  it('applies server-side whitelist and blacklist filters', async () => {
    const total = 2000;
    const scenario = finite(total, 4000, { pods: defaultScenario().pods.map((p, i) => (i === 0 ? { ...p, dropRate: 0.5 } : p)) });
    const epoch = Date.now();
    const { relay, address } = await startRelay(scenario, epoch);
    // Ground truth from the scenario itself: dropped flows not observed on kind-worker.
    let expected = 0;
    for (let i = 0; i < total; i++) {
      const f = relay.model.flowAt(i);
      if (f.verdict === Verdict.DROPPED && !f.nodeName.endsWith('/kind-worker')) expected++;
    }
    expect(expected).toBeGreaterThan(20);
    const sink = new RecordingSink();
    startClient(address, sink, {
      since: new Date(epoch - 1000),
      whitelist: [{ verdict: [Verdict.DROPPED] } as never],
      blacklist: [{ nodeName: ['kind-kind/kind-worker'] } as never],
    });
    // The relay has played the whole scenario through its filters, and all it sent has arrived.
    await everythingDelivered(relay, sink);
    expect(sink.flows).toBe(expected);
  });

  it('pauses the stream when the sink falls behind, and still gets every flow once', async () => {
    const total = 3000;
    const epoch = Date.now() - 10_000; // the whole history is available at once
    const { relay, address } = await startRelay(finite(total, 3000), epoch);
    const seen = new Map<string, number>();
    const sink = new QueueSink(
      async (f) => {
        const k = RecordingSink.key(f);
        seen.set(k, (seen.get(k) ?? 0) + 1);
        if (seen.size % 100 === 0) await new Promise((r) => setTimeout(r, 5));
      },
      64,
    );
    // A small window, so that the relay feels the pause well within 3000 flows.
    startClient(address, sink, { since: new Date(epoch - 1000), flowControlWindowBytes: 65_535 });
    await waitFor(() => seen.size >= total, `${total} flows through a slow consumer`, 30_000, () => seen.size);
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
    expect(seen.size).toBe(total);
    // The queue never outgrew its bound by more than what was already decoded…
    expect(sink.highWater).toBeLessThanOrEqual(64 + 16);
    // …because the relay had to wait for the client instead.
    expect(relay.backpressureWaits).toBeGreaterThan(0);
  });

  it('counts and skips undecodable responses, keeping the stream', async () => {
    const epoch = Date.now();
    const { relay, address } = await startRelay(finite(1000, 4000), epoch);
    // Corrupt flow 10's encoding in the relay's cache of whole (unmasked) flows: a truncated message.
    const sim = relay as unknown as { encodedFlow(i: number, c: unknown): Uint8Array; caches: Map<string, { bytes: Uint8Array[] }> };
    const whole = sim.caches.get('')!;
    const good = sim.encodedFlow(10, whole);
    whole.bytes[10] = good.subarray(0, good.length - 7);
    const sink = new RecordingSink();
    const { client } = startClient(address, sink, { since: new Date(epoch - 1000), fieldMask: false });
    await everythingDelivered(relay, sink);
    expect(sink.flows).toBe(999);
    expect(client.stats.decodeErrors).toBe(1);
    expect(client.state).toBe('streaming');
  });
});

describe('relay client TLS', () => {
  const pki = makeTestPki();
  const serverTls = { cert: pki.read(pki.serverCertFile), key: pki.read(pki.serverKeyFile) };
  const serverName = 'instance.hubble-relay.cilium.io';

  it('connects over TLS with the relay CA and server name', async () => {
    const epoch = Date.now();
    const { address } = await startRelay(finite(500, 5000), epoch, '127.0.0.1:0', { tls: serverTls });
    const sink = new RecordingSink();
    startClient(address, sink, { since: new Date(epoch - 1000), tls: { enabled: true, caFile: pki.caFile, serverName } });
    await waitFor(() => sink.flows >= 500, '500 flows over TLS');
    expectExactlyOnce(sink, 500);
  });

  it('connects over mTLS with a client certificate', async () => {
    const epoch = Date.now();
    const { address } = await startRelay(finite(500, 5000), epoch, '127.0.0.1:0', { tls: { ...serverTls, clientCa: pki.read(pki.caFile) } });
    const sink = new RecordingSink();
    startClient(address, sink, {
      since: new Date(epoch - 1000),
      tls: { enabled: true, caFile: pki.caFile, certFile: pki.clientCertFile, keyFile: pki.clientKeyFile, serverName },
    });
    await waitFor(() => sink.flows >= 500, '500 flows over mTLS');
    expectExactlyOnce(sink, 500);
  });

  // A wrong CA may be a certificate rotation in progress (the files are read again on every
  // attempt): retried with backoff, the clear message in the logs and /readyz, never 'closed'.
  it('retries with a clear error while the CA is wrong', async () => {
    const { address } = await startRelay(finite(500, 5000), Date.now(), '127.0.0.1:0', { tls: serverTls });
    const errors: string[] = [];
    const { client } = startClient(address, new RecordingSink(), {
      tls: { enabled: true, caFile: pki.otherCaFile, serverName },
      onStateChange: (_s, e) => e && errors.push(e.message),
    });
    await waitFor(() => errors.length >= 2, 'two failed attempts');
    expect(client.state).not.toBe('closed');
    expect(client.stats.lastError?.retryable).toBe(true);
    expect(client.stats.connectAttempts.ok).toBe(0);
    expect(errors.at(-1)).toMatch(/^relay TLS handshake failed \(relay 127\.0\.0\.1:\d+\): .*The relay certificate is not signed by the CA in --tls-ca-file\.$/);
  });

  it('refuses a missing or mismatched TLS file before connecting', () => {
    const sink = new RecordingSink();
    expect(() => new RelayClient({ address: '127.0.0.1:1', tls: { enabled: true, caFile: '/nonexistent/ca.crt' } }, sink)).toThrow(
      'cannot read --tls-ca-file "/nonexistent/ca.crt": ENOENT',
    );
    expect(() => new RelayClient({ address: '127.0.0.1:1', tls: { enabled: true, caFile: pki.serverKeyFile } }, sink)).toThrow(
      /^--tls-ca-file ".*server\.key" is not a PEM certificate/,
    );
    expect(
      () => new RelayClient({ address: '127.0.0.1:1', tls: { enabled: true, certFile: pki.clientCertFile, keyFile: pki.serverKeyFile } }, sink),
    ).toThrow(/--tls-client-key-file ".*server\.key" does not belong to --tls-client-cert-file/);
    expect(() => new RelayClient({ address: '127.0.0.1:1', tls: { enabled: true, certFile: pki.clientCertFile } }, sink)).toThrow(
      'mTLS needs both --tls-client-cert-file and --tls-client-key-file',
    );
  });
});
