/**
 * The HTTP API through fastify's inject(): no socket, the real routes. Bad
 * queries name the parameter and the allowed values; list endpoints bound
 * their answers whatever the exporter has seen.
 */
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { Attribution, anomalousStatuses } from '../src/attribution/classifier.js';
import { AttributionPipeline } from '../src/attribution/pipeline.js';
import { FlowRecord, isPodEndpoint } from '../src/ingest/flow-record.js';
import { stateFromObjects } from '../src/ipam/from-objects.js';
import { emptyState } from '../src/ipam/model.js';
import { IpamStore } from '../src/ipam/ipam-store.js';
import { validateConfig } from '../src/ipam/ipam-config.js';
import { IpAddr, parseIpInto } from '../src/net/ip.js';
import { createExporterMetrics } from '../src/metrics/exporter-metrics.js';
import { buildApp } from '../src/server/app.js';
import { parseProm, truthIpamState } from './support/ground-truth.js';

const apps: FastifyInstance[] = [];
afterEach(async () => {
  for (const a of apps.splice(0)) await a.close();
});

function setup(opts: { offenders?: number; podName?: (i: number) => string; nodes?: number } = {}) {
  const registry = new Registry();
  const pipeline = new AttributionPipeline({ registry });
  const store = new IpamStore();
  const nodes = opts.nodes ?? 0;
  if (nodes > 0) {
    const { config, problems } = validateConfig(
      {
        apiVersion: 'hubble-ipam-exporter/v1',
        kind: 'IpamConfig',
        pools: [{ name: 'default', cidrs: ['10.0.0.0/8'], maskSize: { ipv4: 24 } }],
        nodes: Array.from({ length: nodes }, (_, i) => ({ name: `node-${i}`, allocations: [{ pool: 'default', cidrs: [`10.${i >> 8}.${i & 255}.0/24`] }] })),
      },
      'test',
    );
    expect(problems).toEqual([]);
    const built = stateFromObjects({ objects: [], configs: [{ config: config!, where: 'test' }], serviceCidrs: [] });
    expect(built.problems).toEqual([]);
    expect(store.update(built.state, 'test')).toBeDefined();
  }
  const n = opts.offenders ?? 0;
  const attr = new Attribution('stale', 'kubernetes', 'kind-worker', 0, undefined, false, 0);
  const ip = new IpAddr();
  const now = 1_800_000_000;
  for (let i = 0; i < n; i++) {
    expect(parseIpInto(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, ip)).toBe(true);
    pipeline.offenders.record(attr, ip, 'default', opts.podName?.(i) ?? `pod-${i}`, 1, now);
  }
  pipeline.nowSec = now;
  const app = buildApp({ registry, pipeline, store, waitingFor: () => [] });
  apps.push(app);
  return { app, pipeline, store };
}

const get = async (app: FastifyInstance, url: string) => {
  const r = await app.inject({ method: 'GET', url });
  return { status: r.statusCode, body: r.json() as Record<string, unknown>, bytes: r.rawPayload.length };
};

describe('API 400s name the parameter and what it takes', () => {
  it.each([
    ['/api/v1/anomalies?stauts=stale', "unknown parameter 'stauts'; allowed: status, pool, node, namespace, limit"],
    ['/api/v1/anomalies?status=current', `status must be one of: ${[...anomalousStatuses].join(', ')}; got 'current'`],
    ['/api/v1/anomalies?status=stale&status=unallocated', `status must be one of: ${[...anomalousStatuses].join(', ')}, given once`],
    ['/api/v1/anomalies?limit=ten', "limit must be a whole number from 1 to 1000; got 'ten'"],
    ['/api/v1/anomalies?limit=0', "limit must be a whole number from 1 to 1000; got '0'"],
    ['/api/v1/anomalies?limit=1001', "limit must be a whole number from 1 to 1000; got '1001'"],
    ['/api/v1/nodes?limit=-1', "limit must be a whole number from 1 to 5000; got '-1'"],
    ['/api/v1/nodes?node=a', "unknown parameter 'node'; allowed: limit"],
    ['/api/v1/pools?status=stale', "unknown parameter 'status'; allowed: limit"],
    ['/api/v1/migration?pool=x', "unknown parameter 'pool'; /api/v1/migration takes none"],
  ])('%s', async (url, error) => {
    const { app } = setup();
    const r = await get(app, url);
    expect(r.body).toEqual({ error });
    expect(r.status).toBe(400);
  });

  it('names an unknown path and lists the real ones', async () => {
    const { app } = setup();
    const r = await get(app, '/api/v1/anomaly?status=stale');
    expect(r.status).toBe(404);
    expect(r.body).toEqual({ error: "no such path '/api/v1/anomaly'; paths: /metrics, /healthz, /readyz, /api/v1/pools, /api/v1/nodes, /api/v1/anomalies, /api/v1/migration, /api/v1/endpoints, /api/v1/restart-plan, /api/v1/check, /, /console/console.js, /console/console.css, /api/v1/summary" });
  });
});

