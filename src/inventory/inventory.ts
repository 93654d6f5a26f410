import { endStatus, type Status } from '../attribution/classifier.js';
import { IpAddr } from '../net/ip.js';
import { addrOfPrefix, type AddressInfo, type IpamSnapshot } from '../ipam/snapshot.js';
import type { IpamState } from '../ipam/model.js';
import type { PodRecord } from './pod.js';

/**
 * A pod address's status: a flow end's statuses (attribution/classifier.ts
 * `endStatus`, the one rule), where a host-network pod's addresses are `node`
 * whatever the IPAM answer is (they are the node's, never counted as pod addresses).
 */
export type PodAddressStatus = Status;

/** Traffic of one pod address in the window the caller looked at. */
export interface AddressTraffic {
  flows: number;
  drops: number;
}

/** One address of one pod, classified. */
export interface PodAddress {
  /** The bare address: `10.244.1.5`, `fd00:10:244:1::5`. */
  ip: string;
  family: 4 | 6;
  status: PodAddressStatus;
  /** The pool of the allocation (or former allocation, pool CIDR) that decided it; '' for none. */
  pool: string;
  /** The node that allocation belongs to ('' for none): for `wrong_node`, not the pod's node. */
  allocationNode: string;
  /** The CIDR that decided it ('' for none). */
  cidr: string;
  /** Whether `pool` is being drained. */
  draining: boolean;
  /** Its traffic, when the caller gave traffic; undefined: idle in what the caller saw (or no traffic known). */
  traffic?: AddressTraffic;
}

/** A pod of the inventory with its classified addresses. */
export interface InventoryPod {
  pod: PodRecord;
  /** The node it runs on: `spec.nodeName`, or, for an endpoint-only record, the node owning its node IP ('' unknown). */
  node: string;
  addresses: PodAddress[];
  /**
   * The pod's worst address status, in the order stale, wrong_node,
   * unallocated, out_of_pool, then the first address's; `node` for a host-network
   * pod; `none` for a pod without any address.
   */
  status: PodAddressStatus | 'none';
  /** Sums over its addresses; zeros without traffic. */
  flows: number;
  drops: number;
}

/** Pod addresses (host-network pods excluded) per status, pool and node (the pod's node). */
export interface InventoryCount {
  status: PodAddressStatus;
  pool: string;
  node: string;
  addresses: number;
}

/**
 * The migration off one draining pool, from the inventory alone (idle pods
 * count as much as talking ones). Pods are pod-network pods with at least
 * one address.
 * - `podsLeft`: pods with an address in this pool now.
 * - `podsOff`: pods with an address of a family this pool serves, none in
 *   any draining pool, and at least one `current` address: pods that are (or
 *   were born) on the new pools.
 * - `progress` = podsOff / (podsOff + podsLeft): the fraction of the pods of
 *   this pool's families that no longer need to move, assuming (as a whole
 *   cluster migration does) that every such pod was on the draining pools
 *   when the migration began; 1 when no pod is left; null when there is no
 *   pod of its families at all ("nothing known" is not "done").
 */
export interface DrainingPoolProgress {
  pool: string;
  families: Array<4 | 6>;
  podsLeft: number;
  podsOff: number;
  progress: number | null;
}

export interface Inventory {
  /** Every pod, sorted by namespace, name. */
  pods: InventoryPod[];
  /** Sorted by status (statuses' order), pool, node. */
  counts: InventoryCount[];
  /** Every pool the snapshot says is draining, in the snapshot's order. */
  draining: DrainingPoolProgress[];
  /** Pod addresses counted (host-network pods and pods without address excluded). */
  podAddresses: number;
  /** Whether traffic was given (else every pod's flows and drops are 0 because nothing was looked at). */
  trafficKnown: boolean;
}

export interface InventoryInput {
  snapshot: IpamSnapshot;
  pods: readonly PodRecord[];
  /** Traffic per bare address text (`10.244.1.5`), e.g. from the flows of a window; absent: unknown. */
  traffic?: ReadonlyMap<string, AddressTraffic>;
}

/** The order of a pod's worst status (lower is worse). */
const WORST: readonly Status[] = ['stale', 'wrong_node', 'unallocated', 'out_of_pool'];

/** `10.244.1.5/32` → `10.244.1.5`. */
const bare = (text: string): string => text.slice(0, text.lastIndexOf('/'));

/** Family bits of a pod's addresses. */
const FAMILY_BIT = { 4: 1, 6: 2 } as const;

/**
 * Classifies every pod address against the snapshot by the flow ends' rule
 * (attribution/classifier.ts `endStatus`, the pod's node standing for the
 * node a flow was seen on) and counts them. Pure: the same input gives the
 * same inventory; nothing is kept.
 */
