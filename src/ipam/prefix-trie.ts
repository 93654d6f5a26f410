import { FAMILY_V4, FAMILY_V6, type IpAddr } from '../net/ip.js';
import type { Prefix } from '../net/prefix.js';

/**
 * Longest-prefix match over IPv4 and IPv6 in typed arrays, built in two forms:
 *
 * - a binary trie (one node per prefix bit) that takes inserts and answers
 *   exact gets and coverings, used while a snapshot is built;
 * - a compressed multibit trie for lookups, compiled from the binary one by
 *   `compile()` (after Asai and Ohara's Poptrie): a table
 *   indexed by the first 16 bits, then nodes of 64 slots
 *   that each consume 6 bits. A node is 32 bytes: bitmaps of the slots that
 *   lead to a child and of the slots where a run of equal answers starts, and
 *   where its children and its answers start; a popcount below the slot finds
 *   either. Equal answers are stored once per run, so a node's /24 with its
 *   router's host route costs a few words, and a 5,000-node cluster's tries
 *   stay a few hundred KB.
 *
 * A lookup takes at most 1 + ceil((32 - 16) / 6) = 4 steps for IPv4 and
 * 1 + ceil((128 - 16) / 6) = 20 for IPv6, however many prefixes are stored,
 * and allocates nothing.
 */
const STRIDE = 4;
const VAL = 2;
/** Bits the first table indexes (65,536 entries, 256 KB per family). */
const DIRECT = 16;

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

  isLeaf(node: number): boolean {
    return this.n[node * STRIDE]! === 0 && this.n[node * STRIDE + 1]! === 0;
  }
}

/** Set bits of a 32-bit word. */
function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}

/** Bits a node consumes, and its 64 slots' bitmaps as two int32 each. */
const STEP = 6;
const SLOTS = 1 << STEP;
/** Int32 per node: [children lo, children hi, runs lo, runs hi, first answer, first child, popcount(children lo), popcount(runs lo)]. */
const NODE = 8;

/**
 * The lookup form of one family's binary trie. `direct[i]` answers the
 * addresses whose first DIRECT bits are i: `(node << 1) | 1` continues
 * at a node, `(value + 1) << 1` is an answer (0: none). A node (NODE int32,
 * 32 bytes, so one cache line) has a bitmap of the slots that lead to a child
 * and a bitmap of the slots where a run of equal answers starts; its children
 * sit side by side from `first child` and its answers from `first answer` in
 * `answers`, so a popcount below the slot finds either. A node whose slots
 * all give one answer keeps it inline as `-2 - value`.
 */
class Compiled {
  readonly direct = new Int32Array(1 << DIRECT);
  nodes = new Int32Array(64 * NODE);
  nodeCount = 0;
  answers = new Int32Array(256);
  answerCount = 0;

  constructor(
    private readonly bin: BitTrie,
    private readonly keyBits: number,
  ) {
    this.fillDirect(0, 0, 0, bin.val(0));
  }

  private fillDirect(node: number, depth: number, prefix: number, best: number): void {
    const v = this.bin.val(node);
    if (v >= 0) best = v;
    if (depth === DIRECT) {
      if (this.bin.isLeaf(node)) this.direct[prefix] = (best + 1) << 1;
      else {
        const k = this.reserve(1);
        this.fillNode(k, node, depth, best);
        this.direct[prefix] = (k << 1) | 1;
      }
      return;
    }
    for (let b = 0; b < 2; b++) {
      const c = this.bin.child(node, b);
      const p = (prefix << 1) | b;
      if (c !== 0) this.fillDirect(c, depth + 1, p, best);
      else {
        const span = DIRECT - depth - 1;
        this.direct.fill((best + 1) << 1, p << span, (p + 1) << span);
      }
    }
  }

  private reserve(count: number): number {
    const first = this.nodeCount;
    this.nodeCount += count;
    if (this.nodeCount * NODE > this.nodes.length) {
      const n = new Int32Array(Math.max(this.nodes.length * 2, this.nodeCount * NODE));
      n.set(this.nodes);
      this.nodes = n;
    }
    return first;
  }

