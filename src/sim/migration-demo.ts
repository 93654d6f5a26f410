import { CidrAllocator } from './allocator.js';
import type { KubeObject } from '../ipam/kube-object.js';
import { nthAddress, parsePrefix, type Prefix } from '../net/prefix.js';
import { defaultScenario, type Scenario, type SimPod } from './scenario.js';

/**
 * The migration Cilium users hit, as a timeline: pods on kubernetes
 * host-scope IPAM (10.244.0.0/16, a /24 per node), a switch to cluster-pool
 * (172.20.0.0/16), CiliumNodes re-created with new pod CIDRs carved by the
 * allocator, most workloads restarted onto new addresses, a few left behind
 * on old ones whose traffic is dropped, and finally those restarted too.
 */
export interface MigrationTimeline {
  /** Seconds after start when IPAM switches to cluster-pool. */
  switchAt: number;
  /** Seconds over which most workloads restart after the switch. */
  rolloutSec: number;
  /** Seconds after start when the pods left behind are restarted. */
  fixAt: number;
}

export const defaultTimeline: MigrationTimeline = { switchAt: 15, rolloutSec: 10, fixAt: 50 };

const nodeNames = ['kind-control-plane', 'kind-worker', 'kind-worker2'];
const apps = ['frontend', 'cart', 'checkout', 'catalog', 'payments', 'redis'];
/** Pods that are not restarted at the switch: their traffic breaks until fixAt. */
const leftBehind = new Set(['payments-0', 'payments-1', 'redis-1']);

export interface MigrationDemo {
  scenario: Scenario;
  timeline: MigrationTimeline;
  /** Kubernetes objects before the switch (kubernetes host-scope). */
  before: KubeObject[];
  /** Kubernetes objects after the switch (cluster-pool; Nodes keep their legacy podCIDRs), pods as they are then. */
  after: KubeObject[];
  /** The same once most workloads restarted (switchAt + rolloutSec): the left-behind and idle pods are on old addresses. */
  rolledOut: KubeObject[];
  /** The same after the left-behind pods were restarted (fixAt): only the idle ones are still on old addresses. */
  fixed: KubeObject[];
  /** Pods that hold an old address but send nothing (a CronJob's pod, a rarely called StatefulSet, a DaemonSet): the ones traffic never shows. */
  idlePods: Array<{ namespace: string; name: string; ip: string; node: string }>;
  /** Pod names and addresses, for the console. */
  stalePods: Array<{ name: string; ip: string; node: string }>;
}

function podName(app: string, generation: number, k: number): string {
  const hash = ((app.length * 7919 + generation * 104729 + k * 31) >>> 0).toString(36).padStart(5, 'x').slice(-5);
  return `${app}-${generation === 0 ? '7c9d8' : '5f6b2'}${k}-${hash}`;
}

