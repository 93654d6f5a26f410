import { describe, expect, it } from 'vitest';
import { LpmBuilder, type LpmTable } from '../src/ipam/prefix-trie.js';
import { IpAddr, parseIpInto } from '../src/net/ip.js';
import { hostPrefix, nthAddress, parsePrefix, prefixContainsAddr, prefixOfAddr, prefixSize, type Prefix } from '../src/net/prefix.js';
import { Rng } from '../src/sim/rng.js';

function randomAddr(r: Rng, family: 4 | 6, near?: IpAddr): IpAddr {
  const a = new IpAddr();
  a.family = family;
  if (family === 4) a.v4 = near && r.next() < 0.7 ? (near.v4 ^ (r.u32() >>> (8 + r.int(24)))) >>> 0 : r.u32();
  else for (let k = 0; k < 4; k++) a.v6[k] = near && k < 2 && r.next() < 0.8 ? near.v6[k]! ^ (k === 1 ? r.u32() >>> (4 + r.int(28)) : 0) : r.u32();
  return a;
}

/** An address inside `p`, its host bits random. */
function prefixAddrWithHostBits(p: Prefix, r: Rng): IpAddr {
  const a = new IpAddr();
  a.family = p.family;
  if (p.family === 4) a.v4 = p.bits === 0 ? r.u32() : (p.v4 | (r.u32() >>> p.bits)) >>> 0;
  else {
    for (let k = 0; k < 4; k++) {
      const net = Math.min(32, Math.max(0, p.bits - 32 * k));
      a.v6[k] = net === 32 ? p.v6[k]! : net === 0 ? r.u32() : (p.v6[k]! | (r.u32() >>> net)) >>> 0;
    }
  }
  return a;
}

/** `a` with bit `d` (0: the most significant) flipped. */
function flipBit(a: IpAddr, d: number): IpAddr {
  const b = new IpAddr();
  b.family = a.family;
  if (a.family === 4) b.v4 = (a.v4 ^ (1 << (31 - d))) >>> 0;
  else {
    b.v6.set(a.v6);
    b.v6[d >>> 5] = (b.v6[d >>> 5]! ^ (1 << (31 - (d & 31)))) >>> 0;
  }
  return b;
}

/** An LpmBuilder holding values: each stored prefix answers its value's index (and keeps the value as its payload, for coverings). */
class PrefixTrie<T> {
  readonly lpm = new LpmBuilder<T>();
  private readonly values: T[] = [];
  private table: LpmTable | undefined;

  get size(): number {
    return this.lpm.size;
  }

  insert(p: Prefix, v: T): void {
    const at = this.lpm.answer(p);
    if (at >= 0) this.values[at] = v;
    else {
      this.lpm.setAnswer(p, this.values.length);
      this.values.push(v);
    }
    this.lpm.setPayload(p, v);
    this.table = undefined;
  }

  delete(p: Prefix): void {
    this.lpm.setAnswer(p, -1);
    this.lpm.setPayload(p, undefined);
    this.table = undefined;
  }

  /** Publishes a table (patched from the last one after the first) when something changed. */
  published(): LpmTable {
    this.table ??= this.lpm.publish();
    return this.table;
  }

  lookup(a: IpAddr): T | undefined {
    const i = this.published().lookupIndex(a);
    return i >= 0 ? this.values[i] : undefined;
  }

  pathLength(a: IpAddr): number {
    return this.published().pathLength(a);
  }

  memory(): ReturnType<LpmTable['memory']> {
    return this.published().memory();
  }

  get(p: Prefix): T | undefined {
    const i = this.lpm.answer(p);
    return i >= 0 ? this.values[i] : undefined;
  }

  covering(p: Prefix): T[] {
    const own = this.lpm.payload(p);
    return [...this.lpm.above(p), ...(own === undefined ? [] : [own])];
  }
}

/** The deliberately naive reference: scan every prefix, keep the longest that contains the address. */
function naive(prefixes: Array<[Prefix, number]>, a: IpAddr): number | undefined {
  let best: [Prefix, number] | undefined;
  for (const e of prefixes) if (prefixContainsAddr(e[0], a) && (!best || e[0].bits > best[0].bits)) best = e;
  return best?.[1];
}

