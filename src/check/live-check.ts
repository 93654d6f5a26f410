import type { IpamState } from '../ipam/model.js';
import { checkIpam } from './check-ipam.js';
import { severities, type Finding, type Severity } from './finding.js';

/**
 * What the live check cannot see: the IPAM store keeps the translated state,
 * not the objects it came from, so the findings that read cilium-config, the
 * Node list or CiliumNodes' `status.ipam.used` need `hubble-ipam-exporter
 * check` on a dump.
 */
export const LIVE_NOT_CHECKED: readonly string[] = [
  'multi-pool-no-default-pool (needs cilium-config: ipam, ipam-default-ip-pool)',
  'pool-outside-native-routing-cidr (needs cilium-config: routing-mode, ipv4/ipv6-native-routing-cidr)',
  'node-addresses-near-full (needs CiliumNode status.ipam.used lists; the state keeps counts only)',
  'ciliumnode-without-node (needs the Node list)',
  'used-address-without-endpoint (needs CiliumNode status.ipam.used lists)',
  'pod-outside-allocations (needs the pod inventory)',
];

export interface LiveCheck {
  /** `state`: checked against the IPAM state in force, without its objects. */
  checkedFrom: 'state';
  notChecked: readonly string[];
  counts: Record<Severity, number>;
  findings: Finding[];
}

/** `checkIpam` over the state in force (duplicate addresses from its CiliumEndpoints). */
export function checkLive(state: IpamState): LiveCheck {
  const findings = checkIpam({ objects: [], state });
  const counts = Object.fromEntries(severities.map((s) => [s, findings.filter((f) => f.severity === s).length])) as Record<Severity, number>;
  return { checkedFrom: 'state', notChecked: LIVE_NOT_CHECKED, counts, findings };
}
