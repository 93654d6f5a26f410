import { IpAddr } from '../net/ip.js';
import { addressBits, prefixesOverlap, prefixSize, type Prefix } from '../net/prefix.js';
import { IpamError, type IpamProblem, type IpamState } from './model.js';
import { PrefixTrie } from './prefix-trie.js';

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
  /** Pod addresses in use, from CiliumEndpoints (undefined when none are known). */
  usedIps: number | undefined;
}

export interface NodeCapacity {
  node: string;
  pool: string;
  family: 4 | 6;
  allocatedIps: number;
  /** Addresses the node reports in use (`status.ipam.used`), all pools and families. */
  usedIps: number | undefined;
}

interface Entry {
  status: AddressStatus;
  pool: string;
  node: string;
  detail: string;
  prefix: Prefix;
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

/**
 * An immutable, fully indexed view of one IPAM state. Built once per IPAM
 * change; a flow's address is resolved with one longest-prefix-match walk.
 * The rule order is folded in at build time: each stored prefix carries the
 * answer of the highest-ranked entry among all prefixes containing it, so the
 * longest match alone decides.
 */
export class IpamSnapshot {
  readonly builtAt = new Date();
  readonly infos: readonly AddressInfo[];
  /** Compiled in the constructor: a lookup never compiles (see `lookupCompiles`). */
  private readonly trie: PrefixTrie<AddressInfo>;

  private constructor(
    readonly state: IpamState,
    /** Increases with every accepted change. */
    readonly version: number,
  ) {
    const byPrefix = new PrefixTrie<Entry[]>();
    const add = (e: Entry) =>
      byPrefix.update(e.prefix, (list) => {
        if (!list) return [e];
        list.push(e);
        return list;
      });
    for (const s of state.serviceCidrs) add({ status: 'service', pool: '', node: '', detail: s.origin, prefix: s.cidr });
    for (const n of state.nodeAddresses) add({ status: 'node', pool: '', node: n.node, detail: n.type, prefix: n.ip });
    for (const a of state.allocations) add({ status: 'current', pool: a.pool, node: a.node, detail: '', prefix: a.cidr });
    for (const f of state.former) add({ status: 'stale', pool: f.pool, node: f.node, detail: f.reason, prefix: f.cidr });
    for (const p of state.pools) for (const c of p.cidrs) add({ status: 'unallocated', pool: p.name, node: '', detail: '', prefix: c });

    const infos: AddressInfo[] = [];
    // Every entry on the chain of prefixes containing each one; the best rank wins,
    // and within a rank the most specific (the chain is shortest first).
    const bests = byPrefix.entries().map(([prefix]) => {
      let best: Entry | undefined;
      for (const list of byPrefix.covering(prefix)) {
        for (const e of list) if (!best || rank[e.status] <= rank[best.status]) best = e;
      }
      return best!;
    });
    this.trie = byPrefix
      .mapValues((_, __, i) => {
        const best = bests[i]!;
        const info: AddressInfo = Object.freeze({ status: best.status, pool: best.pool, node: best.node, cidr: best.prefix.text, detail: best.detail, index: i });
        infos.push(info);
        return info;
      })
      .compile();
    this.infos = Object.freeze(infos);
    if (this.trie.size !== infos.length) throw new Error('internal: the lookup trie and the answers disagree');
  }

  /**
   * Validates and indexes `state`, lookup tables compiled. Throws IpamError
   * listing every problem. The snapshot is frozen: `state` (and its arrays)
   * must not change afterwards, and a flow sees one snapshot whole.
   */
  static build(state: IpamState, version = 1): IpamSnapshot {
    const problems = validateState(state);
    if (problems.length > 0) throw new IpamError(problems);
    const snap = new IpamSnapshot(freezeState(state), version);
    Object.freeze(snap);
    return snap;
  }

  /** Lookup tables compiled since the snapshot was built: 2 (one per family) at build, never more. */
  get lookupCompiles(): number {
    return this.trie.compiles;
  }

  /** The answer for an address, or undefined when no rule applies (out of pool or external). */
  resolve(a: IpAddr): AddressInfo | undefined {
    return this.trie.lookup(a);
  }

  /** The answer's position in `infos`, or -1 when no rule applies: resolve() without touching the answer. */
  resolveIndex(a: IpAddr): number {
    return this.trie.lookupIndex(a);
  }

  /** Table reads a lookup of `a` takes (the lookup cost). */
  lookupCost(a: IpAddr): number {
    return this.trie.pathLength(a);
  }

  /** Size of the lookup trie per family. */
  trieMemory() {
    return this.trie.memory();
  }

  nodeNames(): string[] {
    const s = new Set<string>();
    for (const a of this.state.allocations) s.add(a.node);
    for (const n of this.state.nodeAddresses) s.add(n.node);
    return [...s].sort();
  }

  poolCapacity(): PoolCapacity[] {
    const out: PoolCapacity[] = [];
    // Endpoint addresses in use, counted per pool and family through the trie.
    const inUse = new Map<string, number>();
    const addr = new IpAddr();
    for (const e of this.state.endpoints) {
      for (const ip of e.ips) {
        addrOfPrefix(ip, addr);
        const info = this.resolve(addr);
        if (info?.status === 'current') inUse.set(`${info.pool}\0${ip.family}`, (inUse.get(`${info.pool}\0${ip.family}`) ?? 0) + 1);
      }
    }
    const known = this.state.endpoints.length > 0;
    for (const p of this.state.pools) {
      for (const family of [4, 6] as const) {
        const cidrs = p.cidrs.filter((c) => c.family === family);
        const allocs = this.state.allocations.filter((a) => a.pool === p.name && a.cidr.family === family);
        if (cidrs.length === 0 && allocs.length === 0) continue;
        const mask = p.maskSize[family];
        out.push({
          pool: p.name,
          state: p.state,
          family,
          totalIps: cidrs.reduce((n, c) => n + prefixSize(c), 0),
          allocatedIps: allocs.reduce((n, a) => n + prefixSize(a.cidr), 0),
          allocatedCidrs: allocs.length,
          maxNodeCidrs: mask === undefined ? 0 : cidrs.reduce((n, c) => n + 2 ** (mask - c.bits), 0),
          usedIps: known ? (inUse.get(`${p.name}\0${family}`) ?? 0) : undefined,
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
