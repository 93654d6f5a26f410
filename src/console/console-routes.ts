import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { IpamStore } from '../ipam/ipam-store.js';
import type { StreamSource } from '../metrics/exporter-metrics.js';
import type { ReadModel } from '../read-model/read-model.js';
import { loadConsoleAssets, type ConsoleAsset } from './assets.js';
import { FlowRate } from './flow-rate.js';
import { ProgressHistory, resolveHistoryOptions, type ProgressHistoryOptions } from './progress-history.js';

/** Ms between two samples of the flow count for flows/s. */
const RATE_TICK_MS = 1000;
/** The page: revalidated every time (cheap: a 304 by ETag). Its script and style are versioned by hash: kept a year. */
const PAGE_CACHE = 'no-cache';
const ASSET_CACHE = 'public, max-age=31536000, immutable';

export interface ConsoleDeps {
  store: IpamStore;
  read: ReadModel;
  /** The relay stream; absent: the summary says so. */
  stream?: () => StreamSource | undefined;
  /** The draining pools' progress, as `/api/v1/migration` answers it. */
  migration: () => { progressSource: string; draining: Array<{ pool: string; progressRatio: number | null }> };
  waitingFor: () => string[];
  options?: ProgressHistoryOptions;
  /** Per-node mode: the node this exporter reads (its figures are that node's share). Absent: Relay mode. */
  nodeName?: string;
}

function send(req: FastifyRequest, reply: FastifyReply, a: ConsoleAsset, cache: string) {
  reply.header('etag', a.etag).header('cache-control', cache).header('x-content-type-options', 'nosniff');
  if (req.headers['if-none-match'] === a.etag) return reply.code(304).send();
  return reply.type(a.type).send(a.body);
}

/**
 * The live migration console: `GET /` (one page, its script and style, all
 * served from here: no external network) and `GET /api/v1/summary` (pipeline
 * health and each draining pool's progress over the last hour, sampled every
 * `sampleMs` into a bounded ring). The page reads only the JSON API.
 */
export function registerConsole(app: FastifyInstance, deps: ConsoleDeps): void {
  const opts = resolveHistoryOptions(deps.options);
  const assets = loadConsoleAssets();
  const history = new ProgressHistory(opts.samples);
  const rate = new FlowRate();
  const flows = () => deps.stream?.()?.stats.flows ?? deps.read.flowsProcessed();
  const sample = () => {
    try {
      history.record(Date.now(), deps.migration().draining);
    } catch {
      // A read that fails now is tried again at the next sample; the page shows the gap.
    }
  };
  sample();
  rate.tick(Date.now(), flows());
  const timers = [setInterval(sample, opts.sampleMs), setInterval(() => rate.tick(Date.now(), flows()), RATE_TICK_MS)];
  for (const t of timers) t.unref();
  app.addHook('onClose', async () => {
    for (const t of timers) clearInterval(t);
  });

  app.get('/', (req, reply) => send(req, reply, assets.get('index.html')!, PAGE_CACHE));
  app.get('/console/console.js', (req, reply) => send(req, reply, assets.get('console.js')!, ASSET_CACHE));
  app.get('/console/console.css', (req, reply) => send(req, reply, assets.get('console.css')!, ASSET_CACHE));

  app.get('/api/v1/summary', { schema: { querystring: { type: 'object', additionalProperties: false, properties: {} } } }, async () => {
    const s = deps.stream?.();
    const snap = deps.store.snapshot;
    const e = deps.store.lastError;
    const lost = [...(s?.stats.lostEvents ?? [])].map(([source, n]) => ({ source, events: n }));
    const perSecond = rate.perSecond();
    const waiting = deps.waitingFor();
    return {
      ready: waiting.length === 0,
      waitingFor: waiting,
      // Relay mode: the whole cluster; per-node mode: one node's share (Prometheus adds the exporters up).
      scope: deps.nodeName === undefined ? { mode: 'relay', node: null } : { mode: 'per-node', node: deps.nodeName },
      relay: s ? { state: s.state, reconnects: s.stats.reconnects, decodeErrors: s.stats.decodeErrors, lastError: s.stats.lastError?.message ?? null } : null,
      flows: { total: flows(), perSecond: perSecond === null ? null : Math.round(perSecond * 10) / 10 },
      lostEvents: { total: lost.reduce((n, l) => n + l.events, 0), bySource: lost },
      ipam: {
        mode: snap?.state.mode ?? null,
        modeSource: snap?.state.modeSource ?? null,
        // The source the state in force came from (files, kubernetes, memory) and when it was accepted.
        source: deps.store.loaded?.source ?? null,
        loadedAt: deps.store.loaded?.at.toISOString() ?? null,
        version: snap?.version ?? null,
        errors: deps.store.errorCount,
        lastError: e ? { source: e.source, at: e.at.toISOString(), message: e.message } : null,
      },
      windowSeconds: deps.read.windowSec,
      progressHistory: { sampleSeconds: opts.sampleMs / 1000, maxSamples: opts.samples, pools: history.pools() },
    };
  });
}