export function buildInventory(input: InventoryInput): Inventory {
  return new InventoryBuilder().build(input);
}

/** One (status, pool, node) count, kept across builds; `n` is this build's. */
interface CountCell {
  status: Status;
  pool: string;
  node: string;
  n: number;
}

/** What the builder keeps of one pod record between builds. */
interface Entry {
  inv: InventoryPod;
  /** Each address's answer, as `snapshot.resolve` gave it (the identity the reuse compares). */
  infos: Array<AddressInfo | undefined>;
  /** The draining-pool set it was classified with. */
  drainingEpoch: number;
  /** Each address's count cell (none for a host-network pod). */
  cells: CountCell[];
  /** For draining progress: families of its addresses, whether one is current, its draining pools. */
  families: number;
  hasCurrent: boolean;
  drainingPools: string[];
  /** The build it was last part of. */
  gen: number;
}

/** Work counters of an InventoryBuilder (for tests and the benchmark). */
export interface InventoryBuilderStats {
  builds: number;
  /** Pods classified (not reused) in the last build, and since the builder was made. */
  lastClassified: number;
  classified: number;
  /** Whether the last build sorted every pod (else it merged the new ones into the last order). */
  lastFullSort: boolean;
}

/**
 * buildInventory with memory, for a caller that builds again and again (the
 * live inventory): a pod record (the same object) whose every address
 * resolves to the same AddressInfo object as before, with the same draining
 * pools, node and traffic, keeps its InventoryPod (the same object); the
 * sorted order is the last one with the pods that left taken out and the new
 * ones merged in; counts and draining progress are summed again from what
 * each pod keeps (no string key per address). Each build gives exactly what
 * buildInventory gives for the same input.
 */
export class InventoryBuilder {
  /** Every record of the last build (a Map, not a WeakMap: 100,000 ephemerons cost every GC more than the sweep below). */
  private readonly entries = new Map<PodRecord, Entry>();
  private gen = 0;
  private sorted: Entry[] = [];
  /** Whether two pods of the last sorted order had the same namespace and name (merging would then not keep input order). */
  private tied = false;
  private draining: ReadonlySet<string> = new Set();
  private drainingEpoch = 0;
  private readonly cellIndex = new Map<Status, Map<string, Map<string, CountCell>>>();
  private cellOrder: CountCell[] = [];
  private cellsAdded = false;
  private nodeIps: { of: IpamState['nodeAddresses']; map: Map<string, string> } | undefined;
  private families: { of: IpamState; list: Array<{ pool: string; families: Array<4 | 6>; bits: number }> } | undefined;
  private planList: InventoryPod[] = [];
  readonly stats: InventoryBuilderStats = { builds: 0, lastClassified: 0, classified: 0, lastFullSort: false };

  /** The last build's pods that the restart plan takes (pod-network pods whose status is stale, wrong_node, unallocated or out_of_pool), in its order. */
  planPods(): readonly InventoryPod[] {
    return this.planList;
  }

