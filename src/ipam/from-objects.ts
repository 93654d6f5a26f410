import { hostPrefix, parsePrefix, prefixContains, type Prefix } from '../net/prefix.js';
import type { IpamConfig } from './ipam-config.js';
import { describeObject, type KubeObject } from './kube-object.js';
import {
  emptyState,
  ipamModes,
  type Allocation,
  type FormerAllocation,
  type IpamMode,
  type IpamProblem,
  type IpamState,
  type NodeAddressType,
  type Pool,
} from './model.js';

/** Annotation on a CiliumPodIPPool that marks it as being migrated away from. */
export const DRAINING_ANNOTATION = 'hubble-ipam-exporter.io/draining';

export interface SourceItem {
  obj: KubeObject;
  /** The file it came from, or `kubernetes`. */
  where: string;
}

export interface TranslateInput {
  objects: SourceItem[];
  configs?: Array<{ config: IpamConfig; where: string }>;
  /** Service CIDRs from flags. */
  serviceCidrs?: string[];
  /** Time stamped on former allocations found in this input. Default: now. */
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
 * Parsed CIDRs and addresses by their text, kept across rebuilds by a caller
 * that translates the same objects again and again (the live watch): a
 * Prefix is immutable, so a cached one is the same answer. Failures are kept
 * as their message, so a bad value is reported on every rebuild.
 */
export class PrefixCache {
  readonly cidrs = new Map<string, Prefix | string>();
  readonly ips = new Map<string, Prefix | string>();
  /** Entries looked up since the last `trim()`. */
  private used = 0;

  touch(): void {
    this.used++;
  }

  /** Forgets everything when the cache holds more than twice what the last build used (values that left the cluster). */
  trim(): void {
    if (this.cidrs.size + this.ips.size > 2 * this.used + 1024) {
      this.cidrs.clear();
      this.ips.clear();
    }
    this.used = 0;
  }
}

const allocKey = (node: string, cidr: string) => `${node}\0${cidr}`;

class Builder {
  readonly problems: IpamProblem[] = [];
  readonly state = emptyState();
  /** Indexes over `state`, so that every check is a map look-up, never a scan. */
  private readonly poolByName = new Map<string, Pool>();
  private readonly nodeAddressKeys = new Set<string>();
  /** The first node that has each address (by the address's text). */
  readonly nodeOfAddress = new Map<string, string>();
  /** Current allocations by node and CIDR, in insertion order (materialised into `state.allocations` by `finishAllocations`). */
  private readonly allocs = new Map<string, Allocation>();
  /** How many current allocations hold each CIDR. */
  private readonly allocCidrs = new Map<string, number>();
  private readonly formerKeys = new Set<string>();

  constructor(
    readonly nowIso: string,
    private readonly cache: PrefixCache,
  ) {}

  cidr(text: unknown, where: string, field: string): Prefix | undefined {
    if (typeof text !== 'string') {
      this.problems.push({ where, field, value: String(text), message: 'expected a CIDR string' });
      return undefined;
    }
    this.cache.touch();
    let got = this.cache.cidrs.get(text);
    if (got === undefined) {
      try {
        got = parsePrefix(text);
      } catch (e) {
        got = (e as Error).message.replace(/^invalid CIDR "[^"]*": /, 'invalid CIDR: ');
      }
      this.cache.cidrs.set(text, got);
    }
    if (typeof got === 'string') {
      this.problems.push({ where, field, value: text, message: got });
      return undefined;
    }
    return got;
  }

