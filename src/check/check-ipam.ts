import { flattenItems, type SourceItem } from '../ipam/from-objects.js';
import { describeObject, type KubeObject } from '../ipam/kube-object.js';
import type { Allocation, IpamState, Pool } from '../ipam/model.js';
import { parsePrefix, prefixContains, prefixesOverlap, type Prefix } from '../net/prefix.js';
import { CONFIG_KEYS, DEFAULT_POOL_NAME, findCiliumConfig, nativeRouting, type CiliumConfig } from './cilium-config.js';
import { sortFindings, type Finding } from './finding.js';

/** A pod as the inventory gives it (a structural subset of `PodRecord`). */
export interface CheckPod {
  namespace: string;
  name: string;
  node: string;
  hostNetwork: boolean;
  ips: Prefix[];
}

export interface CheckInput {
  /** The objects the state was translated from (Lists allowed): cilium-config, CiliumNodes, Nodes. Empty when only the state is known. */
  objects: readonly SourceItem[];
  /** Their translation (`stateFromObjects`). */
  state: IpamState;
  /** Pods from the inventory, when known. */
  pods?: readonly CheckPod[];
  /** Nodes a scale-up adds. Default: 10 % of the nodes, at least 1. */
  scaleUpNodes?: number;
}

/** Addresses Cilium keeps out of each node CIDR: its network and broadcast (first and last) addresses. */
export const RESERVED_PER_CIDR = 2;
/** Addresses of a node's primary CIDR (cluster-pool, kubernetes, multi-pool's default pool) the node itself takes: the router (cilium_host) and the health endpoint. */
export const NODE_OWN_ADDRESSES = 2;
/** Kubelet's default `maxPods`: a node CIDR with room for fewer pods caps the node below it. */
export const KUBELET_DEFAULT_MAX_PODS = 110;
/** Used addresses at or above this share of a node's allocation is a warning. */
export const NEAR_FULL_RATIO = 0.9;
/** Default scale-up: this share of the current nodes (at least one node). */
export const DEFAULT_SCALE_UP_RATIO = 0.1;
/** The cilium-config keys that list cluster-pool's CIDRs. */
const CLUSTER_POOL_CIDR_KEYS = 'cluster-pool-ipv4-cidr/cluster-pool-ipv6-cidr';
/** IPAM modes where a node holds CIDRs (the others list single addresses). */
const CIDR_MODES = new Set(['cluster-pool', 'kubernetes', 'multi-pool']);
/** IPAM modes where `status.ipam.used` lists addresses handed out from a CRD pool. */
const CRD_MODES = new Set(['crd', 'eni', 'azure', 'alibabacloud']);
/** `status.ipam.used` owners that are the node's own addresses, not pods. */
const NODE_OWNERS = new Set(['router', 'health', 'ingress']);

const bitsOf = (family: 4 | 6): number => (family === 4 ? 32 : 128);
const list = (xs: readonly string[]): string => xs.join(', ');
const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

/** `CiliumPodIPPool green-pool`, `ConfigMap kube-system/cilium-config`: the object an origin names, without its file and field. */
function objectOfOrigin(origin: string): string {
  const m = origin.match(/^([A-Z][A-Za-z]*) (\S+)/);
  return m ? `${m[1]} ${m[2]}` : origin;
}

const poolObject = (p: Pool): string => (/^[A-Z]/.test(p.origin) ? objectOfOrigin(p.origin) : `pool ${p.name} (${p.origin})`);

/** The object that holds an allocation: `CiliumNode worker-3`, `Node worker-3`. */
function holderOf(a: Allocation): string {
  if (a.origin.startsWith('CiliumNode ')) return `CiliumNode ${a.node}`;
  if (a.origin.startsWith('Node ')) return `Node ${a.node}`;
  return `node ${a.node} (${a.origin})`;
}