  private answer(v: number): void {
    if (this.answerCount === this.answers.length) {
      const a = new Int32Array(this.answers.length * 2);
      a.set(this.answers);
      this.answers = a;
    }
    this.answers[this.answerCount++] = v;
  }

  /** Per level of nodes (depth DIRECT, DIRECT + STEP, …): the slots' child binary node (-1: none) and inherited answer. */
  private readonly childAt: Int32Array[] = [];
  private readonly bestAt: Int32Array[] = [];

  /**
   * Fills slots [from, from + 2^(STEP - d)) of the level's tables: the binary
   * subtree under `n` (reached at d bits below the node's depth, its own
   * answer folded into `b`) walked once, depth first, instead of one walk
   * per slot.
   */
  private slots(childOf: Int32Array, bestOf: Int32Array, n: number, d: number, slot: number, b: number, depth: number): void {
    if (d === STEP || depth + d === this.keyBits) {
      const span = STEP - d;
      bestOf.fill(b, slot << span, (slot + 1) << span);
      childOf.fill(-1, slot << span, (slot + 1) << span);
      if (d === STEP && !this.bin.isLeaf(n)) childOf[slot] = n;
      return;
    }
    for (let bit = 0; bit < 2; bit++) {
      const c = this.bin.child(n, bit);
      const at = (slot << 1) | bit;
      if (c === 0) {
        const span = STEP - d - 1;
        bestOf.fill(b, at << span, (at + 1) << span);
        childOf.fill(-1, at << span, (at + 1) << span);
      } else {
        const v = this.bin.val(c);
        this.slots(childOf, bestOf, c, d + 1, at, v >= 0 ? v : b, depth);
      }
    }
  }

  /** Node k: the 64 slots below binary node `node` at `depth`, `best` the answer inherited from above. */
  private fillNode(k: number, node: number, depth: number, best: number): void {
    const level = (depth - DIRECT) / STEP;
    const childOf = (this.childAt[level] ??= new Int32Array(SLOTS));
    const bestOf = (this.bestAt[level] ??= new Int32Array(SLOTS));
    this.slots(childOf, bestOf, node, 0, 0, best, depth);
    let lo0 = 0;
    let hi0 = 0;
    let lo2 = 0;
    let hi2 = 0;
    let children = 0;
    let last = 0;
    const first = this.answerCount;
    for (let i = 0; i < SLOTS; i++) {
      const bit = 1 << (i & 31);
      if (childOf[i]! >= 0) {
        if (i < 32) lo0 |= bit;
        else hi0 |= bit;
        children++;
      } else if (this.answerCount === first || bestOf[i] !== last) {
        if (i < 32) lo2 |= bit;
        else hi2 |= bit;
        last = bestOf[i]!;
        this.answer(last);
      }
    }
    const base = children > 0 ? this.reserve(children) : 0;
    const at = k * NODE;
    const n = this.nodes;
    n[at] = lo0;
    n[at + 1] = hi0;
    n[at + 2] = lo2;
    n[at + 3] = hi2;
    if (this.answerCount === first + 1) {
      n[at + 4] = -2 - this.answers[first]!;
      this.answerCount = first;
    } else n[at + 4] = first;
    n[at + 5] = base;
    n[at + 6] = popcount(lo0);
    n[at + 7] = popcount(lo2);
    if (children === 0) return;
    // The children's slots, copied out: filling a child reuses the next level's tables, never this one's.
    const kids: number[] = [];
    for (let i = 0; i < SLOTS; i++) if (childOf[i]! >= 0) kids.push(childOf[i]!, bestOf[i]!);
    let c = base;
    for (let j = 0; j < kids.length; j += 2) this.fillNode(c++, kids[j]!, depth + STEP, kids[j + 1]!);
  }

