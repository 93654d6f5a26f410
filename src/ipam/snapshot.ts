import { IpAddr } from '../net/ip.js';
import { addressBits, prefixContains, prefixesOverlap, prefixSize, type Prefix } from '../net/prefix.js';
import { IpamError, type Allocation, type FormerAllocation, type IpamProblem, type IpamState, type NodeAddress, type ServiceCidr } from './model.js';
import { sharedEnds } from '../util/shared-ends.js';
import { LpmBuilder, type LpmTable } from './prefix-trie.js';

/** What an address is, by the first rule that holds (see `rank`). */
export type AddressStatus = 'service' | 'node' | 'current' | 'stale' | 'unallocated';

/** Lower wins: a service CIDR beats a node address beats a current allocation, … */
const rank: Record<AddressStatus, number> = { service: 1, node: 2, current: 3, stale: 4, unallocated: 5 };

/** The precomputed answer for every address under one stored prefix. Shared and immutable. */
export interface AddressInfo {
  readonly status: AddressStatus;
  /** Owning pool ('' for service and node addresses). */
  readonly pool: string;
  /** Owning node: the current owner, the former owner for stale, the node of a node address. */
  readonly node: string;
  /** The CIDR that decided it. */
  readonly cidr: string;
  /** The node address type, or why an allocation is former. */
  readonly detail: string;
  /** Dense index over the snapshot's answers, for per-answer caches. */
  readonly index: number;
}

export interface PoolCapacity {
  pool: string;
  state: 'active' | 'draining';
  family: 4 | 6;
  /** Addresses in the pool's CIDRs. */
  totalIps: number;
  /** Addresses in CIDRs allocated to nodes now. */
  allocatedIps: number;
  /** Node CIDRs allocated now. */
  allocatedCidrs: number;
  /** Node CIDRs the pool can hold at its mask size (0 when it has none). */
  maxNodeCidrs: number;
  /** Pod addresses in use (undefined when not known): see `usedFrom`. */
  usedIps: number | undefined;
  /**
   * Where `usedIps` comes from: `endpoints` (the CiliumEndpoints' addresses
   * resolved as current in this pool and family), `ciliumnodes` (the sum of
   * `status.ipam.used` counts of the nodes that hold allocations in this pool
   * and family only, when every one of them reports it), undefined when neither
   * is known.
   */
  usedFrom: 'endpoints' | 'ciliumnodes' | undefined;
  /**
   * Node CIDRs still free at the pool's mask size: `maxNodeCidrs` less the
   * mask-sized blocks the allocations inside the pool's CIDRs take (at least 0);
   * undefined for a pool without CIDRs or mask size in this family.
   */
  nodeCidrsLeft: number | undefined;
}

export interface NodeCapacity {
  node: string;
  pool: string;
  family: 4 | 6;
  allocatedIps: number;
  /** Addresses the node reports in use (`status.ipam.used`), all pools and families. */
  usedIps: number | undefined;
}

/** One rule from the state: a service CIDR, a node address, an allocation, a former one, a pool CIDR. */
interface Entry {
  status: AddressStatus;
  pool: string;
  node: string;
  detail: string;
  prefix: Prefix;
  /** Its key in the builder (the source object, or a pool rule). */
  key: unknown;
  slot: Slot;
  /** Times the last state lists it (a rule object may be listed twice). */
  count: number;
  /** Whether it is in its slot's entries (count > 0 once a build is through). */
  placed: boolean;
  /** Whether the build in progress has counted it (listed once for the settling pass). */
  touched: boolean;
}

/** A pool CIDR's rule: one object per pool name and CIDR, so that the lists of two states compare by identity. */
interface PoolRule {
  pool: string;
  cidr: Prefix;
}

const poolRules = new Map<string, PoolRule>();
function poolRule(pool: string, cidr: Prefix): PoolRule {
  const key = `${pool}\0${cidr.text}`;
  let r = poolRules.get(key);
  if (!r) {
    if (poolRules.size > 65_536) poolRules.clear();
    r = { pool, cidr };
    poolRules.set(key, r);
  }
  return r;
}

