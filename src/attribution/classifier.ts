import { FAMILY_NONE } from '../net/ip.js';
import type { EndpointRecord, FlowRecord } from '../ingest/flow-record.js';
import type { AddressInfo, IpamSnapshot } from '../ipam/snapshot.js';
import { IdTable } from '../util/id-table.js';
import { MAX_POOL_IDS } from './pool-slots.js';

/**
 * The status of one side of a flow. The first rule that holds wins:
 * service, node, current (wrong_node when the flow shows the address local to
 * another node), stale, unallocated, out_of_pool (a pod outside every range),
 * external, unknown (no IP layer).
 */
export const statuses = ['service', 'node', 'current', 'wrong_node', 'stale', 'unallocated', 'out_of_pool', 'external', 'unknown'] as const;
export type Status = (typeof statuses)[number];

/** The statuses that make an endpoint an offender. */
export const anomalousStatuses: ReadonlySet<Status> = new Set(['stale', 'unallocated', 'wrong_node', 'out_of_pool']);

export const SIDE_SOURCE = 0;
export const SIDE_DESTINATION = 1;
export const sides = ['source', 'destination'] as const;

/**
 * The one rule that turns an IPAM answer into the status of a pod or flow
 * end; the flow classifier (per answer, precomputed) and the pod inventory
 * both use it:
 * - no rule applies: `out_of_pool` for a pod address, `external` otherwise;
 * - a `current` address seen on a node (`seenOn`: the node a flow was
 *   observed local to, or the pod's `spec.nodeName`) other than the node its
 *   allocation belongs to: `wrong_node`; `seenOn` '' means not known;
 * - otherwise the answer's own status (service, node, current, stale, unallocated).
 * No allocation: a flow may call it.
 */
export function endStatus(info: AddressInfo | undefined, isPod: boolean, seenOn: string): Status {
  if (info === undefined) return isPod ? 'out_of_pool' : 'external';
  if (info.status === 'current' && seenOn !== '' && seenOn !== info.node) return 'wrong_node';
  return info.status;
}

// Hubble's trace observation points that place an endpoint on the observing node.
const TO_ENDPOINT = 101;
const FROM_ENDPOINT = 5;

/**
 * One possible answer for a side: status, pool and node, shared by every flow
 * that gets it. Built once per IPAM snapshot; consumers hang their per-answer
 * caches (metric series ids) on it, so the per-flow path only indexes arrays.
 */
export class Attribution {
  /** Per-consumer caches, indexed by slot; -1 until first used. */
  readonly series: Int32Array;

  constructor(
    readonly status: Status,
    readonly pool: string,
    readonly node: string,
    /** Dense id of the pool ('' gets 0) in the classifier's pool registry. */
    readonly poolId: number,
    readonly info: AddressInfo | undefined,
    /** True when the pool is being drained. */
    readonly draining: boolean,
    seriesSlots: number,
  ) {
    this.series = new Int32Array(seriesSlots).fill(-1);
  }

  get anomalous(): boolean {
    return anomalousStatuses.has(this.status);
  }
}

/**
 * Classifies both sides of a flow against the IPAM snapshot in force. Every
 * possible answer is precomputed when the snapshot changes; per flow this is
 * one trie walk per side and a few comparisons, with no allocation.
 */
export class Classifier {
  private snap: IpamSnapshot | undefined;
  private byInfo: Attribution[] = [];
  private wrongNodeByInfo: Array<Attribution | undefined> = [];
  private outOfPool!: Attribution;
  private external!: Attribution;
  private unknown!: Attribution;
  /** Pool name → stable small id across snapshots ('' is 0), at most MAX_POOL_IDS (see pool-slots.ts). */
  private readonly poolIds: IdTable<string>;
  /** Relay node name (maybe `cluster/node`) → bare node name. */
  private readonly bareNames = new Map<string, string>();

  constructor(
    /** `Attribution.series` slots of every answer (SeriesSlots.seal()). Default 0. */
    private readonly seriesSlots = 0,
    /** Pool ids handed out at most. Default and upper bound MAX_POOL_IDS (what the per-flow keys hold). */
    maxPoolIds = MAX_POOL_IDS,
  ) {
    if (!(maxPoolIds >= 1 && maxPoolIds <= MAX_POOL_IDS)) throw new RangeError(`maxPoolIds must be 1..${MAX_POOL_IDS}, got ${maxPoolIds}`);
    this.poolIds = new IdTable<string>(maxPoolIds, 'pool ids (MAX_POOL_IDS, the per-flow key layout)');
    this.poolIds.idOf('');
    this.rebuild(undefined);
  }

  get snapshot(): IpamSnapshot | undefined {
    return this.snap;
  }

  /** Names of pools by id (index = id). */
  poolNames(): readonly string[] {
    return this.poolIds.all();
  }

