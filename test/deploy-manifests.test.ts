/**
 * The manifests under deploy/, checked without a cluster: each one against
 * the schemas kubectl would apply (test/support/k8s-schema.ts), the
 * kustomizations rendered as kustomize renders them (test/support/kustomize.ts,
 * compared with `kubectl kustomize` when kubectl is installed), and the RBAC
 * against requiredRbacRules.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { rbacRulesFor, requiredRbacRules, type RbacRule } from '../src/ipam/kube-watch.js';
import { baseDir, CERTS_SECRET, CILIUM_RUN_DIR, COMMON_LABELS, deployDir, HUBBLE_SOCKET, NAMESPACE, perNodeDir, perNodeRootDir, PORT, rel, tlsDir, type Obj } from './support/deploy-layout.js';
import { checkPrometheusFile, kindInfo, loadYaml, unknownFields, validateObject, yamlFiles } from './support/k8s-schema.js';
import { idOf, isDeletePatch, one, readKustomization, render, sameTarget, sortById } from './support/kustomize.js';
import { repoRoot as root } from './support/paths.js';
import { checkSettingsUseKnownFlags, containerEnv, containerOf, containerPort, parsedServeOptions, serveHelp } from './support/serve-settings.js';

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
        if (patchFiles.has(file) && isDeletePatch(doc, file)) {
          // Names its target only (isDeletePatch checked that); the render finds it.
          expect(() => kindInfo(doc), rel(file)).not.toThrow();
        } else if (patchFiles.has(file)) {
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
  it.each(['deploy/base', 'deploy/overlays/tls', 'deploy/overlays/per-node', 'deploy/overlays/per-node-root'])('%s lists every file it uses, and every manifest beside it', (path) => {
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
    for (const dir of [baseDir, tlsDir, perNodeDir, perNodeRootDir]) {
      const r = spawnSync('kubectl', ['kustomize', dir], { encoding: 'utf8', timeout: 60_000 });
      expect(r.status, r.stderr).toBe(0);
      const theirs = parseAllDocuments(r.stdout).map((doc) => doc.toJS() as Obj);
      expect(sortById(render(dir)), rel(dir)).toEqual(sortById(theirs));
    }
  });
});

/** What the kubelet gives a per-node pod through the downward API, in these tests. */
const NODE = 'worker-7';
const DOWNWARD = { 'spec.nodeName': NODE };

/** A resource quantity in base units (cores, bytes), for the forms the manifests use. */
function quantity(q: string | number): number {
  const m = /^(\d+(?:\.\d+)?)(m|Ki|Mi|Gi)?$/.exec(String(q));
  if (!m) throw new Error(`quantity ${q}: not a form this test reads`);
  const unit = { '': 1, m: 1e-3, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30 }[m[2] ?? '']!;
  return Number(m[1]) * unit;
}

/** The per-node DaemonSet's pod must say this, field by field (written by hand, not read from the YAML). */
const PER_NODE_CONTAINER_SECURITY = {
  runAsNonRoot: true,
  runAsUser: 65532,
  runAsGroup: 65532,
  readOnlyRootFilesystem: true,
  allowPrivilegeEscalation: false,
  privileged: false,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
};

