/**
 * A real Prometheus (the `prometheus` binary from Debian) and the exporter's
 * demo as child processes on loopback, and what the observability test needs
 * around them: free ports, the PromQL of the dashboards with Grafana's
 * variables substituted, metric names in PromQL and in /metrics.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { freePort } from './ports.js';
import { poll } from './wait.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const PROMETHEUS = process.env.PROMETHEUS_BIN ?? '/usr/bin/prometheus';
export const PROMTOOL = process.env.PROMTOOL_BIN ?? '/usr/bin/promtool';

export { freePort };

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export { poll };

/** A child process with its output kept (the tail of it shows in failures). */
export class Child {
  output = '';
  exited: Promise<number | null>;
  exitCode: number | null | undefined;

  constructor(readonly name: string, readonly proc: ChildProcess) {
    const keep = (d: Buffer) => {
      this.output += d.toString();
      if (this.output.length > 200_000) this.output = this.output.slice(-100_000);
    };
    proc.stdout?.on('data', keep);
    proc.stderr?.on('data', keep);
    this.exited = new Promise((resolve) => proc.on('exit', (code) => resolve((this.exitCode = code))));
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  tail(chars = 3000): string {
    return `--- ${this.name} output (tail) ---\n${this.output.slice(-chars)}`;
  }

  /** SIGTERM, then SIGKILL if it is still there after `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.running) return;
    this.proc.kill('SIGTERM');
    const t = setTimeout(() => this.running && this.proc.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(t);
  }
}

export interface PrometheusOptions {
  ruleFiles: string[];
  /** host:port of the exporter to scrape (job hubble-ipam-exporter). */
  target?: string;
  /** Or several jobs, each with its targets (host:port). */
  jobs?: Array<{ name: string; targets: string[] }>;
}

/** Prometheus on a free loopback port with a temporary TSDB, scraping and evaluating every second. */
export class PrometheusServer {
  readonly dir = mkdtempSync(join(tmpdir(), 'hie-prom-'));
  child?: Child;
  url = '';

