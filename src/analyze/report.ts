import type { FileReplayStats } from '../ingest/file-source.js';
import type { IpamSnapshot } from '../ipam/snapshot.js';
import type { ReadModel } from '../read-model/read-model.js';

export interface MigrationReport {
  input: { flowFiles: string[]; ipamFiles: string[]; lines: number; flows: number; badLines: number; firstErrors: string[]; lostEvents: Record<string, number>; from: string | null; to: string | null };
  ipam: { mode: string; modeSource: string; pools: Array<{ name: string; state: string; cidrs: string[] }> };
  /** Flows per status, by side. */
  byStatus: Array<{ status: string; source: number; destination: number }>;
  /** Flow ends per pool and status (a flow has two ends: each side counts once), with the dropped ones. */
  byPool: Array<{ pool: string; status: string; flowEnds: number; droppedEnds: number }>;
  /** Flow ends per node and status (each side of a flow counts once), with the dropped ones. */
  byNode: Array<{ node: string; status: string; flowEnds: number; droppedEnds: number }>;
  /** Pool-to-pool matrix with drop rates. */
  matrix: Array<{ sourcePool: string; destinationPool: string; flows: number; dropped: number; dropRate: number }>;
  /** Every hubble_ipam_flows_total series: the numbers the live exporter would export. */
  series: Array<{ side: string; pool: string; node: string; status: string; verdict: string; flows: number }>;
  offenders: Array<{ status: string; ip: string; pod: string; namespace: string; node: string; pool: string; flows: number; byVerdict: Record<string, number>; firstSeen: string; lastSeen: string }>;
}

const iso = (sec: number) => (sec > 0 ? new Date(sec * 1000).toISOString() : null);

function sum<K extends string>(rows: Array<Record<K, string> & { flows: number; dropped: number }>, keys: K[]): Array<Record<K, string> & { flows: number; dropped: number }> {
  const m = new Map<string, Record<K, string> & { flows: number; dropped: number }>();
  for (const r of rows) {
    const k = keys.map((x) => r[x]).join('\0');
    const cur = m.get(k);
    if (cur) {
      cur.flows += r.flows;
      cur.dropped += r.dropped;
    } else m.set(k, { ...r });
  }
  return [...m.values()].sort((a, b) => b.flows - a.flows);
}

/** The migration report of a finished offline run. */
export function buildReport(
  read: ReadModel,
  snap: IpamSnapshot,
  replay: FileReplayStats & { lostBySource: ReadonlyMap<string, number> },
  flowFiles: string[],
  ipamFiles: string[],
  firstFlowSec: number,
): MigrationReport {
  const series = read
    .flowSeries()
    .filter((e) => e.flows > 0)
    .sort((a, b) => b.flows - a.flows);
  const statuses = new Map<string, { status: string; source: number; destination: number }>();
  for (const s of series) {
    const row = statuses.get(s.status) ?? { status: s.status, source: 0, destination: 0 };
    row[s.side as 'source' | 'destination'] += s.flows;
    statuses.set(s.status, row);
  }
  const withDrops = series.map((s) => ({ ...s, dropped: s.verdict === 'DROPPED' ? s.flows : 0 }));
  const matrix = sum(
    read
      .poolFlowSeries()
      .filter((e) => e.flows > 0)
      .map((e) => ({ sourcePool: e.sourcePool, destinationPool: e.destinationPool, flows: e.flows, dropped: e.verdict === 'DROPPED' ? e.flows : 0 })),
    ['sourcePool', 'destinationPool'],
  ).map((r) => ({ ...r, dropRate: r.flows > 0 ? Math.round((r.dropped / r.flows) * 10000) / 10000 : 0 }));
  return {
    input: {
      flowFiles,
      ipamFiles,
      lines: replay.lines,
      flows: replay.flows,
      badLines: replay.errors,
      firstErrors: replay.firstErrors,
      lostEvents: Object.fromEntries(replay.lostBySource),
      from: iso(firstFlowSec),
      to: iso(read.nowSec()),
    },
    ipam: { mode: snap.state.mode, modeSource: snap.state.modeSource, pools: snap.state.pools.map((x) => ({ name: x.name, state: x.state, cidrs: x.cidrs.map((c) => c.text) })) },
    byStatus: [...statuses.values()].sort((a, b) => b.source + b.destination - a.source - a.destination),
    byPool: sum(withDrops.map((s) => ({ pool: s.pool, status: s.status, flows: s.flows, dropped: s.dropped })), ['pool', 'status']).map(({ flows, dropped, ...k }) => ({ ...k, flowEnds: flows, droppedEnds: dropped })),
    byNode: sum(withDrops.map((s) => ({ node: s.node, status: s.status, flows: s.flows, dropped: s.dropped })), ['node', 'status']).map(({ flows, dropped, ...k }) => ({ ...k, flowEnds: flows, droppedEnds: dropped })),
    matrix,
    series,
    offenders: read
      .anomalies()
      .rows.map(({ flowsInWindow: _, ...o }) => o)
      .sort((a, b) => b.flows - a.flows),
  };
}

