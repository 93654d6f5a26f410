import { silentLogger, type Logger } from '../log.js';
import { formatProblem, IpamError, type Allocation, type FormerAllocation, type IpamProblem, type IpamState } from './model.js';
import { SnapshotBuilder, type IpamSnapshot } from './snapshot.js';

export interface IpamStoreOptions {
  logger?: Logger;
  /** Former allocations remembered across updates (oldest forgotten first). Default 10000. */
  maxRemembered?: number;
  now?: () => Date;
}

export interface IpamErrorRecord {
  /** The source that sent the rejected update: a file list, `kubernetes`, … */
  source: string;
  at: Date;
  problems: IpamProblem[];
  /** What stays in force: `keeping the IPAM state loaded at <ISO time> (version N)`, or that there is none yet. */
  kept: string;
  /** One line for people: the first problem, how many more, and `kept`. */
  message: string;
}

/** Said when an update is rejected before any state was accepted. */
export const NO_STATE_YET = 'there is no IPAM state yet: flows are not classified until a valid one loads';

/** `node\0cidr` of an allocation, made once per allocation object (sources hand the same objects over while they do not change). */
const keys = new WeakMap<Allocation | FormerAllocation, string>();
function allocKey(a: Allocation | FormerAllocation): string {
  let k = keys.get(a);
  if (k === undefined) {
    k = `${a.node}\0${a.cidr.text}`;
    keys.set(a, k);
  }
  return k;
}

/**
 * Holds the IPAM snapshot in force and swaps it whole on every accepted
 * change. Remembers allocations that disappear between updates (a CiliumNode
 * re-created with new podCIDRs) as former allocations of their old owner, so
 * traffic from them can be called stale. A rejected update leaves the last
 * good snapshot in force (or none, before the first) and is counted.
 */
export class IpamStore {
  private current: IpamSnapshot | undefined;
  private version = 0;
  /** When the snapshot in force was accepted. */
  private loadedAt: Date | undefined;
  private readonly remembered = new Map<string, FormerAllocation>();
  /** Builds each snapshot from the last: an update costs what changed. */
  private readonly builder = new SnapshotBuilder();
  private readonly listeners = new Set<(s: IpamSnapshot) => void>();
  private readonly log: Logger;
  private readonly maxRemembered: number;
  private readonly now: () => Date;
  /** Rejected updates since start. */
  errorCount = 0;
  lastError: IpamErrorRecord | undefined;

  constructor(opts: IpamStoreOptions = {}) {
    this.log = opts.logger ?? silentLogger;
    this.maxRemembered = opts.maxRemembered ?? 10_000;
    this.now = opts.now ?? (() => new Date());
  }

  /** The store's clock (its `now` option): the sources stamp what they translate with it too. */
  time(): Date {
    return this.now();
  }

  get snapshot(): IpamSnapshot | undefined {
    return this.current;
  }

  /** Calls `fn` with every new snapshot. Returns an unsubscribe function. */
  onChange(fn: (s: IpamSnapshot) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Records a rejected input (a YAML error, a bad CIDR) without touching the snapshot. */
  reject(source: string, problems: IpamProblem[]): void {
    this.errorCount++;
    const kept = this.current && this.loadedAt ? `keeping the IPAM state loaded at ${this.loadedAt.toISOString()} (version ${this.current.version})` : NO_STATE_YET;
    const first = problems[0];
    const what = first ? `${first.where}: ${first.field === '(file)' ? '' : `${first.field}: `}${first.message}` : source;
    const message = `${what}${problems.length > 1 ? ` (and ${problems.length - 1} more problem(s))` : ''}; ${kept}`;
    this.lastError = { source, at: this.now(), problems, kept, message };
    this.log.error(`IPAM update rejected; ${kept}`, { source, problems: problems.length, first: first ? formatProblem(first) : '' });
  }

  /**
   * Offers a new state. Returns the new snapshot, or undefined when the state
   * was rejected (then `lastError` says why).
   */
  update(state: IpamState, source: string, problems: IpamProblem[] = []): IpamSnapshot | undefined {
    if (problems.length > 0) {
      this.reject(source, problems);
      return undefined;
    }
    const nowCurrent = new Set<string>();
    for (const a of state.allocations) nowCurrent.add(allocKey(a));
    const released = this.released(nowCurrent);
    const merged = this.withRemembered(state, nowCurrent, released);
    let snap: IpamSnapshot;
    try {
      snap = this.builder.build(merged, this.version + 1);
    } catch (e) {
      if (e instanceof IpamError) {
        this.reject(source, e.problems);
        return undefined;
      }
      throw e;
    }
    this.commitRemembered(nowCurrent, released);
    this.version++;
    this.current = snap;
    this.loadedAt = this.now();
    this.log.info('IPAM state updated', { source, version: snap.version, mode: state.mode, pools: state.pools.length, allocations: state.allocations.length, former: merged.former.length });
    for (const fn of this.listeners) fn(snap);
    return snap;
  }

  /** Allocations of the snapshot in force that `state` no longer has. */
  private released(nowCurrent: Set<string>): FormerAllocation[] {
    const at = this.now().toISOString();
    return (this.current?.state.allocations ?? [])
      .filter((a) => !nowCurrent.has(allocKey(a)))
      .map((a) => ({ node: a.node, pool: a.pool, cidr: a.cidr, releasedAt: at, reason: `no longer allocated to ${a.node}`, origin: a.origin }));
  }

  /** The state plus every remembered or newly released allocation that is not current again. */
  private withRemembered(state: IpamState, nowCurrent: Set<string>, released: FormerAllocation[]): IpamState {
    const former = [...state.former];
    const have = new Set<string>();
    for (const f of former) have.add(allocKey(f));
    for (const f of [...this.remembered.values(), ...released]) {
      const k = allocKey(f);
      // Skip what is current again, already former, or whose pool is gone.
      if (nowCurrent.has(k) || have.has(k) || !state.pools.some((p) => p.name === f.pool)) continue;
      former.push(f);
      have.add(k);
    }
    return { ...state, former };
  }

  private commitRemembered(nowCurrent: Set<string>, released: FormerAllocation[]): void {
    for (const f of released) {
      const k = allocKey(f);
      if (!this.remembered.has(k)) this.remembered.set(k, f);
    }
    for (const k of [...this.remembered.keys()]) if (nowCurrent.has(k)) this.remembered.delete(k);
    while (this.remembered.size > this.maxRemembered) this.remembered.delete(this.remembered.keys().next().value!);
  }
}
