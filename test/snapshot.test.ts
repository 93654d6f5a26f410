import { describe, expect, it } from 'vitest';
import { emptyState, type IpamState } from '../src/ipam/model.js';
import { IpamSnapshot, type AddressStatus } from '../src/ipam/snapshot.js';
import { IpAddr, parseIpInto } from '../src/net/ip.js';
import { parsePrefix as parsePrefixT, prefixContainsAddr, prefixOfAddr, type Prefix } from '../src/net/prefix.js';
import { Rng } from '../src/sim/rng.js';

const rank: Record<AddressStatus, number> = { service: 1, node: 2, current: 3, stale: 4, unallocated: 5 };

describe('IPAM snapshot', () => {
  it('folds the rule order into one trie: equal to a naive scan of every entry, on random states', () => {
    for (const seed of [11, 12, 13]) {
      const r = new Rng(seed);
      const base4 = new IpAddr();
      parseIpInto('10.0.0.0', base4);
      const base6 = new IpAddr();
      parseIpInto('fd00::', base6);
      const randIn = (fam: 4 | 6): IpAddr => {
        const a = new IpAddr();
        a.family = fam;
        if (fam === 4) a.v4 = (base4.v4 | (r.u32() >>> 12)) >>> 0;
        else {
          a.v6.set(base6.v6);
          a.v6[1] = r.u32() >>> 20;
          a.v6[3] = r.u32();
        }
        return a;
      };
      const pfx = (fam: 4 | 6, min: number, max: number): Prefix => prefixOfAddr(randIn(fam), min + r.int(max - min + 1));
      const state: IpamState = emptyState('cluster-pool');
      // Pools must not overlap: one per family.
      state.pools.push({ name: 'p4', cidrs: [pfx(4, 12, 14)], maskSize: {}, state: 'active', origin: 't' });
      state.pools.push({ name: 'p6', cidrs: [pfx(6, 40, 44)], maskSize: {}, state: 'active', origin: 't' });
      const entries: Array<{ status: AddressStatus; prefix: Prefix; node: string }> = [];
      for (let i = 0; i < 300; i++) {
        const fam = r.next() < 0.5 ? 4 : 6;
        const kind = r.int(4);
        const node = `n${r.int(20)}`;
        if (kind === 0) {
          const p = pfx(fam, fam === 4 ? 16 : 48, fam === 4 ? 24 : 64);
          state.serviceCidrs.push({ cidr: p, origin: 't' });
          entries.push({ status: 'service', prefix: p, node: '' });
        } else if (kind === 1) {
          const p = pfx(fam, fam === 4 ? 32 : 128, fam === 4 ? 32 : 128);
          state.nodeAddresses.push({ node, type: 'InternalIP', ip: p, origin: 't' });
          entries.push({ status: 'node', prefix: p, node });
        } else if (kind === 2) {
          const p = pfx(fam, fam === 4 ? 20 : 56, fam === 4 ? 28 : 80);
          state.allocations.push({ node, pool: `p${fam}`, cidr: p, origin: 't' });
          entries.push({ status: 'current', prefix: p, node });
        } else {
          const p = pfx(fam, fam === 4 ? 20 : 56, fam === 4 ? 28 : 80);
          state.former.push({ node, pool: `p${fam}`, cidr: p, releasedAt: '', reason: 'r', origin: 't' });
          entries.push({ status: 'stale', prefix: p, node });
        }
      }
      for (const p of state.pools) for (const c of p.cidrs) entries.push({ status: 'unallocated', prefix: c, node: '' });
      const snap = IpamSnapshot.build(state);
      for (let q = 0; q < 4000; q++) {
        const a = randIn(r.next() < 0.5 ? 4 : 6);
        // Naive: every entry containing the address; best rank, then the most specific.
        let best: (typeof entries)[number] | undefined;
        for (const e of entries) {
          if (!prefixContainsAddr(e.prefix, a)) continue;
          if (!best || rank[e.status] < rank[best.status] || (rank[e.status] === rank[best.status] && e.prefix.bits >= best.prefix.bits)) best = e;
        }
        const got = snap.resolve(a);
        expect(got ? `${got.status} ${got.cidr}` : 'none').toBe(best ? `${best.status} ${best.prefix.text}` : 'none');
      }
    }
  });

  it('resolves in as many trie steps at 5,000 dual-stack nodes as at 3', () => {
    const build = (nodes: number) => {
      const state = emptyState('cluster-pool');
      state.pools.push({ name: 'default', cidrs: [parsePrefixT('10.0.0.0/8'), parsePrefixT('fd00::/48')], maskSize: { 4: 24, 6: 64 }, state: 'active', origin: 't' });
      for (let n = 0; n < nodes; n++) {
        state.allocations.push({ node: `n${n}`, pool: 'default', cidr: parsePrefixT(`10.${n >> 8}.${n & 255}.0/24`), origin: 't' });
        state.allocations.push({ node: `n${n}`, pool: 'default', cidr: parsePrefixT(`fd00:0:0:${n.toString(16)}::/64`), origin: 't' });
        state.nodeAddresses.push({ node: `n${n}`, type: 'CiliumInternalIP', ip: parsePrefixT(`10.${n >> 8}.${n & 255}.1/32`), origin: 't' });
      }
      return IpamSnapshot.build(state);
    };
    const small = build(3);
    const large = build(5000);
    const a = new IpAddr();
    for (const ip of ['10.0.2.77', 'fd00:0:0:1::5', '10.0.1.1', '192.0.2.1']) {
      parseIpInto(ip, a);
      expect(large.lookupCost(a), ip).toBe(small.lookupCost(a));
    }
    parseIpInto('10.19.135.200', a);
    expect(large.resolve(a)?.node).toBe('n4999');
    expect(large.lookupCost(a)).toBe(3); // the 16-bit table, then nodes for bits 16-21 and 22-27
  });
});
