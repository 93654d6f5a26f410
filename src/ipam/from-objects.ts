import { FAMILY_V4, IpAddr, formatV4, formatV6, parseIpInto } from '../net/ip.js';
import { hostPrefix, parsePrefix, prefixContains, type Prefix } from '../net/prefix.js';
import type { IpamConfig } from './ipam-config.js';
import { describeObject, type KubeObject } from './kube-object.js';
import {
  emptyState,
  ipamModes,
  type Allocation,
  type EndpointInfo,
  type FormerAllocation,
  type IpamMode,
  type IpamProblem,
  type IpamState,
  type NodeAddress,
  type NodeAddressType,
  type Pool,
  type ServiceCidr,
} from './model.js';

/** cilium-config key naming multi-pool's default pool, and its default (Cilium's `ipam-default-ip-pool` option). */
const DEFAULT_POOL_KEY = 'ipam-default-ip-pool';
const DEFAULT_POOL = 'default';

/** Annotation on a CiliumPodIPPool that marks it as being migrated away from. */
export const DRAINING_ANNOTATION = 'hubble-ipam-exporter.io/draining';

export interface SourceItem {
  obj: KubeObject;
  /** The file it came from, or `kubernetes`. */
  where: string;
}

export interface TranslateInput {
  /** Objects each with where it came from (files); translated before `groups`. */
  objects?: SourceItem[];
  /** Objects by source, without a wrapper per object (the live watch, memory). */
  groups?: ObjectGroup[];
  configs?: Array<{ config: IpamConfig; where: string }>;
  /** Service CIDRs from flags. */
  serviceCidrs?: string[];
  /** Time stamped on former allocations first seen in this input (a new translator: all of them). Default: now. */
  now?: Date;
  /** Parsed values kept across calls (see PrefixCache). Default: a new one per call. */
  cache?: PrefixCache;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string' && x !== '') : []);
const get = (o: unknown, ...path: string[]): unknown => path.reduce<unknown>((cur, k) => (isObj(cur) ? cur[k] : undefined), o);

/** Flattens `List` objects (kubectl's `get -o yaml` of several things). */
export function flattenItems(items: SourceItem[]): SourceItem[] {
  const out: SourceItem[] = [];
  for (const it of items) {
    if (Array.isArray(it.obj.items)) out.push(...flattenItems(it.obj.items.map((obj) => ({ obj, where: it.where }))));
    else out.push(it);
  }
  return out;
}

/**
 * Parsed CIDRs by their text, kept across rebuilds by a caller that
 * translates the same objects again and again: a Prefix is immutable, so a
 * cached one is the same answer. Failures are kept as their message, so a bad
 * value is reported on every rebuild. Addresses are not kept: parsing one
 * costs less than a Map lookup and insert of its text (which the 40,000 of a
 * 5,000-node cluster paid on every cold translation), and an IpamTranslator
 * parses only the objects that changed anyway.
 */
export class PrefixCache {
  readonly cidrs = new Map<string, Prefix | string>();
  /** Entries looked up since the last `trim()`. */
  private used = 0;

  touch(): void {
    this.used++;
  }

  /** Forgets everything when the cache holds more than twice what the last build used (values that left the cluster). */
  trim(): void {
    if (this.cidrs.size > 2 * this.used + 1024) this.cidrs.clear();
    this.used = 0;
  }
}

const allocKey = (node: string, cidr: string) => `${node}\0${cidr}`;

/**
 * The state being built, its pools, and what our config adds: the config's
 * entries are checked against everything the objects gave, through indexes
 * built only when a config has entries of its own (then `${node}\0${cidr}` keys).
 */
class Builder {
  readonly problems: IpamProblem[] = [];
  readonly state = emptyState();
  private readonly poolByName = new Map<string, Pool>();
  private indexes: { addrs: Set<string>; allocs: Set<string>; former: Set<string> } | undefined;
  private owned = false;
  /** Hands back an equal entry of the previous translation instead of `e` (ignoring a `releasedAt` stamped now when `stamped`). */
  reuse: <T extends { origin: string }>(e: T, stamped: boolean) => T = (e) => e;

  constructor(
    readonly nowIso: string,
    private readonly cache: PrefixCache,
  ) {}

  cidr(text: unknown, where: string, field: string): Prefix | undefined {
    return cidrOf(this.cache, text, where, field, this.problems);
  }

  ip(text: unknown, where: string, field: string): Prefix | undefined {
    return ipOf(this.cache, text, where, field, this.problems);
  }

  /** The first pool of that name. */
  findPool(name: string): Pool | undefined {
    return this.poolByName.get(name);
  }

  /** Adds a pool (even one whose name is taken: validation reports the duplicate). */
  addPool(p: Pool): void {
    this.state.pools.push(p);
    if (!this.poolByName.has(p.name)) this.poolByName.set(p.name, p);
  }

  pool(name: string, origin: string): Pool {
    let p = this.poolByName.get(name);
    if (!p) {
      p = { name, cidrs: [], maskSize: {}, state: 'active', origin };
      this.addPool(p);
    }
    return p;
  }

  /** The state's entry lists are the translator's kept ones (never written) until an entry is added here: then copies. */
  private own(): void {
    if (this.owned) return;
    this.owned = true;
    const s = this.state;
    s.nodeAddresses = s.nodeAddresses.slice();
    s.allocations = s.allocations.slice();
    s.former = s.former.slice();
  }

  private index(): { addrs: Set<string>; allocs: Set<string>; former: Set<string> } {
    if (!this.indexes) {
      const s = this.state;
      this.indexes = {
        addrs: new Set(s.nodeAddresses.map((a) => allocKey(a.node, a.ip.text))),
        allocs: new Set(s.allocations.map((a) => allocKey(a.node, a.cidr.text))),
        former: new Set(s.former.map((f) => allocKey(f.node, f.cidr.text))),
      };
    }
    return this.indexes;
  }

  nodeAddress(node: string, type: NodeAddressType, ip: unknown, where: string, field: string): void {
    const p = this.ip(ip, where, field);
    if (!p) return;
    const key = allocKey(node, p.text);
    const keys = this.index().addrs;
    if (keys.has(key)) return;
    keys.add(key);
    this.own();
    this.state.nodeAddresses.push(this.reuse({ node, type, ip: p, origin: `${where} ${field}` }, false));
  }

  allocate(a: Allocation): void {
    const key = allocKey(a.node, a.cidr.text);
    const keys = this.index().allocs;
    if (keys.has(key)) return;
    keys.add(key);
    this.own();
    this.state.allocations.push(this.reuse(a, false));
  }

  former(f: FormerAllocation, stamped = false): void {
    const key = allocKey(f.node, f.cidr.text);
    const keys = this.index().former;
    if (keys.has(key)) return;
    keys.add(key);
    this.own();
    this.state.former.push(this.reuse(f, stamped));
  }

