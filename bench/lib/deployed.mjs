/**
 * The Node.js flags the manifests give the exporter (the container's
 * NODE_OPTIONS): the benchmark runs "ours" as deployed. Relay mode: the base
 * Deployment (deploy/base/deployment.yaml); per-node mode: the DaemonSet
 * (deploy/overlays/per-node/daemonset.yaml).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { benchDir } from './child.mjs';

export const DEPLOYMENT_FILE = join('deploy', 'base', 'deployment.yaml');
export const PER_NODE_DAEMONSET_FILE = join('deploy', 'overlays', 'per-node', 'daemonset.yaml');

export function deployedNodeOptions(manifest = DEPLOYMENT_FILE) {
  const file = join(benchDir, '..', manifest);
  const doc = parse(readFileSync(file, 'utf8'));
  const env = doc.spec.template.spec.containers[0].env ?? [];
  const v = env.find((e) => e.name === 'NODE_OPTIONS')?.value;
  if (typeof v !== 'string' || v.trim() === '') throw new Error(`${file}: no NODE_OPTIONS in the container's env`);
  return v.trim().split(/\s+/);
}

/** The container's resources (requests and limits) as the manifest writes them. */
export function deployedResources(manifest = DEPLOYMENT_FILE) {
  const doc = parse(readFileSync(join(benchDir, '..', manifest), 'utf8'));
  return doc.spec.template.spec.containers[0].resources;
}
