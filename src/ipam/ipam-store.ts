import { silentLogger, type Logger } from '../log.js';
import { sharedEnds } from '../util/shared-ends.js';
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
  private loadedSource: string | undefined;
  private readonly remembered = new Map<string, FormerAllocation>();
  /** The snapshot in force's allocations by `node\0cidr`, with how many list each. */
  private readonly currentKeys = new Map<string, number>();
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

  /** Where the snapshot in force came from (a file list, `kubernetes`, `memory`, …) and when it was accepted. */
  get loaded(): { source: string; at: Date } | undefined {
    return this.loadedSource !== undefined && this.loadedAt ? { source: this.loadedSource, at: this.loadedAt } : undefined;
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
    // The allocations this state adds and drops against the snapshot in force, counted by node and CIDR (taken back if the build fails).
    const prev = this.current?.state.allocations ?? [];
    const { head, tail } = sharedEnds(prev, state.allocations);
    const come = state.allocations.slice(head, state.allocations.length - tail);
    const gone = prev.slice(head, prev.length - tail);
    this.countCurrent(come, gone);
    const released = this.released(gone);
    const merged = this.withRemembered(state, released);
    let snap: IpamSnapshot;
    try {
      snap = this.builder.build(merged, this.version + 1);
    } catch (e) {
      this.countCurrent(gone, come);
      if (e instanceof IpamError) {
        this.reject(source, e.problems);
        return undefined;
      }
      throw e;
    }
    this.commitRemembered(released, come);
    this.version++;
    this.current = snap;
    this.loadedAt = this.now();
    this.loadedSource = source;
    this.log.info('IPAM state updated', { source, version: snap.version, mode: state.mode, pools: state.pools.length, allocations: state.allocations.length, former: merged.former.length });
    for (const fn of this.listeners) fn(snap);
    return snap;
  }

  /** Counts allocations in (`come`) and out (`gone`) of `currentKeys`. */
  private countCurrent(come: readonly Allocation[], gone: readonly Allocation[]): void {
    for (const a of come) {
      const k = allocKey(a);
      this.currentKeys.set(k, (this.currentKeys.get(k) ?? 0) + 1);
    }
    for (const a of gone) {
      const k = allocKey(a);
      const n = this.currentKeys.get(k)! - 1;
      if (n === 0) this.currentKeys.delete(k);
      else this.currentKeys.set(k, n);
    }
  }

  /** Of the allocations the state dropped, those no node holds any more (counted in already). */
  private released(gone: readonly Allocation[]): FormerAllocation[] {
    const at = this.now().toISOString();
    return gone
      .filter((a) => !this.currentKeys.has(allocKey(a)))
      .map((a) => ({ node: a.node, pool: a.pool, cidr: a.cidr, releasedAt: at, reason: `no longer allocated to ${a.node}`, origin: a.origin }));
  }

  /** The state plus every remembered or newly released allocation that is not current again. */
  private withRemembered(state: IpamState, released: FormerAllocation[]): IpamState {
    if (this.remembered.size === 0 && released.length === 0) return state;
    const former = [...state.former];
    const have = new Set<string>();
    for (const f of former) have.add(allocKey(f));
    const pools = new Set(state.pools.map((p) => p.name));
    for (const list of [this.remembered.values(), released]) {
      for (const f of list) {
        const k = allocKey(f);
        // Skip what is current again, already former, or whose pool is gone.
        if (this.currentKeys.has(k) || have.has(k) || !pools.has(f.pool)) continue;
        former.push(f);
        have.add(k);
      }
    }
    return { ...state, former };
  }

  /** Remembers what was released; forgets what is current again (only what this state added can be). */
  private commitRemembered(released: FormerAllocation[], come: readonly Allocation[]): void {
    for (const f of released) {
      const k = allocKey(f);
      if (!this.remembered.has(k)) this.remembered.set(k, f);
    }
    for (const a of come) this.remembered.delete(allocKey(a));
    while (this.remembered.size > this.maxRemembered) this.remembered.delete(this.remembered.keys().next().value!);
  }
}