  /** The pool whose CIDRs contain `cidr`, if any (pools are few: a scan of them). */
  poolContaining(cidr: Prefix): Pool | undefined {
    return this.state.pools.find((p) => p.cidrs.some((c) => prefixContains(c, cidr)));
  }
}

function nodePodCidrs(o: KubeObject): Array<[string, string]> {
  const spec = o.spec;
  const list: Array<[string, string]> = strings(get(spec, 'podCIDRs')).map((c, i) => [c, fieldAt(NODE_POD_CIDRS_FIELDS, i, (k) => `spec.podCIDRs[${k}]`)]);
  const single = get(spec, 'podCIDR');
  if (list.length === 0 && typeof single === 'string' && single !== '') list.push([single, 'spec.podCIDR']);
  const ann = o.metadata?.annotations ?? {};
  for (const key of ['network.cilium.io/ipv4-pod-cidr', 'network.cilium.io/ipv6-pod-cidr']) {
    const v = ann[key];
    if (v && !list.some(([c]) => c === v)) list.push([v, `metadata.annotations["${key}"]`]);
  }
  return list;
}

/** Decides the IPAM mode: our config, then cilium-config's `ipam`, then what the objects show. */
function decideMode(cns: readonly CnDerived[], nodes: readonly NodeDerived[], poolCount: number, config: SourceItem | undefined, configs: TranslateInput['configs'], b: Builder): { mode: IpamMode; source: string } {
  const declared = configs?.find((c) => c.config.mode !== undefined);
  if (declared) return { mode: declared.config.mode!, source: `${declared.where} mode` };
  const fromConfigMap = config?.obj.data?.ipam;
  if (fromConfigMap !== undefined) {
    const mode = fromConfigMap === 'cluster-pool-v2beta' ? 'cluster-pool' : fromConfigMap;
    if ((ipamModes as readonly string[]).includes(mode)) return { mode: mode as IpamMode, source: 'cilium-config ipam' };
    b.problems.push({ where: `${describeObject(config!.obj)} (${config!.where})`, field: 'data.ipam', value: fromConfigMap, message: `unknown IPAM mode (known: ${ipamModes.join(', ')})` });
  }
  if (poolCount > 0 || cns.some((c) => c.hasAllocatedArray)) {
    return { mode: 'multi-pool', source: 'inferred: CiliumPodIPPools or CiliumNode spec.ipam.pools.allocated present' };
  }
  if (cns.some((c) => c.ipPoolNonEmpty)) {
    return { mode: 'crd', source: 'inferred: CiliumNode spec.ipam.pool lists addresses' };
  }
  const nodeCidrs = new Map(nodes.map((n) => [n.node, (n.podKey ??= [...n.rawCidrs].sort().join(','))]));
  const differs = cns.some((c) => {
    const cn = (c.podKey ??= [...c.podCidrRaw].sort().join(','));
    const n = nodeCidrs.get(c.node);
    return cn !== '' && n !== undefined && n !== '' && cn !== n;
  });
  if (differs) return { mode: 'cluster-pool', source: "inferred: CiliumNode podCIDRs differ from their Node's (the Node's are legacy)" };
  const anyCiliumCidrs = cns.some((c) => c.podCidrRaw.length > 0);
  if (!anyCiliumCidrs && nodes.some((n) => n.rawCidrs.length > 0)) return { mode: 'kubernetes', source: 'inferred: only Node podCIDRs present' };
  if (anyCiliumCidrs && nodes.length === 0) return { mode: 'cluster-pool', source: 'inferred: CiliumNode podCIDRs and no Nodes to compare them with' };
  return { mode: 'kubernetes', source: 'inferred: CiliumNode podCIDRs match their Node podCIDRs' };
}

/** The pools the mode, cilium-config and the CiliumPodIPPools give. */
function buildPools(b: Builder, mode: IpamMode, config: SourceItem | undefined, pools: readonly SourceItem[]): void {
  if (mode === 'kubernetes') b.pool('kubernetes', 'kubernetes host-scope IPAM (Node.spec.podCIDRs)');
  if (mode === 'cluster-pool') {
    const cm = config;
    const pool = b.pool('default', cm ? `${describeObject(cm.obj)} (${cm.where})` : 'cluster-pool IPAM');
    if (cm) {
      const where = pool.origin;
      for (const [fam, key] of [[4, 'cluster-pool-ipv4-cidr'], [6, 'cluster-pool-ipv6-cidr']] as const) {
        const text = cm.obj.data?.[key];
        if (!text) continue;
        text.split(/[\s,]+/).filter(Boolean).forEach((c, i) => {
          const pfx = b.cidr(c, where, `data["${key}"][${i}]`);
          if (pfx) pool.cidrs.push(pfx);
        });
        const maskKey = `cluster-pool-ipv${fam}-mask-size`;
        const maskText = cm.obj.data?.[maskKey] ?? (fam === 4 ? '24' : '112');
        const mask = Number(maskText);
        if (!/^\d+$/.test(maskText)) b.problems.push({ where, field: `data["${maskKey}"]`, value: maskText, message: 'expected a prefix length' });
        else pool.maskSize[fam] = mask;
      }
    }
  }
  for (const it of pools) {
    const name = it.obj.metadata?.name ?? '';
    const where = `${describeObject(it.obj)} (${it.where})`;
    const pool = b.pool(name, where);
    pool.origin = where;
    if (it.obj.metadata?.annotations?.[DRAINING_ANNOTATION] === 'true') pool.state = 'draining';
    for (const fam of [4, 6] as const) {
      const spec = get(it.obj.spec, `ipv${fam}`);
      if (spec === undefined) continue;
      const cidrs = get(spec, 'cidrs');
      if (!Array.isArray(cidrs)) {
        b.problems.push({ where, field: `spec.ipv${fam}.cidrs`, value: JSON.stringify(cidrs ?? null), message: 'expected a list of CIDRs' });
        continue;
      }
      cidrs.forEach((c, i) => {
        const pfx = b.cidr(c, where, `spec.ipv${fam}.cidrs[${i}]`);
        if (pfx) pool.cidrs.push(pfx);
      });
      const mask = get(spec, 'maskSize');
      if (mask !== undefined) {
        if (typeof mask !== 'number') b.problems.push({ where, field: `spec.ipv${fam}.maskSize`, value: String(mask), message: 'expected a prefix length' });
        else pool.maskSize[fam] = mask;
      }
    }
  }
  if (['crd', 'eni', 'azure', 'alibabacloud'].includes(mode)) b.pool(mode, `${mode} IPAM (CiliumNode.spec.ipam.pool)`);

}

/** Objects of one source that all come from the same place (`kubernetes`, `memory`, a file). */
export interface ObjectGroup {
  where: string;
  objects: readonly KubeObject[];
}

type PoolEffect = readonly [name: string, origin: string, draining: boolean];

/** What a translation of one node's objects found per node name, for the objects of that name translated after them. */
interface NameState {
  addrKeys: TextSet;
  /** Current allocations by CIDR text. */
  allocs: TextMap<Allocation>;
  formerKeys: TextSet;
  /** The podCIDRs of the last CiliumNode of that name. */
  podCidrs: readonly CidrIn[] | undefined;
}
const newNameState = (): NameState => ({ addrKeys: new TextSet(), allocs: new TextMap(), formerKeys: new TextSet(), podCidrs: undefined });
const hasPodCidr = (list: readonly CidrIn[] | undefined, text: string): boolean => list !== undefined && list.some((c) => c.pfx.text === text);

/** Texts a set or map holds as a plain array before it turns into a hashed one (a node name holds a handful; an ENI node's pool a few hundred). */
const SMALL_TEXT_MAX = 16;

/** A set of texts: an array while small (cheaper to make than a Set, which a translation made four of per node). */
class TextSet {
  private list: string[] | undefined;
  private set: Set<string> | undefined;

  has(k: string): boolean {
    if (this.set !== undefined) return this.set.has(k);
    const l = this.list;
    if (l !== undefined) for (let i = 0; i < l.length; i++) if (l[i] === k) return true;
    return false;
  }

  add(k: string): void {
    if (this.set !== undefined) this.set.add(k);
    else if (!this.has(k)) {
      const l = (this.list ??= []);
      l.push(k);
      if (l.length > SMALL_TEXT_MAX) {
        this.set = new Set(l);
        this.list = undefined;
      }
    }
  }
}

/** A map from texts: two arrays while small, a Map beyond SMALL_TEXT_MAX. */
class TextMap<V> {
  private keys: string[] | undefined;
  private vals: V[] | undefined;
  private map: Map<string, V> | undefined;

  private at(k: string): number {
    const l = this.keys;
    if (l !== undefined) for (let i = 0; i < l.length; i++) if (l[i] === k) return i;
    return -1;
  }

  has(k: string): boolean {
    return this.map !== undefined ? this.map.has(k) : this.at(k) >= 0;
  }

  get(k: string): V | undefined {
    if (this.map !== undefined) return this.map.get(k);
    const i = this.at(k);
    return i >= 0 ? this.vals![i] : undefined;
  }

  set(k: string, v: V): void {
    if (this.map !== undefined) {
      this.map.set(k, v);
      return;
    }
    const i = this.at(k);
    if (i >= 0) {
      this.vals![i] = v;
      return;
    }
    const keys = (this.keys ??= []);
    const vals = (this.vals ??= []);
    keys.push(k);
    vals.push(v);
    if (keys.length > SMALL_TEXT_MAX) {
      this.map = new Map(keys.map((key, j) => [key, vals[j]!]));
      this.keys = this.vals = undefined;
    }
  }

