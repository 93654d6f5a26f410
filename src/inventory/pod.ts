import { hostPrefix, PrefixError, type Prefix } from '../net/prefix.js';
import type { SourceItem } from '../ipam/from-objects.js';
import { describeObject, type KubeObject } from '../ipam/kube-object.js';
import type { IpamProblem } from '../ipam/model.js';
import { resolveWorkload, type Workload } from './workload.js';

export type { Workload } from './workload.js';

/** A pod as the inventory knows it, from a Pod object (or a CiliumEndpoint when no Pod is known). */
export interface PodRecord {
  namespace: string;
  name: string;
  /** `spec.nodeName` ('' unknown). */
  node: string;
  /** Host-network pods hold node addresses, not pod addresses. */
  hostNetwork: boolean;
  /** `status.podIPs` (`status.podIP` as fallback), as host prefixes. */
  ips: Prefix[];
  /** `status.startTime`. */
  startTime?: string;
  /** The resolved owner (see workload.ts). */
  workload: Workload;
  /** Where: `kubernetes` or the file name. */
  source: string;
  /**
   * The node's IP when the record comes from a CiliumEndpoint only
   * (`status.networking.node`): its node name is then '' until the inventory
   * maps this IP to a node through the IPAM state's node addresses.
   */
  nodeIp?: string;
  /** `Pod` or `CiliumEndpoint`: the object the record was made from. */
  from: 'Pod' | 'CiliumEndpoint';
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const get = (o: unknown, ...path: string[]): unknown => path.reduce<unknown>((cur, k) => (isObj(cur) ? cur[k] : undefined), o);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** One object's parse: its record (undefined: skipped), its problems, its pod key. */
interface Parsed {
  where: string;
  rec: PodRecord | undefined;
  problems: IpamProblem[];
  key: string;
}

/**
 * Parses of Pod and CiliumEndpoint objects kept across calls, per object (the
 * same JS object, from the same `where`, is parsed once): the live inventory
 * hands every object over on every change, and only the changed ones are new.
 * Objects are never modified once handed over (the watch replaces them).
 */
export class PodParseCache {
  /** By object (a Map, not a WeakMap: 100,000 ephemerons cost every GC more than sweep()). */
  private readonly byObject = new Map<KubeObject, Parsed & { gen: number }>();
  private gen = 0;
  private seen = 0;
  /** Objects parsed (not found in the cache) since this cache was made. */
  parsed = 0;

  /** Starts a pass over every object the caller holds now (see sweep). */
  begin(): void {
    this.gen++;
    this.seen = 0;
  }

  /** Forgets the objects not asked for since begin(). */
  sweep(): void {
    if (this.byObject.size === this.seen) return;
    for (const [obj, p] of this.byObject) if (p.gen !== this.gen) this.byObject.delete(obj);
  }

