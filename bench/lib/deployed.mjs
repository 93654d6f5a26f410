/**
 * The Node.js flags the Deployment gives the exporter (its NODE_OPTIONS in
 * deploy/base/deployment.yaml): the benchmark runs "ours" as deployed.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { benchDir } from './child.mjs';

export function deployedNodeOptions() {
  const file = join(benchDir, '..', 'deploy', 'base', 'deployment.yaml');
  const doc = parse(readFileSync(file, 'utf8'));
  const env = doc.spec.template.spec.containers[0].env ?? [];
  const v = env.find((e) => e.name === 'NODE_OPTIONS')?.value;
  if (typeof v !== 'string' || v.trim() === '') throw new Error(`${file}: no NODE_OPTIONS in the container's env`);
  return v.trim().split(/\s+/);
}
