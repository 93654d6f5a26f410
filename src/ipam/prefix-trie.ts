import { FAMILY_V4, FAMILY_V6, type IpAddr } from '../net/ip.js';
import type { Prefix } from '../net/prefix.js';

/**
 * A binary radix trie over address bits, in typed arrays. A lookup visits at
 * most one node per bit of the longest stored prefix on its path (32 for
 * IPv4, 128 for IPv6), however many prefixes are stored, and allocates
 * nothing.
 */
class BitTrie {
  left = new Int32Array(64);
  right = new Int32Array(64);
  /** Index into the value table, -1 for none. */
  val = new Int32Array(64).fill(-1);
  nodes = 1;

  private grow(): void {
    const n = this.left.length * 2;
    const l = new Int32Array(n);
    l.set(this.left);
    const r = new Int32Array(n);
    r.set(this.right);
    const v = new Int32Array(n).fill(-1);
    v.set(this.val);
    this.left = l;
    this.right = r;
    this.val = v;
  }

  /** The node for the first `bits` bits given by `bit(d)`, created on the way. */
  node(bits: number, bit: (d: number) => number): number {
    let node = 0;
    for (let d = 0; d < bits; d++) {
      const side = bit(d) === 1 ? this.right : this.left;
      let next = side[node]!;
      if (next === 0) {
        if (this.nodes === this.left.length) this.grow();
        next = this.nodes++;
        (bit(d) === 1 ? this.right : this.left)[node] = next;
      }
      node = next;
    }
    return node;
  }

  /** The existing node for the prefix, or -1. */
  find(bits: number, bit: (d: number) => number): number {
    let node = 0;
    for (let d = 0; d < bits; d++) {
      node = bit(d) === 1 ? this.right[node]! : this.left[node]!;
      if (node === 0) return -1;
    }
    return node;
  }
}

const v4Bit = (v: number) => (d: number) => (v >>> (31 - d)) & 1;
const v6Bit = (w: ArrayLike<number>) => (d: number) => (w[d >>> 5]! >>> (31 - (d & 31))) & 1;

export class PrefixTrie<T> {
  private readonly t4 = new BitTrie();
  private readonly t6 = new BitTrie();
  private readonly values: T[] = [];
  private readonly prefixes: Prefix[] = [];

  get size(): number {
    return this.values.length;
  }

  private trieOf(p: Prefix): [BitTrie, (d: number) => number] {
    return p.family === FAMILY_V4 ? [this.t4, v4Bit(p.v4)] : [this.t6, v6Bit(p.v6)];
  }

  /** Stores `value` under `p`, replacing what an equal prefix held. */
  insert(p: Prefix, value: T): void {
    const [t, bit] = this.trieOf(p);
    const node = t.node(p.bits, bit);
    const at = t.val[node]!;
    if (at >= 0) {
      this.values[at] = value;
      return;
    }
    t.val[node] = this.values.length;
    this.values.push(value);
    this.prefixes.push(p);
  }

  /** The value stored under exactly `p`. */
  get(p: Prefix): T | undefined {
    const [t, bit] = this.trieOf(p);
    const node = t.find(p.bits, bit);
    if (node < 0) return undefined;
    const at = t.val[node]!;
    return at >= 0 ? this.values[at] : undefined;
  }

  /** Longest-prefix match of an address. */
  lookup(a: IpAddr): T | undefined {
    if (a.family === FAMILY_V4) return this.lookupV4(a.v4);
    if (a.family === FAMILY_V6) return this.lookupV6(a.v6);
    return undefined;
  }

  lookupV4(v: number): T | undefined {
    const { left, right, val } = this.t4;
    let node = 0;
    let best = val[0]!;
    for (let d = 0; d < 32; d++) {
      node = ((v >>> (31 - d)) & 1) === 1 ? right[node]! : left[node]!;
      if (node === 0) break;
      const x = val[node]!;
      if (x >= 0) best = x;
    }
    return best >= 0 ? this.values[best] : undefined;
  }

  lookupV6(w: ArrayLike<number>): T | undefined {
    const { left, right, val } = this.t6;
    let node = 0;
    let best = val[0]!;
    for (let d = 0; d < 128; d++) {
      node = ((w[d >>> 5]! >>> (31 - (d & 31))) & 1) === 1 ? right[node]! : left[node]!;
      if (node === 0) break;
      const x = val[node]!;
      if (x >= 0) best = x;
    }
    return best >= 0 ? this.values[best] : undefined;
  }

  /** Trie nodes a lookup of `a` visits: the measure of lookup cost, for tests and benchmarks. */
  pathLength(a: IpAddr): number {
    const [t, bit] = a.family === FAMILY_V4 ? [this.t4, v4Bit(a.v4)] : [this.t6, v6Bit(a.v6)];
    let node = 0;
    let visited = 1;
    for (let d = 0; d < (a.family === FAMILY_V4 ? 32 : 128); d++) {
      node = bit(d) === 1 ? t.right[node]! : t.left[node]!;
      if (node === 0) break;
      visited++;
    }
    return visited;
  }

  /** Values of every stored prefix that contains `p` (itself included), shortest first. */
  covering(p: Prefix): T[] {
    const [t, bit] = this.trieOf(p);
    const out: T[] = [];
    let node = 0;
    for (let d = 0; ; d++) {
      const at = t.val[node]!;
      if (at >= 0) out.push(this.values[at]!);
      if (d === p.bits) break;
      node = bit(d) === 1 ? t.right[node]! : t.left[node]!;
      if (node === 0) break;
    }
    return out;
  }

  /** Every stored prefix and value, in insertion order. */
  entries(): Array<[Prefix, T]> {
    return this.prefixes.map((p, i) => [p, this.values[i]!]);
  }
}
