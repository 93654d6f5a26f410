import { describe, expect, it } from 'vitest';
import { CidrAllocator, poolCapacity } from '../src/sim/allocator.js';
import { parsePrefix } from '../src/net/prefix.js';

describe('cluster-pool allocator', () => {
  it('carves node CIDRs in address order across the pool CIDRs and runs out exactly', () => {
    const a = new CidrAllocator([parsePrefix('172.20.0.0/23'), parsePrefix('10.9.0.0/24')], 25);
    expect(a.capacity).toBe(6);
    expect(a.podsPerNode).toBe(126);
    const got = [1, 2, 3, 4, 5, 6].map(() => a.allocate()?.text);
    expect(got).toEqual(['172.20.0.0/25', '172.20.0.128/25', '172.20.1.0/25', '172.20.1.128/25', '10.9.0.0/25', '10.9.0.128/25']);
    expect(a.allocate()).toBeUndefined();
    a.release(parsePrefix('172.20.1.0/25'));
    expect(a.allocate()?.text).toBe('172.20.1.0/25');
  });

  it('skips CIDRs that nodes already hold, and carves IPv6', () => {
    const a = new CidrAllocator([parsePrefix('fd00:10:244::/62')], 64);
    a.claim(parsePrefix('fd00:10:244::/64'));
    expect([a.allocate()?.text, a.allocate()?.text, a.allocate()?.text, a.allocate()]).toEqual(['fd00:10:244:1::/64', 'fd00:10:244:2::/64', 'fd00:10:244:3::/64', undefined]);
  });

  it('answers capacity questions: nodes and pods a pool holds at a mask size', () => {
    // Cilium's cluster-pool default: 10.0.0.0/8 at /24.
    expect(poolCapacity(['10.0.0.0/8'], 24)).toEqual({ nodes: 65536, podsPerNode: 254, pods: 65536 * 254, addresses: 2 ** 24 });
    // The acme-pool fixture: 10.20.0.0/16 at /27.
    expect(poolCapacity(['10.20.0.0/16'], 27)).toEqual({ nodes: 2048, podsPerNode: 30, pods: 61440, addresses: 65536 });
    expect(poolCapacity(['10.0.0.0/24'], 29).podsPerNode).toBe(6);
  });

  it.each([
    [['10.0.0.0/24'], 16, 'mask size /16 is larger than pool CIDR 10.0.0.0/24'],
    [['10.0.0.0/24'], 31, 'mask size /31 leaves no pod address (use /29 or larger)'],
    [['10.0.0.0/24'], 33, 'mask size /33 is not an IPv4 prefix length'],
    [['10.0.0.0/24', 'fd00::/64'], 30, 'allocator CIDRs must be of one family'],
  ])('refuses %j at /%i', (cidrs, mask, msg) => {
    expect(() => new CidrAllocator(cidrs.map(parsePrefix), mask)).toThrow(msg);
  });
});
