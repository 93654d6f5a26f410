/**
 * Nanoseconds per flow through AttributionPipeline.flow alone (classify both
 * sides, every handler): the per-flow work after the decoder, without gRPC
 * or decoding. The truth scenario's flows, decoded once into records (node
 * names interned, as the wire decoder's string cache hands them out), fed
 * round and round. Two shapes: Relay mode (the three nodes' flows
 * interleaved), and one node's flows without and with per-node mode's
 * `ownNode` check (the same records: the difference is the check's cost).
 * Median of `runs` rounds of ~0.5 M flows each, the two shapes alternating.
 *
 *   node bench/micro/pipeline.mjs [--flows 20000] [--runs 5]
 */
import { AttributionPipeline } from '../../dist/attribution/pipeline.js';
import { FlowRecord, recordFromFlow } from '../../dist/ingest/flow-record.js';
import { stateFromObjects } from '../../dist/ipam/from-objects.js';
import { IpamStore } from '../../dist/ipam/ipam-store.js';
import { ScenarioModel } from '../../dist/sim/scenario.js';
import { num } from '../lib/args.mjs';
import { failOnError, microArgs, report } from '../lib/micro.mjs';
import { truthConfig, truthScenario } from '../lib/scenario.mjs';
import { median } from '../lib/stats.mjs';

failOnError();
const args = microArgs();
const flows = num(args.flows, 20_000);
const runs = num(args.runs, 5);
const PASSES = 25;

const { state, problems } = stateFromObjects({ objects: [], configs: [{ config: truthConfig(), where: 'bench' }] });
if (problems.length > 0) throw new Error(`bad truth IPAM: ${JSON.stringify(problems[0])}`);

const model = new ScenarioModel(truthScenario(undefined, 10_000), Date.now() - 3_600_000);
const interned = new Map();
const all = [];
for (let i = 0; i < flows; i++) {
  const f = model.flowAt(i);
  const r = recordFromFlow(f, f.nodeName, new FlowRecord());
  if (!interned.has(r.nodeName)) interned.set(r.nodeName, r.nodeName);
  r.nodeName = interned.get(r.nodeName);
  all.push(r);
}
const ownWire = all[0].nodeName;
const ownNode = ownWire.slice(ownWire.indexOf('/') + 1);
const mine = all.filter((r) => r.nodeName === ownWire);

function pipelineFor(opts) {
  const p = new AttributionPipeline({ windowSec: 300, ...opts });
  p.setSnapshot(new IpamStore().update(state, 'bench'));
  return p;
}
const shapes = [
  { name: 'relay', pipeline: pipelineFor({}), recs: all },
  { name: 'oneNode', pipeline: pipelineFor({}), recs: mine },
  { name: 'perNode', pipeline: pipelineFor({ ownNode }), recs: mine },
];
const ns = { relay: [], oneNode: [], perNode: [] };
for (let r = 0; r < runs + 1; r++) {
  for (const s of shapes) {
    const t0 = process.hrtime.bigint();
    for (let k = 0; k < PASSES; k++) for (let i = 0; i < s.recs.length; i++) s.pipeline.flow(s.recs[i]);
    const per = Number(process.hrtime.bigint() - t0) / (PASSES * s.recs.length);
    if (r > 0) ns[s.name].push(per); // round 0 warms up
  }
}
report({
  flows,
  perNodeFlows: mine.length,
  relayNsPerFlow: median(ns.relay),
  oneNodeNsPerFlow: median(ns.oneNode),
  perNodeNsPerFlow: median(ns.perNode),
  runs: ns,
});
