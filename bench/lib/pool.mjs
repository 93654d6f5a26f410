/**
 * Pools of pre-encoded `observer.GetFlowsResponse` messages, built once with
 * the scenario model and `toBinary` (the relay then only copies bytes).
 */
import { create, toBinary } from '@bufbuild/protobuf';
import { GetFlowsResponseSchema } from '../../dist/gen/observer/observer_pb.js';
import { ScenarioModel } from '../../dist/sim/scenario.js';
import { soakScenario } from './cluster.mjs';
import { truthScenario } from './scenario.mjs';

const EPOCH_MS = Date.parse('2026-11-21T10:00:00Z');

export function responseOf(flow) {
  return create(GetFlowsResponseSchema, { responseTypes: { case: 'flow', value: flow }, nodeName: flow.nodeName, time: flow.time });
}

/** `size` flows of `scenario`, encoded; with a summary of what is in them. */
export function encodePool(scenario, size) {
  const model = new ScenarioModel({ ...scenario, totalFlows: undefined }, EPOCH_MS);
  const pool = new Array(size);
  const addresses = new Set();
  const pods = new Set();
  let bytes = 0;
  let v6 = 0;
  let noIp = 0;
  let dropped = 0;
  for (let i = 0; i < size; i++) {
    const flow = model.flowAt(i);
    const b = toBinary(GetFlowsResponseSchema, responseOf(flow));
    pool[i] = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
    bytes += b.byteLength;
    if (flow.verdict === 2) dropped++;
    if (!flow.IP) noIp++;
    else {
      if (flow.IP.ipVersion === 2) v6++;
      addresses.add(flow.IP.source);
      addresses.add(flow.IP.destination);
    }
    for (const ep of [flow.source, flow.destination]) if (ep?.podName) pods.add(`${ep.namespace}/${ep.podName}`);
  }
  return { pool, summary: { messages: size, avgBytes: bytes / size, ipv6Share: v6 / size, droppedShare: dropped / size, noIpShare: noIp / size, distinctAddresses: addresses.size, distinctPods: pods.size } };
}

export function truthPool(size) {
  return encodePool(truthScenario(undefined), size);
}

/** The soak pool: 100,000 pods (by default) each seen in a few flows. */
export function soakPool(opts = {}) {
  const s = soakScenario(opts);
  return encodePool(s.scenario, opts.poolSize ?? s.poolSize);
}
