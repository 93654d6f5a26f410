/**
 * Issue 14: the figures of three per-node exporters (each fed one node's
 * flows, as its agent sends them) add up to those of one Relay-mode exporter
 * fed every flow. The flows are written out below, and so is what each
 * family must say: the truths are by hand, the sums are checked on top.
 */
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { AttributionPipeline } from '../src/attribution/pipeline.js';
import { FlowRecord, isPodEndpoint } from '../src/ingest/flow-record.js';
import { IpamStore } from '../src/ipam/ipam-store.js';
import { createExporterMetrics } from '../src/metrics/exporter-metrics.js';
import { parseIpInto } from '../src/net/ip.js';
import { parseProm, truthIpamState } from './support/ground-truth.js';

const FROM_ENDPOINT = 5;
const TO_ENDPOINT = 101;
const FORWARDED = 1;
const DROPPED = 2;
const WORLD = 2;

/** One side: address, and for a pod its identity, name and (when local to the observing node) endpoint ID. */
interface Side {
  ip: string;
  identity?: number;
  pod?: string;
  id?: number;
}
interface TestFlow {
  t: number;
  node: 'n1' | 'n2' | 'n3';
  point: number;
  verdict: number;
  src: Side;
  dst: Side;
}

const world: Side = { ip: '142.250.74.110', identity: WORLD };
// The pods (truth cluster: default 10.10.0.0/16 current; legacy 10.20.0.0/16 draining, n1 held 10.20.1.0/24 of it).
const stale = (id?: number): Side => ({ ip: '10.20.1.5', identity: 1001, pod: 'stale-a', ...(id ? { id } : {}) }); // pod on n1, stale
const fresh = (id?: number): Side => ({ ip: '10.10.1.10', identity: 1001, pod: 'stale-b', ...(id ? { id } : {}) }); // same workload, restarted, n1
const web = (id?: number): Side => ({ ip: '10.10.2.10', identity: 1002, pod: 'web', ...(id ? { id } : {}) }); // current, n2
const ghost = (id?: number): Side => ({ ip: '10.10.9.9', identity: 1003, pod: 'ghost', ...(id ? { id } : {}) }); // unallocated, on n2
const moved = (id?: number): Side => ({ ip: '10.10.1.77', identity: 1004, pod: 'moved', ...(id ? { id } : {}) }); // n1's address, on n3: wrong_node
const odd = (id?: number): Side => ({ ip: '172.31.0.5', identity: 1005, pod: 'odd', ...(id ? { id } : {}) }); // out of every pool, on n3

// Window 60 s; the newest flow is at 1100 (n1's at 1095): the window is 1040..1100 for the Relay exporter.
// Nothing happens between 1000 and 1090, so every per-node exporter's window (judged by its own newest
// flow) holds the same flows.
const flows: TestFlow[] = [
  { t: 1000, node: 'n1', point: 0, verdict: DROPPED, src: stale(11), dst: web() }, // outside the window
  { t: 1000, node: 'n3', point: TO_ENDPOINT, verdict: FORWARDED, src: stale(), dst: moved(31) }, // outside the window
  { t: 1090, node: 'n1', point: FROM_ENDPOINT, verdict: FORWARDED, src: stale(11), dst: world },
  { t: 1092, node: 'n2', point: TO_ENDPOINT, verdict: FORWARDED, src: stale(), dst: web(21) }, // the stale pod, remote on n2
  { t: 1093, node: 'n2', point: FROM_ENDPOINT, verdict: FORWARDED, src: ghost(22), dst: world },
  { t: 1094, node: 'n3', point: FROM_ENDPOINT, verdict: FORWARDED, src: moved(31), dst: fresh() },
  { t: 1095, node: 'n1', point: FROM_ENDPOINT, verdict: FORWARDED, src: fresh(12), dst: web() },
  { t: 1100, node: 'n3', point: FROM_ENDPOINT, verdict: DROPPED, src: odd(32), dst: world },
];

function exporter(nodeName?: string) {
  const store = new IpamStore();
  const registry = new Registry();
  const pipeline = new AttributionPipeline({ registry, windowSec: 60 });
  pipeline.setSnapshot(store.update(truthIpamState(), 'test')!);
  createExporterMetrics(registry, { pipeline, store, processMetrics: false, ...(nodeName ? { nodeName } : {}) });
  const rec = new FlowRecord();
  const side = (s: Side, ep: FlowRecord['source']) => {
    expect(parseIpInto(s.ip, ep.ip)).toBe(true);
    ep.identity = s.identity ?? 0;
    ep.podName = s.pod ?? '';
    ep.namespace = s.pod ? 'shop' : '';
    ep.endpointId = s.id ?? 0;
    ep.isPod = isPodEndpoint(ep.podName, ep.identity);
  };
  const feed = (f: TestFlow) => {
    rec.clear();
    rec.hasIp = true;
    rec.timeSeconds = f.t;
    rec.verdict = f.verdict;
    rec.observationPoint = f.point;
    rec.nodeName = `test/${f.node}`;
    side(f.src, rec.source);
    side(f.dst, rec.destination);
    pipeline.flow(rec);
  };
  return { registry, feed };
}