/** Addresses a pod can get from one node CIDR of `len` bits in `family`. */
export function podAddressesPerCidr(family: 4 | 6, len: number, primary: boolean): number {
  return 2 ** (bitsOf(family) - len) - RESERVED_PER_CIDR - (primary ? NODE_OWN_ADDRESSES : 0);
}

function usedAddresses(cn: KubeObject): Array<{ ip: string; owner: string }> {
  const used = (cn.status as { ipam?: { used?: unknown } } | undefined)?.ipam?.used;
  if (typeof used !== 'object' || used === null || Array.isArray(used)) return [];
  return Object.entries(used as Record<string, { owner?: unknown }>).map(([ip, v]) => ({ ip, owner: typeof v?.owner === 'string' ? v.owner : '' }));
}

function parseOrUndefined(text: string): Prefix | undefined {
  try {
    return parsePrefix(text.includes('/') ? text : `${text}/${text.includes(':') ? 128 : 32}`);
  } catch {
    return undefined;
  }
}

/**
 * Cilium's missing `ipam check`: what is wrong in the cluster's IPAM, each
 * finding with the objects involved, why it matters and what to do. Pure:
 * reads the objects, their translated state and the pods; runs nothing.
 */
export function checkIpam(input: CheckInput): Finding[] {
  const { state } = input;
  const items = flattenItems([...input.objects]);
  const cfg = findCiliumConfig(items);
  const ciliumNodes = items.filter((it) => it.obj.kind === 'CiliumNode').map((it) => it.obj);
  const nodeNames = new Set(items.filter((it) => it.obj.kind === 'Node').map((it) => it.obj.metadata?.name ?? ''));
  const out: Finding[] = [];
  const pools = state.pools.filter((p) => p.cidrs.length > 0);
  const poolByName = new Map(state.pools.map((p) => [p.name, p]));

  outsidePools(state, poolByName, cfg, out);
  defaultPool(state, cfg, ciliumNodes.length > 0, out);
  if (cfg && nativeRouting(cfg)) nativeRoutingCidrs(pools, cfg, out);
  overlaps(state, pools, out);
  maskSizes(state, pools, out);
  exhaustion(state, pools, input.scaleUpNodes, out);
  if (CIDR_MODES.has(state.mode)) nearFull(state, ciliumNodes, out);
  if (nodeNames.size > 0) orphanCiliumNodes(state, nodeNames, out);
  const pods = (input.pods ?? []).filter((p) => !p.hostNetwork);
  duplicates(state, pods, out);
  if (CRD_MODES.has(state.mode) && (state.endpoints.length > 0 || input.pods !== undefined)) leakedUsed(state, ciliumNodes, pods, out);
  if (input.pods !== undefined && state.allocations.length > 0) podsOutside(state, pods, out);
  return sortFindings(out);
}

