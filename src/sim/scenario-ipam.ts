import { stringify } from 'yaml';
import type { KubeObject } from '../ipam/kube-object.js';
import { FAMILY_V4, IpAddr, parseIpInto } from '../net/ip.js';
import { prefixOfAddr } from '../net/prefix.js';
import type { Scenario, SimPod } from './scenario.js';

/** Mask size of a node's IPv4 pod CIDR (kubernetes host-scope's default, as kind carves them). */
export const NODE_CIDR_BITS_V4 = 24;
/** Mask size of a node's IPv6 pod CIDR. */
export const NODE_CIDR_BITS_V6 = 64;

/**
 * The IPAM objects of a scenario's cluster, as `kubectl get -o yaml` gives
 * them: the cilium-config ConfigMap (kubernetes host-scope), one Node and one
 * CiliumNode per node with the pod CIDRs that hold its pods' addresses (a
 * /24 and a /64 around each), a Service per service IP, and the Pods (each
 * name once, its last phase; owned by a ReplicaSet named after the pod less
 * its last part). `serve --ipam-source files --ipam-file` on them classifies
 * every pod address of the scenario as `current`, on its own node.
 */
export function scenarioIpamObjects(s: Scenario): KubeObject[] {
  const cidrs = new Map<string, string[]>(s.nodes.map((n) => [n.name, []]));
  const ip = new IpAddr();
  for (const p of s.pods) {
    for (const a of p.ips) {
      if (!parseIpInto(a, ip)) throw new Error(`pod ${p.namespace}/${p.name}: invalid IP ${JSON.stringify(a)}`);
      const cidr = prefixOfAddr(ip, ip.family === FAMILY_V4 ? NODE_CIDR_BITS_V4 : NODE_CIDR_BITS_V6).text;
      const list = cidrs.get(p.node)!;
      if (!list.includes(cidr)) list.push(cidr);
    }
  }
  const objects: KubeObject[] = [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cilium-config', namespace: 'kube-system' }, data: { ipam: 'kubernetes' } }];
  for (const n of s.nodes) {
    const podCIDRs = cidrs.get(n.name)!;
    const addresses = [{ type: 'InternalIP', address: n.internalIP }, ...(n.internalIPv6 ? [{ type: 'InternalIP', address: n.internalIPv6 }] : [])];
    objects.push({
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: n.name },
      spec: { ...(podCIDRs[0] ? { podCIDR: podCIDRs[0] } : {}), podCIDRs },
      status: { addresses },
    });
    objects.push({
      apiVersion: 'cilium.io/v2',
      kind: 'CiliumNode',
      metadata: { name: n.name },
      spec: { addresses: addresses.map((a) => ({ type: a.type, ip: a.address })), ipam: { podCIDRs } },
    });
  }
  (s.serviceIPs ?? []).forEach((clusterIP, i) => {
    objects.push({ apiVersion: 'v1', kind: 'Service', metadata: { name: `service-${i}`, namespace: 'default' }, spec: { clusterIP, clusterIPs: [clusterIP] } });
  });
  const byName = new Map<string, SimPod>();
  for (const p of s.pods) byName.set(`${p.namespace}/${p.name}`, p);
  for (const p of byName.values()) {
    const rs = p.name.includes('-') ? p.name.slice(0, p.name.lastIndexOf('-')) : undefined;
    objects.push({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: p.name,
        namespace: p.namespace,
        labels: { app: p.app },
        ...(rs ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: rs, controller: true }] } : {}),
      },
      spec: { nodeName: p.node },
      status: { phase: 'Running', podIP: p.ips[0], podIPs: p.ips.map((a) => ({ ip: a })) },
    });
  }
  return objects;
}

/** The objects as one `kind: List` YAML document, as `kubectl get -o yaml` writes it. */
export function scenarioIpamYaml(s: Scenario): string {
  return stringify({ apiVersion: 'v1', kind: 'List', items: scenarioIpamObjects(s), metadata: { resourceVersion: '' } }, { aliasDuplicateObjects: false });
}
