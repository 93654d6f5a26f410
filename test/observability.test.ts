/**
 * Dashboards, alert rules and their generated manifests, proven against the
 * real tools: promtool checks and unit-tests the rules, and a real Prometheus
 * scrapes the running demo while every dashboard query and every alert
 * expression is evaluated through its HTTP API.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import {
  Child,
  PROMTOOL,
  PrometheusServer,
  allPanels,
  familyOf,
  freePort,
  githubAnchor,
  metricFamilies,
  metricNames,
  parseLabelValues,
  poll,
  sleep,
  substituteVariables,
  type Dashboard,
  type Panel,
} from './support/prom-harness.js';
import { aggregationOf, rangeFunctionOf, selectors, type Selector } from './support/promql-selectors.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const run = promisify(execFile);

const RULES = join(root, 'deploy/alerts/rules.yaml');
const RUNBOOK_BASE = 'https://github.com/hubble-ipam-exporter/hubble-ipam-exporter/blob/main/docs/runbooks.md#';
const DASHBOARD_FILES = ['hubble-ipam-migration.json', 'hubble-ipam-pipeline.json'];
const DS = { type: 'prometheus', uid: '${datasource}' };

interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}
interface RecordingRule {
  record: string;
  expr: string;
}
const ruleFile = parse(readFileSync(RULES, 'utf8')) as { groups: Array<{ name: string; rules: Array<AlertRule | RecordingRule> }> };
const allRules = ruleFile.groups.flatMap((g) => g.rules);
const alertRules = allRules.filter((r): r is AlertRule => 'alert' in r);
const recordingRules = allRules.filter((r): r is RecordingRule => 'record' in r);
const recorded = new Set(recordingRules.map((r) => r.record));
const dashboards = DASHBOARD_FILES.map((f) => ({ file: f, d: JSON.parse(readFileSync(join(root, 'dashboards', f), 'utf8')) as Dashboard }));

/** Alerts about one exporter's own stream: one alert per replica (per-node mode: each replica's stream is its own problem). */
const PER_INSTANCE_ALERTS = ['HubbleIPAMRelayDisconnected', 'HubbleIPAMNoRecentFlows', 'HubbleIPAMDecodeErrors'];

/**
 * How each family adds up across replicas (the design of issue 14), as the
 * aggregations a dashboard target or a rule may wrap it in: additive families
 * are summed, cluster-wide facts every replica exports alike are maxed, the
 * per-replica ratio is never aggregated, per-exporter health may be shown per
 * instance or combined. `null` = no aggregation (per instance).
 */
const ADDITIVE = ['sum'];
const CLUSTER_FACT = ['max'];
const AGGREGATION_RULES: Record<string, Array<string | null>> = {
  hubble_ipam_flows_total: ADDITIVE,
  hubble_ipam_pool_flows_total: ADDITIVE,
  hubble_ipam_anomalous_addresses: ADDITIVE,
  hubble_ipam_migration_count: ADDITIVE,
  hubble_ipam_pod_addresses: ADDITIVE,
  hubble_ipam_pods_left_on_draining_pool: ADDITIVE,
  hubble_ipam_restart_plan_pods: ADDITIVE,
  hubble_ipam_node_allocated_ips: ADDITIVE,
  hubble_ipam_pool_active_ips: ADDITIVE,
  hubble_ipam_flows_received_total: ADDITIVE,
  hubble_ipam_lost_events_total: ADDITIVE,
  hubble_ipam_relay_nodes: ADDITIVE,
  hubble_ipam_pool_capacity_ips: CLUSTER_FACT,
  // The whole cluster's, on every replica (a sum of per-node shares would miss nodes with no running exporter).
  hubble_ipam_pool_allocated_ips: CLUSTER_FACT,
  hubble_ipam_pool_free_ips: CLUSTER_FACT,
  hubble_ipam_pool_node_cidrs_left: CLUSTER_FACT,
  hubble_ipam_ipam_errors_total: CLUSTER_FACT,
  // Per-replica clocks: the newest of them, or each.
  hubble_ipam_last_flow_timestamp_seconds: ['max', null],
  hubble_ipam_clock_skew_seconds: ['max', null],
  // Top-K per replica: summed per address for the offenders table, counted for its cardinality.
  hubble_ipam_anomalous_endpoints: ['sum', 'count'],
  // A replica's own ratio: shown per replica, never summed or averaged.
  hubble_ipam_migration_progress_ratio: [null],
  // Per-exporter health: per instance, the worst (min of connected), or added up (errors, reconnects).
  hubble_ipam_relay_connected: [null, 'min'],
  hubble_ipam_relay_reconnects_total: ['sum'],
  hubble_ipam_relay_connect_attempts_total: ['sum'],
  hubble_ipam_decode_errors_total: [null, 'sum'],
  hubble_ipam_strings_cut_total: ['sum'],
  hubble_ipam_flows_future_total: ['sum'],
  hubble_ipam_handler_errors_total: ['sum'],
  nodejs_eventloop_lag_p99_seconds: [null],
  process_resident_memory_bytes: [null],
  nodejs_heap_size_used_bytes: [null],
  process_cpu_seconds_total: [null],
  // Recording rules: one series per (cluster, job, …) already; the least advanced / the fullest of several jobs.
  'hubble_ipam:migration_progress:ratio': [null, 'min'],
  'hubble_ipam:pool_allocated:ratio': [null, 'max'],
};

