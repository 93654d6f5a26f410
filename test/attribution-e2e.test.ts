import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { untilClosed } from './support/lifecycle.js';
import { ExporterService } from '../src/service.js';
import { SimulatedRelay } from '../src/sim/simulated-relay.js';
import { groundTruth, parseProm, truthConfigYaml, truthScenario, type Truth } from './support/ground-truth.js';
import { waitFor } from './support/wait.js';

const TOTAL = 4000;

describe('attribution end to end: simulated relay over gRPC → exporter → scraped /metrics', () => {
  let relay: SimulatedRelay;
  let service: ExporterService;
  let truth: Truth;
  let metrics: string;
  let cfg: string;

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hie-e2e-'));
    cfg = join(dir, 'ipam.yaml');
    writeFileSync(cfg, truthConfigYaml);
    const epoch = Date.now();
    relay = new SimulatedRelay({ scenario: truthScenario(TOTAL, 8000), epochMs: epoch });
    const address = await relay.listen('127.0.0.1:0');
    truth = groundTruth(Array.from({ length: TOTAL }, (_, i) => relay.model.flowAt(i)));
    service = new ExporterService({
      relay: { address, since: new Date(epoch - 1000) },
      ipam: { files: [cfg], filePollMs: 100 },
      listenAddress: '127.0.0.1:0',
      windowSec: 3600,
    });
    await service.start(untilClosed);
    await waitFor(() => service.pipeline.flows >= TOTAL, `${TOTAL} flows through the pipeline`, 20_000, () => service.pipeline.flows);
    metrics = await (await fetch(`${service.address}/metrics`)).text();
  });

  afterAll(async () => {
    await service?.close();
    await relay?.close();
  });

  it('covers every status in both families (the scenario is what it claims)', () => {
    const statuses = new Set([...truth.flows.keys()].map((k) => k.split('|')[3]));
    expect([...statuses].sort()).toEqual(['current', 'external', 'node', 'out_of_pool', 'service', 'stale', 'unallocated', 'unknown', 'wrong_node']);
    expect([...truth.offenders.get('unallocated')!].sort()).toEqual(['10.10.9.9', 'fd00:10:0:9::9']);
    expect([...truth.offenders.get('out_of_pool')!].sort()).toEqual(['172.31.0.5', 'fd99::5']);
  });

  it('hubble_ipam_flows_total equals the ground truth series by series', () => {
    const got = parseProm(metrics, 'hubble_ipam_flows_total', ['side', 'pool', 'node', 'status', 'verdict']);
    expect(Object.fromEntries([...got].sort())).toEqual(Object.fromEntries([...truth.flows].sort()));
    expect([...got.values()].reduce((a, b) => a + b, 0)).toBe(2 * TOTAL);
  });

  it('hubble_ipam_pool_flows_total equals the ground truth matrix', () => {
    const got = parseProm(metrics, 'hubble_ipam_pool_flows_total', ['source_pool', 'destination_pool', 'verdict']);
    expect(Object.fromEntries([...got].sort())).toEqual(Object.fromEntries([...truth.matrix].sort()));
  });

  it('exports the offenders, with the pods behind them', () => {
    const got = parseProm(metrics, 'hubble_ipam_anomalous_endpoints', ['status', 'ip', 'pod', 'node']);
    expect([...got.keys()].sort()).toEqual([
      'out_of_pool|172.31.0.5|oop-8a-eeeee|',
      'out_of_pool|fd99::5|oop-8a-eeeee|',
      'stale|10.20.1.5|stale-5c4b-ccccc|n1',
      'unallocated|10.10.9.9|unalloc-6f-ddddd|',
      'unallocated|fd00:10:0:9::9|unalloc-6f-ddddd|',
      'wrong_node|10.10.1.77|wrong-9b-fffff|n1',
    ]);
  });

  it('reports pipeline, capacity and migration figures', () => {
    const one = (name: string, labels: readonly string[] = []) => Object.fromEntries(parseProm(metrics, name, labels));
    expect(one('hubble_ipam_flows_received_total')).toEqual({ '': TOTAL });
    expect(one('hubble_ipam_relay_connected')).toEqual({ '': 1 });
    expect(one('hubble_ipam_relay_nodes', ['state'])).toEqual({ connected: 3, unavailable: 0, gone: 0, error: 0 });
    expect(one('hubble_ipam_lost_events_total', ['source'])).toEqual({ PERF_EVENT_RING_BUFFER: 0, OBSERVER_EVENTS_QUEUE: 0, HUBBLE_RING_BUFFER: 0 });
    expect(one('hubble_ipam_ipam_errors_total')).toEqual({ '': 0 });
    expect(one('hubble_ipam_decode_errors_total')).toEqual({ '': 0 });
    expect(one('hubble_ipam_pool_capacity_ips', ['pool', 'family'])).toEqual({ 'default|ipv4': 65536, 'default|ipv6': 2 ** 80, 'legacy|ipv4': 65536 });
    expect(one('hubble_ipam_pool_allocated_ips', ['pool', 'family'])).toEqual({ 'default|ipv4': 768, 'default|ipv6': 2 * 2 ** 64, 'legacy|ipv4': 0 });
    expect(one('hubble_ipam_node_allocated_ips', ['pool', 'node', 'family'])).toEqual({
      'default|n1|ipv4': 256,
      'default|n1|ipv6': 2 ** 64,
      'default|n2|ipv4': 256,
      'default|n2|ipv6': 2 ** 64,
      'default|n3|ipv4': 256,
    });
    // Pool addresses seen: default has cur1, cur2, unalloc and the wrong pod (v4: 4) and cur1, cur2, unalloc (v6: 3); legacy has the stale pod.
    expect(one('hubble_ipam_pool_active_ips', ['pool', 'family'])).toEqual({ 'default|ipv4': 4, 'default|ipv6': 3, 'legacy|ipv4': 1 });
    // The stale workload never moved off the draining pool.
    expect(one('hubble_ipam_migration_progress_ratio', ['pool'])).toEqual({ legacy: 0 });
    expect(metrics).toContain('nodejs_eventloop_lag_seconds');
  });

  it('serves the JSON API and validates its queries', async () => {
    const get = async (path: string) => {
      const r = await fetch(`${service.address}${path}`);
      return { status: r.status, body: (await r.json()) as Record<string, unknown> };
    };
    const ready = await get('/readyz');
    expect(ready).toEqual({ status: 200, body: expect.objectContaining({ ready: true, waitingFor: [], ipamVersion: 1, ipamErrors: 0 }) });
    const stale = await get('/api/v1/anomalies?status=stale');
    expect(stale.status).toBe(200);
    expect((stale.body.anomalies as Array<Record<string, unknown>>).map((a) => [a.ip, a.pod, a.namespace, a.node, a.pool])).toEqual([['10.20.1.5', 'stale-5c4b-ccccc', 'legacy', 'n1', 'legacy']]);
    const a = (stale.body.anomalies as Array<{ flows: number; byVerdict: Record<string, number> }>)[0]!;
    expect(a.flows).toBe(Object.values(a.byVerdict).reduce((x, y) => x + y, 0));
    expect(a.byVerdict.DROPPED).toBeGreaterThan(0);
    const bad = await get('/api/v1/anomalies?status=bogus');
    expect(bad.status).toBe(400);
    expect(bad.body.error).toBe("status must be one of: stale, unallocated, wrong_node, out_of_pool; got 'bogus'");
    expect((await get('/api/v1/anomalies?limit=0')).status).toBe(400);
    expect((await get('/api/v1/anomalies?colour=red')).status).toBe(400);
    const pools = await get('/api/v1/pools');
    expect((pools.body.pools as Array<{ name: string; state: string }>).map((p) => `${p.name}:${p.state}`)).toEqual(['default:active', 'legacy:draining']);
    const migration = await get('/api/v1/migration');
    expect(migration.body).toEqual(expect.objectContaining({ mode: 'cluster-pool', staleEndpointsActive: 1 }));
    const nodes = await get('/api/v1/nodes');
    expect((nodes.body.nodes as Array<{ name: string }>).map((n) => n.name)).toEqual(['n1', 'n2', 'n3']);
  });

  it('serves OpenMetrics when asked, without disturbing the text format', async () => {
    const om = await (await fetch(`${service.address}/metrics`, { headers: { accept: 'application/openmetrics-text; version=1.0.0' } })).text();
    expect(om).toMatch(/^# TYPE hubble_ipam_flows counter$/m);
    expect(om.trimEnd().endsWith('# EOF')).toBe(true);
    const text = await (await fetch(`${service.address}/metrics`)).text();
    expect(text).toMatch(/^# TYPE hubble_ipam_flows_total counter$/m);
  });

  it('re-exports the per-node gauges when the IPAM changes (they are set once per snapshot)', async () => {
    const nodeSeries = async () => Object.fromEntries(parseProm(await (await fetch(`${service.address}/metrics`)).text(), 'hubble_ipam_node_allocated_ips', ['node', 'family']));
    const before = service.store.snapshot!.version;
    expect(await nodeSeries()).toEqual({ 'n1|ipv4': 256, 'n1|ipv6': 2 ** 64, 'n2|ipv4': 256, 'n2|ipv6': 2 ** 64, 'n3|ipv4': 256 });
    // n3's CIDR shrinks to a /25 and n2 leaves; n4 joins.
    const changed = truthConfigYaml
      .replace('cidrs: [10.10.3.0/24]', 'cidrs: [10.10.3.0/25]')
      .replace(/  - name: n2\n(    .*\n){2}/, '')
      .concat('  - name: n4\n    allocations: [{ pool: default, cidrs: [10.10.4.0/24] }]\n');
    expect(changed).not.toContain('name: n2');
    writeFileSync(cfg, changed);
    await waitFor(() => service.store.snapshot!.version > before, 'the changed IPAM file to be read', 10_000, () => service.store.snapshot!.version);
    expect(await nodeSeries()).toEqual({ 'n1|ipv4': 256, 'n1|ipv6': 2 ** 64, 'n3|ipv4': 128, 'n4|ipv4': 256 });
  });
});