  delete(k: string): void {
    if (this.map !== undefined) {
      this.map.delete(k);
      return;
    }
    const i = this.at(k);
    if (i >= 0) {
      this.keys!.splice(i, 1);
      this.vals!.splice(i, 1);
    }
  }
}

/** Per node name, across translations. */
interface NameSlot {
  gen: number;
  cns: number;
  nodes: number;
  /** This translation's CiliumNode-phase state of the name (undefined without a CiliumNode). */
  state: NameState | undefined;
  /** Shared by the Nodes of a name held by several Node objects. */
  nodeAcc: NameState | undefined;
  prevCn: Out | undefined;
  prevNode: Out | undefined;
}

/** The finished entries of one object under one context. */
interface Out {
  node: string;
  addrs: NodeAddress[];
  allocs: Allocation[];
  former: FormerAllocation[];
  problems: IpamProblem[];
  effects: PoolEffect[];
  used: number | undefined;
  mode: IpamMode;
  /** The pools' signature the entries depend on (undefined: they do not). */
  poolSig: string | undefined;
  /** CiliumNode: the name's state it built; Node: the CiliumNode state it was built against. */
  state: NameState | undefined;
  /** Node: CIDR texts looked up in the allocations of every node, with the answer. */
  checks: Array<[string, boolean]>;
  cacheable: boolean;
  usedGen: number;
  pos: number;
}
/** The empty list every out starts with in its rarely used fields (replaced, never pushed into: see pushTo). */
const NONE: never[] = [];
Object.freeze(NONE);
const newOut = (node: string, mode: IpamMode): Out => ({ node, addrs: NONE, allocs: [], former: NONE, problems: NONE, effects: NONE, used: undefined, mode, poolSig: undefined, state: undefined, checks: NONE, cacheable: true, usedGen: 0, pos: 0 });

/** One of the state's lists: the last one copied, the changed objects' entries written over at their offsets (same counts as before). */
function patched<T>(lastList: readonly T[], offsets: Int32Array, changed: readonly number[], outAt: (i: number) => Out, of: (o: Out) => readonly T[]): { list: T[]; offsets: Int32Array } {
  let same = true;
  for (let c = 0; c < changed.length && same; c++) {
    const entries = of(outAt(changed[c]!));
    const o = offsets[changed[c]!]!;
    for (let k = 0; k < entries.length; k++) if (lastList[o + k] !== entries[k]) same = false;
  }
  // The same entries: the last list itself (published lists are frozen, so sharing one is safe).
  if (same) return { list: lastList as T[], offsets };
  const list = lastList.slice();
  for (const i of changed) {
    const entries = of(outAt(i));
    const o = offsets[i]!;
    for (let k = 0; k < entries.length; k++) list[o + k] = entries[k]!;
  }
  return { list, offsets };
}

/** One of the state's lists written by index (`total` entries from `n` objects), with each object's offset. */
function written<T>(n: number, total: number, outAt: (i: number) => Out, of: (o: Out) => readonly T[]): { list: T[]; offsets: Int32Array } {
  const list = new Array<T>(total);
  const offsets = new Int32Array(n);
  let at = 0;
  for (let i = 0; i < n; i++) {
    offsets[i] = at;
    for (const e of of(outAt(i))) list[at++] = e;
  }
  return { list, offsets };
}

/** Drops what a list reused by index holds past `n`. */
function trimTo(list: unknown[], n: number): void {
  if (list.length > n) list.length = n;
}

/** A list kept for as long as its object stays, at its size (one grown by push holds room for 17). */
const exact = <T>(list: T[]): T[] => (list.length === 0 ? NONE : list.slice());

/** Appends to one of an out's lists, giving it a list of its own first if it has the shared empty one. */
function pushTo<K extends 'former' | 'effects' | 'checks'>(out: Out, key: K, v: Out[K][number]): void {
  let list = out[key] as unknown[];
  if (list === NONE) {
    list = [];
    (out as unknown as Record<K, unknown[]>)[key] = list;
  }
  list.push(v);
}

/**
 * The derived addresses `keep` accepts (it records what it accepts), each
 * the previous out's equal entry when it has one: the derived list itself
 * when that is every one of them as they are (no copy per object).
 */
function keptAddrs(addrs: NodeAddress[], prev: Out | undefined, keep: (text: string) => boolean): NodeAddress[] {
  let out: NodeAddress[] | undefined;
  for (let i = 0; i < addrs.length; i++) {
    const a = addrs[i]!;
    if (!keep(a.ip.text)) {
      out ??= addrs.slice(0, i);
      continue;
    }
    const r = reuseAddr(prev, a);
    if (r !== a) out ??= addrs.slice(0, i);
    if (out !== undefined) out.push(r);
  }
  return out ?? addrs;
}

interface CidrIn {
  pfx: Prefix;
  origin: string;
  field: string;
}

interface CnDerived {
  where: string;
  node: string;
  slot: NameSlot;
  whereText: string;
  since: string | undefined;
  /** The object's node addresses (the entries themselves, unless an equal one of the previous version is reused). */
  addrs: NodeAddress[];
  podCidrRaw: string[];
  podKey: string | undefined;
  podCidrs: CidrIn[];
  allocated: Array<CidrIn & { pool: string }>;
  hasAllocatedArray: boolean;
  ipPoolIsObj: boolean;
  ipPoolNonEmpty: boolean;
  ipPool: CidrIn[];
  problemsA: IpamProblem[];
  ipPoolProblems: IpamProblem[];
  problemsB: IpamProblem[];
  used: number | undefined;
  released: CidrIn[];
  out: Out | undefined;
}

interface NodeDerived {
  where: string;
  node: string;
  slot: NameSlot;
  since: string | undefined;
  /** The object's node addresses (the entries themselves, unless an equal one of the previous version is reused). */
  addrs: NodeAddress[];
  rawCidrs: string[];
  podKey: string | undefined;
  podCidrs: CidrIn[];
  problems: IpamProblem[];
  out: Out | undefined;
}

interface EpDerived {
  where: string;
  namespace: string;
  pod: string;
  ips: Prefix[];
  problems: IpamProblem[];
  nodeIp: string | undefined;
  nodeKey: string;
  info: EndpointInfo | undefined;
  gen: number;
}

interface SvcDerived {
  where: string;
  entries: ServiceCidr[];
  problems: IpamProblem[];
}

const CRD_LIKE: readonly IpamMode[] = ['crd', 'eni', 'azure', 'alibabacloud'];

/**
 * Prefixes made on the translation path, cheaper than net/prefix's (a
 * translation of 5,000 nodes makes 40,000): an IPv4 prefix's `v6` is one
 * shared all-zero array (read-only, as Prefix says), an IPv6 prefix's words
 * a view into a slab of PREFIX_SLAB_WORDS words (a Uint32Array of its own costs 235 bytes, a view about 100).
 * Same fields, same values, same text as parsePrefix/hostPrefix give; a text
 * they would refuse, or one only ipaddr.js decides (a zone, `%`), goes through them
 * (so errors read the same).
 */
const SHARED_V4_WORDS: Readonly<Uint32Array> = new Uint32Array(4);
const PREFIX_SLAB_WORDS = 4096;
let slab = new Uint32Array(PREFIX_SLAB_WORDS);
let slabAt = 0;
const fastScratch = new IpAddr();
/** Parsed-text limit of the fast path: longer texts (padded IPv6) go through net/prefix. */
const FAST_TEXT_MAX = 45;
const IPV4_BITS = 32;
const IPV6_BITS = 128;
const MAPPED_V4_OFFSET = 96;

function v6Words(w: ArrayLike<number>, bits: number): Uint32Array {
  if (slabAt === PREFIX_SLAB_WORDS) {
    slab = new Uint32Array(PREFIX_SLAB_WORDS);
    slabAt = 0;
  }
  const out = slab.subarray(slabAt, slabAt + 4);
  slabAt += 4;
  for (let k = 0; k < 4; k++) {
    const keep = Math.max(0, Math.min(32, bits - 32 * k));
    out[k] = keep === 0 ? 0 : keep === 32 ? w[k]! : (w[k]! & (0xffffffff << (32 - keep))) >>> 0;
  }
  return out;
}

/**
 * The prefix of `bits` holding `a`. Its text is canonical; when the text it
 * was parsed from (`given`: the address, or the whole CIDR when `whole`) is
 * already that, the given string is kept (a formatted one is a tree of
 * concatenations that outweighs the rest of the prefix).
 */
function madePrefix(a: IpAddr, bits: number, given: string, whole: boolean): Prefix {
  const v4 = a.family === FAMILY_V4 ? (bits === 0 ? 0 : (a.v4 & (0xffffffff << (IPV4_BITS - bits))) >>> 0) : 0;
  const v6 = a.family === FAMILY_V4 ? SHARED_V4_WORDS : v6Words(a.v6, bits);
  const addr = a.family === FAMILY_V4 ? formatV4(v4) : formatV6(v6);
  let text: string;
  if (whole) {
    text = `${addr}/${bits}`;
    if (text === given) text = given;
  } else text = (addr === given ? given : addr) + (bits === IPV4_BITS ? HOST_V4_SUFFIX : bits === IPV6_BITS ? HOST_V6_SUFFIX : `/${bits}`);
  return Object.freeze({ family: a.family === FAMILY_V4 ? (4 as const) : (6 as const), bits, v4, v6, text });
}
const HOST_V4_SUFFIX = `/${IPV4_BITS}`;
const HOST_V6_SUFFIX = `/${IPV6_BITS}`;

/** hostPrefix(text), made as above. */
function fastHostPrefix(text: string): Prefix {
  const t = text.trim();
  if (t.length > FAST_TEXT_MAX || !parseIpInto(t, fastScratch)) return hostPrefix(text);
  return madePrefix(fastScratch, fastScratch.family === FAMILY_V4 ? IPV4_BITS : IPV6_BITS, t, false);
}

/** parsePrefix(text), made as above. */
function fastParsePrefix(text: string): Prefix {
  const s = text.trim();
  const slash = s.lastIndexOf('/');
  const lenLength = s.length - slash - 1;
  if (slash < 0 || lenLength < 1 || lenLength > 3 || slash > FAST_TEXT_MAX || s.includes('%')) return parsePrefix(text);
  let bits = 0;
  for (let i = slash + 1; i < s.length; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return parsePrefix(text);
    bits = bits * 10 + c;
  }
  const addrText = s.slice(0, slash);
  if (!parseIpInto(addrText, fastScratch)) return parsePrefix(text);
  if (fastScratch.family === FAMILY_V4 && addrText.includes(':')) {
    if (bits < MAPPED_V4_OFFSET || bits > IPV6_BITS) return parsePrefix(text);
    bits -= MAPPED_V4_OFFSET;
  }
  if (bits > (fastScratch.family === FAMILY_V4 ? IPV4_BITS : IPV6_BITS)) return parsePrefix(text);
  return madePrefix(fastScratch, bits, s, true);
}

/** Parses with the cache, reporting a failure into `problems`. */
function cidrOf(cache: PrefixCache, text: unknown, where: string, field: string, problems: IpamProblem[]): Prefix | undefined {
  if (typeof text !== 'string') {
    problems.push({ where, field, value: String(text), message: 'expected a CIDR string' });
    return undefined;
  }
  cache.touch();
  let got = cache.cidrs.get(text);
  if (got === undefined) {
    try {
      got = fastParsePrefix(text);
    } catch (e) {
      got = (e as Error).message.replace(/^invalid CIDR "[^"]*": /, 'invalid CIDR: ');
    }
    cache.cidrs.set(text, got);
  }
  if (typeof got === 'string') {
    problems.push({ where, field, value: text, message: got });
    return undefined;
  }
  return got;
}

function ipOf(cache: PrefixCache, text: unknown, where: string, field: string, problems: IpamProblem[]): Prefix | undefined {
  if (typeof text !== 'string' || text === '') return undefined;
  let got: Prefix | string;
  try {
    got = fastHostPrefix(text);
  } catch {
    got = 'invalid IP address';
  }
  if (typeof got === 'string') {
    problems.push({ where, field, value: text, message: got });
    return undefined;
  }
  return got;
}

/**
 * Keeps, per kind, the objects of the last translation and what was derived
 * from each, so that an unchanged object (the same JS object, as the watch
 * hands over) is found by a pointer compare at (about) the same index.
 */
class Aligned<D extends { where: string }> {
  private objs: KubeObject[] = [];
  private ds: D[] = [];
  private nextObjs: KubeObject[] = [];
  private nextDs: D[] = [];
  private j = 0;
  private k = 0;
  private readonly weak = new WeakMap<object, D>();
  /** Derivations done (objects translated) since construction. */
  made = 0;

  constructor(private readonly make: (obj: KubeObject, where: string) => D) {}

  get last(): readonly D[] {
    return this.ds;
  }

  begin(): void {
    this.j = 0;
    this.k = 0;
  }

  get(obj: KubeObject, where: string): D {
    const j = this.j;
    let d: D | undefined;
    if (this.objs[j] === obj) {
      d = this.ds[j];
      this.j = j + 1;
    } else if (this.objs[j + 1] === obj) {
      d = this.ds[j + 1];
      this.j = j + 2;
    } else d = this.weak.get(obj);
    if (d === undefined || d.where !== where) {
      d = this.make(obj, where);
      this.made++;
      this.weak.set(obj, d);
    }
    // By index into the arrays of the translation before last: no fresh array grown by push.
    this.nextObjs[this.k] = obj;
    this.nextDs[this.k++] = d;
    return d;
  }