  /** The id of a pool seen in some snapshot, or undefined (never creates one: the read side asks this). */
  findPoolId(name: string): number | undefined {
    return this.poolIds.find(name);
  }

  /**
   * Swaps the snapshot; every answer is rebuilt once here. All or nothing: a
   * snapshot that would take the pool ids past their limit throws, naming
   * the pool, and the snapshot in force stays.
   */
  setSnapshot(snap: IpamSnapshot): void {
    // Answers the last snapshot had too (same epoch: a prefix of the new answers) bring no new name.
    const from = this.extends(snap) ? this.snap!.infos.length : 0;
    const names = new Set<string>();
    for (const p of snap.state.pools) names.add(p.name);
    for (let i = from; i < snap.infos.length; i++) names.add(snap.infos[i]!.pool);
    let fresh = 0;
    for (const n of names) if (this.poolIds.find(n) === undefined) fresh++;
    if (this.poolIds.size + fresh > this.poolIds.limit) {
      throw new RangeError(
        `IPAM snapshot version ${snap.version} brings ${fresh} new pool name(s) to the ${this.poolIds.size - 1} seen since start; ` +
          `the per-flow keys hold ${this.poolIds.limit - 1} pools (MAX_POOL_IDS): the snapshot in force stays. Restart the exporter to forget pools that are gone.`,
      );
    }
    this.rebuild(snap, from);
    this.snap = snap;
  }

  /** Whether `snap` continues the snapshot in force: same epoch and the same pools draining, so every answer's attribution stays. */
  private extends(snap: IpamSnapshot): boolean {
    const prev = this.snap;
    if (!prev || prev.epoch !== snap.epoch) return false;
    const draining = (s: IpamSnapshot) =>
      s.state.pools
        .filter((p) => p.state === 'draining')
        .map((p) => p.name)
        .sort()
        .join('\0');
    return draining(prev) === draining(snap);
  }

  /**
   * Builds the attribution of every answer from index `from` on, appended;
   * those before it are the snapshot in force's (see `extends`), kept with
   * their series caches. A change costs the answers it added.
   */
  private rebuild(snap: IpamSnapshot | undefined, from = 0): void {
    const draining = new Set(snap?.state.pools.filter((p) => p.state === 'draining').map((p) => p.name));
    const mk = (status: Status, info?: AddressInfo) => {
      const pool = info?.pool ?? '';
      return new Attribution(status, pool, info?.node ?? '', this.poolIds.idOf(pool), info, draining.has(pool), this.seriesSlots);
    };
    for (const p of snap?.state.pools ?? []) this.poolIds.idOf(p.name);
    const infos = snap?.infos ?? [];
    const byInfo = from > 0 ? this.byInfo : [];
    const wrongNode = from > 0 ? this.wrongNodeByInfo : [];
    for (let i = from; i < infos.length; i++) {
      const info = infos[i]!;
      byInfo.push(mk(info.status, info));
      wrongNode.push(info.status === 'current' ? mk('wrong_node', info) : undefined);
    }
    this.byInfo = byInfo;
    this.wrongNodeByInfo = wrongNode;
    if (from === 0) {
      this.outOfPool = mk('out_of_pool');
      this.external = mk('external');
      this.unknown = mk('unknown');
    }
  }

  /** `cluster/node` → `node`, cached so that no flow slices a string. */
  bareNodeName(name: string): string {
    let bare = this.bareNames.get(name);
    if (bare === undefined) {
      const slash = name.indexOf('/');
      bare = slash < 0 ? name : name.slice(slash + 1);
      if (this.bareNames.size > 100_000) this.bareNames.clear();
      this.bareNames.set(name, bare);
    }
    return bare;
  }

  /** The answer for one side of `rec`. */
  classify(rec: FlowRecord, side: typeof SIDE_SOURCE | typeof SIDE_DESTINATION): Attribution {
    if (!rec.hasIp) return this.unknown;
    const ep: EndpointRecord = side === SIDE_SOURCE ? rec.source : rec.destination;
    if (ep.ip.family === FAMILY_NONE) return this.unknown;
    const at = this.snap === undefined ? -1 : this.snap.resolveIndex(ep.ip);
    if (at < 0) return endStatus(undefined, ep.isPod, '') === 'out_of_pool' ? this.outOfPool : this.external;
    const answer = this.byInfo[at]!;
    if (answer.status === 'current') {
      const local = side === SIDE_SOURCE ? rec.observationPoint === FROM_ENDPOINT : rec.observationPoint === TO_ENDPOINT;
      if (local && endStatus(answer.info, true, this.bareNodeName(rec.nodeName)) === 'wrong_node') return this.wrongNodeByInfo[at]!;
    }
    return answer;
  }
}
