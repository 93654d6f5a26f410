/**
 * Kubernetes schema checks without a cluster: every object against the
 * Kubernetes and prometheus-operator schemas (kubernetes-models) and, for
 * built-in kinds, against the fields the API knows (@kubernetes/client-node's
 * models: kubectl rejects unknown fields, kubernetes-models does not); YAML
 * read as kubectl reads it.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import * as clientNode from '@kubernetes/client-node';
import { PodMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor';
import { PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { ClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole';
import { ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { expect } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { rel, type Obj } from './deploy-layout.js';


export interface KindInfo {
  /** kubernetes-models class: `new Model(obj).validate()` throws on a schema violation. */
  model: new (data: never) => { validate(): void };
  /** @kubernetes/client-node model whose attribute map lists every field the API accepts (built-in kinds only). */
  fields?: string;
  clusterScoped?: boolean;
}

export const KINDS: Record<string, KindInfo> = {
  'v1/ServiceAccount': { model: ServiceAccount, fields: 'V1ServiceAccount' },
  'v1/Service': { model: Service, fields: 'V1Service' },
  'v1/ConfigMap': { model: ConfigMap, fields: 'V1ConfigMap' },
  'apps/v1/Deployment': { model: Deployment, fields: 'V1Deployment' },
  'apps/v1/DaemonSet': { model: DaemonSet, fields: 'V1DaemonSet' },
  'rbac.authorization.k8s.io/v1/ClusterRole': { model: ClusterRole, fields: 'V1ClusterRole', clusterScoped: true },
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': { model: ClusterRoleBinding, fields: 'V1ClusterRoleBinding', clusterScoped: true },
  'rbac.authorization.k8s.io/v1/Role': { model: Role, fields: 'V1Role' },
  'rbac.authorization.k8s.io/v1/RoleBinding': { model: RoleBinding, fields: 'V1RoleBinding' },
  'monitoring.coreos.com/v1/ServiceMonitor': { model: ServiceMonitor },
  'monitoring.coreos.com/v1/PodMonitor': { model: PodMonitor },
  'monitoring.coreos.com/v1/PrometheusRule': { model: PrometheusRule },
};

export const kindInfo = (o: Obj): KindInfo => {
  const info = KINDS[`${o.apiVersion}/${o.kind}`];
  if (!info) throw new Error(`no schema for apiVersion ${JSON.stringify(o.apiVersion)} kind ${JSON.stringify(o.kind)} (${o.metadata?.name})`);
  return info;
};

export const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

export type ClientModel = { getAttributeTypeMap(): Array<{ baseName: string; type: string }> };
export const clientModel = (type: string): ClientModel | undefined => {
  const m = (clientNode as unknown as Record<string, unknown>)[type] as Partial<ClientModel> | undefined;
  return typeof m?.getAttributeTypeMap === 'function' ? (m as ClientModel) : undefined;
};

/** Paths of fields the API does not know, walking client-node's generated models (types like `Array<V1Container>`, `{ [key: string]: string; }`). */
export function unknownFields(value: unknown, type: string, path: string, out: string[] = []): string[] {
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
export function validateObject(o: Obj, where: string): void {
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


export function yamlFiles(dir: string): string[] {
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
export function loadYaml(file: string): Obj[] {
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
export function checkPrometheusFile(doc: Obj, file: string): void {
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