/** CiliumNodes holding CIDRs outside their pool's CIDRs: the pool list changed under them. */
function outsidePools(state: IpamState, poolByName: Map<string, Pool>, cfg: CiliumConfig | undefined, out: Finding[]): void {
  const byHolder = new Map<string, { pool: Pool; cidrs: string[]; node: string }>();
  for (const a of state.allocations) {
    const pool = poolByName.get(a.pool);
    // A pool without CIDRs of this family does not say where they should be.
    if (!pool || !pool.cidrs.some((c) => c.family === a.cidr.family)) continue;
    if (pool.cidrs.some((c) => prefixContains(c, a.cidr))) continue;
    const holder = holderOf(a);
    const e = byHolder.get(holder) ?? { pool, cidrs: [], node: a.node };
    e.cidrs.push(a.cidr.text);
    byHolder.set(holder, e);
  }
  const clusterPool = state.mode === 'cluster-pool';
  for (const [holder, e] of byHolder) {
    const isCn = holder.startsWith('CiliumNode ');
    out.push({
      severity: 'error',
      code: 'ciliumnode-cidr-outside-pools',
      objects: [holder, poolObject(e.pool)],
      message: `${holder} holds ${list(e.cidrs)}, outside pool ${e.pool.name} (${list(e.pool.cidrs.map((c) => c.text))})`,
      why: 'the pool list changed after this node was given its CIDRs; the operator never moves a node to the new CIDRs while its CiliumNode exists, so its pods keep getting addresses the configuration no longer routes or expects',
      fix: isCn
        ? `move the node to the current pools one node at a time: kubectl drain ${e.node} --ignore-daemonsets --delete-emptydir-data; kubectl delete ciliumnode ${e.node} (the operator re-allocates from the current pools); kubectl -n kube-system delete pod -l k8s-app=cilium --field-selector spec.nodeName=${e.node}; kubectl uncordon ${e.node}`
        : `give ${holder} CIDRs inside pool ${e.pool.name}, or add its CIDRs back to the pool`,
    });
  }
  if (clusterPool && byHolder.size > 0) {
    const cidrs = [...byHolder.values()].flatMap((e) => e.cidrs);
    const pool = [...byHolder.values()][0]!.pool;
    const keys = CLUSTER_POOL_CIDR_KEYS;
    out.push({
      severity: 'error',
      code: 'cluster-pool-cidr-removed',
      objects: [cfg?.name ?? poolObject(pool)],
      message: `${plural(byHolder.size, 'node')} still hold ${plural(cidrs.length, 'CIDR')} outside the configured cluster-pool CIDRs (${list(pool.cidrs.map((c) => c.text))}): ${list(cidrs)}`,
      why: `Cilium's cluster-pool only supports adding CIDRs to ${keys}; a CIDR removed or changed while allocated stays on its nodes, and the operator may hand the same addresses out again if the CIDR comes back changed`,
      fix: `put the old CIDRs back into ${keys} (list the new ones after them) until no node holds them, then migrate nodes one at a time (see ciliumnode-cidr-outside-pools) and only then remove the old CIDRs`,
    });
  }
}

/** Multi-pool agents do not become ready without their default pool. */
function defaultPool(state: IpamState, cfg: CiliumConfig | undefined, hasCiliumNodes: boolean, out: Finding[]): void {
  if (state.mode !== 'multi-pool') return;
  // A dump of pools alone does not show an install; cilium-config or CiliumNodes do.
  if (cfg?.data[CONFIG_KEYS.ipam] !== 'multi-pool' && !hasCiliumNodes) return;
  const name = cfg?.data[CONFIG_KEYS.defaultPool] || DEFAULT_POOL_NAME;
  if (state.pools.some((p) => p.name === name && p.cidrs.length > 0)) return;
  const named = state.pools.filter((p) => p.cidrs.length > 0);
  out.push({
    severity: 'error',
    code: 'multi-pool-no-default-pool',
    objects: cfg ? [cfg.name] : named.map(poolObject),
    message: `multi-pool IPAM without its default pool \`${name}\`${cfg?.data[CONFIG_KEYS.defaultPool] ? ` (${CONFIG_KEYS.defaultPool} in ${cfg.name})` : ''}; pools present: ${list(named.map((p) => p.name)) || 'none'}`,
    why: 'Cilium agents take the router and health addresses, and every pod without an ipam.cilium.io/ip-pool annotation, from the default pool: without it they never become ready and pods stay ContainerCreating',
    fix: `create it: a CiliumPodIPPool named ${name} with spec.ipv4.cidrs and spec.ipv4.maskSize (kubectl apply -f default-pool.yaml), or set ${CONFIG_KEYS.defaultPool} in cilium-config to an existing pool and restart the agents (kubectl -n kube-system rollout restart daemonset/cilium)`,
  });
}

