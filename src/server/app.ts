import Fastify, { type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { anomalousStatuses } from '../attribution/classifier.js';
import type { AttributionPipeline } from '../attribution/pipeline.js';
import type { IpamStore } from '../ipam/ipam-store.js';
import { renderOpenMetrics } from '../metrics/exporter-metrics.js';

export interface AppDeps {
  registry: Registry;
  pipeline: AttributionPipeline;
  store: IpamStore;
  /** What readiness still waits for; empty when ready. */
  waitingFor: () => string[];
}

const familyName = (f: 4 | 6) => (f === 4 ? 'ipv4' : 'ipv6');

/**
 * The HTTP side: Prometheus metrics, health, readiness and a read-only JSON
 * API over the IPAM state and what the flows showed. Built apart from
 * `listen` so that tests use `inject()`.
 */
export function buildApp(deps: AppDeps): FastifyInstance {
  const { registry, pipeline, store } = deps;
  // Unknown query parameters are an error, not silently dropped.
  const app = Fastify({ logger: false, ajv: { customOptions: { removeAdditional: false } } });

  app.get('/metrics', async (req, reply) => {
    const accept = String(req.headers.accept ?? '');
    if (accept.includes('application/openmetrics-text')) {
      reply.type('application/openmetrics-text; version=1.0.0; charset=utf-8');
      return renderOpenMetrics(registry);
    }
    reply.type(registry.contentType);
    return registry.metrics();
  });

  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_req, reply) => {
    const waiting = deps.waitingFor();
    // The last rejected IPAM read shows here even while ready: the state in force stays (`message` says which).
    const ipamError = store.lastError ? { source: store.lastError.source, at: store.lastError.at.toISOString(), message: store.lastError.message, problems: store.lastError.problems } : null;
    reply.code(waiting.length === 0 ? 200 : 503);
    return { ready: waiting.length === 0, waitingFor: waiting, ipamVersion: store.snapshot?.version ?? null, ipamErrors: store.errorCount, lastIpamError: ipamError };
  });

  app.get('/api/v1/pools', async () => {
    const snap = store.snapshot;
    const names = pipeline.classifier.poolNames();
    const active = new Map(pipeline.activity.counts(pipeline.nowSec).map(([id, fam, n]) => [`${names[id]}/${fam}`, n]));
    return {
      mode: snap?.state.mode ?? null,
      modeSource: snap?.state.modeSource ?? null,
      pools: (snap?.state.pools ?? []).map((p) => ({
        name: p.name,
        state: p.state,
        cidrs: p.cidrs.map((c) => c.text),
        maskSize: { ipv4: p.maskSize[4] ?? null, ipv6: p.maskSize[6] ?? null },
        origin: p.origin,
        capacity: (snap?.poolCapacity() ?? [])
          .filter((c) => c.pool === p.name)
          .map((c) => ({ family: familyName(c.family), totalIps: c.totalIps, allocatedIps: c.allocatedIps, allocatedCidrs: c.allocatedCidrs, maxNodeCidrs: c.maxNodeCidrs, usedIps: c.usedIps ?? null, activeIps: active.get(`${p.name}/${c.family}`) ?? 0 })),
      })),
    };
  });

  app.get('/api/v1/nodes', async () => {
    const s = store.snapshot?.state;
    const names = store.snapshot?.nodeNames() ?? [];
    return {
      nodes: names.map((node) => ({
        name: node,
        addresses: (s?.nodeAddresses ?? []).filter((a) => a.node === node).map((a) => ({ type: a.type, ip: a.ip.text.replace(/\/(32|128)$/, '') })),
        allocations: (s?.allocations ?? []).filter((a) => a.node === node).map((a) => ({ pool: a.pool, cidr: a.cidr.text, since: a.since ?? null })),
        former: (s?.former ?? []).filter((f) => f.node === node).map((f) => ({ pool: f.pool, cidr: f.cidr.text, releasedAt: f.releasedAt, reason: f.reason })),
        usedIps: s?.usedByNode.get(node) ?? null,
      })),
    };
  });

  app.get(
    '/api/v1/anomalies',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            status: { type: 'string', enum: [...anomalousStatuses] },
            pool: { type: 'string', maxLength: 253 },
            node: { type: 'string', maxLength: 253 },
            namespace: { type: 'string', maxLength: 253 },
            limit: { type: 'integer', minimum: 1, maximum: 10000, default: 500 },
          },
        },
      },
    },
    async (req) => {
      const q = req.query as { status?: string; pool?: string; node?: string; namespace?: string; limit: number };
      const all = pipeline.offenders.all(q);
      return {
        windowSeconds: pipeline.windowSec,
        total: all.length,
        anomalies: all.slice(0, q.limit).map((o) => ({
          ...o.summary(),
          flowsInWindow: Math.round(o.window.value(pipeline.nowSec, pipeline.windowSec) * 1000) / 1000,
        })),
      };
    },
  );

  app.get('/api/v1/migration', async () => {
    const snap = store.snapshot;
    const draining = snap?.state.pools.filter((p) => p.state === 'draining') ?? [];
    const ids = draining.map((p) => pipeline.classifier.poolId(p.name));
    const progress = pipeline.migration.progress(ids, pipeline.nowSec);
    const stale = pipeline.offenders.active(pipeline.nowSec, Infinity, { status: 'stale' });
    return {
      mode: snap?.state.mode ?? null,
      windowSeconds: pipeline.windowSec,
      draining: draining.map((p, i) => ({
        pool: p.name,
        cidrs: p.cidrs.map((c) => c.text),
        progressRatio: progress[i]!.everOn > 0 ? progress[i]!.ratio : null,
        workloadsEverOn: progress[i]!.everOn,
        workloadsActive: progress[i]!.active,
        workloadsMoved: progress[i]!.moved,
        staleEndpointsActive: stale.filter((s) => s.o.pool === p.name).length,
      })),
      staleEndpointsActive: stale.length,
      staleFlowsInWindow: Math.round(stale.reduce((n, s) => n + s.flows, 0) * 1000) / 1000,
    };
  });

  app.setErrorHandler((err, _req, reply) => {
    const e = err as { validation?: unknown; statusCode?: number; message: string };
    const code = e.validation ? 400 : (e.statusCode ?? 500);
    reply.code(code).send({ error: e.message });
  });
  return app;
}
