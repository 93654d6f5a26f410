import type { SourceItem } from '../ipam/from-objects.js';
import type { IpamProblem } from '../ipam/model.js';
import type { IpamSnapshot } from '../ipam/snapshot.js';
import type { ReadModel } from '../read-model/read-model.js';
import { buildInventory, type AddressTraffic, type Inventory } from './inventory.js';
import { podsFromObjects, type PodRecord } from './pod.js';
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
}

/**
 * The pod inventory and restart plan of the running exporter: the pods the
 * sources hold (the Pods watch, or `kubectl get pods` in an --ipam-file),
 * classified against the snapshot in force, with the traffic the pipeline
 * tracks per anomalous address (flows in the window, drops since first seen).
 * Pods are parsed again only when the sources' pods change; the inventory is
 * built on demand and reused for a second.
 */
export class LiveInventory {
  private parsed: { items: readonly SourceItem[]; pods: PodRecord[]; problems: IpamProblem[] } | undefined;
  private built: { at: number; snapshot: IpamSnapshot; pods: PodRecord[]; inventory: Inventory; plan: RestartPlan | undefined } | undefined;
  private readonly now: () => number;

  constructor(private readonly deps: LiveInventoryDeps) {
    this.now = deps.now ?? Date.now;
  }

  private podRecords(): { pods: PodRecord[]; problems: IpamProblem[] } {
    const items = this.deps.pods();
    if (this.parsed?.items !== items) this.parsed = { items, ...podsFromObjects([...items]) };
    return this.parsed;
  }

  /** Whether any pod is known: the inventory answers, else migration progress comes from traffic alone. */
  known(): boolean {
    return this.podRecords().pods.length > 0;
  }

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
    b.plan ??= buildRestartPlan(b.inventory);
    return b.plan;
  }

  private build(): LiveInventory['built'] {
    const snapshot = this.deps.snapshot();
    const { pods } = this.podRecords();
    if (!snapshot || pods.length === 0) return undefined;
    const now = this.now();
    const b = this.built;
    if (b && b.snapshot === snapshot && b.pods === pods && now - b.at < REUSE_MS) return b;
    this.built = { at: now, snapshot, pods, inventory: buildInventory({ snapshot, pods, traffic: this.traffic() }), plan: undefined };
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
