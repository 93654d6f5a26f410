import type { SourceItem } from '../ipam/from-objects.js';
import type { IpamState } from '../ipam/model.js';
import type { CheckPod } from './check-ipam.js';
import { checkIpam } from './check-ipam.js';
import { severities, type Finding, type Severity } from './finding.js';

/**
 * What a check of the state alone cannot see (an exporter given no objects:
 * only the translated state): the findings that read cilium-config, the
 * Node list or CiliumNodes' `status.ipam.used` need the objects.
 */
export const LIVE_NOT_CHECKED: readonly string[] = [
  'multi-pool-no-default-pool (needs cilium-config: ipam, ipam-default-ip-pool)',
  'pool-outside-native-routing-cidr (needs cilium-config: routing-mode, ipv4/ipv6-native-routing-cidr)',
  'node-addresses-near-full (needs CiliumNode status.ipam.used lists; the state keeps counts only)',
  'ciliumnode-without-node (needs the Node list)',
  'used-address-without-endpoint (needs CiliumNode status.ipam.used lists)',
  'pod-outside-allocations (needs the pod inventory)',
];
/** Not checked without pods. */
const NEEDS_PODS = 'pod-outside-allocations (needs the pod inventory: serve --watch-pods, or pods in an --ipam-file)';

export interface LiveCheck {
  /** `objects`: the state in force and the objects its sources hold now; `state`: the state alone. */
  checkedFrom: 'objects' | 'state';
  notChecked: readonly string[];
  counts: Record<Severity, number>;
  findings: Finding[];
}

/**
 * `checkIpam` over the state in force and, when given, the objects the
 * sources hold (cilium-config, Nodes, CiliumNodes) and the inventory's pods.
 */
export function checkLive(state: IpamState, objects: readonly SourceItem[] = [], pods?: readonly CheckPod[]): LiveCheck {
  const findings = checkIpam({ objects, state, ...(pods && pods.length > 0 ? { pods } : {}) });
  const counts = Object.fromEntries(severities.map((s) => [s, findings.filter((f) => f.severity === s).length])) as Record<Severity, number>;
  const withObjects = objects.length > 0;
  const notChecked = withObjects ? (pods && pods.length > 0 ? [] : [NEEDS_PODS]) : LIVE_NOT_CHECKED;
  return { checkedFrom: withObjects ? 'objects' : 'state', notChecked, counts, findings };
}
