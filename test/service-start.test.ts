import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ExporterService } from '../src/service.js';
import { SimulatedRelay } from '../src/sim/simulated-relay.js';
import { groundTruth, parseProm, truthConfigYaml, truthScenario } from './support/ground-truth.js';
import { untilClosed } from './support/lifecycle.js';
import { waitFor } from './support/wait.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('the flow stream waits for a first IPAM state', () => {
  it('starts no stream while no IPAM state loaded (every pod would be out_of_pool), then counts every flow against the first one', async () => {
    const TOTAL = 2000;
    const dir = mkdtempSync(join(tmpdir(), 'hie-start-'));
    const cfg = join(dir, 'ipam.yaml');
    writeFileSync(cfg, ''); // a refresh that failed before the exporter started
    const epoch = Date.now();
    const relay = new SimulatedRelay({ scenario: truthScenario(TOTAL, 8000), epochMs: epoch });
    const address = await relay.listen('127.0.0.1:0');
    cleanups.push(() => relay.close());
    const service = new ExporterService({
      relay: { address, since: new Date(epoch - 1000) },
      ipam: { files: [cfg], filePollMs: 50, fileSettleMs: 100 },
      listenAddress: '127.0.0.1:0',
      windowSec: 3600,
    });
    cleanups.push(() => service.close());
    await service.start(untilClosed);

    // Started: the empty file was rejected, and the stream was not opened.
    expect(service.store.snapshot).toBeUndefined();
    expect(service.store.errorCount).toBe(1);
    expect(service.client.state).toBe('idle');
    expect(service.waitingFor().some((w) => w.startsWith('the flow stream from'))).toBe(true);

    // The IPAM file arrives whole: the stream starts and every flow is classified against it.
    writeFileSync(`${cfg}.tmp`, truthConfigYaml);
    renameSync(`${cfg}.tmp`, cfg);
    await waitFor(() => service.pipeline.flows >= TOTAL, `${TOTAL} flows through the pipeline`, 20_000, () => service.pipeline.flows);
    const truth = groundTruth(Array.from({ length: TOTAL }, (_, i) => relay.model.flowAt(i)));
    const metrics = await (await fetch(`${service.address}/metrics`)).text();
    const got = parseProm(metrics, 'hubble_ipam_flows_total', ['side', 'pool', 'node', 'status', 'verdict']);
    expect(Object.fromEntries([...got].sort())).toEqual(Object.fromEntries([...truth.flows].sort()));
  });
});
