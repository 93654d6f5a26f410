import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ScalarType, fromBinary, toBinary, toJson, type DescMessage, type JsonValue } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { GetFlowsResponseSchema } from '../src/gen/observer/observer_pb.js';
import { readAllResponses, replayFiles } from '../src/ingest/file-source.js';
import { RecordingSink } from './support/recording-sink.js';
import { formatIp } from '../src/net/ip.js';
import { flowDump, flowDumps } from './support/fixtures.js';

type Json = { [k: string]: JsonValue };

/**
 * Every leaf of `original` that the schema models must come back equal in
 * `ours`; leaves the schema does not model are the only ones allowed to go.
 * Returns the number of leaves compared, so a test can prove it compared.
 */
function compareModelled(schema: DescMessage, original: Json, ours: Json | undefined, path: string, mismatches: string[]): number {
  let compared = 0;
  for (const [key, value] of Object.entries(original)) {
    const field = schema.fields.find((f) => f.name === key || f.jsonName === key);
    if (!field) continue; // not modelled: dropped on purpose
    const mine = ours?.[field.name];
    const p = `${path}.${key}`;
    if (field.fieldKind === 'message' && !field.message.typeName.startsWith('google.protobuf.')) {
      if (field.message && Array.isArray(value)) {
        value.forEach((v, i) => (compared += compareModelled(field.message!, v as Json, (mine as Json[] | undefined)?.[i], `${p}[${i}]`, mismatches)));
      } else {
        compared += compareModelled(field.message, value as Json, mine as Json | undefined, p, mismatches);
      }
      continue;
    }
    if (field.fieldKind === 'list' && field.listKind === 'message') {
      (value as Json[]).forEach((v, i) => (compared += compareModelled(field.message, v, (mine as Json[] | undefined)?.[i], `${p}[${i}]`, mismatches)));
      continue;
    }
    compared++;
    const isDefault = value === false || value === 0 || value === '' || (Array.isArray(value) && value.length === 0);
    const norm = (v: unknown) => (field.fieldKind === 'scalar' && field.scalar !== ScalarType.STRING && typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v);
    if (mine === undefined && isDefault && field.fieldKind !== 'message') continue;
    if (JSON.stringify(norm(mine)) !== JSON.stringify(norm(value))) mismatches.push(`${p}: ${JSON.stringify(value)} became ${JSON.stringify(mine)}`);
  }
  return compared;
}

