/**
 * Every real Hubble dump in ../shared/fixtures/hubble-flows, through the file
 * path (the JSON lane) and through the gRPC path (each line re-encoded as a
 * binary GetFlowsResponse, served over loopback, read by RelayClient with the
 * wire decoder): zero errors, and the same classification series.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { toBinary } from '@bufbuild/protobuf';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { AttributionPipeline } from '../src/attribution/pipeline.js';
import { GetFlowsResponseSchema } from '../src/gen/observer/observer_pb.js';
import { parseFlowLine, replayFiles } from '../src/ingest/file-source.js';
import { RelayClient } from '../src/ingest/relay-client.js';
import { stateFromObjects } from '../src/ipam/from-objects.js';
import { loadIpamFiles } from '../src/ipam/ipam-files.js';
import { IpamSnapshot } from '../src/ipam/snapshot.js';
import { flowDump } from './support/fixtures.js';
import { StaticRelay } from './support/static-relay.js';
import { untilClosed } from './support/lifecycle.js';
import { waitFor } from './support/wait.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Each dump, its flow count (SOURCES.md) and the IPAM written for its cluster. */
const dumps: Array<[string, number, string]> = [
  ['basic-sample-10-flows.json', 10, 'examples/dump-clusters/gke-otel-demo-1.yaml'],
  ['basic-sample-330-dns-flows.json', 330, 'examples/dump-clusters/gke-otel-demo-2.yaml'],
  ['basic-sample-348-http-flows.json', 348, 'examples/dump-clusters/gke-otel-demo-2.yaml'],
  ['basic-sample-400-tcp-flows.json', 400, 'examples/dump-clusters/kind-bookinfo.yaml'],
  ['policy-drops-226-flows.jsonl', 226, 'test/fixtures/ipam/policy-drops-226.yaml'],
  // A kind cluster with kind's default layout: kind-bookinfo.yaml holds kind-worker's 10.244.1.0/24.
  ['exporter-ipv6-drop-2-flows.jsonl', 2, 'examples/dump-clusters/kind-bookinfo.yaml'],
];

function pipelineFor(ipamFile: string) {
  const files = loadIpamFiles([join(root, ipamFile)]);
  const { state, problems } = stateFromObjects({ objects: files.items, configs: files.configs, serviceCidrs: [] });
  expect([...files.problems, ...problems]).toEqual([]);
  const registry = new Registry();
  const pipeline = new AttributionPipeline({ registry, windowSec: 10 * 365 * 86400 });
  pipeline.setSnapshot(IpamSnapshot.build(state));
  return { pipeline, registry };
}

async function classification(registry: Registry): Promise<string[]> {
  return (await registry.metrics())
    .split('\n')
    .filter((l) => /^hubble_ipam_(flows_total|pool_flows_total)\{/.test(l))
    .sort();
}

/** Flows per status and side, from the flows_total series. */
function byStatus(series: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const l of series) {
    const m = /^hubble_ipam_flows_total\{side="(\w+)".*status="(\w+)".* (\d+)$/.exec(l);
    if (m) out[`${m[2]}|${m[1]}`] = (out[`${m[2]}|${m[1]}`] ?? 0) + Number(m[3]);
  }
  return out;
}

describe('the real dumps through the file path and the gRPC path', () => {
  for (const [dump, count, ipam] of dumps) {
    it(`${dump}: ${count} flows, zero errors, zero unknown, the same series both ways`, async () => {
      const file = pipelineFor(ipam);
      const replay = await replayFiles([flowDump(dump)], file.pipeline);
      expect({ flows: replay.flows, errors: replay.errors, firstErrors: replay.firstErrors }).toEqual({ flows: count, errors: 0, firstErrors: [] });

      const responses = readFileSync(flowDump(dump), 'utf8')
        .trim()
        .split('\n')
        .map((l) => toBinary(GetFlowsResponseSchema, parseFlowLine(l)!));
      const relay = new StaticRelay(responses);
      const address = await relay.listen();
      cleanups.push(() => relay.close());
      const grpc = pipelineFor(ipam);
      const client = new RelayClient({ address }, grpc.pipeline);
      cleanups.push(() => client.close());
      client.start(untilClosed);
      await waitFor(() => client.stats.flows + client.stats.decodeErrors + client.stats.duplicates >= count, `${count} flows over gRPC`);
      expect({ flows: client.stats.flows, decodeErrors: client.stats.decodeErrors, duplicates: client.stats.duplicates }).toEqual({ flows: count, decodeErrors: 0, duplicates: 0 });

      const viaFile = await classification(file.registry);
      const viaGrpc = await classification(grpc.registry);
      expect(viaGrpc).toEqual(viaFile);
      const statuses = byStatus(viaFile);
      expect(Object.keys(statuses).filter((k) => k.startsWith('unknown|'))).toEqual([]);
      expect(Object.values(statuses).reduce((a, b) => a + b, 0)).toBe(2 * count);
    });
  }

  it('policy-drops-226: every source a current pod, 8 destinations the coredns pods, 218 the world (counted by hand)', async () => {
    const { pipeline, registry } = pipelineFor('test/fixtures/ipam/policy-drops-226.yaml');
    await replayFiles([flowDump('policy-drops-226-flows.jsonl')], pipeline);
    expect(byStatus(await classification(registry))).toEqual({ 'current|source': 226, 'current|destination': 8, 'external|destination': 218 });
  });

  it('exporter-ipv6-drop-2: the IPv6 link-local drop is external both ways, xwing → deathstar is current on kind-kind/kind-worker', async () => {
    const { pipeline, registry } = pipelineFor('examples/dump-clusters/kind-bookinfo.yaml');
    await replayFiles([flowDump('exporter-ipv6-drop-2-flows.jsonl')], pipeline);
    const series = await classification(registry);
    expect(byStatus(series)).toEqual({ 'current|source': 1, 'current|destination': 1, 'external|source': 1, 'external|destination': 1 });
    expect(series.filter((l) => l.includes('status="current"')).every((l) => l.includes('node="kind-worker"') && l.includes('verdict="DROPPED"'))).toBe(true);
  });
});