/** The lists of rules a build read, kept to count the next build's against. */
interface RuleLists {
  services: readonly ServiceCidr[];
  nodes: readonly NodeAddress[];
  allocations: readonly Allocation[];
  former: readonly FormerAllocation[];
  pools: readonly PoolRule[];
}

/** The rules stored under one prefix, and the answer given for it. */
interface Slot {
  prefix: Prefix;
  /** Its LpmBuilder handle. */
  at: number;
  entries: Entry[];
  info: AddressInfo | undefined;
  /** The build that last queued or walked it. */
  queued: number;
  walked: number;
}

/** Whether `a` beats `b` under one prefix: the better rank; between equals, a fixed order of node, pool and detail (so the answer never depends on list order or history). */
function beats(a: Entry, b: Entry): boolean {
  const ra = rank[a.status];
  const rb = rank[b.status];
  if (ra !== rb) return ra < rb;
  if (a.node !== b.node) return a.node > b.node;
  if (a.pool !== b.pool) return a.pool > b.pool;
  return a.detail > b.detail;
}

/** The network address of a prefix, as an address. */
export function addrOfPrefix(p: Prefix, out: IpAddr): IpAddr {
  out.family = p.family;
  out.v4 = p.v4;
  out.v6.set(p.v6);
  return out;
}

/** Pod addresses per node CIDR: Cilium's allocator keeps the first and last address of each. */
export function podsPerNodeCidr(family: 4 | 6, maskSize: number): number {
  return Math.max(0, 2 ** (addressBits(family) - maskSize) - 2);
}

/** Checks a state and returns every problem in it. */
export function validateState(state: IpamState): IpamProblem[] {
  const problems: IpamProblem[] = [];
  const names = new Map<string, string>();
  for (const p of state.pools) {
    const dup = names.get(p.name);
    if (dup) problems.push({ where: p.origin, field: 'name', value: p.name, message: `pool name already defined by ${dup}` });
    names.set(p.name, p.origin);
    for (const fam of [4, 6] as const) {
      const mask = p.maskSize[fam];
      if (mask === undefined) continue;
      const field = `maskSize (IPv${fam})`;
      if (!Number.isInteger(mask) || mask < 0 || mask > addressBits(fam)) {
        problems.push({ where: p.origin, field, value: String(mask), message: `must be a prefix length from 0 to ${addressBits(fam)}` });
        continue;
      }
      for (const c of p.cidrs.filter((c) => c.family === fam)) {
        if (mask < c.bits) problems.push({ where: p.origin, field, value: String(mask), message: `a /${mask} node CIDR is larger than the pool CIDR ${c.text}` });
      }
      if (fam === 4 && podsPerNodeCidr(4, mask) < 1) problems.push({ where: p.origin, field, value: String(mask), message: 'leaves no pod address per node CIDR (use /29 or larger)' });
    }
  }
  // Pools must not overlap each other (nor themselves).
  const all = state.pools.flatMap((p) => p.cidrs.map((c) => ({ pool: p, c })));
  for (let i = 0; i < all.length; i++) {
    for (let j = i + 1; j < all.length; j++) {
      const a = all[i]!;
      const b = all[j]!;
      if (prefixesOverlap(a.c, b.c)) {
        problems.push({ where: b.pool.origin, field: 'cidrs', value: b.c.text, message: `overlaps ${a.c.text} of pool ${a.pool.name} (${a.pool.origin})` });
      }
    }
  }
  for (const a of [...state.allocations, ...state.former]) {
    if (!names.has(a.pool)) problems.push({ where: a.origin, field: 'pool', value: a.pool, message: `unknown pool (known: ${[...names.keys()].join(', ') || 'none'})` });
  }
  return problems;
}

