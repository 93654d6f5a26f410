/**
 * The deployment under deploy/ and the Dockerfile, checked without a cluster:
 * every manifest against the Kubernetes and prometheus-operator schemas
 * (kubernetes-models) and, for built-in kinds, against the fields the API
 * knows (@kubernetes/client-node's models: kubectl rejects unknown fields,
 * kubernetes-models does not); the kustomizations rendered here the way
 * kustomize renders them (and compared with `kubectl kustomize` when kubectl
 * is installed); the RBAC against requiredRbacRules; the Deployment's
 * settings parsed by the real `serve` command; its probes served by the real
 * exporter.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, posix, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import * as clientNode from '@kubernetes/client-node';
import { PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { ClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole';
import { ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { afterEach, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { requiredRbacRules } from '../src/ipam/kube-watch.js';
import { waitFor } from './support/wait.js';

// Parsed YAML: plain JSON values, walked by the checks below.
type Obj = Record<string, any>;

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const deployDir = join(root, 'deploy');
const baseDir = join(deployDir, 'base');
const tlsDir = join(deployDir, 'overlays', 'tls');
const cli = join(root, 'dist', 'cli.js');
const rel = (p: string) => relative(root, p);

const COMMON_LABELS = { 'app.kubernetes.io/name': 'hubble-ipam-exporter', 'app.kubernetes.io/part-of': 'cilium' };
const NAMESPACE = 'kube-system';
const PORT = 9967;
const CERTS_SECRET = 'hubble-relay-client-certs';

// ---------------------------------------------------------------- schemas

interface KindInfo {
  /** kubernetes-models class: `new Model(obj).validate()` throws on a schema violation. */
  model: new (data: never) => { validate(): void };
  /** @kubernetes/client-node model whose attribute map lists every field the API accepts (built-in kinds only). */
  fields?: string;
  clusterScoped?: boolean;
}

const KINDS: Record<string, KindInfo> = {
  'v1/ServiceAccount': { model: ServiceAccount, fields: 'V1ServiceAccount' },
  'v1/Service': { model: Service, fields: 'V1Service' },
  'v1/ConfigMap': { model: ConfigMap, fields: 'V1ConfigMap' },
  'apps/v1/Deployment': { model: Deployment, fields: 'V1Deployment' },
  'rbac.authorization.k8s.io/v1/ClusterRole': { model: ClusterRole, fields: 'V1ClusterRole', clusterScoped: true },
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': { model: ClusterRoleBinding, fields: 'V1ClusterRoleBinding', clusterScoped: true },
  'rbac.authorization.k8s.io/v1/Role': { model: Role, fields: 'V1Role' },
  'rbac.authorization.k8s.io/v1/RoleBinding': { model: RoleBinding, fields: 'V1RoleBinding' },
  'monitoring.coreos.com/v1/ServiceMonitor': { model: ServiceMonitor },
  'monitoring.coreos.com/v1/PrometheusRule': { model: PrometheusRule },
};

const kindInfo = (o: Obj): KindInfo => {
  const info = KINDS[`${o.apiVersion}/${o.kind}`];
  if (!info) throw new Error(`no schema for apiVersion ${JSON.stringify(o.apiVersion)} kind ${JSON.stringify(o.kind)} (${o.metadata?.name})`);
  return info;
};

const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

type ClientModel = { getAttributeTypeMap(): Array<{ baseName: string; type: string }> };
const clientModel = (type: string): ClientModel | undefined => {
  const m = (clientNode as unknown as Record<string, unknown>)[type] as Partial<ClientModel> | undefined;
  return typeof m?.getAttributeTypeMap === 'function' ? (m as ClientModel) : undefined;
};

