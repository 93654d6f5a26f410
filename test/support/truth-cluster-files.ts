import { parse, stringify } from 'yaml';
import { truthConfigYaml } from '../../src/sim/all-statuses.js';
import type { KubeObject } from '../../src/ipam/kube-object.js';

/**
 * The truth scenario's cluster (src/sim/all-statuses.ts) as an operator
 * without API access feeds it: what `kubectl get
 * nodes,ciliumnodes,ciliumpodippools -o yaml` prints (a List whose keys come
 * in kubectl's order, `kind: List` after `items`), refreshed by a loop, plus a
 * static IpamConfig for what the objects cannot say (the pools' CIDRs, the
 * draining legacy pool, the service ranges). Together they are the same IPAM
 * state as `truthConfigYaml`.
 */
export const truthPoolsYaml = stringify(staticPart(parse(truthConfigYaml) as TruthConfig));

interface TruthConfig {
  nodes: Array<{ name: string; former?: unknown[] }>;
  [key: string]: unknown;
}

/** truthConfigYaml less what the objects say: each node keeps only its former allocations. */
function staticPart(cfg: TruthConfig): TruthConfig {
  return { ...cfg, nodes: cfg.nodes.filter((n) => n.former).map((n) => ({ name: n.name, former: n.former })) };
}

interface TruthNode {
  name: string;
  ips: string[];
  podCIDRs: string[];
}

export const truthNodes: TruthNode[] = [
  { name: 'n1', ips: ['192.168.0.1', 'fc00::1'], podCIDRs: ['10.10.1.0/24', 'fd00:10:0:1::/64'] },
  { name: 'n2', ips: ['192.168.0.2', 'fc00::2'], podCIDRs: ['10.10.2.0/24', 'fd00:10:0:2::/64'] },
  { name: 'n3', ips: ['192.168.0.3', 'fc00::3'], podCIDRs: ['10.10.3.0/24'] },
];

const nodeObject = (n: TruthNode): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Node',
  metadata: { name: n.name },
  spec: {},
  status: { addresses: n.ips.map((address) => ({ address, type: 'InternalIP' })) },
});

const ciliumNodeObject = (n: TruthNode): KubeObject => ({
  apiVersion: 'cilium.io/v2',
  kind: 'CiliumNode',
  metadata: { name: n.name },
  spec: { ipam: { podCIDRs: n.podCIDRs } },
});

/** `kubectl get nodes,ciliumnodes,ciliumpodippools -o yaml` of `nodes`: Nodes first, then CiliumNodes. */
export function kubectlListYaml(nodes: TruthNode[] = truthNodes): string {
  const list = { apiVersion: 'v1', items: [...nodes.map(nodeObject), ...nodes.map(ciliumNodeObject)], kind: 'List', metadata: { resourceVersion: '' } };
  return stringify(list, { indentSeq: false });
}

/** The same List as `-o json` prints it. */
export function kubectlListJson(nodes: TruthNode[] = truthNodes): string {
  return `${JSON.stringify({ apiVersion: 'v1', items: [...nodes.map(nodeObject), ...nodes.map(ciliumNodeObject)], kind: 'List', metadata: { resourceVersion: '' } }, null, 4)}\n`;
}
