import { create, toBinary, toJson, type MessageInitShape } from '@bufbuild/protobuf';
import { afterEach, describe, expect, it } from 'vitest';
import { untilClosed } from './support/lifecycle.js';
import { FlowSchema } from '../src/gen/flow/flow_pb.js';
import { GetFlowsResponseSchema } from '../src/gen/observer/observer_pb.js';
import { FlowRecord } from '../src/ingest/flow-record.js';
import { recordFromJson } from '../src/ingest/json-record.js';
import { RecordingSink } from './support/recording-sink.js';
import { RelayClient } from '../src/ingest/relay-client.js';
import { ResponseDecoder, type FlowResponseDecoder } from '../src/ingest/response-decoder.js';
import { WireDecoder } from '../src/ingest/wire-decoder.js';
import { createLogger } from '../src/log.js';
import { Registry } from 'prom-client';
import { AttributionPipeline } from '../src/attribution/pipeline.js';
import { IpamStore } from '../src/ipam/ipam-store.js';
import { createExporterMetrics } from '../src/metrics/exporter-metrics.js';
import { StaticRelay } from './support/static-relay.js';
import { waitFor } from './support/wait.js';

type FlowInit = MessageInitShape<typeof FlowSchema>;

// The limits, written out: Kubernetes' (pod name 253, namespace 63), a Relay node name
// `cluster/node` (32 + 1 + 253), a uuid capped at 64; the marker is U+2026.
const CUT_MARKER = '\u2026';
const MAX_POD_NAME = 253;
const MAX_NAMESPACE = 63;
const MAX_NODE_NAME = 286;
const MAX_UUID = 64;

const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function responseBytes(flow: FlowInit, nodeName = 'kind-kind/kind-worker'): Uint8Array {
  return toBinary(GetFlowsResponseSchema, create(GetFlowsResponseSchema, { responseTypes: { case: 'flow', value: create(FlowSchema, flow) }, nodeName }));
}

function jsonLine(flow: FlowInit, nodeName = 'kind-kind/kind-worker'): Record<string, unknown> {
  return toJson(GetFlowsResponseSchema, create(GetFlowsResponseSchema, { responseTypes: { case: 'flow', value: create(FlowSchema, flow) }, nodeName }), { useProtoFieldName: true }) as Record<string, unknown>;
}

/** The same flow through the wire decoder, the full decoder and the JSON lane; `read` sees each record. */
function throughAll(flow: FlowInit, read: (rec: FlowRecord, path: string) => void): void {
  for (const [path, d] of [['wire', new WireDecoder()], ['full', new ResponseDecoder()]] as Array<[string, FlowResponseDecoder]>) {
    d.decode(responseBytes(flow));
    read(d.flow, path);
  }
  const line = jsonLine(flow);
  read(recordFromJson(line.flow as Record<string, unknown>, line.node_name as string, line.time, new FlowRecord()), 'json');
}

const ip = { source: '10.0.0.1', destination: '10.0.0.2' };

describe('pod test from the numeric identity, without labels', () => {
  it.each([
    ['a cluster identity, no labels', { identity: 300 }, true],
    ['the first cluster identity', { identity: 256 }, true],
    ['the last identity without scope bits', { identity: 0xffffff }, true],
    ['reserved: world', { identity: 2 }, false],
    ['reserved: the last one', { identity: 255 }, false],
    ['local scope (CIDR, FQDN): 1 << 24 | 1', { identity: (1 << 24) | 1 }, false],
    ['remote-node scope: 2 << 24 | 300', { identity: (2 << 24) | 300 }, false],
    ['a high scope bit', { identity: 0x80000100 }, false],
    ['a pod name, no identity', { podName: 'web-1', namespace: 'shop' }, true],
    ['a pod name and a reserved identity', { podName: 'coredns-1', identity: 1 }, true],
  ])('%s', (_what, ep, isPod) => {
    throughAll({ IP: ip, source: ep, destination: ep }, (rec, path) => {
      expect([path, rec.source.isPod, rec.destination.isPod]).toEqual([path, isPod, isPod]);
    });
  });
});