/** Paths of fields the API does not know, walking client-node's generated models (types like `Array<V1Container>`, `{ [key: string]: string; }`). */
function unknownFields(value: unknown, type: string, path: string, out: string[] = []): string[] {
  if (value === null || value === undefined) return out;
  const array = type.match(/^Array<(.+)>$/);
  if (array) {
    if (Array.isArray(value)) value.forEach((v, i) => unknownFields(v, array[1]!, `${path}[${i}]`, out));
    return out;
  }
  const map = type.match(/^\{ \[key: string\]: (.+); \}$/);
  if (map) {
    if (isObject(value)) for (const [k, v] of Object.entries(value)) unknownFields(v, map[1]!, `${path}.${k}`, out);
    return out;
  }
  const model = clientModel(type); // undefined for string, number, IntOrString, any, ...
  if (!model || !isObject(value)) return out;
  const fields = new Map(model.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
  for (const [k, v] of Object.entries(value)) {
    const t = fields.get(k);
    if (t === undefined) out.push(`${path}.${k}`);
    else unknownFields(v, t, `${path}.${k}`, out);
  }
  return out;
}

/** Schema check of one whole object; throws with what is wrong. */
function validateObject(o: Obj, where: string): void {
  const info = kindInfo(o);
  try {
    new info.model(o as never).validate();
  } catch (e) {
    throw new Error(`${where}: ${o.kind} ${o.metadata?.name}: ${(e as Error).message}`, { cause: e });
  }
  const unknown = info.fields ? unknownFields(o, info.fields, o.kind as string) : [];
  if (unknown.length) throw new Error(`${where}: fields the API does not know: ${unknown.join(', ')}`);
  if (!o.metadata?.name) throw new Error(`${where}: ${o.kind} without metadata.name`);
}

// ---------------------------------------------------------------- files

function yamlFiles(dir: string): string[] {
  return readdirSync(dir)
    .flatMap((name) => {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) return yamlFiles(p);
      return /\.ya?ml$/.test(name) ? [p] : [];
    })
    .sort();
}

/**
 * The documents of a YAML file. Each must read the same as YAML 1.1 (what
 * kubectl's parser speaks: `0440` is octal, `yes` is true) and as YAML 1.2
 * (this package's default), so no value means one thing here and another to
 * kubectl.
 */
function loadYaml(file: string): Obj[] {
  const text = readFileSync(file, 'utf8');
  const read = (version: '1.1' | '1.2') =>
    parseAllDocuments(text, { version, uniqueKeys: true }).map((doc, i) => {
      const problems = [...doc.errors, ...doc.warnings];
      if (problems.length) throw new Error(`${rel(file)} document ${i + 1}: ${problems.map((p) => p.message).join('; ')}`);
      return doc.toJS() as unknown;
    });
  const v12 = read('1.2');
  if (!isDeepStrictEqual(v12, read('1.1'))) throw new Error(`${rel(file)} reads differently as YAML 1.1 (kubectl) and 1.2: quote the ambiguous values`);
  const docs = v12.filter((d) => d !== null);
  if (!docs.length) throw new Error(`${rel(file)}: no YAML document`);
  for (const d of docs) if (!isObject(d)) throw new Error(`${rel(file)}: a document is not a mapping`);
  return docs as Obj[];
}

/**
 * The YAML under deploy/ that is not a Kubernetes object: a Prometheus rule
 * file (`groups:`, validated as PrometheusRule.spec, which has the same
 * shape) or a promtool unit-test file (`rule_files:` and `tests:`, whose rule
 * files must exist and be rule files). Anything else is an unknown kind.
 */
function checkPrometheusFile(doc: Obj, file: string): void {
  const keys = Object.keys(doc);
  if (keys.join() === 'groups') {
    expect(() => new PrometheusRule({ metadata: { name: basename(file) }, spec: doc }).validate(), rel(file)).not.toThrow();
    return;
  }
  const promtoolKeys = ['rule_files', 'evaluation_interval', 'group_eval_order', 'fuzzy_compare', 'tests'];
  if (keys.includes('tests') && keys.every((k) => promtoolKeys.includes(k))) {
    expect(Array.isArray(doc.tests) && doc.tests.length > 0, `${rel(file)}: tests`).toBe(true);
    for (const ruleFile of (doc.rule_files ?? []) as string[]) {
      const p = resolve(dirname(file), ruleFile);
      expect(existsSync(p), `${rel(file)}: rule file ${ruleFile} exists`).toBe(true);
      for (const rules of loadYaml(p)) expect(Object.keys(rules), `${rel(p)} is a rule file`).toEqual(['groups']);
    }
    return;
  }
  throw new Error(`${rel(file)}: no schema for a document without apiVersion and kind (keys ${keys.join(', ')})`);
}