/** In native routing, every pool must be inside the native-routing CIDR of its family. */
function nativeRoutingCidrs(pools: readonly Pool[], cfg: CiliumConfig, out: Finding[]): void {
  for (const [family, key] of [[4, CONFIG_KEYS.nativeV4], [6, CONFIG_KEYS.nativeV6]] as const) {
    const text = cfg.data[key];
    if (!text) continue;
    const native = parseOrUndefined(text);
    if (!native || native.family !== family) {
      out.push({ severity: 'error', code: 'invalid-native-routing-cidr', objects: [cfg.name], message: `${key} is ${JSON.stringify(text)}, not an IPv${family} CIDR`, why: 'Cilium masquerades or drops pod traffic it cannot place inside the native-routing CIDR', fix: `set ${key} in ${cfg.name} to the IPv${family} CIDR that covers every pod pool` });
      continue;
    }
    for (const p of pools) {
      const outside = p.cidrs.filter((c) => c.family === family && !prefixContains(native, c));
      if (outside.length === 0) continue;
      out.push({
        severity: 'error',
        code: 'pool-outside-native-routing-cidr',
        objects: [poolObject(p), cfg.name],
        message: `pool ${p.name}'s ${list(outside.map((c) => c.text))} ${outside.length === 1 ? 'is' : 'are'} not inside ${key} ${native.text} (routing-mode native)`,
        why: 'in native routing Cilium masquerades traffic to addresses outside the native-routing CIDR and the network is not told to route them: pods in that range cannot reach pods on other nodes',
        fix: `widen ${key} in ${cfg.name} to cover ${list(outside.map((c) => c.text))} (and make the network route it), then restart the agents: kubectl -n kube-system rollout restart daemonset/cilium`,
      });
    }
  }
}

/** Pools overlapping each other, node addresses or service addresses. */
function overlaps(state: IpamState, pools: readonly Pool[], out: Finding[]): void {
  for (let i = 0; i < pools.length; i++) {
    for (let j = i + 1; j < pools.length; j++) {
      const a = pools[i]!;
      const b = pools[j]!;
      const pairs = a.cidrs.flatMap((x) => b.cidrs.filter((y) => prefixesOverlap(x, y)).map((y) => `${x.text} ∩ ${y.text}`));
      if (pairs.length === 0) continue;
      out.push({
        severity: 'error',
        code: 'pool-overlap',
        objects: [poolObject(a), poolObject(b)],
        message: `pools ${a.name} and ${b.name} overlap: ${list(pairs)}`,
        why: 'the operator hands out node CIDRs from each pool independently, so two nodes (or two pods) can get the same addresses',
        fix: `change one pool's CIDRs so they no longer overlap (a pool no node allocates from yet can be edited: kubectl edit ciliumpodippool ${b.name}); a pool in use needs a migration to a new pool`,
      });
    }
  }
  for (const p of pools) {
    const nodes = state.nodeAddresses.filter((n) => (n.type === 'InternalIP' || n.type === 'ExternalIP') && p.cidrs.some((c) => prefixContains(c, n.ip)));
    if (nodes.length > 0) {
      out.push({
        severity: 'error',
        code: 'pool-overlaps-node-address',
        objects: [poolObject(p), ...new Set(nodes.map((n) => objectOfOrigin(n.origin)))],
        message: `pool ${p.name} (${list(p.cidrs.map((c) => c.text))}) contains node addresses: ${list(nodes.map((n) => `${n.node} ${n.type} ${n.ip.text.replace(/\/(32|128)$/, '')}`))}`,
        why: 'a pod can be given a node\'s own address; traffic to the node then goes to the pod (or the other way), and routes to the node CIDR conflict with the host network',
        fix: `move pool ${p.name} to a range outside the node network`,
      });
    }
    const svcs = state.serviceCidrs.filter((s) => p.cidrs.some((c) => prefixesOverlap(c, s.cidr)));
    if (svcs.length > 0) {
      out.push({
        severity: 'error',
        code: 'pool-overlaps-service-cidr',
        objects: [poolObject(p), ...new Set(svcs.map((s) => objectOfOrigin(s.origin)))],
        message: `pool ${p.name} (${list(p.cidrs.map((c) => c.text))}) overlaps service addresses: ${list([...new Set(svcs.map((s) => s.cidr.text))])}`,
        why: 'service ClusterIPs are translated by kube-proxy or Cilium before routing: a pod given one of these addresses is unreachable, and traffic meant for the service may reach it',
        fix: `move pool ${p.name} outside the service range (kube-apiserver --service-cluster-ip-range)`,
      });
    }
  }
}