/** Freezes the state's lists (and the state) so that a published snapshot cannot change under a flow. */
function freezeState(state: IpamState): IpamState {
  for (const list of [state.pools, state.allocations, state.former, state.nodeAddresses, state.serviceCidrs, state.endpoints]) Object.freeze(list);
  return Object.freeze(state);
}

/** Dead answers (and, times 64, dead binary-trie nodes) tolerated before a build starts afresh. */
const DEAD_SLACK = 1024;

/**
 * Builds snapshots of successive states, each from the last: rules that are
 * the same objects as in the last state (sources keep unchanged entries) are
 * kept, and only the prefixes whose rules changed, and the prefixes under
 * them, get their answers folded again and their lookup nodes recompiled.
 * The answers of the last snapshot keep their indexes; a changed answer is
 * appended. When dead answers outnumber live ones, or dead paths the binary
 * trie, the next build starts afresh. IpamSnapshot.build() is a fresh builder's
 * one build. Not for concurrent use; a failed build leaves it fresh.
 */
export class SnapshotBuilder {
  private lpm = new LpmBuilder<Slot>();
  /** New at every fresh start: snapshots of one epoch share their answers' indexes (see IpamSnapshot.epoch). */
  private epoch: object = {};
  /** Rules by their source object (pool CIDRs by a PoolRule). */
  private entries = new Map<unknown, Entry>();
  /** The lists of the last state built. */
  private lastLists: RuleLists | undefined;
  private infos: AddressInfo[] = [];
  private live = 0;
  private builds = 0;
  /** Binary trie nodes right after the last fresh build. */
  private freshNodes = 0;
  /** Answers recomputed and rules changed by the last build (for tests and benchmarks). */
  readonly last = { rulesChanged: 0, answersChanged: 0, fresh: false };

  /** Validates `state` and builds its snapshot. Throws IpamError listing every problem (the builder unchanged). */
  build(state: IpamState, version = 1): IpamSnapshot {
    const problems = validateState(state);
    if (problems.length > 0) throw new IpamError(problems);
    freezeState(state);
    try {
      return this.apply(state, version);
    } catch (e) {
      this.reset();
      throw e;
    }
  }

  private reset(): void {
    this.epoch = {};
    this.lastLists = undefined;
    this.lpm = new LpmBuilder<Slot>();
    this.entries = new Map();
    this.infos = [];
    this.live = 0;
  }

