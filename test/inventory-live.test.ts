/**
 * The pod inventory and restart plan of a running exporter: the fixture
 * cluster of test/plan.test.ts (mid-migration from pool `old` to `new`, both
 * families, stale pods of every workload kind, host-network and bare pods)
 * given as --ipam-file (IPAM objects, `kubectl get pods` and CiliumEndpoints),
 * its four flows sent by a real gRPC relay over loopback. What the API and
 * /metrics say is written out by hand below (the same cluster as the
 * offline `plan` test's ground truth).
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { toBinary } from '@bufbuild/protobuf';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GetFlowsResponseSchema } from '../src/gen/observer/observer_pb.js';
import { parseFlowLine } from '../src/ingest/file-source.js';
import { Registry } from 'prom-client';
import { AttributionPipeline } from '../src/attribution/pipeline.js';
import { LiveInventory } from '../src/inventory/live.js';
import { stateFromObjects } from '../src/ipam/from-objects.js';
import { loadIpamFiles } from '../src/ipam/ipam-files.js';
import { IpamStore } from '../src/ipam/ipam-store.js';
import { IpamSnapshot } from '../src/ipam/snapshot.js';
import { readModelOf } from '../src/read-model/read-model.js';
import { buildApp } from '../src/server/app.js';
import { ExporterService } from '../src/service.js';
import { untilClosed } from './support/lifecycle.js';
import { StaticRelay } from './support/static-relay.js';
import { PLAN_COMMANDS_WITH_FLOWS } from './support/inventory-truth.js';
import { runCli } from './support/processes.js';
import { waitFor } from './support/wait.js';

const fx = (name: string) => join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'inventory', name);

/** The plan's commands with the four flows' drops (the offline plan test's ground truth). */
const COMMANDS = PLAN_COMMANDS_WITH_FLOWS;

let service: ExporterService;
let relay: StaticRelay;
const get = async (path: string) => {
  const r = await fetch(`${service.address}${path}`);
  return { status: r.status, type: r.headers.get('content-type') ?? '', text: await r.text() };
};

