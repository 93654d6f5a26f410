import { closeSync, mkdtempSync, openSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { untilClosed } from './support/lifecycle.js';
import type { IpamSnapshot } from '../src/ipam/snapshot.js';
import { ExporterService } from '../src/service.js';
import { SimulatedRelay } from '../src/sim/simulated-relay.js';
import { groundTruth, parseProm, truthScenario } from './support/ground-truth.js';
import { kubectlListYaml, truthPoolsYaml } from './support/truth-cluster-files.js';
import { waitFor } from './support/wait.js';

const TOTAL = 6000;
const FLOWS_PER_SECOND = 1500;
/** Small intervals keep the story short; the ratios are the defaults' (a poll is a fraction of the settle time). */
const POLL_MS = 20;
const SETTLE_MS = 400;
/** The old refresh: the shell truncates the file, kubectl talks to the API server, then writes in a few chunks. */
const KUBECTL_CONNECT_MS = 60;
const CHUNKS = 4;
const CHUNK_PAUSE_MS = 25;
const MIN_REWRITES = 6;

/** `kubectl get … -o yaml > cluster.yaml`: truncate first, write later, in pieces. */
async function rewriteInPlace(file: string, text: string): Promise<void> {
  const fd = openSync(file, 'w');
  try {
    await sleep(KUBECTL_CONNECT_MS);
    const step = Math.ceil(text.length / CHUNKS);
    for (let at = 0; at < text.length; at += step) {
      writeSync(fd, text.slice(at, at + step));
      await sleep(CHUNK_PAUSE_MS);
    }
  } finally {
    closeSync(fd);
  }
}

/** The README's loop: `kubectl get … -o yaml > cluster.yaml.tmp && mv cluster.yaml.tmp cluster.yaml`. */
async function rewriteAtomically(file: string, text: string): Promise<void> {
  const tmp = `${file}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    await sleep(KUBECTL_CONNECT_MS);
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}

describe('refreshing --ipam-file during traffic (the README refresh loop, old and new)', () => {
  let relay: SimulatedRelay;
  let service: ExporterService;

  afterAll(async () => {
    await service?.close();
    await relay?.close();
  });

  it('counts no flow side against a partial IPAM state, whether the file is rewritten in place or atomically; a rejected read shows in /readyz', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hie-refresh-'));
    const pools = join(dir, 'pools.yaml');
    const cluster = join(dir, 'cluster.yaml');
    writeFileSync(pools, truthPoolsYaml);
    const listYaml = kubectlListYaml();
    writeFileSync(cluster, listYaml);
    const epoch = Date.now();
    relay = new SimulatedRelay({ scenario: truthScenario(TOTAL, FLOWS_PER_SECOND), epochMs: epoch });
    const address = await relay.listen('127.0.0.1:0');
    const truth = groundTruth(Array.from({ length: TOTAL }, (_, i) => relay.model.flowAt(i)));
    service = new ExporterService({
      relay: { address, since: new Date(epoch - 1000) },
      ipam: { files: [pools, cluster], filePollMs: POLL_MS, fileSettleMs: SETTLE_MS },
      listenAddress: '127.0.0.1:0',
      windowSec: 3600,
    });
    const applied: IpamSnapshot[] = [];
    service.store.onChange((s) => applied.push(s));
    await service.start(untilClosed);

    // Rewrite the file, alternately in place and atomically, for as long as the relay sends (and at least MIN_REWRITES times),
    // each time waiting for the exporter to have applied the rewrite before the next one.
    let rewrites = 0;
    while (relay.flowsSent < TOTAL || rewrites < MIN_REWRITES) {
      const before = service.store.snapshot!.version;
      await (rewrites % 2 === 0 ? rewriteInPlace(cluster, listYaml) : rewriteAtomically(cluster, listYaml));
      rewrites++;
      await waitFor(() => service.store.snapshot!.version > before, `rewrite ${rewrites} to be applied`, 10_000);
    }
    await waitFor(() => service.pipeline.flows >= TOTAL, `${TOTAL} flows through the pipeline`, 20_000, () => service.pipeline.flows);

    // Every state applied was whole: the start, then each rewrite once.
    const allocations = (s: IpamSnapshot) => s.state.allocations.map((a) => `${a.node} ${a.cidr.text}`).sort();
    expect(applied.map((s) => s.version)).toEqual(Array.from({ length: rewrites + 1 }, (_, i) => i + 1));
    for (const s of applied) {
      expect(allocations(s), `version ${s.version}`).toEqual(['n1 10.10.1.0/24', 'n1 fd00:10:0:1::/64', 'n2 10.10.2.0/24', 'n2 fd00:10:0:2::/64', 'n3 10.10.3.0/24']);
      expect(s.state.nodeAddresses.length, `version ${s.version}`).toBe(6);
    }
    expect(service.store.errorCount).toBe(0);

    const metrics = await (await fetch(`${service.address}/metrics`)).text();
    const got = parseProm(metrics, 'hubble_ipam_flows_total', ['side', 'pool', 'node', 'status', 'verdict']);
    expect(Object.fromEntries([...got].sort())).toEqual(Object.fromEntries([...truth.flows].sort()));
    expect(Object.fromEntries(parseProm(metrics, 'hubble_ipam_flows_received_total', []))).toEqual({ '': TOTAL });

    // kubectl fails after the shell has truncated the file: the empty file is rejected, counted and shown; the exporter stays ready.
    const version = service.store.snapshot!.version;
    closeSync(openSync(cluster, 'w'));
    await waitFor(() => service.store.errorCount === 1, 'the empty file to be rejected', 10_000);
    const readyz = await fetch(`${service.address}/readyz`);
    const body = (await readyz.json()) as { ready: boolean; ipamVersion: number; ipamErrors: number; lastIpamError: { problems: Array<{ where: string; message: string }>; message: string } };
    expect(readyz.status).toBe(200);
    expect(body).toEqual(expect.objectContaining({ ready: true, ipamVersion: version, ipamErrors: 1 }));
    expect(body.lastIpamError.problems.map((p) => [p.where, p.message])).toEqual([
      [cluster, 'empty file (0 bytes): not applied; if a script refreshes it, write it atomically: kubectl get … > cluster.yaml.tmp && mv cluster.yaml.tmp cluster.yaml'],
    ]);
    expect(body.lastIpamError.message).toMatch(new RegExp(`^${cluster.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: empty file \\(0 bytes\\): .*; keeping the IPAM state loaded at \\S+ \\(version ${version}\\)$`));
    const after = await (await fetch(`${service.address}/metrics`)).text();
    expect(Object.fromEntries(parseProm(after, 'hubble_ipam_ipam_errors_total', []))).toEqual({ '': 1 });
    expect(Object.fromEntries([...parseProm(after, 'hubble_ipam_flows_total', ['side', 'pool', 'node', 'status', 'verdict'])].sort())).toEqual(Object.fromEntries([...truth.flows].sort()));
    expect(service.store.snapshot!.version).toBe(version);
  }, 60_000);
});