describe('list endpoints are bounded', () => {
  // Names at Kubernetes' own limit (the decoders cut longer ones to it).
  const longName = (i: number) => `pod-${i}-`.padEnd(253, 'x');

  it('/api/v1/anomalies with 10,000 offenders of long names: at most the default, then the maximum, and says how many were left out', async () => {
    const { app, pipeline } = setup({ offenders: 10_000, podName: longName });
    expect(pipeline.offenders.size).toBe(10_000);
    const byDefault = await get(app, '/api/v1/anomalies');
    expect(byDefault.status).toBe(200);
    expect(byDefault.body).toEqual(expect.objectContaining({ total: 10_000, returned: 500, truncated: true, limit: 500 }));
    expect(byDefault.body.anomalies).toHaveLength(500);
    const most = await get(app, '/api/v1/anomalies?limit=1000&status=stale');
    expect(most.body).toEqual(expect.objectContaining({ total: 10_000, returned: 1000, truncated: true, limit: 1000 }));
    expect(most.body.anomalies).toHaveLength(1000);
    // Each entry is about 0.5 kB: a capped answer stays well under a megabyte.
    expect(most.bytes).toBeLessThan(1 << 20);
  });

  it('/api/v1/anomalies says when nothing was left out', async () => {
    const { app } = setup({ offenders: 3 });
    const r = await get(app, '/api/v1/anomalies?limit=3');
    expect(r.body).toEqual(expect.objectContaining({ total: 3, returned: 3, truncated: false, limit: 3 }));
    expect(r.body.anomalies).toHaveLength(3);
  });

  it('/api/v1/nodes takes a limit and says how many nodes there are', async () => {
    const { app } = setup({ nodes: 7 });
    const r = await get(app, '/api/v1/nodes?limit=5');
    expect(r.status).toBe(200);
    expect(r.body).toEqual(expect.objectContaining({ total: 7, returned: 5, truncated: true, limit: 5 }));
    expect((r.body.nodes as Array<{ name: string; allocations: Array<{ cidr: string }> }>).map((n) => `${n.name} ${n.allocations.map((a) => a.cidr).join(',')}`)).toEqual([
      'node-0 10.0.0.0/24',
      'node-1 10.0.1.0/24',
      'node-2 10.0.2.0/24',
      'node-3 10.0.3.0/24',
      'node-4 10.0.4.0/24',
    ]);
    const all = await get(app, '/api/v1/nodes');
    expect(all.body).toEqual(expect.objectContaining({ total: 7, returned: 7, truncated: false, limit: 5000 }));
  });

  it('/api/v1/pools takes a limit too', async () => {
    const { app } = setup({ nodes: 1 });
    const r = await get(app, '/api/v1/pools?limit=1');
    expect(r.status).toBe(200);
    // The config's pool and the host-scope pool every state has.
    expect(r.body).toEqual(expect.objectContaining({ total: 2, returned: 1, truncated: true, limit: 1 }));
    expect((r.body.pools as Array<{ name: string }>).map((p) => p.name)).toEqual(['kubernetes']);
  });

  it('/readyz shows the first IPAM problems and how many there were', async () => {
    const { app, store } = setup();
    const problems = Array.from({ length: 30 }, (_, i) => ({ where: 'cluster.yaml', field: `pools[${i}].cidrs[0]`, value: '10.0.0.0/33', message: 'invalid CIDR' }));
    expect(store.update(emptyState(), 'cluster.yaml', problems)).toBeUndefined();
    const r = await get(app, '/readyz');
    const e = r.body.lastIpamError as { problems: Array<{ field: string }>; problemsTotal: number };
    expect(e.problemsTotal).toBe(30);
    expect(e.problems.map((p) => p.field)).toEqual(Array.from({ length: 20 }, (_, i) => `pools[${i}].cidrs[0]`));
  });
});