/** Where a family's selector sits against AGGREGATION_RULES ('' = fine). */
function aggregationProblem(sel: Selector): string {
  const allowed = AGGREGATION_RULES[sel.name];
  if (!allowed) return `${sel.name}: no aggregation rule for this family (add it to AGGREGATION_RULES)`;
  const agg = aggregationOf(sel) ?? null;
  return allowed.includes(agg) ? '' : `${sel.name} aggregated with ${agg ?? 'nothing'}, not ${allowed.map((a) => a ?? 'nothing').join(' or ')}`;
}

// ------------------------------------------------------------------ Grafana's dashboard-linter rules

/** Units of Grafana's value formats the dashboards may use (a subset of dashboard-linter's list). */
const VALID_UNITS = new Set(['none', 'short', 'percent', 'percentunit', 'bytes', 'decbytes', 's', 'ms', 'µs', 'ns', 'dtdurations', 'reqps', 'ops', 'cps', 'pps', 'rps', 'wps', 'iops', 'bool', 'bool_yes_no', 'bool_on_off']);
const UNIT_PANELS = new Set(['stat', 'singlestat', 'graph', 'table', 'timeseries', 'gauge', 'barchart']);
/**
 * Targets that take a rate over the whole time range on purpose (the
 * linter's documented exception to target-rate-interval-rule): an instant
 * table that sums up the selected range is not a time series.
 */
const WHOLE_RANGE_PANELS: Record<string, string> = {
  'Pool-to-pool matrix': 'an instant table of flows/s and drop ratio over the whole selected range',
};

/**
 * Grafana's dashboard-linter rules (github.com/grafana/dashboard-linter,
 * lint/rule_*.go) as this project applies them, plus the aggregation each
 * family needs across replicas. Returns one line per problem, named by rule.
 * Deviations, on purpose: the cluster variable's allValue is ".*" (the
 * linter's ".+" would drop every series of a Prometheus without a cluster
 * label); selectors of recording rules carry cluster and job matchers only
 * (they have no instance label); the pool/node/namespace variables keep ".*"
 * (an address with no pool has pool="").
 */
