/**
 * A generated cluster as the Kubernetes API gives it (the IPAM rows' input):
 * the cilium-config ConfigMap (cluster-pool, 10.0.0.0/10 and fd00:10::/48 at
 * /24 and /64), per node a Node and a dual-stack CiliumNode (InternalIP v4
 * and v6, CiliumInternalIP, health addresses, podCIDRs), and CiliumEndpoints
 * spread evenly over the nodes (one v4 and one v6 address each, `node` the
 * node's InternalIP). Every object has a uid and a resourceVersion.
 */
import { nodeName, nodeV4Base } from './cluster.mjs';

const dotted = (v) => `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
const meta = (name, rv, extra = {}) => ({ name, uid: `uid-${name}`, resourceVersion: String(rv), creationTimestamp: '2024-01-01T00:00:00Z', ...extra });

export const nodeInternalV4 = (n) => `192.168.${n >> 8}.${n & 255}`;
export const nodeInternalV6 = (n) => `fc00::${(n + 1).toString(16)}`;
export const nodeCidrs = (n, gen = 0) => [`${dotted(nodeV4Base(n, 24) + gen * 256 * 16384)}/24`, `fd00:10:${gen.toString(16)}:${n.toString(16)}::/64`];

export function configMap() {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: meta('cilium-config', 1, { namespace: 'kube-system' }),
    data: { ipam: 'cluster-pool', 'cluster-pool-ipv4-cidr': '10.0.0.0/8', 'cluster-pool-ipv6-cidr': 'fd00:10::/32', 'cluster-pool-ipv4-mask-size': '24', 'cluster-pool-ipv6-mask-size': '64' },
  };
}

export function kubeNode(n) {
  const [v4, v6] = nodeCidrs(n);
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: meta(nodeName(n), 10 + n),
    spec: { podCIDR: v4, podCIDRs: [v4, v6] },
    status: { addresses: [{ type: 'InternalIP', address: nodeInternalV4(n) }, { type: 'InternalIP', address: nodeInternalV6(n) }, { type: 'Hostname', address: nodeName(n) }] },
  };
}

/** Node n's CiliumNode; `gen` moves its podCIDRs (gen 0 equals the Node's), `rv` its resourceVersion. */
export function ciliumNode(n, gen = 0, rv = 100_000 + n) {
  const [v4, v6] = nodeCidrs(n, gen);
  const base = nodeV4Base(n, 24) + gen * 256 * 16384;
  return {
    apiVersion: 'cilium.io/v2',
    kind: 'CiliumNode',
    metadata: meta(nodeName(n), rv),
    spec: {
      addresses: [
        { type: 'InternalIP', ip: nodeInternalV4(n) },
        { type: 'InternalIP', ip: nodeInternalV6(n) },
        { type: 'CiliumInternalIP', ip: dotted(base + 1) },
        { type: 'CiliumInternalIP', ip: `fd00:10:${gen.toString(16)}:${n.toString(16)}::1` },
      ],
      health: { ipv4: dotted(base + 2), ipv6: `fd00:10:${gen.toString(16)}:${n.toString(16)}::2` },
      ipam: { podCIDRs: [v4, v6] },
    },
    status: { ipam: { used: {} } },
  };
}

/** Endpoint e (of `perNode` per node) on node e % nodes. */
export function ciliumEndpoint(e, nodes) {
  const n = e % nodes;
  const k = Math.floor(e / nodes);
  const base = nodeV4Base(n, 24);
  return {
    apiVersion: 'cilium.io/v2',
    kind: 'CiliumEndpoint',
    metadata: meta(`pod-${e}`, 1_000_000 + e, { namespace: `ns-${e % 50}` }),
    status: {
      networking: {
        node: nodeInternalV4(n),
        addressing: [{ ipv4: dotted(base + 3 + (k % 250)), ipv6: `fd00:10:0:${n.toString(16)}::${(k + 3).toString(16)}` }],
      },
    },
  };
}

/** Every object of a cluster of `nodes` nodes and `endpoints` CiliumEndpoints. */
export function clusterObjects(nodes, endpoints = 0) {
  const out = [configMap()];
  for (let n = 0; n < nodes; n++) out.push(kubeNode(n), ciliumNode(n));
  for (let e = 0; e < endpoints; e++) out.push(ciliumEndpoint(e, nodes));
  return out;
}