  async start(opts: PrometheusOptions): Promise<void> {
    const port = await freePort();
    this.url = `http://127.0.0.1:${port}`;
    const config = [
      'global:',
      '  scrape_interval: 1s',
      '  scrape_timeout: 1s',
      '  evaluation_interval: 1s',
      'rule_files:',
      ...opts.ruleFiles.map((f) => `  - ${JSON.stringify(f)}`),
      'scrape_configs:',
      ...(opts.jobs ?? [{ name: 'hubble-ipam-exporter', targets: [opts.target!] }]).flatMap((j) => [
        `  - job_name: ${JSON.stringify(j.name)}`,
        // As the ServiceMonitor should: the exporter's namespace/pod labels are the workloads', not the target's.
        '    honor_labels: true',
        '    static_configs:',
        `      - targets: [${j.targets.map((t) => JSON.stringify(t)).join(', ')}]`,
      ]),
      '',
    ].join('\n');
    writeFileSync(join(this.dir, 'prometheus.yml'), config);
    const proc = spawn(
      PROMETHEUS,
      [
        `--config.file=${join(this.dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(this.dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--storage.tsdb.retention.time=1h',
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.child = new Child('prometheus', proc);
    await poll('Prometheus to be ready', 90_000, async () => {
      if (!this.child!.running) throw new Error(`prometheus exited with ${this.child!.exitCode}\n${this.child!.tail()}`);
      const r = await fetch(`${this.url}/-/ready`);
      return r.ok ? true : undefined;
    });
  }

  async api<T = unknown>(path: string, form?: Record<string, string>): Promise<{ status: string; data: T; error?: string; errorType?: string }> {
    const r = await fetch(`${this.url}${path}`, form ? { method: 'POST', body: new URLSearchParams(form) } : {});
    return (await r.json()) as { status: string; data: T; error?: string; errorType?: string };
  }

  /** An instant query now. */
  query(expr: string) {
    return this.api<{ resultType: string; result: unknown[] }>('/api/v1/query', { query: expr });
  }

  async stop(): Promise<void> {
    await this.child?.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------ dashboards

export interface PanelTarget {
  refId: string;
  expr: string;
  datasource?: { type?: string; uid?: string };
}

export interface Panel {
  id: number;
  type: string;
  title: string;
  description?: string;
  datasource?: { type?: string; uid?: string };
  targets?: PanelTarget[];
  panels?: Panel[];
}

export interface TemplateVar {
  name: string;
  type: string;
  query: string | { query: string };
  definition?: string;
  multi?: boolean;
  includeAll?: boolean;
  allValue?: string;
  datasource?: { type?: string; uid?: string };
}

export interface Dashboard {
  uid: string;
  id: null | number;
  title: string;
  schemaVersion: number;
  tags: string[];
  links: Array<{ type: string; tags?: string[]; includeVars?: boolean; keepTime?: boolean }>;
  templating: { list: TemplateVar[] };
  panels: Panel[];
  __inputs?: unknown;
}

/** Every panel, rows' collapsed panels included. */
export function allPanels(d: Dashboard): Panel[] {
  return d.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
}

/** Grafana's built-in interval variables as the test fixes them, then every template variable as "match anything". */
export function substituteVariables(expr: string): string {
  return expr
    .replace(/\$\{?__rate_interval\}?/g, '1m')
    .replace(/\$\{?__interval\}?/g, '15s')
    .replace(/\$\{?__range\}?/g, '5m')
    .replace(/\$\{[A-Za-z_]\w*(?::\w+)?\}|\$[A-Za-z_]\w*/g, '.*');
}

/** `label_values(metric{selector}, label)` of a query variable. */
export function parseLabelValues(q: string): { match: string; label: string } {
  const m = /^label_values\(\s*(.+?)\s*,\s*([A-Za-z_]\w*)\s*\)$/.exec(q.trim());
  if (!m) throw new Error(`not a label_values query: ${q}`);
  return { match: m[1]!, label: m[2]! };
}

// ------------------------------------------------------------------ metric names

const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'offset', 'bool', 'inf', 'nan']);

/**
 * Metric names a PromQL expression selects: identifiers that are not
 * functions (followed by "("), keywords, label names inside {…} or the label
 * lists of by/on/without/ignoring/group_*, nor strings.
 */
export function metricNames(expr: string): string[] {
  let s = expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""'); // strings
  s = s.replace(/\{[^}]*\}/g, ' '); // label matchers
  s = s.replace(/\[[^\]]*\]/g, ' '); // range and subquery windows
  s = s.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' '); // label lists
  const names = new Set<string>();
  for (const m of s.matchAll(/[A-Za-z_:][\w:]*/g)) {
    const id = m[0];
    const rest = s.slice(m.index! + id.length);
    if (/^\s*\(/.test(rest)) continue; // function call
    if (KEYWORDS.has(id.toLowerCase())) continue;
    if (m.index! > 0 && /[\d.]/.test(s[m.index! - 1]!)) continue; // the unit or exponent of a number: 5m, 1e3
    names.add(id);
  }
  return [...names].sort();
}

/** Metric families of a /metrics page (Prometheus text or OpenMetrics), from its TYPE lines, with their type. */
export function metricFamilies(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) out.set(m[1]!, m[2]!);
  return out;
}

/** Whether a selected name is a series of one of the families (histogram and summary suffixes included). */
export function familyOf(name: string, families: Map<string, string>): string | undefined {
  if (families.has(name)) return name;
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (name.endsWith(suffix)) {
      const base = name.slice(0, -suffix.length);
      const t = families.get(base);
      if (t === 'histogram' || t === 'summary') return base;
    }
  }
  return undefined;
}

/** GitHub's anchor of a markdown heading. */
export function githubAnchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}
