import type { IpAddr } from '../net/ip.js';
import { addressKey } from '../util/hash.js';
import type { Attribution, Status } from './classifier.js';
import { PerNode } from './per-node.js';

/** (Holding node, address) pairs tracked at most; past it new pairs wait until old ones leave the window. */
export const MAX_LOCAL_SIGHTINGS = 250_000;

/** One anomalous address seen as a local endpoint of one node. */
class Sighting {
  constructor(
    /** The latest answer for the address (status, pool, allocation node). */
    public attr: Attribution,
    public namespace: string,
    public lastSeen: number,
  ) {}
}

export interface LocalAddressRow {
  status: Status;
  pool: string;
  node: string;
  namespace: string;
  addresses: number;
}

/**
 * hubble_ipam_anomalous_addresses: anomalous addresses seen as a local
 * endpoint (on the node that holds them) within the window, once per
 * (holding node, address) pair, so per-node exporters add up to the Relay
 * exporter. Unlike the offender tracker (a top-K by activity, for the
 * offenders table) nothing here is evicted for being quiet: a pair stays until
 * it leaves the window, so the count is exact up to MAX_LOCAL_SIGHTINGS pairs
 * in one window (then new pairs are not counted, and `dropped` says how many).
 * Per flow: two Map lookups (the node's map is remembered for a run of one
 * node's flows) and field updates; allocation only for a new pair.
 */
export class LocalAddressTracker {
  private readonly byNode = new PerNode(() => new Map<number, Sighting>());
  private pairs = 0;
  /** New pairs not tracked because MAX_LOCAL_SIGHTINGS were in the window. */
  dropped = 0;

  constructor(
    /** Window, seconds. */
    readonly windowSec: number,
    /** Pairs tracked at most. */
    readonly capacity = MAX_LOCAL_SIGHTINGS,
  ) {}

  /** Pairs tracked now (some may have left the window since the last count). */
  get size(): number {
    return this.pairs;
  }

  record(nodeId: number, ip: IpAddr, attr: Attribution, namespace: string, nowSec: number): void {
    const m = this.byNode.of(nodeId);
    const key = addressKey(ip.family, ip.v4, ip.v6);
    const s = m.get(key);
    if (s === undefined) {
      if (this.pairs >= this.capacity) {
        this.dropped++;
        return;
      }
      m.set(key, new Sighting(attr, namespace, nowSec));
      this.pairs++;
      return;
    }
    s.attr = attr;
    if (namespace !== '') s.namespace = namespace;
    if (nowSec > s.lastSeen) s.lastSeen = nowSec;
  }

  /** The pairs in the window by status, pool, node and namespace; pairs that left it are forgotten. */
  counts(nowSec: number): LocalAddressRow[] {
    const oldest = nowSec - this.windowSec;
    const rows = new Map<string, LocalAddressRow>();
    for (const [nodeId, m] of this.byNode.entries()) {
      for (const [key, s] of m) {
        if (s.lastSeen < oldest) {
          m.delete(key);
          this.pairs--;
          continue;
        }
        const a = s.attr;
        const k = `${a.status}\0${a.pool}\0${a.node}\0${s.namespace}`;
        const row = rows.get(k);
        if (row) row.addresses++;
        else rows.set(k, { status: a.status, pool: a.pool, node: a.node, namespace: s.namespace, addresses: 1 });
      }
      if (m.size === 0) this.byNode.delete(nodeId);
    }
    return [...rows.values()];
  }
}