  end(): void {
    if (this.nextObjs.length > this.k) this.nextObjs.length = this.nextDs.length = this.k;
    [this.objs, this.nextObjs] = [this.nextObjs, this.objs];
    [this.ds, this.nextDs] = [this.nextDs, this.ds];
  }
}

/** Counters for tests and benchmarks. */
export interface TranslatorStats {
  /** Objects translated from scratch (parsed), all kinds, since construction. */
  objectsTranslated: number;
  /** Objects whose entries were built again (new object or changed context), since construction. */
  entriesBuilt: number;
}

/**
 * Turns Kubernetes objects (and our own config) into an IPAM state, for every
 * Cilium IPAM mode, remembering what it derived from each object: translating
 * again after one object changed parses and builds entries for that object
 * only, and every unchanged object's entries (allocations, node addresses,
 * former allocations, service CIDRs, endpoints) are the same JS objects as in
 * the previous state. An object is "unchanged" when it is the same JS object
 * (the live watch keeps one per informer object). A former allocation keeps
 * the time it was first seen released (`releasedAt`) for as long as it stays
 * in the state; a new translator stamps `now`.
 */
export class IpamTranslator {
  readonly cache: PrefixCache;
  private gen = 0;
  private readonly slots = new Map<string, NameSlot>();
  private readonly cns: Aligned<CnDerived>;
  private readonly nodes: Aligned<NodeDerived>;
  private readonly eps: Aligned<EpDerived>;
  private readonly svcs: Aligned<SvcDerived>;
  private prevCnOuts: Out[] = [];
  private prevNodeOuts: Out[] = [];
  private spareCnOuts: Out[] = [];
  private spareNodeOuts: Out[] = [];
  private readonly cnDs: CnDerived[] = [];
  private readonly nodeDs: NodeDerived[] = [];
  private allocIndex: Map<string, number> | undefined;
  /** Address text → the outs that hold it (only while there are endpoints to resolve). */
  private holders: Map<string, Out[]> | undefined;
  private ownerOf = new Map<string, string>();
  private conflicted = new Set<string>();
  private prevEndpoints: EndpointInfo[] = [];
  /** The node addresses the endpoints refer to, when known for the current endpoints. */
  private epNodeKeys: Set<string> | undefined;
  private prevEpProblems: IpamProblem[] = [];
  private flagCidrs: { texts: readonly string[]; entries: ServiceCidr[]; problems: IpamProblem[] } | undefined;
  private prevConfigEntries = new Map<string, object>();
  private readonly drained = new WeakMap<Allocation, FormerAllocation>();
  private entriesBuilt = 0;
  /** The gen of the last pass over the endpoints (each one stamped with it), and of the last translation that kept that pass's endpoints. */
  private epPassGen = -1;
  private epAliveGen = -1;
  /** The objects' outs in the order the last translation wrote them, and the arrays it wrote (before config entries were pushed). */
  private emitted: Out[] = [];
  private emittedSpare: Out[] = [];
  private emittedLists: { addrs: readonly NodeAddress[]; allocs: readonly Allocation[]; former: readonly FormerAllocation[]; offA: Int32Array; offL: Int32Array; offF: Int32Array } | undefined;
  private emittedUsed: Map<string, number> | undefined;
  private readonly changedScratch: number[] = [];
  // Scratch arrays (reused).
  private readonly cnObjs: KubeObject[] = [];
  private readonly cnWhere: string[] = [];
  private readonly nodeObjs: KubeObject[] = [];
  private readonly nodeWhere: string[] = [];
  private readonly epObjs: KubeObject[] = [];
  private readonly epWhere: string[] = [];
  private readonly svcObjs: KubeObject[] = [];
  private readonly svcWhere: string[] = [];
  private pools: SourceItem[] = [];
  private config: SourceItem | undefined;
  private readonly groupMemos: GroupMemo[] = [];
  private readonly mismatchScratch: number[] = [];
  private epCount = 0;

  constructor(cache?: PrefixCache) {
    this.cache = cache ?? new PrefixCache();
    this.cns = new Aligned((o, w) => this.deriveCn(o, w));
    this.nodes = new Aligned((o, w) => this.deriveNode(o, w));
    this.eps = new Aligned((o, w) => this.deriveEp(o, w));
    this.svcs = new Aligned((o, w) => this.deriveSvc(o, w));
  }

  get stats(): TranslatorStats {
    return { objectsTranslated: this.cns.made + this.nodes.made + this.eps.made + this.svcs.made, entriesBuilt: this.entriesBuilt };
  }

  private slot(name: string): NameSlot {
    let s = this.slots.get(name);
    if (!s) {
      s = { gen: 0, cns: 0, nodes: 0, state: undefined, nodeAcc: undefined, prevCn: undefined, prevNode: undefined };
      this.slots.set(name, s);
    }
    return s;
  }

  /** `out` if it was in the previous state (its equal entries are reused, keeping when they were first seen). */
  private live(out: Out | undefined): Out | undefined {
    return out !== undefined && out.usedGen === this.gen - 1 ? out : undefined;
  }

  private touchSlot(s: NameSlot): void {
    if (s.gen === this.gen) return;
    s.gen = this.gen;
    s.cns = 0;
    s.nodes = 0;
    s.state = undefined;
    s.nodeAcc = undefined;
  }

  /**
   * Sorts a group's objects by kind, remembering each object's kind: an
   * object at (about) the same index as in the last translation is a pointer
   * compare. Returns whether the group's CiliumEndpoints may differ from the last translation's.
   */
  private classifyGroup(g: ObjectGroup, k: number): boolean {
    let memo = this.groupMemos[k];
    let epDirty = false;
    if (memo === undefined || memo.where !== g.where) {
      memo = { where: g.where, objs: [], codes: [], length: 0, spareObjs: [], spareCodes: [], epStart: -1, epN: 0, dispatched: undefined, plainEpsBefore: [], plainEps: 0 };
      this.groupMemos[k] = memo;
      epDirty = true;
    } else if (memo.length === g.objects.length && this.classifyInPlace(g, memo)) {
      return this.inPlaceEpDirty;
    }
    const epStart = this.epCount;
    const prevObjs = memo.objs;
    const prevCodes = memo.codes;
    const prevLength = memo.length;
    // Written by index into the arrays of the translation before last (pushes into fresh arrays of 100,000 cost more than the rest).
    const objs = memo.spareObjs;
    const codes = memo.spareCodes;
    const where = g.where;
    const input = g.objects;
    const n = input.length;
    let j = 0;
    for (let i = 0; i < n; i++) {
      const o = input[i]!;
      let code: number;
      if (prevObjs[j] === o) code = prevCodes[j++]!;
      else if (prevObjs[j + 1] === o) {
        if (prevCodes[j] === KIND_ENDPOINT || prevCodes[j] === KIND_OTHER) epDirty = true;
        code = prevCodes[j + 1]!;
        j += 2;
      } else {
        code = kindCode(o);
        if (code === KIND_ENDPOINT || code === KIND_OTHER) epDirty = true;
      }
      objs[i] = o;
      codes[i] = code;
      switch (code) {
        case KIND_ENDPOINT:
          this.epObjs[this.epCount] = o;
          this.epWhere[this.epCount++] = where;
          break;
        case KIND_CILIUM_NODE:
          this.cnObjs.push(o);
          this.cnWhere.push(where);
          break;
        case KIND_NODE:
          this.nodeObjs.push(o);
          this.nodeWhere.push(where);
          break;
        case KIND_IGNORED:
          break;
        default:
          this.add(o, where);
      }
    }
    for (; j < prevLength; j++) if (prevCodes[j] === KIND_ENDPOINT || prevCodes[j] === KIND_OTHER) epDirty = true;
    if (objs.length > n) {
      objs.length = n;
      codes.length = n;
    }
    memo.spareObjs = prevObjs;
    memo.spareCodes = prevCodes;
    memo.objs = objs;
    memo.codes = codes;
    memo.length = n;
    memo.epStart = epStart;
    memo.epN = this.epCount - epStart;
    memo.dispatched = undefined;
    return epDirty;
  }

  private inPlaceEpDirty = false;

  /**
   * The common case of `classifyGroup`: as many objects as last time and
   * only a few (at most IN_PLACE_MAX_CHANGES) not the same object at the same
   * index. Those are classified again in place; when none of them is (or
   * was) an endpoint and the group's endpoints start where they did, the
   * endpoint list is left as it was (no write per endpoint). Returns false,
   * having changed nothing, when the case does not apply.
   */
  private classifyInPlace(g: ObjectGroup, memo: GroupMemo): boolean {
    const input = g.objects;
    const objs = memo.objs;
    const codes = memo.codes;
    const n = input.length;
    const mism = this.mismatchScratch;
    mism.length = 0;
    for (let i = 0; i < n; i++) {
      if (objs[i] !== input[i]) {
        if (mism.length === IN_PLACE_MAX_CHANGES) return false;
        mism.push(i);
      }
    }
    let epDirty = false;
    let dispatchedChanged = false;
    for (const i of mism) {
      const o = input[i]!;
      const before = codes[i]!;
      const code = kindCode(o);
      if (before === KIND_ENDPOINT || before === KIND_OTHER || code === KIND_ENDPOINT || code === KIND_OTHER) epDirty = true;
      if (dispatched(before) !== dispatched(code)) dispatchedChanged = true;
      objs[i] = o;
      codes[i] = code;
    }
    const epStart = this.epCount;
    const keepEps = !epDirty && epStart === memo.epStart;
    const where = g.where;
    if (keepEps && !dispatchedChanged && memo.dispatched !== undefined) {
      // Only the objects that are not endpoints: each one's place in the endpoint list is the plain endpoints before it and those Lists added.
      const list = memo.dispatched;
      const before = memo.plainEpsBefore;
      let extra = 0;
      for (let k = 0; k < list.length; k++) {
        const i = list[k]!;
        switch (codes[i]) {
          case KIND_CILIUM_NODE:
            this.cnObjs.push(objs[i]!);
            this.cnWhere.push(where);
            break;
          case KIND_NODE:
            this.nodeObjs.push(objs[i]!);
            this.nodeWhere.push(where);
            break;
          default: {
            const at = epStart + before[k]! + extra;
            this.epCount = at;
            this.add(objs[i]!, where);
            extra += this.epCount - at;
          }
        }
      }
      this.epCount = epStart + memo.plainEps + extra;
      memo.epN = this.epCount - epStart;
      this.inPlaceEpDirty = false;
      return true;
    }
    const list: number[] = [];
    const before: number[] = [];
    let plain = 0;
    for (let i = 0; i < n; i++) {
      const code = codes[i]!;
      if (code !== KIND_ENDPOINT && code !== KIND_IGNORED) {
        list.push(i);
        before.push(plain);
      }
      switch (code) {
        case KIND_ENDPOINT:
          if (!keepEps) {
            this.epObjs[this.epCount] = objs[i]!;
            this.epWhere[this.epCount] = where;
          }
          this.epCount++;
          plain++;
          break;
        case KIND_CILIUM_NODE:
          this.cnObjs.push(objs[i]!);
          this.cnWhere.push(where);
          break;
        case KIND_NODE:
          this.nodeObjs.push(objs[i]!);
          this.nodeWhere.push(where);
          break;
        case KIND_IGNORED:
          break;
        default:
          this.add(objs[i]!, where);
      }
    }
    memo.epStart = epStart;
    memo.epN = this.epCount - epStart;
    memo.dispatched = list;
    memo.plainEpsBefore = before;
    memo.plainEps = plain;
    this.inPlaceEpDirty = epDirty;
    return true;
  }