// ---------------------------------------------------------------- kustomize

interface Kustomization {
  dir: string;
  namespace?: string;
  labels: Array<{ pairs: Record<string, string>; includeTemplates?: boolean; includeSelectors?: boolean }>;
  resources: string[];
  patches: string[];
}

/** The fields this renderer implements; anything else fails the test rather than being ignored. */
const KUSTOMIZATION_KEYS = new Set(['apiVersion', 'kind', 'namespace', 'labels', 'resources', 'patches']);

function readKustomization(dir: string): Kustomization {
  const file = join(dir, 'kustomization.yaml');
  const docs = loadYaml(file);
  expect(docs, rel(file)).toHaveLength(1);
  const k = docs[0]!;
  expect(k.apiVersion, rel(file)).toBe('kustomize.config.k8s.io/v1beta1');
  expect(k.kind, rel(file)).toBe('Kustomization');
  const extra = Object.keys(k).filter((key) => !KUSTOMIZATION_KEYS.has(key));
  if (extra.length) throw new Error(`${rel(file)}: fields the test's renderer does not implement: ${extra.join(', ')}`);
  const patches = ((k.patches ?? []) as Obj[]).map((p) => {
    const keys = Object.keys(p);
    if (keys.length !== 1 || typeof p.path !== 'string') throw new Error(`${rel(file)}: patches must be {path: file} (a strategic merge patch naming its target), got ${JSON.stringify(p)}`);
    return p.path as string;
  });
  for (const l of (k.labels ?? []) as Obj[]) {
    if (l.includeSelectors) throw new Error(`${rel(file)}: labels.includeSelectors would change immutable Deployment selectors; not implemented here`);
  }
  return { dir, namespace: k.namespace, labels: k.labels ?? [], resources: k.resources ?? [], patches };
}

/** List fields merged by key in a strategic merge patch (the rest are replaced). */
const MERGE_KEYS: Record<string, string> = { containers: 'name', initContainers: 'name', env: 'name', volumes: 'name', volumeMounts: 'mountPath', ports: 'containerPort' };

/** Strategic merge as kustomize applies it: keyed list items merged, the patch's items first, then the base's others. */
function strategicMerge(base: unknown, patch: unknown, field?: string): unknown {
  if (Array.isArray(patch)) {
    const key = field ? MERGE_KEYS[field] : undefined;
    if (!key || !Array.isArray(base)) return structuredClone(patch);
    const merged = patch.map((p: Obj) => {
      const b = base.find((x: Obj) => x[key] === p[key]);
      return b ? strategicMerge(b, p) : structuredClone(p);
    });
    const rest = base.filter((b: Obj) => !patch.some((p: Obj) => p[key] === b[key]));
    return [...merged, ...structuredClone(rest)];
  }
  if (isObject(patch)) {
    if (!isObject(base)) return structuredClone(patch);
    const out: Obj = structuredClone(base);
    for (const [k, v] of Object.entries(patch)) {
      if (v === null) delete out[k];
      else out[k] = strategicMerge(base[k], v, k);
    }
    return out;
  }
  return patch;
}

const idOf = (o: Obj) => `${o.apiVersion} ${o.kind} ${o.metadata?.namespace ?? ''}/${o.metadata?.name}`;
const sameTarget = (a: Obj, b: Obj) => a.apiVersion === b.apiVersion && a.kind === b.kind && a.metadata?.name === b.metadata?.name && (a.metadata?.namespace ?? NAMESPACE) === (b.metadata?.namespace ?? NAMESPACE);