describe('the flow figures of the API and /metrics come from one read model', () => {
  // The truth cluster: pool legacy (10.20.0.0/16) is draining; n1 held 10.20.1.0/24 of it before the migration.
  // Window 60 s, clock at 1100 s: the window is 1040..1100.
  //   workload a (identity 1001): on legacy (10.20.1.5, stale) at 1000, on default (10.10.1.10, current) at 1100: moved
  //   workload b (identity 1002): on legacy (10.20.1.6, stale) at 1000 and at 1100: still on it
  // Every flow goes to an external address, FORWARDED.
  function migrationSetup() {
    const store = new IpamStore();
    const registry = new Registry();
    const pipeline = new AttributionPipeline({ registry, windowSec: 60 });
    pipeline.setSnapshot(store.update(truthIpamState(), 'test')!);
    createExporterMetrics(registry, { pipeline, store, processMetrics: false });
    const rec = new FlowRecord();
    const flow = (t: number, ip: string, identity: number, pod: string) => {
      rec.clear();
      rec.hasIp = true;
      rec.timeSeconds = t;
      rec.verdict = 1; // FORWARDED
      rec.nodeName = 'test/n1';
      expect(parseIpInto(ip, rec.source.ip)).toBe(true);
      rec.source.identity = identity;
      rec.source.endpointId = identity - 900; // every source is a pod on n1, the observing node: Hubble gives it its endpoint ID
      rec.source.namespace = 'shop';
      rec.source.podName = pod;
      rec.source.isPod = isPodEndpoint(pod, identity);
      expect(parseIpInto('142.250.74.110', rec.destination.ip)).toBe(true);
      rec.destination.identity = 2; // world
      pipeline.flow(rec);
    };
    flow(1000, '10.20.1.5', 1001, 'a-1');
    flow(1000, '10.20.1.6', 1002, 'b-1');
    flow(1100, '10.10.1.10', 1001, 'a-2');
    flow(1100, '10.20.1.6', 1002, 'b-1');
    const app = buildApp({ registry, pipeline, store, waitingFor: () => [] });
    apps.push(app);
    return app;
  }

  it('/api/v1/migration: one of the two workloads that were on legacy moved; one stale address is active', async () => {
    const app = migrationSetup();
    const r = await get(app, '/api/v1/migration');
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      mode: 'cluster-pool',
      windowSeconds: 60,
      // No pods known: progress from the traffic.
      progressSource: 'traffic',
      draining: [{ pool: 'legacy', cidrs: ['10.20.0.0/16'], progressRatio: 0.5, workloadsEverOn: 2, workloadsActive: 2, workloadsMoved: 1, staleEndpointsActive: 1 }],
      staleEndpointsActive: 1,
      staleFlowsInWindow: 1,
    });
  });

  it('/api/v1/anomalies lists both stale addresses, most recent first, with their flows in the window', async () => {
    const app = migrationSetup();
    const r = await get(app, '/api/v1/anomalies?status=stale');
    expect(r.body).toEqual(expect.objectContaining({ windowSeconds: 60, total: 2, returned: 2, truncated: false, limit: 500 }));
    const rows = (r.body.anomalies as Array<Record<string, unknown>>).map((a) => [a.ip, a.pod, a.node, a.pool, a.flows, a.flowsInWindow, a.byVerdict]);
    expect(rows).toEqual([
      ['10.20.1.6', 'b-1', 'n1', 'legacy', 2, 1, { FORWARDED: 2 }],
      ['10.20.1.5', 'a-1', 'n1', 'legacy', 1, 0, { FORWARDED: 1 }],
    ]);
  });

  it('/api/v1/pools: active addresses in the window per pool and family', async () => {
    const app = migrationSetup();
    const r = await get(app, '/api/v1/pools');
    const active = (r.body.pools as Array<{ name: string; capacity: Array<{ family: string; activeIps: number }> }>).flatMap((p) => p.capacity.map((c) => `${p.name}|${c.family}|${c.activeIps}`));
    expect(active).toEqual(['default|ipv4|1', 'default|ipv6|0', 'legacy|ipv4|1']);
  });

  it('/metrics shows the same figures, and no handler failed', async () => {
    const app = migrationSetup();
    const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    const one = (name: string, labels: readonly string[] = []) => Object.fromEntries(parseProm(text, name, labels));
    expect(one('hubble_ipam_migration_progress_ratio', ['pool'])).toEqual({ legacy: 0.5 });
    expect(one('hubble_ipam_pool_active_ips', ['pool', 'family'])).toEqual({ 'legacy|ipv4': 1, 'default|ipv4': 1 });
    expect(one('hubble_ipam_anomalous_endpoints', ['status', 'ip', 'pod'])).toEqual({ 'stale|10.20.1.6|b-1': 1 });
    // The additive figures: one stale address local to n1 in the window (10.20.1.6; 10.20.1.5 was last seen at 1000),
    // and the ratio's parts (a moved, b left).
    expect(one('hubble_ipam_anomalous_addresses', ['status', 'pool', 'node', 'namespace'])).toEqual({ 'stale|legacy|n1|shop': 1 });
    expect(one('hubble_ipam_migration_count', ['pool', 'state'])).toEqual({ 'legacy|moved': 1, 'legacy|left': 1 });
    expect(one('hubble_ipam_flows_received_total')).toEqual({ '': 4 });
    expect(one('hubble_ipam_handler_errors_total', ['handler'])).toEqual({ flows_total: 0, pool_flows_total: 0, anomalous_endpoints: 0, pool_active_ips: 0, migration_progress: 0 });
  });
});
