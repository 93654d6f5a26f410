import { defaultScenario, type Scenario } from './scenario.js';

/**
 * A small cluster in which every address status occurs, in both families:
 * current, wrong_node, stale, unallocated, out_of_pool, service, node,
 * external and unknown (flows without an IP layer). With its IpamConfig.
 * The tests' ground truth and the benchmark's relay both use it.
 */
export const truthConfigYaml = `
apiVersion: hubble-ipam-exporter/v1
kind: IpamConfig
mode: cluster-pool
serviceCidrs: [10.96.0.0/12, "fd00:10:96::/112"]
pools:
  - { name: default, cidrs: [10.10.0.0/16, "fd00:10::/48"], maskSize: { ipv4: 24, ipv6: 64 } }
  - { name: legacy, cidrs: [10.20.0.0/16], maskSize: { ipv4: 24 }, state: draining }
nodes:
  - name: n1
    addresses: [{ type: InternalIP, ip: 192.168.0.1 }, { type: InternalIP, ip: "fc00::1" }]
    allocations: [{ pool: default, cidrs: [10.10.1.0/24, "fd00:10:0:1::/64"] }]
    former: [{ pool: legacy, cidrs: [10.20.1.0/24], reason: host-scope range before the migration }]
  - name: n2
    addresses: [{ type: InternalIP, ip: 192.168.0.2 }, { type: InternalIP, ip: "fc00::2" }]
    allocations: [{ pool: default, cidrs: [10.10.2.0/24, "fd00:10:0:2::/64"] }]
  - name: n3
    addresses: [{ type: InternalIP, ip: 192.168.0.3 }, { type: InternalIP, ip: "fc00::3" }]
    allocations: [{ pool: default, cidrs: [10.10.3.0/24] }]
`;

export function truthScenario(totalFlows: number, flowsPerSecond = 10_000): Scenario {
  const base = defaultScenario();
  return {
    ...base,
    seed: 7,
    clusterName: 'test',
    totalFlows,
    flowsPerSecond,
    noIpEvery: 50,
    nodes: [
      { name: 'n1', internalIP: '192.168.0.1', internalIPv6: 'fc00::1' },
      { name: 'n2', internalIP: '192.168.0.2', internalIPv6: 'fc00::2' },
      { name: 'n3', internalIP: '192.168.0.3', internalIPv6: 'fc00::3' },
    ],
    pods: [
      { name: 'cur1-7d9f-aaaaa', namespace: 'shop', node: 'n1', app: 'cur1', ips: ['10.10.1.10', 'fd00:10:0:1::10'] },
      { name: 'cur2-7d9f-bbbbb', namespace: 'shop', node: 'n2', app: 'cur2', ips: ['10.10.2.10', 'fd00:10:0:2::10'] },
      { name: 'stale-5c4b-ccccc', namespace: 'legacy', node: 'n1', app: 'stale', ips: ['10.20.1.5'], dropRate: 0.6 },
      { name: 'unalloc-6f-ddddd', namespace: 'shop', node: 'n2', app: 'unalloc', ips: ['10.10.9.9', 'fd00:10:0:9::9'] },
      { name: 'oop-8a-eeeee', namespace: 'rogue', node: 'n3', app: 'oop', ips: ['172.31.0.5', 'fd99::5'] },
      { name: 'wrong-9b-fffff', namespace: 'shop', node: 'n3', app: 'wrong', ips: ['10.10.1.77'] },
    ],
    externalIPs: ['142.250.74.110', '2a00:1450:4001:82b::200e'],
    serviceIPs: ['10.96.0.10', 'fd00:10:96::a'],
    uuids: true,
  };
}