/** What `kubectl kustomize dir` renders, for the fields our kustomizations use. */
function render(dir: string): Obj[] {
  const k = readKustomization(dir);
  let objects: Obj[] = k.resources.flatMap((r) => {
    const p = resolve(dir, r);
    return statSync(p).isDirectory() ? render(p) : loadYaml(p).map((o) => structuredClone(o));
  });
  for (const o of objects) {
    if (k.namespace && !kindInfo(o).clusterScoped) o.metadata = { ...o.metadata, namespace: k.namespace };
    for (const l of k.labels) {
      o.metadata = { ...o.metadata, labels: { ...o.metadata?.labels, ...l.pairs } };
      if (l.includeTemplates && isObject(o.spec?.template)) o.spec.template.metadata = { ...o.spec.template.metadata, labels: { ...o.spec.template.metadata?.labels, ...l.pairs } };
    }
  }
  for (const path of k.patches) {
    for (const patch of loadYaml(join(dir, path))) {
      const i = objects.findIndex((o) => sameTarget(o, patch));
      if (i < 0) throw new Error(`${rel(join(dir, path))}: patch target ${idOf(patch)} is not a resource of ${rel(dir)}`);
      objects = objects.map((o, j) => (j === i ? (strategicMerge(o, patch) as Obj) : o));
    }
  }
  const ids = objects.map(idOf);
  expect(new Set(ids).size, `duplicate resources in ${rel(dir)}: ${ids.join(', ')}`).toBe(ids.length);
  return objects;
}

const sortById = (objs: Obj[]) => [...objs].sort((a, b) => idOf(a).localeCompare(idOf(b)));

function one(objs: Obj[], kind: string): Obj {
  const found = objs.filter((o) => o.kind === kind);
  expect(found.map(idOf), `exactly one ${kind}`).toHaveLength(1);
  return found[0]!;
}

// ---------------------------------------------------------------- the CLI

/** `serve --help`: its flags, which of them take no value, and the environment variable it names for each. */
function serveHelp() {
  const r = spawnSync(process.execPath, [cli, 'serve', '--help'], { encoding: 'utf8', timeout: 30_000 });
  expect(r.status, r.stderr).toBe(0);
  const flags = new Map<string, { boolean: boolean }>();
  for (const m of r.stdout.matchAll(/^ {2}(?:-\w, )?(--[a-z][\w-]*)( <[^>]+>)?/gm)) flags.set(m[1]!, { boolean: !m[2] });
  flags.delete('--help');
  const env = new Map<string, string>();
  for (const m of r.stdout.replace(/\s+/g, ' ').matchAll(/env: (HUBBLE_IPAM_[A-Z0-9_]+)/g)) env.set(m[1]!, `--${m[1]!.slice('HUBBLE_IPAM_'.length).toLowerCase().replace(/_/g, '-')}`);
  return { flags, env };
}

interface Container {
  name: string;
  args?: string[];
  command?: string[];
  env?: Array<{ name: string; value?: string; valueFrom?: unknown }>;
  [k: string]: unknown;
}

const containerOf = (d: Obj): Container => {
  const cs = d.spec.template.spec.containers as Container[];
  expect(cs, 'one container').toHaveLength(1);
  return cs[0]!;
};

function containerEnv(c: Container): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of c.env ?? []) {
    if (e.valueFrom !== undefined || typeof e.value !== 'string') throw new Error(`env ${e.name}: only literal string values are checked here`);
    env[e.name] = e.value;
  }
  return env;
}