  private apply(state: IpamState, version: number): IpamSnapshot {
    const dead = this.infos.length - this.live;
    // Start afresh when most answers, or most of the binary trie's paths, are dead.
    const fresh = this.infos.length === 0 || (dead > this.live && dead > DEAD_SLACK) || this.lpm.binaryNodes() > 2 * this.freshNodes + DEAD_SLACK * 64;
    if (fresh) this.reset();
    const gen = ++this.builds;
    const queue: Slot[] = [];
    // Each list against the same list of the last state: the rules between their common head and tail are counted in and out.
    const last = this.lastLists;
    const lists: RuleLists = {
      services: state.serviceCidrs,
      nodes: state.nodeAddresses,
      allocations: state.allocations,
      former: state.former,
      pools: state.pools.flatMap((p) => p.cidrs.map((c) => poolRule(p.name, c))),
    };
    const touched: Entry[] = [];
    this.count(last?.services, lists.services, (s) => this.rule(s, 'service', '', '', s.origin, s.cidr), touched);
    this.count(last?.nodes, lists.nodes, (n) => this.rule(n, 'node', '', n.node, n.type, n.ip), touched);
    this.count(last?.allocations, lists.allocations, (a) => this.rule(a, 'current', a.pool, a.node, '', a.cidr), touched);
    this.count(last?.former, lists.former, (f) => this.rule(f, 'stale', f.pool, f.node, f.reason, f.cidr), touched);
    this.count(last?.pools, lists.pools, (r) => this.rule(r, 'unallocated', r.pool, '', '', r.cidr), touched);
    let changed = 0;
    for (const e of touched) {
      e.touched = false;
      if (e.count > 0 && !e.placed) {
        e.placed = true;
        e.slot.entries.push(e);
      } else if (e.count === 0) {
        this.entries.delete(e.key);
        if (!e.placed) continue;
        e.placed = false;
        e.slot.entries.splice(e.slot.entries.indexOf(e), 1);
      } else continue;
      this.enqueue(e.slot, gen, queue);
      changed++;
    }
    // Kept only once the build is through (a failure starts the next one afresh).
    this.lastLists = undefined;

    // Fold the rank rule down from each changed prefix: every prefix under it may answer differently now.
    let answers = 0;
    const fold = (slot: Slot, above: Entry | undefined): Entry | undefined => {
      slot.walked = gen;
      let local: Entry | undefined;
      for (const e of slot.entries) if (!local || beats(e, local)) local = e;
      // The more specific prefix wins between equal ranks.
      const best = local && (!above || rank[local.status] <= rank[above.status]) ? local : above;
      if (this.answer(slot, local ? best : undefined)) answers++;
      return best;
    };
    if (fresh) {
      this.lpm.visit(4, fold, undefined);
      this.lpm.visit(6, fold, undefined);
    } else {
      queue.sort((x, y) => x.prefix.bits - y.prefix.bits);
      for (const slot of queue) {
        if (slot.walked === gen) continue;
        let above: Entry | undefined;
        for (const s of this.lpm.above(slot.prefix)) above = fold0(s, above);
        this.lpm.visit(slot.prefix, fold, above);
      }
    }
    if (fresh) this.freshNodes = this.lpm.binaryNodes();
    this.lastLists = lists;
    this.last.rulesChanged = changed;
    this.last.answersChanged = answers;
    this.last.fresh = fresh;
    return IpamSnapshot.of(state, version, this.lpm.publish(), Object.freeze(this.infos.slice()), this.epoch);
  }

  /** The rule of `key` (created, unplaced, with no count, when new). */
  private rule(key: unknown, status: AddressStatus, pool: string, node: string, detail: string, prefix: Prefix): Entry {
    let e = this.entries.get(key);
    if (!e) {
      const at = this.lpm.place(prefix);
      let slot = this.lpm.payloadAt(at);
      if (!slot) {
        slot = { prefix, at, entries: [], info: undefined, queued: 0, walked: 0 };
        this.lpm.setPayloadAt(at, slot);
      }
      e = { key, status, pool, node, detail, prefix, slot, count: 0, placed: false, touched: false };
      this.entries.set(key, e);
    }
    return e;
  }

  /**
   * Counts the rules of `next` in and those of `last` out, skipping the head
   * and tail the two lists share (the same objects at the same places): a
   * source that changed one node hands over lists that differ in its few
   * places, so this costs a pointer compare per unchanged rule.
   */
  private count<T>(last: readonly T[] | undefined, next: readonly T[], rule: (x: T) => Entry, touched: Entry[]): void {
    const prev = last ?? [];
    const { head, tail } = sharedEnds(prev, next);
    for (let i = head; i < next.length - tail; i++) {
      const e = rule(next[i]!);
      e.count++;
      if (!e.touched) {
        e.touched = true;
        touched.push(e);
      }
    }
    for (let i = head; i < prev.length - tail; i++) {
      const e = this.entries.get(prev[i])!;
      e.count--;
      if (!e.touched) {
        e.touched = true;
        touched.push(e);
      }
    }
  }

  private enqueue(slot: Slot, gen: number, queue: Slot[]): void {
    if (slot.queued === gen) return;
    slot.queued = gen;
    queue.push(slot);
  }

