import Fastify, { type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { anomalousStatuses, statuses } from '../attribution/classifier.js';
import type { AttributionPipeline } from '../attribution/pipeline.js';
import { checkLive } from '../check/live-check.js';
import { registerConsole } from '../console/console-routes.js';
import type { ProgressHistoryOptions } from '../console/progress-history.js';
import type { LiveInventory } from '../inventory/live.js';
import { formatShell } from '../inventory/plan-format.js';
import type { SourceItem } from '../ipam/from-objects.js';
import type { IpamStore } from '../ipam/ipam-store.js';
import { renderOpenMetrics, type StreamSource } from '../metrics/exporter-metrics.js';
import { readModelOf } from '../read-model/read-model.js';

export interface AppDeps {
  registry: Registry;
  /** The flows' side, read through its read model only. */
  pipeline: AttributionPipeline;
  store: IpamStore;
  /** What readiness still waits for; empty when ready. */
  waitingFor: () => string[];
  /** The pod inventory and restart plan (absent: the API says no pods are known). */
  inventory?: LiveInventory;
  /** The objects the IPAM sources hold now (IpamSources.inputObjects), for /api/v1/check. */
  objects?: () => readonly SourceItem[];
  /** The relay stream, for the console's pipeline health (`/api/v1/summary`); absent: none. */
  stream?: () => StreamSource | undefined;
  /** The console's progress history (sample every `sampleMs`, default 10000; keep `samples`, default 360). */
  console?: ProgressHistoryOptions;
  /** Per-node mode: the node this exporter reads (`--node-name`). Absent: Relay mode. */
  nodeName?: string;
}

const familyName = (f: 4 | 6) => (f === 4 ? 'ipv4' : 'ipv6');

/** `/api/v1/anomalies`: entries returned by default and at most. */
export const ANOMALIES_DEFAULT_LIMIT = 500;
export const ANOMALIES_MAX_LIMIT = 1000;
/** `/api/v1/nodes`: Kubernetes' largest supported cluster, by default and at most. */
export const NODES_MAX_LIMIT = 5000;
/** `/api/v1/endpoints`: pod addresses returned by default and at most. */
export const ENDPOINTS_DEFAULT_LIMIT = 500;
export const ENDPOINTS_MAX_LIMIT = 5000;
/** Said where the inventory would answer but no pod is known. */
export const NO_PODS = 'no pods known: run serve with --watch-pods (RBAC: get/list/watch pods), or add `kubectl get pods -A -o yaml` to an --ipam-file';
/** `/api/v1/pools`: pools returned by default and at most. */
export const POOLS_MAX_LIMIT = 1000;
/** IPAM problems shown in `/readyz` (the count says how many there were). */
export const READYZ_MAX_PROBLEMS = 20;
/** Longest a filter value may be: a Kubernetes object name. */
const MAX_NAME = 253;
/**
 * HTTP timeouts, ms: a client that sends nothing for `IDLE_TIMEOUT_MS` is
 * dropped, and a request must arrive whole within `REQUEST_TIMEOUT_MS`
 * (Node checks that every few seconds), so that stuck clients cannot pile up.
 */
const IDLE_TIMEOUT_MS = 30_000;
const REQUEST_TIMEOUT_MS = 30_000;

const limitParam = (def: number, max: number) => ({ type: 'integer', minimum: 1, maximum: max, default: def });

/** A route's query schema: only these parameters, nothing else. */
const query = (properties: Record<string, object>) => ({ querystring: { type: 'object', additionalProperties: false, properties } });

/** The first `limit` of `all`, with how many there were. */
function page<T>(all: readonly T[], limit: number): { total: number; returned: number; truncated: boolean; limit: number; items: T[] } {
  const items = all.length > limit ? all.slice(0, limit) : [...all];
  return { total: all.length, returned: items.length, truncated: all.length > limit, limit, items };
}

interface AjvError {
  keyword: string;
  instancePath: string;
  params: Record<string, unknown>;
}

/**
 * One sentence for a rejected query: the unknown parameter and the allowed
 * ones, or the parameter, what it takes and the value given.
 */
function queryError(errors: AjvError[], schema: { properties?: Record<string, { enum?: string[]; minimum?: number; maximum?: number; type?: string }> } | undefined, path: string, raw: Record<string, unknown>): string {
  const e = errors[0]!;
  const props = schema?.properties ?? {};
  if (e.keyword === 'additionalProperties') {
    const name = String(e.params.additionalProperty);
    const allowed = Object.keys(props);
    return allowed.length > 0 ? `unknown parameter '${name}'; allowed: ${allowed.join(', ')}` : `unknown parameter '${name}'; ${path} takes none`;
  }
  const name = e.instancePath.replace(/^\//, '').split('/')[0] ?? '';
  const p = props[name];
  const given = raw[name];
  const got = Array.isArray(given) ? ', given once' : `; got '${String(given)}'`;
  if (p?.enum) return `${name} must be one of: ${p.enum.join(', ')}${got}`;
  if (p?.type === 'integer') return `${name} must be a whole number from ${p.minimum} to ${p.maximum}${got}`;
  if (p?.type === 'string') return `${name} must be one string of at most ${MAX_NAME} characters${got.startsWith(',') ? got : ''}`;
  return `${name}: ${e.keyword} ${JSON.stringify(e.params)}`;
}

/**
 * The HTTP side: Prometheus metrics, health, readiness and a read-only JSON
 * API over the IPAM state and what the flows showed. Built apart from
 * `listen` so that tests use `inject()`.
 */
export function buildApp(deps: AppDeps): FastifyInstance {
  const { registry, store } = deps;
  const read = readModelOf(deps.pipeline);
  const round3 = (n: number) => Math.round(n * 1000) / 1000;
  // Unknown query parameters are an error, not silently dropped.
  const app = Fastify({
    logger: false,
    ajv: { customOptions: { removeAdditional: false } },
    // Shutdown closes every connection, busy or idle: a client stuck mid-request cannot hold it up.
    forceCloseConnections: true,
    connectionTimeout: IDLE_TIMEOUT_MS,
    requestTimeout: REQUEST_TIMEOUT_MS,
  });
  const paths: string[] = [];
  app.addHook('onRoute', (r) => {
    if (!paths.includes(r.url) && r.method !== 'HEAD') paths.push(r.url);
  });

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
    const e = store.lastError;
    const ipamError = e ? { source: e.source, at: e.at.toISOString(), message: e.message, problems: e.problems.slice(0, READYZ_MAX_PROBLEMS), problemsTotal: e.problems.length } : null;
    reply.code(waiting.length === 0 ? 200 : 503);
    return { ready: waiting.length === 0, waitingFor: waiting, ipamVersion: store.snapshot?.version ?? null, ipamErrors: store.errorCount, lastIpamError: ipamError };
  });

  app.get('/api/v1/pools', { schema: query({ limit: limitParam(POOLS_MAX_LIMIT, POOLS_MAX_LIMIT) }) }, async (req) => {
    const snap = store.snapshot;
    const active = new Map(read.activeIps().map((a) => [`${a.pool}/${a.family}`, a.activeIps]));
    const { items, ...counts } = page(snap?.state.pools ?? [], (req.query as { limit: number }).limit);
    return {
      mode: snap?.state.mode ?? null,
      modeSource: snap?.state.modeSource ?? null,
      ...counts,
      pools: items.map((p) => ({
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

  app.get('/api/v1/nodes', { schema: query({ limit: limitParam(NODES_MAX_LIMIT, NODES_MAX_LIMIT) }) }, async (req) => {
    const s = store.snapshot?.state;
    const { items, ...counts } = page(store.snapshot?.nodeNames() ?? [], (req.query as { limit: number }).limit);
    // Grouped once: a scan per node would cost nodes × allocations per request.
    const byNode = <T extends { node: string }>(list: readonly T[] | undefined) => {
      const m = new Map<string, T[]>();
      for (const x of list ?? []) (m.get(x.node) ?? m.set(x.node, []).get(x.node)!).push(x);
      return m;
    };
    const addresses = byNode(s?.nodeAddresses);
    const allocations = byNode(s?.allocations);
    const former = byNode(s?.former);
    return {
      ...counts,
      nodes: items.map((node) => ({
        name: node,
        addresses: (addresses.get(node) ?? []).map((a) => ({ type: a.type, ip: a.ip.text.replace(/\/(32|128)$/, '') })),
        allocations: (allocations.get(node) ?? []).map((a) => ({ pool: a.pool, cidr: a.cidr.text, since: a.since ?? null })),
        former: (former.get(node) ?? []).map((f) => ({ pool: f.pool, cidr: f.cidr.text, releasedAt: f.releasedAt, reason: f.reason })),
        usedIps: s?.usedByNode.get(node) ?? null,
      })),
    };
  });

  app.get(
    '/api/v1/anomalies',
    {
      schema: query({
        status: { type: 'string', enum: [...anomalousStatuses] },
        pool: { type: 'string', maxLength: MAX_NAME },
        node: { type: 'string', maxLength: MAX_NAME },
        namespace: { type: 'string', maxLength: MAX_NAME },
        limit: limitParam(ANOMALIES_DEFAULT_LIMIT, ANOMALIES_MAX_LIMIT),
      }),
    },
    async (req) => {
      const q = req.query as { status?: string; pool?: string; node?: string; namespace?: string; limit: number };
      const { total, rows } = read.anomalies(q, q.limit);
      return {
        windowSeconds: read.windowSec,
        total,
        returned: rows.length,
        truncated: total > rows.length,
        limit: q.limit,
        anomalies: rows.map((o) => ({ ...o, flowsInWindow: round3(o.flowsInWindow) })),
      };
    },
  );

  const migrationNow = () => {
    const snap = store.snapshot;
    const stale = read.activeAnomalies(Infinity, { status: 'stale' });
    // From the pod inventory when pods are known (idle pods count too), else from traffic.
    const inv = deps.inventory?.inventory();
    return {
      mode: snap?.state.mode ?? null,
      windowSeconds: read.windowSec,
      progressSource: inv ? 'inventory' : 'traffic',
      draining: read.migration(snap).map((m) => {
        const d = inv?.draining.find((x) => x.pool === m.pool);
        return {
          pool: m.pool,
          cidrs: m.cidrs,
          progressRatio: inv ? (d?.progress ?? null) : m.ratio,
          ...(inv ? { podsLeft: d?.podsLeft ?? 0, podsOff: d?.podsOff ?? 0 } : {}),
          workloadsEverOn: m.everOn,
          workloadsActive: m.active,
          workloadsMoved: m.moved,
          staleEndpointsActive: stale.filter((s) => s.pool === m.pool).length,
        };
      }),
      staleEndpointsActive: stale.length,
      staleFlowsInWindow: round3(stale.reduce((n, s) => n + s.flowsInWindow, 0)),
    };
  };
  app.get('/api/v1/migration', { schema: query({}) }, async () => migrationNow());

  app.get(
    '/api/v1/endpoints',
    {
      schema: query({
        status: { type: 'string', enum: [...statuses] },
        pool: { type: 'string', maxLength: MAX_NAME },
        node: { type: 'string', maxLength: MAX_NAME },
        namespace: { type: 'string', maxLength: MAX_NAME },
        limit: limitParam(ENDPOINTS_DEFAULT_LIMIT, ENDPOINTS_MAX_LIMIT),
      }),
    },
    async (req) => {
      const q = req.query as { status?: string; pool?: string; node?: string; namespace?: string; limit: number };
      const inv = deps.inventory?.inventory();
      // Rows are made for the first `limit` matches only; the others are counted (100,000 pods, 500 shown).
      const rows = [];
      let total = 0;
      for (const p of inv?.pods ?? []) {
        if (q.node !== undefined && p.node !== q.node) continue;
        if (q.namespace !== undefined && p.pod.namespace !== q.namespace) continue;
        for (const a of p.addresses) {
          if ((q.status !== undefined && a.status !== q.status) || (q.pool !== undefined && a.pool !== q.pool)) continue;
          if (total++ >= q.limit) continue;
          const tracked = (anomalousStatuses as ReadonlySet<string>).has(a.status);
          rows.push({
            namespace: p.pod.namespace,
            pod: p.pod.name,
            node: p.node,
            workload: { kind: p.pod.workload.kind, name: p.pod.workload.name },
            hostNetwork: p.pod.hostNetwork,
            ip: a.ip,
            status: a.status,
            pool: a.pool,
            cidr: a.cidr,
            allocationNode: a.allocationNode,
            // Anomalous addresses are tracked one by one: their flows in the window and drops since first seen; none seen: idle.
            traffic: a.traffic ? { flowsInWindow: a.traffic.flows, dropsSinceFirstSeen: a.traffic.drops } : tracked ? 'none' : 'untracked',
          });
        }
      }
      // What could not be read from the pod objects (a pod without an address, an owner of an unknown kind), each naming the object.
      const problems = deps.inventory?.problems() ?? [];
      return {
        inventoryKnown: inv !== undefined,
        ...(inv ? {} : { hint: NO_PODS }),
        podProblems: { total: problems.length, first: problems.slice(0, READYZ_MAX_PROBLEMS) },
        windowSeconds: read.windowSec,
        total,
        returned: rows.length,
        truncated: total > rows.length,
        limit: q.limit,
        endpoints: rows,
      };
    },
  );

  app.get('/api/v1/restart-plan', { schema: query({ format: { type: 'string', enum: ['json', 'shell'], default: 'json' } }) }, async (req, reply) => {
    const plan = deps.inventory?.plan();
    if ((req.query as { format: string }).format === 'shell') {
      reply.type('text/plain; charset=utf-8');
      return plan ? formatShell(plan) : `# ${NO_PODS}\n`;
    }
    return { inventoryKnown: plan !== undefined, ...(plan ? plan : { hint: NO_PODS, steps: [], byNode: [], pods: 0, trafficKnown: false }) };
  });

  // Cilium's missing `ipam check` over the state in force, the sources' objects and the inventory's pods (what could not be checked is listed).
  app.get('/api/v1/check', { schema: query({}) }, async (_req, reply) => {
    const snap = store.snapshot;
    if (!snap) return reply.code(503).send({ error: 'there is no IPAM state yet: nothing to check until a valid one loads' });
    return checkLive(snap.state, deps.objects?.() ?? [], deps.inventory?.pods());
  });

  // The live migration console at `/` and its `/api/v1/summary` (src/console/).
  registerConsole(app, { store, read, migration: migrationNow, waitingFor: deps.waitingFor, ...(deps.stream ? { stream: deps.stream } : {}), ...(deps.console ? { options: deps.console } : {}), ...(deps.nodeName !== undefined ? { nodeName: deps.nodeName } : {}) });

  app.setErrorHandler((err, req, reply) => {
    const e = err as { validation?: AjvError[]; statusCode?: number; message: string };
    if (e.validation && e.validation.length > 0) {
      const schema = (req.routeOptions.schema as { querystring?: Parameters<typeof queryError>[1] } | undefined)?.querystring;
      // The query as sent (validation may have coerced req.query already).
      const params = new URLSearchParams(req.url.split('?')[1] ?? '');
      const raw: Record<string, string | string[]> = {};
      for (const k of new Set(params.keys())) {
        const all = params.getAll(k);
        raw[k] = all.length === 1 ? all[0]! : all;
      }
      return reply.code(400).send({ error: queryError(e.validation, schema, req.routeOptions.url ?? req.url, raw) });
    }
    return reply.code(e.statusCode ?? 500).send({ error: e.message });
  });
  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?')[0];
    return reply.code(404).send({ error: `no such path '${path}'; paths: ${paths.join(', ')}` });
  });
  return app;
}
