import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, writeFileSync } from 'node:fs';
import { type Server as NetServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { create } from '@bufbuild/protobuf';
import { Client, credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { GetFlowsRequestSchema } from '../src/gen/observer/observer_pb.js';
import { AGENT_SOCKET_HINT, RelayError } from '../src/ingest/errors.js';
import { deserializer, paths, rawBytes, serializer } from '../src/ingest/observer-service.js';
import { GetFlowsResponseSchema } from '../src/gen/observer/observer_pb.js';
import { RelayClient, type RelayClientOptions } from '../src/ingest/relay-client.js';
import { AgentShare } from '../src/sim/agent-share.js';
import { defaultScenario, ScenarioModel, type Scenario } from '../src/sim/scenario.js';
import { AGENT_GET_NODES_DETAILS, SIMULATED_AGENT_VERSION, SimulatedRelay } from '../src/sim/simulated-relay.js';
import { untilClosed } from './support/lifecycle.js';
import { repoRoot } from './support/paths.js';
import { killCliProcesses, startCli } from './support/processes.js';
import { RecordingSink } from './support/recording-sink.js';
import { everythingDelivered } from './support/relay-marker.js';
import { tempDir } from './support/temp.js';
import { rawServer } from './support/raw-server.js';
import { waitFor } from './support/wait.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  killCliProcesses();
  for (const c of cleanups.splice(0).reverse()) await c();
});

const NODES = ['kind-control-plane', 'kind-worker', 'kind-worker2'] as const;

/**
 * Three flows per tick, one per node (the scenario's rule for flowsPerTick =
 * number of nodes): flow i is observed on node (i mod 3 + floor(i / 3)) mod 3.
 * In 31 flows (ticks 0..9 whole, then flow 30 alone, on node (0 + 10) mod 3 =
 * 1) kind-worker observes 11 and the other two nodes 10 each. LostEvents
 * precede flows 5, 10, …, 30 on nodes[(i / 5) mod 3]: 5 and 20 on
 * kind-worker, 10 and 25 on kind-worker2, 15 and 30 on kind-control-plane:
 * two per node, 7 events each.
 */
function tickScenario(total: number, rate: number, extra: Partial<Scenario> = {}): Scenario {
  return defaultScenario({ totalFlows: total, flowsPerSecond: rate, flowsPerTick: 3, lostEventEvery: 5, lostEventCount: 7, ...extra });
}
const HAND_COUNTS_31 = { 'kind-kind/kind-control-plane': 10, 'kind-kind/kind-worker': 11, 'kind-kind/kind-worker2': 10 };

async function startAgent(scenario: Scenario, epochMs: number, node: string, address: string) {
  const agent = new SimulatedRelay({ scenario, epochMs, agentNode: node });
  const bound = await agent.listen(address);
  cleanups.push(() => agent.close());
  return { agent, address: bound };
}

function startClient(address: string, sink: RecordingSink, opts: Partial<RelayClientOptions> = {}) {
  const errors: RelayError[] = [];
  const client = new RelayClient({ address, backoff: { initialMs: 50, maxMs: 300 }, onStateChange: (_s, e) => e && errors.push(e), ...opts }, sink);
  cleanups.push(() => client.close());
  client.start(untilClosed);
  return { client, errors };
}

