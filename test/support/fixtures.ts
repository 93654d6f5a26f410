import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The shared fixtures live beside the repository, never inside it. */
export const sharedFixtures = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'shared', 'fixtures');
export const flowDump = (name: string) => join(sharedFixtures, 'hubble-flows', name);
export const ipamFixture = (name: string) => join(sharedFixtures, 'cilium-ipam', name);

export const flowDumps = {
  'basic-sample-10-flows.json': 10,
  'basic-sample-330-dns-flows.json': 330,
  'basic-sample-348-http-flows.json': 348,
  'basic-sample-400-tcp-flows.json': 400,
} as const;