const isPrimary = (state: IpamState, p: Pool): boolean => state.mode !== 'multi-pool' || p.name === DEFAULT_POOL_NAME;

/** Node CIDRs too small for the pods a node runs. */
function maskSizes(state: IpamState, pools: readonly Pool[], out: Finding[]): void {
  for (const p of pools) {
    for (const family of [4, 6] as const) {
      const mask = p.maskSize[family];
      if (mask === undefined || !p.cidrs.some((c) => c.family === family)) continue;
      const primary = isPrimary(state, p);
      const pods = podAddressesPerCidr(family, mask, primary);
      const reserved = RESERVED_PER_CIDR + (primary ? NODE_OWN_ADDRESSES : 0);
      const what = `pool ${p.name}'s IPv${family} mask size /${mask} gives ${2 ** (bitsOf(family) - mask)} addresses per node CIDR, ${reserved} of them reserved by Cilium (network and broadcast${primary ? ', router, health' : ''}): ${Math.max(0, pods)} for pods`;
      // Multi-pool nodes get more CIDRs on demand: only a CIDR without room for one pod is wrong there.
      if (state.mode === 'multi-pool' ? pods < 1 : pods < KUBELET_DEFAULT_MAX_PODS) {
        out.push({
          severity: pods < 1 ? 'error' : 'warning',
          code: 'mask-size-too-small',
          objects: [poolObject(p)],
          message: what,
          why: state.mode === 'multi-pool' ? 'no pod can get an address from such a CIDR' : `a node holds one CIDR per family, so it cannot run more than ${Math.max(0, pods)} pods (kubelet allows ${KUBELET_DEFAULT_MAX_PODS} by default): pods beyond that fail with "range is full"`,
          fix: `use a mask size of at most /${bitsOf(family) - Math.ceil(Math.log2((state.mode === 'multi-pool' ? 1 : KUBELET_DEFAULT_MAX_PODS) + reserved))}${state.mode === 'cluster-pool' ? ' (cluster-pool-ipv' + family + '-mask-size applies to the whole pool: changing it means a migration to new CIDRs, node by node)' : ''}`,
        });
      }
    }
  }
}

/** The node names the state knows. */
function nodesOf(state: IpamState): Set<string> {
  const s = new Set<string>();
  for (const a of state.allocations) s.add(a.node);
  for (const n of state.nodeAddresses) s.add(n.node);
  for (const n of state.usedByNode.keys()) s.add(n);
  return s;
}

/** Node CIDRs left per pool and family against what a scale-up needs. */
function exhaustion(state: IpamState, pools: readonly Pool[], scaleUp: number | undefined, out: Finding[]): void {
  const nodeCount = nodesOf(state).size;
  const adding = scaleUp ?? Math.max(1, Math.ceil(nodeCount * DEFAULT_SCALE_UP_RATIO));
  for (const p of pools) {
    if (p.state === 'draining') continue;
    for (const family of [4, 6] as const) {
      const mask = p.maskSize[family];
      const cidrs = p.cidrs.filter((c) => c.family === family);
      if (mask === undefined || cidrs.length === 0) continue;
      const total = cidrs.reduce((n, c) => n + (c.bits <= mask ? 2 ** (mask - c.bits) : 0), 0);
      const held = state.allocations.filter((a) => a.pool === p.name && a.cidr.family === family && cidrs.some((c) => prefixContains(c, a.cidr)));
      const left = Math.max(0, total - held.length);
      const using = new Set(held.map((a) => a.node)).size;
      // A cluster-pool node takes one CIDR per family; a multi-pool node as many as its peers hold on average.
      const perNode = using === 0 ? 1 : Math.ceil(held.length / using);
      const needed = adding * perNode;
      if (left >= needed) continue;
      out.push({
        severity: left === 0 ? 'error' : 'warning',
        code: 'pool-exhausted',
        objects: [poolObject(p)],
        message: `pool ${p.name} has ${left} of ${total} IPv${family} node CIDRs (/${mask}) left; adding ${plural(adding, 'node')} needs ${needed}`,
        why: 'a node that cannot get a CIDR has no pod addresses: its Cilium agent does not become ready and pods scheduled there stay ContainerCreating',
        fix: state.mode === 'cluster-pool' ? `append a CIDR to ${CLUSTER_POOL_CIDR_KEYS} in cilium-config (never change or remove the existing ones) and restart the operator: kubectl -n kube-system rollout restart deployment/cilium-operator` : `add a CIDR to spec.ipv${family}.cidrs of the pool: kubectl edit ciliumpodippool ${p.name}`,
      });
    }
  }
}

