import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { stateFromObjects } from '../src/ipam/from-objects.js';
import { loadIpamFiles } from '../src/ipam/ipam-files.js';
import { IpamSnapshot } from '../src/ipam/snapshot.js';
import { IpAddr, parseIpInto } from '../src/net/ip.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

describe('documented examples stay true', () => {
  it('examples/ipam-config.yaml loads without a problem and means what its comments say', () => {
    const f = loadIpamFiles([join(root, 'examples', 'ipam-config.yaml')]);
    expect(f.problems).toEqual([]);
    const { state, problems } = stateFromObjects({ objects: f.items, configs: f.configs });
    expect(problems).toEqual([]);
    const snap = IpamSnapshot.build(state);
    const a = new IpAddr();
    const at = (ip: string) => {
      parseIpInto(ip, a);
      const i = snap.resolve(a);
      return `${i?.status} ${i?.pool} ${i?.node}`;
    };
    expect(at('10.244.1.20')).toBe('stale kubernetes kind-worker');
    expect(at('172.20.1.20')).toBe('current default kind-worker');
    expect(at('172.20.1.1')).toBe('node  kind-worker');
    expect(at('10.244.7.7')).toBe('unallocated kubernetes ');
    expect(at('10.96.0.10')).toBe('service  ');
  });
});