  private add(obj: KubeObject, where: string): void {
    if (Array.isArray(obj.items)) {
      for (const o of obj.items) this.add(o, where);
      return;
    }
    switch (obj.kind) {
      case 'CiliumEndpoint':
        this.epObjs[this.epCount] = obj;
        this.epWhere[this.epCount++] = where;
        break;
      case 'CiliumNode':
        this.cnObjs.push(obj);
        this.cnWhere.push(where);
        break;
      case 'Node':
        this.nodeObjs.push(obj);
        this.nodeWhere.push(where);
        break;
      case 'CiliumPodIPPool':
        this.pools.push({ obj, where });
        break;
      case 'ConfigMap':
        if (obj.metadata?.name === 'cilium-config') this.config = { obj, where };
        break;
      case 'Service':
        this.svcObjs.push(obj);
        this.svcWhere.push(where);
        break;
      default:
        break; // other kinds carry nothing for IPAM
    }
  }

  private deriveCn(obj: KubeObject, where: string): CnDerived {
    const c = this.cache;
    const node = obj.metadata?.name ?? '';
    const whereText = `${describeObject(obj)} (${where})`;
    const spec = obj.spec;
    const pA: IpamProblem[] = [];
    const pB: IpamProblem[] = [];
    const pP: IpamProblem[] = [];
    // Origins are this prefix and a field name made once per index (one string per entry, not three).
    const pre = `${whereText} `;
    const addrs: NodeAddress[] = [];
    const addr = (type: NodeAddressType, ip: unknown, field: string) => {
      const p = ipOf(c, ip, whereText, field, pA);
      if (p) addrs.push({ node, type, ip: p, origin: pre + field });
    };
    const list = get(spec, 'addresses');
    if (Array.isArray(list)) {
      for (let i = 0; i < list.length; i++) {
        const a: unknown = list[i];
        const type = get(a, 'type');
        if (type === 'InternalIP' || type === 'ExternalIP' || type === 'CiliumInternalIP') addr(type, get(a, 'ip'), fieldAt(CN_ADDRESS_FIELDS, i, (k) => `spec.addresses[${k}].ip`));
      }
    }
    const health = get(spec, 'health');
    const ingress = get(spec, 'ingress');
    for (const [fam, healthField, ingressField] of CN_FAMILY_FIELDS) {
      addr('HealthIP', get(health, fam), healthField);
      addr('IngressIP', get(ingress, fam), ingressField);
    }
    const podCidrRaw = strings(get(spec, 'ipam', 'podCIDRs'));
    const podCidrs: CidrIn[] = [];
    for (let i = 0; i < podCidrRaw.length; i++) {
      const field = fieldAt(CN_POD_CIDR_FIELDS, i, (k) => `spec.ipam.podCIDRs[${k}]`);
      const pfx = cidrOf(c, podCidrRaw[i], whereText, field, pA);
      if (pfx) podCidrs.push({ pfx, field, origin: pre + field });
    }
    const allocatedList = get(spec, 'ipam', 'pools', 'allocated');
    const allocated: CnDerived['allocated'] = [];
    if (Array.isArray(allocatedList)) {
      allocatedList.forEach((a, i) => {
        const pool = get(a, 'pool');
        strings(get(a, 'cidrs')).forEach((t, j) => {
          const field = `spec.ipam.pools.allocated[${i}].cidrs[${j}]`;
          const pfx = cidrOf(c, t, whereText, field, pA);
          if (pfx) allocated.push({ pool: typeof pool === 'string' ? pool : '', pfx, field, origin: `${whereText} ${field}` });
        });
      });
    }
    const ipPoolObj = get(spec, 'ipam', 'pool');
    const ipPool: CidrIn[] = [];
    if (isObj(ipPoolObj)) {
      for (const ip of Object.keys(ipPoolObj)) {
        const field = `spec.ipam.pool["${ip}"]`;
        const pfx = ipOf(c, ip, whereText, field, pP);
        if (pfx) ipPool.push({ pfx, field, origin: `${whereText} spec.ipam.pool` });
      }
    }
    const usedObj = get(obj.status, 'ipam', 'used');
    const released: CidrIn[] = [];
    const statusCidrs = get(obj.status, 'ipam', 'pod-cidrs');
    if (isObj(statusCidrs)) {
      for (const [t, st] of Object.entries(statusCidrs)) {
        if (get(st, 'status') !== 'released') continue;
        const field = `status.ipam.pod-cidrs["${t}"]`;
        const pfx = cidrOf(c, t, whereText, field, pB);
        if (pfx) released.push({ pfx, field, origin: `${whereText} status.ipam.pod-cidrs` });
      }
    }
    return {
      where,
      node,
      slot: this.slot(node),
      whereText,
      since: obj.metadata?.creationTimestamp,
      addrs: exact(addrs),
      podCidrRaw,
      podKey: undefined,
      podCidrs: exact(podCidrs),
      allocated,
      hasAllocatedArray: Array.isArray(allocatedList),
      ipPoolIsObj: isObj(ipPoolObj),
      ipPoolNonEmpty: isObj(ipPoolObj) && Object.keys(ipPoolObj).length > 0,
      ipPool,
      problemsA: pA,
      ipPoolProblems: pP,
      problemsB: pB,
      used: isObj(usedObj) ? Object.keys(usedObj).length : undefined,
      released,
      out: undefined,
    };
  }

  private deriveNode(obj: KubeObject, where: string): NodeDerived {
    const c = this.cache;
    const node = obj.metadata?.name ?? '';
    const whereText = `${describeObject(obj)} (${where})`;
    const problems: IpamProblem[] = [];
    const pre = `${whereText} `;
    const addrs: NodeAddress[] = [];
    const addr = (type: NodeAddressType, ip: unknown, field: string) => {
      const p = ipOf(c, ip, whereText, field, problems);
      if (p) addrs.push({ node, type, ip: p, origin: pre + field });
    };
    const list = get(obj.status, 'addresses');
    if (Array.isArray(list)) {
      for (let i = 0; i < list.length; i++) {
        const a: unknown = list[i];
        const type = get(a, 'type');
        if (type === 'InternalIP' || type === 'ExternalIP') addr(type, get(a, 'address'), fieldAt(NODE_ADDRESS_FIELDS, i, (k) => `status.addresses[${k}].address`));
      }
    }
    const ann = obj.metadata?.annotations;
    if (ann !== undefined) for (const [key, type, field] of NODE_ANNOTATION_ADDRESSES) addr(type, ann[key], field);
    const raw = nodePodCidrs(obj);
    const podCidrs: CidrIn[] = [];
    for (const [t, field] of raw) {
      const pfx = cidrOf(c, t, whereText, field, problems);
      if (pfx) podCidrs.push({ pfx, field, origin: pre + field });
    }
    return { where, node, slot: this.slot(node), since: obj.metadata?.creationTimestamp, addrs: exact(addrs), rawCidrs: raw.map(([t]) => t), podKey: undefined, podCidrs: exact(podCidrs), problems, out: undefined };
  }

  private deriveEp(obj: KubeObject, where: string): EpDerived {
    const whereText = `${describeObject(obj)} (${where})`;
    const problems: IpamProblem[] = [];
    const ips: Prefix[] = [];
    const addressing = get(obj.status, 'networking', 'addressing');
    if (Array.isArray(addressing)) {
      addressing.forEach((a, i) => {
        for (const fam of ['ipv4', 'ipv6']) {
          const pfx = ipOf(this.cache, get(a, fam), whereText, `status.networking.addressing[${i}].${fam}`, problems);
          if (pfx) ips.push(pfx);
        }
      });
    }
    const nodeIp = get(obj.status, 'networking', 'node');
    const ip = typeof nodeIp === 'string' ? nodeIp : undefined;
    return { where, namespace: obj.metadata?.namespace ?? '', pod: obj.metadata?.name ?? '', ips, problems, nodeIp: ip, nodeKey: ip === undefined ? '' : `${ip}/${ip.includes(':') ? 128 : 32}`, info: undefined, gen: 0 };
  }

  private deriveSvc(obj: KubeObject, where: string): SvcDerived {
    const whereText = `${describeObject(obj)} (${where})`;
    const problems: IpamProblem[] = [];
    const entries: ServiceCidr[] = [];
    strings(get(obj.spec, 'clusterIPs')).forEach((ip, i) => {
      if (ip === 'None') return;
      const pfx = ipOf(this.cache, ip, whereText, `spec.clusterIPs[${i}]`, problems);
      if (pfx) entries.push({ cidr: pfx, origin: `${whereText} spec.clusterIPs[${i}]` });
    });
    return { where, entries, problems };
  }

