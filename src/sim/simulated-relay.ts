import { create, toBinary } from '@bufbuild/protobuf';
import {
  Server,
  ServerCredentials,
  status,
  type ServerUnaryCall,
  type ServerWritableStream,
  type sendUnaryData,
} from '@grpc/grpc-js';
import { lstatSync, unlinkSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { LostEventSchema } from '../gen/flow/flow_pb.js';
import {
  GetFlowsResponseSchema,
  GetNodesResponseSchema,
  NodeSchema,
  ServerStatusResponseSchema,
  type GetFlowsRequest,
  type GetNodesRequest,
  type GetNodesResponse,
  type ServerStatusRequest,
  type ServerStatusResponse,
} from '../gen/observer/observer_pb.js';
import { NodeState, NodeStatusEventSchema } from '../gen/relay/relay_pb.js';
import { observerServerDefinition } from '../ingest/observer-service.js';
import { closeOnAbort, type Lifecycle } from '../lifecycle.js';
import { silentLogger, type Logger } from '../log.js';
import { socketPathOf } from '../ingest/errors.js';
import { AgentShare } from './agent-share.js';
import { flowPasses, unsupportedFilterFields } from './flow-filter.js';
import { InvalidFieldMaskError, maskFlow, maskTree, type MaskTree } from './hubble-field-mask.js';
import { ScenarioModel, type Scenario } from './scenario.js';

export interface SimulatedRelayTls {
  /** PEM server certificate and key. */
  cert: Buffer;
  key: Buffer;
  /** PEM CA that client certificates must chain to; set to require mTLS. */
  clientCa?: Buffer;
}

export interface SimulatedRelayOptions {
  /** The flows, nodes and events to serve (required). */
  scenario: Scenario;
  /** Wall-clock time of flow 0, ms since the epoch. A restarted relay given the same epoch replays the same history. Default: now. */
  epochMs?: number;
  /** `host:port` (port 0 picks one) or `unix:///path` that `start` binds. Default `127.0.0.1:0`. */
  address?: string;
  /** Serve TLS (mTLS with `clientCa`). Default: plaintext. */
  tls?: SimulatedRelayTls;
  /** Default: silent. */
  logger?: Logger;
  /**
   * Serve as this node's Hubble agent instead of as Relay: a bare node name of
   * the scenario. The agent sends exactly the flows the relay sends as
   * observed on that node (the same flows, bytes for bytes), that node's
   * LostEvents, and no node status; its ServerStatus counts its own share and
   * leaves the node counts unset; GetNodes is UNIMPLEMENTED. Default: Relay.
   */
  agentNode?: string;
}

/** Where `start` binds when no address is given: loopback, a free port. */
export const DEFAULT_SIMULATED_RELAY_ADDRESS = '127.0.0.1:0';

/** Encoded flows by index for one field mask, kept for the buffer's span so replays cost nothing. */
class EncodedFlows {
  readonly bytes: Array<Uint8Array | undefined>;
  readonly index: Float64Array;

  constructor(
    capacity: number,
    /** The normalised mask; undefined: whole flows. */
    readonly mask: MaskTree | undefined,
  ) {
    this.bytes = new Array(capacity);
    this.index = new Float64Array(capacity).fill(-1);
  }
}

/** The version a simulated agent reports in ServerStatus. */
export const SIMULATED_AGENT_VERSION = 'hubble-ipam-exporter simulated agent';

/** What Cilium's agent answers to GetNodes (pkg/hubble/observer/local_observer.go: `codes.Unimplemented, "GetNodes not implemented"`). */
export const AGENT_GET_NODES_DETAILS = 'GetNodes not implemented';

/** Distinct field masks whose encoded flows are kept; a request with another one encodes without keeping. */
const MAX_CACHED_MASKS = 4;

interface Fault {
  afterFlows: number;
  code: status;
  details: string;
}

/**
 * A Hubble Relay stand-in: a real grpc-js server implementing
 * `observer.Observer` over a deterministic scenario. It honours `since`,
 * `until`, `number`, `first`, `follow`, a subset of the flow filters and
 * field masks (`field_mask`, or `experimental.field_mask` when that is empty)
 * as Hubble applies them, streams at the scenario's pace, and respects
 * HTTP/2 backpressure.
 *
 * Lifecycle (src/lifecycle.ts): `start(signal)` begins binding and returns at
 * once; `ready()` resolves with the bound address (its first result) or
 * rejects naming the address it could not bind; streams run in the
 * background until `close()` or the signal. `listen(address)` is the short
 * form for callers that stop it with `close()`: start without a signal, then
 * ready. `close()` is safe before start and twice.
 *
 * Tests learn that a stream has sent everything from `streamsSentAll`, and
 * that everything sent before has arrived from `sendMarker`.
 *
 * With `agentNode` it is one Cilium agent's Hubble server instead (what
 * per-node mode reads on `unix:///var/run/cilium/hubble.sock`), as Cilium's
 * LocalObserverServer (pkg/hubble/observer/local_observer.go) behaves:
 * GetFlows sends that node's flows and LostEvents, never node status;
 * ServerStatus sets version, max/num/seen flows, uptime and flows rate and
 * leaves num_connected_nodes / num_unavailable_nodes unset; GetNodes answers
 * UNIMPLEMENTED. A unix socket file left by an earlier run is removed before
 * binding, as Cilium's WithUnixSocketListener unlinks it
 * (pkg/hubble/server/serveroption/option_linux.go), and removed at close.
 */
export class SimulatedRelay implements Lifecycle {
  readonly model: ScenarioModel;
  private readonly server = new Server();
  private readonly address: string;
  private bound: Promise<string> | undefined;
  private readonly log: Logger;
  private readonly startedAt = Date.now();
  private readonly nodeStates = new Map<string, NodeState>();
  private readonly calls = new Set<ServerWritableStream<GetFlowsRequest, Uint8Array>>();
  private fault: Fault | undefined; // applies to the next GetFlows stream only
  // Encoded flows per field mask ('' : no mask).
  private readonly caches = new Map<string, EncodedFlows>();
  private closed = false;
  /** Set in agent mode: the node whose agent this is. */
  private readonly agent: AgentShare | undefined;
  /** The unix socket file this server created (path and inode), removed at close unless another server has replaced it. */
  private socketFile: { path: string; ino: number } | undefined;
  /** ServerStatus calls answered. */
  serverStatusCalls = 0;
  /** Flows written to any stream. */
  flowsSent = 0;
  /** GetFlows calls received. */
  streamsOpened = 0;
  /** Times a stream waited because its client was not reading. */
  backpressureWaits = 0;
  /**
   * GetFlows streams that have written every flow of their range (a finite
   * scenario's last flow, or `until`/`number`): nothing more comes on them.
   */
  streamsSentAll = 0;

  constructor(private readonly opts: SimulatedRelayOptions) {
    this.model = new ScenarioModel(opts.scenario, opts.epochMs ?? Date.now());
    this.address = opts.address ?? DEFAULT_SIMULATED_RELAY_ADDRESS;
    this.log = opts.logger ?? silentLogger;
    this.agent = opts.agentNode === undefined ? undefined : new AgentShare(this.model, opts.agentNode, this.capacity);
    this.caches.set('', new EncodedFlows(this.capacity, undefined));
    if (!this.agent) for (const n of opts.scenario.nodes) this.nodeStates.set(this.model.wireNodeName(n.name), NodeState.NODE_CONNECTED);
    this.server.addService(observerServerDefinition, {
      GetFlows: (call: ServerWritableStream<GetFlowsRequest, Uint8Array>) => void this.getFlows(call),
      GetNodes: (call: ServerUnaryCall<GetNodesRequest, GetNodesResponse>, cb: sendUnaryData<GetNodesResponse>) =>
        this.agent ? cb({ code: status.UNIMPLEMENTED, details: AGENT_GET_NODES_DETAILS }) : cb(null, this.nodes()),
      ServerStatus: (call: ServerUnaryCall<ServerStatusRequest, ServerStatusResponse>, cb: sendUnaryData<ServerStatusResponse>) => {
        this.serverStatusCalls++;
        cb(null, this.agent ? this.agentStatus(this.agent) : this.status());
      },
    });
  }

  /** GetFlows streams open now. */
  get openStreams(): number {
    return this.calls.size;
  }

  get capacity(): number {
    return this.opts.scenario.bufferCapacity ?? 65_536;
  }

  /** In agent mode, the agent's node as Hubble names it (`cluster/node`); undefined for a relay. */
  get agentNodeName(): string | undefined {
    return this.agent?.wireName;
  }

  /** Begins binding the `address` option and returns at once; stops when `signal` aborts. See `ready()`. */
  start(signal: AbortSignal): void {
    if (this.bound || this.closed) return;
    this.bound = this.bind(this.address);
    // Reported by ready(); unobserved, a failed bind must not crash the process.
    this.bound.catch(() => {});
    closeOnAbort(signal, () => this.close());
  }

  /** The bound address (port 0 resolved) once listening; rejects if binding failed, or if closed before start. */
  ready(): Promise<string> {
    if (this.bound) return this.bound;
    return Promise.reject(new Error(this.closed ? 'simulated relay is closed' : 'simulated relay not started: call start(signal) first'));
  }

  /** `start` on `address` (default: the `address` option) without a signal, then `ready()`: for callers that stop it with `close()`. */
  listen(address: string = this.address): Promise<string> {
    if (!this.bound && !this.closed) {
      this.bound = this.bind(address);
      this.bound.catch(() => {});
    }
    return this.ready();
  }

  private bind(address: string): Promise<string> {
    const socket = socketPathOf(address);
    if (socket !== undefined) {
      try {
        removeStaleSocket(socket);
      } catch (e) {
        return Promise.reject(new Error(`simulated relay cannot listen on ${address}: ${(e as Error).message}`));
      }
    }
    const creds = this.opts.tls
      ? ServerCredentials.createSsl(this.opts.tls.clientCa ?? null, [{ cert_chain: this.opts.tls.cert, private_key: this.opts.tls.key }], Boolean(this.opts.tls.clientCa))
      : ServerCredentials.createInsecure();
    return new Promise((resolve, reject) => {
      this.server.bindAsync(address, creds, (err, port) => {
        if (err) return reject(new Error(`simulated relay cannot listen on ${address}: ${err.message}`));
        const bound = address.startsWith('unix:') ? address : `${address.slice(0, address.lastIndexOf(':'))}:${port}`;
        if (socket !== undefined) this.socketFile = { path: socket, ino: inodeOf(socket) };
        if (this.closed) this.removeSocketFile();
        this.log.info(this.agent ? 'simulated agent listening' : 'simulated relay listening', { address: bound, ...(this.agent ? { node: this.agent.wireName } : {}) });
        resolve(bound);
      });
    });
  }

  /** Stops at once, cutting open streams (as a relay that dies would). Safe before start and twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.server.forceShutdown();
    this.removeSocketFile();
  }

  private removeSocketFile(): void {
    const file = this.socketFile;
    this.socketFile = undefined;
    if (file === undefined) return;
    try {
      if (inodeOf(file.path) === file.ino) removeStaleSocket(file.path);
    } catch (e) {
      this.log.warn('simulated relay cannot remove its socket file', { file: file.path, error: (e as Error).message });
    }
  }

  /**
   * Writes a node-status event carrying `message` (no node names, no state
   * change) on every open GetFlows stream, after everything written before
   * it: a client that has seen it has seen every earlier message. Tests send
   * it once `streamsSentAll` says a stream is done, then wait for it to
   * prove that nothing more arrives. Returns the number of streams written to.
   * An agent sends it too (a real agent never sends node status: this marker,
   * with no node names and no state change, is the test seam's one exception).
   */
  sendMarker(message: string): number {
    const bytes = toBinary(
      GetFlowsResponseSchema,
      create(GetFlowsResponseSchema, {
        responseTypes: { case: 'nodeStatus', value: create(NodeStatusEventSchema, { stateChange: NodeState.UNKNOWN_NODE_STATE, nodeNames: [], message }) },
        time: nowTimestamp(),
      }),
    );
    for (const call of this.calls) call.write(bytes);
    return this.calls.size;
  }

  /** The next GetFlows stream ends with `code` after sending `afterFlows` flows. */
  injectFault(afterFlows: number, code: status = status.UNAVAILABLE, details = 'simulated relay fault'): void {
    this.fault = { afterFlows, code, details };
  }

  clearFault(): void {
    this.fault = undefined;
  }

  /** Reports a node state change on every open stream and in GetNodes/ServerStatus. Relay only: agents send no node status. */
  setNodeState(nodes: string[], state: NodeState, message = ''): void {
    if (this.agent) throw new Error(`setNodeState: the simulated agent of ${this.agent.wireName} sends no node status (only Relay does)`);
    for (const n of nodes) this.nodeStates.set(n, state);
    const bytes = toBinary(
      GetFlowsResponseSchema,
      create(GetFlowsResponseSchema, {
        responseTypes: { case: 'nodeStatus', value: create(NodeStatusEventSchema, { stateChange: state, nodeNames: nodes, message }) },
        time: nowTimestamp(),
      }),
    );
    for (const call of this.calls) call.write(bytes);
  }

  /** The encoded flows for a request's field mask; throws InvalidFieldMaskError for a mask Hubble would refuse. */
  private flowsFor(req: GetFlowsRequest): EncodedFlows {
    const paths = req.fieldMask !== undefined && req.fieldMask.paths.length > 0 ? req.fieldMask.paths : (req.experimental?.fieldMask?.paths ?? []);
    if (paths.length === 0) return this.caches.get('')!;
    const tree = maskTree(paths);
    const key = JSON.stringify([...paths].sort());
    let c = this.caches.get(key);
    if (c === undefined) {
      c = new EncodedFlows(this.capacity, tree);
      if (this.caches.size <= MAX_CACHED_MASKS) this.caches.set(key, c);
    }
    return c;
  }

  private encodedFlow(i: number, c: EncodedFlows): Uint8Array {
    const slot = i % c.bytes.length;
    if (c.index[slot] === i) return c.bytes[slot]!;
    const whole = this.model.flowAt(i);
    // Hubble takes the response's time and node_name from the flow as masked.
    if (this.agent && whole.nodeName !== this.agent.wireName) {
      throw new Error(`simulated agent of ${this.agent.wireName} generated flow ${i} observed on ${whole.nodeName}: AgentShare.isLocal no longer follows ScenarioModel.flowAt`);
    }
    const flow = c.mask === undefined ? whole : maskFlow(whole, c.mask);
    const bytes = toBinary(
      GetFlowsResponseSchema,
      create(GetFlowsResponseSchema, { responseTypes: { case: 'flow', value: flow }, nodeName: flow.nodeName, time: flow.time }),
    );
    c.bytes[slot] = bytes;
    c.index[slot] = i;
    return bytes;
  }

  private async getFlows(call: ServerWritableStream<GetFlowsRequest, Uint8Array>): Promise<void> {
    this.streamsOpened++;
    const req = call.request;
    const bad = [...req.whitelist, ...req.blacklist].flatMap(unsupportedFilterFields);
    if (bad.length > 0) {
      call.emit('error', { code: status.INVALID_ARGUMENT, details: `simulated relay does not support filter fields: ${[...new Set(bad)].join(', ')}` });
      return;
    }
    let encoded: EncodedFlows;
    try {
      encoded = this.flowsFor(req);
    } catch (e) {
      if (!(e instanceof InvalidFieldMaskError)) throw e;
      call.emit('error', { code: status.INVALID_ARGUMENT, details: e.message });
      return;
    }
    const filtered = req.whitelist.length > 0 || req.blacklist.length > 0;
    const m = this.model;
    const number = Number(req.number);
    const now = m.availableAt(Date.now());
    const oldest = Math.max(0, now - this.capacity);
    const agent = this.agent;
    const passes = filtered ? (i: number) => flowPasses(m.flowAt(i), req.whitelist, req.blacklist) : undefined;
    let start: number;
    if (req.since) start = Math.max(oldest, m.indexAtOrAfter(Number(req.since.seconds), req.since.nanos));
    else if (number > 0) start = req.first ? oldest : agent ? agent.startOfLast(number, oldest, now, passes) : Math.max(oldest, now - number);
    else start = req.follow ? now : oldest;
    let end = req.follow ? m.total : now;
    if (req.until) end = Math.min(end, m.indexAfter(Number(req.until.seconds), req.until.nanos));
    // The relay's range is in flow indexes; an agent counts the flows it sends (its own share, as Hubble counts).
    let limit = Number.POSITIVE_INFINITY;
    if (number > 0 && (req.first || !req.follow)) {
      if (agent) limit = number;
      else end = Math.min(end, start + number);
    }

    let cancelled = false;
    const abort = new AbortController();
    call.on('cancelled', () => {
      cancelled = true;
      abort.abort();
    });
    call.on('close', () => abort.abort());
    this.calls.add(call);
    const fault = this.fault;
    this.fault = undefined;
    let sentHere = 0;
    try {
      // Relay opens every stream with the state of its nodes; an agent sends none.
      const connected = [...this.nodeStates].filter(([, s]) => s === NodeState.NODE_CONNECTED).map(([n]) => n);
      if (!agent) call.write(
        toBinary(
          GetFlowsResponseSchema,
          create(GetFlowsResponseSchema, {
            responseTypes: { case: 'nodeStatus', value: create(NodeStatusEventSchema, { stateChange: NodeState.NODE_CONNECTED, nodeNames: connected }) },
            time: nowTimestamp(),
          }),
        ),
      );
      for (let i = start; i < end && !cancelled && sentHere < limit; i++) {
        // Pace: flow i goes out once its wall-clock time has come.
        for (let due = m.wallMsOf(i) - Date.now(); due > 0 && !cancelled; due = m.wallMsOf(i) - Date.now()) {
          await sleep(Math.min(due, 1000) + 1, undefined, { signal: abort.signal }).catch(() => {});
        }
        if (cancelled || this.closed) return;
        if (!agent) {
          for (const ev of m.nodeEventsBefore(i) ?? []) {
            this.setNodeState(ev.nodes.map((n) => m.wireNodeName(n)), NodeState[ev.state], ev.message ?? '');
          }
        }
        const lost = m.lostEventBefore(i);
        if (lost && (!agent || lost.node === agent.wireName)) {
          const t = m.timeOf(i);
          call.write(
            toBinary(
              GetFlowsResponseSchema,
              create(GetFlowsResponseSchema, {
                responseTypes: { case: 'lostEvents', value: create(LostEventSchema, { source: lost.source, numEventsLost: BigInt(lost.count) }) },
                nodeName: lost.node,
                time: { seconds: BigInt(t.seconds), nanos: t.nanos },
              }),
            ),
          );
        }
        if (agent && !agent.isLocal(i)) continue;
        if (passes !== undefined && !passes(i)) continue;
        if (fault && sentHere >= fault.afterFlows) {
          call.emit('error', { code: fault.code, details: fault.details });
          return;
        }
        const ok = call.write(this.encodedFlow(i, encoded));
        sentHere++;
        this.flowsSent++;
        if (!ok) {
          this.backpressureWaits++;
          await waitDrain(call, abort.signal);
        }
      }
      if (cancelled || this.closed) return;
      this.streamsSentAll++;
      this.log.info('simulated relay stream sent every flow of its range', { flows: sentHere, flowsSent: this.flowsSent });
      // A real relay never ends a follow stream: it idles until the client goes.
      if (req.follow && !cancelled && !this.closed) await new Promise<void>((r) => abort.signal.addEventListener('abort', () => r(), { once: true }));
      if (!cancelled && !this.closed) call.end();
    } catch (e) {
      this.log.warn('simulated relay stream failed', { error: (e as Error).message });
      if (!cancelled) call.emit('error', { code: status.INTERNAL, details: (e as Error).message });
    } finally {
      this.calls.delete(call);
    }
  }

  private nodes(): GetNodesResponse {
    return create(GetNodesResponseSchema, {
      nodes: [...this.nodeStates].map(([name, state]) =>
        create(NodeSchema, { name, state, version: 'simulated', address: `${name}:4244`, numFlows: BigInt(Math.min(this.capacity, this.available())), maxFlows: BigInt(this.capacity) }),
      ),
    });
  }

  private available(): number {
    return this.model.availableAt(Date.now());
  }

  /** ServerStatus as Cilium's agent fills it: its own flows; no node counts (pkg/hubble/observer/local_observer.go). */
  private agentStatus(agent: AgentShare): ServerStatusResponse {
    const nowMs = Date.now();
    const seen = this.model.availableAt(nowMs);
    const oldest = Math.max(0, seen - this.capacity);
    const mine = agent.localBefore(seen);
    const lastSecond = mine - agent.localBefore(Math.max(oldest, this.model.availableAt(nowMs - 1000)));
    return create(ServerStatusResponseSchema, {
      numFlows: BigInt(mine - agent.localBefore(oldest)),
      maxFlows: BigInt(this.capacity),
      seenFlows: BigInt(mine),
      uptimeNs: BigInt(nowMs - this.startedAt) * 1_000_000n,
      version: SIMULATED_AGENT_VERSION,
      flowsRate: lastSecond,
    });
  }

  private status(): ServerStatusResponse {
    const seen = this.available();
    const states = [...this.nodeStates];
    const unavailable = states.filter(([, s]) => s !== NodeState.NODE_CONNECTED).map(([n]) => n);
    return create(ServerStatusResponseSchema, {
      numFlows: BigInt(Math.min(seen, this.capacity)),
      maxFlows: BigInt(this.capacity),
      seenFlows: BigInt(seen),
      uptimeNs: BigInt(Date.now() - this.startedAt) * 1_000_000n,
      numConnectedNodes: states.length - unavailable.length,
      numUnavailableNodes: unavailable.length,
      unavailableNodes: unavailable,
      version: 'hubble-ipam-exporter simulated relay',
      flowsRate: this.opts.scenario.flowsPerSecond,
    });
  }
}

/** Removes a unix socket file if one is there (a regular file or a directory is left alone: binding then fails naming it). */
function removeStaleSocket(path: string): void {
  let isSocket: boolean;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  if (!isSocket) throw new Error(`${path} exists and is not a socket: remove it or choose another path`);
  unlinkSync(path);
}

/** The inode of `path`, -1 when there is none. */
function inodeOf(path: string): number {
  try {
    return lstatSync(path).ino;
  } catch {
    return -1;
  }
}

function nowTimestamp() {
  const ms = Date.now();
  return { seconds: BigInt(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1e6 };
}

function waitDrain(call: ServerWritableStream<GetFlowsRequest, Uint8Array>, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      call.off('drain', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    call.once('drain', done);
    signal.addEventListener('abort', done, { once: true });
  });
}
