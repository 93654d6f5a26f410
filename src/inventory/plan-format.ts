import type { Inventory } from './inventory.js';
import type { RestartPlan } from './restart-plan.js';
import type { Workload } from './workload.js';

export const planFormats = ['table', 'markdown', 'json', 'shell'] as const;
export type PlanFormat = (typeof planFormats)[number];

type Cell = string | number;

function table(head: string[], rows: Cell[][], markdown: boolean): string {
  if (markdown) {
    const esc = (s: string) => s.replace(/\|/g, '\\|') || ' ';
    return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.map((c) => esc(String(c))).join(' | ')} |`)].join('\n');
  }
  const cells = [head, ...rows.map((r) => r.map(String))];
  const width = head.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const numeric = head.map((_, i) => rows.length > 0 && rows.every((r) => typeof r[i] === 'number'));
  return cells.map((r) => r.map((c, i) => (numeric[i] ? c.padStart(width[i]!) : c.padEnd(width[i]!))).join('  ').trimEnd()).join('\n');
}

export const workloadText = (w: Workload): string => `${w.kind} ${w.namespace ? `${w.namespace}/` : ''}${w.name}`;
const pct = (x: number | null): string => (x === null ? '-' : `${(100 * x).toFixed(1)}%`);

/** The plan's shell script: a header comment, then only the commands, one per line, in plan order. */
export function formatShell(plan: RestartPlan): string {
  const lines = [
    '#!/bin/sh',
    `# Restart plan (hubble-ipam-exporter plan): ${plan.steps.length} workload(s), ${plan.pods} pod(s) on stale, unallocated, wrong-node or out-of-pool addresses.`,
    `# Order: cluster DNS, Hubble Relay/UI, monitoring, then ${plan.trafficKnown ? 'most dropped traffic first' : 'by name (no flows given)'}. Review before running: the exporter never runs these.`,
  ];
  for (const s of plan.steps) lines.push(...s.commands);
  return `${lines.join('\n')}\n`;
}

/** The inventory and the plan as JSON (addresses as text). */
export function planJson(inv: Inventory, plan: RestartPlan): unknown {
  return {
    inventory: {
      podAddresses: inv.podAddresses,
      trafficKnown: inv.trafficKnown,
      counts: inv.counts,
      draining: inv.draining,
      pods: inv.pods.map((p) => ({
        namespace: p.pod.namespace,
        name: p.pod.name,
        node: p.node,
        hostNetwork: p.pod.hostNetwork,
        status: p.status,
        workload: p.pod.workload,
        addresses: p.addresses,
        flows: p.flows,
        drops: p.drops,
        ...(p.pod.startTime ? { startTime: p.pod.startTime } : {}),
        source: p.pod.source,
      })),
    },
    plan,
  };
}

/** The inventory's counts, the draining pools and the plan, as aligned text or Markdown. */
export function formatPlan(inv: Inventory, plan: RestartPlan, format: PlanFormat): string {
  if (format === 'shell') return formatShell(plan);
  if (format === 'json') return `${JSON.stringify(planJson(inv, plan), null, 2)}\n`;
  const md = format === 'markdown';
  const h = (s: string) => (md ? `\n## ${s}\n` : `\n${s}\n${'-'.repeat(s.length)}`);
  const out: string[] = [];
  const hostNet = inv.pods.filter((p) => p.pod.hostNetwork).length;
  const noAddr = inv.pods.filter((p) => !p.pod.hostNetwork && p.addresses.length === 0).length;
  out.push(md ? '# Pod inventory and restart plan' : 'Pod inventory and restart plan');
  out.push(`${inv.pods.length} pods, ${inv.podAddresses} pod addresses (not counted: ${hostNet} host-network pods, ${noAddr} pods without an address)`);
  out.push(h('Pod addresses by status, pool and node'));
  out.push(inv.counts.length === 0 ? 'none' : table(['status', 'pool', 'node', 'addresses'], inv.counts.map((c) => [c.status, c.pool || '(none)', c.node || '(unknown)', c.addresses]), md));
  out.push(h('Draining pools'));
  out.push(inv.draining.length === 0 ? 'none' : table(['pool', 'pods left', 'pods off', 'progress'], inv.draining.map((d) => [d.pool, d.podsLeft, d.podsOff, pct(d.progress)]), md));
  out.push(h(`Restart plan: ${plan.steps.length} workloads, ${plan.pods} pods`));
  if (plan.steps.length === 0) out.push('nothing to restart');
  else {
    out.push(`Order: cluster DNS, Hubble Relay/UI, monitoring, then ${plan.trafficKnown ? 'most dropped traffic first' : 'by name (no flows given)'}. The exporter never runs these commands.`);
    out.push('');
    const rows: Cell[][] = [];
    for (const s of plan.steps) {
      s.commands.forEach((c, i) => rows.push(i === 0 ? [String(s.order), s.tier, workloadText(s.workload), String(s.pods.length), s.nodes.map((n) => n || '(unknown)').join(','), String(s.drops), c] : ['', '', '', '', '', '', c]));
    }
    out.push(table(['step', 'tier', 'workload', 'pods', 'nodes', 'drops', 'command'], rows, md));
    out.push(h('By node'));
    const nodeRows: Cell[][] = [];
    for (const n of plan.byNode) for (const p of n.pods) nodeRows.push([n.node || '(unknown)', String(p.step), `${p.namespace}/${p.name}`, workloadText(p.workload), p.addresses.join(', ')]);
    out.push(table(['node', 'step', 'pod', 'workload', 'addresses'], nodeRows, md));
  }
  return `${out.join('\n')}\n`;
}
