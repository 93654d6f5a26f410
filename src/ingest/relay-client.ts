import { create } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { Client, Metadata, status, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import { LostEventSource, type FlowFilter } from '../gen/flow/flow_pb.js';
import {
  GetFlowsRequestSchema,
  GetNodesRequestSchema,
  GetNodesResponseSchema,
  ServerStatusRequestSchema,
  ServerStatusResponseSchema,
  type GetNodesResponse,
  type ServerStatusResponse,
} from '../gen/observer/observer_pb.js';
import { NodeState } from '../gen/relay/relay_pb.js';
import { closeOnAbort, type Lifecycle } from '../lifecycle.js';
import { RateLimitedLog, silentLogger, type Logger } from '../log.js';
import { Backoff, type BackoffOptions } from '../util/backoff.js';
import { addressHint, RelayError } from './errors.js';
import { DEFAULT_FUTURE_TOLERANCE_MS, FutureGuard } from './future-guard.js';
import { deserializer, paths, rawBytes, serializer } from './observer-service.js';
import { KIND_FLOW, KIND_LOST_EVENTS, KIND_NODE_STATUS, ResponseDecoder, peekNodeName, type FlowResponseDecoder } from './response-decoder.js';
import { WireDecoder } from './wire-decoder.js';
import { exporterFieldMask } from './field-mask.js';
import { ResumeWindow } from './resume-window.js';
import type { FlowSink } from './sink.js';
import { relayCredentials, type TlsOptions } from './tls.js';

export type RelayState = 'idle' | 'connecting' | 'streaming' | 'backoff' | 'closed';

export interface RelayClientOptions {
  /** `host:port`, or `unix:///var/run/cilium/hubble.sock` for one agent's Hubble server. */
  address: string;
  tls?: TlsOptions;
  /** Server-side filters: a flow is sent when any whitelist filter matches. */
  whitelist?: FlowFilter[];
  /** Server-side filters: a flow is not sent when any blacklist filter matches. */
  blacklist?: FlowFilter[];
  /** Start the first stream from this time (Relay's buffer permitting). Default: new flows only. */
  since?: Date;
  backoff?: Partial<BackoffOptions>;
  /** How far before the newest delivered flow a resumed stream starts, ms. Default 2000. */
  resumeOverlapMs?: number;
  /** Events remembered to recognise replays after a reconnect. Default 262144. */
  resumeMemory?: number;
  /**
   * HTTP/2 flow-control window, bytes: how far Relay may run ahead of us per
   * stream (a paused stream blocks Relay after this much). grpc-js's own
   * default is 64 KiB, which keeps Relay's writes small and slow. Default 4 MiB.
   */
  flowControlWindowBytes?: number;
  /** Deadline of the unary calls (ServerStatus, GetNodes, the connect-deadline probe), ms. Default 5000. */
  callTimeoutMs?: number;
  /**
   * Connect deadline, ms: an attempt that has no answer (response headers or
   * a first message) by then asks the same channel for its ServerStatus
   * (deadline: the smaller of this and callTimeoutMs); a server that answers
   * keeps its quiet stream, one that does not is abandoned, counted as
   * `timeout`, and retried with backoff. Catches a relay that accepts TCP and
   * never answers (frozen, or not a gRPC server). Default 10000.
   */
  connectTimeoutMs?: number;
  /**
   * HTTP/2 keepalive ping interval on an open stream, ms; a ping unanswered
   * for keepaliveTimeoutMs drops the connection and the stream resumes. Pings
   * go out only while a stream is open (keepalive_permit_without_calls off).
   * Relay (grpc-go) counts a ping as a strike only when it has sent nothing
   * since the previous one and it comes sooner than its 5-minute minimum; too
   * many strikes get GOAWAY ENHANCE_YOUR_CALM, which ends the stream and
   * resumes it with nothing lost. Default 30000.
   */
  keepaliveTimeMs?: number;
  /** How long a keepalive ping may go unanswered, ms. Default 10000. */
  keepaliveTimeoutMs?: number;
  /**
   * Largest relay response accepted, bytes: a bigger one is dropped and
   * counted as a decode error (logged with its size and node) and the stream
   * goes on. grpc-js itself accepts up to max(this, 64 MiB); beyond that the
   * call fails and is retried. Default 4194304 (4 MiB, gRPC's usual limit).
   */
  maxMessageBytes?: number;
  /**
   * How far ahead of our clock a flow may be stamped, ms. A flow further
   * ahead (a node with a wrong clock) is counted but moves neither the
   * resume point nor the windows. Default 60000.
   */
  futureToleranceMs?: number;
  /** Wall clock, ms since the epoch. Default Date.now (injectable for tests). */
  clock?: () => number;
  /**
   * How responses are decoded: `wire` reads only the fields attribution uses
   * straight from the bytes (the default); `full` decodes whole messages with
   * protobuf-es first (for comparison and benchmarks).
   */
  decoder?: 'wire' | 'full';
  /**
   * Ask Hubble for only the Flow fields the exporter reads (FLOW_MASK_PATHS),
   * sent as both `field_mask` and `experimental.field_mask` so that Relays
   * before and after Cilium 1.16 apply it; a Relay that ignores it still
   * works. Default true.
   */
  fieldMask?: boolean;
  logger?: Logger;
  /** Called on every state change, with the error that caused it when there is one. */
  onStateChange?: (state: RelayState, error?: RelayError) => void;
}

/** Counters of the stream. Plain numbers, read by the metrics layer. */
export class RelayStats {
  /** Flows handed to the sink (each counted once, replays excluded). */
  flows = 0;
  /** Replayed events recognised and dropped after a reconnect. */
  duplicates = 0;
  /** Responses that could not be decoded (dropped, logged with their node). */
  decodeErrors = 0;
  /** Events lost upstream, by `flow.LostEventSource` name. */
  readonly lostEvents = new Map<string, number>();
  /** Streams started after the first one. */
  reconnects = 0;
  /**
   * Every attempt to open the flow stream, by its outcome: `ok` (the relay
   * answered), `timeout` (no answer by the connect deadline), `error` (failed
   * before answering).
   */
  readonly connectAttempts = { ok: 0, timeout: 0, error: 0 };
  /** Relay responses over maxMessageBytes (also counted in decodeErrors). */
  oversized = 0;
  /** Node name → last `relay.NodeState` reported by the relay. */
  readonly nodes = new Map<string, NodeState>();
  lastError: RelayError | undefined;

  constructor(
    private readonly future: FutureGuard = new FutureGuard(),
    private readonly cuts: () => number = () => 0,
  ) {}

  /** Names cut at their Kubernetes length limit by the decoder so far. */
  get cutStrings(): number {
    return this.cuts();
  }

  /** Flows stamped ahead of our clock by more than the tolerance (counted in `flows` too). */
  get futureFlows(): number {
    return this.future.flows;
  }

  /** The largest skew of such a flow in the last five minutes, seconds (0: none). */
  futureSkewSeconds(): number {
    return this.future.recentSkewSeconds();
  }
}

/** Statuses grpc-js reports when the server itself did not answer (transport failures, deadlines). */
const noAnswerCodes: ReadonlySet<status> = new Set([status.DEADLINE_EXCEEDED, status.UNAVAILABLE, status.INTERNAL, status.UNKNOWN, status.CANCELLED]);

/** grpc-js's own receive limit, bytes: above our maxMessageBytes so that we see and skip an oversized message. */
const GRPC_RECEIVE_CAP_BYTES = 64 * 1024 * 1024;
const DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024;
const DEFAULT_FLOW_CONTROL_WINDOW_BYTES = 4 * 1024 * 1024;

/**
 * Streams every flow from Hubble Relay (or one agent's Hubble server) into a
 * sink: exactly once across reconnects, with capped exponential backoff,
 * with lost events and node status passed on, and with the sink's
 * backpressure honoured.
 *
 * Lifecycle (src/lifecycle.ts): `start(signal)` returns at once and the
 * stream runs in the background until `close()`, the signal, or a permanent
 * error (`closed()` resolves then); `close()` is safe before start and twice.
 * Options are resolved and checked in the constructor.
 */
export class RelayClient implements Lifecycle {
  readonly stats: RelayStats;
  private _state: RelayState = 'idle';
  private readonly opts: Required<
    Pick<RelayClientOptions, 'resumeOverlapMs' | 'flowControlWindowBytes' | 'callTimeoutMs' | 'connectTimeoutMs' | 'keepaliveTimeMs' | 'keepaliveTimeoutMs' | 'maxMessageBytes' | 'futureToleranceMs'>
  > &
    RelayClientOptions;
  private readonly future: FutureGuard;
  private connectTimer: NodeJS.Timeout | undefined;
  // The current attempt got an answer (it counts as `ok`).
  private answered = false;
  private readonly tlsReadLog: RateLimitedLog;
  private readonly futureLog: RateLimitedLog;
  private readonly log: Logger;
  private readonly backoff: Backoff;
  private readonly window: ResumeWindow;
  private readonly decoder: FlowResponseDecoder;
  private readonly decodeLog: RateLimitedLog;
  private client: Client | undefined;
  private call: ClientReadableStream<Buffer> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private started = false;
  private paused = false;
  private closedWaiters: Array<() => void> = [];
  private credentials: ReturnType<typeof relayCredentials>;

  constructor(
    options: RelayClientOptions,
    private readonly sink: FlowSink,
  ) {
    this.opts = {
      resumeOverlapMs: 2000,
      flowControlWindowBytes: DEFAULT_FLOW_CONTROL_WINDOW_BYTES,
      callTimeoutMs: 5000,
      connectTimeoutMs: 10_000,
      keepaliveTimeMs: 30_000,
      keepaliveTimeoutMs: 10_000,
      maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES,
      futureToleranceMs: DEFAULT_FUTURE_TOLERANCE_MS,
      ...options,
    };
    if (!this.opts.address) throw new RelayError('relay address is empty: set --relay-address', false);
    for (const k of ['resumeOverlapMs', 'futureToleranceMs'] as const) {
      const v = this.opts[k];
      if (!Number.isFinite(v) || v < 0) throw new RangeError(`${k} must be a non-negative number of milliseconds, got ${v}`);
    }
    for (const k of ['callTimeoutMs', 'connectTimeoutMs', 'keepaliveTimeMs', 'keepaliveTimeoutMs'] as const) {
      const v = this.opts[k];
      if (!Number.isFinite(v) || v <= 0) throw new RangeError(`${k} must be a positive number of milliseconds, got ${v}`);
    }
    for (const k of ['maxMessageBytes', 'flowControlWindowBytes'] as const) {
      const v = this.opts[k];
      if (!Number.isInteger(v) || v <= 0) throw new RangeError(`${k} must be a positive integer, got ${v}`);
    }
    this.future = new FutureGuard(this.opts.futureToleranceMs, options.clock);
    this.stats = new RelayStats(this.future, () => this.decoder.cutStrings);
    this.log = options.logger ?? silentLogger;
    this.backoff = new Backoff(options.backoff);
    this.window = new ResumeWindow(options.resumeMemory);
    this.decoder = options.decoder === 'full' ? new ResponseDecoder() : new WireDecoder();
    this.decodeLog = new RateLimitedLog((m, f) => this.log.warn(m, f));
    this.tlsReadLog = new RateLimitedLog((m, f) => this.log.warn(m, f));
    this.futureLog = new RateLimitedLog((m, f) => this.log.warn(m, f));
    // TLS files are read and checked here: a bad file fails at construction.
    this.credentials = relayCredentials(options.tls);
  }

  get state(): RelayState {
    return this._state;
  }

  get address(): string {
    return this.opts.address;
  }

  /** Starts streaming in the background and returns at once; `signal` aborting stops it as `close()` does. */
  start(signal: AbortSignal): void {
    if (this.started || this._state === 'closed') return;
    this.started = true;
    // JavaScript callers (benchmark clients) may still leave the signal out: close() alone stops them.
    if (signal) closeOnAbort(signal, () => this.close());
    this.connect();
  }

  /** Stops the stream and all timers. Safe before start and safe twice. */
  async close(): Promise<void> {
    this.shutdown();
  }

  private shutdown(error?: RelayError): void {
    if (this._state === 'closed') return;
    this.stopCall();
    clearTimeout(this.retryTimer);
    this.client?.close();
    this.client = undefined;
    this.setState('closed', error);
  }

  /** Resolves once the client is closed (by close() or a permanent error). */
  closed(): Promise<void> {
    if (this._state === 'closed') return Promise.resolve();
    return new Promise((resolve) => this.closedWaiters.push(resolve));
  }

  /** One `ServerStatus` call. */
  serverStatus(): Promise<ServerStatusResponse> {
    return this.unary(paths.serverStatus, serializer(ServerStatusRequestSchema), deserializer(ServerStatusResponseSchema), create(ServerStatusRequestSchema));
  }

  /** One `GetNodes` call. */
  getNodes(): Promise<GetNodesResponse> {
    return this.unary(paths.getNodes, serializer(GetNodesRequestSchema), deserializer(GetNodesResponseSchema), create(GetNodesRequestSchema));
  }

  private setState(state: RelayState, error?: RelayError): void {
    if (this._state === state) return;
    this._state = state;
    if (error) this.stats.lastError = error;
    this.opts.onStateChange?.(state, error);
    if (state === 'closed') {
      const w = this.closedWaiters;
      this.closedWaiters = [];
      for (const resolve of w) resolve();
    }
  }

  private ensureClient(): Client {
    if (!this.client) {
      if (this.opts.tls?.enabled) {
        // Read the TLS files again for every new channel: a rotated or fixed CA or certificate is
        // picked up without a restart. A file caught mid-rotation keeps the last good ones.
        try {
          this.credentials = relayCredentials(this.opts.tls);
        } catch (e) {
          this.tlsReadLog.emit('cannot re-read the TLS files; using the ones read before', { error: (e as Error).message });
        }
      }
      this.client = new Client(this.opts.address, this.credentials.creds, {
        ...this.credentials.options,
        'grpc-node.flow_control_window': this.opts.flowControlWindowBytes,
        'grpc.keepalive_time_ms': this.opts.keepaliveTimeMs,
        'grpc.keepalive_timeout_ms': this.opts.keepaliveTimeoutMs,
        // Oversized messages reach onData, which counts and skips them (maxMessageBytes).
        'grpc.max_receive_message_length': Math.max(GRPC_RECEIVE_CAP_BYTES, this.opts.maxMessageBytes),
        // Our own loop does the backing off; let the channel retry promptly.
        'grpc.initial_reconnect_backoff_ms': 100,
        'grpc.max_reconnect_backoff_ms': 1000,
      });
    }
    return this.client;
  }

  private connect(): void {
    if (this._state === 'closed') return;
    this.setState('connecting');
    const since = this.window.beginReplay(this.opts.resumeOverlapMs);
    const req = create(GetFlowsRequestSchema, {
      follow: true,
      whitelist: this.opts.whitelist ?? [],
      blacklist: this.opts.blacklist ?? [],
    });
    if (this.opts.fieldMask !== false) {
      req.fieldMask = exporterFieldMask();
      req.experimental = { $typeName: 'observer.GetFlowsRequest.Experimental', fieldMask: exporterFieldMask() };
    }
    if (since) req.since = { $typeName: 'google.protobuf.Timestamp', seconds: BigInt(since.seconds), nanos: since.nanos };
    else if (this.opts.since) req.since = timestampFromDate(this.opts.since);
    this.log.info('requesting flows', { relay: this.opts.address, since: since ? `${since.seconds}.${String(since.nanos).padStart(9, '0')}` : this.opts.since?.toISOString() ?? 'now' });

    const call = this.ensureClient().makeServerStreamRequest(paths.getFlows, serializer(GetFlowsRequestSchema), rawBytes.deserialize, req, new Metadata());
    this.call = call;
    this.answered = false;
    clearTimeout(this.connectTimer);
    this.connectTimer = setTimeout(() => void this.connectDeadline(call), this.opts.connectTimeoutMs);
    call.on('metadata', () => {
      if (this.call === call) this.streaming();
    });
    call.on('data', this.onData);
    call.on('error', (e: ServiceError) => {
      if (this.call === call) this.onStreamEnd(RelayError.from(e, this.opts.address, this.opts.tls?.enabled === true));
    });
    call.on('end', () => {
      // 'end' after an OK status: the server closed a follow stream.
      if (this.call === call) this.onStreamEnd(new RelayError(`relay ${this.opts.address} ended the flow stream`, true));
    });
  }

  /**
   * The connect deadline passed without response headers or a first message.
   * A healthy server may still be quiet: grpc-go sends a stream's headers only
   * with its first message, and an agent's Hubble server (or a Relay behind a
   * narrow --whitelist) may have nothing to send yet. So the same channel is
   * asked for its ServerStatus: an answer means the server speaks gRPC and the
   * quiet stream stays; no answer abandons the attempt.
   */
  private async connectDeadline(call: ClientReadableStream<Buffer>): Promise<void> {
    if (this.call !== call || this.answered) return;
    let alive = false;
    try {
      await this.unary(paths.serverStatus, serializer(ServerStatusRequestSchema), deserializer(ServerStatusResponseSchema), create(ServerStatusRequestSchema), Math.min(this.opts.callTimeoutMs, this.opts.connectTimeoutMs));
      alive = true;
    } catch (e) {
      // A gRPC status from the server itself (UNIMPLEMENTED, PERMISSION_DENIED, …) is an answer too.
      const code = RelayError.from(e).code;
      alive = code !== undefined && !noAnswerCodes.has(code);
    }
    if (this.call !== call || this.answered) return;
    if (alive) {
      this.streaming();
      return;
    }
    this.stats.connectAttempts.timeout++;
    this.answered = true; // counted
    const ms = this.opts.connectTimeoutMs;
    this.onStreamEnd(
      new RelayError(
        `relay ${this.opts.address} sent no HTTP/2 gRPC answer within ${ms} ms (connect deadline): a frozen or unreachable relay, or not a gRPC server ${addressHint(this.opts.address)}`,
        true,
        status.DEADLINE_EXCEEDED,
      ),
    );
  }

  private streaming(): void {
    if (this._state !== 'connecting') return;
    clearTimeout(this.connectTimer);
    if (!this.answered) {
      this.answered = true;
      this.stats.connectAttempts.ok++;
    }
    this.setState('streaming');
  }

  private stopCall(): void {
    const call = this.call;
    this.call = undefined;
    this.paused = false;
    clearTimeout(this.connectTimer);
    if (call) {
      call.removeAllListeners('data');
      call.on('error', () => {}); // the cancel surfaces as an error event
      call.cancel();
    }
  }

  private onStreamEnd(err: RelayError): void {
    if (this.call && !this.answered) {
      this.answered = true;
      this.stats.connectAttempts.error++;
    }
    this.stopCall();
    if (this._state === 'closed') return;
    if (!err.retryable) {
      this.log.error('relay stream failed permanently', { relay: this.opts.address, error: err.message });
      this.shutdown(err);
      return;
    }
    // A fresh channel per attempt: no state carried over from a dead relay.
    this.client?.close();
    this.client = undefined;
    const delay = this.backoff.next();
    this.log.warn('relay stream interrupted; reconnecting', { relay: this.opts.address, error: err.message, retryInMs: delay });
    this.setState('backoff', err);
    this.retryTimer = setTimeout(() => {
      this.stats.reconnects++;
      this.connect();
    }, delay);
  }

  // Bound once: the per-message path creates no closures.
  private readonly onData = (bytes: Buffer): void => {
    if (this._state === 'connecting') this.streaming();
    if (bytes.length > this.opts.maxMessageBytes) {
      this.stats.decodeErrors++;
      this.stats.oversized++;
      this.decodeLog.emit('relay response over the size limit dropped', { node: peekNodeName(bytes) || 'unknown', bytes: bytes.length, limitBytes: this.opts.maxMessageBytes });
      return;
    }
    const d = this.decoder;
    let kind;
    try {
      kind = d.decode(bytes);
    } catch (e) {
      this.stats.decodeErrors++;
      this.decodeLog.emit('undecodable relay response dropped', { node: peekNodeName(bytes) || 'unknown', bytes: bytes.length, error: (e as Error).message });
      return;
    }
    const stats = this.stats;
    if (kind === KIND_FLOW) {
      const rec = d.flow;
      // A flow stamped well ahead of our clock moves neither the resume point nor the windows.
      const future = this.future.isFuture(rec.timeSeconds, rec.timeNanos);
      if (this.window.admit(rec.timeSeconds, rec.timeNanos, this.window.streamId(rec.nodeName), rec.uuidHash, future)) {
        stats.duplicates++;
        return;
      }
      stats.flows++;
      if (future) {
        const aheadSec = this.future.count(rec.timeSeconds, rec.timeNanos);
        this.futureLog.emit('flow stamped ahead of our clock: counted, but moving neither the resume point nor the windows', { node: rec.nodeName, aheadSec: Math.round(aheadSec) });
      }
      this.backoff.reset();
      if (!this.sink.flow(rec)) this.pause();
    } else if (kind === KIND_LOST_EVENTS) {
      const lost = d.lost!;
      const future = this.future.isFuture(d.timeSeconds, d.timeNanos);
      if (this.window.admit(d.timeSeconds, d.timeNanos, this.window.streamId(`lost\0${d.nodeName}`), 0, future)) {
        stats.duplicates++;
        return;
      }
      const source = LostEventSource[lost.source] ?? String(lost.source);
      stats.lostEvents.set(source, (stats.lostEvents.get(source) ?? 0) + Number(lost.numEventsLost));
      this.sink.lostEvents(lost, d.nodeName);
    } else if (kind === KIND_NODE_STATUS) {
      const ev = d.nodeStatus!;
      for (const name of ev.nodeNames) stats.nodes.set(name, ev.stateChange);
      if (ev.stateChange === NodeState.NODE_ERROR || ev.stateChange === NodeState.NODE_UNAVAILABLE) {
        this.log.warn('relay reports node problem', { state: NodeState[ev.stateChange], nodes: ev.nodeNames.join(','), message: ev.message });
      }
      this.sink.nodeStatus(ev, d.nodeName);
    }
  };

  private pause(): void {
    const call = this.call;
    if (!call || this.paused || !this.sink.drained) return;
    this.paused = true;
    call.pause();
    void this.sink.drained().then(() => {
      if (this.call === call && this.paused) {
        this.paused = false;
        call.resume();
      }
    });
  }

  private unary<Req, Res>(path: string, ser: (r: Req) => Buffer, des: (b: Buffer) => Res, req: Req, timeoutMs = this.opts.callTimeoutMs): Promise<Res> {
    const client = this.ensureClient();
    return new Promise((resolve, reject) => {
      client.makeUnaryRequest(path, ser, des, req, new Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => {
        if (err) reject(RelayError.from(err, this.opts.address));
        else resolve(res!);
      });
    });
  }
}