  build(input: InventoryInput): Inventory {
    const { snapshot, traffic } = input;
    const state = snapshot.state;
    const gen = ++this.gen;
    this.stats.builds++;
    this.updateDraining(state);
    const scratch = new IpAddr();
    let classified = 0;
    let unique = true;
    let kept = 0;
    const fresh: Entry[] = [];
    for (const pod of input.pods) {
      let e = this.entries.get(pod);
      if (e !== undefined && e.gen === gen) {
        unique = false; // the same record twice: sort everything as buildInventory does
        continue;
      }
      const wasLast = e !== undefined && e.gen === gen - 1;
      const node = pod.node !== '' ? pod.node : pod.nodeIp !== undefined ? (this.nodeByIp(state).get(pod.nodeIp) ?? '') : '';
      if (e === undefined || !this.reusable(e, pod, node, snapshot, traffic, scratch)) {
        const made = this.classify(pod, node, snapshot, traffic, scratch);
        classified++;
        if (e === undefined) this.entries.set(pod, (e = made));
        else Object.assign(e, made);
      }
      e.gen = gen;
      if (wasLast) kept++;
      else fresh.push(e);
    }
    this.stats.lastClassified = classified;
    this.stats.classified += classified;
    const last = this.sorted;
    const entries = this.order(input.pods, fresh, unique, kept, gen);
    // The records that left: forget them (every entry of the last build not seen in this one).
    if (this.entries.size > entries.length) for (const e of last) if (e.gen !== gen) this.entries.delete(e.inv.pod);

    // Counts: each address adds one to the cell it keeps.
    for (const c of this.cellOrder) c.n = 0;
    let podAddresses = 0;
    for (const e of entries) {
      for (const c of e.cells) c.n++;
      podAddresses += e.cells.length;
    }
    if (this.cellsAdded) {
      const order = (s: Status) => WORST_ORDER.indexOf(s);
      this.cellOrder.sort((a, b) => order(a.status) - order(b.status) || cmp(a.pool, b.pool) || cmp(a.node, b.node));
      this.cellsAdded = false;
    }
    const counts: InventoryCount[] = [];
    for (const c of this.cellOrder) if (c.n > 0) counts.push({ status: c.status, pool: c.pool, node: c.node, addresses: c.n });

    // Draining progress.
    const pools = this.poolFamilies(state);
    const left = new Array<number>(pools.length).fill(0);
    const off = new Array<number>(pools.length).fill(0);
    const planList: InventoryPod[] = [];
    for (const e of entries) {
      const p = e.inv;
      if (!p.pod.hostNetwork && (p.status === 'stale' || p.status === 'wrong_node' || p.status === 'unallocated' || p.status === 'out_of_pool')) planList.push(p);
      if (p.pod.hostNetwork || p.addresses.length === 0 || pools.length === 0) continue;
      if (e.drainingPools.length > 0) {
        for (let i = 0; i < pools.length; i++) if (e.drainingPools.includes(pools[i]!.pool)) left[i]!++;
      } else if (e.hasCurrent) {
        for (let i = 0; i < pools.length; i++) if ((e.families & pools[i]!.bits) !== 0) off[i]!++;
      }
    }
    this.planList = planList;
    const draining: DrainingPoolProgress[] = pools.map((p, i) => {
      const all = left[i]! + off[i]!;
      return { pool: p.pool, families: [...p.families], podsLeft: left[i]!, podsOff: off[i]!, progress: all === 0 ? null : off[i]! / all };
    });
    return { pods: entries.map((e) => e.inv), counts, draining, podAddresses, trafficKnown: traffic !== undefined };
  }

  /** The sorted entries of this build: the last order without the pods that left, the new ones merged in. */
  private order(input: readonly PodRecord[], fresh: Entry[], unique: boolean, kept: number, gen: number): Entry[] {
    let out: Entry[] | undefined;
    if (unique && !this.tied && kept > 0 && fresh.length < kept) {
      fresh.sort(byKey);
      const old: Entry[] = [];
      for (const e of this.sorted) if (e.gen === gen) old.push(e);
      out = merge(old, fresh);
    }
    const full = out === undefined;
    if (out === undefined) {
      out = input.map((p) => this.entries.get(p)!);
      out.sort(byKey);
    }
    this.stats.lastFullSort = full;
    this.tied = false;
    if (full) for (let i = 1; i < out.length && !this.tied; i++) this.tied = byKey(out[i - 1]!, out[i]!) === 0;
    this.sorted = out;
    return out;
  }

  /** Whether the entry's InventoryPod still holds: same node, same answer object per address, same draining pools, same traffic. */
  private reusable(e: Entry, pod: PodRecord, node: string, snapshot: IpamSnapshot, traffic: InventoryInput['traffic'], scratch: IpAddr): boolean {
    if (e.drainingEpoch !== this.drainingEpoch || e.inv.node !== node || e.inv.pod !== pod) return false;
    const addrs = e.inv.addresses;
    for (let i = 0; i < pod.ips.length; i++) {
      if (snapshot.resolve(addrOfPrefix(pod.ips[i]!, scratch)) !== e.infos[i]) return false;
      const was = addrs[i]!.traffic;
      const t = traffic?.get(addrs[i]!.ip);
      if (t === undefined ? was !== undefined : was === undefined || was.flows !== t.flows || was.drops !== t.drops) return false;
    }
    return true;
  }