/** Nodes whose used addresses near their allocation. */
function nearFull(state: IpamState, ciliumNodes: readonly KubeObject[], out: Finding[]): void {
  for (const cn of ciliumNodes) {
    const node = cn.metadata?.name ?? '';
    const used = usedAddresses(cn);
    if (used.length === 0) continue;
    const allocs = state.allocations.filter((a) => a.node === node);
    for (const family of [4, 6] as const) {
      const fam = allocs.filter((a) => a.cidr.family === family);
      if (fam.length === 0) continue;
      const capacity = fam.reduce((n, a) => n + Math.max(0, 2 ** (bitsOf(family) - a.cidr.bits) - RESERVED_PER_CIDR), 0);
      const n = used.filter((u) => (family === 6) === u.ip.includes(':')).length;
      if (capacity === 0 || n / capacity < NEAR_FULL_RATIO) continue;
      out.push({
        severity: 'warning',
        code: 'node-addresses-near-full',
        objects: [describeObject(cn)],
        message: `node ${node} uses ${n} of its ${capacity} IPv${family} pod addresses (${Math.round((n / capacity) * 100)} %, ${list(fam.map((a) => a.cidr.text))})`,
        why: 'when the allocation is full, new pods on the node fail with "range is full" and stay ContainerCreating',
        fix: state.mode === 'multi-pool' ? 'check that the pool has CIDRs left for the node to grow (pool-exhausted) and the operator is running' : `move pods off the node (kubectl cordon ${node}) or lower the node's maxPods; a larger node CIDR needs a new pool or mask size`,
      });
    }
  }
}

/** CiliumNodes whose Node is gone, still holding CIDRs. */
function orphanCiliumNodes(state: IpamState, nodeNames: ReadonlySet<string>, out: Finding[]): void {
  const held = new Map<string, string[]>();
  for (const a of state.allocations) {
    if (!a.origin.startsWith('CiliumNode ') || nodeNames.has(a.node)) continue;
    held.set(a.node, [...(held.get(a.node) ?? []), a.cidr.text]);
  }
  for (const [node, cidrs] of held) {
    out.push({
      severity: 'warning',
      code: 'ciliumnode-without-node',
      objects: [`CiliumNode ${node}`],
      message: `CiliumNode ${node} has no Node and still holds ${list(cidrs)}`,
      why: 'a CiliumNode left behind by a deleted node keeps its CIDRs allocated: the pool never gets them back',
      fix: `confirm the node is gone (kubectl get node ${node}), then kubectl delete ciliumnode ${node}`,
    });
  }
}

