import { readFileSync } from 'node:fs';
import { create, toJson } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { GetFlowsResponseSchema } from '../src/gen/observer/observer_pb.js';
import { FlowRecord, recordFromFlow } from '../src/ingest/flow-record.js';
import { parseFlowLine } from '../src/ingest/file-source.js';
import { parseRfc3339, recordFromJson } from '../src/ingest/json-record.js';
import { defaultScenario, ScenarioModel } from '../src/sim/scenario.js';
import { flowDump, flowDumps } from './support/fixtures.js';
import { truthScenario } from './support/ground-truth.js';

function same(a: FlowRecord, b: FlowRecord) {
  const flat = (r: FlowRecord) => ({ ...r, uuid: r.uuid, source: { ...r.source, ip: [r.source.ip.family, r.source.ip.v4, ...r.source.ip.v6] }, destination: { ...r.destination, ip: [r.destination.ip.family, r.destination.ip.v4, ...r.destination.ip.v6] } });
  const { uuidText: _a, uuidBytes: _b, ...x } = flat(a) as unknown as Record<string, unknown>;
  const { uuidText: _c, uuidBytes: _d, ...y } = flat(b) as unknown as Record<string, unknown>;
  expect(x).toEqual(y);
}

/** The fast JSON lane and the full protobuf-es decode fill the same record from the same line. */
function agree(lines: string[]): number {
  const fast = new FlowRecord();
  const full = new FlowRecord();
  for (const text of lines) {
    const obj = JSON.parse(text);
    recordFromJson(obj.flow, obj.node_name ?? '', obj.time, fast);
    const res = parseFlowLine(text)!;
    if (res.responseTypes.case !== 'flow') throw new Error('not a flow');
    recordFromFlow(res.responseTypes.value, res.nodeName, full);
    if (full.timeSeconds === 0 && res.time) {
      full.timeSeconds = Number(res.time.seconds);
      full.timeNanos = res.time.nanos;
    }
    same(fast, full);
  }
  return lines.length;
}

describe('JSON fast lane', () => {
  it('agrees with the full decode on the real dumps', () => {
    for (const [name, count] of Object.entries(flowDumps)) expect(agree(readFileSync(flowDump(name), 'utf8').trim().split('\n')), name).toBe(count);
  });

  it('agrees on 10,000 random flows in both field-name styles', () => {
    const m = new ScenarioModel(truthScenario(10_000, 1000), Date.parse('2026-03-01T12:00:00.123456789Z'));
    const m2 = new ScenarioModel(defaultScenario({ uuids: false }), Date.parse('2026-03-01T12:00:00Z'));
    const lines: string[] = [];
    for (let i = 0; i < 5000; i++) {
      for (const [model, protoNames] of [[m, true], [m2, false]] as const) {
        const f = model.flowAt(i);
        const res = create(GetFlowsResponseSchema, { responseTypes: { case: 'flow', value: f }, nodeName: f.nodeName, time: f.time });
        const json = toJson(GetFlowsResponseSchema, res, { useProtoFieldName: protoNames }) as Record<string, unknown>;
        lines.push(JSON.stringify(json));
      }
    }
    expect(agree(lines)).toBe(10_000);
  });

  it.each([
    ['2021-06-16T16:52:13.136834446Z', 1623862333, 136834446],
    ['2021-06-16T16:52:13Z', 1623862333, 0],
    ['2021-06-16T16:52:13.5Z', 1623862333, 500000000],
    ['2021-06-16T18:52:13.000000001+02:00', 1623862333, 1],
  ])('parses %s', (text, seconds, nanos) => {
    const out = { seconds: 0, nanos: 0 };
    expect(parseRfc3339(text, out)).toBe(true);
    expect(out).toEqual({ seconds, nanos });
  });

  it.each(['yesterday', '2021-06-16 16:52:13Z', '2021-06-16T16:52:13', '2021-06-16T16:52:13.Z', '2021-13-16T16:52:1xZ'])('rejects %j', (text) => {
    expect(parseRfc3339(text, { seconds: 0, nanos: 0 })).toBe(false);
  });
});
