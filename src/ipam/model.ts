import type { Prefix } from '../net/prefix.js';

/**
 * The cluster's IPAM state as plain data: what the sources (files, our own
 * config, the live Kubernetes watch) produce and what a snapshot is built
 * from. Every entry says where it came from, so an error can name it.
 */

/** Cilium's `ipam` modes. CRD-backed cloud modes list individual IPs per node. */
export type IpamMode = 'kubernetes' | 'cluster-pool' | 'multi-pool' | 'crd' | 'eni' | 'azure' | 'alibabacloud' | 'delegated-plugin';

export const ipamModes: readonly IpamMode[] = ['kubernetes', 'cluster-pool', 'multi-pool', 'crd', 'eni', 'azure', 'alibabacloud', 'delegated-plugin'];

/** Where an entry came from: `CiliumNode kind-worker spec.ipam.podCIDRs[0]`, `config.yaml pools[1].cidrs[0]`. */
export type Origin = string;

export interface Pool {
  name: string;
  cidrs: Prefix[];
  /** Per-node CIDR length, per family (absent where the pool does not carve node CIDRs). */
  maskSize: { 4?: number; 6?: number };
  /** `draining`: being migrated away from; its allocations count as former. */
  state: 'active' | 'draining';
  origin: Origin;
}

export interface Allocation {
  node: string;
  pool: string;
  cidr: Prefix;
  /** When it was first seen (ISO time), when known. */
  since?: string;
  origin: Origin;
}

export interface FormerAllocation {
  node: string;
  pool: string;
  cidr: Prefix;
  /** When it was released or first seen released (ISO time). */
  releasedAt: string;
  /** Why it counts as former, for people: "CiliumNode re-created with new podCIDRs", … */
  reason: string;
  origin: Origin;
}

export type NodeAddressType = 'InternalIP' | 'ExternalIP' | 'CiliumInternalIP' | 'HealthIP' | 'IngressIP';

export interface NodeAddress {
  node: string;
  type: NodeAddressType;
  ip: Prefix;
  origin: Origin;
}

export interface ServiceCidr {
  cidr: Prefix;
  origin: Origin;
}

/** A pod's endpoint as Cilium knows it (CiliumEndpoint). */
export interface EndpointInfo {
  namespace: string;
  pod: string;
  node: string;
  ips: Prefix[];
}

export interface IpamState {
  mode: IpamMode;
  /** How the mode was decided: `cilium-config ipam`, `inferred: …`, `config`. */
  modeSource: string;
  pools: Pool[];
  allocations: Allocation[];
  former: FormerAllocation[];
  nodeAddresses: NodeAddress[];
  serviceCidrs: ServiceCidr[];
  endpoints: EndpointInfo[];
  /** Addresses in use per node, from `CiliumNode.status.ipam.used` (node → count). */
  usedByNode: Map<string, number>;
}

export function emptyState(mode: IpamMode = 'kubernetes', modeSource = 'default'): IpamState {
  return { mode, modeSource, pools: [], allocations: [], former: [], nodeAddresses: [], serviceCidrs: [], endpoints: [], usedByNode: new Map() };
}

/** One thing wrong with the input, named precisely. */
export interface IpamProblem {
  /** The file or object: `ipam.yaml`, `CiliumNode kind-worker`. */
  where: string;
  /** The field: `spec.ipam.podCIDRs[0]`. */
  field: string;
  /** The offending value. */
  value: string;
  message: string;
}

export function formatProblem(p: IpamProblem): string {
  return `${p.where}: ${p.field}=${JSON.stringify(p.value)}: ${p.message}`;
}

/** A rejected IPAM update: every problem found, each naming where, field and value. */
export class IpamError extends Error {
  override readonly name = 'IpamError';

  constructor(readonly problems: IpamProblem[]) {
    super(problems.length === 1 ? formatProblem(problems[0]!) : `${problems.length} IPAM problems:\n${problems.map((p) => `  ${formatProblem(p)}`).join('\n')}`);
  }
}