function lintDashboard(d: Dashboard): string[] {
  const problems: string[] = [];
  const vars = d.templating.list;
  const byName = new Map(vars.map((v) => [v.name, v]));
  // template-datasource-rule
  const dsVars = vars.filter((v) => v.type === 'datasource');
  if (dsVars.length !== 1 || dsVars[0]!.name !== 'datasource' || (dsVars[0] as { query?: unknown }).query !== 'prometheus' || (dsVars[0] as { label?: string }).label !== 'Data Source') {
    problems.push('template-datasource-rule: one datasource variable "datasource", labelled "Data Source", of Prometheus');
  }
  // template-job-rule, template-instance-rule (and the cluster variable the same way)
  for (const [name, label, allValue] of [['job', 'Job', '.+'], ['instance', 'Instance', '.+'], ['cluster', 'Cluster', '.*']] as const) {
    const v = byName.get(name) as (typeof vars)[number] & { label?: string; refresh?: number };
    if (!v) {
      problems.push(`template-${name}-rule: no ${name} variable`);
      continue;
    }
    if (v.type !== 'query' || v.datasource?.uid !== '${datasource}' || v.label !== label || v.multi !== true || v.includeAll !== true || v.allValue !== allValue) {
      problems.push(`template-${name}-rule: ${name} is a multi-select query variable on \${datasource} labelled ${label} with "All" = "${allValue}"`);
    }
    const q = parseLabelValues(typeof v.query === 'string' ? v.query : v.query.query);
    if (q.label !== name || !/^hubble_ipam_\w+/.test(q.match)) problems.push(`template-${name}-rule: ${name} lists label_values(hubble_ipam_…, ${name})`);
  }
  for (const v of vars.filter((x) => x.type === 'query')) {
    // template-on-time-change-reload-rule
    if ((v as { refresh?: number }).refresh !== 2) problems.push(`template-on-time-change-reload-rule: $${v.name} refreshes on time range change (2)`);
    // template-label-promql-rule (the PromQL itself is checked by promtool) and scoping: narrower variables follow the wider ones.
    const q = parseLabelValues(typeof v.query === 'string' ? v.query : v.query.query);
    const scope = { cluster: [], job: ['cluster'], instance: ['cluster', 'job'] }[v.name as 'cluster'] ?? ['cluster', 'job', 'instance'];
    for (const sel of selectors(q.match)) for (const l of scope) if (!sel.matchers.some((m) => m.name === l && m.op === '=~' && m.value === `$${l}`)) problems.push(`template-label-promql-rule: $${v.name} is scoped by ${l}=~"$${l}"`);
  }
  for (const p of allPanels(d) as Array<Panel & { fieldConfig?: { defaults?: { unit?: string } } }>) {
    const where = `"${p.title}"`;
    // panel-datasource-rule
    if (p.datasource?.uid !== '${datasource}') problems.push(`panel-datasource-rule: ${where} uses \${datasource}`);
    // panel-title-description-rule
    if (!p.title || (p.description?.length ?? 0) < 40) problems.push(`panel-title-description-rule: ${where} has a title and a description`);
    // panel-units-rule
    if (UNIT_PANELS.has(p.type) && !VALID_UNITS.has(p.fieldConfig?.defaults?.unit ?? '')) problems.push(`panel-units-rule: ${where} has no valid unit (${p.fieldConfig?.defaults?.unit})`);
    for (const t of p.targets ?? []) {
      const at = `${where} ${t.refId}`;
      if (t.datasource?.uid !== '${datasource}') problems.push(`panel-datasource-rule: ${at} uses \${datasource}`);
      let sels: Selector[];
      try {
        sels = selectors(t.expr);
      } catch (e) {
        problems.push(`target-promql-rule: ${at}: ${(e as Error).message}`);
        continue;
      }
      if (sels.length === 0) problems.push(`target-promql-rule: ${at} selects no series`);
      for (const sel of sels) {
        const has = (l: string) => sel.matchers.some((m) => m.name === l && m.op === '=~' && m.value === `$${l}`);
        const isRecorded = sel.name.includes(':');
        // target-job-rule, target-instance-rule, and the cluster the same way; recording rules have no instance.
        if (!has('job')) problems.push(`target-job-rule: ${at} ${sel.name} has job=~"$job"`);
        if (!has('cluster')) problems.push(`target-cluster-rule: ${at} ${sel.name} has cluster=~"$cluster"`);
        if (isRecorded ? sel.matchers.some((m) => m.name === 'instance') : !has('instance')) {
          problems.push(`target-instance-rule: ${at} ${sel.name} ${isRecorded ? 'is a recording rule: no instance matcher' : 'has instance=~"$instance"'}`);
        }
        // target-rate-interval-rule: rate, irate and increase over $__rate_interval (or the whole range where the panel means it).
        const fn = rangeFunctionOf(sel);
        if (fn && ['rate', 'irate', 'increase'].includes(fn)) {
          const ok = sel.range === '$__rate_interval' || (sel.range === '$__range' && p.title in WHOLE_RANGE_PANELS);
          if (!ok) problems.push(`target-rate-interval-rule: ${at} ${fn}(${sel.name}[${sel.range}]) uses $__rate_interval`);
        }
        // Aggregation across replicas.
        const agg = aggregationProblem(sel);
        if (agg) problems.push(`target-aggregation: ${at} ${agg}`);
      }
    }
  }
  return problems;
}

/** Every PromQL of the dashboards: panel targets and label_values variables. */
const panelQueries = dashboards.flatMap(({ file, d }) =>
  allPanels(d).flatMap((p) => (p.targets ?? []).map((t) => ({ where: `${file} "${p.title}" ${t.refId}`, expr: t.expr }))),
);
const variableQueries = dashboards.flatMap(({ file, d }) =>
  d.templating.list
    .filter((v) => v.type === 'query')
    .map((v) => ({ where: `${file} $${v.name}`, name: v.name, ...parseLabelValues(typeof v.query === 'string' ? v.query : v.query.query) })),
);

