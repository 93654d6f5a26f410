import type { Status } from '../attribution/classifier.js';
import type { Inventory, InventoryPod } from './inventory.js';
import type { Workload } from './workload.js';

/** The address statuses that put a pod in the plan: a restart gives it a current address on its node. */
export const planStatuses: ReadonlySet<Status> = new Set(['stale', 'unallocated', 'wrong_node', 'out_of_pool']);

/**
 * Why a workload goes where it does, first to last: cluster DNS (every pod
 * resolves names through it), Hubble Relay and UI (the view of the rest of
 * the migration), monitoring (the view of the restarts), then everything
 * else by dropped traffic.
 */
export const tiers = ['cluster-dns', 'hubble', 'monitoring', 'workload'] as const;
export type Tier = (typeof tiers)[number];

/** CoreDNS as kubeadm, kind and most distributions name it, and GKE's kube-dns. */
const CLUSTER_DNS = /^(coredns|kube-dns)$/;
const HUBBLE = /^hubble-(relay|ui)$/;
/** Namespaces that hold monitoring (kube-prometheus-stack, Grafana, …). */
const MONITORING_NAMESPACE = /(^|-)(monitoring|prometheus|grafana|observability)($|-)/;

/** A workload's tier (see `tiers`). */
export function tierOf(w: Workload): Tier {
  if (w.namespace === 'kube-system' && CLUSTER_DNS.test(w.name)) return 'cluster-dns';
  if (HUBBLE.test(w.name)) return 'hubble';
  if (MONITORING_NAMESPACE.test(w.namespace)) return 'monitoring';
  return 'workload';
}

/** Kinds a rollout restart re-creates every pod of. */
const ROLLOUT_KINDS: Record<string, string> = { Deployment: 'deployment', DaemonSet: 'daemonset', StatefulSet: 'statefulset' };

/** One pod the plan moves. */
export interface PlanPod {
  namespace: string;
  name: string;
  node: string;
  /** The addresses that put it in the plan, `ip status` (e.g. `10.0.1.5 stale`). */
  addresses: string[];
  /** Its worst status (see InventoryPod.status). */
  status: Status;
  drops: number;
  /** Its flows in the window the traffic covers (0: idle, or no traffic known). */
  flows: number;
}

/** One workload to restart, with its exact command(s). */
export interface PlanStep {
  /** 1-based position in the plan. */
  order: number;
  workload: Workload;
  tier: Tier;
  /** `kubectl -n NS rollout restart deployment/NAME`, or one `kubectl -n NS delete pod NAME` per pod (bare pods, Jobs, CronJobs, ReplicaSets without a Deployment, other owners). */
  commands: string[];
  /** Its pods in the plan, by name. */
  pods: PlanPod[];
  /** The nodes those pods are on, sorted. */
  nodes: string[];
  /** Dropped flows of those pods (0 without traffic). */
  drops: number;
}

/** For a node-group-at-a-time procedure: the pods of the plan on one node. */
export interface PlanNode {
  /** '' for pods whose node is not known. */
  node: string;
  pods: Array<PlanPod & { workload: Workload; step: number }>;
}

export interface RestartPlan {
  steps: PlanStep[];
  byNode: PlanNode[];
  /** Pods in the plan. */
  pods: number;
  /** Whether the drops come from traffic (else they are all 0 and the order after the tiers is by name). */
  trafficKnown: boolean;
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const workloadKey = (w: Workload): string => `${w.namespace}\0${w.kind}\0${w.name}`;

/** The command(s) that give a workload's pods new addresses. The exporter never runs them. */
export function commandsFor(w: Workload, pods: ReadonlyArray<{ namespace: string; name: string }>): string[] {
  const kind = ROLLOUT_KINDS[w.kind];
  if (kind !== undefined) return [`kubectl -n ${w.namespace} rollout restart ${kind}/${w.name}`];
  return pods.map((p) => `kubectl -n ${p.namespace} delete pod ${p.name}`);
}

/**
 * The restart plan of an inventory: every pod with a stale, unallocated,
 * wrong_node or out_of_pool address (host-network pods never), grouped by
 * workload and by node. Workloads are ordered by tier (see `tiers`), then by
 * dropped traffic (most first), then namespace, kind and name. Pure.
 */
export function buildRestartPlan(inv: Inventory): RestartPlan {
  const groups = new Map<string, { workload: Workload; pods: PlanPod[] }>();
  const podsOf = (p: InventoryPod): PlanPod | undefined => {
    if (p.pod.hostNetwork) return undefined;
    const bad = p.addresses.filter((a) => planStatuses.has(a.status));
    if (bad.length === 0) return undefined;
    return { namespace: p.pod.namespace, name: p.pod.name, node: p.node, addresses: bad.map((a) => `${a.ip} ${a.status}`), status: p.status as Status, drops: p.drops, flows: p.flows };
  };
  const nodeOf = new Map<PlanPod, InventoryPod>();
  for (const p of inv.pods) {
    const pp = podsOf(p);
    if (!pp) continue;
    nodeOf.set(pp, p);
    const key = workloadKey(p.pod.workload);
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { workload: p.pod.workload, pods: [] }));
    g.pods.push(pp);
  }
  const unordered = [...groups.values()].map((g) => {
    g.pods.sort((a, b) => cmp(a.name, b.name));
    return {
      workload: g.workload,
      tier: tierOf(g.workload),
      commands: commandsFor(g.workload, g.pods),
      pods: g.pods,
      nodes: [...new Set(g.pods.map((p) => p.node))].sort(cmp),
      drops: g.pods.reduce((n, p) => n + p.drops, 0),
    };
  });
  unordered.sort(
    (a, b) =>
      tiers.indexOf(a.tier) - tiers.indexOf(b.tier) ||
      b.drops - a.drops ||
      cmp(a.workload.namespace, b.workload.namespace) ||
      cmp(a.workload.name, b.workload.name) ||
      cmp(a.workload.kind, b.workload.kind),
  );
  const steps: PlanStep[] = unordered.map((s, i) => ({ order: i + 1, ...s }));

  const nodes = new Map<string, PlanNode>();
  for (const s of steps) {
    for (const p of s.pods) {
      let n = nodes.get(p.node);
      if (!n) nodes.set(p.node, (n = { node: p.node, pods: [] }));
      n.pods.push({ ...p, workload: s.workload, step: s.order });
    }
  }
  const byNode = [...nodes.values()].sort((a, b) => cmp(a.node, b.node));
  for (const n of byNode) n.pods.sort((a, b) => a.step - b.step || cmp(a.namespace, b.namespace) || cmp(a.name, b.name));
  return { steps, byNode, pods: nodeOf.size, trafficKnown: inv.trafficKnown };
}