  /** Continues a lookup at node offset `at` with slot `i`: the next node's offset, or -2 - answer. */
  private step(at: number, i: number): number {
    const n = this.nodes;
    const hi = i >>> 5;
    const j = i & 31;
    const below = -1 >>> (31 - j);
    const children = n[at + hi]!;
    if (((children >>> j) & 1) === 1) return (n[at + 5]! + (n[at + 6]! & -hi) + popcount(children & below) - 1) * NODE;
    const a = n[at + 4]!;
    return a < 0 ? a : -2 - this.answers[a + (n[at + 7]! & -hi) + popcount(n[at + 2 + hi]! & below) - 1]!;
  }

  lookupV4(v: number): number {
    const e = this.direct[v >>> (32 - DIRECT)]!;
    if ((e & 1) === 0) return (e >> 1) - 1;
    let at = (e >>> 1) * NODE;
    for (let s = DIRECT; ; s += STEP) {
      at = this.step(at, s <= 32 - STEP ? (v >>> (32 - STEP - s)) & (SLOTS - 1) : (v << (s - 32 + STEP)) & (SLOTS - 1));
      if (at < 0) return -2 - at;
    }
  }

  lookupV6(w: ArrayLike<number>): number {
    const e = this.direct[w[0]! >>> (32 - DIRECT)]!;
    if ((e & 1) === 0) return (e >> 1) - 1;
    let at = (e >>> 1) * NODE;
    for (let s = DIRECT; ; s += STEP) {
      const word = s >>> 5;
      const off = s & 31;
      const i =
        off <= 32 - STEP
          ? (w[word]! >>> (32 - STEP - off)) & (SLOTS - 1)
          : ((w[word]! << (off - 32 + STEP)) | (word < 3 ? w[word + 1]! >>> (64 - STEP - off) : 0)) & (SLOTS - 1);
      at = this.step(at, i);
      if (at < 0) return -2 - at;
    }
  }

  /** Steps a lookup takes for the key whose bits `bit(d)` gives: the direct table, then one per node. */
  steps(bit: (d: number) => number): number {
    const e = this.direct[bitsOf(bit, 0, DIRECT, this.keyBits)]!;
    let steps = 1;
    if ((e & 1) === 0) return steps;
    let at = (e >>> 1) * NODE;
    for (let s = DIRECT; at >= 0; s += STEP) {
      steps++;
      at = this.step(at, bitsOf(bit, s, STEP, this.keyBits));
    }
    return steps;
  }

  bytes(): number {
    return this.direct.byteLength + this.nodeCount * NODE * 4 + this.answerCount * 4;
  }
}

/** `count` bits from bit `from` as an integer (bits past the key read as 0). */
function bitsOf(bit: (d: number) => number, from: number, count: number, keyBits: number): number {
  let x = 0;
  for (let d = from; d < from + count; d++) x = (x << 1) | (d < keyBits ? bit(d) : 0);
  return x;
}

const v4Bit = (v: number) => (d: number) => (v >>> (31 - d)) & 1;
const v6Bit = (w: ArrayLike<number>) => (d: number) => (w[d >>> 5]! >>> (31 - (d & 31))) & 1;

export class PrefixTrie<T> {
  private readonly t4: BitTrie = new BitTrie();
  private readonly t6: BitTrie = new BitTrie();
  /** The lookup forms, compiled by compile() (or, for a trie never compiled, on first use after a change). */
  private c4: Compiled | undefined;
  private c6: Compiled | undefined;
  private values: T[] = [];
  private prefixes: Prefix[] = [];
  private frozen = false;
  /** Lookup forms compiled since construction (a test's measure that no lookup compiles). */
  compiles = 0;

  constructor(from?: { t4: BitTrie; t6: BitTrie; values: T[]; prefixes: Prefix[] }) {
    if (from) {
      this.t4 = from.t4;
      this.t6 = from.t6;
      this.values = from.values;
      this.prefixes = from.prefixes;
    }
  }

  get size(): number {
    return this.values.length;
  }

  /** Whether both lookup forms are compiled and the trie takes no more inserts. */
  get isFrozen(): boolean {
    return this.frozen;
  }

