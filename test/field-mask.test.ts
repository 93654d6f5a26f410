import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { Client, Metadata, credentials, status, type ServiceError } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { FlowSchema, type Flow } from '../src/gen/flow/flow_pb.js';
import { GetFlowsRequestSchema, GetFlowsResponseSchema } from '../src/gen/observer/observer_pb.js';
import { FLOW_MASK_PATHS } from '../src/ingest/field-mask.js';
import { parseFlowLine } from '../src/ingest/file-source.js';
import { paths, rawBytes, serializer } from '../src/ingest/observer-service.js';
import { RecordingSink } from './support/recording-sink.js';
import { RelayClient } from '../src/ingest/relay-client.js';
import { ResponseDecoder } from '../src/ingest/response-decoder.js';
import { WireDecoder } from '../src/ingest/wire-decoder.js';
import { ENDPOINT_FIELD, FLOW_FIELD, IP_FIELD } from '../src/ingest/wire-fields.js';
import { ExporterService } from '../src/service.js';
import { maskFlow, maskTree } from '../src/sim/hubble-field-mask.js';
import { ScenarioModel } from '../src/sim/scenario.js';
import { SimulatedRelay } from '../src/sim/simulated-relay.js';
import { flowDump } from './support/fixtures.js';
import { truthConfigYaml, truthScenario } from './support/ground-truth.js';
import { StaticRelay } from './support/static-relay.js';
import { untilClosed } from './support/lifecycle.js';
import { waitFor } from './support/wait.js';

const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('the exporter field mask', () => {
  it('names every field the wire decoder reads, by the numbers of the generated schema, and nothing else', () => {
    const fromDecoder = [
      ...Object.keys(FLOW_FIELD).filter((k) => k !== 'IP' && k !== 'source' && k !== 'destination'),
      ...Object.keys(IP_FIELD).map((k) => `IP.${k}`),
      ...['source', 'destination'].flatMap((side) => Object.keys(ENDPOINT_FIELD).map((k) => `${side}.${k}`)),
    ];
    expect([...FLOW_MASK_PATHS].sort()).toEqual(fromDecoder.sort());
    for (const [name, no] of Object.entries(FLOW_FIELD)) expect([name, FlowSchema.fields.find((f) => f.name === name)?.number]).toEqual([name, no]);
    const ip = FlowSchema.fields.find((f) => f.name === 'IP')!.message!;
    for (const [name, no] of Object.entries(IP_FIELD)) expect([name, ip.fields.find((f) => f.name === name)?.number]).toEqual([name, no]);
    const ep = FlowSchema.fields.find((f) => f.name === 'source')!.message!;
    for (const [name, no] of Object.entries(ENDPOINT_FIELD)) expect([name, ep.fields.find((f) => f.name === name)?.number]).toEqual([name, no]);
    expect(() => maskTree(FLOW_MASK_PATHS)).not.toThrow();
  });
});