  /** The CiliumNode's entries, deduplicated against (and recorded in) the name's state `st`. */
  private buildCn(d: CnDerived, mode: IpamMode, b: Builder, st: NameState, prev: Out | undefined, poolSig: () => string, defaultPool: string): Out {
    this.entriesBuilt++;
    const out = newOut(d.node, mode);
    out.state = st;
    const node = d.node;
    let usesPools = false;
    out.addrs = keptAddrs(d.addrs, prev, (k) => {
      if (st.addrKeys.has(k)) return false;
      st.addrKeys.add(k);
      return true;
    });
    st.podCidrs = d.podCidrs;
    const alloc = (pool: string, c: CidrIn) => {
      const k = c.pfx.text;
      if (st.allocs.has(k)) return;
      const a = reuseAlloc(prev, node, pool, c.pfx, c.origin, d.since);
      st.allocs.set(k, a);
      out.allocs.push(a);
    };
    const former = (pool: string, c: CidrIn, reason: string) => {
      if (st.formerKeys.has(c.pfx.text)) return;
      st.formerKeys.add(c.pfx.text);
      pushTo(out, 'former', reuseFormer(prev, node, pool, c.pfx, reason, c.origin, b.nowIso));
    };
    for (const c of d.podCidrs) {
      if (mode === 'cluster-pool' || mode === 'kubernetes') alloc(mode === 'cluster-pool' ? 'default' : 'kubernetes', c);
    }
    for (const c of d.allocated) alloc(c.pool, c);
    if (mode === 'multi-pool' && d.podCidrs.length > 0) {
      usesPools = true;
      // Cilium's cluster-pool → multi-pool migration: the operator moves spec.ipam.podCIDRs into
      // spec.ipam.pools.allocated under the default pool, which must cover them; until it has, the node
      // still uses them. So a legacy CIDR inside the default pool is that pool's, current. One outside
      // it cannot be imported (Cilium imports into the default pool only): its pods must move.
      const def = b.findPool(defaultPool);
      for (const c of d.podCidrs) {
        if (def !== undefined && def.cidrs.some((p) => prefixContains(p, c.pfx))) {
          alloc(defaultPool, c);
          continue;
        }
        const pool = b.poolContaining(c.pfx)?.name ?? 'cluster-pool';
        pushTo(out, 'effects', [pool, 'cluster-pool IPAM before multi-pool', true]);
        former(pool, c, 'legacy CiliumNode spec.ipam.podCIDRs after the switch to multi-pool');
      }
    }
    const withPool = d.ipPoolIsObj && CRD_LIKE.includes(mode);
    if (withPool) for (const c of d.ipPool) alloc(mode, c);
    out.used = d.used;
    if (d.problemsA.length + d.problemsB.length + (withPool ? d.ipPoolProblems.length : 0) > 0) {
      out.problems = [...d.problemsA, ...(withPool ? d.ipPoolProblems : []), ...d.problemsB];
    }
    for (const c of d.released) {
      st.allocs.delete(c.pfx.text);
      usesPools = true;
      const pool = b.poolContaining(c.pfx)?.name ?? (mode === 'cluster-pool' ? 'default' : 'cluster-pool');
      pushTo(out, 'effects', [pool, 'cluster-pool IPAM', false]);
      former(pool, c, 'marked released in CiliumNode status.ipam.pod-cidrs');
    }
    if (d.released.length > 0) out.allocs = out.allocs.filter((a) => st.allocs.get(a.cidr.text) === a);
    if (usesPools) out.poolSig = poolSig();
    out.allocs = exact(out.allocs);
    return out;
  }

  /** The Node's entries, deduplicated against its CiliumNode's state `base` and the earlier Nodes of its name (`acc`). */
  private buildNode(d: NodeDerived, mode: IpamMode, base: NameState | undefined, acc: NameState, prev: Out | undefined, nowIso: string, isAllocated: (text: string) => boolean): Out {
    this.entriesBuilt++;
    const out = newOut(d.node, mode);
    out.state = base;
    const node = d.node;
    out.addrs = keptAddrs(d.addrs, prev, (k) => {
      if (base?.addrKeys.has(k) || acc.addrKeys.has(k)) return false;
      acc.addrKeys.add(k);
      return true;
    });
    out.problems = d.problems;
    for (const c of d.podCidrs) {
      const k = c.pfx.text;
      if (mode === 'kubernetes') {
        if (base?.allocs.has(k) || acc.allocs.has(k)) continue;
        const a = reuseAlloc(prev, node, 'kubernetes', c.pfx, c.origin, d.since);
        acc.allocs.set(k, a);
        out.allocs.push(a);
      } else if (mode !== 'delegated-plugin' && !hasPodCidr(base?.podCidrs, k)) {
        const held = isAllocated(k);
        pushTo(out, 'checks', [k, held]);
        if (held) continue;
        // Host-scope CIDRs the node kept after the switch away from kubernetes IPAM.
        pushTo(out, 'effects', ['kubernetes', 'kubernetes host-scope IPAM before the switch', true]);
        if (base?.formerKeys.has(k) || acc.formerKeys.has(k)) continue;
        acc.formerKeys.add(k);
        pushTo(out, 'former', reuseFormer(prev, node, 'kubernetes', c.pfx, `legacy Node ${c.field} from kubernetes host-scope IPAM after the switch to ${mode}`, c.origin, nowIso));
      }
    }
    out.allocs = exact(out.allocs);
    return out;
  }

  /** Derives (parses) each object through `memo`, written by index into `out`, counting each under its node name's slot. */
  private deriveAll<D extends { where: string; slot: NameSlot }>(memo: Aligned<D>, objs: KubeObject[], where: string[], out: D[], count: (slot: NameSlot) => void): D[] {
    memo.begin();
    for (let i = 0; i < objs.length; i++) {
      const d = memo.get(objs[i]!, where[i]!);
      out[i] = d;
      this.touchSlot(d.slot);
      count(d.slot);
    }
    memo.end();
    trimTo(out, objs.length);
    return out;
  }

  translate(input: TranslateInput): { state: IpamState; problems: IpamProblem[] } {
    const gen = ++this.gen;
    const madeBefore = this.cns.made + this.nodes.made + this.eps.made + this.svcs.made;
    const b = new Builder((input.now ?? new Date()).toISOString(), this.cache);
    // Sort the objects by kind (pointer work).
    this.cnObjs.length = this.cnWhere.length = this.nodeObjs.length = this.nodeWhere.length = 0;
    this.epCount = this.svcObjs.length = this.svcWhere.length = 0;
    this.pools = [];
    this.config = undefined;
    let epDirty = false;
    for (const it of input.objects ?? []) {
      const n = this.epObjs.length;
      this.add(it.obj, it.where);
      if (this.epObjs.length !== n) epDirty = true;
    }
    const groups = input.groups ?? [];
    if (groups.length !== this.groupMemos.length) epDirty = true;
    groups.forEach((g, k) => {
      if (this.classifyGroup(g, k)) epDirty = true;
    });
    this.groupMemos.length = groups.length;
    if (this.epObjs.length > this.epCount) this.epObjs.length = this.epWhere.length = this.epCount;

    // Derive (parse) new objects; count the objects of each node name.
    const { cnObjs, cnWhere, nodeObjs, nodeWhere } = this;
    // Lists written by index into the arrays of an earlier translation (no arrays of 5,000 grown per change).
    const cnDs = this.deriveAll(this.cns, cnObjs, cnWhere, this.cnDs, (slot) => slot.cns++);
    const nodeDs = this.deriveAll(this.nodes, nodeObjs, nodeWhere, this.nodeDs, (slot) => slot.nodes++);

    const { mode, source } = decideMode(cnDs, nodeDs, this.pools.length, this.config, input.configs, b);
    b.state.mode = mode;
    b.state.modeSource = source;
    const s = b.state;
    buildPools(b, mode, this.config, this.pools);
    // The pool Cilium's cluster-pool → multi-pool migration imports node CIDRs into (operator option ipam-default-ip-pool).
    const defaultPool = (this.config as SourceItem | undefined)?.obj.data?.[DEFAULT_POOL_KEY] || DEFAULT_POOL;
    let sig: string | undefined;
    const poolSig = () => (sig ??= `${defaultPool}|${s.pools.map((p) => `${p.name}=${p.cidrs.map((c) => c.text).join(',')}`).join(';')}`);

    // CiliumNodes: entries per object, rebuilt only for a new object or a changed context.
    const cnOuts = this.spareCnOuts;
    const added: Out[] = [];
    let collisions = false;
    for (let i = 0; i < cnDs.length; i++) {
      const d = cnDs[i]!;
      const slot = d.slot;
      let out: Out;
      if (slot.cns === 1) {
        out = d.out!;
        if (out === undefined || !out.cacheable || out.mode !== mode || (out.poolSig !== undefined && out.poolSig !== poolSig())) {
          out = this.buildCn(d, mode, b, newNameState(), this.live(slot.prevCn), poolSig, defaultPool);
          d.out = out;
          slot.prevCn = out;
        }
        slot.state = out.state;
      } else {
        collisions = true;
        slot.state ??= newNameState();
        out = this.buildCn(d, mode, b, slot.state, this.live(slot.prevCn), poolSig, defaultPool);
        out.cacheable = false;
        slot.prevCn = out;
      }
      cnOuts[i] = out;
    }
    trimTo(cnOuts, cnDs.length);
    if (collisions) {
      // A later CiliumNode of the same name may have released an earlier one's allocation.
      for (const out of cnOuts) if (!out.cacheable) out.allocs = out.allocs.filter((a) => out.state!.allocs.get(a.cidr.text) === a);
    }
    const removed: Out[] = [];
    for (let i = 0; i < cnOuts.length; i++) {
      const out = cnOuts[i]!;
      if (out.usedGen !== gen - 1) added.push(out);
      out.usedGen = gen;
      out.pos = i;
    }
    for (const out of this.prevCnOuts) if (out.usedGen !== gen) removed.push(out);
    this.spareCnOuts = this.prevCnOuts;
    this.prevCnOuts = cnOuts;
    if (this.allocIndex) {
      for (const out of removed) for (const a of out.allocs) countDown(this.allocIndex, a.cidr.text);
      for (const out of added) for (const a of out.allocs) this.allocIndex.set(a.cidr.text, (this.allocIndex.get(a.cidr.text) ?? 0) + 1);
    }
    const isAllocated = (text: string): boolean => {
      if (!this.allocIndex) {
        this.allocIndex = new Map();
        for (const out of cnOuts) for (const a of out.allocs) this.allocIndex.set(a.cidr.text, (this.allocIndex.get(a.cidr.text) ?? 0) + 1);
      }
      return this.allocIndex.has(text);
    };

    // Nodes: addresses, legacy or current pod CIDRs.
    const nodeOuts = this.spareNodeOuts;
    for (let i = 0; i < nodeDs.length; i++) {
      const d = nodeDs[i]!;
      const slot = d.slot;
      const base = slot.cns > 0 ? slot.state : undefined;
      let out: Out;
      if (slot.nodes === 1) {
        out = d.out!;
        if (out === undefined || !out.cacheable || out.mode !== mode || out.state !== base || !out.checks.every(([t, held]) => isAllocated(t) === held)) {
          out = this.buildNode(d, mode, base, newNameState(), this.live(slot.prevNode), b.nowIso, isAllocated);
          d.out = out;
          slot.prevNode = out;
        }
      } else {
        slot.nodeAcc ??= newNameState();
        out = this.buildNode(d, mode, base, slot.nodeAcc, this.live(slot.prevNode), b.nowIso, isAllocated);
        out.cacheable = false;
        slot.prevNode = out;
      }
      nodeOuts[i] = out;
    }
    trimTo(nodeOuts, nodeDs.length);
    for (let i = 0; i < nodeOuts.length; i++) {
      const out = nodeOuts[i]!;
      if (out.usedGen !== gen - 1) added.push(out);
      out.usedGen = gen;
      out.pos = cnOuts.length + i;
    }
    for (const out of this.prevNodeOuts) if (out.usedGen !== gen) removed.push(out);
    this.spareNodeOuts = this.prevNodeOuts;
    this.prevNodeOuts = nodeOuts;
    this.emitAll(b, cnOuts, nodeOuts);

    // Services, then the flags' service CIDRs.
    this.svcs.begin();
    for (let i = 0; i < this.svcObjs.length; i++) {
      const d = this.svcs.get(this.svcObjs[i]!, this.svcWhere[i]!);
      s.serviceCidrs.push(...d.entries);
      b.problems.push(...d.problems);
    }
    this.svcs.end();
    const flags = input.serviceCidrs ?? [];
    if (!this.flagCidrs || this.flagCidrs.texts.length !== flags.length || this.flagCidrs.texts.some((t, i) => t !== flags[i])) {
      const problems: IpamProblem[] = [];
      const entries: ServiceCidr[] = [];
      flags.forEach((c, i) => {
        const pfx = cidrOf(this.cache, c, '--service-cidr', `[${i}]`, problems);
        if (pfx) entries.push({ cidr: pfx, origin: `--service-cidr ${pfx.text}` });
      });
      this.flagCidrs = { texts: [...flags], entries, problems };
    }
    s.serviceCidrs.push(...this.flagCidrs.entries);
    b.problems.push(...this.flagCidrs.problems);

    // Endpoints: each one's node is the first node holding its node address.
    this.translateEndpoints(b, cnOuts, nodeOuts, added, removed, epDirty);

    // Our config, then draining pools.
    const prevConfig = this.prevConfigEntries;
    this.prevConfigEntries = new Map();
    b.reuse = (e, stamped) => {
      const old = prevConfig.get(e.origin);
      const got = old !== undefined && sameEntry(old, e, stamped) ? old : e;
      this.prevConfigEntries.set(e.origin, got);
      return got as typeof e;
    };
    for (const c of input.configs ?? []) applyConfig(b, c.config, c.where);
    applyDraining(b, this.drained);
    // Only a translation that parsed most objects again knows what the cluster still uses (after one changed object it would forget everything).
    const made = this.cns.made + this.nodes.made + this.eps.made + this.svcs.made - madeBefore;
    if (2 * made >= cnObjs.length + nodeObjs.length + this.epCount + this.svcObjs.length) this.cache.trim();
    return { state: s, problems: b.problems };
  }