/** A socket file with no server behind it, as a Cilium agent that died leaves it: a child process binds it and exits without closing. */
function staleSocket(path: string): void {
  const r = spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => process.exit(0))`], { encoding: 'utf8', timeout: 10_000 });
  expect(r.status, r.stderr).toBe(0);
  expect(lstatSync(path).isSocket()).toBe(true);
}

/** One GetFlows call without follow, with a grpc-js client of its own: the uuids it gets, in order. */
async function getFlowsOnce(address: string, req: Partial<{ number: bigint; first: boolean }>): Promise<string[]> {
  const client = new Client(address, credentials.createInsecure());
  try {
    const call = client.makeServerStreamRequest(paths.getFlows, serializer(GetFlowsRequestSchema), rawBytes.deserialize, create(GetFlowsRequestSchema, req), new Metadata());
    const uuids: string[] = [];
    const decode = deserializer(GetFlowsResponseSchema);
    await new Promise<void>((resolve, reject) => {
      call.on('data', (b: Buffer) => {
        const r = decode(b);
        if (r.responseTypes.case === 'flow') uuids.push(r.responseTypes.value.uuid);
      });
      call.on('error', reject);
      call.on('end', resolve);
    });
    return uuids;
  } finally {
    client.close();
  }
}

describe('the simulated relay as one node’s Hubble agent', () => {
  it('refuses a node the scenario does not have, naming it and the nodes there are', () => {
    expect(() => new SimulatedRelay({ scenario: tickScenario(31, 1000), agentNode: 'kind-worker3' })).toThrow(
      'agent node "kind-worker3" is not a node of the scenario; its nodes are: kind-control-plane, kind-worker, kind-worker2',
    );
    // A Hubble (cluster/node) name is not a scenario node name.
    expect(() => new SimulatedRelay({ scenario: tickScenario(31, 1000), agentNode: 'kind-kind/kind-worker' })).toThrow(/^agent node "kind-kind\/kind-worker" is not a node/);
  });

  it('three agents on unix sockets send, between them, exactly the relay’s flows: each its node’s share, flow for flow', async () => {
    const dir = tempDir('agents');
    const scenario = tickScenario(31, 1000);
    const epoch = Date.now() - 60_000; // the whole history is available at once
    const relay = new SimulatedRelay({ scenario, epochMs: epoch });
    const relayAddress = await relay.listen('127.0.0.1:0');
    cleanups.push(() => relay.close());
    const all = new RecordingSink(true);
    startClient(relayAddress, all, { since: new Date(epoch - 1000) });
    await everythingDelivered(relay, all);
    expect(all.flows).toBe(31);
    expect(all.lostTotal()).toBe(6 * 7);

    const union = new Map<string, unknown>();
    for (const node of NODES) {
      const { agent, address } = await startAgent(scenario, epoch, node, `unix://${join(dir, `${node}.sock`)}`);
      const sink = new RecordingSink(true);
      const { client } = startClient(address, sink, { since: new Date(epoch - 1000) });
      await everythingDelivered(agent, sink);
      const wire = `kind-kind/${node}`;
      expect(sink.flows).toBe(HAND_COUNTS_31[wire as keyof typeof HAND_COUNTS_31]);
      expect(sink.duplicates()).toEqual([]);
      expect([...sink.perNode.keys()]).toEqual([wire]);
      // Two LostEvents per node, named after it; the end marker is the only status event (agents send none).
      expect(sink.lost.map((l) => [l.nodeName, Number(l.ev.numEventsLost)])).toEqual([[wire, 7], [wire, 7]]);
      expect(sink.statuses.map((s) => s.nodeNames.length)).toEqual([0]);
      expect(client.stats.nodes.size).toBe(0);
      for (const f of sink.kept) {
        expect(union.has(f.uuid)).toBe(false);
        union.set(f.uuid, f);
      }
    }
    // The agents' flows partition the relay's: the same uuids, each flow equal field for field.
    expect(new Set(union.keys())).toEqual(new Set(all.keys.keys()));
    for (const f of all.kept) expect(union.get(f.uuid)).toEqual(f);
  });

  it('the agent’s node rule is the scenario’s: every flow of 3000 (one flow per tick) goes to exactly the node flowAt names', () => {
    const model = new ScenarioModel(defaultScenario({ totalFlows: 3000 }), Date.now());
    const shares = NODES.map((n) => new AgentShare(model, n, 4096));
    for (let i = 0; i < 3000; i++) {
      const owners = shares.filter((s) => s.isLocal(i)).map((s) => s.wireName);
      expect(owners).toEqual([model.flowAt(i).nodeName]);
    }
    expect(shares.reduce((a, s) => a + s.localBefore(3000), 0)).toBe(3000);
  });

  it('ServerStatus counts only the agent’s share and leaves the node counts unset; GetNodes is UNIMPLEMENTED, as Cilium’s agent answers', async () => {
    const dir = tempDir('agent-status');
    const epoch = Date.now() - 60_000;
    const { address } = await startAgent(tickScenario(31, 1000, { bufferCapacity: 1000 }), epoch, 'kind-worker', `unix://${join(dir, 'hubble.sock')}`);
    const client = new RelayClient({ address }, new RecordingSink());
    cleanups.push(() => client.close());
    const st = await client.serverStatus();
    expect(Number(st.seenFlows)).toBe(11);
    expect(Number(st.numFlows)).toBe(11);
    expect(Number(st.maxFlows)).toBe(1000);
    expect(st.numConnectedNodes).toBeUndefined();
    expect(st.numUnavailableNodes).toBeUndefined();
    expect(st.unavailableNodes).toEqual([]);
    expect(st.version).toBe(SIMULATED_AGENT_VERSION);
    expect(st.uptimeNs).toBeGreaterThan(0n);
    const err = await client.getNodes().then(
      () => undefined,
      (e: RelayError) => e,
    );
    expect(err?.code).toBe(status.UNIMPLEMENTED);
    expect(err?.message).toBe(`relay call failed (relay ${address}): UNIMPLEMENTED: ${AGENT_GET_NODES_DETAILS}`);
  });

  it('first/number count the agent’s own flows (kind-worker observes flows 1, 3, 8, 10, …, 26, 28, 30)', async () => {
    // Tick t holds flows 3t..3t+2; kind-worker's is the k with (k + t) mod 3 = 1:
    // t=0 → 1, t=1 → 3, t=2 → 8, t=3 → 10; t=8 → 26, t=9 → 28, t=10 → 30.
    const dir = tempDir('agent-number');
    const scenario = tickScenario(31, 1000);
    const epoch = Date.now() - 60_000;
    const { agent, address } = await startAgent(scenario, epoch, 'kind-worker', `unix://${join(dir, 'hubble.sock')}`);
    const uuid = (i: number) => agent.model.flowAt(i).uuid;
    expect(await getFlowsOnce(address, { number: 4n, first: true })).toEqual([1, 3, 8, 10].map(uuid));
    expect(await getFlowsOnce(address, { number: 3n })).toEqual([26, 28, 30].map(uuid));
  });

  it('the exporter’s client resumes exactly once across an agent restart on the same socket (same epoch)', async () => {
    const dir = tempDir('agent-restart');
    const address = `unix://${join(dir, 'hubble.sock')}`;
    // 3000 flows, three per tick, one per node: kind-worker2 observes exactly 1000.
    const scenario = tickScenario(3000, 3000, { lostEventEvery: 0 });
    const epoch = Date.now();
    const first = await startAgent(scenario, epoch, 'kind-worker2', address);
    const sink = new RecordingSink();
    const { client } = startClient(address, sink, { since: new Date(epoch - 1000) });
    await waitFor(() => sink.flows >= 300, '300 flows before the restart', 15_000, () => sink.flows);
    await first.agent.close();
    expect(existsSync(join(dir, 'hubble.sock'))).toBe(false);
    await waitFor(() => client.state === 'backoff', 'the client noticing the agent gone');
    const second = await startAgent(scenario, epoch, 'kind-worker2', address);
    await everythingDelivered(second.agent, sink);
    expect(sink.duplicates()).toEqual([]);
    expect(sink.keys.size).toBe(1000);
    expect(sink.flows).toBe(1000);
    expect([...sink.perNode.keys()]).toEqual(['kind-kind/kind-worker2']);
    expect(client.stats.reconnects).toBeGreaterThanOrEqual(1);
  });

  it('the connect-deadline probe (ServerStatus) keeps a quiet agent stream: an agent with nothing to send yet', async () => {
    const dir = tempDir('agent-quiet');
    // Flow 0 is a minute away: the agent sends nothing, not even response headers.
    const { agent, address } = await startAgent(tickScenario(30, 1000), Date.now() + 60_000, 'kind-worker', `unix://${join(dir, 'hubble.sock')}`);
    const sink = new RecordingSink();
    const { client } = startClient(address, sink, { connectTimeoutMs: 200 });
    await waitFor(() => client.state === 'streaming', 'the stream to count as answered', 10_000, () => client.state);
    expect(agent.serverStatusCalls).toBe(1);
    expect(agent.flowsSent).toBe(0);
    expect(client.stats.connectAttempts).toEqual({ ok: 1, timeout: 0, error: 0 });
    expect(agent.openStreams).toBe(1);
  });

  it('replaces a socket file left by an earlier run, and removes its own at close', async () => {
    const dir = tempDir('agent-stale');
    const path = join(dir, 'hubble.sock');
    staleSocket(path);
    const epoch = Date.now() - 60_000;
    const { agent, address } = await startAgent(tickScenario(31, 1000), epoch, 'kind-control-plane', `unix://${path}`);
    const sink = new RecordingSink();
    startClient(address, sink, { since: new Date(epoch - 1000) });
    await everythingDelivered(agent, sink);
    expect(sink.flows).toBe(10);
    await agent.close();
    expect(existsSync(path)).toBe(false);
  });

  it('refuses to replace a file that is not a socket', async () => {
    const dir = tempDir('agent-file');
    const path = join(dir, 'hubble.sock');
    writeFileSync(path, 'not a socket');
    const agent = new SimulatedRelay({ scenario: tickScenario(31, 1000), agentNode: 'kind-worker' });
    cleanups.push(() => agent.close());
    await expect(agent.listen(`unix://${path}`)).rejects.toThrow(`simulated relay cannot listen on unix://${path}: ${path} exists and is not a socket: remove it or choose another path`);
    expect(existsSync(path)).toBe(true);
  });
});