describe("Hubble's field mask semantics (simulated relay)", () => {
  const flow = create(FlowSchema, {
    time: { seconds: 5n, nanos: 7 },
    nodeName: 'c/n1',
    verdict: 2,
    IP: { source: '10.0.0.1', destination: '10.0.0.2', ipVersion: 1 },
    source: { identity: 300, podName: 'a', namespace: 'ns', labels: ['k8s:app=a'] },
    l4: { protocol: { case: 'TCP', value: { sourcePort: 1, destinationPort: 2 } } },
    ethernet: { source: 'aa', destination: 'bb' },
  });

  it('copies set leaves, keeps every message on a path present (empty if the flow has none), drops the rest', () => {
    const m = maskFlow(flow, maskTree(['verdict', 'IP.source', 'destination.pod_name', 'l4.UDP.source_port', 'l4.TCP.destination_port']));
    expect(m.verdict).toBe(2);
    expect(m.IP).toEqual(create(FlowSchema, { IP: { source: '10.0.0.1' } }).IP);
    // The flow has no destination: the mask still allocates one.
    expect(m.destination).toEqual(create(FlowSchema, { destination: {} }).destination);
    // A oneof member is copied only when it is the one set.
    expect(m.l4?.protocol).toEqual({ case: 'TCP', value: create(FlowSchema, { l4: { protocol: { case: 'TCP', value: { destinationPort: 2 } } } }).l4!.protocol.value });
    expect(m.nodeName).toBe('');
    expect(m.time).toBeUndefined();
    expect(m.ethernet).toBeUndefined();
    expect(m.source).toBeUndefined();
  });

  it('normalises: a path under another path adds nothing; duplicates are one', () => {
    expect(maskFlow(flow, maskTree(['source', 'source.identity', 'source']))).toEqual(maskFlow(flow, maskTree(['source'])));
    expect(maskFlow(flow, maskTree(['source'])).source?.labels).toEqual(['k8s:app=a']);
  });

  it.each([['nope'], ['IP.nope'], ['verdict.x'], ['source.labels.x'], ['']])('refuses %j', (p) => {
    expect(() => maskTree([p])).toThrow(/invalid fieldmask/);
  });

  async function rawGetFlows(address: string, init: Parameters<typeof create<typeof GetFlowsRequestSchema>>[1]): Promise<{ responses: Buffer[]; error?: ServiceError }> {
    const client = new Client(address, credentials.createInsecure());
    cleanups.push(() => client.close());
    const call = client.makeServerStreamRequest(paths.getFlows, serializer(GetFlowsRequestSchema), rawBytes.deserialize, create(GetFlowsRequestSchema, init), new Metadata());
    const responses: Buffer[] = [];
    return new Promise((resolve) => {
      call.on('data', (b: Buffer) => responses.push(b));
      call.on('error', (error: ServiceError) => resolve({ responses, error }));
      call.on('end', () => resolve({ responses }));
    });
  }

  it('over gRPC: an invalid mask is INVALID_ARGUMENT; experimental.field_mask is honoured when field_mask is empty', async () => {
    const relay = new SimulatedRelay({ scenario: truthScenario(200, 100_000), epochMs: Date.now() - 60_000 });
    const address = await relay.listen('127.0.0.1:0');
    cleanups.push(() => relay.close());
    const bad = await rawGetFlows(address, { number: 10n, fieldMask: { paths: ['IP.nope'] } });
    expect(bad.error?.code).toBe(status.INVALID_ARGUMENT);
    expect(bad.error?.details).toMatch(/IP\.nope/);
    const old = await rawGetFlows(address, { number: 10n, experimental: { fieldMask: { paths: ['verdict', 'IP.source', 'node_name'] } } });
    expect(old.error).toBeUndefined();
    const flows = old.responses.map((b) => parseResponse(b)).filter((r) => r.responseTypes.case === 'flow');
    expect(flows).toHaveLength(10);
    expect(flows.filter((r) => (r.responseTypes.value as Flow).IP?.source !== '').length).toBeGreaterThan(5);
    for (const r of flows) {
      const f = r.responseTypes.value as Flow;
      // IP is on a mask path: always present, only its source filled.
      expect(f.IP?.destination).toBe('');
      expect(f.verdict).toBeGreaterThan(0);
      expect(f.source).toBeUndefined();
      // The response's node_name is the masked flow's; time is not in the mask, so the response has none.
      expect(r.nodeName).toBe(f.nodeName);
      expect(r.time).toBeUndefined();
    }
    // field_mask wins over experimental.field_mask.
    const both = await rawGetFlows(address, { number: 3n, fieldMask: { paths: ['uuid'] }, experimental: { fieldMask: { paths: ['verdict'] } } });
    for (const r of both.responses.map(parseResponse).filter((x) => x.responseTypes.case === 'flow')) {
      expect((r.responseTypes.value as Flow).uuid).not.toBe('');
      expect((r.responseTypes.value as Flow).verdict).toBe(0);
    }
  });

  const parseResponse = (b: Uint8Array) => fromBinary(GetFlowsResponseSchema, b);
});