/** The options the real `serve` command parses from a container's args and environment (its action replaced by a print). */
function parsedServeOptions(c: Container): Obj {
  expect(c.command, 'the image ENTRYPOINT runs the CLI; the Deployment sets no command').toBeUndefined();
  const args = c.args ?? [];
  expect(args[0], 'the first argument is the command').toBe('serve');
  const script = `
    import { pathToFileURL } from 'node:url';
    const [file, args] = process.argv.slice(-2);
    const { serveCommand } = await import(pathToFileURL(file).href);
    const cmd = serveCommand().exitOverride();
    cmd.action((opts) => { process.stdout.write(JSON.stringify(opts)); });
    await cmd.parseAsync(JSON.parse(args), { from: 'user' });`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script, join(root, 'dist', 'commands', 'serve.js'), JSON.stringify(args.slice(1))], {
    encoding: 'utf8',
    timeout: 30_000,
    cwd: root,
    // Only the container's environment: none of the test runner's HUBBLE_IPAM_*.
    env: { PATH: process.env.PATH ?? '', ...containerEnv(c) },
  });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Obj;
}

function checkSettingsUseKnownFlags(c: Container, help: ReturnType<typeof serveHelp>): void {
  for (const a of c.args ?? []) {
    if (!a.startsWith('--')) continue;
    const flag = a.split('=')[0]!;
    expect(help.flags.has(flag), `${flag} is a serve flag`).toBe(true);
  }
  for (const [name, value] of Object.entries(containerEnv(c))) {
    if (!name.startsWith('HUBBLE_IPAM_')) continue;
    const flag = help.env.get(name);
    expect(flag, `${name} is a variable serve --help lists`).toBeDefined();
    // commander turns a boolean flag on when its variable is set at all: "false" would mean true.
    if (help.flags.get(flag!)?.boolean) expect(value, `${name}: a boolean variable is set only to turn it on`).toBe('true');
  }
}

const portNumber = (address: string) => Number(address.slice(address.lastIndexOf(':') + 1));

/** A container port by number or name. */
function containerPort(c: Container, port: number | string): Obj | undefined {
  return ((c.ports ?? []) as Obj[]).find((p) => p.containerPort === port || p.name === port);
}

// ---------------------------------------------------------------- Dockerfile

interface Instruction {
  op: string;
  args: string;
}

function dockerInstructions(text: string): Instruction[] {
  const lines = text.split('\n').filter((l) => !/^\s*#/.test(l));
  const joined = lines.join('\n').replace(/\\\n/g, ' ');
  return joined
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => {
      const m = l.match(/^(\w+)\s+(.*)$/);
      if (!m) throw new Error(`Dockerfile: cannot read ${JSON.stringify(l)}`);
      return { op: m[1]!.toUpperCase(), args: m[2]! };
    });
}

function dockerStages(text: string): Array<{ from: string; name?: string; body: Instruction[] }> {
  const stages: Array<{ from: string; name?: string; body: Instruction[] }> = [];
  for (const ins of dockerInstructions(text)) {
    if (ins.op === 'FROM') {
      const m = ins.args.match(/^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i);
      if (!m) throw new Error(`Dockerfile: cannot read FROM ${ins.args}`);
      stages.push({ from: m[1]!, ...(m[2] ? { name: m[2] } : {}), body: [] });
    } else {
      if (!stages.length) {
        if (ins.op === 'ARG') continue;
        throw new Error(`Dockerfile: ${ins.op} before FROM`);
      }
      stages.at(-1)!.body.push(ins);
    }
  }
  return stages;
}

/** Whether .dockerignore keeps `path` (relative to the context) out of the build context: the last matching pattern wins, `!` re-includes. */
function dockerIgnored(patterns: string[], path: string): boolean {
  const toRegExp = (p: string) =>
    new RegExp(
      `^${p
        .replace(/^\/+|\/+$/g, '')
        .split('')
        .map((ch, i, all) => {
          if (ch === '*' && all[i + 1] === '*') return '';
          if (ch === '*' && all[i - 1] === '*') return '.*';
          if (ch === '*') return '[^/]*';
          if (ch === '?') return '[^/]';
          return ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
        })
        .join('')}$`,
    );
  // A path is matched when it, or a folder above it, matches.
  const prefixes = path.split('/').map((_, i, parts) => parts.slice(0, i + 1).join('/'));
  let ignored = false;
  for (const raw of patterns) {
    const negate = raw.startsWith('!');
    const re = toRegExp(posix.normalize(negate ? raw.slice(1) : raw));
    if (prefixes.some((p) => re.test(p))) ignored = !negate;
  }
  return ignored;
}

