/**
 * Pools of pre-encoded `observer.GetFlowsResponse` messages, built once with
 * the scenario model and `toBinary` (the relay then only copies bytes).
 *
 * Kinds: `real` (the default of the throughput rows): the truth scenario's
 * flows filled like the real dumps (bench/lib/real-like.mjs, ~900 bytes);
 * `truth`: the scenario's flows as they are (644 bytes, the pool of runs
 * before the field mask); `soak`: 100,000 pods each seen in a few flows.
 *
 * A pool can be built under a field mask (Hubble's `field_mask` paths): each
 * flow is then masked with the simulated relay's `maskFlow` (as Hubble's
 * observer does) before it is encoded, and the response's time and
 * node_name come from the masked flow, as Hubble takes them.
 */
import { create, toBinary } from '@bufbuild/protobuf';
import { GetFlowsResponseSchema } from '../../dist/gen/observer/observer_pb.js';
import { ScenarioModel } from '../../dist/sim/scenario.js';
import { maskFlow, maskTree } from '../../dist/sim/hubble-field-mask.js';
import { soakScenario } from './cluster.mjs';
import { enrichFlow, labelSets } from './real-like.mjs';
import { truthScenario } from './scenario.mjs';

const EPOCH_MS = Date.parse('2026-11-21T10:00:00Z');

export function responseOf(flow) {
  return create(GetFlowsResponseSchema, { responseTypes: { case: 'flow', value: flow }, nodeName: flow.nodeName, time: flow.time });
}

/**
 * Flows 0..size-1 of `scenario` (only the indexes `keep(i)` accepts, if
 * given: an agent's share), each passed through `fill` (if any), masked
 * with `maskPaths` (if any) and encoded; with a summary of what is in them
 * (addresses and shares from the whole flows).
 */
export function encodePool(scenario, size, { fill, maskPaths, keep } = {}) {
  const model = new ScenarioModel({ ...scenario, totalFlows: undefined }, EPOCH_MS);
  const tree = maskPaths && maskPaths.length > 0 ? maskTree(maskPaths) : undefined;
  const pool = [];
  const addresses = new Set();
  const pods = new Set();
  let bytes = 0;
  let v6 = 0;
  let noIp = 0;
  let dropped = 0;
  for (let i = 0; i < size; i++) {
    if (keep && !keep(i)) continue;
    const whole = model.flowAt(i);
    if (fill) fill(whole, i);
    const flow = tree ? maskFlow(whole, tree) : whole;
    const b = toBinary(GetFlowsResponseSchema, responseOf(flow));
    pool.push(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
    bytes += b.byteLength;
    if (whole.verdict === 2) dropped++;
    if (!whole.IP) noIp++;
    else {
      if (whole.IP.ipVersion === 2) v6++;
      addresses.add(whole.IP.source);
      addresses.add(whole.IP.destination);
    }
    for (const ep of [whole.source, whole.destination]) if (ep?.podName) pods.add(`${ep.namespace}/${ep.podName}`);
  }
  const n = pool.length;
  return { pool, summary: { messages: n, avgBytes: bytes / n, maskPaths: maskPaths ?? [], ipv6Share: v6 / n, droppedShare: dropped / n, noIpShare: noIp / n, distinctAddresses: addresses.size, distinctPods: pods.size } };
}

export function truthPool(size, maskPaths) {
  return encodePool(truthScenario(undefined), size, { maskPaths });
}

/** The truth scenario's flows filled like the real dumps (~900 bytes each); see real-like.mjs. */
export function realLikePool(size, maskPaths) {
  const { sets, labelSource } = labelSets();
  const res = encodePool(truthScenario(undefined), size, { maskPaths, fill: (flow, i) => enrichFlow(flow, sets, i) });
  return { pool: res.pool, summary: { ...res.summary, labelSource } };
}

/** The soak pool: 100,000 pods (by default) each seen in a few flows. */
export function soakPool(opts = {}, maskPaths) {
  const s = soakScenario(opts);
  return encodePool(s.scenario, opts.poolSize ?? s.poolSize, { maskPaths });
}
