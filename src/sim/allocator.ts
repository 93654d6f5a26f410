import { addressBits, nthAddress, parsePrefix, prefixSize, type Prefix } from '../net/prefix.js';
import { podsPerNodeCidr } from '../ipam/snapshot.js';

/**
 * Carves node CIDRs of one mask size out of a pool's CIDRs, in address order,
 * as Cilium's cluster-pool operator does. One family per allocator. Used by
 * the simulator (scenarios and the migration demo) and its capacity checks.
 */
export class CidrAllocator {
  private readonly blocks: Array<{ cidr: Prefix; count: number }>;
  private readonly taken = new Set<string>();
  private cursor = 0;

  constructor(
    readonly poolCidrs: Prefix[],
    readonly maskSize: number,
  ) {
    if (poolCidrs.length === 0) throw new RangeError('allocator needs at least one pool CIDR');
    const family = poolCidrs[0]!.family;
    if (poolCidrs.some((c) => c.family !== family)) throw new RangeError('allocator CIDRs must be of one family');
    if (!Number.isInteger(maskSize) || maskSize > addressBits(family)) throw new RangeError(`mask size /${maskSize} is not an IPv${family} prefix length`);
    for (const c of poolCidrs) if (maskSize < c.bits) throw new RangeError(`mask size /${maskSize} is larger than pool CIDR ${c.text}`);
    if (podsPerNodeCidr(family, maskSize) < 1) throw new RangeError(`mask size /${maskSize} leaves no pod address (use /29 or larger)`);
    this.blocks = poolCidrs.map((cidr) => ({ cidr, count: 2 ** (maskSize - cidr.bits) }));
  }

  get family(): 4 | 6 {
    return this.poolCidrs[0]!.family;
  }

  /** Node CIDRs the pool holds in all. */
  get capacity(): number {
    return this.blocks.reduce((n, b) => n + b.count, 0);
  }

  get allocated(): number {
    return this.taken.size;
  }

  /** Pod addresses per node CIDR (first and last are reserved). */
  get podsPerNode(): number {
    return podsPerNodeCidr(this.family, this.maskSize);
  }

  private nth(i: number): Prefix {
    let k = i;
    for (const b of this.blocks) {
      if (k < b.count) return parsePrefix(`${nthAddress(b.cidr, k * 2 ** (addressBits(this.family) - this.maskSize))}/${this.maskSize}`);
      k -= b.count;
    }
    throw new RangeError(`node CIDR index ${i} out of range`);
  }

  /** The next free node CIDR, or undefined when the pool is exhausted. */
  allocate(): Prefix | undefined {
    const cap = this.capacity;
    for (let tried = 0; tried < cap && tried < 1_000_000; tried++) {
      const p = this.nth(this.cursor);
      this.cursor = (this.cursor + 1) % cap;
      if (!this.taken.has(p.text)) {
        this.taken.add(p.text);
        return p;
      }
    }
    return undefined;
  }

  /** Marks a CIDR as in use (one a node already holds). */
  claim(p: Prefix): void {
    this.taken.add(p.text);
  }

  release(p: Prefix): void {
    this.taken.delete(p.text);
  }
}

/** How many nodes and pods a pool can hold at a mask size. */
export function poolCapacity(cidrs: string[], maskSize: number): { nodes: number; podsPerNode: number; pods: number; addresses: number } {
  const a = new CidrAllocator(cidrs.map(parsePrefix), maskSize);
  return { nodes: a.capacity, podsPerNode: a.podsPerNode, pods: a.capacity * a.podsPerNode, addresses: a.poolCidrs.reduce((n, c) => n + prefixSize(c), 0) };
}