// ---------------------------------------------------------------- processes

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
});

function start(args: string[], env: NodeJS.ProcessEnv): { child: ChildProcess; output: () => string } {
  const child = spawn(process.execPath, [cli, ...args], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  return { child, output: () => out };
}

// ================================================================= tests

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

describe('deploy/: the Deployment, its Service and ServiceMonitor', () => {
  it('runs the pinned image with settings serve accepts: the relay beside it, the Kubernetes IPAM watch, port 9967', () => {
    const d = one(render(baseDir), 'Deployment');
    expect(d.spec.replicas).toBe(1);
    const c = containerOf(d);
    expect(c.image).toBe('ghcr.io/hubble-ipam-exporter/hubble-ipam-exporter:0.1.0');
    checkSettingsUseKnownFlags(c, serveHelp());
    const opts = parsedServeOptions(c);
    expect({ relayAddress: opts.relayAddress, ipamSource: opts.ipamSource, listenAddress: opts.listenAddress, tls: opts.tls }).toEqual({
      relayAddress: 'hubble-relay.kube-system.svc:80',
      ipamSource: 'kubernetes',
      listenAddress: `0.0.0.0:${PORT}`,
      tls: false,
    });
    expect(containerPort(c, portNumber(opts.listenAddress as string))).toEqual({ name: 'http-metrics', containerPort: PORT, protocol: 'TCP' });
  });

  it('probes /healthz and /readyz on the port the Service exposes as http-metrics', () => {
    const objs = render(baseDir);
    const d = one(objs, 'Deployment');
    const c = containerOf(d);
    const probe = (name: string) => {
      const p = c[name] as Obj | undefined;
      expect(p?.httpGet, `${name} is an HTTP probe`).toBeDefined();
      expect(containerPort(c, p!.httpGet.port)?.containerPort, `${name} port`).toBe(PORT);
      return p!.httpGet.path as string;
    };
    expect(probe('livenessProbe')).toBe('/healthz');
    expect(probe('readinessProbe')).toBe('/readyz');
    if (c.startupProbe) expect(probe('startupProbe')).toBe('/healthz');

    const svc = one(objs, 'Service');
    expect(svc.spec.type ?? 'ClusterIP').toBe('ClusterIP');
    expect(svc.spec.ports).toHaveLength(1);
    const port = svc.spec.ports[0] as Obj;
    expect({ name: port.name, port: port.port }).toEqual({ name: 'http-metrics', port: PORT });
    expect(containerPort(c, port.targetPort ?? port.port)?.containerPort, 'targetPort reaches the container').toBe(PORT);
    // The Service selects the Deployment's pods, and only by labels its selector also holds.
    expect(d.spec.template.metadata.labels).toMatchObject(svc.spec.selector);
    expect(d.spec.selector.matchLabels).toEqual(svc.spec.selector);
  });

  it('the ServiceMonitor scrapes that Service by its labels and port name every 30s', () => {
    const objs = render(baseDir);
    const svc = one(objs, 'Service');
    const sm = one(objs, 'ServiceMonitor');
    expect(sm.spec.selector.matchExpressions).toBeUndefined();
    expect(svc.metadata.labels).toMatchObject(sm.spec.selector.matchLabels);
    expect(Object.keys(sm.spec.selector.matchLabels).length).toBeGreaterThan(0);
    const namespaces = sm.spec.namespaceSelector?.matchNames ?? [sm.metadata.namespace];
    expect(namespaces).toContain(svc.metadata.namespace);
    expect(sm.spec.endpoints).toHaveLength(1);
    const ep = sm.spec.endpoints[0] as Obj;
    expect({ port: ep.port, path: ep.path ?? '/metrics', interval: ep.interval }).toEqual({ port: 'http-metrics', path: '/metrics', interval: '30s' });
    expect((svc.spec.ports as Obj[]).map((p) => p.name)).toContain(ep.port);
  });

  it('runs as non-root with a read-only root filesystem, no privilege and requests and limits', () => {
    const d = one(render(baseDir), 'Deployment');
    const pod = d.spec.template.spec;
    const c = containerOf(d);
    const sc = { ...pod.securityContext, ...(c.securityContext as Obj) };
    expect({
      runAsNonRoot: sc.runAsNonRoot,
      runAsUser: sc.runAsUser,
      readOnlyRootFilesystem: sc.readOnlyRootFilesystem,
      allowPrivilegeEscalation: sc.allowPrivilegeEscalation,
      privileged: sc.privileged ?? false,
      capabilities: sc.capabilities,
      seccompProfile: sc.seccompProfile,
    }).toEqual({
      runAsNonRoot: true,
      runAsUser: 65532,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      privileged: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(pod.securityContext.seccompProfile).toEqual({ type: 'RuntimeDefault' });
    for (const host of ['hostNetwork', 'hostPID', 'hostIPC']) expect(pod[host] ?? false, host).toBe(false);
    expect((pod.volumes as Obj[]).filter((v) => v.hostPath), 'no hostPath volumes').toEqual([]);
    expect(c.resources).toEqual({ requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '1', memory: '512Mi' } });
    // V8's heap (old space plus a young generation of three semi-spaces) stays under the memory limit.
    const nodeOptions = String(containerEnv(c).NODE_OPTIONS ?? '');
    const flag = (name: string) => Number(nodeOptions.match(new RegExp(`--${name}=(\\d+)`))?.[1]);
    expect(flag('max-old-space-size') + 3 * flag('max-semi-space-size')).toBeLessThan(512);
  });

  it("the exporter, run with the Deployment's environment, serves the probe paths and the ServiceMonitor's path", async () => {
    const objs = render(baseDir);
    const c = containerOf(one(objs, 'Deployment'));
    const ep = one(objs, 'ServiceMonitor').spec.endpoints[0] as Obj;
    const relay = start(['simulate-relay', '--listen', '127.0.0.1:0', '--rate', '200'], { PATH: process.env.PATH ?? '' });
    await waitFor(() => /on (127\.0\.0\.1:\d+)/.test(relay.output()), 'the simulated relay to print its address', 15_000, relay.output);
    const relayAddress = relay.output().match(/on (127\.0\.0\.1:\d+)/)![1]!;
    // The manifest's environment; flags (which win over it) point at this machine instead of a cluster.
    const exporter = start(
      [...(c.args ?? []), '--relay-address', relayAddress, '--ipam-source', 'files', '--ipam-file', join(root, 'examples', 'ipam-config.yaml'), '--listen-address', '127.0.0.1:0'],
      { PATH: process.env.PATH ?? '', ...containerEnv(c) },
    );
    await waitFor(() => /address=(http:\/\/127\.0\.0\.1:\d+)/.test(exporter.output()), 'the exporter to listen', 15_000, exporter.output);
    const url = exporter.output().match(/address=(http:\/\/127\.0\.0\.1:\d+)/)![1]!;
    const get = async (path: string) => {
      const r = await fetch(url + path);
      return { status: r.status, body: await r.text() };
    };
    expect((await get((c.livenessProbe as Obj).httpGet.path)).status).toBe(200);
    let ready = { status: 0, body: '' };
    const deadline = Date.now() + 15_000;
    while (ready.status !== 200 && Date.now() < deadline) {
      ready = await get((c.readinessProbe as Obj).httpGet.path);
      if (ready.status !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    expect(ready.status, ready.body).toBe(200);
    const metrics = await get(ep.path ?? '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.body).toContain('hubble_ipam_relay_connected 1');
  });
});

describe('Dockerfile', () => {
  const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
  const stages = dockerStages(dockerfile);
  const final = stages.at(-1)!;
  const finalOps = (op: string) => final.body.filter((i) => i.op === op);

  it('builds in node:20-bookworm-slim with npm ci, npm run build and npm prune --omit=dev', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const build = stages[0]!;
    expect(build.from).toBe('node:20-bookworm-slim');
    const runs = build.body.filter((i) => i.op === 'RUN').map((i) => i.args).join(' && ');
    for (const step of ['npm ci', 'npm run build', 'npm prune --omit=dev']) expect(runs).toContain(step);
    expect(runs.indexOf('npm ci')).toBeLessThan(runs.indexOf('npm run build'));
    expect(runs.indexOf('npm run build')).toBeLessThan(runs.indexOf('npm prune --omit=dev'));
  });

  it('runs as a non-root user with an ENTRYPOINT that starts dist/cli.js, serve by default, on port 9967', () => {
    const user = finalOps('USER').at(-1)?.args;
    const nonrootBase = /:nonroot(@|$)/.test(final.from);
    expect(user !== undefined || nonrootBase, 'a USER or a :nonroot base').toBe(true);
    if (user !== undefined) expect(user.split(':')[0], 'USER').not.toMatch(/^(root|0)$/);
    const entrypoint = JSON.parse(finalOps('ENTRYPOINT').at(-1)?.args ?? 'null') as string[] | null;
    expect(entrypoint, 'ENTRYPOINT in exec form').toBeInstanceOf(Array);
    // Distroless images have node at /nodejs/bin/node, not on PATH.
    expect(entrypoint).toEqual([final.from.startsWith('gcr.io/distroless/nodejs') ? '/nodejs/bin/node' : 'node', '/app/dist/cli.js']);
    expect(JSON.parse(finalOps('CMD').at(-1)?.args ?? 'null')).toEqual(['serve']);
    expect(finalOps('EXPOSE').map((i) => i.args)).toEqual([String(PORT)]);
    // /app/dist/cli.js is what the build stage built.
    const workdir = finalOps('WORKDIR').at(-1)?.args ?? '/';
    const copied = finalOps('COPY')
      .filter((i) => i.args.startsWith(`--from=${stages[0]!.name}`))
      .map((i) => posix.resolve(workdir, i.args.split(/\s+/).at(-1)!));
    expect(copied).toEqual(expect.arrayContaining(['/app/dist', '/app/node_modules', '/app/package.json']));
  });

  it('copies from the build context only files .dockerignore keeps, and keeps out node_modules, dist and .git', () => {
    const patterns = readFileSync(join(root, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    const sources = stages
      .flatMap((s) => s.body)
      .filter((i) => i.op === 'COPY' && !i.args.startsWith('--from'))
      .flatMap((i) => i.args.split(/\s+/).filter((a) => !a.startsWith('--')).slice(0, -1));
    expect(sources).toEqual(expect.arrayContaining(['package.json', 'package-lock.json', 'tsconfig.json', 'src']));
    for (const s of sources) {
      expect(existsSync(join(root, s)), `${s} exists`).toBe(true);
      expect(dockerIgnored(patterns, s), `${s} is in the build context`).toBe(false);
    }
    expect(dockerIgnored(patterns, 'src/gen/flow/flow_pb.ts')).toBe(false);
    for (const out of ['node_modules', 'node_modules/yaml/package.json', 'dist/cli.js', '.git', 'test/deploy.test.ts']) expect(dockerIgnored(patterns, out), `${out} stays out`).toBe(true);
  });

  it('the pruned image has every package dist/ imports: only dependencies, no devDependencies', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    const jsFiles = (dir: string): string[] =>
      readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? jsFiles(join(dir, n)) : n.endsWith('.js') ? [join(dir, n)] : []));
    const imported = new Set<string>();
    for (const f of jsFiles(join(root, 'dist'))) {
      const text = readFileSync(f, 'utf8');
      for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)['"]([^'"./][^'"]*)['"]/g)) {
        const spec = m[1]!;
        if (spec.startsWith('node:')) continue;
        imported.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
      }
    }
    expect(imported.size).toBeGreaterThan(3);
    expect([...imported].filter((p) => !(p in pkg.dependencies)).sort(), 'imported by dist/ but not a dependency').toEqual([]);
  });
});
