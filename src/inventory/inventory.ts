import { endStatus, type Status } from '../attribution/classifier.js';
import { IpAddr } from '../net/ip.js';
import { addrOfPrefix, type IpamSnapshot } from '../ipam/snapshot.js';
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

/**
 * Classifies every pod address against the snapshot by the flow ends' rule
 * (attribution/classifier.ts `endStatus`, the pod's node standing for the
 * node a flow was seen on) and counts them. Pure: the same input gives the
 * same inventory; nothing is kept.
 */
export function buildInventory(input: InventoryInput): Inventory {
  const { snapshot, traffic } = input;
  const state = snapshot.state;
  const drainingPools = new Set(state.pools.filter((p) => p.state === 'draining').map((p) => p.name));
  const nodeByIp = new Map<string, string>();
  for (const a of state.nodeAddresses) nodeByIp.set(bare(a.ip.text), a.node);
  const scratch = new IpAddr();
  const pods: InventoryPod[] = [];
  for (const pod of input.pods) {
    const node = pod.node !== '' ? pod.node : (pod.nodeIp !== undefined ? nodeByIp.get(pod.nodeIp) : undefined) ?? '';
    let flows = 0;
    let drops = 0;
    const addresses: PodAddress[] = pod.ips.map((ip) => {
      const info = snapshot.resolve(addrOfPrefix(ip, scratch));
      const status: Status = pod.hostNetwork ? 'node' : endStatus(info, true, node);
      const ipText = bare(ip.text);
      const t = traffic?.get(ipText);
      if (t) {
        flows += t.flows;
        drops += t.drops;
      }
      const pool = info?.pool ?? '';
      return { ip: ipText, family: ip.family, status, pool, allocationNode: info?.node ?? '', cidr: info?.cidr ?? '', draining: drainingPools.has(pool), ...(t ? { traffic: { flows: t.flows, drops: t.drops } } : {}) };
    });
    let status: InventoryPod['status'] = addresses[0]?.status ?? 'none';
    if (!pod.hostNetwork) for (const s of WORST) if (addresses.some((a) => a.status === s)) {
      status = s;
      break;
    }
    pods.push({ pod, node, addresses, status, flows, drops });
  }
  pods.sort((a, b) => cmp(a.pod.namespace, b.pod.namespace) || cmp(a.pod.name, b.pod.name));

  const counted = new Map<string, InventoryCount>();
  let podAddresses = 0;
  for (const p of pods) {
    if (p.pod.hostNetwork) continue;
    for (const a of p.addresses) {
      podAddresses++;
      const key = `${a.status}\0${a.pool}\0${p.node}`;
      const c = counted.get(key);
      if (c) c.addresses++;
      else counted.set(key, { status: a.status, pool: a.pool, node: p.node, addresses: 1 });
    }
  }
  const order = (s: Status) => WORST_ORDER.indexOf(s);
  const counts = [...counted.values()].sort((a, b) => order(a.status) - order(b.status) || cmp(a.pool, b.pool) || cmp(a.node, b.node));

  const draining: DrainingPoolProgress[] = [];
  for (const pool of state.pools) {
    if (pool.state !== 'draining') continue;
    const families = ([4, 6] as const).filter((f) => pool.cidrs.some((c) => c.family === f) || state.allocations.some((a) => a.pool === pool.name && a.cidr.family === f) || state.former.some((a) => a.pool === pool.name && a.cidr.family === f));
    let podsLeft = 0;
    let podsOff = 0;
    for (const p of pods) {
      if (p.pod.hostNetwork || p.addresses.length === 0) continue;
      if (p.addresses.some((a) => a.pool === pool.name)) podsLeft++;
      else if (p.addresses.some((a) => families.includes(a.family)) && !p.addresses.some((a) => a.draining) && p.addresses.some((a) => a.status === 'current')) podsOff++;
    }
    const all = podsLeft + podsOff;
    draining.push({ pool: pool.name, families: [...families], podsLeft, podsOff, progress: all === 0 ? null : podsOff / all });
  }
  return { pods, counts, draining, podAddresses, trafficKnown: traffic !== undefined };
}

/** Statuses in the order counts are listed. */
const WORST_ORDER: readonly Status[] = ['current', 'wrong_node', 'stale', 'unallocated', 'out_of_pool', 'node', 'service', 'external', 'unknown'];

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