describe('simulate-relay --agent-node', () => {
  it('says it acts as that node’s agent, serves its share on a unix socket (replacing a stale file) and removes the socket when stopped', async () => {
    const dir = tempDir('agent-cli');
    const path = join(dir, 'hubble.sock');
    staleSocket(path);
    const scenarioFile = join(dir, 'scenario.yaml');
    writeFileSync(scenarioFile, 'flowsPerTick: 3\n');
    const sim = startCli(['simulate-relay', '--agent-node', 'kind-worker', '--listen', `unix://${path}`, '--scenario', scenarioFile, '--total', '300', '--rate', '3000']);
    await sim.waitForOutput(/simulated Hubble agent of node kind-kind\/kind-worker \(its share of the scenario\) on unix:\/\/\S+/, 'the agent to say where it listens');
    expect(sim.stdout()).toContain(`serve --node-name kind-worker --relay-address unix://${path} `);
    const sink = new RecordingSink();
    startClient(`unix://${path}`, sink, { since: new Date(Date.now() - 60_000) });
    const [, sent] = await sim.waitForOutput(/msg="simulated relay stream sent every flow of its range" flows=(\d+)/, 'the agent to send every flow');
    // 300 flows, three per tick, one per node: 100 on kind-worker.
    expect(Number(sent)).toBe(100);
    await waitFor(() => sink.flows >= 100, '100 flows from the child agent');
    expect(sink.keys.size).toBe(100);
    expect([...sink.perNode.keys()]).toEqual(['kind-kind/kind-worker']);
    sim.child.kill('SIGTERM');
    expect(await sim.exited()).toBe(0);
    expect(existsSync(path)).toBe(false);
  });

  it('names the node it does not know and the nodes there are', async () => {
    const sim = startCli(['simulate-relay', '--agent-node', 'nope', '--listen', '127.0.0.1:0']);
    await sim.exited();
    expect(sim.stderr()).toContain('agent node "nope" is not a node of the scenario; its nodes are: kind-control-plane, kind-worker, kind-worker2');
  });
});

