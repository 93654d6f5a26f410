import { readFileSync } from 'node:fs';
import { create, toBinary } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { GetFlowsResponseSchema, type GetFlowsResponse } from '../src/gen/observer/observer_pb.js';
import type { FlowRecord } from '../src/ingest/flow-record.js';
import { parseFlowLine } from '../src/ingest/file-source.js';
import { KIND_FLOW, ResponseDecoder } from '../src/ingest/response-decoder.js';
import { WireDecoder } from '../src/ingest/wire-decoder.js';
import { defaultScenario, ScenarioModel } from '../src/sim/scenario.js';
import { flowDump, flowDumps } from './support/fixtures.js';
import { truthScenario } from './support/ground-truth.js';

/** Every field attribution reads, as plain data. */
function fields(r: FlowRecord) {
  const ep = (e: FlowRecord["source"]) => ({ family: e.ip.family, v4: e.ip.v4, v6: [...e.ip.v6], pod: e.podName, ns: e.namespace, identity: e.identity, endpointId: e.endpointId, isPod: e.isPod });
  return {
    time: [r.timeSeconds, r.timeNanos],
    node: r.nodeName,
    uuid: r.uuid,
    uuidHash: r.uuidHash,
    verdict: r.verdict,
    dropReason: r.dropReason,
    point: r.observationPoint,
    type: r.type,
    hasIp: r.hasIp,
    cuts: r.cuts,
    src: ep(r.source),
    dst: ep(r.destination),
  };
}

function agree(responses: GetFlowsResponse[]): number {
  const full = new ResponseDecoder();
  const wire = new WireDecoder();
  let compared = 0;
  for (const res of responses) {
    const bytes = toBinary(GetFlowsResponseSchema, res);
    expect(wire.decode(bytes)).toBe(full.decode(bytes));
    if (res.responseTypes.case !== 'flow') continue;
    expect(fields(wire.flow)).toEqual(fields(full.flow));
    compared++;
  }
  return compared;
}

describe('wire decoder', () => {
  it('agrees with the full protobuf-es decode on every field we read, on the real dumps', () => {
    for (const [name, count] of Object.entries(flowDumps)) {
      const responses = readFileSync(flowDump(name), 'utf8').trim().split('\n').map((l) => parseFlowLine(l)!);
      expect(agree(responses), name).toBe(count);
    }
  });

  it('agrees on 20,000 random simulated flows: both families, drops, no IP layer, no uuid', () => {
    const responses: GetFlowsResponse[] = [];
    for (const [scenario, n] of [
      [truthScenario(10_000, 1000), 10_000],
      [defaultScenario({ seed: 99, uuids: false, clusterName: '' }), 10_000],
    ] as const) {
      const m = new ScenarioModel(scenario, Date.parse('2026-01-01T00:00:00Z'));
      for (let i = 0; i < n; i++) {
        const f = m.flowAt(i);
        // Half the responses carry the node and time only on the response, as some servers do.
        if (i % 2 === 0) responses.push(create(GetFlowsResponseSchema, { responseTypes: { case: 'flow', value: f }, nodeName: f.nodeName, time: f.time }));
        else {
          const nodeName = f.nodeName;
          const time = f.time;
          f.nodeName = '';
          f.time = undefined;
          responses.push(create(GetFlowsResponseSchema, { responseTypes: { case: 'flow', value: f }, nodeName, time }));
        }
      }
    }
    expect(agree(responses)).toBe(20_000);
  });

  it('passes node status and lost events through, and rejects truncated bytes', () => {
    const wire = new WireDecoder();
    const lost = create(GetFlowsResponseSchema, { responseTypes: { case: 'lostEvents', value: { source: 3, numEventsLost: 12n } }, nodeName: 'n1' });
    expect(wire.decode(toBinary(GetFlowsResponseSchema, lost))).toBe(3);
    expect(Number(wire.lost!.numEventsLost)).toBe(12);
    expect(wire.nodeName).toBe('n1');
    const f = new ScenarioModel(defaultScenario(), 0).flowAt(5);
    const bytes = toBinary(GetFlowsResponseSchema, create(GetFlowsResponseSchema, { responseTypes: { case: 'flow', value: f } }));
    expect(wire.decode(bytes)).toBe(KIND_FLOW);
    for (const cut of [1, 7, 40, bytes.length - 3]) expect(() => wire.decode(bytes.subarray(0, cut)), `cut at ${cut}`).toThrow(/truncated/);
  });
});

describe('wire decoder: fields it does not model', () => {
  it('skips IP.source_xlated (field 5, SNAT since Cilium 1.16) and decodes the flow like the full decoder', () => {
    const f = new ScenarioModel(defaultScenario(), 0).flowAt(3);
    // IP.source_xlated = "192.0.2.77" (field 5, length-delimited), appended as Hubble 1.16+ sends it.
    const xlated = new TextEncoder().encode('192.0.2.77');
    f.IP!.$unknown = [{ no: 5, wireType: 2, data: Uint8Array.of(xlated.length, ...xlated) }];
    const bytes = toBinary(GetFlowsResponseSchema, create(GetFlowsResponseSchema, { responseTypes: { case: 'flow', value: f }, nodeName: f.nodeName, time: f.time }));
    const wire = new WireDecoder();
    const full = new ResponseDecoder();
    expect(wire.decode(bytes)).toBe(KIND_FLOW);
    expect(full.decode(bytes)).toBe(KIND_FLOW);
    expect(fields(wire.flow)).toEqual(fields(full.flow));
    expect(wire.flow.source.ip.family).not.toBe(0);
  });

  it('skips length-delimited fields it does not model inside Timestamp and at the response top level', () => {
    const f = new ScenarioModel(defaultScenario(), 0).flowAt(4);
    const lenField = (no: number, text: string) => {
      const b = new TextEncoder().encode(text);
      return { no, wireType: 2, data: Uint8Array.of(b.length, ...b) };
    };
    f.time!.$unknown = [lenField(3, 'not in Timestamp')];
    const res = create(GetFlowsResponseSchema, { responseTypes: { case: 'flow', value: f }, nodeName: f.nodeName, time: f.time });
    // agent_event (4) and debug_event (5) are not modelled; a response may carry other fields too.
    res.$unknown = [lenField(4, 'agent event body'), lenField(77, 'x')];
    const bytes = toBinary(GetFlowsResponseSchema, res);
    const wire = new WireDecoder();
    const full = new ResponseDecoder();
    expect(wire.decode(bytes)).toBe(KIND_FLOW);
    full.decode(bytes);
    expect(fields(wire.flow)).toEqual(fields(full.flow));
    expect(wire.nodeName).toBe(f.nodeName);
  });
});
