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
import { stateFromObjects } from '../src/ipam/from-objects.js';
import { emptyState } from '../src/ipam/model.js';
import { IpamStore } from '../src/ipam/ipam-store.js';
import { validateConfig } from '../src/ipam/ipam-config.js';
import { IpAddr, parseIpInto } from '../src/net/ip.js';
import { buildApp } from '../src/server/app.js';

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
    expect(r.body).toEqual({ error: "no such path '/api/v1/anomaly'; paths: /metrics, /healthz, /readyz, /api/v1/pools, /api/v1/nodes, /api/v1/anomalies, /api/v1/migration" });
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
