/**
 * `analyze` lines per second on a jsonpb file (`hubble observe -o jsonpb`
 * lines of the truth scenario, written with toJsonString and proto field
 * names) against the floor of any JSON-lines reader: read the file, split it
 * into lines, JSON.parse each. Median of 5, the two alternating.
 *
 *   node bench/micro/analyze.mjs [--lines 200000] [--runs 5]
 *     [--profile FILE.cpuprofile]   profile one analyze() run instead of measuring
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toJsonString } from '@bufbuild/protobuf';
import { analyze } from '../../dist/analyze/analyze.js';
import { GetFlowsResponseSchema } from '../../dist/gen/observer/observer_pb.js';
import { ScenarioModel } from '../../dist/sim/scenario.js';
import { num } from '../lib/args.mjs';
import { profiled } from '../lib/inspector-profile.mjs';
import { failOnError, microArgs, report } from '../lib/micro.mjs';
import { responseOf } from '../lib/pool.mjs';
import { truthConfigYaml, truthScenario } from '../lib/scenario.mjs';
import { median } from '../lib/stats.mjs';

failOnError();
const args = microArgs();
const lines = num(args.lines, 200_000);
const runs = num(args.runs, 5);

// The file is kept in the temp dir between runs (the scenario is deterministic).
const flowsFile = join(tmpdir(), `hie-bench-flows-${lines}.json`);
const ipamFile = join(tmpdir(), 'hie-bench-truth-ipam.yaml');
writeFileSync(ipamFile, truthConfigYaml);
if (!existsSync(flowsFile)) {
  const model = new ScenarioModel(truthScenario(undefined), Date.parse('2026-11-21T10:00:00Z'));
  const out = [];
  for (let i = 0; i < lines; i++) out.push(toJsonString(GetFlowsResponseSchema, responseOf(model.flowAt(i)), { useProtoFieldName: true }));
  writeFileSync(`${flowsFile}.tmp`, `${out.join('\n')}\n`);
  const { renameSync } = await import('node:fs');
  renameSync(`${flowsFile}.tmp`, flowsFile);
}
const bytes = readFileSync(flowsFile).length;

async function runAnalyze() {
  const t = performance.now();
  const r = await analyze({ flowFiles: [flowsFile], ipamFiles: [ipamFile] });
  const s = (performance.now() - t) / 1000;
  if (r.input.flows !== lines) throw new Error(`analyze saw ${r.input.flows} flows, expected ${lines}`);
  return lines / s;
}

function runBare() {
  const t = performance.now();
  let n = 0;
  for (const line of readFileSync(flowsFile, 'utf8').split('\n')) {
    if (line === '') continue;
    JSON.parse(line);
    n++;
  }
  const s = (performance.now() - t) / 1000;
  if (n !== lines) throw new Error(`bare parse saw ${n} lines`);
  return lines / s;
}

if (args.profile) {
  await profiled(args.profile, runAnalyze);
  report({ lines, profile: args.profile });
} else {
  const a = [];
  const b = [];
  for (let i = 0; i < runs; i++) {
    a.push(await runAnalyze());
    b.push(runBare());
  }
  report({
    lines,
    fileMB: bytes / 1048576,
    analyzeLinesPerSecond: median(a),
    bareJsonParseLinesPerSecond: median(b),
    ratio: median(a) / median(b),
    analyzeAll: a,
    bareAll: b,
  });
}