describe('deploy/overlays/per-node', () => {
  const relayOnly = ['Deployment', 'Service', 'ServiceMonitor'];
  const perNodeOnly = ['DaemonSet', 'PodMonitor'];

  it('is the base with a DaemonSet and a PodMonitor for the Deployment, Service and ServiceMonitor, and a narrower ClusterRole; every object validates', () => {
    const base = render(baseDir);
    const objs = render(perNodeDir);
    expect(objs.map((o) => o.kind).sort()).toEqual(
      ['ClusterRole', 'ClusterRoleBinding', 'ConfigMap', 'DaemonSet', 'PodMonitor', 'PrometheusRule', 'Role', 'RoleBinding', 'ServiceAccount'].sort(),
    );
    for (const o of objs) {
      validateObject(o, `rendered ${rel(perNodeDir)}`);
      expect(o.metadata.name, idOf(o)).toBe(o.kind === 'ConfigMap' ? 'hubble-ipam-exporter-dashboards' : 'hubble-ipam-exporter');
      expect(o.metadata.labels, idOf(o)).toMatchObject(COMMON_LABELS);
      if (!kindInfo(o).clusterScoped) expect(o.metadata.namespace, idOf(o)).toBe(NAMESPACE);
    }
    // Everything else (ServiceAccount, bindings, Role, rules, dashboards) is the base's, unchanged.
    const same = (o: Obj) => ![...relayOnly, ...perNodeOnly, 'ClusterRole'].includes(o.kind);
    expect(sortById(objs.filter(same))).toEqual(sortById(base.filter(same)));
    expect(one(objs, 'ClusterRole').metadata).toEqual(one(base, 'ClusterRole').metadata);
    // The files the overlay adds are right without kustomize too (labels and namespace their own).
    for (const file of readKustomization(perNodeDir).resources.filter((r) => r.endsWith('.yaml'))) {
      for (const o of loadYaml(join(perNodeDir, file))) {
        expect(o.metadata.labels, `${file} carries the common labels itself`).toMatchObject(COMMON_LABELS);
        expect(o.metadata.namespace, `${file} names its namespace itself`).toBe(NAMESPACE);
      }
    }
  });

  it('the DaemonSet: every node (tolerations, below Cilium in priority), its own agent socket through a read-only hostPath, its node from the downward API, non-root with the socket group', () => {
    const base = render(baseDir);
    const ds = one(render(perNodeDir), 'DaemonSet');
    const pod = ds.spec.template.spec;
    expect(ds.spec.selector.matchLabels).toEqual({ 'app.kubernetes.io/name': 'hubble-ipam-exporter' });
    expect(ds.spec.template.metadata.labels).toMatchObject({ ...ds.spec.selector.matchLabels, ...COMMON_LABELS });
    expect(ds.spec.updateStrategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '10%' } });
    expect({ hostNetwork: pod.hostNetwork, tolerations: pod.tolerations, priorityClassName: pod.priorityClassName }).toEqual({
      hostNetwork: false,
      tolerations: [{ operator: 'Exists' }],
      // Not system-node-critical, Cilium's agent's own class: the exporter never preempts it.
      priorityClassName: 'system-cluster-critical',
    });
    expect(pod.serviceAccountName).toBe(one(base, 'ServiceAccount').metadata.name);
    expect(pod.automountServiceAccountToken).toBe(true);

    const c = containerOf(ds);
    expect(c.env).toEqual([
      { name: 'HUBBLE_IPAM_RELAY_ADDRESS', value: `unix://${HUBBLE_SOCKET}` },
      { name: 'HUBBLE_IPAM_NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
      { name: 'HUBBLE_IPAM_IPAM_SOURCE', value: 'kubernetes' },
      { name: 'HUBBLE_IPAM_WATCH_PODS', value: 'true' },
      { name: 'HUBBLE_IPAM_LISTEN_ADDRESS', value: `0.0.0.0:${PORT}` },
      { name: 'NODE_OPTIONS', value: '--max-old-space-size=256 --max-semi-space-size=8' },
    ]);
    expect(c.volumeMounts).toEqual([
      { name: 'tmp', mountPath: '/tmp' },
      { name: 'cilium-run', mountPath: CILIUM_RUN_DIR, readOnly: true },
    ]);
    expect(pod.volumes).toEqual([
      { name: 'tmp', emptyDir: { sizeLimit: '16Mi' } },
      { name: 'cilium-run', hostPath: { path: CILIUM_RUN_DIR, type: 'Directory' } },
    ]);
    expect(pod.securityContext).toEqual({
      runAsNonRoot: true,
      runAsUser: 65532,
      runAsGroup: 65532,
      fsGroup: 65532,
      supplementalGroups: [1000], // the placeholder docs/deploy.md tells how to replace
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(c.securityContext).toEqual(PER_NODE_CONTAINER_SECURITY);
    expect(c.securityContext).toEqual(containerOf(one(base, 'Deployment')).securityContext);

    // The real `serve` reads per-node mode from it: the agent's socket, the pod's node, its pods.
    const opts = parsedServeOptions(c, DOWNWARD);
    expect({
      relayAddress: opts.relayAddress,
      nodeName: opts.nodeName,
      watchPods: opts.watchPods,
      watchEndpoints: opts.watchEndpoints,
      ipamSource: opts.ipamSource,
      listenAddress: opts.listenAddress,
    }).toEqual({ relayAddress: `unix://${HUBBLE_SOCKET}`, nodeName: NODE, watchPods: true, watchEndpoints: false, ipamSource: 'kubernetes', listenAddress: `0.0.0.0:${PORT}` });
    checkSettingsUseKnownFlags(c, serveHelp(), DOWNWARD);
    // The socket the address names is the host's: inside the hostPath mount, at the host's own path.
    const socketDir = dirname(String(opts.relayAddress).slice('unix://'.length));
    const mount = (c.volumeMounts as Obj[]).find((m) => m.mountPath === socketDir)!;
    expect(pod.volumes.find((v: Obj) => v.name === mount.name).hostPath.path).toBe(socketDir);

    // Less CPU than Relay mode (one node's flows); memory for the whole cluster's IPAM model: the request
    // covers the RSS the benchmark measured for one per-node exporter at 5,000 nodes, and V8's heap
    // (old space + 3 semi-spaces) stays under the limit.
    const relay = containerOf(one(base, 'Deployment')).resources as Obj;
    const mine = c.resources as Obj;
    for (const [kind, res] of [['requests', 'cpu'], ['limits', 'cpu'], ['limits', 'memory']] as const) {
      expect(quantity(mine[kind][res]), `${kind}.${res}`).toBeLessThan(quantity(relay[kind][res]));
    }
    const bench = JSON.parse(readFileSync(join(root, 'bench', 'results-per-node.json'), 'utf8')) as { perNode: { ipamNodes: number; paced: Array<{ maxRssMB: number }> } };
    expect(bench.perNode.ipamNodes).toBe(5000);
    const measuredMi = Math.max(...bench.perNode.paced.map((p) => p.maxRssMB));
    expect(quantity(mine.requests.memory) / 2 ** 20).toBeGreaterThanOrEqual(measuredMi);
    const heapMi = (flag: string) => Number(new RegExp(`--${flag}=(\\d+)`).exec(String(containerEnv(c, DOWNWARD).NODE_OPTIONS))![1]);
    expect((heapMi('max-old-space-size') + 3 * heapMi('max-semi-space-size')) * 2 ** 20).toBeLessThan(quantity(mine.limits.memory));
    // The probes and port are Relay mode's: the same exporter, the same endpoints.
    const relayContainer = containerOf(one(base, 'Deployment'));
    for (const key of ['ports', 'startupProbe', 'livenessProbe', 'readinessProbe', 'image', 'args']) expect(c[key], key).toEqual(relayContainer[key]);
  });

  it('the PodMonitor scrapes each DaemonSet pod under its own job and adds no label that could collide across replicas', () => {
    const base = render(baseDir);
    const objs = render(perNodeDir);
    const pm = one(objs, 'PodMonitor');
    const ds = one(objs, 'DaemonSet');
    const sm = one(base, 'ServiceMonitor');
    expect(pm.metadata.labels.release).toBe('prometheus');
    expect(pm.spec.namespaceSelector).toEqual({ matchNames: [NAMESPACE] });
    expect(ds.spec.template.metadata.labels).toMatchObject(pm.spec.selector.matchLabels);
    expect(pm.spec.podMetricsEndpoints).toHaveLength(1);
    const ep = pm.spec.podMetricsEndpoints[0] as Obj;
    expect(containerPort(containerOf(ds), ep.port)?.containerPort).toBe(PORT);
    // Scraped as Relay mode is (path, interval, timeout, honorLabels) ...
    const { port: _p, relabelings, ...rest } = ep;
    const { port: _q, ...relayEndpoint } = sm.spec.endpoints[0] as Obj;
    expect(rest).toEqual(relayEndpoint);
    // ... under another job: Relay mode's is the base Service's name (a ServiceMonitor's default job).
    expect(relabelings).toEqual([{ action: 'replace', targetLabel: 'job', replacement: 'hubble-ipam-exporter-per-node' }]);
    expect(sm.spec.jobLabel).toBeUndefined();
    expect(one(base, 'Service').metadata.name).not.toBe('hubble-ipam-exporter-per-node');
    // Nothing the overlay adds to a target could be the same on two replicas but for job, which is
    // meant to be: no podTargetLabels, no metric relabeling, and instance is the pod's own address.
    expect(pm.spec.podTargetLabels).toBeUndefined();
    expect(ep.metricRelabelings).toBeUndefined();
    expect(ds.spec.template.spec.hostNetwork).toBe(false);
  });
});

describe('deploy/overlays/per-node-root', () => {
  it('changes only the DaemonSet: group 0 instead of the cilium group, still uid 65532, no capability, no privilege escalation, a read-only root', () => {
    const perNode = render(perNodeDir);
    const objs = render(perNodeRootDir);
    expect(sortById(objs.filter((o) => o.kind !== 'DaemonSet'))).toEqual(sortById(perNode.filter((o) => o.kind !== 'DaemonSet')));
    const ds = one(objs, 'DaemonSet');
    validateObject(ds, `rendered ${rel(perNodeRootDir)}`);
    expect(ds.spec.template.spec.securityContext).toEqual({ runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, fsGroup: 65532, supplementalGroups: [0], seccompProfile: { type: 'RuntimeDefault' } });
    expect(containerOf(ds).securityContext).toEqual(PER_NODE_CONTAINER_SECURITY);
    // The rest of the pod is per-node's.
    const strip = (d: Obj) => {
      const o = structuredClone(d);
      delete o.spec.template.spec.securityContext;
      delete o.spec.template.spec.containers[0].securityContext;
      return o;
    };
    expect(strip(ds)).toEqual(strip(one(perNode, 'DaemonSet')));
  });
});

describe('deploy/: RBAC', () => {
  type Tuple = string;
  const tuples = (rules: Array<{ apiGroups?: string[]; resources?: string[]; verbs: string[]; resourceNames?: string[] }>): Tuple[] =>
    rules.flatMap((r) =>
      (r.apiGroups ?? []).flatMap((g) => (r.resources ?? []).flatMap((res) => r.verbs.flatMap((v) => (r.resourceNames ?? ['*']).map((n) => `${g}|${res}|${v}|${n}`)))),
    );

  /** The ClusterRole and Role of `dir` grant exactly `required`, the cilium-config rule by name in kube-system; returns the granted tuples. */
  function checkGrants(dir: string, requiredRules: RbacRule[]) {
    const objs = render(dir);
    const clusterRole = one(objs, 'ClusterRole');
    const role = one(objs, 'Role');
    for (const r of [...clusterRole.rules, ...role.rules] as Obj[]) {
      expect(Object.keys(r).sort(), 'no nonResourceURLs or other extras').toEqual(expect.arrayContaining(['apiGroups', 'resources', 'verbs']));
      expect(Object.keys(r).every((key) => ['apiGroups', 'resources', 'verbs', 'resourceNames'].includes(key))).toBe(true);
      expect(JSON.stringify(r), 'no wildcards').not.toContain('*');
    }
    const granted = [...tuples(clusterRole.rules), ...tuples(role.rules)].sort();
    const required = tuples(requiredRules).sort();
    expect(new Set(granted).size, 'no tuple granted twice').toBe(granted.length);
    expect(granted).toEqual(required);
    // Namespaced by name where the ConfigMap lives; cluster-wide for the rest.
    expect(tuples(role.rules).sort()).toEqual(required.filter((t) => t.startsWith('|configmaps|')));
    expect(tuples(clusterRole.rules).sort()).toEqual(required.filter((t) => !t.startsWith('|configmaps|')));
    expect(role.metadata.namespace).toBe(NAMESPACE);
    expect(tuples(role.rules).every((t) => t.endsWith('|cilium-config'))).toBe(true);
    return granted;
  }

  it('the ClusterRole and the Role grant exactly requiredRbacRules, the cilium-config one in kube-system only', () => {
    // The base grants what --watch-endpoints and --watch-pods read although it sets neither, so
    // that turning one on needs no RBAC change (docs/deploy.md).
    checkGrants(baseDir, requiredRbacRules);
  });

  it.each([perNodeDir, perNodeRootDir])('per-node mode (%s) grants exactly rbacRulesFor the watches its DaemonSet turns on: no CiliumEndpoints', (dir) => {
    const opts = parsedServeOptions(containerOf(one(render(dir), 'DaemonSet')), DOWNWARD);
    const settings = { watchEndpoints: opts.watchEndpoints === true, watchPods: opts.watchPods === true };
    expect(settings).toEqual({ watchEndpoints: false, watchPods: true });
    const granted = checkGrants(dir, rbacRulesFor(settings));
    // Written out by hand: what per-node mode reads, and nothing it does not.
    const verbs = (g: string, r: string, name = '*') => ['get', 'list', 'watch'].map((v) => `${g}|${r}|${v}|${name}`);
    expect(granted).toEqual(
      [...verbs('', 'nodes'), ...verbs('', 'pods'), ...verbs('', 'configmaps', 'cilium-config'), ...verbs('cilium.io', 'ciliumnodes'), ...verbs('cilium.io', 'ciliumpodippools')].sort(),
    );
  });

  it.each([
    [baseDir, 'Deployment'],
    [perNodeDir, 'DaemonSet'],
  ])('each binding gives its role to the ServiceAccount the workload runs as (%s)', (dir, kind) => {
    const objs = render(dir);
    const sa = one(objs, 'ServiceAccount');
    const d = one(objs, kind);
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