describe('prefix trie', () => {
  it('agrees with a naive list scan on random nested prefixes of both families', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const r = new Rng(seed);
      const trie = new PrefixTrie<number>();
      const list: Array<[Prefix, number]> = [];
      const anchor4 = randomAddr(r, 4);
      const anchor6 = randomAddr(r, 6);
      for (let i = 0; i < 400; i++) {
        const family = r.next() < 0.5 ? 4 : 6;
        const a = randomAddr(r, family, family === 4 ? anchor4 : anchor6);
        const p = prefixOfAddr(a, r.int(family === 4 ? 33 : 129));
        trie.insert(p, i);
        const same = list.findIndex((e) => e[0].text === p.text);
        if (same >= 0) list[same] = [p, i];
        else list.push([p, i]);
      }
      for (let q = 0; q < 3000; q++) {
        const family = r.next() < 0.5 ? 4 : 6;
        const a = randomAddr(r, family, family === 4 ? anchor4 : anchor6);
        expect(trie.lookup(a)).toBe(naive(list, a));
      }
      // Deep prefixes are rarely hit at random: query inside each stored prefix and just outside it.
      for (const [p] of list) {
        const inside = prefixAddrWithHostBits(p, r);
        expect(trie.lookup(inside), p.text).toBe(naive(list, inside));
        if (p.bits > 0) {
          const outside = flipBit(inside, r.int(p.bits));
          expect(trie.lookup(outside), p.text).toBe(naive(list, outside));
        }
      }
      expect(trie.size).toBe(list.length);
    }
  });

  it('patched tables agree with the naive scan after every batch of inserts and deletions, and an earlier table keeps its answers', () => {
    for (const seed of [11, 12, 13]) {
      const r = new Rng(seed);
      const trie = new PrefixTrie<number>();
      const list = new Map<string, [Prefix, number]>();
      const anchor4 = randomAddr(r, 4);
      const anchor6 = randomAddr(r, 6);
      const queries = Array.from({ length: 600 }, () => {
        const family = r.next() < 0.5 ? 4 : 6;
        return randomAddr(r, family, family === 4 ? anchor4 : anchor6);
      });
      let patches = 0;
      for (let batch = 0; batch < 40; batch++) {
        for (let i = 0; i < 1 + r.int(6); i++) {
          const keys = [...list.keys()];
          if (keys.length > 0 && r.int(3) === 0) {
            const k = keys[r.int(keys.length)]!;
            trie.delete(list.get(k)![0]);
            list.delete(k);
          } else {
            const family = r.next() < 0.5 ? 4 : 6;
            // Mostly longer than the 16-bit table (patched); now and then a short one (a whole compile).
            const bits = r.int(10) === 0 ? r.int(17) : 17 + r.int(family === 4 ? 16 : 112);
            const p = prefixOfAddr(randomAddr(r, family, family === 4 ? anchor4 : anchor6), bits);
            const v = batch * 100 + i;
            trie.insert(p, v);
            list.set(p.text, [p, v]);
          }
        }
        const before = trie.published();
        const beforeAnswers = queries.map((a) => before.lookupIndex(a));
        const patchesBefore = trie.lpm.stats.patches;
        // Changes after a publish never reach the table published before them.
        trie.insert(prefixOfAddr(queries[batch]!, queries[batch]!.family === 4 ? 30 : 120), -7);
        trie.delete(prefixOfAddr(queries[batch]!, queries[batch]!.family === 4 ? 30 : 120));
        const now = trie.published();
        patches += trie.lpm.stats.patches - patchesBefore;
        expect(queries.map((a) => before.lookupIndex(a))).toEqual(beforeAnswers);
        const entries = [...list.values()];
        for (const a of queries) expect(trie.lookup(a), `seed ${seed} batch ${batch}`).toBe(naive(entries, a));
        for (const [p] of entries) {
          const inside = prefixAddrWithHostBits(p, r);
          expect(trie.lookup(inside), p.text).toBe(naive(entries, inside));
        }
        expect(now).not.toBe(before);
      }
      expect(trie.size).toBe(list.size);
      expect(patches).toBeGreaterThan(20);
    }
  });

  it('answers exact gets, coverings and entries', () => {
    const t = new PrefixTrie<string>();
    for (const c of ['10.0.0.0/8', '10.244.0.0/16', '10.244.1.0/24', '10.244.1.2/32', 'fd00::/8', 'fd00:10:244:1::/64', '0.0.0.0/0']) t.insert(parsePrefix(c), c);
    expect(t.get(parsePrefix('10.244.0.0/16'))).toBe('10.244.0.0/16');
    expect(t.get(parsePrefix('10.244.0.0/17'))).toBeUndefined();
    expect(t.covering(parsePrefix('10.244.1.2/32'))).toEqual(['0.0.0.0/0', '10.0.0.0/8', '10.244.0.0/16', '10.244.1.0/24', '10.244.1.2/32']);
    expect(t.covering(parsePrefix('fd00:10:244:1::/80'))).toEqual(['fd00::/8', 'fd00:10:244:1::/64']);
    const a = new IpAddr();
    parseIpInto('10.244.1.3', a);
    expect(t.lookup(a)).toBe('10.244.1.0/24');
    parseIpInto('192.168.0.1', a);
    expect(t.lookup(a)).toBe('0.0.0.0/0');
    parseIpInto('fe80::1', a);
    expect(t.lookup(a)).toBeUndefined();
    t.insert(parsePrefix('10.244.1.0/24'), 'replaced');
    expect(t.size).toBe(7);
    expect(t.get(parsePrefix('10.244.1.0/24'))).toBe('replaced');
  });

  it('takes as many steps at 5,000 nodes as at 3: a table read, then one node per 6 bits', () => {
    const build = (nodes: number) => {
      const t = new PrefixTrie<number>();
      t.insert(parsePrefix('10.0.0.0/8'), -1);
      t.insert(parsePrefix('fd00::/48'), -1);
      for (let n = 0; n < nodes; n++) {
        t.insert(parsePrefix(`10.${n >> 8}.${n & 255}.0/24`), n);
        t.insert(parsePrefix(`fd00:0:0:${n.toString(16)}::/64`), n);
        t.insert(hostPrefix(`192.168.${n >> 8}.${n & 255}`), n); // node InternalIPs
      }
      return t;
    };
    const small = build(3);
    const large = build(5000);
    const a = new IpAddr();
    for (const ip of ['10.0.1.77', 'fd00:0:0:2::abcd', '192.168.0.2', '8.8.8.8', '2001:db8::1']) {
      parseIpInto(ip, a);
      expect(large.pathLength(a), ip).toBeLessThanOrEqual(a.family === 4 ? 1 + Math.ceil((32 - 16) / 6) : 1 + Math.ceil((128 - 16) / 6));
      expect(large.pathLength(a), ip).toBe(small.pathLength(a));
    }
    parseIpInto('10.19.135.9', a); // node 4999's CIDR: only in the large trie
    expect(large.lookup(a)).toBe(4999);
    expect(large.pathLength(a)).toBe(3); // the table (16 bits), then nodes for bits 16-21 and 22-27
    parseIpInto('192.168.19.135', a); // node 4999's InternalIP, a host route
    expect(large.lookup(a)).toBe(4999);
    expect(large.pathLength(a)).toBe(4); // 16 + 3 × 6 bits reach bit 32
    parseIpInto('fd00:0:0:1387::1', a); // node 4999's IPv6 CIDR
    expect(large.lookup(a)).toBe(4999);
    expect(large.pathLength(a)).toBe(9); // the IPv6 table (16 bits), then 8 nodes cover bits 16-63
    expect(large.memory().ipv4.bytes).toBeLessThan(small.memory().ipv4.bytes + 5000 * 64);
  });
});

describe('prefixes', () => {
  it('parses, masks, unmaps and measures', () => {
    expect(parsePrefix('10.244.1.7/24').text).toBe('10.244.1.0/24');
    expect(parsePrefix('FD00:10:244:1::B8A4/64').text).toBe('fd00:10:244:1::/64');
    expect(parsePrefix('::ffff:10.0.0.0/104').text).toBe('10.0.0.0/8');
    expect(prefixSize(parsePrefix('10.20.0.0/27'))).toBe(32);
    expect(nthAddress(parsePrefix('10.20.0.0/16'), 257)).toBe('10.20.1.1');
    expect(nthAddress(parsePrefix('fd00::/64'), 2 ** 32 + 1)).toBe('fd00::1:0:1');
  });

  it.each(['10.0.0.0', '10.0.0.0/33', 'fd00::/129', '10.0.0/8', 'garbage', ''])('names the bad CIDR %j', (bad) => {
    expect(() => parsePrefix(bad)).toThrow(`invalid CIDR ${JSON.stringify(bad)}`);
  });
});
