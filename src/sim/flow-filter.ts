import ipaddr from 'ipaddr.js';
import { IPVersion, type Flow, type FlowFilter } from '../gen/flow/flow_pb.js';

/**
 * The subset of Hubble's server-side flow filters that the simulated relay
 * applies. A filter that sets any other field is refused, so a test never
 * silently passes through a filter that was not applied.
 */
const supported = new Set([
  'uuid',
  'sourceIp',
  'destinationIp',
  'sourcePod',
  'destinationPod',
  'verdict',
  'nodeName',
  'ipVersion',
  'trafficDirection',
  'sourceIdentity',
  'destinationIdentity',
]);

export function unsupportedFilterFields(f: FlowFilter): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(f)) {
    if (k === '$typeName' || k === '$unknown') continue;
    if (Array.isArray(v) && v.length > 0 && !supported.has(k)) out.push(k);
  }
  if (f.experimental !== undefined && f.experimental.celExpression.length > 0) out.push('experimental.celExpression');
  return out;
}

function ipMatches(ip: string, patterns: string[]): boolean {
  if (patterns.length === 0) return true;
  if (ip === '') return false;
  let addr: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    addr = ipaddr.process(ip);
  } catch {
    return false;
  }
  for (const p of patterns) {
    if (p.includes('/')) {
      try {
        const [net, bits] = ipaddr.parseCIDR(p);
        if (net.kind() === addr.kind() && addr.match([net, bits] as never)) return true;
      } catch {
        // an invalid CIDR matches nothing
      }
    } else if (p === ip) {
      return true;
    }
  }
  return false;
}

/** Hubble's pod filter: `name-prefix`, `namespace/name-prefix` or `namespace/`. */
function podMatches(ns: string, pod: string, patterns: string[]): boolean {
  if (patterns.length === 0) return true;
  return patterns.some((p) => {
    const slash = p.indexOf('/');
    if (slash < 0) return pod !== '' && pod.startsWith(p);
    return ns === p.slice(0, slash) && pod.startsWith(p.slice(slash + 1));
  });
}

/**
 * Hubble's node filter: a glob (`*` within one name part) on the full
 * `cluster/node` name, `cluster/` for every node of a cluster, or a bare node
 * name that matches in any cluster.
 */
function nodeMatches(node: string, patterns: string[]): boolean {
  if (patterns.length === 0) return true;
  const slash = node.indexOf('/');
  const bare = slash < 0 ? node : node.slice(slash + 1);
  return patterns.some((p) => {
    if (p.endsWith('/')) return node.startsWith(p);
    const re = new RegExp(`^${p.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}$`);
    return p.includes('/') ? re.test(node) : re.test(bare);
  });
}

function inList<T>(v: T, list: T[]): boolean {
  return list.length === 0 || list.includes(v);
}

/** All set fields of one filter must match. */
export function filterMatches(flow: Flow, f: FlowFilter): boolean {
  const src = flow.source;
  const dst = flow.destination;
  return (
    inList(flow.uuid, f.uuid) &&
    ipMatches(flow.IP?.source ?? '', f.sourceIp) &&
    ipMatches(flow.IP?.destination ?? '', f.destinationIp) &&
    podMatches(src?.namespace ?? '', src?.podName ?? '', f.sourcePod) &&
    podMatches(dst?.namespace ?? '', dst?.podName ?? '', f.destinationPod) &&
    inList(flow.verdict, f.verdict) &&
    nodeMatches(flow.nodeName, f.nodeName) &&
    inList(flow.IP?.ipVersion ?? IPVersion.IP_NOT_USED, f.ipVersion) &&
    inList(flow.trafficDirection, f.trafficDirection) &&
    inList(src?.identity ?? 0, f.sourceIdentity) &&
    inList(dst?.identity ?? 0, f.destinationIdentity)
  );
}

/** Hubble's semantics: sent when any whitelist filter matches (or there is none) and no blacklist filter does. */
export function flowPasses(flow: Flow, whitelist: FlowFilter[], blacklist: FlowFilter[]): boolean {
  if (whitelist.length > 0 && !whitelist.some((f) => filterMatches(flow, f))) return false;
  return !blacklist.some((f) => filterMatches(flow, f));
}
