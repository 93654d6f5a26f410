/**
 * A generated cluster of any size, dual stack, for the measurements that need
 * many nodes (IPAM lookups, /metrics at 5,000 nodes, the soak):
 *
 * - pool `default`: 10.0.0.0/10 and fd00:10::/48; node n holds the n-th /mask
 *   (10.0.0.0/24, 10.0.1.0/24, … at mask 24) and fd00:10:0:<n>::/64;
 * - pool `legacy` (draining): 10.128.0.0/10; node n formerly held its n-th /mask;
 * - node n: InternalIP 192.168.<n>, fc00::<n+1>, CiliumInternalIP first address + 1;
 * - service CIDRs 10.96.0.0/12 and fd00:10:96::/112.
 */
export const nodeName = (n) => `worker-${String(n).padStart(4, '0')}`;

const dotted = (v) => `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
const DEFAULT_V4 = (10 << 24) >>> 0;
const LEGACY_V4 = ((10 << 24) | (128 << 16)) >>> 0;

/** Node n's current v4 CIDR base (as a number). */
export const nodeV4Base = (n, mask) => DEFAULT_V4 + n * 2 ** (32 - mask);
export const legacyV4Base = (n, mask) => LEGACY_V4 + n * 2 ** (32 - mask);

/** The low 32 bits of an IPv6 address as its last two groups (`a:b`), so that counts past 65,535 stay valid. */
const v6Tail = (x) => `${Math.floor(x / 65536).toString(16)}:${(x % 65536).toString(16)}`;

/** Address k (0-based, pods start at +2) in node n's CIDRs. */
export const podV4 = (n, k, mask = 24) => dotted(nodeV4Base(n, mask) + 2 + k);
export const podV6 = (n, k) => `fd00:10:0:${n.toString(16)}::${v6Tail(k + 2)}`;
export const stalePodV4 = (n, k, mask = 24) => dotted(legacyV4Base(n, mask) + 2 + k);
/** Inside pool `default`, in no node's allocation (for fewer than 8,192 nodes at /24). */
export const unallocatedV4 = (i) => dotted(((10 << 24) | (63 << 16)) + 2 + i);
export const unallocatedV6 = (i) => `fd00:10:0:ffff::${v6Tail(i + 2)}`;
/** Outside every pool. */
export const outOfPoolV4 = (i) => dotted(((172 << 24) | (16 << 16)) + 2 + i);
export const outOfPoolV6 = (i) => `fd99::${v6Tail(i + 2)}`;

/** The IpamConfig (as an object; JSON is YAML) of a cluster of `nodes` nodes. */
export function clusterConfig(nodes, { v4Mask = 24 } = {}) {
  const cfgNodes = [];
  for (let n = 0; n < nodes; n++) {
    cfgNodes.push({
      name: nodeName(n),
      addresses: [
        { type: 'InternalIP', ip: `192.168.${n >> 8}.${n & 255}` },
        { type: 'InternalIP', ip: `fc00::${(n + 1).toString(16)}` },
        { type: 'CiliumInternalIP', ip: dotted(nodeV4Base(n, v4Mask) + 1) },
      ],
      allocations: [{ pool: 'default', cidrs: [`${dotted(nodeV4Base(n, v4Mask))}/${v4Mask}`, `fd00:10:0:${n.toString(16)}::/64`] }],
      former: [{ pool: 'legacy', cidrs: [`${dotted(legacyV4Base(n, v4Mask))}/${v4Mask}`], reason: 'host-scope range before the migration' }],
    });
  }
  return {
    apiVersion: 'hubble-ipam-exporter/v1',
    kind: 'IpamConfig',
    mode: 'cluster-pool',
    serviceCidrs: ['10.96.0.0/12', 'fd00:10:96::/112'],
    pools: [
      { name: 'default', cidrs: ['10.0.0.0/10', 'fd00:10::/48'], maskSize: { ipv4: v4Mask, ipv6: 64 } },
      { name: 'legacy', cidrs: ['10.128.0.0/10'], maskSize: { ipv4: v4Mask }, state: 'draining' },
    ],
    nodes: cfgNodes,
  };
}

const apps = ['frontend', 'cart', 'checkout', 'catalog', 'payments', 'redis', 'search', 'ads'];

/**
 * The soak scenario: `pods` pods over `nodes` nodes, every status among them
 * (1 in 20 each stale, unallocated, out-of-pool, wrong-node; the rest
 * current), each active in its own short window (`perWindow` pods at a time)
 * so that every pod shows up in the pool of pre-encoded flows while the
 * scenario model stays cheap per flow.
 */
export function soakScenario({ pods = 100_000, nodes = 50, v4Mask = 21, perWindow = 100, flowsPerPod = 3 } = {}) {
  const perNode = Math.ceil(pods / nodes);
  if (perNode + 2 > 2 ** (32 - v4Mask) - 2) throw new Error(`${perNode} pods per node do not fit a /${v4Mask}`);
  const windowSec = 1;
  const list = [];
  for (let p = 0; p < pods; p++) {
    const n = p % nodes;
    const k = Math.floor(p / nodes);
    const app = apps[p % apps.length];
    const kind = p % 20;
    let ips;
    let node = n;
    if (kind === 0) ips = [stalePodV4(n, k, v4Mask)];
    else if (kind === 1) ips = [unallocatedV4(p), unallocatedV6(p)];
    else if (kind === 2) ips = [outOfPoolV4(p), outOfPoolV6(p)];
    else {
      ips = [podV4(n, k, v4Mask), podV6(n, k)];
      if (kind === 3) node = (n + 1) % nodes; // runs on the next node: wrong_node
    }
    const w = Math.floor(p / perWindow);
    list.push({
      name: `${app}-${(p * 7919).toString(36).padStart(5, '0')}-${p.toString(36).padStart(5, 'x')}`,
      namespace: `team-${p % 37}`,
      node: nodeName(node),
      ips,
      app,
      from: w * windowSec,
      until: (w + 1) * windowSec,
      ...(kind === 0 ? { dropRate: 0.5 } : {}),
    });
  }
  const windows = Math.ceil(pods / perWindow);
  return {
    scenario: {
      seed: 11,
      clusterName: 'soak',
      nodes: Array.from({ length: nodes }, (_, n) => ({ name: nodeName(n), internalIP: `192.168.${n >> 8}.${n & 255}`, internalIPv6: `fc00::${(n + 1).toString(16)}` })),
      pods: list,
      externalIPs: ['142.250.74.110', '2a00:1450:4001:82b::200e', '151.101.1.69'],
      serviceIPs: ['10.96.0.10', 'fd00:10:96::a'],
      noIpEvery: 50,
      flowsPerSecond: Math.round((perWindow * flowsPerPod) / windowSec),
      uuids: true,
    },
    config: clusterConfig(nodes, { v4Mask }),
    poolSize: Math.round(windows * perWindow * flowsPerPod),
  };
}