describe('file source on the real Hubble dumps', () => {
  for (const [name, count] of Object.entries(flowDumps)) {
    it(`${name}: ${count} flows, no errors, binary round trip keeps every modelled field`, async () => {
      const file = flowDump(name);
      const lines = await readAllResponses(file);
      expect(lines.filter((l) => l.error)).toEqual([]);
      expect(lines.length).toBe(count);
      expect(lines.every((l) => l.response?.responseTypes.case === 'flow')).toBe(true);

      const originals = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Json);
      const mismatches: string[] = [];
      let compared = 0;
      lines.forEach((l, i) => {
        const back = fromBinary(GetFlowsResponseSchema, toBinary(GetFlowsResponseSchema, l.response!));
        const json = toJson(GetFlowsResponseSchema, back, { useProtoFieldName: true }) as Json;
        compared += compareModelled(GetFlowsResponseSchema, originals[i]!, json, `line ${i + 1}`, mismatches);
      });
      expect(mismatches).toEqual([]);
      // At least a dozen fields per line really were compared.
      expect(compared).toBeGreaterThan(count * 12);
    });
  }

  it('reads gzip by its magic bytes and replays the 400-flow dump into a sink with exact counts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hie-files-'));
    const gz = join(dir, 'flows.jsonl'); // no .gz suffix on purpose
    writeFileSync(gz, gzipSync(readFileSync(flowDump('basic-sample-400-tcp-flows.json'))));
    const sink = new RecordingSink(true);
    const stats = await replayFiles([gz], sink);
    expect(stats).toEqual({ lines: 400, flows: 400, lostEvents: 0, nodeStatus: 0, errors: 0, firstErrors: [] });
    expect(sink.flows).toBe(400);
    // SOURCES.md: 373 FORWARDED and 27 REDIRECTED, all observed on kind-control-plane.
    const verdicts = new Map<number, number>();
    for (const f of sink.kept) verdicts.set(f.verdict, (verdicts.get(f.verdict) ?? 0) + 1);
    expect(Object.fromEntries(verdicts)).toEqual({ 1: 373, 5: 27 });
    expect([...sink.perNode]).toEqual([['kind-control-plane', 400]]);
    // Addresses became numbers, and print back as the dump wrote them.
    const originals = readFileSync(flowDump('basic-sample-400-tcp-flows.json'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    sink.kept.forEach((f, i) => {
      expect(formatIp(f.source.ip)).toBe(originals[i].flow.IP.source);
      expect(formatIp(f.destination.ip)).toBe(originals[i].flow.IP.destination);
      expect(f.source.podName).toBe(originals[i].flow.source.pod_name ?? '');
    });
  });

  it('takes exporter lines, bare flows and bad lines, naming file and line for each bad one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hie-files-'));
    const file = join(dir, 'export.log');
    const first = readFileSync(flowDump('basic-sample-10-flows.json'), 'utf8').split('\n')[0]!;
    const bare = JSON.stringify(JSON.parse(first).flow);
    writeFileSync(
      file,
      [
        first.replace('{"flow":', '{"future_field":{"x":1},"flow":'), // unknown fields are ignored
        '{"lost_events":{"source":"HUBBLE_RING_BUFFER","num_events_lost":"12"},"node_name":"kind-worker","time":"2024-01-01T00:00:00Z"}',
        '{"node_status":{"state_change":"NODE_UNAVAILABLE","node_names":["kind-worker2"]},"time":"2024-01-01T00:00:01Z"}',
        '{"agent_event":{"type":"AGENT_STARTED"},"node_name":"kind-worker","time":"2024-01-01T00:00:02Z"}',
        '',
        bare,
        'this is not json',
        '{"flow":{"time":"yesterday"}}', // unknown enum names are tolerated (newer Hubble), a bad timestamp is not
        '[1,2]',
      ].join('\n'),
    );
    const sink = new RecordingSink();
    const stats = await replayFiles([file], sink);
    expect(stats.flows).toBe(2);
    expect(stats.lostEvents).toBe(1);
    expect(stats.nodeStatus).toBe(1);
    expect(stats.errors).toBe(3);
    expect(stats.firstErrors[0]).toMatch(new RegExp(`^${file}:7: .*JSON`));
    expect(stats.firstErrors[1]).toBe(`${file}:8: flow.time: invalid RFC 3339 timestamp "yesterday"`);
    expect(stats.firstErrors[2]).toBe(`${file}:9: not a JSON object`);
    expect(sink.flows).toBe(2);
    expect(sink.lostTotal()).toBe(12);
    expect(sink.lost[0]!.nodeName).toBe('kind-worker');
  });

  it('counts lines that are JSON objects but no Hubble event as bad, in both readers', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hie-files-'));
    const file = join(dir, 'mixed.json');
    const flow = readFileSync(flowDump('basic-sample-10-flows.json'), 'utf8').split('\n')[0]!;
    writeFileSync(
      file,
      [
        flow,
        '{"name":"hubble-ipam-exporter","version":"0.1.0"}', // package.json on one line
        '{"level":"info","msg":"starting"}', // a log line
        '{}',
        '{"agent_event":{"type":"AGENT_STARTED"},"node_name":"kind-worker"}', // skipped, as Hubble's exporter writes them
        flow,
      ].join('\n'),
    );
    const sink = new RecordingSink();
    const stats = await replayFiles([file], sink);
    expect(stats).toEqual(
      expect.objectContaining({
        lines: 6,
        flows: 2,
        errors: 3,
        firstErrors: [
          `${file}:2: a JSON object but no Hubble event: no flow, node_status or lost_events (keys: name, version)`,
          `${file}:3: a JSON object but no Hubble event: no flow, node_status or lost_events (keys: level, msg)`,
          `${file}:4: a JSON object but no Hubble event: no flow, node_status or lost_events (keys: none)`,
        ],
      }),
    );
    expect(sink.flows).toBe(2);
    const lines = await readAllResponses(file);
    expect(lines.map((l) => (l.error ? `${l.line}: ${l.error}` : `${l.line}: ${l.response!.responseTypes.case}`))).toEqual([
      '1: flow',
      '2: a JSON object but no Hubble event: no flow, node_status or lost_events (keys: name, version)',
      '3: a JSON object but no Hubble event: no flow, node_status or lost_events (keys: level, msg)',
      '4: a JSON object but no Hubble event: no flow, node_status or lost_events (keys: none)',
      '6: flow',
    ]);
  });

  it('names a directory given as a flow file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hie-files-'));
    await expect(replayFiles([dir], new RecordingSink())).rejects.toThrow(`${dir}: is a directory; pass the files inside it, e.g. ${dir}/*.json`);
    await expect(readAllResponses(dir)).rejects.toThrow(`${dir}: is a directory; pass the files inside it, e.g. ${dir}/*.json`);
  });

  it('names the file when it cannot be read', async () => {
    await expect(readAllResponses('/nonexistent/flows.json')).rejects.toThrow(/ENOENT.*\/nonexistent\/flows\.json|\/nonexistent\/flows\.json.*ENOENT/);
  });
});
