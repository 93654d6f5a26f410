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
// Workload 1001 on n3 too: a pod on n1's former range there (stale), later its replacement on n3's own range.
const stale3 = (id?: number): Side => ({ ip: '10.20.1.6', identity: 1001, pod: 'stale-c', ...(id ? { id } : {}) });
const fresh3 = (id?: number): Side => ({ ip: '10.10.3.7', identity: 1001, pod: 'stale-d', ...(id ? { id } : {}) });
const odd = (id?: number): Side => ({ ip: '172.31.0.5', identity: 1005, pod: 'odd', ...(id ? { id } : {}) }); // out of every pool, on n3

// Window 60 s; the newest flow is at 1100 (n1's at 1095): the window is 1040..1100 for the Relay exporter.
// Nothing happens between 1000 and 1090, so every per-node exporter's window (judged by its own newest
// flow) holds the same flows.
const flows: TestFlow[] = [
  { t: 1000, node: 'n1', point: 0, verdict: DROPPED, src: stale(11), dst: web() }, // outside the window
  { t: 1000, node: 'n3', point: TO_ENDPOINT, verdict: FORWARDED, src: stale3(33), dst: moved(31) }, // outside the window
  { t: 1090, node: 'n1', point: FROM_ENDPOINT, verdict: FORWARDED, src: stale(11), dst: world },
  { t: 1092, node: 'n2', point: TO_ENDPOINT, verdict: FORWARDED, src: stale(), dst: web(21) }, // the stale pod, remote on n2
  { t: 1093, node: 'n2', point: FROM_ENDPOINT, verdict: FORWARDED, src: ghost(22), dst: world },
  { t: 1094, node: 'n3', point: FROM_ENDPOINT, verdict: FORWARDED, src: moved(31), dst: fresh() },
  { t: 1095, node: 'n1', point: FROM_ENDPOINT, verdict: FORWARDED, src: fresh(12), dst: web() },
  { t: 1096, node: 'n3', point: FROM_ENDPOINT, verdict: FORWARDED, src: fresh3(34), dst: world },
  { t: 1100, node: 'n3', point: FROM_ENDPOINT, verdict: DROPPED, src: odd(32), dst: world },
];

function exporter(nodeName?: string, pipelineOpts: { idleClockSec?: number; clock?: () => number; offenderCapacity?: number } = {}) {
  const store = new IpamStore();
  const registry = new Registry();
  const pipeline = new AttributionPipeline({ registry, windowSec: 60, ...pipelineOpts });
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
  return { registry, feed, pipeline };
}