/** The additive families and their labels. */
const additive: Array<[string, string[]]> = [
  ['hubble_ipam_flows_total', ['side', 'pool', 'node', 'status', 'verdict']],
  ['hubble_ipam_pool_flows_total', ['source_pool', 'destination_pool', 'verdict']],
  ['hubble_ipam_anomalous_addresses', ['status', 'pool', 'node', 'namespace']],
  ['hubble_ipam_pool_active_ips', ['pool', 'family']],
  ['hubble_ipam_migration_count', ['pool', 'state']],
  ['hubble_ipam_node_allocated_ips', ['pool', 'node', 'family']],
  ['hubble_ipam_pool_allocated_ips', ['pool', 'family']],
];
/** The cluster-wide facts: every replica the same. */
const clusterWide: Array<[string, string[]]> = [
  ['hubble_ipam_pool_capacity_ips', ['pool', 'family']],
  ['hubble_ipam_pool_node_cidrs_left', ['pool', 'family']],
];

async function scrape(registry: Registry, name: string, labels: string[]): Promise<Record<string, number>> {
  return Object.fromEntries(parseProm(await registry.metrics(), name, labels));
}

describe('three per-node exporters add up to the Relay-mode exporter', () => {
  it('each family, by hand, then summed (additive) or the same everywhere (cluster-wide facts)', async () => {
    const relay = exporter();
    for (const f of flows) relay.feed(f);
    const perNode = (['n1', 'n2', 'n3'] as const).map((n) => {
      const e = exporter(n);
      for (const f of flows) if (f.node === n) e.feed(f);
      return e;
    });

    const r = (name: string, labels: string[]) => scrape(relay.registry, name, labels);
    // By hand. Local (holding-node) sightings in the window: stale 10.20.1.5 on n1 (1090), ghost on n2 (1093),
    // moved on n3 (1094), odd on n3 (1100). The stale pod seen remote on n2 does not count again.
    expect(await r('hubble_ipam_anomalous_addresses', ['status', 'pool', 'node', 'namespace'])).toEqual({
      'stale|legacy|n1|shop': 1,
      'unallocated|default||shop': 1,
      'wrong_node|default|n1|shop': 1,
      'out_of_pool|||shop': 1,
    });
    // Local pool addresses in the window: legacy 10.20.1.5; default 10.10.9.9 (n2), 10.10.1.77 (n3),
    // 10.10.1.10 (n1), 10.10.2.10 (local on n2 at 1092).
    expect(await r('hubble_ipam_pool_active_ips', ['pool', 'family'])).toEqual({ 'legacy|ipv4': 1, 'default|ipv4': 4 });
    // (Observing node, workload 1001) pairs on legacy: n1 (on at 1090: left), n2 (on at 1092: left),
    // n3 (on at 1000, off at 1094: moved).
    expect(await r('hubble_ipam_migration_count', ['pool', 'state'])).toEqual({ 'legacy|moved': 1, 'legacy|left': 2 });
    expect(await r('hubble_ipam_migration_progress_ratio', ['pool'])).toEqual({ legacy: 1 / 3 });
    // IPAM: default ipv4 is n1, n2, n3's /24s; ipv6 n1 and n2's /64s; legacy is only former allocations.
    expect(await r('hubble_ipam_pool_allocated_ips', ['pool', 'family'])).toEqual({ 'default|ipv4': 768, 'default|ipv6': 2 * 2 ** 64, 'legacy|ipv4': 0 });
    expect(await r('hubble_ipam_pool_capacity_ips', ['pool', 'family'])).toEqual({ 'default|ipv4': 65536, 'default|ipv6': 2 ** 80, 'legacy|ipv4': 65536 });
    expect(await r('hubble_ipam_pool_node_cidrs_left', ['pool', 'family'])).toEqual({ 'default|ipv4': 253, 'default|ipv6': 65534, 'legacy|ipv4': 256 });
    // Each per-node exporter holds its own node's allocations only.
    expect(await scrape(perNode[2]!.registry, 'hubble_ipam_node_allocated_ips', ['pool', 'node', 'family'])).toEqual({ 'default|n3|ipv4': 256 });
    expect(await scrape(perNode[1]!.registry, 'hubble_ipam_pool_allocated_ips', ['pool', 'family'])).toEqual({ 'default|ipv4': 256, 'default|ipv6': 2 ** 64, 'legacy|ipv4': 0 });

    for (const [name, labels] of additive) {
      const sum: Record<string, number> = {};
      for (const e of perNode) for (const [k, v] of Object.entries(await scrape(e.registry, name, labels))) sum[k] = (sum[k] ?? 0) + v;
      expect(sum, name).toEqual(await r(name, labels));
      expect(Object.keys(sum).length, `${name} has series`).toBeGreaterThan(0);
    }
    for (const [name, labels] of clusterWide) {
      for (const e of perNode) expect(await scrape(e.registry, name, labels), name).toEqual(await r(name, labels));
    }
  });
});
