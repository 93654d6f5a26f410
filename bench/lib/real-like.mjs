/**
 * Flows "filled like the real dumps": the scenario's flows carry what the
 * exporter reads plus a little (5 labels per pod, Ethernet, L4, event type),
 * 644 bytes on average; Hubble's real flows carry more that the exporter does
 * not read: a dozen `k8s:` labels per pod (Helm, team, chart, pod template,
 * namespace labels), the `Summary` text, the interface. `enrichFlow` adds
 * those, in place, so the field mask has what it removes in a real cluster.
 *
 * The extra labels come from the real dumps in ../shared/fixtures/hubble-flows/
 * (read at bench time, never copied into the repository): each distinct
 * `k8s:` label list of an endpoint there, less the keys the scenario already
 * sets, is one label set, and each pod gets one set (by its name's hash) with
 * its values. Where ../shared is absent, a synthetic set of typical labels of
 * the same sizes (Helm charts, app.kubernetes.io/*, namespace labels) stands
 * in; `labelSource` says which.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { create } from '@bufbuild/protobuf';
import { NetworkInterfaceSchema } from '../../dist/gen/flow/flow_pb.js';
import { benchDir } from './child.mjs';

export const dumpsDir = join(benchDir, '..', '..', 'shared', 'fixtures', 'hubble-flows');

/** Label keys the scenario already gives every pod (src/sim/scenario.ts podEndpoint). */
const SCENARIO_KEYS = new Set([
  'k8s:app',
  'k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name',
  'k8s:io.cilium.k8s.policy.cluster',
  'k8s:io.cilium.k8s.policy.serviceaccount',
  'k8s:io.kubernetes.pod.namespace',
]);
const keyOf = (label) => label.slice(0, label.indexOf('=') < 0 ? label.length : label.indexOf('='));

/** Each distinct k8s label list of an endpoint in the real dumps, less the scenario's keys. */
export function realLabelSets(dir = dumpsDir) {
  if (!existsSync(dir)) return undefined;
  const sets = new Map();
  for (const name of readdirSync(dir).filter((f) => /\.jsonl?$/.test(f)).sort()) {
    for (const line of readFileSync(join(dir, name), 'utf8').split('\n')) {
      if (line.trim() === '') continue;
      const flow = JSON.parse(line).flow;
      for (const ep of [flow?.source, flow?.destination]) {
        const extra = (ep?.labels ?? []).filter((l) => l.startsWith('k8s:') && !SCENARIO_KEYS.has(keyOf(l)));
        if (extra.length > 0) sets.set(JSON.stringify(extra), extra);
      }
    }
  }
  return sets.size > 0 ? [...sets.values()] : undefined;
}

/** Typical labels of a Helm-installed workload: the stand-in when the dumps are absent. */
export function syntheticLabelSets() {
  const sets = [];
  for (let i = 0; i < 16; i++) {
    const app = `svc-${i}`;
    const all = [
      `k8s:app.kubernetes.io/name=${app}`,
      `k8s:app.kubernetes.io/instance=${app}-prod`,
      'k8s:app.kubernetes.io/managed-by=Helm',
      `k8s:app.kubernetes.io/part-of=shop-frontend`,
      `k8s:helm.sh/chart=${app}-1.${i}.${i * 3}`,
      `k8s:io.cilium.k8s.namespace.labels.app.kubernetes.io/instance=team-${i % 5}`,
      `k8s:io.cilium.k8s.namespace.labels.owner=platform-team-${i % 3}`,
      `k8s:pod-template-hash=${(0x5f3a9c1d * (i + 1)).toString(16).slice(0, 10)}`,
      `k8s:security.example.com/tier=${i % 2 ? 'internal' : 'public'}`,
    ];
    sets.push(all.slice(0, 2 + (i % 4)));
  }
  return sets;
}

/** The label sets to use and where they came from. */
export function labelSets() {
  const real = realLabelSets();
  return real ? { labelSource: `real dumps (${real.length} label sets from ${dumpsDir})`, sets: real } : { labelSource: 'synthetic (no ../shared/fixtures/hubble-flows)', sets: syntheticLabelSets() };
}

function hash(s) {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

const TCP_FLAGS = ['FIN', 'SYN', 'RST', 'PSH', 'ACK', 'URG', 'ECE', 'CWR', 'NS'];

/** Hubble's Summary of an L3/L4 flow ("TCP Flags: ACK, PSH", "UDP", …). */
function summaryOf(flow) {
  const p = flow.l4?.protocol;
  if (p?.case === 'TCP') return `TCP Flags: ${TCP_FLAGS.filter((f) => p.value.flags?.[f]).join(', ')}`;
  if (p?.case === 'UDP') return 'UDP';
  if (p?.case === 'ICMPv4') return 'ICMPv4 EchoRequest';
  if (p?.case === 'ICMPv6') return 'ICMPv6 EchoRequest';
  return '';
}

/** Adds what real flows carry and the exporter does not read; `i` is the flow's index. */
export function enrichFlow(flow, sets, i) {
  for (const ep of [flow.source, flow.destination]) {
    if (!ep?.podName) continue;
    const extra = sets[hash(ep.podName) % sets.length];
    ep.labels = [...ep.labels, ...extra];
  }
  flow.Summary = summaryOf(flow);
  // As in the kind dump: the endpoint's lxc interface on flows traced into a pod.
  const pod = flow.destination?.podName ? flow.destination : flow.source?.podName ? flow.source : undefined;
  if (pod && i % 5 < 2) flow.interface = create(NetworkInterfaceSchema, { index: 20 + (hash(pod.podName) % 40), name: `lxc${hash(pod.podName).toString(16).padStart(8, '0')}${(i % 7).toString(16)}a4f2` });
  return flow;
}