  /**
   * Writes the entries of every object (CiliumNodes, then Nodes) into the
   * state and replays their effects on the pools. Each of the three lists is
   * the last translation's copied in one slice with only the changed objects'
   * entries written over, when every object at the same position holds as
   * many entries of it as last time; else it is written by index into an
   * array of the counted size. A published array is never written.
   * `usedByNode` is the last one when no object's used count or node changed.
   */
  private emitAll(b: Builder, cnOuts: readonly Out[], nodeOuts: readonly Out[]): void {
    const s = b.state;
    const prev = this.emitted;
    const nc = cnOuts.length;
    const n = nc + nodeOuts.length;
    const last = this.emittedLists;
    const same = last !== undefined && prev.length === n;
    let usedSame = same;
    let patchA = same;
    let patchL = same;
    let patchF = same;
    let na = 0;
    let nl = 0;
    let nf = 0;
    const changed = this.changedScratch;
    changed.length = 0;
    for (let i = 0; i < n; i++) {
      const out = i < nc ? cnOuts[i]! : nodeOuts[i - nc]!;
      na += out.addrs.length;
      nl += out.allocs.length;
      nf += out.former.length;
      if (out.problems.length > 0) b.problems.push(...out.problems);
      if (out.effects.length > 0) {
        for (const [name, origin, draining] of out.effects) {
          const p = b.pool(name, origin);
          if (draining) p.state = 'draining';
        }
      }
      if (!same) continue;
      const p = prev[i]!;
      if (p === out) continue;
      changed.push(i);
      if (p.node !== out.node || p.used !== out.used) usedSame = false;
      if (p.addrs.length !== out.addrs.length) patchA = false;
      if (p.allocs.length !== out.allocs.length) patchL = false;
      if (p.former.length !== out.former.length) patchF = false;
    }
    const outAt = (i: number): Out => (i < nc ? cnOuts[i]! : nodeOuts[i - nc]!);
    const addrs = patchA ? patched(last!.addrs, last!.offA, changed, outAt, (o) => o.addrs) : written<NodeAddress>(n, na, outAt, (o) => o.addrs);
    const allocs = patchL ? patched(last!.allocs, last!.offL, changed, outAt, (o) => o.allocs) : written<Allocation>(n, nl, outAt, (o) => o.allocs);
    const former = patchF ? patched(last!.former, last!.offF, changed, outAt, (o) => o.former) : written<FormerAllocation>(n, nf, outAt, (o) => o.former);
    this.emittedLists = { addrs: addrs.list, allocs: allocs.list, former: former.list, offA: addrs.offsets, offL: allocs.offsets, offF: former.offsets };
    // Entries our config or draining pools add go into copies (Builder.own), never into these kept lists.
    s.nodeAddresses = addrs.list;
    s.allocations = allocs.list;
    s.former = former.list;
    if (usedSame && this.emittedUsed !== undefined) s.usedByNode = this.emittedUsed;
    else {
      for (let i = 0; i < n; i++) {
        const out = outAt(i);
        if (out.used !== undefined) s.usedByNode.set(out.node, out.used);
      }
      this.emittedUsed = s.usedByNode;
    }
    const next = this.emittedSpare;
    next.length = n;
    for (let i = 0; i < n; i++) next[i] = outAt(i);
    this.emittedSpare = prev;
    this.emitted = next;
  }