/** Two pods with one address. */
function duplicates(state: IpamState, pods: readonly CheckPod[], out: Finding[]): void {
  const owners = new Map<string, Set<string>>();
  const add = (ip: Prefix, who: string) => {
    const s = owners.get(ip.text) ?? new Set<string>();
    s.add(who);
    owners.set(ip.text, s);
  };
  for (const p of pods) for (const ip of p.ips) add(ip, `Pod ${p.namespace}/${p.name}`);
  for (const e of state.endpoints) for (const ip of e.ips) add(ip, `Pod ${e.namespace}/${e.pod}`);
  for (const [ip, who] of owners) {
    if (who.size < 2) continue;
    const names = [...who].sort();
    out.push({
      severity: 'error',
      code: 'duplicate-pod-address',
      objects: names,
      message: `${ip.replace(/\/(32|128)$/, '')} is held by ${plural(names.length, 'pod')}: ${list(names)}`,
      why: 'traffic to the address reaches only one of them; the other is unreachable and its replies may be dropped as spoofed',
      fix: `delete the newer pod so it gets a fresh address: kubectl -n NAMESPACE delete pod NAME (one of ${list(names.map((n) => n.slice('Pod '.length)))}); then find why IPAM handed the address out twice (overlapping pools, a CiliumNode re-created with the same CIDR)`,
    });
  }
}

/** Addresses a CRD-backed CiliumNode lists as used that no endpoint holds. */
function leakedUsed(state: IpamState, ciliumNodes: readonly KubeObject[], pods: readonly CheckPod[], out: Finding[]): void {
  const held = new Set<string>();
  for (const e of state.endpoints) for (const ip of e.ips) held.add(ip.text);
  for (const p of pods) for (const ip of p.ips) held.add(ip.text);
  for (const n of state.nodeAddresses) held.add(n.ip.text);
  for (const cn of ciliumNodes) {
    const leaked = usedAddresses(cn).filter((u) => {
      if (NODE_OWNERS.has(u.owner)) return false;
      const p = parseOrUndefined(u.ip);
      return p !== undefined && !held.has(p.text);
    });
    if (leaked.length === 0) continue;
    out.push({
      severity: 'warning',
      code: 'used-address-without-endpoint',
      objects: [describeObject(cn)],
      message: `CiliumNode ${cn.metadata?.name ?? ''} lists ${plural(leaked.length, 'address', 'addresses')} as used that no pod or CiliumEndpoint holds: ${list(leaked.map((u) => `${u.ip}${u.owner ? ` (owner ${u.owner})` : ''}`))}`,
      why: 'a leaked address is never handed out again: the node runs out of addresses early and the operator keeps allocating more from the cloud',
      fix: `check the owners still exist (kubectl get pod -n NAMESPACE NAME); if not, restart the Cilium agent on the node so it releases them: kubectl -n kube-system delete pod -l k8s-app=cilium --field-selector spec.nodeName=${cn.metadata?.name ?? ''}`,
    });
  }
}

/** Pods whose address is in no allocation, current or former. */
function podsOutside(state: IpamState, pods: readonly CheckPod[], out: Finding[]): void {
  const inAny = (ip: Prefix) => state.allocations.some((a) => prefixContains(a.cidr, ip)) || state.former.some((f) => prefixContains(f.cidr, ip));
  const byNode = new Map<string, Array<[string, string]>>();
  for (const p of pods) {
    for (const ip of p.ips) {
      if (inAny(ip)) continue;
      const e = byNode.get(p.node) ?? [];
      e.push([`Pod ${p.namespace}/${p.name}`, ip.text.replace(/\/(32|128)$/, '')]);
      byNode.set(p.node, e);
    }
  }
  for (const [node, list_] of byNode) {
    out.push({
      severity: 'warning',
      code: 'pod-outside-allocations',
      objects: [...new Set(list_.map(([pod]) => pod))],
      message: `${plural(list_.length, 'pod address', 'pod addresses')} on node ${node || '(unscheduled)'} in no node allocation: ${list(list_.map(([pod, ip]) => `${pod.slice('Pod '.length)} ${ip}`))}`,
      why: 'no IPAM state explains these addresses: they were handed out by another IPAM (a previous CNI, a removed pool) and other nodes may not route to them',
      fix: 'restart the pods so Cilium gives them addresses from the node\'s allocation (hubble-ipam-exporter plan lists the commands)',
    });
  }
}