  /** Gives `slot` the answer of rule `best` (none: the prefix is dropped). Returns whether its answer changed. */
  private answer(slot: Slot, best: Entry | undefined): boolean {
    const old = slot.info;
    if (!best) {
      if (slot.entries.length === 0) this.lpm.setPayloadAt(slot.at, undefined);
      if (!old) return false;
      slot.info = undefined;
      this.live--;
      this.lpm.setAnswerAt(slot.at, slot.prefix, -1);
      return true;
    }
    const cidr = best.prefix.text;
    if (old && old.status === best.status && old.pool === best.pool && old.node === best.node && old.cidr === cidr && old.detail === best.detail) return false;
    const info: AddressInfo = Object.freeze({ status: best.status, pool: best.pool, node: best.node, cidr, detail: best.detail, index: this.infos.length });
    this.infos.push(info);
    if (!old) this.live++;
    slot.info = info;
    this.lpm.setAnswerAt(slot.at, slot.prefix, info.index);
    return true;
  }
}

/** The rank rule folded over one prefix's rules, given the answer from above (no side effects: for the chain above a change). */
function fold0(slot: Slot, above: Entry | undefined): Entry | undefined {
  let local: Entry | undefined;
  for (const e of slot.entries) if (!local || beats(e, local)) local = e;
  return local && (!above || rank[local.status] <= rank[above.status]) ? local : above;
}

/**
 * An immutable, fully indexed view of one IPAM state. Built once per IPAM
 * change (by a SnapshotBuilder, from the last one); a flow's address is
 * resolved with one longest-prefix-match walk. The rule order is folded in
 * at build time: each stored prefix carries the answer of the highest-ranked
 * rule among all prefixes containing it, so the longest match alone decides.
 */
export class IpamSnapshot {
  readonly builtAt = new Date();

  private constructor(
    readonly state: IpamState,
    /** Increases with every accepted change. */
    readonly version: number,
    /** Compiled before the snapshot exists: a lookup never compiles. */
    private readonly table: LpmTable,
    /** Every answer by index; answers no prefix gives any more may stay (a builder's history). */
    readonly infos: readonly AddressInfo[],
    /**
     * Snapshots of one epoch come from one builder without a fresh start: the
     * later one's `infos` begin with every answer of the earlier one, same
     * objects at the same indexes (a consumer's per-answer tables only grow).
     */
    readonly epoch: object,
  ) {}

  /** @internal (SnapshotBuilder) */
  static of(state: IpamState, version: number, table: LpmTable, infos: readonly AddressInfo[], epoch: object): IpamSnapshot {
    const snap = new IpamSnapshot(state, version, table, infos, epoch);
    Object.freeze(snap);
    return snap;
  }

  /**
   * Validates and indexes `state` from scratch. Throws IpamError listing every
   * problem. The snapshot is frozen: `state` (and its arrays) must not change
   * afterwards, and a flow sees one snapshot whole.
   */
  static build(state: IpamState, version = 1): IpamSnapshot {
    return new SnapshotBuilder().build(state, version);
  }

  /**
   * Family lookup tables compiled (whole, or patched from the last snapshot's)
   * for this snapshot, all before it was published: 2 for a first build, 0 to 2
   * after a change; never more, whatever is looked up (a lookup cannot compile).
   */
  get lookupCompiles(): number {
    return this.table.compiles;
  }

  /** The answer for an address, or undefined when no rule applies (out of pool or external). */
  resolve(a: IpAddr): AddressInfo | undefined {
    const i = this.table.lookupIndex(a);
    return i >= 0 ? this.infos[i] : undefined;
  }

  /** The answer's position in `infos`, or -1 when no rule applies: resolve() without touching the answer. */
  resolveIndex(a: IpAddr): number {
    return this.table.lookupIndex(a);
  }

  /** Table reads a lookup of `a` takes (the lookup cost). */
  lookupCost(a: IpAddr): number {
    return this.table.pathLength(a);
  }

  /** Size of the lookup trie per family. */
  trieMemory() {
    return this.table.memory();
  }

  nodeNames(): string[] {
    const s = new Set<string>();
    for (const a of this.state.allocations) s.add(a.node);
    for (const n of this.state.nodeAddresses) s.add(n.node);
    return [...s].sort();
  }

