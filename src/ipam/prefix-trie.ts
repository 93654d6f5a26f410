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
/** The LpmBuilder's payload number of the node (0: none). */
const AUX = 3;
/** Bits the first table indexes (65,536 entries, 256 KB per family). */
const DIRECT = 16;

class BitTrie {
  /** [left, right, value index (-1: none), payload number (0: none)] per node; node 0 is the root. */
  n: Int32Array;
  nodes = 1;

  constructor() {
    this.n = new Int32Array(4096 * STRIDE);
    this.n[VAL] = -1;
  }

  private grow(): void {
    const n = new Int32Array(this.n.length * 2);
    n.set(this.n);
    this.n = n;
  }

  /** The node of prefix `p`, created on the way (the bits read inline: this runs per rule of a build). */
  nodeOf(p: Prefix): number {
    let node = 0;
    const v6 = p.v6;
    for (let d = 0; d < p.bits; d++) {
      const b = p.family === FAMILY_V4 ? (p.v4 >>> (31 - d)) & 1 : (v6[d >>> 5]! >>> (31 - (d & 31))) & 1;
      const slot = node * STRIDE + b;
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

/** A prefix whose answers changed: its length and its bits. */
interface Change {
  bits: number;
  bit: (d: number) => number;
}

const APART = 0;
/** The change lies within the slot's range (and goes deeper than it). */
const WITHIN = 1;
/** The change covers the slot's whole range. */
const COVERS = 2;

/** How a change meets slot `i` of a node at `depth` on its path. */
function reaches(change: Change, depth: number, i: number): number {
  for (let d = 0; d < STEP; d++) {
    if (depth + d >= change.bits) return COVERS;
    if (change.bit(depth + d) !== ((i >>> (STEP - 1 - d)) & 1)) return APART;
  }
  return change.bits > depth + STEP ? WITHIN : COVERS;
}

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

  /**
   * Compiles `bin` whole, or, given `from` (a published table of the same
   * trie), starts as a copy of it for `refill` to patch: a published table is
   * never written again.
   */
  constructor(
    private readonly bin: BitTrie,
    private readonly keyBits: number,
    from?: Compiled,
  ) {
    if (from) {
      this.direct.set(from.direct);
      // Room for what patches append (a node's CIDRs take a few dozen nodes) without regrowing the copy.
      this.nodes = new Int32Array((from.nodeCount + Math.max(1024, from.nodeCount >>> 3)) * NODE);
      this.nodes.set(from.nodes.subarray(0, from.nodeCount * NODE));
      this.nodeCount = from.nodeCount;
      this.answers = new Int32Array(from.answerCount + Math.max(1024, from.answerCount >>> 3));
      this.answers.set(from.answers.subarray(0, from.answerCount));
      this.answerCount = from.answerCount;
    } else this.fillDirect(0, 0, 0, bin.val(0));
  }

  /**
   * Recompiles what a change to the binary trie under the prefix of `bits`
   * bits given by `bit(d)` (bits > DIRECT) can have changed: the deepest
   * compiled node on its path that starts above its last bit (or its direct
   * slot, when none), whole, in place; what that node held before becomes
   * garbage at the end of the arrays. Returns the int32s appended.
   */
  refill(bits: number, bit: (d: number) => number): number {
    const before = this.nodeCount * NODE + this.answerCount;
    const s = bitsOf(bit, 0, DIRECT, this.keyBits);
    const e = this.direct[s]!;
    let k = -1;
    let depth = DIRECT;
    if ((e & 1) === 1) {
      k = e >>> 1;
      while (depth + STEP < bits) {
        const i = bitsOf(bit, depth, STEP, this.keyBits);
        const at = k * NODE;
        const hi = i >>> 5;
        const children = this.nodes[at + hi]!;
        if (((children >>> (i & 31)) & 1) === 0) break;
        k = this.nodes[at + 5]! + (this.nodes[at + 6]! & -hi) + popcount(children & (-1 >>> (31 - (i & 31)))) - 1;
        depth += STEP;
      }
    }
    // The binary node at that depth and the answer it inherits (its own included).
    let node = 0;
    let best = this.bin.val(0);
    for (let d = 0; d < depth && node >= 0; d++) {
      node = this.bin.child(node, bit(d));
      if (node === 0) node = -1;
      else if (this.bin.val(node) >= 0) best = this.bin.val(node);
    }
    if (k < 0) {
      if (node < 0 || this.bin.isLeaf(node)) this.direct[s] = (best + 1) << 1;
      else {
        const n = this.reserve(1);
        this.fillNode(n, node, depth, best);
        this.direct[s] = (n << 1) | 1;
      }
    } else {
      // The binary trie never loses a node (see LpmBuilder), so a compiled node's binary node still has children.
      if (node < 0 || this.bin.isLeaf(node)) throw new Error('internal: a compiled node lost its binary subtree');
      this.fillNode(k, node, depth, best, { bits, bit });
    }
    return this.nodeCount * NODE + this.answerCount - before;
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
  /**
   * Node k: the 64 slots below binary node `node` at `depth`, `best` the
   * answer inherited from above. With `change` (a prefix whose answers
   * changed), node k holds its old record and only what the change can reach
   * is compiled again: a child the prefix lies within is patched the same
   * way, a child it covers is compiled whole, every other child's record is
   * copied as it was (its own subtree is shared, untouched).
   */
  private fillNode(k: number, node: number, depth: number, best: number, change?: Change): void {
    const level = (depth - DIRECT) / STEP;
    const childOf = (this.childAt[level] ??= new Int32Array(SLOTS));
    const bestOf = (this.bestAt[level] ??= new Int32Array(SLOTS));
    this.slots(childOf, bestOf, node, 0, 0, best, depth);
    const at = k * NODE;
    const oldLo = change ? this.nodes[at]! : 0;
    const oldHi = change ? this.nodes[at + 1]! : 0;
    const oldBase = change ? this.nodes[at + 5]! : 0;
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
    for (let i = 0; i < SLOTS; i++) if (childOf[i]! >= 0) kids.push(i, childOf[i]!, bestOf[i]!);
    let c = base;
    for (let j = 0; j < kids.length; j += 3, c++) {
      const i = kids[j]!;
      if (!change) {
        this.fillNode(c, kids[j + 1]!, depth + STEP, kids[j + 2]!);
        continue;
      }
      const word = i < 32 ? oldLo : oldHi;
      const had = ((word >>> (i & 31)) & 1) === 1;
      const reach = had ? reaches(change, depth, i) : COVERS;
      if (reach === COVERS) {
        this.fillNode(c, kids[j + 1]!, depth + STEP, kids[j + 2]!);
        continue;
      }
      // The old child's record, where the old bitmaps put it.
      const old = (oldBase + (i < 32 ? 0 : popcount(oldLo)) + popcount(word & (-1 >>> (31 - (i & 31)))) - 1) * NODE;
      this.nodes.copyWithin(c * NODE, old, old + NODE);
      if (reach === WITHIN) this.fillNode(c, kids[j + 1]!, depth + STEP, kids[j + 2]!, change);
    }
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

  /** Int32s in use past the direct table. */
  size(): number {
    return this.nodeCount * NODE + this.answerCount;
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

const bitOf = (p: Prefix) => (p.family === FAMILY_V4 ? v4Bit(p.v4) : v6Bit(p.v6));

/** An immutable longest-prefix-match table of answer numbers: what a published IPAM snapshot reads per flow. */
export class LpmTable {
  /** @internal */
  constructor(
    private readonly c4: Compiled,
    private readonly c6: Compiled,
    /** Family tables compiled (whole or patched) to make this one: all of them before anyone could look up. */
    readonly compiles: number,
  ) {
    Object.freeze(this);
  }

  /** The answer of the longest stored prefix containing `a`, or -1: the hot path (no allocation). */
  lookupIndex(a: IpAddr): number {
    if (a.family === FAMILY_V4) return this.c4.lookupV4(a.v4);
    if (a.family === FAMILY_V6) return this.c6.lookupV6(a.v6);
    return -1;
  }

  /** Steps a lookup of `a` takes (table reads): the measure of lookup cost, for tests and benchmarks. */
  pathLength(a: IpAddr): number {
    if (a.family === FAMILY_V4) return this.c4.steps(v4Bit(a.v4));
    return this.c6.steps(v6Bit(a.v6));
  }

  /** Lookup-table nodes and bytes per family (garbage left by patches included). */
  memory(): { ipv4: { nodes: number; bytes: number }; ipv6: { nodes: number; bytes: number } } {
    const of = (c: Compiled) => ({ nodes: c.nodeCount, bytes: c.bytes() });
    return { ipv4: of(this.c4), ipv6: of(this.c6) };
  }
}

/** Binary nodes a family may grow to, past its size at the last full compile, before the next publish compiles whole. */
const GARBAGE_SLACK = 4096;

/**
 * A mutable longest-prefix-match index: prefixes carry an answer number
 * (>= 0) and, optionally, a payload for the caller (`S`). `publish()` returns
 * an immutable `LpmTable`; after the first, each publish copies the last
 * table's arrays and recompiles only the nodes under the prefixes whose
 * answers changed since (a few hundred bytes for one node's CIDRs and host
 * routes), so an IPAM change costs what it touched. The binary trie never
 * drops a node (a cleared prefix keeps its path), which keeps every compiled
 * node's binary subtree in place; garbage in both is bounded: once the
 * tables grow past twice their size at the last full compile (plus some
 * slack) the next publish compiles whole, and the caller starts a new
 * builder when `garbage()` says the binary trie is mostly dead paths.
 */
export class LpmBuilder<S = never> {
  private readonly t4 = new BitTrie();
  private readonly t6 = new BitTrie();
  /** Payloads by number (the node's AUX int); freed numbers are reused. */
  private readonly payloads: Array<S | undefined> = [undefined];
  private readonly freePayloads: number[] = [];
  private f4: Published | undefined;
  private f6: Published | undefined;
  /** Prefixes whose answer changed since the last publish, per family. */
  private touched4: Prefix[] = [];
  private touched6: Prefix[] = [];
  /** Tables compiled whole, and patches applied, since construction (for tests and benchmarks). */
  readonly stats = { fullCompiles: 0, patches: 0 };
  /** Stored prefixes (with an answer). */
  size = 0;

  private trie(p: Prefix): BitTrie {
    return p.family === FAMILY_V4 ? this.t4 : this.t6;
  }

  /** The answer stored under exactly `p`, or -1. */
  answer(p: Prefix): number {
    const node = this.trie(p).find(p.bits, bitOf(p));
    return node < 0 ? -1 : this.trie(p).val(node);
  }

  /** Stores `answer` under `p` (-1 clears it). */
  setAnswer(p: Prefix, answer: number): void {
    const t = this.trie(p);
    const node = t.nodeOf(p);
    const old = t.val(node);
    if (old === answer) return;
    this.size += (answer >= 0 ? 1 : 0) - (old >= 0 ? 1 : 0);
    t.setVal(node, answer);
    (p.family === FAMILY_V4 ? this.touched4 : this.touched6).push(p);
  }

  /**
   * A handle on the node of `p` (created): node × 2 + 1 for IPv6. A caller
   * that keeps it reads and writes that prefix's payload and answer without
   * walking the trie again; handles stay valid for the builder's life.
   */
  place(p: Prefix): number {
    return (this.trie(p).nodeOf(p) << 1) | (p.family === FAMILY_V4 ? 0 : 1);
  }

  payloadAt(h: number): S | undefined {
    const t = (h & 1) === 0 ? this.t4 : this.t6;
    return this.payloads[t.n[(h >>> 1) * STRIDE + AUX]!];
  }

  setPayloadAt(h: number, s: S | undefined): void {
    const t = (h & 1) === 0 ? this.t4 : this.t6;
    const at = (h >>> 1) * STRIDE + AUX;
    let k = t.n[at]!;
    if (s === undefined) {
      if (k !== 0) {
        this.payloads[k] = undefined;
        this.freePayloads.push(k);
        t.n[at] = 0;
      }
      return;
    }
    if (k === 0) {
      k = this.freePayloads.pop() ?? this.payloads.length;
      t.n[at] = k;
    }
    this.payloads[k] = s;
  }

  /** Stores `answer` (-1 clears it) under the prefix `p` whose handle `h` is. */
  setAnswerAt(h: number, p: Prefix, answer: number): void {
    const t = (h & 1) === 0 ? this.t4 : this.t6;
    const node = h >>> 1;
    const old = t.val(node);
    if (old === answer) return;
    this.size += (answer >= 0 ? 1 : 0) - (old >= 0 ? 1 : 0);
    t.setVal(node, answer);
    ((h & 1) === 0 ? this.touched4 : this.touched6).push(p);
  }

  /** The payload kept under exactly `p`. */
  payload(p: Prefix): S | undefined {
    const node = this.trie(p).find(p.bits, bitOf(p));
    return node < 0 ? undefined : this.payloads[this.trie(p).n[node * STRIDE + AUX]!];
  }

  setPayload(p: Prefix, s: S | undefined): void {
    this.setPayloadAt(this.place(p), s);
  }

  /** Payloads of the prefixes strictly containing `p`, shortest first. */
  above(p: Prefix): S[] {
    const t = this.trie(p);
    const bit = bitOf(p);
    const out: S[] = [];
    let node = 0;
    for (let d = 0; d < p.bits; d++) {
      const s = this.payloads[t.n[node * STRIDE + AUX]!];
      if (s !== undefined) out.push(s);
      node = t.child(node, bit(d));
      if (node === 0) break;
    }
    return out;
  }

  /**
   * Visits every payload under `p` (itself included; every payload of the
   * family when `p` is a family number), parents before children, handing
   * each the value its nearest visited ancestor returned (`top` for the
   * first ones).
   */
  visit<C>(p: Prefix | 4 | 6, fn: (s: S, inherited: C) => C, top: C): void {
    const family = typeof p === 'number' ? p : p.family;
    const t = family === 4 ? this.t4 : this.t6;
    const start = typeof p === 'number' ? 0 : t.find(p.bits, bitOf(p));
    if (start < 0) return;
    // Iterative depth-first walk (an IPv6 host route is 128 levels deep); the stack never holds more than one node per level and side.
    const n = t.n;
    const nodes = new Int32Array(2 * 129 + 2);
    const carried: C[] = new Array<C>(nodes.length);
    let sp = 0;
    nodes[0] = start;
    carried[0] = top;
    sp = 1;
    while (sp > 0) {
      sp--;
      const node = nodes[sp]!;
      let c = carried[sp] as C;
      const k = n[node * STRIDE + AUX]!;
      if (k !== 0) c = fn(this.payloads[k]!, c);
      const right = n[node * STRIDE + 1]!;
      const left = n[node * STRIDE]!;
      if (right !== 0) {
        nodes[sp] = right;
        carried[sp++] = c;
      }
      if (left !== 0) {
        nodes[sp] = left;
        carried[sp++] = c;
      }
    }
  }

  /** Binary nodes in both families (they only grow: a caller compares with a fresh build's to see the dead paths). */
  binaryNodes(): number {
    return this.t4.nodes + this.t6.nodes;
  }

  /** An immutable table of the answers stored now. Lookups on it never compile. */
  publish(): LpmTable {
    const [p4, p6] = [this.f4, this.f6];
    this.f4 = this.family(this.t4, 32, p4, this.touched4);
    this.f6 = this.family(this.t6, 128, p6, this.touched6);
    this.touched4 = [];
    this.touched6 = [];
    return new LpmTable(this.f4.c, this.f6.c, (this.f4 === p4 ? 0 : 1) + (this.f6 === p6 ? 0 : 1));
  }

  private family(t: BitTrie, keyBits: number, prev: Published | undefined, touched: Prefix[]): Published {
    if (prev && touched.length === 0) return prev;
    if (prev && touched.every((p) => p.bits > DIRECT)) {
      const c = new Compiled(t, keyBits, prev.c);
      for (const p of touched) c.refill(p.bits, bitOf(p));
      this.stats.patches++;
      if (c.size() <= 2 * prev.full + GARBAGE_SLACK) return { c, full: prev.full };
    }
    this.stats.fullCompiles++;
    const c = new Compiled(t, keyBits);
    return { c, full: c.size() };
  }
}

interface Published {
  c: Compiled;
  /** Its size (int32s) at the last full compile. */
  full: number;
}