type Cell = string | number;

/** How every format shows an empty value (no pool, no node, no pod, no flows to rate): `-` in text, `null` in JSON. */
export const EMPTY_CELL = '-';
const cell = (s: string) => s || EMPTY_CELL;

/**
 * The report as JSON: empty values (a flow end in no pool or on no node, an
 * offender without a pod) are `null`, where the text formats print `-`.
 */
export function reportJson(r: MigrationReport): string {
  return `${JSON.stringify(r, (_key, v: unknown) => (v === '' ? null : v), 2)}\n`;
}

function table(head: string[], rows: Cell[][], markdown: boolean): string {
  const cells = [head, ...rows.map((r) => r.map((c) => cell(String(c))))];
  if (markdown) {
    const esc = (s: string) => s.replace(/\|/g, '\\|');
    return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...cells.slice(1).map((r) => `| ${r.map(esc).join(' | ')} |`)].join('\n');
  }
  const width = head.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((c, i) => (typeof rows[0]?.[i] === 'number' ? c.padStart(width[i]!) : c.padEnd(width[i]!))).join('  ').trimEnd()).join('\n');
}

const pct = (n: number, d: number) => (d > 0 ? `${((100 * n) / d).toFixed(1)}%` : EMPTY_CELL);

/** The report as aligned text or Markdown. */
export function formatReport(r: MigrationReport, format: 'table' | 'markdown', maxOffenders = 50): string {
  const md = format === 'markdown';
  const h = (s: string) => (md ? `\n## ${s}\n` : `\n${s}\n${'-'.repeat(s.length)}`);
  const out: string[] = [];
  out.push(md ? '# IPAM migration report' : 'IPAM migration report');
  out.push(
    `${r.input.flows} flows (${2 * r.input.flows} flow ends) from ${r.input.flowFiles.length} file(s)` +
      (r.input.from ? `, ${r.input.from} → ${r.input.to}` : '') +
      `; IPAM mode ${r.ipam.mode} (${r.ipam.modeSource}); ${r.input.badLines} bad line(s)`,
  );
  for (const e of r.input.firstErrors) out.push(`  bad line: ${e}`);
  const lost = Object.entries(r.input.lostEvents);
  if (lost.length > 0) out.push(`lost events reported by Hubble: ${lost.map(([k, v]) => `${k}=${v}`).join(', ')}`);
  out.push(h('Pools'));
  out.push(table(['pool', 'state', 'cidrs'], r.ipam.pools.map((p) => [p.name, p.state, p.cidrs.join(' ')]), md));
  out.push(h('Flows by status of each end'));
  out.push(table(['status', 'as source', 'as destination'], r.byStatus.map((s) => [s.status, s.source, s.destination]), md));
  out.push(h('Flow ends by pool and status (a flow has two ends: source and destination)'));
  out.push(table(['pool', 'status', 'flow ends', 'dropped ends', 'drop rate'], r.byPool.map((x) => [x.pool, x.status, x.flowEnds, x.droppedEnds, pct(x.droppedEnds, x.flowEnds)]), md));
  out.push(h('Flow ends by node and status (a flow has two ends: source and destination)'));
  out.push(table(['node', 'status', 'flow ends', 'dropped ends', 'drop rate'], r.byNode.map((x) => [x.node, x.status, x.flowEnds, x.droppedEnds, pct(x.droppedEnds, x.flowEnds)]), md));
  out.push(h('Flows from pool to pool (one per flow)'));
  out.push(table(['source pool', 'destination pool', 'flows', 'dropped', 'drop rate'], r.matrix.map((x) => [x.sourcePool, x.destinationPool, x.flows, x.dropped, pct(x.dropped, x.flows)]), md));
  out.push(h(`Stale, unallocated, wrong-node and out-of-pool endpoints (${r.offenders.length})`));
  if (r.offenders.length === 0) out.push('none');
  else {
    out.push(
      table(
        ['status', 'ip', 'namespace/pod', 'node', 'pool', 'flows', 'dropped', 'last seen'],
        r.offenders.slice(0, maxOffenders).map((o) => [o.status, o.ip, o.pod ? `${o.namespace}/${o.pod}` : '', o.node, o.pool, o.flows, o.byVerdict.DROPPED ?? 0, o.lastSeen]),
        md,
      ),
    );
    if (r.offenders.length > maxOffenders) out.push(`… and ${r.offenders.length - maxOffenders} more (--format json lists all)`);
  }
  return `${out.join('\n')}\n`;
}
