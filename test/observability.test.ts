/**
 * Dashboards, alert rules and their generated manifests, proven against the
 * real tools: promtool checks and unit-tests the rules, and a real Prometheus
 * scrapes the running demo while every dashboard query and every alert
 * expression is evaluated through its HTTP API.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
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
} from './support/prom-harness.js';

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
const ruleFile = parse(readFileSync(RULES, 'utf8')) as { groups: Array<{ name: string; rules: AlertRule[] }> };
const alertRules = ruleFile.groups.flatMap((g) => g.rules);
const dashboards = DASHBOARD_FILES.map((f) => ({ file: f, d: JSON.parse(readFileSync(join(root, 'dashboards', f), 'utf8')) as Dashboard }));

/** Every PromQL of the dashboards: panel targets and label_values variables. */
const panelQueries = dashboards.flatMap(({ file, d }) =>
  allPanels(d).flatMap((p) => (p.targets ?? []).map((t) => ({ where: `${file} "${p.title}" ${t.refId}`, expr: t.expr }))),
);
const variableQueries = dashboards.flatMap(({ file, d }) =>
  d.templating.list
    .filter((v) => v.type === 'query')
    .map((v) => ({ where: `${file} $${v.name}`, ...parseLabelValues(typeof v.query === 'string' ? v.query : v.query.query) })),
);

describe('alert rules', () => {
  it('the required alerts are there, each with severity, summary, a templated description and a runbook section', () => {
    expect(ruleFile.groups.map((g) => g.name)).toEqual(['hubble-ipam-exporter']);
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
    // The anomalous-endpoint and migration alerts name the pool (and node, namespace where they have them).
    for (const name of ['HubbleIPAMStaleIPTraffic', 'HubbleIPAMWrongNodeTraffic', 'HubbleIPAMUnallocatedTraffic']) {
      const d = alertRules.find((r) => r.alert === name)!.annotations.description!;
      for (const l of ['pool', 'node', 'namespace']) expect(d, `${name} names ${l}`).toContain(`$labels.${l}`);
    }
    for (const name of ['HubbleIPAMPoolNearExhaustion', 'HubbleIPAMMigrationStalled', 'HubbleIPAMPoolNodeCIDRsLow', 'HubbleIPAMIdleStalePods']) {
      expect(alertRules.find((r) => r.alert === name)!.annotations.description).toContain('{{ $labels.pool }}');
    }
    // Pending within seconds of stale traffic; fires after a short hold.
    expect(alertRules.find((r) => r.alert === 'HubbleIPAMStaleIPTraffic')!.for).toBe('2m');
  });

  it('promtool check rules accepts the rule file', async () => {
    const r = await run(PROMTOOL, ['check', 'rules', 'rules.yaml'], { cwd: join(root, 'deploy/alerts') });
    expect(r.stdout).toContain(`SUCCESS: ${alertRules.length} rules found`);
  }, 120_000);

  it('promtool test rules passes, and every alert has a test where it fires and one where it stays silent', async () => {
    const r = await run(PROMTOOL, ['test', 'rules', 'tests.yaml'], { cwd: join(root, 'deploy/alerts') }).catch((e: { stdout?: string; stderr?: string }) => {
      throw new Error(`promtool test rules failed:\n${e.stdout ?? ''}${e.stderr ?? ''}`);
    });
    expect(r.stdout).toContain('SUCCESS');
    const tests = parse(readFileSync(join(root, 'deploy/alerts/tests.yaml'), 'utf8')) as {
      rule_files: string[];
      tests: Array<{ alert_rule_test?: Array<{ alertname: string; exp_alerts?: Array<{ exp_labels?: Record<string, string>; exp_annotations?: Record<string, string> }> }> }>;
    };
    expect(tests.rule_files).toEqual(['rules.yaml']);
    const cases = tests.tests.flatMap((t) => t.alert_rule_test ?? []);
    for (const rule of alertRules) {
      const mine = cases.filter((c) => c.alertname === rule.alert);
      const firing = mine.flatMap((c) => c.exp_alerts ?? []);
      expect(firing.length, `${rule.alert} fires in some test`).toBeGreaterThan(0);
      for (const a of firing) {
        expect(a.exp_labels?.severity, rule.alert).toBe(rule.labels.severity);
        expect(Object.keys(a.exp_annotations ?? {}).sort(), rule.alert).toEqual(['description', 'runbook_url', 'summary']);
      }
      expect(mine.some((c) => (c.exp_alerts ?? []).length === 0), `${rule.alert} is silent in some test`).toBe(true);
    }
  }, 120_000);
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

    // Every alert expression as Prometheus evaluates it.
    for (const r of alertRules) await evaluate(`alert ${r.alert}`, r.expr);

    // Panel queries and variables until each has returned data once: most need the stale phase (t = 3 s to 15 s).
    const pending = new Map(panelQueries.map((q) => [q.where, substituteVariables(q.expr)]));
    const pendingVars = new Map(variableQueries.map((v) => [v.where, v]));
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
    for (const r of alertRules) for (const n of metricNames(r.expr)) used.set(n, `alert ${r.alert}`);
    const unknown = [...used].filter(([n]) => !familyOf(n, families)).map(([n, where]) => `${n} (${where})`);
    expect(unknown, 'metric names not exported by the demo').toEqual([]);
    const exported = [...families.keys()].filter((n) => n.startsWith('hubble_ipam_'));
    expect(exported.length).toBeGreaterThanOrEqual(16);
    const usedFamilies = new Set([...used.keys()].map((n) => familyOf(n, families)));
    expect(exported.filter((n) => !usedFamilies.has(n)), 'hubble_ipam_* metrics no dashboard or rule uses').toEqual([]);
  }, 120_000);
});
