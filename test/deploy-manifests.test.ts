/**
 * The manifests under deploy/, checked without a cluster: each one against
 * the schemas kubectl would apply (test/support/k8s-schema.ts), the
 * kustomizations rendered as kustomize renders them (test/support/kustomize.ts,
 * compared with `kubectl kustomize` when kubectl is installed), and the RBAC
 * against requiredRbacRules.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { requiredRbacRules } from '../src/ipam/kube-watch.js';
import { baseDir, CERTS_SECRET, COMMON_LABELS, deployDir, NAMESPACE, PORT, rel, tlsDir, type Obj } from './support/deploy-layout.js';
import { checkPrometheusFile, kindInfo, loadYaml, unknownFields, validateObject, yamlFiles } from './support/k8s-schema.js';
import { idOf, one, readKustomization, render, sameTarget, sortById } from './support/kustomize.js';
import { repoRoot as root } from './support/paths.js';
import { checkSettingsUseKnownFlags, containerOf, parsedServeOptions, serveHelp } from './support/serve-settings.js';

const kubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8', timeout: 60_000 }).status === 0;

describe('deploy/: every manifest', () => {
  it('the schema checks reject what kubectl would reject', () => {
    const good = loadYaml(join(baseDir, 'deployment.yaml'))[0]!;
    expect(() => validateObject(good, 'deployment.yaml')).not.toThrow();
    const bad = (edit: (o: Obj) => void) => {
      const o = structuredClone(good);
      edit(o);
      return () => validateObject(o, 'edited');
    };
    expect(bad((o) => (o.spec.replicas = 'one'))).toThrow(/replicas must be integer/);
    expect(bad((o) => delete o.spec.template.spec.containers)).toThrow('data/spec/template/spec must have required property containers');
    expect(bad((o) => (o.spec.template.spec.containers[0].readinesProbe = {}))).toThrow('fields the API does not know: Deployment.spec.template.spec.containers[0].readinesProbe');
    expect(bad((o) => (o.kind = 'Deploymnet'))).toThrow(/no schema for apiVersion "apps\/v1" kind "Deploymnet"/);
    expect(() => validateObject({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'x' } }, 'x')).toThrow(/no schema for apiVersion "v1" kind "Secret"/);
    // 0440 is octal 288 to kubectl, decimal 440 to a YAML 1.2 reader.
    expect(parseAllDocuments('m: 0440', { version: '1.1' })[0]!.toJS()).toEqual({ m: 288 });
    expect(parseAllDocuments('m: 0440', { version: '1.2' })[0]!.toJS()).toEqual({ m: 440 });
  });

  it('parses and validates against the Kubernetes and prometheus-operator schemas', () => {
    const files = yamlFiles(deployDir);
    const patchFiles = new Set(
      files.filter((f) => basename(f) === 'kustomization.yaml').flatMap((f) => readKustomization(dirname(f)).patches.map((p) => resolve(dirname(f), p))),
    );
    expect(files.map(rel)).toEqual(expect.arrayContaining(['deploy/base/deployment.yaml', 'deploy/base/prometheusrule.yaml', 'deploy/base/grafana-dashboards.yaml', 'deploy/overlays/tls/kustomization.yaml']));
    let checked = 0;
    for (const file of files) {
      if (basename(file) === 'kustomization.yaml') continue; // readKustomization checked it
      for (const doc of loadYaml(file)) {
        if (patchFiles.has(file)) {
          // A partial object: its fields must exist; the whole is validated after merging (overlay test).
          const info = kindInfo(doc);
          const unknown = info.fields ? unknownFields(doc, info.fields, doc.kind as string) : [];
          expect(unknown, rel(file)).toEqual([]);
        } else if (doc.apiVersion === undefined && doc.kind === undefined) {
          checkPrometheusFile(doc, file);
        } else {
          validateObject(doc, rel(file));
        }
        checked++;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(10);
  });
});

describe('deploy/: kustomizations', () => {
  it.each(['deploy/base', 'deploy/overlays/tls'])('%s lists every file it uses, and every manifest beside it', (path) => {
    const dir = join(root, path);
    const k = readKustomization(dir);
    const listed = [...k.resources, ...k.patches];
    expect(new Set(listed).size, 'no file listed twice').toBe(listed.length);
    for (const r of k.resources) {
      const p = resolve(dir, r);
      expect(existsSync(p), `${rel(dir)}: resource ${r} exists`).toBe(true);
      if (statSync(p).isDirectory()) expect(existsSync(join(p, 'kustomization.yaml')), `${r} is a kustomization`).toBe(true);
    }
    for (const p of k.patches) expect(existsSync(join(dir, p)), `${rel(dir)}: patch ${p} exists`).toBe(true);
    const beside = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml');
    expect(beside.filter((f) => !listed.includes(f)), `manifests in ${rel(dir)} that kustomization.yaml does not list`).toEqual([]);
  });

  it('the base: kube-system, the common labels on every object and pod, the generated rule and dashboards included', () => {
    const k = readKustomization(baseDir);
    expect(k.namespace).toBe(NAMESPACE);
    expect(k.resources).toEqual(expect.arrayContaining(['prometheusrule.yaml', 'grafana-dashboards.yaml']));
    const objs = render(baseDir);
    expect(objs.map((o) => o.kind).sort()).toEqual(
      ['ClusterRole', 'ClusterRoleBinding', 'ConfigMap', 'Deployment', 'PrometheusRule', 'Role', 'RoleBinding', 'Service', 'ServiceAccount', 'ServiceMonitor'].sort(),
    );
    for (const o of objs) {
      validateObject(o, `rendered ${rel(baseDir)}`);
      expect(o.metadata.labels, idOf(o)).toMatchObject(COMMON_LABELS);
      if (!kindInfo(o).clusterScoped) expect(o.metadata.namespace, idOf(o)).toBe(NAMESPACE);
    }
    // Our own files are also right without kustomize (kubectl apply -f): they say it themselves.
    for (const file of k.resources.filter((r) => !['prometheusrule.yaml', 'grafana-dashboards.yaml'].includes(r))) {
      for (const o of loadYaml(join(baseDir, file))) {
        expect(o.metadata.labels, `${file} carries the common labels itself`).toMatchObject(COMMON_LABELS);
        if (!kindInfo(o).clusterScoped) expect(o.metadata.namespace, `${file} names its namespace itself`).toBe(NAMESPACE);
      }
    }
    expect(one(objs, 'Deployment').spec.template.metadata.labels).toMatchObject(COMMON_LABELS);
    const dashboards = one(objs, 'ConfigMap');
    expect(dashboards.metadata.labels.grafana_dashboard).toBe('1');
    const data = Object.entries((dashboards.data ?? {}) as Record<string, string>);
    expect(data.length, 'at least one dashboard').toBeGreaterThan(0);
    for (const [key, json] of data) if (key.endsWith('.json')) expect(() => JSON.parse(json), `${key} is JSON`).not.toThrow();
    // kube-prometheus-stack's Prometheus selects rules and monitors by its release label.
    expect(one(objs, 'PrometheusRule').metadata.labels.release).toBe('prometheus');
    expect(one(objs, 'ServiceMonitor').metadata.labels.release).toBe('prometheus');
  });

  it('the TLS overlay patches the base Deployment into one that validates and mounts hubble-relay-client-certs where its flags point', () => {
    const k = readKustomization(tlsDir);
    expect(k.resources).toEqual(['../../base']);
    expect(k.patches).toHaveLength(1);
    const base = render(baseDir);
    const patch = loadYaml(join(tlsDir, k.patches[0]!));
    expect(patch).toHaveLength(1);
    expect(base.filter((o) => sameTarget(o, patch[0]!)).map(idOf), 'the patch targets a base resource').toEqual([`apps/v1 Deployment ${NAMESPACE}/hubble-ipam-exporter`]);

    const objs = render(tlsDir);
    // Only the Deployment changes.
    expect(sortById(objs.filter((o) => o.kind !== 'Deployment'))).toEqual(sortById(base.filter((o) => o.kind !== 'Deployment')));
    const d = one(objs, 'Deployment');
    validateObject(d, 'rendered overlays/tls');
    const c = containerOf(d);
    const opts = parsedServeOptions(c);
    expect({ relayAddress: opts.relayAddress, tls: opts.tls, tlsServerName: opts.tlsServerName }).toEqual({
      relayAddress: 'hubble-relay.kube-system.svc:443',
      tls: true,
      tlsServerName: 'ui.hubble-relay.cilium.io',
    });
    const volumes = d.spec.template.spec.volumes as Obj[];
    const mounts = (c.volumeMounts ?? []) as Obj[];
    const files = { tlsCaFile: 'ca.crt', tlsClientCertFile: 'tls.crt', tlsClientKeyFile: 'tls.key' };
    for (const [opt, key] of Object.entries(files)) {
      const path = opts[opt] as string;
      expect(path, opt).toMatch(/^\//);
      const mount = mounts.find((m) => m.mountPath === dirname(path));
      expect(mount, `a volume mounted at ${dirname(path)} for ${opt}`).toBeDefined();
      expect(mount!.readOnly, `${mount!.mountPath} is read-only`).toBe(true);
      const volume = volumes.find((v) => v.name === mount!.name);
      expect(volume?.secret?.secretName, `${mount!.mountPath} is the ${CERTS_SECRET} Secret`).toBe(CERTS_SECRET);
      // The file is the Secret's key (or what `items` maps it to).
      const items = (volume!.secret.items ?? [{ key, path: key }]) as Obj[];
      expect(items.find((i) => i.key === key)?.path, `${opt} is key ${key} of ${CERTS_SECRET}`).toBe(basename(path));
      // Readable by the user the exporter runs as (files owned by root, group fsGroup 65532).
      const mode = (volume!.secret.defaultMode ?? 0o644) as number;
      expect(mode & 0o040, 'group can read').toBe(0o040);
    }
    expect(d.spec.template.spec.securityContext.fsGroup).toBe(65532);
    // The rest of the base's settings are kept.
    expect({ ipamSource: opts.ipamSource, listenAddress: opts.listenAddress }).toEqual({ ipamSource: 'kubernetes', listenAddress: `0.0.0.0:${PORT}` });
    checkSettingsUseKnownFlags(c, serveHelp());
  });

  it.skipIf(!kubectl)('renders as `kubectl kustomize` renders (kubectl installed)', () => {
    for (const dir of [baseDir, tlsDir]) {
      const r = spawnSync('kubectl', ['kustomize', dir], { encoding: 'utf8', timeout: 60_000 });
      expect(r.status, r.stderr).toBe(0);
      const theirs = parseAllDocuments(r.stdout).map((doc) => doc.toJS() as Obj);
      expect(sortById(render(dir)), rel(dir)).toEqual(sortById(theirs));
    }
  });
});

describe('deploy/: RBAC', () => {
  type Tuple = string;
  const tuples = (rules: Array<{ apiGroups?: string[]; resources?: string[]; verbs: string[]; resourceNames?: string[] }>): Tuple[] =>
    rules.flatMap((r) =>
      (r.apiGroups ?? []).flatMap((g) => (r.resources ?? []).flatMap((res) => r.verbs.flatMap((v) => (r.resourceNames ?? ['*']).map((n) => `${g}|${res}|${v}|${n}`)))),
    );

  it('the ClusterRole and the Role grant exactly requiredRbacRules, the cilium-config one in kube-system only', () => {
    const objs = render(baseDir);
    const clusterRole = one(objs, 'ClusterRole');
    const role = one(objs, 'Role');
    for (const r of [...clusterRole.rules, ...role.rules] as Obj[]) {
      expect(Object.keys(r).sort(), 'no nonResourceURLs or other extras').toEqual(expect.arrayContaining(['apiGroups', 'resources', 'verbs']));
      expect(Object.keys(r).every((key) => ['apiGroups', 'resources', 'verbs', 'resourceNames'].includes(key))).toBe(true);
      expect(JSON.stringify(r), 'no wildcards').not.toContain('*');
    }
    const granted = [...tuples(clusterRole.rules), ...tuples(role.rules)].sort();
    const required = tuples(requiredRbacRules).sort();
    expect(new Set(granted).size, 'no tuple granted twice').toBe(granted.length);
    expect(granted).toEqual(required);
    // Namespaced by name where the ConfigMap lives; cluster-wide for the rest.
    expect(tuples(role.rules).sort()).toEqual(required.filter((t) => t.startsWith('|configmaps|')));
    expect(tuples(clusterRole.rules).sort()).toEqual(required.filter((t) => !t.startsWith('|configmaps|')));
    expect(role.metadata.namespace).toBe(NAMESPACE);
    expect(tuples(role.rules).every((t) => t.endsWith('|cilium-config'))).toBe(true);
  });

  it('each binding gives its role to the ServiceAccount the Deployment runs as', () => {
    const objs = render(baseDir);
    const sa = one(objs, 'ServiceAccount');
    const d = one(objs, 'Deployment');
    expect(d.spec.template.spec.serviceAccountName).toBe(sa.metadata.name);
    expect(d.spec.template.spec.automountServiceAccountToken).not.toBe(false);
    for (const [binding, role] of [
      ['ClusterRoleBinding', 'ClusterRole'],
      ['RoleBinding', 'Role'],
    ] as const) {
      const b = one(objs, binding);
      const r = one(objs, role);
      expect(b.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: role, name: r.metadata.name });
      expect(b.subjects).toEqual([{ kind: 'ServiceAccount', name: sa.metadata.name, namespace: sa.metadata.namespace }]);
      if (binding === 'RoleBinding') expect(b.metadata.namespace).toBe(r.metadata.namespace);
    }
  });
});