  poolCapacity(): PoolCapacity[] {
    const out: PoolCapacity[] = [];
    const poolFamily = (pool: string, family: 4 | 6) => `${pool}\0${family}`;
    // Endpoint addresses in use, counted per pool and family through the trie.
    const inUse = new Map<string, number>();
    const addr = new IpAddr();
    for (const e of this.state.endpoints) {
      for (const ip of e.ips) {
        addrOfPrefix(ip, addr);
        const info = this.resolve(addr);
        if (info?.status === 'current') inUse.set(poolFamily(info.pool, ip.family), (inUse.get(poolFamily(info.pool, ip.family)) ?? 0) + 1);
      }
    }
    const fromEndpoints = this.state.endpoints.length > 0;
    // Without endpoints: the CiliumNodes' `status.ipam.used` counts (per node, all pools and families), each
    // given to the one pool and family its node holds allocations in; a pool and family with a node that
    // holds several, or that reports no count, stays unknown.
    const nodeUsed = new Map<string, number>();
    if (!fromEndpoints) {
      const keysOf = new Map<string, Set<string>>();
      for (const a of this.state.allocations) {
        const keys = keysOf.get(a.node) ?? keysOf.set(a.node, new Set()).get(a.node)!;
        keys.add(poolFamily(a.pool, a.cidr.family));
      }
      const unknown = new Set<string>();
      for (const [node, keys] of keysOf) {
        const used = this.state.usedByNode.get(node);
        if (used === undefined || keys.size !== 1) {
          for (const k of keys) unknown.add(k);
          continue;
        }
        for (const k of keys) nodeUsed.set(k, (nodeUsed.get(k) ?? 0) + used);
      }
      for (const k of unknown) nodeUsed.delete(k);
    }
    for (const p of this.state.pools) {
      for (const family of [4, 6] as const) {
        const cidrs = p.cidrs.filter((c) => c.family === family);
        const allocs = this.state.allocations.filter((a) => a.pool === p.name && a.cidr.family === family);
        if (cidrs.length === 0 && allocs.length === 0) continue;
        const mask = p.maskSize[family];
        const key = poolFamily(p.name, family);
        const usedIps = fromEndpoints ? (inUse.get(key) ?? 0) : nodeUsed.get(key);
        let nodeCidrsLeft: number | undefined;
        let maxNodeCidrs = 0;
        if (mask !== undefined && cidrs.length > 0) {
          maxNodeCidrs = cidrs.reduce((n, c) => n + 2 ** (mask - c.bits), 0);
          const block = 2 ** (addressBits(family) - mask);
          // Mask-sized blocks the allocations inside the pool take (one allocation of another size: its share, rounded up).
          let taken = 0;
          for (const a of allocs) if (cidrs.some((c) => prefixContains(c, a.cidr))) taken += Math.ceil(prefixSize(a.cidr) / block);
          nodeCidrsLeft = Math.max(0, maxNodeCidrs - taken);
        }
        out.push({
          pool: p.name,
          state: p.state,
          family,
          totalIps: cidrs.reduce((n, c) => n + prefixSize(c), 0),
          allocatedIps: allocs.reduce((n, a) => n + prefixSize(a.cidr), 0),
          allocatedCidrs: allocs.length,
          maxNodeCidrs,
          usedIps,
          usedFrom: usedIps === undefined ? undefined : fromEndpoints ? 'endpoints' : 'ciliumnodes',
          nodeCidrsLeft,
        });
      }
    }
    return out;
  }

  nodeCapacity(): NodeCapacity[] {
    const sums = new Map<string, NodeCapacity>();
    for (const a of this.state.allocations) {
      const key = `${a.node}\0${a.pool}\0${a.cidr.family}`;
      const cur = sums.get(key) ?? { node: a.node, pool: a.pool, family: a.cidr.family, allocatedIps: 0, usedIps: this.state.usedByNode.get(a.node) };
      cur.allocatedIps += prefixSize(a.cidr);
      sums.set(key, cur);
    }
    return [...sums.values()];
  }
}