describe('alert and recording rules', () => {
  it('the recording rules come first, then the required alerts, each with severity, summary, a templated description and a runbook section', () => {
    expect(ruleFile.groups.map((g) => g.name)).toEqual(['hubble-ipam-exporter.rules', 'hubble-ipam-exporter']);
    expect(ruleFile.groups[0]!.rules.every((r) => 'record' in r)).toBe(true);
    expect(ruleFile.groups[1]!.rules.every((r) => 'alert' in r)).toBe(true);
    expect(recordingRules.map((r) => r.record)).toEqual(['hubble_ipam:migration_progress:ratio', 'hubble_ipam:pool_allocated:ratio']);
    // Cluster-wide: aggregated by (cluster, job, …), never by instance.
    for (const r of recordingRules) {
      expect(r.expr, r.record).toMatch(/by \(cluster, job\b/);
      expect(r.expr, r.record).not.toMatch(/instance/);
    }
    const names = alertRules.map((r) => r.alert);
    for (const required of [
      'HubbleIPAMStaleIPTraffic',
      'HubbleIPAMOutOfPoolTraffic',
      'HubbleIPAMWrongNodeTraffic',
      'HubbleIPAMPoolNearExhaustion',
      'HubbleIPAMMigrationStalled',
      'HubbleIPAMRelayDisconnected',
      'HubbleIPAMLostEvents',
      'HubbleIPAMPoolNodeCIDRsLow',
      'HubbleIPAMIdleStalePods',
    ]) {
      expect(names).toContain(required);
    }
    expect(new Set(names).size).toBe(names.length);
    const runbooks = readFileSync(join(root, 'docs/runbooks.md'), 'utf8');
    const anchors = new Set([...runbooks.matchAll(/^#{2,3} (.+)$/gm)].map((m) => githubAnchor(m[1]!)));
    for (const r of alertRules) {
      expect(['critical', 'warning', 'info'], r.alert).toContain(r.labels.severity);
      expect(r.annotations.summary?.length ?? 0, r.alert).toBeGreaterThan(10);
      expect(r.annotations.description, r.alert).toMatch(/\{\{ \$labels\.\w+ \}\}|\{\{ with \$labels\.\w+ \}\}/);
      expect(r.annotations.runbook_url, r.alert).toBe(RUNBOOK_BASE + r.alert.toLowerCase());
      expect(anchors.has(r.alert.toLowerCase()), `docs/runbooks.md has a section ${r.alert}`).toBe(true);
    }
    // The anomalous-address and migration alerts name the pool (and node, namespace where they have them).
    for (const name of ['HubbleIPAMStaleIPTraffic', 'HubbleIPAMWrongNodeTraffic', 'HubbleIPAMUnallocatedTraffic']) {
      const d = alertRules.find((r) => r.alert === name)!.annotations.description!;
      for (const l of ['pool', 'node', 'namespace']) expect(d, `${name} names ${l}`).toContain(`$labels.${l}`);
    }
    for (const name of ['HubbleIPAMPoolNearExhaustion', 'HubbleIPAMMigrationStalled', 'HubbleIPAMPoolNodeCIDRsLow', 'HubbleIPAMIdleStalePods']) {
      expect(alertRules.find((r) => r.alert === name)!.annotations.description).toContain('{{ $labels.pool }}');
    }
    // A description that names the instance belongs to a per-instance alert (the others have no instance label).
    for (const r of alertRules) expect(r.annotations.description!.includes('$labels.instance'), r.alert).toBe(PER_INSTANCE_ALERTS.includes(r.alert));
    // Pending within seconds of stale traffic; fires after a short hold.
    expect(alertRules.find((r) => r.alert === 'HubbleIPAMStaleIPTraffic')!.for).toBe('2m');
  });

  it('every rule aggregates each family as it adds up across replicas; only the per-exporter health alerts keep the instance', () => {
    const problems: string[] = [];
    for (const r of allRules) {
      const name = 'alert' in r ? r.alert : r.record;
      const perInstance = 'alert' in r && PER_INSTANCE_ALERTS.includes(r.alert);
      for (const sel of selectors(r.expr)) {
        if (recorded.has(sel.name)) continue;
        if (perInstance) {
          if (aggregationOf(sel)) problems.push(`${name}: ${sel.name} is per instance, not aggregated`);
          continue;
        }
        const allowed = AGGREGATION_RULES[sel.name];
        const agg = aggregationOf(sel);
        if (!allowed || !agg || !allowed.includes(agg)) problems.push(`${name}: ${sel.name} aggregated with ${agg ?? 'nothing'}`);
      }
      // Every aggregation keeps cluster and job apart (Relay mode and per-node mode are different jobs).
      for (const m of r.expr.matchAll(/\b(sum|max|min|count) by \(([^)]*)\)/g)) {
        if (!/^cluster, job\b/.test(m[2]!)) problems.push(`${name}: ${m[0]} does not keep cluster and job`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('promtool check rules accepts the rule file', async () => {
    const r = await run(PROMTOOL, ['check', 'rules', 'rules.yaml'], { cwd: join(root, 'deploy/alerts') });
    expect(r.stdout).toContain(`SUCCESS: ${allRules.length} rules found`);
  }, 120_000);

  it('promtool test rules passes: every recording rule has exact values, every alert fires once per problem over three replicas and stays silent where it should', async () => {
    const r = await run(PROMTOOL, ['test', 'rules', 'tests.yaml'], { cwd: join(root, 'deploy/alerts') }).catch((e: { stdout?: string; stderr?: string }) => {
      throw new Error(`promtool test rules failed:\n${e.stdout ?? ''}${e.stderr ?? ''}`);
    });
    expect(r.stdout).toContain('SUCCESS');
    const tests = parse(readFileSync(join(root, 'deploy/alerts/tests.yaml'), 'utf8')) as {
      rule_files: string[];
      tests: Array<{
        input_series: Array<{ series: string }>;
        promql_expr_test?: Array<{ expr: string; exp_samples: Array<{ labels: string; value: number }> }>;
        alert_rule_test?: Array<{ alertname: string; exp_alerts?: Array<{ exp_labels?: Record<string, string>; exp_annotations?: Record<string, string> }> }>;
      }>;
    };
    expect(tests.rule_files).toEqual(['rules.yaml']);
    // Each recording rule: exact samples, the 0/0 case of the migration ratio among them.
    const exprTests = tests.tests.flatMap((t) => t.promql_expr_test ?? []);
    for (const rule of recordingRules) {
      const samples = exprTests.filter((e) => e.expr === rule.record).flatMap((e) => e.exp_samples);
      expect(samples.length, `${rule.record} has exact samples`).toBeGreaterThan(1);
    }
    expect(exprTests.find((e) => e.expr === 'hubble_ipam:migration_progress:ratio')!.exp_samples.map((s) => s.value).sort()).toEqual([0, 0.6, 0.6, 1]);
    const cases = tests.tests.flatMap((t) => (t.alert_rule_test ?? []).map((c) => ({ ...c, test: t })));
    for (const rule of alertRules) {
      const mine = cases.filter((c) => c.alertname === rule.alert);
      const firing = mine.flatMap((c) => c.exp_alerts ?? []);
      expect(firing.length, `${rule.alert} fires in some test`).toBeGreaterThan(0);
      for (const a of firing) {
        expect(a.exp_labels?.severity, rule.alert).toBe(rule.labels.severity);
        expect(Object.keys(a.exp_annotations ?? {}).sort(), rule.alert).toEqual(['description', 'runbook_url', 'summary']);
        // Once per cluster-wide problem: no instance label, except on the per-exporter health alerts.
        expect('instance' in (a.exp_labels ?? {}), `${rule.alert}: instance label`).toBe(PER_INSTANCE_ALERTS.includes(rule.alert));
        expect(a.exp_labels?.job, rule.alert).toBe('hubble-ipam-exporter');
      }
      // It fires on the series of three replicas (and, per instance, for the one replica concerned).
      const firingTests = mine.filter((c) => (c.exp_alerts ?? []).length > 0).map((c) => c.test);
      const instances = new Set(firingTests.flatMap((t) => t.input_series.map((s) => /instance="([^"]+)"/.exec(s.series)?.[1])));
      expect(instances.size, `${rule.alert} is tested with three replicas`).toBeGreaterThanOrEqual(3);
      expect(mine.some((c) => (c.exp_alerts ?? []).length === 0), `${rule.alert} is silent in some test`).toBe(true);
    }
  }, 120_000);
});

describe("Grafana's dashboard-linter rules", () => {
  it.each(dashboards.map(({ file, d }) => [file, d] as const))('%s passes them all', (_file, d) => {
    expect(lintDashboard(d)).toEqual([]);
  });

  it('each rule catches its fault: one panel broken six ways', () => {
    const d = structuredClone(dashboards.find((x) => x.file === 'hubble-ipam-migration.json')!.d) as Dashboard;
    const p = allPanels(d).find((x) => x.title === 'Flows/s by IPAM status')! as Panel & { fieldConfig: { defaults: { unit?: string } } };
    expect(p.targets![0]!.expr).toBe(
      'sum by (status) (rate(hubble_ipam_flows_total{cluster=~"$cluster", job=~"$job", instance=~"$instance", pool=~"$pool", node=~"$node"}[$__rate_interval]))',
    );
    // No instance matcher, a fixed range, no sum across replicas, no unit, another datasource; the job variable single-select.
    p.targets![0]!.expr = 'rate(hubble_ipam_flows_total{cluster=~"$cluster", job=~"$job", pool=~"$pool"}[5m])';
    delete p.fieldConfig.defaults.unit;
    p.datasource = { type: 'prometheus', uid: 'prometheus' };
    (d.templating.list.find((v) => v.name === 'job') as { multi?: boolean }).multi = false;
    expect(lintDashboard(d).sort()).toEqual(
      [
        'panel-datasource-rule: "Flows/s by IPAM status" uses ${datasource}',
        'panel-units-rule: "Flows/s by IPAM status" has no valid unit (undefined)',
        'target-aggregation: "Flows/s by IPAM status" A hubble_ipam_flows_total aggregated with nothing, not sum',
        'target-instance-rule: "Flows/s by IPAM status" A hubble_ipam_flows_total has instance=~"$instance"',
        'target-rate-interval-rule: "Flows/s by IPAM status" A rate(hubble_ipam_flows_total[5m]) uses $__rate_interval',
        'template-job-rule: job is a multi-select query variable on ${datasource} labelled Job with "All" = ".+"',
      ].sort(),
    );
    // A recording rule read with an instance matcher (it has none), and one without the job matcher.
    const q = allPanels(d).find((x) => x.title === 'Pool utilisation')!;
    q.targets![0]!.expr = 'max by (pool, family) (hubble_ipam:pool_allocated:ratio{cluster=~"$cluster", instance=~"$instance"})';
    expect(lintDashboard(d).filter((l) => l.includes('Pool utilisation'))).toEqual([
      'target-job-rule: "Pool utilisation" A hubble_ipam:pool_allocated:ratio has job=~"$job"',
      'target-instance-rule: "Pool utilisation" A hubble_ipam:pool_allocated:ratio is a recording rule: no instance matcher',
    ]);
  });

  it('target-promql-rule and template-label-promql-rule: Prometheus parses every query and variable (promtool, variables substituted)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hie-lint-'));
    try {
      const exprs = [...panelQueries.map((q) => ({ where: q.where, expr: substituteVariables(q.expr) })), ...variableQueries.map((v) => ({ where: v.where, expr: substituteVariables(v.match) }))];
      const file = { groups: [{ name: 'dashboards', rules: exprs.map((e, i) => ({ record: `dashboard_query_${i}`, expr: e.expr })) }] };
      writeFileSync(join(dir, 'queries.yaml'), stringify(file));
      const r = await run(PROMTOOL, ['check', 'rules', 'queries.yaml'], { cwd: dir }).catch((e: { stdout?: string; stderr?: string }) => {
        throw new Error(`promtool rejects a dashboard query:\n${e.stdout ?? ''}${e.stderr ?? ''}\n${exprs.map((x, i) => `${i}: ${x.where}`).join('\n')}`);
      });
      expect(r.stdout).toContain(`SUCCESS: ${exprs.length} rules found`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('dashboards', () => {
  it.each(dashboards.map(({ file, d }) => [file, d] as const))('%s is provisionable Grafana 10+ JSON', (_file, d) => {
    expect(d.schemaVersion).toBe(39);
    expect(d.id).toBeNull();
    expect(d.__inputs).toBeUndefined();
    expect(d.uid).toMatch(/^[a-z0-9-]{1,40}$/);
    expect(d.tags).toEqual(expect.arrayContaining(['hubble', 'cilium', 'ipam']));
    // Linked to each other by a tag both carry.
    const links = d.links.filter((l) => l.type === 'dashboards');
    expect(links.length).toBe(1);
    for (const tag of links[0]!.tags ?? []) for (const other of dashboards) expect(other.d.tags).toContain(tag);
    expect(links[0]!.tags?.length).toBeGreaterThan(0);

    const vars = new Map(d.templating.list.map((v) => [v.name, v]));
    expect(vars.get('datasource')).toMatchObject({ type: 'datasource', query: 'prometheus' });
    expect(d.templating.list.map((v) => v.name)).toEqual(['datasource', 'cluster', 'job', 'instance', 'pool', 'node', 'namespace']);
    for (const name of ['pool', 'node', 'namespace']) {
      const v = vars.get(name);
      expect(v, name).toMatchObject({ type: 'query', multi: true, includeAll: true, allValue: '.*', datasource: DS });
      expect(parseLabelValues(typeof v!.query === 'string' ? v!.query : v!.query.query).label).toBe(name);
    }

    const panels = allPanels(d);
    expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
    for (const p of panels) {
      expect(p.datasource, p.title).toEqual(DS);
      expect(p.description?.length ?? 0, `${p.title} has a description`).toBeGreaterThan(40);
      expect(p.targets?.length ?? 0, p.title).toBeGreaterThan(0);
      for (const t of p.targets ?? []) expect(t.datasource, `${p.title} ${t.refId}`).toEqual(DS);
    }
  });

  it('the dashboards have distinct uids and the panels the issue asks for', () => {
    expect(new Set(dashboards.map((x) => x.d.uid)).size).toBe(dashboards.length);
    const exprs = (file: string) =>
      allPanels(dashboards.find((x) => x.file === file)!.d)
        .flatMap((p) => p.targets ?? [])
        .map((t) => t.expr)
        .join('\n');
    const migration = exprs('hubble-ipam-migration.json');
    for (const m of [
      'hubble_ipam_flows_total',
      'hubble_ipam_pool_flows_total',
      'hubble_ipam_migration_progress_ratio',
      'hubble_ipam:migration_progress:ratio',
      'hubble_ipam:pool_allocated:ratio',
      'hubble_ipam_anomalous_addresses',
      'hubble_ipam_anomalous_endpoints',
      'hubble_ipam_pool_capacity_ips',
      'hubble_ipam_pool_allocated_ips',
      'hubble_ipam_pool_active_ips',
      'hubble_ipam_node_allocated_ips',
      'hubble_ipam_pod_addresses',
      'hubble_ipam_restart_plan_pods',
      'hubble_ipam_pods_left_on_draining_pool',
    ]) {
      expect(migration).toContain(m);
    }
    const pipeline = exprs('hubble-ipam-pipeline.json');
    for (const m of [
      'hubble_ipam_flows_received_total',
      'hubble_ipam_lost_events_total',
      'hubble_ipam_relay_connected',
      'hubble_ipam_relay_reconnects_total',
      'hubble_ipam_relay_nodes',
      'hubble_ipam_decode_errors_total',
      'hubble_ipam_ipam_errors_total',
      'hubble_ipam_last_flow_timestamp_seconds',
      'nodejs_eventloop_lag_p99_seconds',
      'process_resident_memory_bytes',
      'nodejs_heap_size_used_bytes',
    ]) {
      expect(pipeline).toContain(m);
    }
  });

  it('docs/dashboards.md describes every panel of every dashboard', () => {
    const doc = readFileSync(join(root, 'docs/dashboards.md'), 'utf8');
    for (const { d } of dashboards) {
      expect(doc).toContain(d.title);
      for (const p of allPanels(d)) expect(doc, p.title).toContain(p.title);
    }
  });
});

describe('generated manifests', () => {
  it('deploy/base/{prometheusrule,grafana-dashboards}.yaml are what scripts/generate-deploy.mjs makes of the sources', async () => {
    const out = mkdtempSync(join(tmpdir(), 'hie-gen-'));
    try {
      await run(process.execPath, [join(root, 'scripts/generate-deploy.mjs'), '--out', out]);
      for (const rel of ['deploy/base/prometheusrule.yaml', 'deploy/base/grafana-dashboards.yaml']) {
        expect(readFileSync(join(root, rel), 'utf8'), `${rel}: run npm run generate`).toBe(readFileSync(join(out, rel), 'utf8'));
      }
      // Twice the same: deterministic.
      const again = mkdtempSync(join(tmpdir(), 'hie-gen-'));
      await run(process.execPath, [join(root, 'scripts/generate-deploy.mjs'), '--out', again]);
      for (const rel of ['deploy/base/prometheusrule.yaml', 'deploy/base/grafana-dashboards.yaml']) {
        expect(readFileSync(join(again, rel), 'utf8')).toBe(readFileSync(join(out, rel), 'utf8'));
      }
      rmSync(again, { recursive: true, force: true });
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 60_000);

  it('the PrometheusRule carries the rule file\'s groups and validates against the operator\'s schema', () => {
    const obj = parse(readFileSync(join(root, 'deploy/base/prometheusrule.yaml'), 'utf8'));
    expect(obj).toMatchObject({
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'PrometheusRule',
      metadata: { name: 'hubble-ipam-exporter', namespace: 'kube-system', labels: { 'app.kubernetes.io/name': 'hubble-ipam-exporter', release: 'prometheus' } },
    });
    expect(obj.spec.groups).toEqual(ruleFile.groups);
    expect(() => new PrometheusRule(obj).validate()).not.toThrow();
  });

  it('the dashboards ConfigMap has one key per dashboard file, byte for byte', () => {
    const obj = parse(readFileSync(join(root, 'deploy/base/grafana-dashboards.yaml'), 'utf8'));
    expect(obj).toMatchObject({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'hubble-ipam-exporter-dashboards', namespace: 'kube-system', labels: { grafana_dashboard: '1' } },
    });
    const files = readdirSync(join(root, 'dashboards')).filter((f) => f.endsWith('.json')).sort();
    expect(files).toEqual(DASHBOARD_FILES);
    expect(Object.keys(obj.data).sort()).toEqual(files);
    for (const f of files) expect(obj.data[f]).toBe(readFileSync(join(root, 'dashboards', f), 'utf8'));
    expect(() => new ConfigMap(obj).validate()).not.toThrow();
  });
});

describe('a real Prometheus scraping the demo', () => {
  const prom = new PrometheusServer();
  let demo: Child | undefined;
  let metricsUrl = '';
  let demoStart = 0;
  const diag = () => [demo?.tail(), prom.child?.tail()].filter(Boolean).join('\n');

  beforeAll(async () => {
    const demoPort = await freePort();
    // Prometheus first, so it is scraping by the time the demo switches IPAM (t = 3 s at speed 5).
    await prom.start({ ruleFiles: [RULES], target: `127.0.0.1:${demoPort}` });
    demoStart = Date.now();
    demo = new Child(
      'demo',
      spawn(process.execPath, [join(root, 'dist/cli.js'), 'demo', '--speed', '5', '--rate', '400', '--listen-address', `127.0.0.1:${demoPort}`, '--duration', '40'], {
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    );
    metricsUrl = await poll('the demo to print its metrics address', 60_000, async () => {
      if (!demo!.running) throw new Error(`demo exited with ${demo!.exitCode}\n${demo!.tail()}`);
      return /^Metrics:\s+(http:\/\/127\.0\.0\.1:\d+\/metrics)$/m.exec(demo!.output)?.[1];
    });
    expect(metricsUrl).toBe(`http://127.0.0.1:${demoPort}/metrics`);
    await poll('Prometheus to scrape the demo (up == 1)', 60_000, async () => {
      const r = await prom.query('up{job="hubble-ipam-exporter"} == 1');
      return r.status === 'success' && r.data.result.length === 1 ? true : undefined;
    }).catch((e: Error) => {
      throw new Error(`${e.message}\n${diag()}`);
    });
  }, 180_000);

  afterAll(async () => {
    await demo?.stop();
    await prom.stop();
  }, 60_000);

  it('every dashboard query and alert expression evaluates; every panel query and variable returns data; the stale-IP alert goes pending', async () => {
    const failures: string[] = [];
    const evaluate = async (where: string, expr: string) => {
      const r = await prom.query(expr);
      if (r.status !== 'success') failures.push(`${where}: ${r.errorType}: ${r.error}\n  ${expr}`);
      return r.status === 'success' ? r.data.result.length : 0;
    };

    // Every alert and recording rule expression as Prometheus evaluates it.
    for (const r of alertRules) await evaluate(`alert ${r.alert}`, r.expr);
    for (const r of recordingRules) await evaluate(`record ${r.record}`, r.expr);

    // Panel queries, recorded series and variables until each has returned data once: most need the stale phase (t = 3 s to 15 s).
    const pending = new Map([...panelQueries.map((q) => [q.where, substituteVariables(q.expr)] as const), ...recordingRules.map((r) => [`recorded ${r.record}`, r.record] as const)]);
    // $cluster has no values here: this Prometheus adds no cluster label (the variable's "All" then matches series without one).
    const pendingVars = new Map(variableQueries.filter((v) => v.name !== 'cluster').map((v) => [v.where, v]));
    const everEvaluated = new Set<string>();
    let staleAlert: { labels: Record<string, string>; annotations: Record<string, string>; state: string } | undefined;
    const migrationStalledStates = new Set<string>();
    let demoMetrics = '';
    const deadline = demoStart + 38_000; // the demo stops at 40 s
    while ((pending.size > 0 || pendingVars.size > 0 || !staleAlert || !demoMetrics) && Date.now() < deadline && demo!.running) {
      for (const [where, expr] of pending) {
        const n = await evaluate(where, expr);
        everEvaluated.add(where);
        if (n > 0) pending.delete(where);
      }
      for (const [where, v] of pendingVars) {
        const r = await prom.api<string[]>(`/api/v1/label/${v.label}/values?${new URLSearchParams({ 'match[]': substituteVariables(v.match) })}`);
        if (r.status !== 'success') failures.push(`${where}: ${r.error}`);
        else if (r.data.length > 0) pendingVars.delete(where);
      }
      const alerts = await prom.api<{ alerts: Array<{ labels: Record<string, string>; annotations: Record<string, string>; state: string }> }>('/api/v1/alerts');
      for (const a of alerts.data.alerts) {
        if (a.labels.alertname === 'HubbleIPAMStaleIPTraffic' && (a.state === 'pending' || a.state === 'firing')) staleAlert ??= a;
        if (a.labels.alertname === 'HubbleIPAMMigrationStalled') migrationStalledStates.add(a.state);
      }
      // The demo's own page while its stale offenders are exported.
      if (!demoMetrics && staleAlert) demoMetrics = await (await fetch(metricsUrl)).text();
      if (failures.length > 0) break;
      await sleep(500);
    }

    expect(failures, diag()).toEqual([]);
    expect(panelQueries.every((q) => everEvaluated.has(q.where))).toBe(true);
    expect([...pending.entries()].map(([w, e]) => `${w}: ${e}`), 'panel queries that never returned data').toEqual([]);
    expect([...pendingVars.keys()], 'template variables that never had values').toEqual([]);

    // The stale-IP alert, pending (or firing) on the demo's stale traffic, named by pool, node and namespace.
    expect(staleAlert, `no HubbleIPAMStaleIPTraffic alert pending\n${diag()}`).toBeDefined();
    expect(staleAlert!.labels).toMatchObject({ alertname: 'HubbleIPAMStaleIPTraffic', severity: 'critical', pool: 'kubernetes' });
    expect(['kind-control-plane', 'kind-worker', 'kind-worker2']).toContain(staleAlert!.labels.node);
    expect(['shop', 'payments']).toContain(staleAlert!.labels.namespace);
    expect(staleAlert!.annotations.description).toContain(`pool kubernetes on node ${staleAlert!.labels.node}`);
    expect(staleAlert!.annotations.runbook_url).toBe(`${RUNBOOK_BASE}hubbleipamstaleiptraffic`);
    // A migration that is moving (and lasts seconds) never fires the stalled alert.
    expect(migrationStalledStates.has('firing')).toBe(false);

    // Metric names: each one the dashboards and rules use is on the demo's /metrics; each hubble_ipam_* there is used.
    expect(demoMetrics).toContain('hubble_ipam_anomalous_endpoints{status="stale"');
    const families = metricFamilies(demoMetrics);
    const used = new Map<string, string>();
    for (const q of panelQueries) for (const n of metricNames(substituteVariables(q.expr))) used.set(n, q.where);
    for (const v of variableQueries) for (const n of metricNames(v.match)) used.set(n, v.where);
    for (const r of allRules) for (const n of metricNames(r.expr)) used.set(n, 'alert' in r ? `alert ${r.alert}` : `record ${r.record}`);
    for (const n of recorded) used.delete(n);
    const unknown = [...used].filter(([n]) => !familyOf(n, families)).map(([n, where]) => `${n} (${where})`);
    expect(unknown, 'metric names not exported by the demo').toEqual([]);
    const exported = [...families.keys()].filter((n) => n.startsWith('hubble_ipam_'));
    expect(exported.length).toBeGreaterThanOrEqual(16);
    const usedFamilies = new Set([...used.keys()].map((n) => familyOf(n, families)));
    expect(exported.filter((n) => !usedFamilies.has(n)), 'hubble_ipam_* metrics no dashboard or rule uses').toEqual([]);
  }, 120_000);
});