describe('an IP layer is at least one address', () => {
  it('an empty IP message (what a field mask leaves of a flow without one) is no IP layer', () => {
    throughAll({ IP: {}, verdict: 1 }, (rec, path) => expect([path, rec.hasIp]).toEqual([path, false]));
  });
  it('one address is an IP layer', () => {
    throughAll({ IP: { destination: 'fd00::1' } }, (rec, path) => expect([path, rec.hasIp, rec.destination.ip.family]).toEqual([path, true, 6]));
  });
});

describe('an address that does not parse is a decode error, never unknown', () => {
  it.each([
    ['source', { source: '10.0.0.300', destination: '10.0.0.2' }, 'unparseable IP.source "10.0.0.300"'],
    ['destination', { source: '10.0.0.1', destination: 'fd00::zz' }, 'unparseable IP.destination "fd00::zz"'],
  ])('bad %s: every decoder throws, naming the side and the text', (_side, addr, message) => {
    const bytes = responseBytes({ IP: addr });
    expect(() => new WireDecoder().decode(bytes)).toThrow(message);
    expect(() => new ResponseDecoder().decode(bytes)).toThrow(message);
    const line = jsonLine({ IP: addr });
    expect(() => recordFromJson(line.flow as Record<string, unknown>, '', undefined, new FlowRecord())).toThrow(message);
  });

  it('quotes at most 64 characters of a long bad address', () => {
    const bad = `10.${'9'.repeat(5000)}`;
    expect(() => new WireDecoder().decode(responseBytes({ IP: { source: bad } }))).toThrow(`unparseable IP.source "${bad.slice(0, 64)}${CUT_MARKER}"`);
  });

  it('over gRPC: the flow is one counted decode error logged with its node; every other flow is counted', async () => {
    const responses: Uint8Array[] = [];
    for (let i = 0; i < 10; i++) responses.push(responseBytes({ IP: { source: `10.0.0.${i + 1}`, destination: '10.0.1.1' }, uuid: `u-${i}`, time: { seconds: 1000n + BigInt(i) } }, 'c1/node-a'));
    responses.splice(4, 0, responseBytes({ IP: { source: '10.0.0.300', destination: '10.0.1.1' }, uuid: 'bad', time: { seconds: 1004n } }, 'c1/node-bad'));
    const relay = new StaticRelay(responses);
    const address = await relay.listen();
    cleanups.push(() => relay.close());
    const lines: string[] = [];
    const sink = new RecordingSink();
    const client = new RelayClient({ address, logger: createLogger('warn', (l) => lines.push(l)) }, sink);
    cleanups.push(() => client.close());
    client.start(untilClosed);
    await waitFor(() => client.stats.flows + client.stats.decodeErrors === 11, 'all 11 responses');
    expect(client.stats.decodeErrors).toBe(1);
    expect(client.stats.flows).toBe(10);
    expect(sink.flows).toBe(10);
    expect(lines.filter((l) => l.includes('undecodable'))).toHaveLength(1);
    expect(lines.find((l) => l.includes('undecodable'))).toMatch(/c1\/node-bad.*unparseable IP\.source \\?"10\.0\.0\.300/);
  });
});

describe('strings longer than Kubernetes allows are cut and counted', () => {
  const MB = 1 << 20;

  it('cuts pod, namespace, node names and uuids at their limits with the marker, the same in every decoder', () => {
    const flow: FlowInit = {
      IP: ip,
      uuid: 'u'.repeat(100),
      nodeName: `c/${'n'.repeat(400)}`,
      source: { podName: 'p'.repeat(300), namespace: 's'.repeat(64), identity: 300 },
      destination: { podName: 'q'.repeat(253), namespace: 't'.repeat(63) },
    };
    throughAll(flow, (rec, path) => {
      expect([path, rec.uuid]).toEqual([path, 'u'.repeat(MAX_UUID) + CUT_MARKER]);
      expect([path, rec.nodeName]).toEqual([path, `c/${'n'.repeat(MAX_NODE_NAME - 2)}${CUT_MARKER}`]);
      expect([path, rec.source.podName, rec.source.namespace]).toEqual([path, 'p'.repeat(MAX_POD_NAME) + CUT_MARKER, 's'.repeat(MAX_NAMESPACE) + CUT_MARKER]);
      // At the limit: not cut.
      expect([path, rec.destination.podName, rec.destination.namespace]).toEqual([path, 'q'.repeat(253), 't'.repeat(63)]);
      expect([path, rec.cuts]).toEqual([path, 4]);
    });
  });

  it('2,000 flows with distinct 1 MB pod names: every kept name is cut, the counter is exact', () => {
    const wire = new WireDecoder();
    const name = 'a'.repeat(MB);
    const bytes = responseBytes({ IP: ip, source: { podName: name, namespace: 'ns' } });
    // The name's bytes start right after its length prefix: find them once, then make each flow's name distinct in place.
    const at = Buffer.from(bytes).indexOf('aaaaaaaa');
    const kept: string[] = [];
    for (let i = 0; i < 2000; i++) {
      bytes.set(new TextEncoder().encode(i.toString(36).padStart(4, '0')), at);
      wire.decode(bytes);
      kept.push(wire.flow.source.podName);
    }
    expect(new Set(kept).size).toBe(2000);
    for (const k of kept) expect(k.length).toBe(MAX_POD_NAME + CUT_MARKER.length);
    expect(wire.cutStrings).toBe(2000);

    const full = new ResponseDecoder();
    for (let i = 0; i < 20; i++) full.decode(bytes);
    expect(full.cutStrings).toBe(20);
    expect(full.flow.source.podName).toBe(kept[1999]);
  });

  it('over gRPC: every cut is on /metrics as hubble_ipam_strings_cut_total', async () => {
    const responses: Uint8Array[] = [];
    for (let i = 0; i < 6; i++) responses.push(responseBytes({ IP: ip, uuid: `u-${i}`, time: { seconds: 2000n + BigInt(i) }, source: { podName: i % 2 === 0 ? `p-${i}-${'x'.repeat(300)}` : `p-${i}`, namespace: i === 5 ? 'n'.repeat(70) : 'ns' } }, 'c1/node-a'));
    const relay = new StaticRelay(responses);
    const address = await relay.listen();
    cleanups.push(() => relay.close());
    const client = new RelayClient({ address }, new RecordingSink());
    cleanups.push(() => client.close());
    client.start(untilClosed);
    await waitFor(() => client.stats.flows === 6, 'all 6 flows');
    const registry = new Registry();
    createExporterMetrics(registry, { pipeline: new AttributionPipeline({ registry }), store: new IpamStore(), stream: () => client, processMetrics: false });
    // Pod names of flows 0, 2 and 4, the namespace of flow 5.
    expect(await registry.metrics()).toContain('hubble_ipam_strings_cut_total 4\n');
  });

  it('the full decoder counts cuts too', () => {
    const full = new ResponseDecoder();
    const bytes = responseBytes({ IP: ip, source: { podName: 'a'.repeat(300), namespace: 'ns' } });
    for (let i = 0; i < 20; i++) full.decode(bytes);
    expect(full.cutStrings).toBe(20);
    expect(full.flow.source.podName).toBe('a'.repeat(MAX_POD_NAME) + CUT_MARKER);
  });
});

describe('local endpoints: Hubble sets Endpoint.ID only for an endpoint on the observing node', () => {
  // As in the real dump basic-sample-400-tcp-flows.json: a local client (ID 881) to a remote server (no ID).
  it.each([
    ['source local, destination remote', { source: { ID: 881, identity: 300 }, destination: { identity: 301 } }, [true, false], [881, 0]],
    ['both local (a pod to a pod on the same node)', { source: { ID: 881, identity: 300 }, destination: { ID: 3879, identity: 301 } }, [true, true], [881, 3879]],
    ['neither (host to world at the stack)', { source: { identity: 1 }, destination: { identity: 2 } }, [false, false], [0, 0]],
    ['the largest uint32 ID', { source: { ID: 0xffffffff, identity: 300 } }, [true, false], [0xffffffff, 0]],
  ] as Array<[string, FlowInit, [boolean, boolean], [number, number]]>)('%s: the same in every decoder', (_name, eps, local, ids) => {
    let seen = 0;
    throughAll({ ...eps, IP: ip } as FlowInit, (rec, path) => {
      expect([rec.source.isLocal, rec.destination.isLocal], path).toEqual(local);
      expect([rec.source.endpointId, rec.destination.endpointId], path).toEqual(ids);
      seen++;
    });
    expect(seen).toBe(3);
  });
});