describe('masked and unmasked streams count the same', () => {
  const TOTAL = 3000;

  async function runService(fieldMask: boolean, epoch: number, cfg: string) {
    const relay = new SimulatedRelay({ scenario: truthScenario(TOTAL, 100_000), epochMs: epoch });
    const address = await relay.listen('127.0.0.1:0');
    cleanups.push(() => relay.close());
    const service = new ExporterService({
      relay: { address, since: new Date(epoch - 1000), fieldMask },
      ipam: { files: [cfg], filePollMs: 100 },
      listenAddress: '127.0.0.1:0',
      windowSec: 3600,
    });
    cleanups.push(() => service.close());
    await service.start(untilClosed);
    await waitFor(() => service.pipeline.flows >= TOTAL, `${TOTAL} flows`, 20_000, () => service.pipeline.flows);
    const text = await (await fetch(`${service.address}/metrics`)).text();
    return { relay, text };
  }

  const series = (text: string) =>
    text
      .split('\n')
      .filter((l) => /^hubble_ipam_(flows_total|pool_flows_total|anomalous_endpoints|flows_received_total|decode_errors_total)\b/.test(l))
      .sort();

  it('the truth scenario over gRPC: identical flow, matrix and offender series with and without the mask', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hie-mask-'));
    const cfg = join(dir, 'ipam.yaml');
    writeFileSync(cfg, truthConfigYaml);
    const epoch = Date.now() - 10_000;
    const masked = await runService(true, epoch, cfg);
    const whole = await runService(false, epoch, cfg);
    expect(series(masked.text).length).toBeGreaterThan(20);
    expect(series(masked.text)).toEqual(series(whole.text));
    expect(masked.text).toContain(`hubble_ipam_flows_received_total ${TOTAL}`);
  });

  it('a relay that ignores the mask: the client still counts every flow, and asked with both field_mask and experimental.field_mask', async () => {
    const m = new ScenarioModel(truthScenario(500, 1000), Date.parse('2026-01-01T00:00:00Z'));
    const responses = Array.from({ length: 500 }, (_, i) => {
      const f = m.flowAt(i);
      return toBinary(GetFlowsResponseSchema, create(GetFlowsResponseSchema, { responseTypes: { case: 'flow', value: f }, nodeName: f.nodeName, time: f.time }));
    });
    const relay = new StaticRelay(responses);
    const address = await relay.listen();
    cleanups.push(() => relay.close());
    const counts: number[] = [];
    for (const fieldMask of [true, false]) {
      const sink = new RecordingSink();
      const client = new RelayClient({ address, fieldMask }, sink);
      cleanups.push(() => client.close());
      client.start(untilClosed);
      await waitFor(() => client.stats.flows + client.stats.decodeErrors >= 500, '500 flows');
      expect(client.stats.decodeErrors).toBe(0);
      counts.push(sink.flows);
      await client.close();
    }
    expect(counts).toEqual([500, 500]);
    expect(relay.requests[0]!.fieldMask?.paths).toEqual([...FLOW_MASK_PATHS]);
    expect(relay.requests[0]!.experimental?.fieldMask?.paths).toEqual([...FLOW_MASK_PATHS]);
    expect(relay.requests[1]!.fieldMask).toBeUndefined();
    expect(relay.requests[1]!.experimental).toBeUndefined();
  });
});

describe('bytes per flow with the mask, on the real dumps', () => {
  it('the masked flows are at most 40 % of the whole ones, and decode to the same records', () => {
    const tree = maskTree(FLOW_MASK_PATHS);
    let whole = 0;
    let masked = 0;
    const a = new WireDecoder();
    const b = new WireDecoder();
    const full = new ResponseDecoder();
    let n = 0;
    for (const name of ['basic-sample-400-tcp-flows.json', 'basic-sample-348-http-flows.json', 'policy-drops-226-flows.jsonl']) {
      for (const line of readFileSync(flowDump(name), 'utf8').trim().split('\n')) {
        const res = parseFlowLine(line)!;
        const f = res.responseTypes.value as Flow;
        const m = maskFlow(f, tree);
        const wb = toBinary(GetFlowsResponseSchema, res);
        const mb = toBinary(GetFlowsResponseSchema, create(GetFlowsResponseSchema, { responseTypes: { case: 'flow', value: m }, nodeName: m.nodeName, time: m.time }));
        whole += wb.length;
        masked += mb.length;
        a.decode(wb);
        b.decode(mb);
        full.decode(mb);
        const flat = (d: WireDecoder | ResponseDecoder) => ({ ...d.flow, uuid: d.flow.uuid, src: { ...d.flow.source, ip: [...d.flow.source.ip.v6, d.flow.source.ip.v4] }, dst: { ...d.flow.destination, ip: [...d.flow.destination.ip.v6, d.flow.destination.ip.v4] } });
        const strip = (o: Record<string, unknown>) => {
          const { uuidText: _t, uuidBytes: _b, uuidStart: _s, uuidEnd: _e, source: _x, destination: _y, ...rest } = o;
          return rest;
        };
        expect(strip(flat(b) as never)).toEqual(strip(flat(a) as never));
        expect(strip(flat(full) as never)).toEqual(strip(flat(a) as never));
        n++;
      }
    }
    expect(n).toBe(400 + 348 + 226);
    expect(masked / whole).toBeLessThanOrEqual(0.4);
    console.log(`field mask on the real dumps: ${(whole / n).toFixed(0)} → ${(masked / n).toFixed(0)} bytes per flow (${((100 * masked) / whole).toFixed(0)} %)`);
  });
});