  /** The parse of `obj` from `where`, made once. */
  get(obj: KubeObject, where: string): Parsed {
    const hit = this.byObject.get(obj);
    if (hit && hit.where === where) {
      if (hit.gen !== this.gen) {
        hit.gen = this.gen;
        this.seen++;
      }
      return hit;
    }
    const problems: IpamProblem[] = [];
    const rec = obj.kind === 'Pod' ? podOf(obj, where, problems) : endpointOf(obj, where, problems);
    const parsed = { where, rec, problems, key: rec ? `${rec.namespace}/${rec.name}` : '', gen: this.gen };
    if (hit === undefined || hit.gen !== this.gen) this.seen++;
    this.byObject.set(obj, parsed);
    this.parsed++;
    return parsed;
  }
}

/**
 * Pods from Kubernetes objects (`kubectl get pods -A -o json|yaml` Lists,
 * single Pods, CiliumEndpoints). A CiliumEndpoint fills in a pod that has no
 * Pod object (same namespace and name); objects of other kinds are ignored.
 * Every malformed value becomes a problem naming the file, the object and
 * the field; the pod is kept with what could be read (a pod without an
 * address is kept with no `ips`, and a problem says so, unless it is still
 * Pending, where no address is expected yet).
 * With a `cache`, an object parsed before (same object, same `where`) gives
 * the same PodRecord object and is not parsed again; the merge across objects
 * (duplicates, CiliumEndpoints of pods without a Pod) is made again each call.
 */
export function podsFromObjects(items: readonly SourceItem[], cache: PodParseCache = new PodParseCache()): { pods: PodRecord[]; problems: IpamProblem[] } {
  const problems: IpamProblem[] = [];
  const pods: PodRecord[] = [];
  const seen = new Map<string, PodRecord>();
  const endpoints: Parsed[] = [];
  const visit = (obj: KubeObject, where: string): void => {
    if (Array.isArray(obj.items)) {
      for (const o of obj.items as KubeObject[]) visit(o, where);
      return;
    }
    if (obj.kind === 'Pod') {
      const parsed = cache.get(obj, where);
      for (const p of parsed.problems) problems.push(p);
      const rec = parsed.rec;
      if (!rec) return;
      const dup = seen.get(parsed.key);
      if (dup) {
        problems.push({ where: `${describeObject(obj)} (${where})`, field: 'metadata.name', value: rec.name, message: `the same pod is also in ${dup.source}: the first one is kept; give each pod once` });
        return;
      }
      seen.set(parsed.key, rec);
      pods.push(rec);
    } else if (obj.kind === 'CiliumEndpoint') {
      const parsed = cache.get(obj, where);
      for (const p of parsed.problems) problems.push(p);
      if (parsed.rec) endpoints.push(parsed);
    }
  };
  cache.begin();
  for (const { obj, where } of items) visit(obj, where);
  cache.sweep();
  for (const ep of endpoints) {
    if (seen.has(ep.key)) continue; // the Pod object says more (node name, owner, host network)
    seen.set(ep.key, ep.rec!);
    pods.push(ep.rec!);
  }
  return { pods, problems };
}

function ipsOf(values: Array<[unknown, string]>, whereText: string, problems: IpamProblem[]): Prefix[] {
  const out: Prefix[] = [];
  const texts = new Set<string>();
  for (const [v, field] of values) {
    if (typeof v !== 'string' || v === '') {
      if (v !== undefined) problems.push({ where: whereText, field, value: String(v), message: 'expected an IP address such as 10.244.1.5 or fd00:10:244:1::5' });
      continue;
    }
    try {
      const p = hostPrefix(v);
      if (texts.has(p.text)) continue;
      texts.add(p.text);
      out.push(p);
    } catch (e) {
      if (!(e instanceof PrefixError)) throw e;
      problems.push({ where: whereText, field, value: v, message: `${e.message}; fix or drop this pod in the dump` });
    }
  }
  return out;
}

function podOf(obj: KubeObject, where: string, problems: IpamProblem[]): PodRecord | undefined {
  const whereText = `${describeObject(obj)} (${where})`;
  const name = str(obj.metadata?.name);
  if (name === '') {
    problems.push({ where: whereText, field: 'metadata.name', value: '', message: 'a Pod without a name is skipped: is this a pod dump (`kubectl get pods -A -o yaml`)?' });
    return undefined;
  }
  const namespace = str(obj.metadata?.namespace);
  const podIPs = get(obj.status, 'podIPs');
  const raw: Array<[unknown, string]> = [];
  if (Array.isArray(podIPs)) podIPs.forEach((p, i) => raw.push([get(p, 'ip'), `status.podIPs[${i}].ip`]));
  else if (podIPs !== undefined) problems.push({ where: whereText, field: 'status.podIPs', value: JSON.stringify(podIPs), message: 'expected a list of {ip: …}' });
  if (raw.length === 0 && get(obj.status, 'podIP') !== undefined) raw.push([get(obj.status, 'podIP'), 'status.podIP']);
  const ips = ipsOf(raw, whereText, problems);
  const phase = str(get(obj.status, 'phase'));
  if (ips.length === 0 && phase !== 'Pending' && phase !== 'Succeeded' && phase !== 'Failed') {
    problems.push({ where: whereText, field: 'status.podIPs', value: '', message: 'the pod has no address (neither status.podIPs nor status.podIP): it is listed without one and cannot be classified' });
  }
  const { workload, problem } = resolveWorkload(obj);
  if (problem) problems.push({ where: whereText, ...problem });
  const startTime = str(get(obj.status, 'startTime'));
  return {
    namespace,
    name,
    node: str(get(obj.spec, 'nodeName')),
    hostNetwork: get(obj.spec, 'hostNetwork') === true,
    ips,
    ...(startTime ? { startTime } : {}),
    workload,
    source: where,
    from: 'Pod',
  };
}

function endpointOf(obj: KubeObject, where: string, problems: IpamProblem[]): PodRecord | undefined {
  const whereText = `${describeObject(obj)} (${where})`;
  const ids = get(obj.status, 'external-identifiers');
  // `pod-name` is `namespace/name`; `k8s-pod-name` the bare name.
  const podName = str(get(ids, 'pod-name'));
  const name = str(get(ids, 'k8s-pod-name')) || podName.slice(podName.indexOf('/') + 1) || str(obj.metadata?.name);
  const namespace = str(get(ids, 'k8s-namespace')) || str(obj.metadata?.namespace);
  if (name === '') {
    problems.push({ where: whereText, field: 'metadata.name', value: '', message: 'a CiliumEndpoint without a name is skipped' });
    return undefined;
  }
  const raw: Array<[unknown, string]> = [];
  const addressing = get(obj.status, 'networking', 'addressing');
  if (Array.isArray(addressing)) {
    addressing.forEach((a, i) => {
      for (const fam of ['ipv4', 'ipv6']) raw.push([get(a, fam), `status.networking.addressing[${i}].${fam}`]);
    });
  }
  const ips = ipsOf(raw, whereText, problems);
  if (ips.length === 0) problems.push({ where: whereText, field: 'status.networking.addressing', value: '', message: 'the endpoint has no address: it is listed without one and cannot be classified' });
  const nodeIp = str(get(obj.status, 'networking', 'node'));
  return {
    namespace,
    name,
    node: '',
    hostNetwork: false,
    ips,
    // A CiliumEndpoint's owner is its Pod: the workload above it is not known from this object.
    workload: { kind: 'Pod', namespace, name },
    source: where,
    ...(nodeIp ? { nodeIp } : {}),
    from: 'CiliumEndpoint',
  };
}
