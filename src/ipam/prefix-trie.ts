import { FAMILY_V4, FAMILY_V6, type IpAddr } from '../net/ip.js';
import type { Prefix } from '../net/prefix.js';

/**
 * A binary radix trie over address bits, in one typed array: each node is
 * four int32 slots (left child, right child, value index, unused), so a step
 * touches one cache line. A lookup visits at most one node per bit of the
 * longest stored prefix on its path (32 for IPv4, 128 for IPv6), however many
 * prefixes are stored, and allocates nothing.
 */
const STRIDE = 4;
const VAL = 2;

class BitTrie {
  /** [left, right, value index (-1: none), unused] per node; node 0 is the root. */
  n: Int32Array;
  nodes = 1;

  constructor() {
    this.n = new Int32Array(64 * STRIDE);
    this.n[VAL] = -1;
  }

  private grow(): void {
    const n = new Int32Array(this.n.length * 2);
    n.set(this.n);
    this.n = n;
  }

  /** The node for the first `bits` bits given by `bit(d)`, created on the way. */
  node(bits: number, bit: (d: number) => number): number {
    let node = 0;
    for (let d = 0; d < bits; d++) {
      const slot = node * STRIDE + bit(d);
      let next = this.n[slot]!;
      if (next === 0) {
        if ((this.nodes + 1) * STRIDE > this.n.length) this.grow();
        next = this.nodes++;
        this.n[next * STRIDE + VAL] = -1;
        this.n[slot] = next;
      }
      node = next;
    }
    return node;
  }

  /** The existing node for the prefix, or -1. */
  find(bits: number, bit: (d: number) => number): number {
    let node = 0;
    for (let d = 0; d < bits; d++) {
      node = this.n[node * STRIDE + bit(d)]!;
      if (node === 0) return -1;
    }
    return node;
  }

  val(node: number): number {
    return this.n[node * STRIDE + VAL]!;
  }

  setVal(node: number, v: number): void {
    this.n[node * STRIDE + VAL] = v;
  }

  child(node: number, b: number): number {
    return this.n[node * STRIDE + b]!;
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
    const at = t.val(node);
    if (at >= 0) {
      this.values[at] = value;
      return;
    }
    t.setVal(node, this.values.length);
    this.values.push(value);
    this.prefixes.push(p);
  }

  /** The value stored under exactly `p`. */
  get(p: Prefix): T | undefined {
    const [t, bit] = this.trieOf(p);
    const node = t.find(p.bits, bit);
    if (node < 0) return undefined;
    const at = t.val(node);
    return at >= 0 ? this.values[at] : undefined;
  }

  /** Longest-prefix match of an address. */
  lookup(a: IpAddr): T | undefined {
    if (a.family === FAMILY_V4) return this.lookupV4(a.v4);
    if (a.family === FAMILY_V6) return this.lookupV6(a.v6);
    return undefined;
  }

  lookupV4(v: number): T | undefined {
    const n = this.t4.n;
    let at = 0;
    let best = n[VAL]!;
    for (let d = 0; d < 32; d++) {
      const node = n[at + ((v >>> (31 - d)) & 1)]!;
      if (node === 0) break;
      at = node * STRIDE;
      const x = n[at + VAL]!;
      if (x >= 0) best = x;
    }
    return best >= 0 ? this.values[best] : undefined;
  }

  lookupV6(w: ArrayLike<number>): T | undefined {
    const n = this.t6.n;
    let at = 0;
    let best = n[VAL]!;
    for (let d = 0; d < 128; d++) {
      const node = n[at + ((w[d >>> 5]! >>> (31 - (d & 31))) & 1)]!;
      if (node === 0) break;
      at = node * STRIDE;
      const x = n[at + VAL]!;
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
      node = t.child(node, bit(d));
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
      const at = t.val(node);
      if (at >= 0) out.push(this.values[at]!);
      if (d === p.bits) break;
      node = t.child(node, bit(d));
      if (node === 0) break;
    }
    return out;
  }

  /** Trie nodes and bytes per family (for reports and benchmarks). */
  memory(): { ipv4: { nodes: number; bytes: number }; ipv6: { nodes: number; bytes: number } } {
    const of = (t: BitTrie) => ({ nodes: t.nodes, bytes: t.n.byteLength });
    return { ipv4: of(this.t4), ipv6: of(this.t6) };
  }

  /** Every stored prefix and value, in insertion order. */
  entries(): Array<[Prefix, T]> {
    return this.prefixes.map((p, i) => [p, this.values[i]!]);
  }
}