  private translateEndpoints(b: Builder, cnOuts: Out[], nodeOuts: Out[], added: Out[], removed: Out[], epDirty: boolean): void {
    const s = b.state;
    const { epObjs, epWhere } = this;
    if (epObjs.length === 0) {
      this.holders = undefined;
      this.epNodeKeys = undefined;
      this.eps.begin();
      this.eps.end();
      this.prevEndpoints = [];
      this.prevEpProblems = [];
      return;
    }
    // Who owns each node address: changes only where an out came or went.
    let changed: Set<string> | undefined;
    let all = false;
    if (!this.holders) {
      all = true;
      this.holders = new Map();
      this.ownerOf.clear();
      this.conflicted.clear();
      for (const outs of [cnOuts, nodeOuts]) {
        for (const out of outs) {
          for (const a of out.addrs) {
            const t = a.ip.text;
            const h = this.holders.get(t);
            if (h === undefined) {
              this.holders.set(t, [out]);
              this.ownerOf.set(t, out.node);
            } else {
              h.push(out);
              if (h.some((o) => o.node !== h[0]!.node)) this.conflicted.add(t);
            }
          }
        }
      }
    } else if (added.length + removed.length + this.conflicted.size > 0) {
      const dirty = new Set<string>(this.conflicted);
      for (const out of removed) {
        for (const a of out.addrs) {
          const h = this.holders.get(a.ip.text);
          if (!h) continue;
          const k = h.indexOf(out);
          if (k >= 0) h.splice(k, 1);
          if (h.length === 0) this.holders.delete(a.ip.text);
          dirty.add(a.ip.text);
        }
      }
      for (const out of added) {
        for (const a of out.addrs) {
          const h = this.holders.get(a.ip.text);
          if (h) h.push(out);
          else this.holders.set(a.ip.text, [out]);
          dirty.add(a.ip.text);
        }
      }
      for (const t of dirty) {
        const h = this.holders.get(t);
        let owner: Out | undefined;
        let conflict = false;
        for (const o of h ?? []) {
          if (owner === undefined || o.pos < owner.pos) owner = o;
          if (o.node !== h![0]!.node) conflict = true;
        }
        if (conflict) this.conflicted.add(t);
        else this.conflicted.delete(t);
        const before = this.ownerOf.get(t);
        if (owner === undefined) this.ownerOf.delete(t);
        else this.ownerOf.set(t, owner.node);
        if (before !== owner?.node) (changed ??= new Set()).add(t);
      }
    }
    const gen = this.gen;
    // An owner change that no endpoint's node address refers to changes no endpoint.
    if (changed !== undefined && !epDirty && this.epNodeKeys !== undefined) {
      let refers = false;
      for (const t of changed) if (this.epNodeKeys.has(t)) refers = true;
      if (!refers) changed = undefined;
    }
    if (!all && changed === undefined && !epDirty) {
      // Nothing an endpoint depends on changed: the same endpoints.
      // Every endpoint of the last pass stays (stamped with that pass's gen): no walk over them.
      this.epAliveGen = gen;
      s.endpoints = this.prevEndpoints;
      b.problems.push(...this.prevEpProblems);
      return;
    }
    // An endpoint was in the last state when it was in the last pass and every translation since kept that pass's endpoints.
    const passGen = this.epAliveGen === gen - 1 ? this.epPassGen : -1;
    const endpoints: EndpointInfo[] = new Array<EndpointInfo>(epObjs.length);
    const problems: IpamProblem[] = [];
    this.eps.begin();
    for (let i = 0; i < epObjs.length; i++) {
      const d = this.eps.get(epObjs[i]!, epWhere[i]!);
      let info = d.info;
      if (info === undefined || all || d.gen !== passGen || (changed !== undefined && changed.has(d.nodeKey))) {
        const node = d.nodeIp === undefined ? '' : (this.ownerOf.get(d.nodeKey) ?? d.nodeIp);
        if (info === undefined || info.node !== node) {
          info = { namespace: d.namespace, pod: d.pod, node, ips: d.ips };
          d.info = info;
          this.entriesBuilt++;
        }
      }
      d.gen = gen;
      endpoints[i] = info;
      if (d.problems.length > 0) problems.push(...d.problems);
    }
    this.eps.end();
    this.epNodeKeys = undefined;
    if (!epDirty || changed !== undefined) {
      // Built on the second walk over the same endpoints: a CEP churn does not pay for it.
      this.epNodeKeys = new Set();
      for (const d of this.eps.last) this.epNodeKeys.add(d.nodeKey);
    }
    s.endpoints = endpoints;
    this.epPassGen = this.epAliveGen = gen;
    b.problems.push(...problems);
    this.prevEndpoints = endpoints;
    this.prevEpProblems = problems;
  }
}

/** Objects of a group that may differ from the last translation's (same count, same index) for the in-place classification. */
const IN_PLACE_MAX_CHANGES = 256;

interface GroupMemo {
  where: string;
  objs: KubeObject[];
  codes: number[];
  length: number;
  spareObjs: KubeObject[];
  spareCodes: number[];
  /** Where the group's endpoints started in the translator's list, and how many. */
  epStart: number;
  epN: number;
  /** Indexes of the objects that are neither endpoints nor ignored, each with the count of endpoints (not in Lists) before it, and that count for the group; undefined until an in-place pass made them. */
  dispatched: number[] | undefined;
  plainEpsBefore: number[];
  plainEps: number;
}

const dispatched = (code: number): boolean => code !== KIND_ENDPOINT && code !== KIND_IGNORED;

/** Kinds as the group classifier remembers them; KIND_OTHER (pools, ConfigMaps, Services, Lists) goes through `add` every time. */
const KIND_IGNORED = 0;
const KIND_ENDPOINT = 1;
const KIND_CILIUM_NODE = 2;
const KIND_NODE = 3;
const KIND_OTHER = 4;

function kindCode(o: KubeObject): number {
  if (Array.isArray(o.items)) return KIND_OTHER;
  switch (o.kind) {
    case 'CiliumEndpoint':
      return KIND_ENDPOINT;
    case 'CiliumNode':
      return KIND_CILIUM_NODE;
    case 'Node':
      return KIND_NODE;
    case 'CiliumPodIPPool':
    case 'ConfigMap':
    case 'Service':
      return KIND_OTHER;
    default:
      return KIND_IGNORED;
  }
}

const NODE_ANNOTATION_ADDRESSES = (
  [
    ['network.cilium.io/ipv4-cilium-host', 'CiliumInternalIP'],
    ['network.cilium.io/ipv6-cilium-host', 'CiliumInternalIP'],
    ['network.cilium.io/ipv4-health-ip', 'HealthIP'],
    ['network.cilium.io/ipv6-health-ip', 'HealthIP'],
  ] as const
).map(([key, type]) => [key, type, `metadata.annotations["${key}"]`] as const);

/** Field names by index, made once (the same string for every object). */
const CN_ADDRESS_FIELDS: string[] = [];
const CN_POD_CIDR_FIELDS: string[] = [];
const NODE_ADDRESS_FIELDS: string[] = [];
const NODE_POD_CIDRS_FIELDS: string[] = [];
const CN_FAMILY_FIELDS = (['ipv4', 'ipv6'] as const).map((fam) => [fam, `spec.health.${fam}`, `spec.ingress.${fam}`] as const);
const fieldAt = (table: string[], i: number, make: (i: number) => string): string => (table[i] ??= make(i));

function countDown(m: Map<string, number>, k: string): void {
  const n = (m.get(k) ?? 0) - 1;
  if (n <= 0) m.delete(k);
  else m.set(k, n);
}

function reuseAddr(prev: Out | undefined, a: NodeAddress): NodeAddress {
  if (prev) for (const x of prev.addrs) if (x.ip.text === a.ip.text && x.type === a.type && x.origin === a.origin) return x;
  return a;
}

function reuseAlloc(prev: Out | undefined, node: string, pool: string, cidr: Prefix, origin: string, since: string | undefined): Allocation {
  if (prev) for (const x of prev.allocs) if (x.cidr.text === cidr.text && x.pool === pool && x.origin === origin && x.since === (since || undefined)) return x;
  return { node, pool, cidr, origin, ...(since ? { since } : {}) };
}

/** The previous version's entry when equal (so it keeps when it was first seen released), else a new one stamped `nowIso`. */
function reuseFormer(prev: Out | undefined, node: string, pool: string, cidr: Prefix, reason: string, origin: string, nowIso: string): FormerAllocation {
  if (prev) for (const x of prev.former) if (x.cidr.text === cidr.text && x.pool === pool && x.reason === reason && x.origin === origin) return x;
  return { node, pool, cidr, releasedAt: nowIso, reason, origin };
}

/** Two config entries with the same fields (prefixes by text; a former's `releasedAt` may differ when it was stamped). */
function sameEntry(a: object, b: object, stamped: boolean): boolean {
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  const keys = Object.keys(y);
  if (Object.keys(x).length !== keys.length) return false;
  for (const k of keys) {
    const u = x[k];
    const v = y[k];
    if (k === 'releasedAt' && stamped) continue;
    if (isPrefixLike(u) && isPrefixLike(v) ? u.text !== v.text : u !== v) return false;
  }
  return true;
}
const isPrefixLike = (v: unknown): v is Prefix => typeof v === 'object' && v !== null && typeof (v as Prefix).text === 'string';

/**
 * Turns Kubernetes objects (and our own config) into an IPAM state, for every
 * Cilium IPAM mode. Every malformed value becomes a problem naming the object,
 * the field and the value; the caller decides whether to accept the state.
 * A translation from scratch: a caller that translates again and again keeps
 * an IpamTranslator instead.
 */
export function stateFromObjects(input: TranslateInput): { state: IpamState; problems: IpamProblem[] } {
  return new IpamTranslator(input.cache).translate(input);
}

/** Our declarative config, merged over what the objects said. */
function applyConfig(b: Builder, cfg: IpamConfig, where: string): void {
  const s = b.state;
  (cfg.serviceCidrs ?? []).forEach((c, i) => {
    const pfx = b.cidr(c, where, `serviceCidrs[${i}]`);
    if (pfx) s.serviceCidrs.push({ cidr: pfx, origin: `${where} serviceCidrs[${i}]` });
  });
  (cfg.pools ?? []).forEach((pc, i) => {
    const origin = `${where} pools[${i}] (${pc.name})`;
    const existing = b.findPool(pc.name);
    // A pool the objects only implied (no CIDRs) takes its CIDRs from the config.
    const pool = existing && existing.cidrs.length === 0 ? existing : { name: pc.name, cidrs: [], maskSize: {}, state: 'active' as const, origin };
    if (pool !== existing) b.addPool(pool);
    pool.origin = origin;
    (pc.cidrs ?? []).forEach((c, j) => {
      const pfx = b.cidr(c, where, `pools[${i}].cidrs[${j}]`);
      if (pfx) pool.cidrs.push(pfx);
    });
    if (pc.maskSize?.ipv4 !== undefined) pool.maskSize[4] = pc.maskSize.ipv4;
    if (pc.maskSize?.ipv6 !== undefined) pool.maskSize[6] = pc.maskSize.ipv6;
    if (pc.state) pool.state = pc.state;
  });
  (cfg.nodes ?? []).forEach((nc, i) => {
    (nc.addresses ?? []).forEach((a, j) => b.nodeAddress(nc.name, a.type, a.ip, where, `nodes[${i}].addresses[${j}].ip`));
    (nc.allocations ?? []).forEach((a, j) =>
      (a.cidrs ?? []).forEach((c, k) => {
        const field = `nodes[${i}].allocations[${j}].cidrs[${k}]`;
        const pfx = b.cidr(c, where, field);
        if (pfx) b.allocate({ node: nc.name, pool: a.pool, cidr: pfx, origin: `${where} ${field}` });
      }),
    );
    (nc.former ?? []).forEach((a, j) =>
      (a.cidrs ?? []).forEach((c, k) => {
        const field = `nodes[${i}].former[${j}].cidrs[${k}]`;
        const pfx = b.cidr(c, where, field);
        if (pfx) b.former({ node: nc.name, pool: a.pool, cidr: pfx, releasedAt: a.releasedAt ?? b.nowIso, reason: a.reason ?? `declared former allocation in ${where}`, origin: `${where} ${field}` }, a.releasedAt === undefined);
      }),
    );
  });
  const m = cfg.migration;
  if (m) {
    for (const name of m.from?.pools ?? []) {
      const pool = b.findPool(name);
      if (pool) pool.state = 'draining';
      else b.problems.push({ where, field: 'migration.from.pools', value: name, message: `unknown pool (known: ${s.pools.map((p) => p.name).join(', ') || 'none'})` });
    }
    const fromCidrs = (m.from?.cidrs ?? []).map((c, i) => b.cidr(c, where, `migration.from.cidrs[${i}]`)).filter((x): x is Prefix => x !== undefined);
    const uncovered = fromCidrs.filter((c) => !b.poolContaining(c));
    if (uncovered.length > 0) {
      const name = m.from?.name ?? 'migration-source';
      const pool = b.pool(name, `${where} migration.from`);
      pool.cidrs.push(...uncovered);
      pool.state = 'draining';
    }
    for (const c of fromCidrs) {
      const covering = b.poolContaining(c);
      if (covering) covering.state = 'draining';
    }
    for (const name of m.to?.pools ?? []) {
      if (!b.findPool(name)) b.problems.push({ where, field: 'migration.to.pools', value: name, message: 'unknown pool' });
    }
  }
}

/** Allocations in a draining pool are former: those pods are due to move (each one's former entry kept in `drained` while it stays). */
function applyDraining(b: Builder, drained: WeakMap<Allocation, FormerAllocation>): void {
  const s = b.state;
  const draining = new Set(s.pools.filter((p) => p.state === 'draining').map((p) => p.name));
  if (draining.size === 0) return;
  const keep: Allocation[] = [];
  for (const a of s.allocations) {
    if (!draining.has(a.pool)) {
      keep.push(a);
      continue;
    }
    let f = drained.get(a);
    if (f === undefined) {
      f = { node: a.node, pool: a.pool, cidr: a.cidr, releasedAt: b.nowIso, reason: `pool ${a.pool} is draining`, origin: a.origin };
      drained.set(a, f);
    }
    b.former(f);
  }
  s.allocations = keep;
}
