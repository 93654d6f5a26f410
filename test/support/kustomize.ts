/**
 * The kustomizations under deploy/ rendered here the way kustomize renders
 * them, for the fields they use (anything else fails rather than being
 * ignored).
 */
import { statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { expect } from 'vitest';
import { NAMESPACE, rel, type Obj } from './deploy-layout.js';
import { isObject, kindInfo, loadYaml } from './k8s-schema.js';


export interface Kustomization {
  dir: string;
  namespace?: string;
  labels: Array<{ pairs: Record<string, string>; includeTemplates?: boolean; includeSelectors?: boolean }>;
  resources: string[];
  patches: string[];
}

/** The fields this renderer implements; anything else fails the test rather than being ignored. */
export const KUSTOMIZATION_KEYS = new Set(['apiVersion', 'kind', 'namespace', 'labels', 'resources', 'patches']);

export function readKustomization(dir: string): Kustomization {
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
export const MERGE_KEYS: Record<string, string> = { containers: 'name', initContainers: 'name', env: 'name', volumes: 'name', volumeMounts: 'mountPath', ports: 'containerPort' };

/** Strategic merge as kustomize applies it: keyed list items merged, the patch's items first, then the base's others. */
export function strategicMerge(base: unknown, patch: unknown, field?: string): unknown {
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

/**
 * A patch that removes its target (`$patch: delete` at the top, as kustomize
 * reads it): only the target's apiVersion, kind, name and namespace beside it.
 * Any other top-level `$patch` fails rather than being ignored.
 */
export function isDeletePatch(patch: Obj, file: string): boolean {
  if (patch.$patch === undefined) return false;
  if (patch.$patch !== 'delete') throw new Error(`${rel(file)}: $patch: ${JSON.stringify(patch.$patch)} is not implemented by the test's renderer (only delete)`);
  const extra = [...Object.keys(patch).filter((key) => !['$patch', 'apiVersion', 'kind', 'metadata'].includes(key)), ...Object.keys(patch.metadata ?? {}).filter((key) => !['name', 'namespace'].includes(key)).map((key) => `metadata.${key}`)];
  if (extra.length) throw new Error(`${rel(file)}: a delete patch names its target only; also has ${extra.join(', ')}`);
  return true;
}

export const idOf = (o: Obj) => `${o.apiVersion} ${o.kind} ${o.metadata?.namespace ?? ''}/${o.metadata?.name}`;
export const sameTarget = (a: Obj, b: Obj) => a.apiVersion === b.apiVersion && a.kind === b.kind && a.metadata?.name === b.metadata?.name && (a.metadata?.namespace ?? NAMESPACE) === (b.metadata?.namespace ?? NAMESPACE);

/** What `kubectl kustomize dir` renders, for the fields our kustomizations use. */
export function render(dir: string): Obj[] {
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
      if (isDeletePatch(patch, join(dir, path))) objects = objects.filter((_, j) => j !== i);
      else objects = objects.map((o, j) => (j === i ? (strategicMerge(o, patch) as Obj) : o));
    }
  }
  const ids = objects.map(idOf);
  expect(new Set(ids).size, `duplicate resources in ${rel(dir)}: ${ids.join(', ')}`).toBe(ids.length);
  return objects;
}

export const sortById = (objs: Obj[]) => [...objs].sort((a, b) => idOf(a).localeCompare(idOf(b)));

export function one(objs: Obj[], kind: string): Obj {
  const found = objs.filter((o) => o.kind === kind);
  expect(found.map(idOf), `exactly one ${kind}`).toHaveLength(1);
  return found[0]!;
}
