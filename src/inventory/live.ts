import type { SourceItem } from '../ipam/from-objects.js';
import type { IpamProblem } from '../ipam/model.js';
import type { IpamSnapshot } from '../ipam/snapshot.js';
import type { ReadModel } from '../read-model/read-model.js';
import { InventoryBuilder, type AddressTraffic, type Inventory, type InventoryPod } from './inventory.js';
import { PodParseCache, podsFromObjects, type PodRecord } from './pod.js';
import { buildRestartPlan, type RestartPlan } from './restart-plan.js';

/** How long one inventory is reused (a scrape's gauges and an API call share it), ms. */
const REUSE_MS = 1000;

export interface LiveInventoryDeps {
  /** Every source's Pods and CiliumEndpoints (IpamSources.podObjects): the same array while nothing changed. */
  pods: () => readonly SourceItem[];
  /** The IPAM snapshot in force. */
  snapshot: () => IpamSnapshot | undefined;
  /** The flows' read side: the traffic of the addresses it tracks. */
  read: ReadModel;
  /** Milliseconds clock. Default Date.now. */
  now?: () => number;
  /**
   * Per-node mode: only the pods on this node count (the Pods watch already
   * lists only them; this also drops other nodes' CiliumEndpoint-only pods and
   * pods of --ipam-file), so per-node exporters add up. Default: every pod.
   */
  nodeName?: string;
}

/**
 * The pod inventory and restart plan of the running exporter: the pods the
 * sources hold (the Pods watch, or `kubectl get pods` in an --ipam-file),
 * classified against the snapshot in force, with the traffic the pipeline
 * tracks per anomalous address (flows in the window, drops since first seen).
 * The inventory is built on demand and reused for a second. A change costs
 * what it touched: each Pod or CiliumEndpoint object is parsed once (the
 * sources hand the same objects over until they change), each pod keeps its
 * classification while its record, its addresses' answers (the snapshot
 * builder keeps unchanged answers as the same objects), the draining pools
 * and its traffic stay the same (InventoryBuilder), and the plan is made
 * again only when its pods changed.
 */
export class LiveInventory {
  private parsed: { items: readonly SourceItem[]; pods: PodRecord[]; problems: IpamProblem[] } | undefined;
  private built: { at: number; snapshot: IpamSnapshot; pods: PodRecord[]; inventory: Inventory; plan: RestartPlan | undefined } | undefined;
  private readonly now: () => number;
  private readonly parseCache = new PodParseCache();
  private readonly builder = new InventoryBuilder();
  /** The last plan and the pods it was made from. */
  private lastPlan: { pods: readonly InventoryPod[]; trafficKnown: boolean; plan: RestartPlan } | undefined;

  constructor(private readonly deps: LiveInventoryDeps) {
    this.now = deps.now ?? Date.now;
  }

  private podRecords(): { pods: PodRecord[]; problems: IpamProblem[] } {
    const items = this.deps.pods();
    if (this.parsed?.items !== items) {
      const before = this.parseCache.parsed;
      this.parsed = { items, ...podsFromObjects(items, this.parseCache) };
      this.lastParsed = this.parseCache.parsed - before;
    }
    return { pods: this.mine(this.parsed.pods), problems: this.parsed.problems };
  }

  private filtered: { from: PodRecord[]; addresses: unknown; pods: PodRecord[] } | undefined;

  /**
   * Per-node mode: the pods on this node, a CiliumEndpoint-only pod (which
   * names its node by IP) by the node addresses of the state in force.
   * Made again only when the pods or the node addresses change.
   */
  private mine(all: PodRecord[]): PodRecord[] {
    const node = this.deps.nodeName;
    if (node === undefined) return all;
    const addresses = this.deps.snapshot()?.state.nodeAddresses;
    if (this.filtered?.from === all && this.filtered.addresses === addresses) return this.filtered.pods;
    const ips = new Set((addresses ?? []).filter((a) => a.node === node).map((a) => a.ip.text.slice(0, a.ip.text.lastIndexOf('/'))));
    const pods = all.filter((p) => p.node === node || (p.node === '' && p.nodeIp !== undefined && ips.has(p.nodeIp)));
    this.filtered = { from: all, addresses, pods };
    return pods;
  }

  private lastParsed = 0;

  /**
   * Work counters (tests, the benchmark): objects parsed in the last change
   * of the pods and in all; pods classified in the last build and in all;
   * builds; plans made.
   */
  get stats(): { lastParsed: number; parsed: number; lastClassified: number; classified: number; builds: number; plans: number } {
    const b = this.builder.stats;
    return { lastParsed: this.lastParsed, parsed: this.parseCache.parsed, lastClassified: b.lastClassified, classified: b.classified, builds: b.builds, plans: this.plans };
  }

  private plans = 0;

  /** The pods known now (Pods, and CiliumEndpoints of pods without one). */
  pods(): readonly PodRecord[] {
    return this.podRecords().pods;
  }

  /** Problems with the pod objects (a pod without an address, an owner of an unknown kind, …). */
  problems(): IpamProblem[] {
    return this.podRecords().problems;
  }

  /**
   * The inventory now, or undefined before the first IPAM state or without
   * pods. Each address's traffic: flows in the window (rounded) and drops
   * since it was first seen, for the addresses the pipeline tracks (the
   * anomalous ones); an address it does not track carries none.
   */
  inventory(): Inventory | undefined {
    return this.build()?.inventory;
  }

  /** The restart plan now (pods with a stale, unallocated, wrong_node or out_of_pool address), or undefined as for inventory(). */
  plan(): RestartPlan | undefined {
    const b = this.build();
    if (!b) return undefined;
    if (b.plan === undefined) {
      // The plan reads only the pods it takes, in the inventory's order: the builder keeps that list.
      const pods = this.builder.planPods();
      const last = this.lastPlan;
      if (last && last.trafficKnown === b.inventory.trafficKnown && sameItems(last.pods, pods)) b.plan = last.plan;
      else {
        b.plan = buildRestartPlan({ ...b.inventory, pods: [...pods] });
        this.plans++;
        this.lastPlan = { pods, trafficKnown: b.inventory.trafficKnown, plan: b.plan };
      }
    }
    return b.plan;
  }

  private build(): LiveInventory['built'] {
    const snapshot = this.deps.snapshot();
    const { pods } = this.podRecords();
    if (!snapshot || pods.length === 0) return undefined;
    const now = this.now();
    const b = this.built;
    if (b && b.snapshot === snapshot && b.pods === pods && now - b.at < REUSE_MS) return b;
    this.built = { at: now, snapshot, pods, inventory: this.builder.build({ snapshot, pods, traffic: this.traffic() }), plan: undefined };
    return this.built;
  }

  private traffic(): Map<string, AddressTraffic> {
    const out = new Map<string, AddressTraffic>();
    for (const r of this.deps.read.anomalies().rows) {
      out.set(r.ip, { flows: Math.round(r.flowsInWindow), drops: r.byVerdict.DROPPED ?? 0 });
    }
    return out;
  }
}

const sameItems = <T>(a: readonly T[], b: readonly T[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);