  ip(text: unknown, where: string, field: string): Prefix | undefined {
    if (typeof text !== 'string' || text === '') return undefined;
    this.cache.touch();
    let got = this.cache.ips.get(text);
    if (got === undefined) {
      try {
        got = hostPrefix(text);
      } catch {
        got = 'invalid IP address';
      }
      this.cache.ips.set(text, got);
    }
    if (typeof got === 'string') {
      this.problems.push({ where, field, value: text, message: got });
      return undefined;
    }
    return got;
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

  nodeAddress(node: string, type: NodeAddressType, ip: unknown, where: string, field: string): void {
    const p = this.ip(ip, where, field);
    if (!p) return;
    const key = allocKey(node, p.text);
    if (this.nodeAddressKeys.has(key)) return;
    this.nodeAddressKeys.add(key);
    if (!this.nodeOfAddress.has(p.text)) this.nodeOfAddress.set(p.text, node);
    this.state.nodeAddresses.push({ node, type, ip: p, origin: `${where} ${field}` });
  }

  allocate(a: Allocation): void {
    const key = allocKey(a.node, a.cidr.text);
    if (this.allocs.has(key)) return;
    this.allocs.set(key, a);
    this.allocCidrs.set(a.cidr.text, (this.allocCidrs.get(a.cidr.text) ?? 0) + 1);
  }

  /** Drops the current allocation of `cidr` to `node`, if any. */
  unallocate(node: string, cidr: Prefix): void {
    const key = allocKey(node, cidr.text);
    if (!this.allocs.delete(key)) return;
    const n = this.allocCidrs.get(cidr.text)! - 1;
    if (n === 0) this.allocCidrs.delete(cidr.text);
    else this.allocCidrs.set(cidr.text, n);
  }

  /** Whether any node holds `cidr` now. */
  isAllocated(cidr: Prefix): boolean {
    return this.allocCidrs.has(cidr.text);
  }

  /** Writes the allocations into the state, in the order they were made. */
  finishAllocations(): void {
    this.state.allocations = [...this.allocs.values()];
  }

  former(f: FormerAllocation): void {
    const key = allocKey(f.node, f.cidr.text);
    if (this.formerKeys.has(key)) return;
    this.formerKeys.add(key);
    this.state.former.push(f);
  }

  /** The pool whose CIDRs contain `cidr`, if any (pools are few: a scan of them). */
  poolContaining(cidr: Prefix): Pool | undefined {
    return this.state.pools.find((p) => p.cidrs.some((c) => prefixContains(c, cidr)));
  }
}

interface Parsed {
  nodes: SourceItem[];
  ciliumNodes: SourceItem[];
  pools: SourceItem[];
  config: SourceItem | undefined;
  endpoints: SourceItem[];
  services: SourceItem[];
}

function classify(items: SourceItem[]): Parsed {
  const out: Parsed = { nodes: [], ciliumNodes: [], pools: [], config: undefined, endpoints: [], services: [] };
  for (const it of flattenItems(items)) {
    switch (it.obj.kind) {
      case 'Node':
        out.nodes.push(it);
        break;
      case 'CiliumNode':
        out.ciliumNodes.push(it);
        break;
      case 'CiliumPodIPPool':
        out.pools.push(it);
        break;
      case 'ConfigMap':
        if (it.obj.metadata?.name === 'cilium-config') out.config = it;
        break;
      case 'CiliumEndpoint':
        out.endpoints.push(it);
        break;
      case 'Service':
        out.services.push(it);
        break;
      default:
        break; // other kinds carry nothing for IPAM
    }
  }
  return out;
}

function nodePodCidrs(o: KubeObject): Array<[string, string]> {
  const spec = o.spec;
  const list: Array<[string, string]> = strings(get(spec, 'podCIDRs')).map((c, i) => [c, `spec.podCIDRs[${i}]`]);
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
function decideMode(p: Parsed, configs: TranslateInput['configs'], b: Builder): { mode: IpamMode; source: string } {
  const declared = configs?.find((c) => c.config.mode !== undefined);
  if (declared) return { mode: declared.config.mode!, source: `${declared.where} mode` };
  const fromConfigMap = p.config?.obj.data?.ipam;
  if (fromConfigMap !== undefined) {
    const mode = fromConfigMap === 'cluster-pool-v2beta' ? 'cluster-pool' : fromConfigMap;
    if ((ipamModes as readonly string[]).includes(mode)) return { mode: mode as IpamMode, source: 'cilium-config ipam' };
    b.problems.push({ where: `${describeObject(p.config!.obj)} (${p.config!.where})`, field: 'data.ipam', value: fromConfigMap, message: `unknown IPAM mode (known: ${ipamModes.join(', ')})` });
  }
  if (p.pools.length > 0 || p.ciliumNodes.some((c) => Array.isArray(get(c.obj.spec, 'ipam', 'pools', 'allocated')))) {
    return { mode: 'multi-pool', source: 'inferred: CiliumPodIPPools or CiliumNode spec.ipam.pools.allocated present' };
  }
  if (p.ciliumNodes.some((c) => isObj(get(c.obj.spec, 'ipam', 'pool')) && Object.keys(get(c.obj.spec, 'ipam', 'pool') as Obj).length > 0)) {
    return { mode: 'crd', source: 'inferred: CiliumNode spec.ipam.pool lists addresses' };
  }
  const nodeCidrs = new Map(p.nodes.map((n) => [n.obj.metadata?.name ?? '', nodePodCidrs(n.obj).map(([c]) => c).sort().join(',')]));
  const differs = p.ciliumNodes.some((c) => {
    const cn = strings(get(c.obj.spec, 'ipam', 'podCIDRs')).sort().join(',');
    const n = nodeCidrs.get(c.obj.metadata?.name ?? '');
    return cn !== '' && n !== undefined && n !== '' && cn !== n;
  });
  if (differs) return { mode: 'cluster-pool', source: "inferred: CiliumNode podCIDRs differ from their Node's (the Node's are legacy)" };
  const anyCiliumCidrs = p.ciliumNodes.some((c) => strings(get(c.obj.spec, 'ipam', 'podCIDRs')).length > 0);
  if (!anyCiliumCidrs && p.nodes.some((n) => nodePodCidrs(n.obj).length > 0)) return { mode: 'kubernetes', source: 'inferred: only Node podCIDRs present' };
  if (anyCiliumCidrs && p.nodes.length === 0) return { mode: 'cluster-pool', source: 'inferred: CiliumNode podCIDRs and no Nodes to compare them with' };
  return { mode: 'kubernetes', source: 'inferred: CiliumNode podCIDRs match their Node podCIDRs' };
}

/**
 * Turns Kubernetes objects (and our own config) into an IPAM state, for every
 * Cilium IPAM mode. Every malformed value becomes a problem naming the object,
 * the field and the value; the caller decides whether to accept the state.
 */
export function stateFromObjects(input: TranslateInput): { state: IpamState; problems: IpamProblem[] } {
  const cache = input.cache ?? new PrefixCache();
  const b = new Builder((input.now ?? new Date()).toISOString(), cache);
  const p = classify(input.objects);
  const { mode, source } = decideMode(p, input.configs, b);
  b.state.mode = mode;
  b.state.modeSource = source;
  const s = b.state;

  // Pools.
  if (mode === 'kubernetes') b.pool('kubernetes', 'kubernetes host-scope IPAM (Node.spec.podCIDRs)');
  if (mode === 'cluster-pool') {
    const cm = p.config;
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
  for (const it of p.pools) {
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

  // Nodes: addresses, legacy or current pod CIDRs.
  const ciliumNodeCidrs = new Map<string, Set<string>>();
  for (const it of p.ciliumNodes) {
    const node = it.obj.metadata?.name ?? '';
    const where = `${describeObject(it.obj)} (${it.where})`;
    const spec = it.obj.spec;
    const since = it.obj.metadata?.creationTimestamp;
    const addrs = get(spec, 'addresses');
    if (Array.isArray(addrs)) {
      addrs.forEach((a, i) => {
        const type = get(a, 'type');
        if (type === 'InternalIP' || type === 'ExternalIP' || type === 'CiliumInternalIP') b.nodeAddress(node, type, get(a, 'ip'), where, `spec.addresses[${i}].ip`);
      });
    }
    for (const fam of ['ipv4', 'ipv6']) {
      b.nodeAddress(node, 'HealthIP', get(spec, 'health', fam), where, `spec.health.${fam}`);
      b.nodeAddress(node, 'IngressIP', get(spec, 'ingress', fam), where, `spec.ingress.${fam}`);
    }
    const podCidrs = strings(get(spec, 'ipam', 'podCIDRs'));
    const seen = new Set<string>();
    ciliumNodeCidrs.set(node, seen);
    podCidrs.forEach((c, i) => {
      const pfx = b.cidr(c, where, `spec.ipam.podCIDRs[${i}]`);
      if (!pfx) return;
      seen.add(pfx.text);
      const origin = `${where} spec.ipam.podCIDRs[${i}]`;
      if (mode === 'cluster-pool' || mode === 'kubernetes') {
        b.allocate({ node, pool: mode === 'cluster-pool' ? 'default' : 'kubernetes', cidr: pfx, origin, ...(since ? { since } : {}) });
      } else if (mode === 'multi-pool') {
        // Left over from cluster-pool before the switch to multi-pool.
        const pool = b.poolContaining(pfx)?.name ?? 'cluster-pool';
        b.pool(pool, 'cluster-pool IPAM before multi-pool').state = 'draining';
        b.former({ node, pool, cidr: pfx, releasedAt: b.nowIso, reason: 'legacy CiliumNode spec.ipam.podCIDRs after the switch to multi-pool', origin });
      }
    });
    const allocated = get(spec, 'ipam', 'pools', 'allocated');
    if (Array.isArray(allocated)) {
      allocated.forEach((a, i) => {
        const pool = get(a, 'pool');
        strings(get(a, 'cidrs')).forEach((c, j) => {
          const field = `spec.ipam.pools.allocated[${i}].cidrs[${j}]`;
          const pfx = b.cidr(c, where, field);
          if (pfx) b.allocate({ node, pool: typeof pool === 'string' ? pool : '', cidr: pfx, origin: `${where} ${field}`, ...(since ? { since } : {}) });
        });
      });
    }
    const ipPool = get(spec, 'ipam', 'pool');
    if (isObj(ipPool) && ['crd', 'eni', 'azure', 'alibabacloud'].includes(mode)) {
      for (const ip of Object.keys(ipPool)) {
        const pfx = b.ip(ip, where, `spec.ipam.pool["${ip}"]`);
        if (pfx) b.allocate({ node, pool: mode, cidr: pfx, origin: `${where} spec.ipam.pool`, ...(since ? { since } : {}) });
      }
    }
    const used = get(it.obj.status, 'ipam', 'used');
    if (isObj(used)) s.usedByNode.set(node, Object.keys(used).length);
    const statusCidrs = get(it.obj.status, 'ipam', 'pod-cidrs');
    if (isObj(statusCidrs)) {
      for (const [c, st] of Object.entries(statusCidrs)) {
        if (get(st, 'status') !== 'released') continue;
        const pfx = b.cidr(c, where, `status.ipam.pod-cidrs["${c}"]`);
        if (!pfx) continue;
        b.unallocate(node, pfx);
        const pool = b.poolContaining(pfx)?.name ?? (mode === 'cluster-pool' ? 'default' : 'cluster-pool');
        b.pool(pool, 'cluster-pool IPAM');
        b.former({ node, pool, cidr: pfx, releasedAt: b.nowIso, reason: 'marked released in CiliumNode status.ipam.pod-cidrs', origin: `${where} status.ipam.pod-cidrs` });
      }
    }
  }

  for (const it of p.nodes) {
    const node = it.obj.metadata?.name ?? '';
    const where = `${describeObject(it.obj)} (${it.where})`;
    const addrs = get(it.obj.status, 'addresses');
    if (Array.isArray(addrs)) {
      addrs.forEach((a, i) => {
        const type = get(a, 'type');
        if (type === 'InternalIP' || type === 'ExternalIP') b.nodeAddress(node, type, get(a, 'address'), where, `status.addresses[${i}].address`);
      });
    }
    const ann = it.obj.metadata?.annotations ?? {};
    for (const [key, type] of [
      ['network.cilium.io/ipv4-cilium-host', 'CiliumInternalIP'],
      ['network.cilium.io/ipv6-cilium-host', 'CiliumInternalIP'],
      ['network.cilium.io/ipv4-health-ip', 'HealthIP'],
      ['network.cilium.io/ipv6-health-ip', 'HealthIP'],
    ] as const) {
      b.nodeAddress(node, type, ann[key], where, `metadata.annotations["${key}"]`);
    }
    const since = it.obj.metadata?.creationTimestamp;
    for (const [c, field] of nodePodCidrs(it.obj)) {
      const pfx = b.cidr(c, where, field);
      if (!pfx) continue;
      const origin = `${where} ${field}`;
      if (mode === 'kubernetes') {
        b.allocate({ node, pool: 'kubernetes', cidr: pfx, origin, ...(since ? { since } : {}) });
      } else if (mode !== 'delegated-plugin' && !ciliumNodeCidrs.get(node)?.has(pfx.text) && !b.isAllocated(pfx)) {
        // Host-scope CIDRs the node kept after the switch away from kubernetes IPAM.
        b.pool('kubernetes', 'kubernetes host-scope IPAM before the switch').state = 'draining';
        b.former({ node, pool: 'kubernetes', cidr: pfx, releasedAt: b.nowIso, reason: `legacy Node ${field} from kubernetes host-scope IPAM after the switch to ${mode}`, origin });
      }
    }
  }

  for (const it of p.services) {
    const where = `${describeObject(it.obj)} (${it.where})`;
    strings(get(it.obj.spec, 'clusterIPs')).forEach((ip, i) => {
      if (ip === 'None') return;
      const pfx = b.ip(ip, where, `spec.clusterIPs[${i}]`);
      if (pfx) s.serviceCidrs.push({ cidr: pfx, origin: `${where} spec.clusterIPs[${i}]` });
    });
  }
  for (const [i, c] of (input.serviceCidrs ?? []).entries()) {
    const pfx = b.cidr(c, '--service-cidr', `[${i}]`);
    if (pfx) s.serviceCidrs.push({ cidr: pfx, origin: `--service-cidr ${pfx.text}` });
  }

  for (const it of p.endpoints) {
    const where = `${describeObject(it.obj)} (${it.where})`;
    const ips: Prefix[] = [];
    const addressing = get(it.obj.status, 'networking', 'addressing');
    if (Array.isArray(addressing)) {
      addressing.forEach((a, i) => {
        for (const fam of ['ipv4', 'ipv6']) {
          const pfx = b.ip(get(a, fam), where, `status.networking.addressing[${i}].${fam}`);
          if (pfx) ips.push(pfx);
        }
      });
    }
    const nodeIp = get(it.obj.status, 'networking', 'node');
    const node = typeof nodeIp === 'string' ? (b.nodeOfAddress.get(`${nodeIp}/${nodeIp.includes(':') ? 128 : 32}`) ?? nodeIp) : '';
    s.endpoints.push({ namespace: it.obj.metadata?.namespace ?? '', pod: it.obj.metadata?.name ?? '', node, ips });
  }

  for (const c of input.configs ?? []) applyConfig(b, c.config, c.where);
  b.finishAllocations();
  applyDraining(b);
  cache.trim();
  return { state: s, problems: b.problems };
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
        if (pfx) b.former({ node: nc.name, pool: a.pool, cidr: pfx, releasedAt: a.releasedAt ?? b.nowIso, reason: a.reason ?? `declared former allocation in ${where}`, origin: `${where} ${field}` });
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

/** Allocations in a draining pool are former: those pods are due to move. */
function applyDraining(b: Builder): void {
  const s = b.state;
  const draining = new Set(s.pools.filter((p) => p.state === 'draining').map((p) => p.name));
  if (draining.size === 0) return;
  const keep: Allocation[] = [];
  for (const a of s.allocations) {
    if (!draining.has(a.pool)) keep.push(a);
    else b.former({ node: a.node, pool: a.pool, cidr: a.cidr, releasedAt: b.nowIso, reason: `pool ${a.pool} is draining`, origin: a.origin });
  }
  s.allocations = keep;
}
