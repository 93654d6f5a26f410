import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { AttributionPipeline } from '../src/attribution/pipeline.js';
import { FlowRecord } from '../src/ingest/flow-record.js';
import { stateFromObjects } from '../src/ipam/from-objects.js';
import { IpamStore } from '../src/ipam/ipam-store.js';
import { createExporterMetrics } from '../src/metrics/exporter-metrics.js';
import { parsePrefix } from '../src/net/prefix.js';

describe('cardinality', () => {
  it('100,000 distinct stale addresses keep /metrics under a fixed series count', async () => {
    const store = new IpamStore();
    const { state } = stateFromObjects({ objects: [], configs: [{ where: 't', config: { apiVersion: 'hubble-ipam-exporter/v1', kind: 'IpamConfig', mode: 'cluster-pool', pools: [{ name: 'old', cidrs: ['10.0.0.0/8'] }, { name: 'new', cidrs: ['172.20.0.0/16'] }] } }] });
    // Every /24 of 10.0.0.0/8 that a node once held: 256 nodes' worth of stale CIDRs.
    for (let n = 0; n < 256; n++) state.former.push({ node: `node-${n}`, pool: 'old', cidr: parsePrefix(`10.${n}.0.0/16`), releasedAt: '', reason: 'r', origin: 't' });
    const snap = store.update(state, 't')!;
    const registry = new Registry();
    const pipeline = new AttributionPipeline({ registry, windowSec: 3600, offenderCapacity: 1000 });
    pipeline.setSnapshot(snap);
    createExporterMetrics(registry, { pipeline, store, processMetrics: false, maxAnomalySeries: 50 });
    const rec = new FlowRecord();
    const seriesCount = async () => (await registry.metrics()).split('\n').filter((l) => l !== '' && !l.startsWith('#')).length;
    let before = 0;
    for (let i = 0; i < 100_000; i++) {
      rec.clear();
      rec.hasIp = true;
      rec.timeSeconds = 1_800_000_000 + Math.floor(i / 1000);
      rec.verdict = 2;
      rec.source.ip.family = 4;
      // Distinct addresses, spread over every former node from the first thousand on.
      rec.source.ip.v4 = ((10 << 24) | ((i % 256) << 16) | Math.floor(i / 256)) >>> 0;
      rec.source.isPod = true;
      rec.source.podName = `pod-${i}`;
      rec.destination.ip.family = 4;
      rec.destination.ip.v4 = (172 << 24) + (20 << 16) + 5;
      pipeline.flow(rec);
      if (i === 999) before = await seriesCount();
    }
    const after = await seriesCount();
    const text = await registry.metrics();
    expect(text.split('\n').filter((l) => l.startsWith('hubble_ipam_anomalous_endpoints{')).length).toBe(50);
    // 100 times more offenders, the same number of series: cardinality follows the IPAM, not the traffic.
    expect(after).toBe(before);
    expect(after).toBeLessThan(400);
    // The tracker behind it stays bounded too.
    expect(pipeline.offenders.size).toBeLessThanOrEqual(1250);
    expect(pipeline.offenders.evicted).toBeGreaterThan(98_000);
    expect(pipeline.flows).toBe(100_000);
  });
});
