/**
 * One failing handler never stops the stream. A real simulated relay over
 * gRPC feeds a pipeline with one extra handler that throws on every DROPPED
 * flow and, after it, one that counts what it sees. The built-in handlers'
 * counters still equal the hand-written ground truth series by series, the
 * handler after the thrower sees every flow, and
 * hubble_ipam_handler_errors_total says exactly how often each handler
 * failed: the DROPPED flows for the thrower, 0 for every built-in one.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FlowHandler } from '../src/attribution/handler.js';
import { AttributionPipeline } from '../src/attribution/pipeline.js';
import { Verdict } from '../src/gen/flow/flow_pb.js';
import { RelayClient } from '../src/ingest/relay-client.js';
import { stateFromObjects } from '../src/ipam/from-objects.js';
import { loadIpamFiles } from '../src/ipam/ipam-files.js';
import { IpamStore } from '../src/ipam/ipam-store.js';
import { createExporterMetrics } from '../src/metrics/exporter-metrics.js';
import { buildApp } from '../src/server/app.js';
import { SimulatedRelay } from '../src/sim/simulated-relay.js';
import { groundTruth, parseProm, truthConfigYaml, truthScenario, type Truth } from './support/ground-truth.js';
import { waitFor } from './support/wait.js';

const TOTAL = 3000;
const BUILT_IN = ['flows_total', 'pool_flows_total', 'anomalous_endpoints', 'pool_active_ips', 'migration_progress'];

describe('a throwing handler leaves the stream and the other handlers running', () => {
  const stop = new AbortController();
  let relay: SimulatedRelay;
  let client: RelayClient;
  let truth: Truth;
  let dropped = 0;
  let seenAfter = 0;
  let metrics = '';
  let pipeline: AttributionPipeline;

  beforeAll(async () => {
    const epoch = Date.now();
    relay = new SimulatedRelay({ scenario: truthScenario(TOTAL, 20_000), epochMs: epoch });
    const address = await relay.listen('127.0.0.1:0');
    const flows = Array.from({ length: TOTAL }, (_, i) => relay.model.flowAt(i));
    truth = groundTruth(flows);
    dropped = flows.filter((f) => f.verdict === Verdict.DROPPED).length;

    const dir = mkdtempSync(join(tmpdir(), 'hie-handlers-'));
    writeFileSync(join(dir, 'ipam.yaml'), truthConfigYaml);
    const files = loadIpamFiles([join(dir, 'ipam.yaml')]);
    const built = stateFromObjects({ objects: files.items, configs: files.configs });
    expect([...files.problems, ...built.problems]).toEqual([]);
    const store = new IpamStore();
    const registry = new Registry();
    const boom: FlowHandler = {
      name: 'boom',
      processFlow: (f) => {
        if (f.rec.verdict === Verdict.DROPPED) throw new Error('boom on a dropped flow');
      },
    };
    const after: FlowHandler = { name: 'after', processFlow: () => void seenAfter++ };
    pipeline = new AttributionPipeline({ registry, windowSec: 3600, extraHandlers: [() => boom, () => after] });
    pipeline.setSnapshot(store.update(built.state, 'test')!);
    client = new RelayClient({ address, since: new Date(epoch - 1000) }, pipeline);
    createExporterMetrics(registry, { pipeline, store, stream: () => client, processMetrics: false });
    const app = buildApp({ registry, pipeline, store, waitingFor: () => [] });
    client.start(stop.signal);
    await waitFor(() => client.stats.flows >= TOTAL, `${TOTAL} flows over gRPC`, 20_000, () => client.stats.flows);
    metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    await app.close();
  });

  afterAll(async () => {
    stop.abort();
    await client?.close();
    await relay?.close();
  });

  it('the scenario has dropped flows to throw on, and flows that are not', () => {
    expect(dropped).toBeGreaterThan(0);
    expect(dropped).toBeLessThan(TOTAL);
  });

  it('the stream took every flow, once', () => {
    expect(Object.fromEntries(parseProm(metrics, 'hubble_ipam_flows_received_total', []))).toEqual({ '': TOTAL });
    expect(client.stats.flows).toBe(TOTAL);
    expect(pipeline.flows).toBe(TOTAL);
  });

  it('the built-in handlers counted every flow: flows_total and pool_flows_total equal the ground truth', () => {
    const got = parseProm(metrics, 'hubble_ipam_flows_total', ['side', 'pool', 'node', 'status', 'verdict']);
    expect(Object.fromEntries([...got].sort())).toEqual(Object.fromEntries([...truth.flows].sort()));
    const matrix = parseProm(metrics, 'hubble_ipam_pool_flows_total', ['source_pool', 'destination_pool', 'verdict']);
    expect(Object.fromEntries([...matrix].sort())).toEqual(Object.fromEntries([...truth.matrix].sort()));
  });

  it('the handler after the thrower saw every flow', () => {
    expect(seenAfter).toBe(TOTAL);
  });

  it('hubble_ipam_handler_errors_total: the dropped flows for the thrower, 0 for every other handler', () => {
    expect(Object.fromEntries(parseProm(metrics, 'hubble_ipam_handler_errors_total', ['handler']))).toEqual({
      ...Object.fromEntries(BUILT_IN.map((h) => [h, 0])),
      boom: dropped,
      after: 0,
    });
  });
});

describe('handler names', () => {
  it('two handlers with one name are refused: the name is their error series', () => {
    const h: FlowHandler = { name: 'flows_total', processFlow: () => {} };
    expect(() => new AttributionPipeline({ extraHandlers: [() => h] })).toThrow("two flow handlers are named 'flows_total'; each needs its own name (the handler label of hubble_ipam_handler_errors_total)");
  });
});
