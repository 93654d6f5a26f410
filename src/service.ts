import type { FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import { AttributionPipeline } from './attribution/pipeline.js';
import { RelayClient, type RelayClientOptions } from './ingest/relay-client.js';
import { IpamSources, type IpamSourcesOptions } from './ipam/ipam-sources.js';
import { closeOnAbort, type Lifecycle } from './lifecycle.js';
import type { IpamStore } from './ipam/ipam-store.js';
import type { IpamSnapshot } from './ipam/snapshot.js';
import { silentLogger, type Logger } from './log.js';
import { LiveInventory } from './inventory/live.js';
import { createExporterMetrics } from './metrics/exporter-metrics.js';
import { readModelOf } from './read-model/read-model.js';
import type { ProgressHistoryOptions } from './console/progress-history.js';
import { buildApp } from './server/app.js';

/**
 * How far the windows' clock may stay behind the wall clock while no flow
 * arrives, seconds: past it, the windows follow the wall clock, so the
 * sightings of a quiet node (or of a stream that is down) leave the window
 * at most this much later than they would with flows arriving. Node clocks
 * running behind the exporter's by more than this shorten the window by the
 * difference.
 */
export const WINDOW_IDLE_GRACE_SEC = 60;

export interface ServiceOptions {
  relay: Omit<RelayClientOptions, 'logger' | 'onStateChange'>;
  ipam: Omit<IpamSourcesOptions, 'logger'>;
  /** `host:port` of the HTTP server; port 0 picks one. Default 0.0.0.0:9967. */
  listenAddress?: string;
  /** Window of offenders, activity and migration, seconds. Default 300. */
  windowSec?: number;
  /** Most anomalous endpoint series on /metrics. Default 50. */
  maxAnomalySeries?: number;
  /** Deadline of the Kubernetes watch's first sync, ms. Default 30000. */
  ipamSyncTimeoutMs?: number;
  /**
   * Per-node mode: the node whose agent this exporter reads (`--node-name`).
   * Its inventory holds only that node's pods and its IPAM sums only that
   * node's share, so per-node exporters add up. Default: Relay mode.
   */
  nodeName?: string;
  /** The console's progress history: sample every `sampleMs` (default 10000), keep `samples` (default 360). */
  console?: ProgressHistoryOptions;
  logger?: Logger;
}

/**
 * The exporter wired together in one place: IPAM sources → store → pipeline;
 * relay stream → pipeline; pipeline, store and stream → metrics and API.
 *
 * Lifecycle (src/lifecycle.ts): `start(signal)` returns at once with the
 * promise of `ready()`: the HTTP server listens, then IPAM loads, then the
 * stream starts and runs in the background. The signal aborting closes
 * everything as `close()` does; `close()` is safe before start and twice.
 */
export class ExporterService implements Lifecycle {
  readonly registry = new Registry();
  readonly pipeline: AttributionPipeline;
  readonly sources: IpamSources;
  /** The pod inventory and restart plan, from the sources' pods (the Pods watch, or pods in --ipam-file). */
  readonly inventory: LiveInventory;
  readonly client: RelayClient;
  readonly app: FastifyInstance;
  private streamStarted = false;
  private closed = false;
  private starting: Promise<void> | undefined;
  private readonly log: Logger;
  /** The bound HTTP address, once listening. */
  address = '';

  constructor(private readonly opts: ServiceOptions) {
    this.log = opts.logger ?? silentLogger;
    this.pipeline = new AttributionPipeline({
      registry: this.registry,
      logger: this.log,
      ...(opts.windowSec ? { windowSec: opts.windowSec } : {}),
      // The windows judge future-stamped flows by the same clock and tolerance as the stream.
      ...(opts.relay.futureToleranceMs !== undefined ? { futureToleranceMs: opts.relay.futureToleranceMs } : {}),
      ...(opts.relay.clock ? { clock: opts.relay.clock } : {}),
      // A quiet or disconnected stream does not freeze the windows (sightings still age out).
      idleClockSec: WINDOW_IDLE_GRACE_SEC,
      // Per-node mode: warn when flows come from another node (the address reaches Relay, not this node's agent).
      ...(opts.nodeName !== undefined ? { ownNode: opts.nodeName } : {}),
    });
    this.sources = new IpamSources({ ...opts.ipam, logger: this.log });
    this.sources.store.onChange((s) => this.takeSnapshot(s));
    this.client = new RelayClient(
      {
        ...opts.relay,
        logger: this.log,
        onStateChange: (s, e) => {
          if (s === 'streaming') this.streamStarted = true;
          if (s === 'closed' && e && !e.retryable) this.log.error('relay stream stopped for good', { error: e.message });
        },
      },
      this.pipeline,
    );
    this.inventory = new LiveInventory({ pods: () => this.sources.podObjects(), snapshot: () => this.sources.store.snapshot, read: readModelOf(this.pipeline), ...(opts.nodeName !== undefined ? { nodeName: opts.nodeName } : {}) });
    createExporterMetrics(this.registry, {
      pipeline: this.pipeline,
      store: this.sources.store,
      inventory: this.inventory,
      stream: () => this.client,
      ...(opts.maxAnomalySeries ? { maxAnomalySeries: opts.maxAnomalySeries } : {}),
      ...(opts.nodeName !== undefined ? { nodeName: opts.nodeName } : {}),
    });
    this.app = buildApp({ registry: this.registry, pipeline: this.pipeline, store: this.sources.store, inventory: this.inventory, objects: () => this.sources.inputObjects(), waitingFor: () => this.waitingFor(), stream: () => this.client, ...(opts.console ? { console: opts.console } : {}), ...(opts.nodeName !== undefined ? { nodeName: opts.nodeName } : {}) });
  }

  /** Hands a snapshot to the pipeline; one it cannot take (more pools than MAX_POOL_IDS) is logged and the one in force stays. */
  private takeSnapshot(s: IpamSnapshot): void {
    try {
      this.pipeline.setSnapshot(s);
    } catch (e) {
      this.log.error('IPAM snapshot not taken by the flow pipeline; flows are classified against the previous one', { version: s.version, error: (e as Error).message });
    }
  }

  get store(): IpamStore {
    return this.sources.store;
  }

  waitingFor(): string[] {
    const out = this.sources.waitingFor();
    if (!this.streamStarted) {
      // The last error says why (a TLS mix-up, not a gRPC server, a wrong CA…): retried with backoff meanwhile.
      const err = this.client.stats.lastError;
      out.push(`the flow stream from ${this.client.address} to start (relay ${this.client.state}${err ? `: ${err.message}` : ''})`);
    }
    return out;
  }

  /** Starts in the background; returns at once with the promise of `ready()`. */
  start(signal: AbortSignal): Promise<void> {
    if (this.starting) return this.starting;
    // JavaScript callers (benchmark clients) may still leave the signal out: close() alone stops them.
    if (signal) closeOnAbort(signal, () => this.close());
    this.starting = this.closed ? Promise.resolve() : this.run(signal);
    return this.starting;
  }

  /**
   * Resolves once the HTTP server listens, IPAM has loaded and the stream has
   * started (at once if closed before); rejects with the first failure, after
   * which the caller closes the service.
   */
  ready(): Promise<void> {
    return this.starting ?? Promise.reject(new Error('the exporter is not started: call start(signal) first'));
  }

  private async run(signal: AbortSignal): Promise<void> {
    const listen = this.opts.listenAddress ?? '0.0.0.0:9967';
    const colon = listen.lastIndexOf(':');
    const host = listen.slice(0, colon).replace(/^\[|\]$/g, '');
    const port = Number(listen.slice(colon + 1));
    this.address = await this.app.listen({ host, port });
    if (this.closed) return;
    // Listening first: /healthz answers and /readyz explains while IPAM loads.
    this.sources.start(signal);
    await this.sources.ready(this.opts.ipamSyncTimeoutMs);
    if (this.closed) return;
    const store = this.sources.store;
    if (store.snapshot) {
      this.takeSnapshot(store.snapshot);
      this.client.start(signal);
      return;
    }
    // No IPAM state yet: every pod address would be classified out_of_pool (a false alarm), so
    // the stream waits for the first state (the listener above hands it to the pipeline first);
    // /readyz says what it waits for.
    this.log.warn('no IPAM state yet: the flow stream starts once one loads', { waitingFor: this.sources.waitingFor().join('; ') });
    const off = store.onChange(() => {
      off();
      if (!this.closed) this.client.start(signal);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.client.close();
    await this.sources.close();
    await this.app.close();
  }
}
