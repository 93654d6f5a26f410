/**
 * The lifecycle contract (src/lifecycle.ts) of the stream side's long-lived
 * parts: the relay client, the simulated relay, and the exporter service that
 * composes the client with the IPAM sources and the HTTP server. For each:
 * close before start, close twice, and an aborted signal closing it.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RelayClient, type RelayState } from '../src/ingest/relay-client.js';
import { ExporterService } from '../src/service.js';
import { defaultScenario } from '../src/sim/scenario.js';
import { SimulatedRelay } from '../src/sim/simulated-relay.js';
import { repoRoot } from './support/paths.js';
import { RecordingSink } from './support/recording-sink.js';
import { waitFor } from './support/wait.js';

const ipamFile = join(repoRoot, 'examples', 'ipam-config.yaml');
/** An endless scenario: the stream stays busy until it is stopped. */
const endless = () => defaultScenario({ flowsPerSecond: 500 });

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function runningRelay(): Promise<{ relay: SimulatedRelay; address: string }> {
  const relay = new SimulatedRelay({ scenario: endless() });
  cleanups.push(() => relay.close());
  return { relay, address: await relay.listen() };
}

function client(address: string, states: RelayState[] = []): RelayClient {
  const c = new RelayClient({ address, backoff: { initialMs: 50, maxMs: 400 }, onStateChange: (s) => states.push(s) }, new RecordingSink());
  cleanups.push(() => c.close());
  return c;
}

describe('relay client lifecycle', () => {
  it('close before start: closed, and a later start does nothing', async () => {
    const { relay, address } = await runningRelay();
    const c = client(address);
    await c.close();
    expect(c.state).toBe('closed');
    c.start(new AbortController().signal);
    expect(c.state).toBe('closed');
    expect(c.stats.connectAttempts).toEqual({ ok: 0, timeout: 0, error: 0 });
    await c.closed();
    expect(relay.streamsOpened).toBe(0);
  });

  it('close twice: both resolve, one change to closed', async () => {
    const { address } = await runningRelay();
    const states: RelayState[] = [];
    const c = client(address, states);
    c.start(new AbortController().signal);
    await waitFor(() => c.state === 'streaming', 'the stream to start');
    await Promise.all([c.close(), c.close()]);
    await c.close();
    expect(states.filter((s) => s === 'closed')).toEqual(['closed']);
  });

  it('an aborted signal closes it, and the relay sees the stream go', async () => {
    const { relay, address } = await runningRelay();
    const c = client(address);
    const stop = new AbortController();
    c.start(stop.signal);
    await waitFor(() => c.state === 'streaming' && relay.flowsSent > 0, 'flows on the stream');
    stop.abort();
    await c.closed();
    expect(c.state).toBe('closed');
    await waitFor(() => relay.openStreams === 0, 'the relay to see the stream cancelled', 15_000, () => relay.openStreams);
  });

  it('a signal aborted before start: closed at once, never connects', () => {
    const c = client('127.0.0.1:1');
    c.start(AbortSignal.abort());
    expect(c.state).toBe('closed');
    expect(c.stats.connectAttempts).toEqual({ ok: 0, timeout: 0, error: 0 });
  });
});

describe('simulated relay lifecycle', () => {
  it('start returns at once; ready() gives the bound address', async () => {
    const relay = new SimulatedRelay({ scenario: endless(), address: '127.0.0.1:0' });
    cleanups.push(() => relay.close());
    const stop = new AbortController();
    relay.start(stop.signal);
    const address = await relay.ready();
    expect(address).toMatch(/^127\.0\.0\.1:[1-9]\d*$/);
    const c = client(address);
    c.start(new AbortController().signal);
    await waitFor(() => c.state === 'streaming', 'a client streaming from it');
  });

  it('close before start: ready() rejects, start does nothing', async () => {
    const relay = new SimulatedRelay({ scenario: endless() });
    await relay.close();
    relay.start(new AbortController().signal);
    await expect(relay.ready()).rejects.toThrow('simulated relay is closed');
    await expect(relay.listen()).rejects.toThrow('simulated relay is closed');
  });

  it('ready() before start says what to call', async () => {
    const relay = new SimulatedRelay({ scenario: endless() });
    await expect(relay.ready()).rejects.toThrow('simulated relay not started: call start(signal) first');
    await relay.close();
  });

  it('close twice resolves', async () => {
    const { relay } = await runningRelay();
    await Promise.all([relay.close(), relay.close()]);
    await relay.close();
  });

  it('an aborted signal closes it: a streaming client sees the relay go', async () => {
    const relay = new SimulatedRelay({ scenario: endless() });
    cleanups.push(() => relay.close());
    const stop = new AbortController();
    relay.start(stop.signal);
    const address = await relay.ready();
    const states: RelayState[] = [];
    const c = client(address, states);
    c.start(new AbortController().signal);
    await waitFor(() => c.state === 'streaming', 'the stream to start');
    stop.abort();
    await waitFor(() => c.state === 'backoff', 'the client to notice the relay gone', 15_000, () => c.state);
    expect(relay.openStreams).toBe(0);
  });

  it('a bind that fails rejects ready() naming the address', async () => {
    const relay = new SimulatedRelay({ scenario: endless(), address: 'unix:///nonexistent/dir/relay.sock' });
    relay.start(new AbortController().signal);
    await expect(relay.ready()).rejects.toThrow(/^simulated relay cannot listen on unix:\/\/\/nonexistent\/dir\/relay\.sock: /);
    await relay.close();
  });
});

describe('exporter service lifecycle', () => {
  function service(relayAddress: string): ExporterService {
    const s = new ExporterService({ relay: { address: relayAddress, backoff: { initialMs: 50, maxMs: 400 } }, ipam: { files: [ipamFile] }, listenAddress: '127.0.0.1:0' });
    cleanups.push(() => s.close());
    return s;
  }

  it('close before start: start resolves without listening or streaming', async () => {
    const { relay, address } = await runningRelay();
    const s = service(address);
    await s.close();
    await s.start(new AbortController().signal);
    await s.ready();
    expect(s.address).toBe('');
    expect(s.app.server.listening).toBe(false);
    expect(s.client.state).toBe('closed');
    expect(relay.streamsOpened).toBe(0);
  });

  it('ready() before start says what to call', async () => {
    const s = service('127.0.0.1:1');
    await expect(s.ready()).rejects.toThrow('the exporter is not started: call start(signal) first');
  });

  it('close twice resolves', async () => {
    const { address } = await runningRelay();
    const s = service(address);
    await s.start(new AbortController().signal);
    await Promise.all([s.close(), s.close()]);
    await s.close();
    expect(s.app.server.listening).toBe(false);
    expect(s.client.state).toBe('closed');
  });

  it('an aborted signal closes the stream, the IPAM sources and the HTTP server', async () => {
    const { relay, address } = await runningRelay();
    const s = service(address);
    const stop = new AbortController();
    void s.start(stop.signal);
    await s.ready();
    expect((await fetch(`${s.address}/healthz`)).status).toBe(200);
    await waitFor(() => s.client.state === 'streaming' && s.pipeline.flows > 0, 'flows through the pipeline');
    stop.abort();
    await s.client.closed();
    await waitFor(() => !s.app.server.listening, 'the HTTP server to close');
    await waitFor(() => relay.openStreams === 0, 'the relay to see the stream cancelled');
  });
});