/** The additive families and their labels. */
const additive: Array<[string, string[]]> = [
  ['hubble_ipam_flows_total', ['side', 'pool', 'node', 'status', 'verdict']],
  ['hubble_ipam_pool_flows_total', ['source_pool', 'destination_pool', 'verdict']],
  ['hubble_ipam_anomalous_addresses', ['status', 'pool', 'node', 'namespace']],
  ['hubble_ipam_pool_active_ips', ['pool', 'family']],
  ['hubble_ipam_migration_count', ['pool', 'state']],
  ['hubble_ipam_node_allocated_ips', ['pool', 'node', 'family']],
];
/** The cluster-wide facts: every replica the same. */
const clusterWide: Array<[string, string[]]> = [
  ['hubble_ipam_pool_capacity_ips', ['pool', 'family']],
  ['hubble_ipam_pool_node_cidrs_left', ['pool', 'family']],
  // Every replica reads every CiliumNode: a node without a running exporter is never left out.
  ['hubble_ipam_pool_allocated_ips', ['pool', 'family']],
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
    // 10.10.1.10 (n1), 10.10.2.10 (local on n2 at 1092), 10.10.3.7 (n3).
    expect(await r('hubble_ipam_pool_active_ips', ['pool', 'family'])).toEqual({ 'legacy|ipv4': 1, 'default|ipv4': 5 });
    // (Node, workload 1001) pairs on legacy, local sides only: n1 (on at 1090: left), n3 (on at 1000, off at
    // 1096: moved). The stale pod seen remote on n2 makes no pair there.
    expect(await r('hubble_ipam_migration_count', ['pool', 'state'])).toEqual({ 'legacy|moved': 1, 'legacy|left': 1 });
    expect(await r('hubble_ipam_migration_progress_ratio', ['pool'])).toEqual({ legacy: 0.5 });
    // IPAM: default ipv4 is n1, n2, n3's /24s; ipv6 n1 and n2's /64s; legacy is only former allocations.
    expect(await r('hubble_ipam_pool_allocated_ips', ['pool', 'family'])).toEqual({ 'default|ipv4': 768, 'default|ipv6': 2 * 2 ** 64, 'legacy|ipv4': 0 });
    expect(await r('hubble_ipam_pool_capacity_ips', ['pool', 'family'])).toEqual({ 'default|ipv4': 65536, 'default|ipv6': 2 ** 80, 'legacy|ipv4': 65536 });
    expect(await r('hubble_ipam_pool_node_cidrs_left', ['pool', 'family'])).toEqual({ 'default|ipv4': 253, 'default|ipv6': 65534, 'legacy|ipv4': 256 });
    // Each per-node exporter holds its own node's allocation rows only; the pool totals are the cluster's.
    expect(await scrape(perNode[2]!.registry, 'hubble_ipam_node_allocated_ips', ['pool', 'node', 'family'])).toEqual({ 'default|n3|ipv4': 256 });
    expect(await scrape(perNode[1]!.registry, 'hubble_ipam_pool_allocated_ips', ['pool', 'family'])).toEqual({ 'default|ipv4': 768, 'default|ipv6': 2 * 2 ** 64, 'legacy|ipv4': 0 });

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

describe('the live windows follow the wall clock when flows stop (idleClockSec)', () => {
  it('a quiet node lets its last sightings leave the window 60 s of grace late; offline (no idleClockSec) the newest flow is the clock', async () => {
    let wallMs = 1090_000;
    const live = exporter('n1', { idleClockSec: 60, clock: () => wallMs });
    const offline = exporter('n1');
    // n1's last flows: the stale pod at 1090 and its restarted twin at 1095; then the node goes quiet.
    for (const f of flows) if (f.node === 'n1') for (const e of [live, offline]) e.feed(f);
    const addresses = (e: typeof live) => scrape(e.registry, 'hubble_ipam_anomalous_addresses', ['status', 'pool', 'node', 'namespace']);
    const active = (e: typeof live) => scrape(e.registry, 'hubble_ipam_pool_active_ips', ['pool', 'family']);
    expect(await addresses(live)).toEqual({ 'stale|legacy|n1|shop': 1 });
    // Window 60 s, grace 60 s: at wall 1209 the clock is 1149, the window 1089..1149: 1090 and 1095 are in.
    wallMs = 1209_000;
    expect(live.pipeline.windowNowSec()).toBe(1149);
    expect(await addresses(live)).toEqual({ 'stale|legacy|n1|shop': 1 });
    // At wall 1211 the window is 1091..1151: the stale sighting (1090) is out, the current one (1095) still in.
    wallMs = 1211_000;
    expect(await addresses(live)).toEqual({});
    expect(await active(live)).toEqual({ 'default|ipv4': 1, 'legacy|ipv4': 0 });
    // Offline the windows are judged by the newest flow (1095) alone: nothing has left.
    expect(offline.pipeline.windowNowSec()).toBe(1095);
    expect(await addresses(offline)).toEqual({ 'stale|legacy|n1|shop': 1 });
    // The newest flow's time is unchanged (hubble_ipam_last_flow_timestamp_seconds says when the node last talked).
    expect(live.pipeline.nowSec).toBe(1095);
  });
});

describe('anomalous addresses are counted exactly, whatever the offenders table keeps', () => {
  it('20 stale addresses, 10 local to n1 and 10 to n2, with room for 10 offenders: the Relay exporter counts 20, as the two per-node exporters do', async () => {
    const stalePods: TestFlow[] = [];
    for (let i = 1; i <= 20; i++) {
      const node = i <= 10 ? 'n1' : 'n2';
      stalePods.push({ t: 1090 + i, node, point: FROM_ENDPOINT, verdict: DROPPED, src: { ip: `10.20.1.${100 + i}`, identity: 2000 + i, pod: `old-${i}`, id: 100 + i }, dst: world });
    }
    const relay = exporter(undefined, { offenderCapacity: 10 });
    for (const f of stalePods) relay.feed(f);
    const perNode = (['n1', 'n2'] as const).map((n) => {
      const e = exporter(n, { offenderCapacity: 10 });
      for (const f of stalePods) if (f.node === n) e.feed(f);
      return e;
    });
    const labels = ['status', 'pool', 'node', 'namespace'];
    expect(await scrape(relay.registry, 'hubble_ipam_anomalous_addresses', labels)).toEqual({ 'stale|legacy|n1|shop': 20 });
    expect(await scrape(perNode[0]!.registry, 'hubble_ipam_anomalous_addresses', labels)).toEqual({ 'stale|legacy|n1|shop': 10 });
    expect(await scrape(perNode[1]!.registry, 'hubble_ipam_anomalous_addresses', labels)).toEqual({ 'stale|legacy|n1|shop': 10 });
    // The offenders table of the Relay exporter did drop some (its top-K), which the count above does not depend on.
    expect(relay.pipeline.offenders.evicted).toBeGreaterThan(0);
  });
});