/** Builds the demo: scenario pods with lifetimes, and the IPAM objects of both phases. */
export function migrationDemo(flowsPerSecond: number, speed = 1, timeline: MigrationTimeline = defaultTimeline): MigrationDemo {
  const t: MigrationTimeline = { switchAt: timeline.switchAt / speed, rolloutSec: timeline.rolloutSec / speed, fixAt: timeline.fixAt / speed };
  const legacy = nodeNames.map((_, n) => parsePrefix(`10.244.${n}.0/24`));
  const alloc = new CidrAllocator([parsePrefix('172.20.0.0/16')], 24);
  const fresh: Prefix[] = nodeNames.map(() => alloc.allocate()!);
  const nodes = nodeNames.map((name, n) => ({ name, internalIP: `172.19.0.${n + 2}` }));
  // Addresses inside a node CIDR: .1 is cilium_host, pods from .10 on.
  const addr = (cidr: Prefix, host: number) => nthAddress(cidr, host);
  const pods: SimPod[] = [];
  const stalePods: MigrationDemo['stalePods'] = [];
  let p = 0;
  for (const app of apps) {
    for (let k = 0; k < 2; k++, p++) {
      const n = p % nodeNames.length;
      const key = `${app}-${k}`;
      const behind = leftBehind.has(key);
      // Restarts spread over the rollout; the left-behind ones wait for the fix.
      const restartAt = behind ? t.fixAt : t.switchAt + (t.rolloutSec * (p + 1)) / (apps.length * 2 + 1);
      const namespace = app === 'payments' ? 'payments' : 'shop';
      const oldIp = addr(legacy[n]!, 10 + p);
      const oldPod: SimPod = { name: podName(app, 0, k), namespace, node: nodeNames[n]!, app, ips: [oldIp], until: behind ? t.switchAt : restartAt };
      pods.push(oldPod);
      if (behind) {
        // The same pod after the switch: its address is stale and its traffic breaks.
        pods.push({ ...oldPod, from: t.switchAt, until: restartAt, dropRate: 0.7 });
        stalePods.push({ name: oldPod.name, ip: oldIp, node: oldPod.node });
      }
      pods.push({ name: podName(app, 1, k), namespace, node: nodeNames[n]!, app, ips: [addr(fresh[n]!, 10 + p)], from: restartAt });
    }
  }
  const scenario = defaultScenario({ seed: 42, nodes, pods, flowsPerSecond, lostEventEvery: 20_000, externalIPs: ['142.250.74.110', '151.101.1.69'], serviceIPs: ['10.96.0.10'] });

  const node = (name: string, n: number): KubeObject => ({
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name },
    spec: { podCIDR: legacy[n]!.text, podCIDRs: [legacy[n]!.text] },
    status: { addresses: [{ type: 'InternalIP', address: nodes[n]!.internalIP }] },
  });
  const ciliumNode = (name: string, n: number, cidr: Prefix, created: string): KubeObject => ({
    apiVersion: 'cilium.io/v2',
    kind: 'CiliumNode',
    metadata: { name, creationTimestamp: created },
    spec: {
      addresses: [
        { type: 'InternalIP', ip: nodes[n]!.internalIP },
        { type: 'CiliumInternalIP', ip: addr(cidr, 1) },
      ],
      health: { ipv4: addr(cidr, 2) },
      ipam: { podCIDRs: [cidr.text] },
    },
    // The router and health addresses in use (what the headroom gauge hubble_ipam_pool_free_ips subtracts).
    status: { ipam: { used: { [addr(cidr, 1)]: { owner: 'router' }, [addr(cidr, 2)]: { owner: 'health' } } } },
  });
  const config = (data: Record<string, string>): KubeObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cilium-config', namespace: 'kube-system' }, data });
  const service: KubeObject = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'kube-dns', namespace: 'kube-system' }, spec: { clusterIPs: ['10.96.0.10'] } };
  const now = new Date().toISOString();
  const before = [config({ ipam: 'kubernetes' }), service, ...nodeNames.map(node), ...nodeNames.map((name, n) => ciliumNode(name, n, legacy[n]!, now))];
  const after = [
    config({ ipam: 'cluster-pool', 'cluster-pool-ipv4-cidr': '172.20.0.0/16', 'cluster-pool-ipv4-mask-size': '24' }),
    service,
    ...nodeNames.map(node),
    ...nodeNames.map((name, n) => ciliumNode(name, n, fresh[n]!, now)),
  ];
  // Pods as the API server lists them: the scenario's (Deployments through their ReplicaSets) and three that never talk.
  const podObject = (name: string, namespace: string, node: string, ip: string, owner: { kind: string; name: string } | undefined, hash?: string): KubeObject => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, ...(hash ? { labels: { 'pod-template-hash': hash } } : {}), ...(owner ? { ownerReferences: [{ apiVersion: 'apps/v1', ...owner, controller: true }] } : {}) },
    spec: { nodeName: node },
    status: { phase: 'Running', podIP: ip, podIPs: [{ ip }] },
  });
  const deploymentPod = (p: SimPod): KubeObject => {
    // `app-<hash>-<suffix>`: the ReplicaSet is the name less its last part, the hash its middle.
    const rs = p.name.slice(0, p.name.lastIndexOf('-'));
    return podObject(p.name, p.namespace, p.node, p.ips[0]!, { kind: 'ReplicaSet', name: rs }, rs.slice(rs.lastIndexOf('-') + 1));
  };
  const idle = [
    { namespace: 'shop', name: 'nightly-report-29412000-k2x9q', node: nodeNames[2]!, ip: addr(legacy[2]!, 40), owner: { kind: 'Job', name: 'nightly-report-29412000' } },
    { namespace: 'shop', name: 'search-0', node: nodeNames[1]!, ip: addr(legacy[1]!, 41), owner: { kind: 'StatefulSet', name: 'search' } },
    { namespace: 'logging', name: 'fluent-bit-7xk2p', node: nodeNames[0]!, ip: addr(legacy[0]!, 42), owner: { kind: 'DaemonSet', name: 'fluent-bit' } },
  ];
  const idleObjects = idle.map((p) => podObject(p.name, p.namespace, p.node, p.ip, p.owner));
  /** The scenario's pods alive at `at` seconds (the last of each name: a left-behind pod's stale phase). */
  const podsAt = (at: number) => {
    const byName = new Map<string, SimPod>();
    for (const p of pods) if ((p.from ?? 0) <= at && (p.until === undefined || at < p.until)) byName.set(p.name, p);
    return [...byName.values()].map(deploymentPod);
  };
  const ipam = [...after];
  before.push(...podsAt(0), ...idleObjects);
  after.push(...podsAt(t.switchAt + 0.001), ...idleObjects);
  const rolledOut = [...ipam, ...podsAt(t.switchAt + t.rolloutSec + 0.001), ...idleObjects];
  const fixed = [...ipam, ...podsAt(t.fixAt + 0.001), ...idleObjects];
  return { scenario, timeline: t, before, after, rolledOut, fixed, stalePods, idlePods: idle.map(({ owner: _o, ...p }) => p) };
}
