import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { create, toJsonString } from '@bufbuild/protobuf';
import ipaddr from 'ipaddr.js';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { analyze } from '../src/analyze/analyze.js';
import { GetFlowsResponseSchema } from '../src/gen/observer/observer_pb.js';
import { IpamError } from '../src/ipam/model.js';
import { ScenarioModel } from '../src/sim/scenario.js';
import { flowDump } from './support/fixtures.js';
import { groundTruth, truthConfigYaml, truthScenario } from './support/ground-truth.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'dist', 'cli.js');

describe('analyze', () => {
  it('gives the same numbers as the live exporter on the ground-truth scenario (jsonpb, gzip)', async () => {
    const total = 3000;
    const model = new ScenarioModel(truthScenario(total, 8000), Date.parse('2026-11-21T10:00:00Z'));
    const flows = Array.from({ length: total }, (_, i) => model.flowAt(i));
    const dir = mkdtempSync(join(tmpdir(), 'hie-analyze-'));
    const lines = flows.map((f) => toJsonString(GetFlowsResponseSchema, create(GetFlowsResponseSchema, { responseTypes: { case: 'flow', value: f }, nodeName: f.nodeName, time: f.time }), { useProtoFieldName: true }));
    // Split over two files, one of them gzipped.
    writeFileSync(join(dir, 'a.json'), `${lines.slice(0, 1000).join('\n')}\n`);
    writeFileSync(join(dir, 'b.json.gz'), gzipSync(`${lines.slice(1000).join('\n')}\n`));
    writeFileSync(join(dir, 'ipam.yaml'), truthConfigYaml);
    const report = await analyze({ flowFiles: [join(dir, 'a.json'), join(dir, 'b.json.gz')], ipamFiles: [join(dir, 'ipam.yaml')] });
    const truth = groundTruth(flows);
    expect(report.input).toEqual(expect.objectContaining({ lines: total, flows: total, badLines: 0 }));
    expect(Object.fromEntries(report.series.map((s) => [[s.side, s.pool, s.node, s.status, s.verdict].join('|'), s.flows]).sort())).toEqual(Object.fromEntries([...truth.flows].sort()));
    const matrixTruth = new Map<string, number>();
    for (const [k, n] of truth.matrix) {
      const [s, d] = k.split('|');
      matrixTruth.set(`${s}|${d}`, (matrixTruth.get(`${s}|${d}`) ?? 0) + n);
    }
    expect(Object.fromEntries(report.matrix.map((m) => [`${m.sourcePool}|${m.destinationPool}`, m.flows]).sort())).toEqual(Object.fromEntries([...matrixTruth].sort()));
    for (const [status, ips] of truth.offenders) expect(report.offenders.filter((o) => o.status === status).map((o) => o.ip).sort(), status).toEqual([...ips].sort());
  });

  // The real dumps against IPAM objects written for their clusters (examples/dump-clusters),
  // checked against a deliberately naive classification of the same YAML with ipaddr.js.
  const dumps: Array<[string, string]> = [
    ['basic-sample-10-flows.json', 'gke-otel-demo-1.yaml'],
    ['basic-sample-330-dns-flows.json', 'gke-otel-demo-2.yaml'],
    ['basic-sample-348-http-flows.json', 'gke-otel-demo-2.yaml'],
    ['basic-sample-400-tcp-flows.json', 'kind-bookinfo.yaml'],
  ];
  for (const [dump, cluster] of dumps) {
    it(`${dump}: zero unknown, and every status agrees with a naive classification`, async () => {
      const ipamFile = join(root, 'examples', 'dump-clusters', cluster);
      const report = await analyze({ flowFiles: [flowDump(dump)], ipamFiles: [ipamFile] });
      const doc = parseYaml(readFileSync(ipamFile, 'utf8')) as { items: Array<Record<string, any>> };
      const nodeIps = new Set<string>();
      const nodeCidrs: Array<[ipaddr.IPv4, number, string]> = [];
      const poolCidrs: Array<[ipaddr.IPv4, number]> = [];
      for (const o of doc.items) {
        if (o.kind === 'Node') {
          for (const a of o.status?.addresses ?? []) nodeIps.add(a.address);
          for (const v of Object.values(o.metadata.annotations ?? {})) nodeIps.add(v as string);
          for (const c of o.spec.podCIDRs) nodeCidrs.push([...(ipaddr.IPv4.parseCIDR(c) as [ipaddr.IPv4, number]), o.metadata.name]);
        }
        if (o.kind === 'CiliumNode') {
          for (const a of o.spec.addresses ?? []) nodeIps.add(a.ip);
          if (o.spec.health?.ipv4) nodeIps.add(o.spec.health.ipv4);
        }
        if (o.kind === 'IpamConfig') for (const p of o.pools) for (const c of p.cidrs) poolCidrs.push(ipaddr.IPv4.parseCIDR(c) as [ipaddr.IPv4, number]);
      }
      const naive = (flow: any, side: 'source' | 'destination'): string => {
        const ip = flow.IP[side];
        if (nodeIps.has(ip)) return 'node';
        const a = ipaddr.IPv4.parse(ip);
        const owner = nodeCidrs.find(([net, bits]) => a.match(net, bits));
        if (owner) {
          const local = side === 'source' ? flow.trace_observation_point === 'FROM_ENDPOINT' : flow.trace_observation_point === 'TO_ENDPOINT';
          return local && flow.node_name !== owner[2] ? 'wrong_node' : 'current';
        }
        if (poolCidrs.some(([net, bits]) => a.match(net, bits))) return 'unallocated';
        const ep = flow[side] ?? {};
        const pod = ep.pod_name || ((ep.identity ?? 0) >= 256 && (ep.labels ?? []).some((l: string) => l.startsWith('k8s:')));
        return pod ? 'out_of_pool' : 'external';
      };
      const want = new Map<string, { source: number; destination: number }>();
      for (const line of readFileSync(flowDump(dump), 'utf8').trim().split('\n')) {
        const f = JSON.parse(line).flow;
        for (const side of ['source', 'destination'] as const) {
          const s = naive(f, side);
          const row = want.get(s) ?? { source: 0, destination: 0 };
          row[side]++;
          want.set(s, row);
        }
      }
      expect(report.byStatus.find((s) => s.status === 'unknown')).toBeUndefined();
      expect(Object.fromEntries(report.byStatus.map((s) => [s.status, { source: s.source, destination: s.destination }]))).toEqual(Object.fromEntries(want));
      expect(report.ipam.pools.map((p) => p.name)).toEqual(['kubernetes']);
    });
  }

  it('refuses broken IPAM input with every problem named', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hie-analyze-'));
    writeFileSync(join(dir, 'bad.yaml'), 'apiVersion: v1\nkind: Node\nmetadata: { name: n1 }\nspec: { podCIDRs: [10.244.1.0/33] }\n');
    await expect(analyze({ flowFiles: [flowDump('basic-sample-10-flows.json')], ipamFiles: [join(dir, 'bad.yaml')] })).rejects.toThrow(IpamError);
    const r = spawnSync(process.execPath, [cli, 'analyze', '--flows', flowDump('basic-sample-10-flows.json'), '--ipam', join(dir, 'bad.yaml')], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toBe(`hubble-ipam-exporter: Node n1 (${join(dir, 'bad.yaml')}): spec.podCIDRs[0]="10.244.1.0/33": invalid CIDR: expected address/length such as 10.244.0.0/16 or fd00:10:244::/56`);
  });

  it('prints table, markdown and json from the command line, with no progress bar when piped', () => {
    const args = ['analyze', '--flows', flowDump('basic-sample-400-tcp-flows.json'), '--ipam', join(root, 'examples', 'dump-clusters', 'kind-bookinfo.yaml')];
    const table = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
    expect(table.status).toBe(0);
    expect(table.stderr).toBe('');
    expect(table.stdout).toContain('Flow ends by pool and status (a flow has two ends: source and destination)');
    const md = spawnSync(process.execPath, [cli, ...args, '--format', 'markdown'], { encoding: 'utf8' });
    expect(md.stdout).toMatch(/^# IPAM migration report$/m);
    expect(md.stdout).toMatch(/^\| status \| as source \| as destination \|$/m);
    const json = JSON.parse(spawnSync(process.execPath, [cli, ...args, '--format', 'json'], { encoding: 'utf8' }).stdout);
    expect(json.input.flows).toBe(400);
    expect(json.series.reduce((n: number, s: { flows: number }) => n + s.flows, 0)).toBe(800);
  });

  it('says what each column counts (flows, or flow ends: two per flow) and renders an empty value one way: - in table and markdown, null in JSON', () => {
    // basic-sample-400-tcp-flows on kind-bookinfo: 400 flows, 800 flow ends; 125 ends are node
    // addresses (in no pool), 675 are pods of pool kubernetes; 1 flow goes node to node.
    const args = ['analyze', '--flows', flowDump('basic-sample-400-tcp-flows.json'), '--ipam', join(root, 'examples', 'dump-clusters', 'kind-bookinfo.yaml')];
    const table = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' }).stdout;
    expect(table).toContain('400 flows (800 flow ends) from 1 file(s)');
    expect(table).toMatch(/^pool +status +flow ends +dropped ends +drop rate$/m);
    expect(table).toMatch(/^kubernetes +current +675 +0 +0\.0%$/m);
    expect(table).toMatch(/^- +node +125 +0 +0\.0%$/m);
    expect(table).toMatch(/^source pool +destination pool +flows +dropped +drop rate$/m);
    expect(table).toMatch(/^- +- +1 +0 +0\.0%$/m);
    expect(table).not.toContain('(none)');
    const md = spawnSync(process.execPath, [cli, ...args, '--format', 'markdown'], { encoding: 'utf8' }).stdout;
    expect(md).toMatch(/^\| pool \| status \| flow ends \| dropped ends \| drop rate \|$/m);
    expect(md).toMatch(/^\| - \| node \| 125 \| 0 \| 0\.0% \|$/m);
    expect(md).toMatch(/^\| - \| - \| 1 \| 0 \| 0\.0% \|$/m);
    expect(md).not.toMatch(/\| *\|/);
    expect(md).not.toContain('(none)');
    const json = JSON.parse(spawnSync(process.execPath, [cli, ...args, '--format', 'json'], { encoding: 'utf8' }).stdout) as {
      byPool: Array<{ pool: string | null; status: string; flowEnds: number; droppedEnds: number }>;
      byNode: Array<{ flowEnds: number }>;
      matrix: Array<{ sourcePool: string | null; destinationPool: string | null; flows: number }>;
    };
    expect(json.byPool).toEqual([
      { pool: 'kubernetes', status: 'current', flowEnds: 675, droppedEnds: 0 },
      { pool: null, status: 'node', flowEnds: 125, droppedEnds: 0 },
    ]);
    expect(json.byNode.reduce((n, r) => n + r.flowEnds, 0)).toBe(800);
    expect(json.matrix.reduce((n, r) => n + r.flows, 0)).toBe(400);
    expect(json.matrix.find((r) => r.flows === 1)).toMatchObject({ sourcePool: null, destinationPool: null });
  });

  it('exits non-zero when no line of its input is a flow, saying what it read and what a flow line is', () => {
    const pkg = join(root, 'package.json');
    const lines = readFileSync(pkg, 'utf8').split('\n').filter((l) => l.trim() !== '').length;
    const r = spawnSync(process.execPath, [cli, 'analyze', '--flows', pkg, '--ipam', join(root, 'examples', 'ipam-config.yaml')], { encoding: 'utf8', timeout: 30_000 });
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(
      new RegExp(
        `^hubble-ipam-exporter: no flow found in ${pkg}: ${lines} line\\(s\\) read, ${lines} not Hubble events \\(first: ${pkg}:1: .*JSON.*\\); ` +
          'analyze reads `hubble observe -o jsonpb` output: one JSON object per line, e.g. \\{"flow":\\{\\.\\.\\.\\},"node_name":"\\.\\.\\.","time":"\\.\\.\\."\\}\n$',
      ),
    );
    expect(r.status).toBe(1);
  });
});
