import { ipamModes, type IpamMode, type IpamProblem, type NodeAddressType } from './model.js';

/**
 * Our own declarative IPAM description, for clusters without API access or
 * to add what the objects cannot say (the kubernetes pool CIDR, service
 * CIDRs, a migration). YAML or JSON:
 *
 * ```yaml
 * apiVersion: hubble-ipam-exporter/v1
 * kind: IpamConfig
 * mode: cluster-pool              # optional: overrides cilium-config and inference
 * serviceCidrs: [10.96.0.0/12]
 * pools:
 *   - name: default
 *     cidrs: [172.20.0.0/16]
 *     maskSize: { ipv4: 24 }
 *     state: active               # or draining
 * nodes:
 *   - name: kind-worker
 *     addresses: [{ type: InternalIP, ip: 172.19.0.3 }]
 *     allocations: [{ pool: default, cidrs: [172.20.1.0/24] }]
 *     former: [{ pool: kubernetes, cidrs: [10.244.1.0/24], reason: host-scope before the switch }]
 * migration:
 *   from: { pools: [kubernetes], cidrs: [10.244.0.0/16] }
 *   to: { pools: [default] }
 * ```
 */
export const CONFIG_API_VERSION = 'hubble-ipam-exporter/v1';
export const CONFIG_KIND = 'IpamConfig';

export interface IpamConfig {
  apiVersion: typeof CONFIG_API_VERSION;
  kind: typeof CONFIG_KIND;
  mode?: IpamMode;
  serviceCidrs?: string[];
  pools?: Array<{ name: string; cidrs?: string[]; maskSize?: { ipv4?: number; ipv6?: number }; state?: 'active' | 'draining' }>;
  nodes?: Array<{
    name: string;
    addresses?: Array<{ type: NodeAddressType; ip: string }>;
    allocations?: Array<{ pool: string; cidrs?: string[] }>;
    former?: Array<{ pool: string; cidrs?: string[]; reason?: string; releasedAt?: string }>;
  }>;
  migration?: { from?: { name?: string; pools?: string[]; cidrs?: string[] }; to?: { pools?: string[] } };
}

export function isIpamConfig(doc: unknown): boolean {
  return typeof doc === 'object' && doc !== null && (doc as { kind?: unknown }).kind === CONFIG_KIND;
}

type Shape = 'string' | 'number' | 'strings' | { [key: string]: Shape } | [Shape];

const addressTypes = ['InternalIP', 'ExternalIP', 'CiliumInternalIP', 'HealthIP', 'IngressIP'];
const schema: { [key: string]: Shape } = {
  apiVersion: 'string',
  kind: 'string',
  mode: 'string',
  serviceCidrs: 'strings',
  pools: [{ name: 'string', cidrs: 'strings', maskSize: { ipv4: 'number', ipv6: 'number' }, state: 'string' }],
  nodes: [
    {
      name: 'string',
      addresses: [{ type: 'string', ip: 'string' }],
      allocations: [{ pool: 'string', cidrs: 'strings' }],
      former: [{ pool: 'string', cidrs: 'strings', reason: 'string', releasedAt: 'string' }],
    },
  ],
  migration: { from: { name: 'string', pools: 'strings', cidrs: 'strings' }, to: { pools: 'strings' } },
};

function check(value: unknown, shape: Shape, path: string, where: string, out: IpamProblem[]): void {
  const fail = (message: string) => out.push({ where, field: path, value: typeof value === 'string' ? value : JSON.stringify(value) ?? 'undefined', message });
  if (shape === 'string') {
    if (typeof value !== 'string') fail('expected a string');
  } else if (shape === 'number') {
    if (typeof value !== 'number') fail('expected a number');
  } else if (shape === 'strings') {
    if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) fail('expected a list of strings');
  } else if (Array.isArray(shape)) {
    if (!Array.isArray(value)) {
      fail('expected a list');
      return;
    }
    value.forEach((v, i) => check(v, shape[0], `${path}[${i}]`, where, out));
  } else {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      fail('expected a mapping');
      return;
    }
    for (const [k, v] of Object.entries(value)) {
      const sub = shape[k];
      const p = path ? `${path}.${k}` : k;
      if (sub === undefined) out.push({ where, field: p, value: JSON.stringify(v) ?? '', message: `unknown field (known: ${Object.keys(shape).join(', ')})` });
      else if (v !== undefined && v !== null) check(v, sub, p, where, out);
    }
  }
}

/** Checks a parsed document against the IpamConfig shape; every problem names its field. */
export function validateConfig(doc: unknown, where: string): { config?: IpamConfig; problems: IpamProblem[] } {
  const problems: IpamProblem[] = [];
  check(doc, schema, '', where, problems);
  const d = doc as Partial<IpamConfig>;
  if (d.apiVersion !== CONFIG_API_VERSION) problems.push({ where, field: 'apiVersion', value: String(d.apiVersion), message: `expected ${CONFIG_API_VERSION}` });
  if (d.mode !== undefined && !(ipamModes as readonly string[]).includes(d.mode)) {
    problems.push({ where, field: 'mode', value: String(d.mode), message: `unknown IPAM mode (known: ${ipamModes.join(', ')})` });
  }
  d.pools?.forEach((p, i) => {
    if (p.state !== undefined && p.state !== 'active' && p.state !== 'draining') problems.push({ where, field: `pools[${i}].state`, value: String(p.state), message: 'expected active or draining' });
  });
  d.nodes?.forEach((n, i) =>
    n.addresses?.forEach((a, j) => {
      if (!addressTypes.includes(a.type)) problems.push({ where, field: `nodes[${i}].addresses[${j}].type`, value: String(a.type), message: `expected one of ${addressTypes.join(', ')}` });
    }),
  );
  return problems.length > 0 ? { problems } : { config: d as IpamConfig, problems };
}