  private v4(): Compiled {
    if (!this.c4) {
      this.compiles++;
      this.c4 = new Compiled(this.t4, 32);
    }
    return this.c4;
  }

  private v6(): Compiled {
    if (!this.c6) {
      this.compiles++;
      this.c6 = new Compiled(this.t6, 128);
    }
    return this.c6;
  }

  /** Compiles the lookup forms of both families now and refuses inserts from then on: lookups never compile. */
  compile(): this {
    this.v4();
    this.v6();
    this.frozen = true;
    return this;
  }

  /**
   * A trie of the same prefixes holding `fn(value, prefix, index)` each; this
   * trie hands its structure over and must not be used afterwards (the snapshot
   * builds its answers this way without a second binary trie).
   */
  mapValues<U>(fn: (v: T, p: Prefix, index: number) => U): PrefixTrie<U> {
    const values = this.values.map((v, i) => fn(v, this.prefixes[i]!, i));
    const out = new PrefixTrie<U>({ t4: this.t4, t6: this.t6, values, prefixes: this.prefixes });
    this.values = [];
    this.prefixes = [];
    this.frozen = true;
    return out;
  }

  /** Stores `fn(old)` under `p` in one walk (`old`: what an equal prefix held). */
  update(p: Prefix, fn: (old: T | undefined) => T): void {
    if (this.frozen) throw new Error('internal: insert into a compiled PrefixTrie');
    const [t, bit] = this.trieOf(p);
    const node = t.node(p.bits, bit);
    const at = t.val(node);
    if (at >= 0) {
      this.values[at] = fn(this.values[at]);
      return;
    }
    t.setVal(node, this.values.length);
    this.values.push(fn(undefined));
    this.prefixes.push(p);
    if (p.family === FAMILY_V4) this.c4 = undefined;
    else this.c6 = undefined;
  }

  private trieOf(p: Prefix): [BitTrie, (d: number) => number] {
    return p.family === FAMILY_V4 ? [this.t4, v4Bit(p.v4)] : [this.t6, v6Bit(p.v6)];
  }

  /** Stores `value` under `p`, replacing what an equal prefix held. */
  insert(p: Prefix, value: T): void {
    if (this.frozen) throw new Error('internal: insert into a compiled PrefixTrie');
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
    if (p.family === FAMILY_V4) this.c4 = undefined;
    else this.c6 = undefined;
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
    const at = this.v4().lookupV4(v);
    return at >= 0 ? this.values[at] : undefined;
  }

  lookupV6(w: ArrayLike<number>): T | undefined {
    const at = this.v6().lookupV6(w);
    return at >= 0 ? this.values[at] : undefined;
  }

  /**
   * Longest-prefix match of an address as the matching value's position in
   * insertion order (see entries()), or -1: the hot path's form, which reads
   * no value.
   */
  lookupIndex(a: IpAddr): number {
    if (a.family === FAMILY_V4) return this.v4().lookupV4(a.v4);
    if (a.family === FAMILY_V6) return this.v6().lookupV6(a.v6);
    return -1;
  }

  /** Steps a lookup of `a` takes (table reads): the measure of lookup cost, for tests and benchmarks. */
  pathLength(a: IpAddr): number {
    if (a.family === FAMILY_V4) return this.v4().steps(v4Bit(a.v4));
    return this.v6().steps(v6Bit(a.v6));
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

  /** Lookup-table nodes and bytes per family (for reports and benchmarks). */
  memory(): { ipv4: { nodes: number; bytes: number }; ipv6: { nodes: number; bytes: number } } {
    const of = (c: Compiled) => ({ nodes: c.nodeCount, bytes: c.bytes() });
    return { ipv4: of(this.v4()), ipv6: of(this.v6()) };
  }

  /** Every stored prefix and value, in insertion order. */
  entries(): Array<[Prefix, T]> {
    return this.prefixes.map((p, i) => [p, this.values[i]!]);
  }
}