describe('what an operator sees when the agent socket is not usable', () => {
  async function firstError(address: string, opts: Partial<RelayClientOptions> = {}): Promise<string> {
    const { client, errors } = startClient(address, new RecordingSink(), opts);
    await waitFor(() => errors.length >= 2, 'two failed attempts', 10_000, () => client.state);
    expect(client.state).not.toBe('closed');
    expect(errors[1]!.message).toBe(errors[0]!.message);
    expect(errors[0]!.retryable).toBe(true);
    expect(client.stats.connectAttempts.ok).toBe(0);
    return errors[0]!.message;
  }

  /** A unix-socket server that does `onSocket` with each connection. */
  async function unixServer(path: string, onSocket: (s: Socket) => void): Promise<NetServer> {
    const { server, close } = await rawServer(path, onSocket);
    cleanups.push(close);
    return server;
  }

  const deploy = 'see docs/deploy.md "Per-node mode"';

  it('the socket does not exist: the agent not running, Hubble disabled, or /var/run/cilium not mounted', async () => {
    const path = join(tempDir('agent-missing'), 'hubble.sock');
    expect(await firstError(`unix://${path}`)).toBe(
      `agent socket ${path} does not exist (relay unix://${path}): Cilium's agent is not running on this node, Hubble is disabled in it (enable-hubble), ` +
        `or the host's /var/run/cilium is not mounted into this pod (a hostPath volume of /var/run/cilium, where the agent creates hubble.sock). ` +
        `Check that cilium-agent runs on this node and the pod's volumes; ${deploy}`,
    );
  });

  it('a socket file with nothing behind it (an agent that stopped): says so', async () => {
    const path = join(tempDir('agent-refused'), 'hubble.sock');
    staleSocket(path);
    expect(await firstError(`unix://${path}`)).toBe(
      `nothing listens on agent socket ${path} (relay unix://${path}): the file is left over from a Cilium agent that stopped; the agent replaces it when it starts. Check that cilium-agent runs on this node`,
    );
  });

  it('permission denied: names the cilium group, supplementalGroups and the root overlay', async () => {
    const dir = tempDir('agent-perm');
    const path = join(dir, 'hubble.sock');
    await startAgent(tickScenario(31, 1000), Date.now(), 'kind-worker', `unix://${path}`);
    chmodSync(path, 0o000);
    const expected =
      `permission denied on agent socket ${path} (relay unix://${path}): Cilium's agent makes hubble.sock mode 0660, owner root, group "cilium" when its container ` +
      `has a group of that name, else root. If the socket's group is not root, add its GID (stat -c %g /var/run/cilium/hubble.sock on the node) to the pod's ` +
      `securityContext.supplementalGroups (deploy/overlays/per-node); if it is root, add group 0 instead (deploy/overlays/per-node-root: the pod stays non-root); ${deploy}`;
    if (process.getuid?.() !== 0) {
      expect(await firstError(`unix://${path}`)).toBe(expected);
      return;
    }
    // Running as root, chmod stops nothing: a grpc-js client in a child process running as nobody
    // (uid 65534) meets the real EACCES, and its error goes through the same mapping.
    chmodSync(dir, 0o755);
    const script =
      `const { Client, credentials, Metadata } = require('@grpc/grpc-js');` +
      `const c = new Client(process.argv[1], credentials.createInsecure());` +
      `c.makeUnaryRequest('${paths.serverStatus}', () => Buffer.alloc(0), (b) => b, {}, new Metadata(), { deadline: Date.now() + 5000 },` +
      ` (e) => { c.close(); process.stdout.write(JSON.stringify({ code: e && e.code, details: e && e.details })); });`;
    // This Node if nobody may run it, else the system's (a Node unpacked into a private temporary
    // directory, as .ci/run does for Node 24, cannot be run as another user): only the error matters.
    const asNobody = { cwd: repoRoot, uid: 65534, gid: 65534, encoding: 'utf8' as const, timeout: 10_000 };
    const node = [process.execPath, '/usr/bin/node', '/usr/local/bin/node'].find((bin) => existsSync(bin) && spawnSync(bin, ['-e', '0'], asNobody).status === 0);
    expect(node, 'a node binary that uid 65534 can run').toBeDefined();
    const r = spawnSync(node!, ['-e', script, `unix://${path}`], asNobody);
    expect(r.status, r.stderr).toBe(0);
    const seen = JSON.parse(r.stdout) as { code: number; details: string };
    expect(seen.details).toContain(`EACCES ${path}`);
    const e = Object.assign(new Error(seen.details), { code: seen.code, details: seen.details, metadata: new Metadata() }) as ServiceError;
    const mapped = RelayError.from(e, `unix://${path}`);
    expect(mapped.message).toBe(expected);
    expect(mapped.retryable).toBe(true);
  });

  it('something that does not speak gRPC on the socket: names the socket and Hubble’s path', async () => {
    const path = join(tempDir('agent-garbage'), 'hubble.sock');
    await unixServer(path, (s) => s.end('garbage, not HTTP/2\r\n'));
    expect(await firstError(`unix://${path}`)).toBe(`${path} does not speak HTTP/2 gRPC (relay unix://${path}) ${AGENT_SOCKET_HINT}`);
  });

  it('a socket that accepts and never answers: the connect deadline names Hubble’s socket, not the Relay port', async () => {
    const path = join(tempDir('agent-silent'), 'hubble.sock');
    await unixServer(path, () => {});
    expect(await firstError(`unix://${path}`, { connectTimeoutMs: 200, callTimeoutMs: 200 })).toBe(
      `relay unix://${path} sent no HTTP/2 gRPC answer within 200 ms (connect deadline): a frozen or unreachable relay, or not a gRPC server ${AGENT_SOCKET_HINT}`,
    );
  });
});
