import { formatIp, type IpAddr } from '../net/ip.js';
import { Verdict } from '../gen/flow/flow_pb.js';
import type { Attribution, Status } from './classifier.js';
import { SlidingCount, addressKey } from './sliding-count.js';

/** One address seen with an anomalous status: what the API lists and the gauge exports. */
export class Offender {
  readonly window = new SlidingCount();
  /** Flows by `flow.Verdict` number. */
  readonly byVerdict = new Float64Array(16);
  total = 0;
  status: Status;
  pool: string;
  node: string;
  namespace = '';
  pod = '';

  constructor(
    readonly ip: string,
    attr: Attribution,
    readonly firstSeen: number,
    public lastSeen: number,
  ) {
    this.status = attr.status;
    this.pool = attr.pool;
    this.node = attr.node;
  }

  /** The offender as the API and the offline report show it. */
  summary() {
    return {
      status: this.status,
      ip: this.ip,
      pod: this.pod,
      namespace: this.namespace,
      node: this.node,
      pool: this.pool,
      flows: this.total,
      byVerdict: this.verdicts(),
      firstSeen: new Date(this.firstSeen * 1000).toISOString(),
      lastSeen: new Date(this.lastSeen * 1000).toISOString(),
    };
  }

  verdicts(): Record<string, number> {
    const out: Record<string, number> = {};
    this.byVerdict.forEach((n, v) => {
      if (n > 0) out[Verdict[v] ?? String(v)] = n;
    });
    return out;
  }
}

export interface OffenderQuery {
  status?: string;
  pool?: string;
  node?: string;
  namespace?: string;
}

/**
 * Tracks anomalous endpoints by address, bounded: past `capacity` entries the
 * least active are dropped in a batch, so memory stays flat however many
 * distinct addresses misbehave.
 */
export class OffenderTracker {
  private readonly byKey = new Map<number, Offender>();
  /** Entries dropped to stay within capacity. */
  evicted = 0;

  constructor(
    /** Sliding window, seconds. */
    readonly windowSec: number,
    /** Addresses tracked at most. */
    readonly capacity = 10_000,
  ) {}

  get size(): number {
    return this.byKey.size;
  }

  /** Called for an anomalous side of a flow. Allocates only for an address not seen before. */
  record(attr: Attribution, ip: IpAddr, namespace: string, pod: string, verdict: number, nowSec: number): void {
    const key = addressKey(ip.family, ip.v4, ip.v6);
    let o = this.byKey.get(key);
    if (o === undefined) {
      o = new Offender(formatIp(ip), attr, nowSec, nowSec);
      this.byKey.set(key, o);
      if (this.byKey.size > this.capacity * 1.25) this.shrink(nowSec);
    } else if (o.status !== attr.status || o.node !== attr.node || o.pool !== attr.pool) {
      o.status = attr.status;
      o.pool = attr.pool;
      o.node = attr.node;
    }
    if (pod !== '' && o.pod !== pod) {
      o.pod = pod;
      o.namespace = namespace;
    }
    if (nowSec > o.lastSeen) o.lastSeen = nowSec;
    o.window.add(Math.floor(nowSec / this.windowSec));
    o.byVerdict[verdict & 15]! += 1;
    o.total++;
  }

  private shrink(nowSec: number): void {
    const all = [...this.byKey].sort((a, b) => b[1].window.value(nowSec, this.windowSec) - a[1].window.value(nowSec, this.windowSec) || b[1].lastSeen - a[1].lastSeen);
    for (const [k] of all.slice(this.capacity)) {
      this.byKey.delete(k);
      this.evicted++;
    }
  }

  /** Entries seen within the window, most active first. */
  active(nowSec: number, limit = Infinity, q: OffenderQuery = {}): Array<{ o: Offender; flows: number }> {
    const out: Array<{ o: Offender; flows: number }> = [];
    for (const o of this.byKey.values()) {
      if (o.lastSeen < nowSec - this.windowSec) continue;
      if ((q.status && o.status !== q.status) || (q.pool && o.pool !== q.pool) || (q.node && o.node !== q.node) || (q.namespace && o.namespace !== q.namespace)) continue;
      out.push({ o, flows: o.window.value(nowSec, this.windowSec) });
    }
    out.sort((a, b) => b.flows - a.flows || b.o.lastSeen - a.o.lastSeen);
    return out.length > limit ? out.slice(0, limit) : out;
  }

  /** Every tracked entry matching the query, active or not, most recent first. */
  all(q: OffenderQuery = {}): Offender[] {
    return [...this.byKey.values()]
      .filter((o) => !((q.status && o.status !== q.status) || (q.pool && o.pool !== q.pool) || (q.node && o.node !== q.node) || (q.namespace && o.namespace !== q.namespace)))
      .sort((a, b) => b.lastSeen - a.lastSeen);
  }
}