  /** A pod classified afresh. */
  private classify(pod: PodRecord, node: string, snapshot: IpamSnapshot, traffic: InventoryInput['traffic'], scratch: IpAddr): Entry {
    let flows = 0;
    let drops = 0;
    const infos: Array<AddressInfo | undefined> = [];
    const cells: CountCell[] = [];
    let families = 0;
    let hasCurrent = false;
    const drainingPools: string[] = [];
    const addresses: PodAddress[] = pod.ips.map((ip) => {
      const info = snapshot.resolve(addrOfPrefix(ip, scratch));
      infos.push(info);
      const status: Status = pod.hostNetwork ? 'node' : endStatus(info, true, node);
      const ipText = bare(ip.text);
      const t = traffic?.get(ipText);
      if (t) {
        flows += t.flows;
        drops += t.drops;
      }
      const pool = info?.pool ?? '';
      const draining = this.draining.has(pool);
      if (!pod.hostNetwork) {
        cells.push(this.cell(status, pool, node));
        families |= FAMILY_BIT[ip.family];
        if (status === 'current') hasCurrent = true;
        if (draining && !drainingPools.includes(pool)) drainingPools.push(pool);
      }
      return { ip: ipText, family: ip.family, status, pool, allocationNode: info?.node ?? '', cidr: info?.cidr ?? '', draining, ...(t ? { traffic: { flows: t.flows, drops: t.drops } } : {}) };
    });
    let status: InventoryPod['status'] = addresses[0]?.status ?? 'none';
    if (!pod.hostNetwork) for (const s of WORST) if (addresses.some((a) => a.status === s)) {
      status = s;
      break;
    }
    // Most pods are in no draining pool: they share one empty list.
    return { inv: { pod, node, addresses, status, flows, drops }, infos, drainingEpoch: this.drainingEpoch, cells, families, hasCurrent, drainingPools: drainingPools.length === 0 ? NO_POOLS : drainingPools, gen: 0 };
  }

  private cell(status: Status, pool: string, node: string): CountCell {
    let byPool = this.cellIndex.get(status);
    if (!byPool) this.cellIndex.set(status, (byPool = new Map()));
    let byNode = byPool.get(pool);
    if (!byNode) byPool.set(pool, (byNode = new Map()));
    let c = byNode.get(node);
    if (!c) {
      byNode.set(node, (c = { status, pool, node, n: 0 }));
      this.cellOrder.push(c);
      this.cellsAdded = true;
    }
    return c;
  }

  /** A new draining-pool set invalidates every pod's `draining` flags. */
  private updateDraining(state: IpamState): void {
    const now = new Set(state.pools.filter((p) => p.state === 'draining').map((p) => p.name));
    if (now.size === this.draining.size && [...now].every((p) => this.draining.has(p))) return;
    this.draining = now;
    this.drainingEpoch++;
  }

  /** Node names by node address (bare text), made once per node-address list. */
  private nodeByIp(state: IpamState): Map<string, string> {
    if (this.nodeIps?.of !== state.nodeAddresses) {
      const map = new Map<string, string>();
      for (const a of state.nodeAddresses) map.set(bare(a.ip.text), a.node);
      this.nodeIps = { of: state.nodeAddresses, map };
    }
    return this.nodeIps.map;
  }

  /** Every draining pool with the families it serves (its CIDRs, allocations and former allocations), once per state. */
  private poolFamilies(state: IpamState): Array<{ pool: string; families: Array<4 | 6>; bits: number }> {
    if (this.families?.of !== state) {
      const list: Array<{ pool: string; families: Array<4 | 6>; bits: number }> = [];
      for (const pool of state.pools) {
        if (pool.state !== 'draining') continue;
        const families = ([4, 6] as const).filter((f) => pool.cidrs.some((c) => c.family === f) || state.allocations.some((a) => a.pool === pool.name && a.cidr.family === f) || state.former.some((a) => a.pool === pool.name && a.cidr.family === f));
        list.push({ pool: pool.name, families, bits: families.reduce((b, f) => b | FAMILY_BIT[f], 0) });
      }
      this.families = { of: state, list };
    }
    return this.families.list;
  }
}

const NO_POOLS: string[] = [];

const byKey = (a: Entry, b: Entry): number => cmp(a.inv.pod.namespace, b.inv.pod.namespace) || cmp(a.inv.pod.name, b.inv.pod.name);

/** Two sorted lists merged; undefined when two entries have the same key (then only a stable sort of the input keeps its order). */
function merge(a: Entry[], b: Entry[]): Entry[] | undefined {
  for (let j = 1; j < b.length; j++) if (byKey(b[j - 1]!, b[j]!) === 0) return undefined;
  const out: Entry[] = new Array<Entry>(a.length + b.length);
  let i = 0;
  let j = 0;
  let k = 0;
  while (i < a.length && j < b.length) {
    const c = byKey(a[i]!, b[j]!);
    if (c === 0) return undefined;
    out[k++] = c < 0 ? a[i++]! : b[j++]!;
  }
  while (i < a.length) out[k++] = a[i++]!;
  while (j < b.length) out[k++] = b[j++]!;
  return out;
}

/** Statuses in the order counts are listed. */
const WORST_ORDER: readonly Status[] = ['current', 'wrong_node', 'stale', 'unallocated', 'out_of_pool', 'node', 'service', 'external', 'unknown'];

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
