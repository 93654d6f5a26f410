import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stateFromObjects } from '../../src/ipam/from-objects.js';
import { loadIpamFiles } from '../../src/ipam/ipam-files.js';
import type { IpamState } from '../../src/ipam/model.js';
import { truthConfigYaml } from '../../src/sim/all-statuses.js';
import { Verdict, type Flow } from '../../src/gen/flow/flow_pb.js';

/**
 * The ground truth of the all-statuses scenario (src/sim/all-statuses.ts):
 * for every address it uses, the answer a correct exporter must give,
 * written out by hand from the scenario's design, not computed by the code
 * under test.
 */
export { truthConfigYaml, truthScenario } from '../../src/sim/all-statuses.js';

/**
 * The truth cluster's IPAM state, as `serve --ipam-file` reads truthConfigYaml
 * (written to a file and loaded, so the file path is the one exercised);
 * throws on any problem, naming it.
 */
export function truthIpamState(): IpamState {
  const dir = mkdtempSync(join(tmpdir(), 'hie-truth-'));
  try {
    writeFileSync(join(dir, 'ipam.yaml'), truthConfigYaml);
    const files = loadIpamFiles([join(dir, 'ipam.yaml')]);
    const built = stateFromObjects({ objects: files.items, configs: files.configs });
    const problems = [...files.problems, ...built.problems];
    if (problems.length > 0) throw new Error(`the truth cluster does not load: ${JSON.stringify(problems)}`);
    return built.state;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

type Answer = [status: string, pool: string, node: string];

/** Every address of the truth scenario and its answer. */
export const truthAnswers: Record<string, Answer> = {
  '10.10.1.10': ['current', 'default', 'n1'],
  'fd00:10:0:1::10': ['current', 'default', 'n1'],
  '10.10.2.10': ['current', 'default', 'n2'],
  'fd00:10:0:2::10': ['current', 'default', 'n2'],
  '10.20.1.5': ['stale', 'legacy', 'n1'],
  '10.10.9.9': ['unallocated', 'default', ''],
  'fd00:10:0:9::9': ['unallocated', 'default', ''],
  '172.31.0.5': ['out_of_pool', '', ''],
  'fd99::5': ['out_of_pool', '', ''],
  '10.10.1.77': ['current', 'default', 'n1'], // wrong_node when seen local on n3
  '192.168.0.1': ['node', '', 'n1'],
  '192.168.0.2': ['node', '', 'n2'],
  '192.168.0.3': ['node', '', 'n3'],
  'fc00::1': ['node', '', 'n1'],
  'fc00::2': ['node', '', 'n2'],
  'fc00::3': ['node', '', 'n3'],
  '10.96.0.10': ['service', '', ''],
  'fd00:10:96::a': ['service', '', ''],
  '142.250.74.110': ['external', '', ''],
  '2a00:1450:4001:82b::200e': ['external', '', ''],
};

const TO_ENDPOINT = 101;
const FROM_ENDPOINT = 5;

function answerFor(flow: Flow, side: 'source' | 'destination'): Answer {
  if (!flow.IP) return ['unknown', '', ''];
  const ip = side === 'source' ? flow.IP.source : flow.IP.destination;
  const a = truthAnswers[ip];
  if (!a) throw new Error(`truth scenario produced an address without an answer: ${ip}`);
  const local = side === 'source' ? flow.traceObservationPoint === FROM_ENDPOINT : flow.traceObservationPoint === TO_ENDPOINT;
  const observer = flow.nodeName.slice(flow.nodeName.indexOf('/') + 1);
  if (a[0] === 'current' && local && observer !== a[2]) return ['wrong_node', a[1], a[2]];
  return a;
}

export interface Truth {
  /** `side|pool|node|status|verdict` → flows. */
  flows: Map<string, number>;
  /** `source_pool|destination_pool|verdict` → flows. */
  matrix: Map<string, number>;
  /** status → distinct addresses with that status. */
  offenders: Map<string, Set<string>>;
}

export function groundTruth(flows: Iterable<Flow>): Truth {
  const t: Truth = { flows: new Map(), matrix: new Map(), offenders: new Map() };
  const add = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);
  for (const f of flows) {
    const verdict = Verdict[f.verdict]!;
    const s = answerFor(f, 'source');
    const d = answerFor(f, 'destination');
    add(t.flows, ['source', s[1], s[2], s[0], verdict].join('|'));
    add(t.flows, ['destination', d[1], d[2], d[0], verdict].join('|'));
    add(t.matrix, [s[1], d[1], verdict].join('|'));
    for (const [a, ip] of [
      [s, f.IP?.source],
      [d, f.IP?.destination],
    ] as const) {
      if (['stale', 'unallocated', 'wrong_node', 'out_of_pool'].includes(a[0])) {
        const set = t.offenders.get(a[0]) ?? new Set<string>();
        set.add(ip!);
        t.offenders.set(a[0], set);
      }
    }
  }
  return t;
}

/** Parses Prometheus text into `name` → (label values joined in `labelOrder`) → value. */
export function parseProm(text: string, name: string, labelOrder: readonly string[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const m = line.match(/^([^{ ]+)(?:\{(.*)\})? (\S+)$/);
    if (!m || m[1] !== name) continue;
    const labels: Record<string, string> = {};
    for (const lm of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[lm[1]!] = lm[2]!.replace(/\\"/g, '"').replace(/\\\\/g, '\\');
    out.set(labelOrder.map((l) => labels[l] ?? '').join('|'), Number(m[3]));
  }
  return out;
}
