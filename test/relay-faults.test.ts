import { createServer as createHttpServer } from 'node:http';
import { copyFileSync, mkdtempSync } from 'node:fs';
import { connect, type Server as NetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { status } from '@grpc/grpc-js';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import type { Flow } from '../src/gen/flow/flow_pb.js';
import { RecordingSink } from './support/recording-sink.js';
import { RelayClient, type RelayClientOptions, type RelayState } from '../src/ingest/relay-client.js';
import { RelayError } from '../src/ingest/errors.js';
import { IpamStore } from '../src/ipam/ipam-store.js';
import { stateFromObjects } from '../src/ipam/from-objects.js';
import { loadIpamFiles } from '../src/ipam/ipam-files.js';
import { IpamSnapshot } from '../src/ipam/snapshot.js';
import { FlowRecord } from '../src/ingest/flow-record.js';
import { parseIpInto } from '../src/net/ip.js';
import { AttributionPipeline } from '../src/attribution/pipeline.js';
import { createExporterMetrics } from '../src/metrics/exporter-metrics.js';
import { defaultScenario, ScenarioModel } from '../src/sim/scenario.js';
import { SimulatedRelay } from '../src/sim/simulated-relay.js';
import { makeTestPki } from './support/certs.js';
import { flowMessage, ScriptedRelay, type Cut, type ScriptedMessage } from './support/scripted-relay.js';
import { untilClosed } from './support/lifecycle.js';
import { rawServer } from './support/raw-server.js';
import { waitFor } from './support/wait.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const RELAY_PORT_HINT = '(is this the Hubble Relay port? default 4245 / Service port 80)';

async function listenNet(srv: NetServer | ReturnType<typeof createHttpServer>, port = 0): Promise<number> {
  await new Promise<void>((r) => srv.listen(port, '127.0.0.1', r));
  return (srv.address() as { port: number }).port;
}

/** A TCP server that accepts and then does `onSocket`; closing it also drops its connections. */
async function tcpServer(onSocket: (s: Socket) => void, port = 0) {
  const { port: bound, close } = await rawServer(port, onSocket);
  cleanups.push(close);
  return { port: bound, close };
}

function startClient(address: string, sink: RecordingSink, opts: Partial<RelayClientOptions> = {}) {
  const states: RelayState[] = [];
  const errors: RelayError[] = [];
  const client = new RelayClient(
    {
      address,
      backoff: { initialMs: 50, maxMs: 200 },
      onStateChange: (s, e) => {
        states.push(s);
        if (e) errors.push(e);
      },
      ...opts,
    },
    sink,
  );
  cleanups.push(() => client.close());
  client.start(untilClosed);
  return { client, states, errors };
}

async function scripted(history: ScriptedMessage[], cuts: Array<Cut | undefined> = []) {
  const relay = new ScriptedRelay(history, cuts);
  const address = await relay.listen();
  cleanups.push(() => relay.close());
  return { relay, address };
}

const NODES = ['c/node-a', 'c/node-b', 'c/node-c'];

/**
 * `n` flows with distinct times 1 ms apart from `baseMs`, round-robin over
 * three nodes; uuids or none. Realistic bodies from the scenario generator.
 */
function makeFlows(n: number, baseMs: number, uuids: boolean): Flow[] {
  const model = new ScenarioModel(defaultScenario({ uuids }), baseMs);
  const out: Flow[] = [];
  for (let i = 0; i < n; i++) {
    const f = model.flowAt(i);
    stamp(f, baseMs + i, 0);
    f.nodeName = NODES[i % NODES.length]!;
    out.push(f);
  }
  return out;
}

function stamp(f: Flow, ms: number, extraNanos: number): void {
  f.time = { $typeName: 'google.protobuf.Timestamp', seconds: BigInt(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1e6 + extraNanos };
}

/** A flow on its own node, after everything else: once it arrives, everything before it has been handled. */
function sentinel(baseMs: number): Flow {
  const f = makeFlows(1, baseMs, false)[0]!;
  f.nodeName = 'c/sentinel';
  return f;
}

async function waitForSentinel(sink: RecordingSink): Promise<void> {
  await waitFor(() => sink.perNode.get('c/sentinel') === 1, 'the sentinel flow (the last of the history)', 20_000, () => sink.flows);
}

describe('relay connection faults', () => {
  it('keeps a quiet stream open when the server answers ServerStatus (grpc-go sends headers only with the first message)', async () => {
    // A gRPC server with nothing to send yet: no headers, no message (an agent with a narrow whitelist).
    const quiet = new ScriptedRelay([]);
    const address = await quiet.listen();
    cleanups.push(() => quiet.close());
    const sink = new RecordingSink();
    const { client, states } = startClient(address, sink, { connectTimeoutMs: 200 });
    await waitFor(() => client.state === 'streaming', 'the quiet stream accepted after the ServerStatus probe', 10_000, () => client.stats.connectAttempts);
    expect(client.stats.connectAttempts).toEqual({ ok: 1, timeout: 0, error: 0 });
    expect(states).toEqual(['connecting', 'streaming']);
    expect(quiet.streamsOpened).toBe(1);
    expect(client.stats.reconnects).toBe(0);
  });

  it('abandons a relay that accepts TCP and never answers, retries with backoff, and streams once a relay answers on that port', async () => {
    const silent = await tcpServer(() => {});
    const address = `127.0.0.1:${silent.port}`;
    const sink = new RecordingSink();
    const epoch = Date.now();
    const { client, states, errors } = startClient(address, sink, { connectTimeoutMs: 300, since: new Date(epoch - 1000) });
    await waitFor(() => client.stats.connectAttempts.timeout >= 3, 'three attempts abandoned at the connect deadline', 10_000, () => client.stats.connectAttempts);
    expect(states.slice(0, 5)).toEqual(['connecting', 'backoff', 'connecting', 'backoff', 'connecting']);
    expect(errors[0]!.message).toBe(
      `relay ${address} sent no HTTP/2 gRPC answer within 300 ms (connect deadline): a frozen or unreachable relay, or not a gRPC server ${RELAY_PORT_HINT}`,
    );
    expect(errors[0]!.retryable).toBe(true);
    expect(client.stats.connectAttempts.ok).toBe(0);

    // The port now gets a real relay.
    await silent.close();
    const relay = new SimulatedRelay({ scenario: defaultScenario({ totalFlows: 500, flowsPerSecond: 5000 }), epochMs: epoch });
    await relay.listen(address);
    cleanups.push(() => relay.close());
    await waitFor(() => sink.flows >= 500, '500 flows', 20_000, () => sink.flows);
    expect(sink.duplicates()).toEqual([]);
    expect(sink.flows).toBe(500);
    expect(client.stats.connectAttempts.ok).toBe(1);
    const attempts = client.stats.connectAttempts;
    expect(client.stats.reconnects).toBe(attempts.ok + attempts.timeout + attempts.error - 1);

    // Every attempt is on /metrics by result.
    const registry = new Registry();
    createExporterMetrics(registry, { pipeline: new AttributionPipeline({ registry }), store: new IpamStore(), stream: () => client, processMetrics: false });
    const text = await registry.metrics();
    expect(text).toContain(`hubble_ipam_relay_connect_attempts_total{result="ok"} 1\n`);
    expect(text).toContain(`hubble_ipam_relay_connect_attempts_total{result="timeout"} ${attempts.timeout}\n`);
    expect(text).toContain(`hubble_ipam_relay_connect_attempts_total{result="error"} ${attempts.error}\n`);
  });

  it('detects a frozen relay by keepalive, abandons the frozen reconnects at the deadline, and resumes without loss once it thaws', async () => {
    const total = 4000;
    const epoch = Date.now();
    const relay = new SimulatedRelay({ scenario: defaultScenario({ totalFlows: total, flowsPerSecond: 2000 }), epochMs: epoch });
    const upstream = await relay.listen('127.0.0.1:0');
    cleanups.push(() => relay.close());
    const upPort = Number(upstream.slice(upstream.lastIndexOf(':') + 1));
    // A TCP proxy that can freeze: connections stay open and nothing passes either way (SIGSTOP, a blackholing proxy).
    let frozen = false;
    const held: Socket[] = [];
    const proxy = await tcpServer((c) => {
      if (frozen) {
        held.push(c); // accepted by the kernel, never served
        return;
      }
      const u = connect(upPort, '127.0.0.1');
      u.on('error', () => {});
      c.on('data', (d: Buffer) => !frozen && u.write(d));
      u.on('data', (d: Buffer) => !frozen && c.write(d));
      c.on('close', () => u.destroy());
      u.on('close', () => c.destroy());
    });
    const sink = new RecordingSink();
    const { client } = startClient(`127.0.0.1:${proxy.port}`, sink, {
      since: new Date(epoch - 1000),
      keepaliveTimeMs: 200,
      keepaliveTimeoutMs: 200,
      connectTimeoutMs: 400,
    });
    await waitFor(() => sink.flows >= 1000, '1000 flows before the freeze');
    frozen = true;
    await waitFor(() => client.stats.reconnects >= 1 && client.stats.connectAttempts.timeout >= 1, 'the frozen stream dropped and a reconnect abandoned at the deadline', 10_000, () => client.stats);
    frozen = false;
    for (const s of held) s.destroy();
    await waitFor(() => sink.flows >= total, `${total} flows`, 20_000, () => sink.flows);
    await waitFor(() => relay.flowsSent >= total, 'the relay to send its last flow');
    expect(sink.duplicates()).toEqual([]);
    expect(sink.keys.size).toBe(total);
    expect(sink.flows).toBe(total);
  });
});


describe('TLS errors read the same on every supported Node', () => {
  it("Node 24's advice about the system CA store is dropped: the hint names --tls-ca-file", () => {
    const details = 'No connection established. Last error: Error: unable to verify the first certificate; if the root CA is installed locally, try running Node.js with --use-system-ca';
    const e = RelayError.from(Object.assign(new Error(details), { code: status.UNAVAILABLE, details, metadata: {} }), '127.0.0.1:4245', true);
    expect(e.message).toBe('relay TLS handshake failed (relay 127.0.0.1:4245): unable to verify the first certificate. The relay certificate is not signed by the CA in --tls-ca-file.');
  });
});

describe('what a newcomer sees for a wrong address or a TLS mix-up', () => {
  const pki = makeTestPki();
  const serverTls = { cert: pki.read(pki.serverCertFile), key: pki.read(pki.serverKeyFile) };
  const serverName = 'instance.hubble-relay.cilium.io';

  async function firstError(address: string, opts: Partial<RelayClientOptions> = {}, sink = new RecordingSink()) {
    const { client, errors } = startClient(address, sink, opts);
    await waitFor(() => errors.length >= 2, 'two failed attempts', 10_000, () => client.state);
    expect(client.state).not.toBe('closed');
    expect(errors[1]!.message).toBe(errors[0]!.message);
    expect(errors[0]!.retryable).toBe(true);
    // Each failed attempt counted (the CA test's first attempts may also answer nothing: ok stays 0).
    expect(client.stats.connectAttempts.error).toBeGreaterThanOrEqual(2);
    expect(client.stats.connectAttempts.ok).toBe(0);
    return errors[0]!.message;
  }

  it('an HTTP/1.1 server: names the address and says it does not speak HTTP/2 gRPC', async () => {
    const srv = createHttpServer((_q, r) => r.end('hello'));
    const port = await listenNet(srv);
    cleanups.push(() => new Promise<void>((r) => srv.close(() => r())));
    expect(await firstError(`127.0.0.1:${port}`)).toBe(`relay 127.0.0.1:${port} does not speak HTTP/2 gRPC ${RELAY_PORT_HINT}`);
  });

  it('a TCP server that sends something else: the same hint', async () => {
    const { port } = await tcpServer((s) => s.end('SSH-2.0-OpenSSH_9.6\r\n'));
    expect(await firstError(`127.0.0.1:${port}`)).toBe(`relay 127.0.0.1:${port} does not speak HTTP/2 gRPC ${RELAY_PORT_HINT}`);
  });

  it('TLS to a plaintext relay: says so, without OpenSSL internals', async () => {
    const relay = new SimulatedRelay({ scenario: defaultScenario({ totalFlows: 10 }) });
    const address = await relay.listen('127.0.0.1:0');
    cleanups.push(() => relay.close());
    expect(await firstError(address, { tls: { enabled: true, caFile: pki.caFile, serverName } })).toBe(
      `relay TLS handshake failed (relay ${address}): the relay answered in plaintext, not TLS: drop --tls, or point --relay-address at the relay's TLS port`,
    );
  });

  it('plaintext to a TLS relay: suggests --tls', async () => {
    const relay = new SimulatedRelay({ scenario: defaultScenario({ totalFlows: 10 }), tls: serverTls });
    const address = await relay.listen('127.0.0.1:0');
    cleanups.push(() => relay.close());
    expect(await firstError(address)).toBe(
      `relay ${address} closed the connection without an HTTP/2 gRPC answer: if it serves TLS, add --tls and --tls-ca-file; otherwise check the address ${RELAY_PORT_HINT}`,
    );
  });

  it('a relay certificate from another CA: a clear message, retried, and a fixed --tls-ca-file is picked up without a restart', async () => {
    const epoch = Date.now();
    const relay = new SimulatedRelay({ scenario: defaultScenario({ totalFlows: 300, flowsPerSecond: 3000 }), epochMs: epoch, tls: serverTls });
    const address = await relay.listen('127.0.0.1:0');
    cleanups.push(() => relay.close());
    const caFile = join(mkdtempSync(join(tmpdir(), 'hie-ca-')), 'ca.crt');
    copyFileSync(pki.otherCaFile, caFile);
    const sink = new RecordingSink();
    const message = await firstError(address, { since: new Date(epoch - 1000), tls: { enabled: true, caFile, serverName } }, sink);
    expect(message).toBe(`relay TLS handshake failed (relay ${address}): unable to verify the first certificate. The relay certificate is not signed by the CA in --tls-ca-file.`);
    // The operator (or a certificate rotation) fixes the file: the next attempt reads it.
    copyFileSync(pki.caFile, caFile);
    await waitFor(() => sink.flows >= 300, '300 flows once the CA file is right', 20_000, () => sink.flows);
    expect(sink.flows).toBe(300);
  });
});

describe('exactly once through time, size and status faults', () => {
  for (const uuids of [true, false]) {
    it(`a flow stamped an hour ahead moves neither the resume point nor the windows (${uuids ? 'uuids' : 'no uuids'})`, async () => {
      const base = Date.now() - 10_000;
      const flows = makeFlows(300, base, uuids);
      stamp(flows[100]!, base + 3_600_000, 0); // a node with a wrong clock
      const history = [...flows, sentinel(base + 400)].map(flowMessage);
      const { relay, address } = await scripted(history, [{ afterMessages: 200, code: status.UNAVAILABLE, details: 'relay restarting' }]);
      const sink = new RecordingSink();
      const { client } = startClient(address, sink);
      await waitForSentinel(sink);
      expect(relay.streamsOpened).toBe(2);
      expect(sink.duplicates()).toEqual([]);
      expect(sink.flows).toBe(301);
      expect(client.stats.flows).toBe(301);
      expect(client.stats.duplicates).toBe(200); // the whole first stream, the future flow included
      expect(client.stats.futureFlows).toBe(1);
      expect(client.stats.reconnects).toBe(1);
    });
  }

  it('reports the skew of future-stamped flows, by an injected clock', async () => {
    const base = 1_700_000_000_000;
    const flows = makeFlows(10, base, true);
    stamp(flows[3]!, base + 90_000, 500_000_000); // 90.5 s ahead of the flow times
    stamp(flows[6]!, base + 45_000, 0); // within a 60 s tolerance of a clock at base + 5 s
    const { address } = await scripted([...flows, sentinel(base + 20)].map(flowMessage));
    const sink = new RecordingSink();
    const { client } = startClient(address, sink, { clock: () => base + 5_000, futureToleranceMs: 60_000 });
    await waitForSentinel(sink);
    expect(sink.flows).toBe(11);
    expect(client.stats.futureFlows).toBe(1);
    expect(client.stats.futureSkewSeconds()).toBe(85.5);
    const registry = new Registry();
    createExporterMetrics(registry, { pipeline: new AttributionPipeline({ registry }), store: new IpamStore(), stream: () => client, processMetrics: false });
    const text = await registry.metrics();
    expect(text).toContain('hubble_ipam_flows_future_total 1\n');
    expect(text).toContain('hubble_ipam_clock_skew_seconds 85.5\n');
  });

  it('a future-stamped flow does not move the windows: its offender still ages out', () => {
    const root = join(dirname(fileURLToPath(import.meta.url)), '..');
    const files = loadIpamFiles([join(root, 'examples', 'ipam-config.yaml')]);
    const base = 1_700_000_000; // seconds; the exporter's clock reads base + 1000
    const pipeline = new AttributionPipeline({ registry: new Registry(), windowSec: 60, clock: () => (base + 1000) * 1000 });
    pipeline.setSnapshot(IpamSnapshot.build(stateFromObjects({ objects: files.items, configs: files.configs }).state));
    const flow = (t: number, src: string, dst: string) => {
      const rec = new FlowRecord();
      rec.hasIp = true;
      rec.nodeName = 'kind-worker';
      rec.timeSeconds = t;
      parseIpInto(src, rec.source.ip);
      parseIpInto(dst, rec.destination.ip);
      pipeline.flow(rec);
    };
    flow(base, '10.244.1.20', '172.20.1.20'); // a stale source (examples/ipam-config.yaml)
    flow(base + 3600, '10.244.1.20', '172.20.1.20'); // the same, from a node whose clock is an hour ahead
    expect(pipeline.nowSec).toBe(base);
    expect(pipeline.future.flows).toBe(1);
    expect(pipeline.offenders.active(pipeline.nowSec).map((a) => [a.o.ip, a.o.total])).toEqual([['10.244.1.20', 2]]);
    // A minute and a bit later, only current addresses talk: the stale one has left the window.
    flow(base + 61, '172.20.1.20', '172.20.1.21');
    expect(pipeline.nowSec).toBe(base + 61);
    expect(pipeline.offenders.active(pipeline.nowSec)).toEqual([]);
  });

  it('drops a response over the size limit as a decode error with its size and node, and loses nothing else', async () => {
    const base = Date.now() - 10_000;
    const flows = makeFlows(1000, base, true);
    const huge = makeFlows(1, base + 500, true)[0]!;
    huge.uuid = 'huge';
    huge.nodeName = 'c/node-huge';
    huge.source!.labels = Array.from({ length: 5 * 1024 }, (_, i) => `k8s:label-${i}=${'x'.repeat(1024)}`); // ~5 MiB
    const history = [...flows.slice(0, 500), huge, ...flows.slice(500), sentinel(base + 2000)].map(flowMessage);
    const hugeBytes = history[500]!.bytes.length;
    expect(hugeBytes).toBeGreaterThan(5 * 1024 * 1024);
    const { relay, address } = await scripted(history);
    const sink = new RecordingSink();
    const warnings: Array<[string, Record<string, unknown> | undefined]> = [];
    const logger = { debug() {}, info() {}, error() {}, warn: (m: string, f?: Record<string, unknown>) => void warnings.push([m, f]) };
    const { client } = startClient(address, sink, { logger });
    await waitForSentinel(sink);
    expect(sink.flows).toBe(1001);
    expect(sink.duplicates()).toEqual([]);
    expect(sink.perNode.get('c/node-huge')).toBeUndefined();
    expect(client.stats.decodeErrors).toBe(1);
    expect(client.stats.reconnects).toBe(0);
    expect(relay.streamsOpened).toBe(1);
    expect(warnings).toEqual([['relay response over the size limit dropped', { node: 'c/node-huge', bytes: hugeBytes, limitBytes: 4 * 1024 * 1024 }]]);
  });

  it('delivers each of many uuid-less flows sharing one timestamp on one node exactly once across a resume', async () => {
    const base = Date.now() - 10_000;
    const flows = makeFlows(50, base, false);
    for (const f of flows) {
      stamp(f, base, 123);
      f.nodeName = 'c/node-a';
    }
    const { relay, address } = await scripted([...flows, sentinel(base + 10)].map(flowMessage), [
      { afterMessages: 20, code: status.UNAVAILABLE, details: 'relay restarting' },
    ]);
    const sink = new RecordingSink();
    const { client } = startClient(address, sink);
    await waitForSentinel(sink);
    expect(relay.streamsOpened).toBe(2);
    expect(sink.perNode.get('c/node-a')).toBe(50);
    expect(sink.flows).toBe(51);
    expect(client.stats.duplicates).toBe(20);
  });

  it('retries every status a running relay can send, keeping its resume memory: nothing lost, nothing twice', async () => {
    const codes = [
      status.DATA_LOSS,
      status.FAILED_PRECONDITION,
      status.NOT_FOUND,
      status.PERMISSION_DENIED,
      status.UNIMPLEMENTED,
      status.INVALID_ARGUMENT,
      status.UNAUTHENTICATED,
      status.OUT_OF_RANGE,
      status.ALREADY_EXISTS,
      status.INTERNAL,
    ];
    const base = Date.now() - 10_000;
    const flows = makeFlows(1200, base, true);
    // Stream k is cut after 100·(k+1) messages: each resume replays what was counted, then 100 new ones.
    const cuts = codes.map((code, k) => ({ afterMessages: 100 * (k + 1), code, details: `relay says ${status[code]}` }));
    const { relay, address } = await scripted([...flows, sentinel(base + 2000)].map(flowMessage), cuts);
    const sink = new RecordingSink();
    const { client, errors } = startClient(address, sink);
    await waitForSentinel(sink);
    expect(relay.streamsOpened).toBe(codes.length + 1);
    expect(sink.duplicates()).toEqual([]);
    expect(sink.flows).toBe(1201);
    expect(client.stats.reconnects).toBe(codes.length);
    // Stream k replays the 100·k flows counted before it; the last one replays all 1000.
    expect(client.stats.duplicates).toBe(cuts.reduce((a, c) => a + c.afterMessages, 0));
    expect(errors.map((e) => e.message)).toEqual(codes.map((c) => `relay call failed (relay ${address}): ${status[c]}: relay says ${status[c]}`));
    expect(client.state).toBe('streaming');
  });
});

describe('relay client options', () => {
  it('refuses a bad deadline, keepalive, size limit or tolerance before starting, naming the option', () => {
    const sink = new RecordingSink();
    const make = (o: Partial<RelayClientOptions>) => () => new RelayClient({ address: '127.0.0.1:1', ...o }, sink);
    expect(make({ connectTimeoutMs: 0 })).toThrow('connectTimeoutMs must be a positive number of milliseconds, got 0');
    // 0 would make every unary call (and the connect deadline's ServerStatus probe) fail at once.
    expect(make({ callTimeoutMs: 0 })).toThrow('callTimeoutMs must be a positive number of milliseconds, got 0');
    expect(make({ keepaliveTimeMs: Number.NaN })).toThrow('keepaliveTimeMs must be a positive number of milliseconds, got NaN');
    expect(make({ keepaliveTimeoutMs: -1 })).toThrow('keepaliveTimeoutMs must be a positive number of milliseconds, got -1');
    expect(make({ maxMessageBytes: 1.5 })).toThrow('maxMessageBytes must be a positive integer, got 1.5');
    expect(make({ futureToleranceMs: -5 })).toThrow('futureToleranceMs must be a non-negative number of milliseconds, got -5');
  });
});