beforeAll(async () => {
  const responses = readFileSync(fx('flows.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => toBinary(GetFlowsResponseSchema, parseFlowLine(l)!));
  relay = new StaticRelay(responses);
  const address = await relay.listen();
  service = new ExporterService({
    // The exporter's clock at the fixture's flows (2026-12-01T10:00:00-03Z): the live windows follow the wall clock when flows stop.
    relay: { address, clock: () => Date.parse('2026-12-01T10:00:30Z') },
    ipam: { files: [fx('ipam.yaml'), fx('pods.yaml'), fx('ciliumendpoints.yaml')], fileSettleMs: 0 },
    listenAddress: '127.0.0.1:0',
    windowSec: 3600,
  });
  await service.start(untilClosed);
  await waitFor(() => service.pipeline.flows >= 4, 'the four flows', 10_000, () => service.pipeline.flows);
});

afterAll(async () => {
  await service?.close();
  await relay?.close();
});

describe('the live pod inventory and restart plan', () => {
  it('/api/v1/restart-plan: the same workloads and commands as the offline plan, ordered by the drops the relay showed', async () => {
    const json = JSON.parse((await get('/api/v1/restart-plan')).text) as { inventoryKnown: boolean; pods: number; trafficKnown: boolean; steps: Array<{ commands: string[]; drops: number }> };
    expect([json.inventoryKnown, json.pods, json.trafficKnown, json.steps.length]).toEqual([true, 13, true, 12]);
    expect(json.steps.flatMap((s) => s.commands)).toEqual(COMMANDS);
    const shell = await get('/api/v1/restart-plan?format=shell');
    expect([shell.status, shell.type]).toEqual([200, 'text/plain; charset=utf-8']);
    expect(shell.text.split('\n').filter((l) => l.startsWith('kubectl'))).toEqual(COMMANDS);
    expect(shell.text.startsWith('#!/bin/sh\n# Restart plan')).toBe(true);
  });

  it('/api/v1/endpoints: every stale address with its traffic, "none" for the idle ones', async () => {
    const doc = JSON.parse((await get('/api/v1/endpoints?status=stale')).text) as {
      inventoryKnown: boolean;
      total: number;
      endpoints: Array<{ pod: string; ip: string; pool: string; workload: { kind: string; name: string }; traffic: unknown }>;
    };
    expect([doc.inventoryKnown, doc.total]).toEqual([true, 14]);
    const talking = doc.endpoints.filter((e) => typeof e.traffic === 'object').map((e) => [e.pod, e.ip, e.traffic]);
    expect(talking).toEqual([
      ['fluent-bit-x7k2p', '10.244.2.30', { flowsInWindow: 1, dropsSinceFirstSeen: 0 }],
      ['migrate-db-x9v8k', '10.244.2.41', { flowsInWindow: 2, dropsSinceFirstSeen: 2 }],
    ]);
    expect(doc.endpoints.filter((e) => e.traffic === 'none')).toHaveLength(12);
    expect(new Set(doc.endpoints.map((e) => e.pool))).toEqual(new Set(['old']));
    expect(doc.endpoints.find((e) => e.pod === 'report-28391040-abcde')?.workload).toEqual({ kind: 'CronJob', name: 'report' });

    const oop = JSON.parse((await get('/api/v1/endpoints?status=out_of_pool')).text) as { endpoints: Array<{ pod: string; traffic: unknown }> };
    expect(oop.endpoints.map((e) => [e.pod, e.traffic])).toEqual([['batch-api-5f5d7b9c4-zz9xq', { flowsInWindow: 1, dropsSinceFirstSeen: 1 }]]);
    // Current addresses are not tracked one by one.
    const current = JSON.parse((await get('/api/v1/endpoints?status=current&node=cp')).text) as { total: number; endpoints: Array<{ traffic: unknown }> };
    expect([current.total, [...new Set(current.endpoints.map((e) => e.traffic))]]).toEqual([2, ['untracked']]);
    const first = JSON.parse((await get('/api/v1/endpoints?status=stale&limit=3')).text) as { total: number; returned: number; truncated: boolean; endpoints: Array<{ ip: string }> };
    expect([first.total, first.returned, first.truncated]).toEqual([14, 3, true]);
    // The fixture's pods read cleanly: no problem to report.
    expect((JSON.parse((await get('/api/v1/endpoints?limit=1')).text) as { podProblems: unknown }).podProblems).toEqual({ total: 0, first: [] });
    expect(first.endpoints.map((e) => e.ip)).toEqual(doc.endpoints.slice(0, 3).map((e) => e.ip));
    const bad = await get('/api/v1/endpoints?status=gone');
    expect(bad.status).toBe(400);
  });

  it('/metrics: pod addresses by status, pool and node; pods left on the draining pool; the plan by node, talking and idle; progress from the inventory', async () => {
    const text = (await get('/metrics')).text;
    const series = (name: string) =>
      text
        .split('\n')
        .filter((l) => l.startsWith(`${name}{`))
        .sort();
    expect(series('hubble_ipam_pod_addresses')).toEqual(
      [
        'hubble_ipam_pod_addresses{status="current",pool="new",node="cp"} 2',
        'hubble_ipam_pod_addresses{status="current",pool="new",node="worker1"} 2',
        'hubble_ipam_pod_addresses{status="current",pool="new",node="worker2"} 2',
        'hubble_ipam_pod_addresses{status="wrong_node",pool="new",node="worker2"} 1',
        'hubble_ipam_pod_addresses{status="stale",pool="old",node="worker1"} 8',
        'hubble_ipam_pod_addresses{status="stale",pool="old",node="worker2"} 6',
        'hubble_ipam_pod_addresses{status="unallocated",pool="new",node="worker1"} 2',
        'hubble_ipam_pod_addresses{status="out_of_pool",pool="",node="worker2"} 1',
      ].sort(),
    );
    expect(series('hubble_ipam_pods_left_on_draining_pool')).toEqual(['hubble_ipam_pods_left_on_draining_pool{pool="old"} 10']);
    expect(series('hubble_ipam_restart_plan_pods')).toEqual(
      [
        'hubble_ipam_restart_plan_pods{node="worker1",activity="talking"} 0',
        'hubble_ipam_restart_plan_pods{node="worker1",activity="idle"} 6',
        'hubble_ipam_restart_plan_pods{node="worker2",activity="talking"} 3',
        'hubble_ipam_restart_plan_pods{node="worker2",activity="idle"} 4',
      ].sort(),
    );
    // 4 pods off the old pool, 10 left on it: 4 / 14.
    expect(series('hubble_ipam_migration_progress_ratio')).toEqual([`hubble_ipam_migration_progress_ratio{pool="old"} ${4 / 14}`]);
    const migration = JSON.parse((await get('/api/v1/migration')).text) as { progressSource: string; draining: Array<{ pool: string; progressRatio: number; podsLeft: number; podsOff: number }> };
    expect(migration.progressSource).toBe('inventory');
    expect(migration.draining.map((d) => [d.pool, d.progressRatio, d.podsLeft, d.podsOff])).toEqual([['old', 4 / 14, 10, 4]]);
  });

  it('/api/v1/check reads the objects the sources hold and the pods of the inventory: the two pods outside every allocation, as the offline check says', async () => {
    const live = JSON.parse((await get('/api/v1/check')).text) as { checkedFrom: string; notChecked: string[]; findings: Array<{ code: string; objects: string[] }> };
    expect([live.checkedFrom, live.notChecked]).toEqual(['objects', []]);
    // The out_of_pool pod and the unallocated one: addresses no allocation explains.
    expect(live.findings.map((f) => [f.code, f.objects])).toEqual([
      ['pod-outside-allocations', ['Pod shop/batch-api-5f5d7b9c4-zz9xq']],
      ['pod-outside-allocations', ['Pod shop/cache-0']],
    ]);
    const offline = runCli(['check', '--ipam', fx('ipam.yaml'), '--pods', fx('pods.yaml'), fx('ciliumendpoints.yaml'), '--format', 'json']);
    expect(offline.status).toBe(1);
    expect((JSON.parse(offline.stdout) as { findings: unknown[] }).findings).toEqual(live.findings);
  });

  it('/api/v1/summary names where the IPAM state in force came from (the console shows it)', async () => {
    const summary = JSON.parse((await get('/api/v1/summary')).text) as { ipam: { source: string; loadedAt: string; version: number; lastError: unknown } };
    expect(summary.ipam.source).toBe([fx('ipam.yaml'), fx('pods.yaml'), fx('ciliumendpoints.yaml')].join(', '));
    expect(summary.ipam.lastError).toBeNull();
    expect(Number.isNaN(Date.parse(summary.ipam.loadedAt))).toBe(false);
  });

  it('/api/v1/endpoints names what could not be read from the pod objects: a pod without an address, an owner of an unknown kind', async () => {
    const files = loadIpamFiles([fx('ipam.yaml'), fx('pods-odd.yaml')]);
    const { state, problems } = stateFromObjects({ objects: files.items });
    expect(problems).toEqual([]);
    const snapshot = IpamSnapshot.build(state);
    const pipeline = new AttributionPipeline({ registry: new Registry() });
    const pods = files.items.filter((it) => it.obj.kind === 'List' || it.obj.kind === 'Pod');
    const inventory = new LiveInventory({ pods: () => pods, snapshot: () => snapshot, read: readModelOf(pipeline) });
    const app = buildApp({ registry: new Registry(), pipeline, store: new IpamStore(), inventory, waitingFor: () => [] });
    const r = await app.inject({ method: 'GET', url: '/api/v1/endpoints?limit=1' });
    const body = r.json() as { podProblems: { total: number; first: Array<{ where: string; field: string }> } };
    expect(body.podProblems.total).toBe(2);
    expect(body.podProblems.first.map((p) => [p.where, p.field])).toEqual([
      [`Pod shop/no-ip (${fx('pods-odd.yaml')})`, 'status.podIPs'],
      [`Pod shop/canary-abcde (${fx('pods-odd.yaml')})`, 'metadata.ownerReferences[0].kind'],
    ]);
    await app.close();
  });
});
