import { IpAddr, formatIp } from '../net/ip.js';
import { VERDICT_SLOTS, verdictSlotLabel } from './verdict-slot.js';
import type { Attribution, Status } from './classifier.js';
import { addressKey } from '../util/hash.js';
import { SlidingCount } from './sliding-count.js';

/** One address seen with an anomalous status: what the API lists and the gauge exports. */
export class Offender {
  readonly window = new SlidingCount();
  /** Flows by verdict slot (verdictSlot). */
  readonly byVerdict = new Float64Array(VERDICT_SLOTS);
  total = 0;
  status: Status;
  pool: string;
  node: string;
  namespace = '';
  pod = '';

  /** The address; its text is made when first asked for (most entries are never listed). */
  readonly addr = new IpAddr();
  private text: string | undefined;

  constructor(
    ip: IpAddr,
    attr: Attribution,
    public firstSeen: number,
    public lastSeen: number,
  ) {
    this.addr.copyFrom(ip);
    this.status = attr.status;
    this.pool = attr.pool;
    this.node = attr.node;
  }

  get ip(): string {
    return (this.text ??= formatIp(this.addr));
  }

  /** Makes an evicted entry a new one (the tracker reuses them rather than churn the heap). */
  reset(ip: IpAddr, attr: Attribution, nowSec: number): void {
    this.addr.copyFrom(ip);
    this.text = undefined;
    this.status = attr.status;
    this.pool = attr.pool;
    this.node = attr.node;
    this.namespace = '';
    this.pod = '';
    this.firstSeen = nowSec;
    this.lastSeen = nowSec;
    this.total = 0;
    this.byVerdict.fill(0);
    this.window.clear();
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
      if (n > 0) out[verdictSlotLabel(v)] = n;
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
 * distinct addresses misbehave. Dropped entries are reused for new
 * addresses, and a batch sorts a reused array of scores, so that a churn of
 * addresses costs no garbage beyond the new addresses' text.
 */
export class OffenderTracker {
  private readonly byKey = new Map<number, Offender>();
  private readonly spare: Offender[] = [];
  private scores = new Float64Array(0);
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
      // Make room first, so that the newcomer is not dropped before its first flow counts.
      if (this.byKey.size >= this.capacity * 1.25) this.shrink(nowSec);
      o = this.spare.pop();
      if (o === undefined) o = new Offender(ip, attr, nowSec, nowSec);
      else o.reset(ip, attr, nowSec);
      this.byKey.set(key, o);
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
    o.byVerdict[verdict]! += 1; // a verdictSlot(), 0..VERDICT_SLOTS-1
    o.total++;
  }

  /**
   * Keeps the `capacity` most active entries (flows in the window); among
   * equally active ones at the cut, the least recently seen go first.
   */
  private shrink(nowSec: number): void {
    const n = this.byKey.size;
    if (this.scores.length < n) this.scores = new Float64Array(n * 2);
    const scores = this.scores.subarray(0, n);
    let i = 0;
    for (const o of this.byKey.values()) scores[i++] = o.window.value(nowSec, this.windowSec);
    scores.sort();
    const cut = scores[n - this.capacity]!; // the capacity-th highest: lower goes
    let over = n - this.capacity;
    this.byKey.forEach((o, k) => {
      if (o.window.value(nowSec, this.windowSec) < cut) {
        this.drop(k, o);
        over--;
      }
    });
    if (over > 0) {
      // Ties at the cut: the least recently seen first.
      const tied: Array<[number, Offender]> = [];
      for (const e of this.byKey) if (e[1].window.value(nowSec, this.windowSec) === cut) tied.push(e);
      tied.sort((a, b) => a[1].lastSeen - b[1].lastSeen);
      for (let t = 0; t < over; t++) this.drop(tied[t]![0], tied[t]![1]);
    }
  }

  private drop(key: number, o: Offender): void {
    this.byKey.delete(key);
    this.spare.push(o);
    this.evicted++;
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
