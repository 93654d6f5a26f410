/**
 * The benchmark's cluster: the ground-truth scenario of the tests (every
 * status in both families: current, wrong_node, stale, unallocated,
 * out_of_pool, service, node, external, unknown), with its IPAM config,
 * from dist/sim/all-statuses.js: the same one the tests' ground truth uses.
 */
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';

export { truthConfigYaml, truthScenario } from '../../dist/sim/all-statuses.js';
import { truthConfigYaml } from '../../dist/sim/all-statuses.js';

export const truthConfig = () => parseYaml(truthConfigYaml);

/** Writes a YAML/JSON IPAM file into the temp dir and returns its path. */
export function writeIpamFile(name, text) {
  const file = join(tmpdir(), `hie-bench-${process.pid}-${name}`);
  writeFileSync(file, text);
  return file;
}
