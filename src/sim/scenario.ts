import { create } from '@bufbuild/protobuf';
import {
  DropReason,
  FlowSchema,
  FlowType,
  IPVersion,
  LostEventSource,
  TraceObservationPoint,
  TrafficDirection,
  Verdict,
  type Flow,
} from '../gen/flow/flow_pb.js';
import type { MessageInitShape } from '@bufbuild/protobuf';
import type { EndpointSchema } from '../gen/flow/flow_pb.js';
import { Rng } from './rng.js';

type EndpointInit = MessageInitShape<typeof EndpointSchema>;

/** A node of the simulated cluster. */
export interface SimNode {
  name: string;
  /** The node's InternalIP (host traffic comes from here). */
  internalIP: string;
  /** The node's IPv6 InternalIP, for IPv6 host traffic. */
  internalIPv6?: string;
}

/** A pod of the simulated cluster. */
export interface SimPod {
  name: string;
  namespace: string;
  node: string;
  /** Its addresses: one per family. */
  ips: string[];
  /** The app label; identity and labels derive from it. */
  app: string;
  /** Seconds after the scenario start when it starts to send and receive. Default 0. */
  from?: number;
  /** Seconds after the scenario start when it stops. Default: never. */
  until?: number;
  /** Fraction of its flows that are dropped, 0..1 (a pod left on a stale address). Default 0. */
  dropRate?: number;
}

export interface NodeEvent {
  /** Sent just before this flow index. */
  atFlow: number;
  state: 'NODE_CONNECTED' | 'NODE_UNAVAILABLE' | 'NODE_GONE' | 'NODE_ERROR';
  nodes: string[];
  message?: string;
}

/**
 * Everything the simulated relay sends follows from this. The flow at index i
 * is a pure function of the scenario and i.
 */
export interface Scenario {
  seed: number;
  /** Cluster name; Relay prefixes node names with it (`cluster/node`). Empty: no prefix. */
  clusterName: string;
  nodes: SimNode[];
  pods: SimPod[];
  /** Addresses outside the cluster that pods talk to. */
  externalIPs: string[];
  /** Service ClusterIPs that pods talk to (before translation). Default none. */
  serviceIPs?: string[];
  /** Every n-th flow carries no IP layer (0: never). */
  noIpEvery?: number;
  /** Flows per second (the pace of `follow` and the spacing of timestamps). */
  flowsPerSecond: number;
  /** Total flows; undefined for an endless stream. */
  totalFlows?: number;
  /** Consecutive flows sharing one timestamp, each observed on a different node. Default 1. */
  flowsPerTick?: number;
  /** Give every flow a uuid, as Hubble does since v1.15. Default true. */
  uuids?: boolean;
  /** A LostEvent before every n-th flow (0: never). */
  lostEventEvery?: number;
  /** Events lost per LostEvent. Default 7. */
  lostEventCount?: number;
  nodeEvents?: NodeEvent[];
  /** Flows the relay keeps for `since` / `number` requests. Default 65536. */
  bufferCapacity?: number;
}

const apps = ['frontend', 'cart', 'checkout', 'catalog', 'payments', 'redis'];

/**
 * A small dual-stack kind cluster on kubernetes host-scope IPAM
 * (10.244.N.0/24 and fd00:10:244:N::/64 per node), as the shared fixtures
 * describe it.
 */
export function defaultScenario(overrides: Partial<Scenario> = {}): Scenario {
  const nodeNames = ['kind-control-plane', 'kind-worker', 'kind-worker2'];
  const nodes = nodeNames.map((name, n) => ({ name, internalIP: `172.19.0.${n + 2}` }));
  const pods: SimPod[] = [];
  for (let p = 0; p < 12; p++) {
    const n = p % nodes.length;
    const app = apps[p % apps.length]!;
    pods.push({
      name: `${app}-${(0x5f3a1 + p * 7919).toString(36)}-${(p * 104729).toString(36).slice(-5).padStart(5, 'x')}`,
      namespace: p % 4 === 3 ? 'payments' : 'shop',
      node: nodes[n]!.name,
      ips: [`10.244.${n}.${10 + p}`, `fd00:10:244:${n}::${(0xa0 + p).toString(16)}`],
      app,
    });
  }
  return {
    seed: 1,
    clusterName: 'kind-kind',
    nodes,
    pods,
    externalIPs: ['142.250.74.110', '2a00:1450:4001:82b::200e', '151.101.1.69'],
    flowsPerSecond: 200,
    ...overrides,
  };
}

/** Checks a scenario and names the first thing wrong with it. */
export function validateScenario(s: Scenario): void {
  const fail = (msg: string) => {
    throw new Error(`invalid scenario: ${msg}`);
  };
  if (!Number.isInteger(s.seed)) fail(`seed must be an integer, got ${s.seed}`);
  if (!(s.flowsPerSecond > 0) || !Number.isFinite(s.flowsPerSecond)) fail(`flowsPerSecond must be a positive number, got ${s.flowsPerSecond}`);
  if (s.totalFlows !== undefined && !(Number.isInteger(s.totalFlows) && s.totalFlows >= 0)) fail(`totalFlows must be a whole number, got ${s.totalFlows}`);
  if (s.nodes.length === 0) fail('no nodes');
  const names = new Set(s.nodes.map((n) => n.name));
  const tick = s.flowsPerTick ?? 1;
  if (!Number.isInteger(tick) || tick < 1 || tick > s.nodes.length) fail(`flowsPerTick must be 1..${s.nodes.length} (one flow per node per tick), got ${tick}`);
  for (const p of s.pods) {
    if (!names.has(p.node)) fail(`pod ${p.namespace}/${p.name} is on unknown node ${JSON.stringify(p.node)}`);
    if (p.ips.length === 0) fail(`pod ${p.namespace}/${p.name} has no IPs`);
    if (p.dropRate !== undefined && !(p.dropRate >= 0 && p.dropRate <= 1)) fail(`pod ${p.namespace}/${p.name} dropRate must be 0..1`);
  }
}

function isV6(ip: string): boolean {
  return ip.includes(':');
}

/** Identity per app, stable across pods of the app (as Cilium allocates per label set). */
function identityOf(app: string): number {
  let h = 0;
  for (let i = 0; i < app.length; i++) h = (h * 31 + app.charCodeAt(i)) >>> 0;
  return 256 + (h % 60000);
}

function mac(r: Rng): string {
  const b = [0x0a, r.int(256), r.int(256), r.int(256), r.int(256), r.int(256)];
  return b.map((x) => x.toString(16).padStart(2, '0')).join(':');
}

function uuidFrom(r: Rng): string {
  const h = () => r.u32().toString(16).padStart(8, '0');
  const a = h() + h() + h() + h();
  return `${a.slice(0, 8)}-${a.slice(8, 12)}-4${a.slice(13, 16)}-a${a.slice(17, 20)}-${a.slice(20, 32)}`;
}

const reservedHost = { identity: 1, labels: ['reserved:host'] };
const reservedWorld = { identity: 2, labels: ['reserved:world'] };

/**
 * Precomputed view of a scenario: flow times, the pods active at each moment,
 * and the generator of flow i.
 */
export class ScenarioModel {
  readonly tick: number;
  /** Nanoseconds between ticks. */
  readonly tickNs: number;
  private readonly epochS: number;
  private readonly epochN: number;
  /** Change points (seconds after start) and the pods active from each. */
  private readonly segStarts: number[] = [];
  private readonly segPods: SimPod[][] = [];
  private readonly podIndex = new Map<SimPod, number>();
  private readonly nodeEventsAt = new Map<number, NodeEvent[]>();

  constructor(
    readonly scenario: Scenario,
    /** Wall-clock time of flow 0, ms since the epoch. */
    readonly epochMs: number,
  ) {
    validateScenario(scenario);
    this.tick = scenario.flowsPerTick ?? 1;
    this.tickNs = Math.round((1e9 * this.tick) / scenario.flowsPerSecond);
    this.epochS = Math.floor(epochMs / 1000);
    this.epochN = Math.round((epochMs - this.epochS * 1000) * 1e6);
    scenario.pods.forEach((p, i) => this.podIndex.set(p, i));
    const points = new Set<number>([0]);
    for (const p of scenario.pods) {
      if (p.from !== undefined) points.add(p.from);
      if (p.until !== undefined) points.add(p.until);
    }
    for (const t of [...points].sort((a, b) => a - b)) {
      this.segStarts.push(t);
      this.segPods.push(scenario.pods.filter((p) => (p.from ?? 0) <= t && (p.until === undefined || t < p.until)));
    }
    for (const ev of scenario.nodeEvents ?? []) {
      const list = this.nodeEventsAt.get(ev.atFlow) ?? [];
      list.push(ev);
      this.nodeEventsAt.set(ev.atFlow, list);
    }
  }

  get total(): number {
    return this.scenario.totalFlows ?? Number.POSITIVE_INFINITY;
  }

  /** Offset of flow i from the epoch, ns. */
  offsetNs(i: number): number {
    return Math.floor(i / this.tick) * this.tickNs;
  }

  /** Time of flow i as seconds and nanos. */
  timeOf(i: number): { seconds: number; nanos: number } {
    const ns = this.epochN + this.offsetNs(i);
    const carry = Math.floor(ns / 1e9);
    return { seconds: this.epochS + carry, nanos: ns - carry * 1e9 };
  }

  /** Wall-clock ms at which flow i happens. */
  wallMsOf(i: number): number {
    return this.epochMs + this.offsetNs(i) / 1e6;
  }

  /** Flows that have happened by wall-clock time `nowMs`. */
  availableAt(nowMs: number): number {
    if (nowMs < this.epochMs) return 0;
    const ticks = Math.floor(((nowMs - this.epochMs) * 1e6) / this.tickNs) + 1;
    return Math.min(this.total, ticks * this.tick);
  }

  /** The first flow index whose time is at or after (seconds, nanos). */
  indexAtOrAfter(seconds: number, nanos: number): number {
    const off = (seconds - this.epochS) * 1e9 + (nanos - this.epochN);
    if (off <= 0) return 0;
    return Math.ceil(off / this.tickNs) * this.tick;
  }

  /** The first flow index whose time is after (seconds, nanos). */
  indexAfter(seconds: number, nanos: number): number {
    const off = (seconds - this.epochS) * 1e9 + (nanos - this.epochN);
    if (off < 0) return 0;
    return (Math.floor(off / this.tickNs) + 1) * this.tick;
  }

  nodeEventsBefore(i: number): NodeEvent[] | undefined {
    return this.nodeEventsAt.get(i);
  }

  /** Whether a LostEvent precedes flow i, and on which node. */
  lostEventBefore(i: number): { node: string; count: number; source: LostEventSource } | undefined {
    const every = this.scenario.lostEventEvery ?? 0;
    if (every <= 0 || i === 0 || i % every !== 0) return undefined;
    const nodes = this.scenario.nodes;
    return {
      node: this.wireNodeName(nodes[(i / every) % nodes.length]!.name),
      count: this.scenario.lostEventCount ?? 7,
      source: LostEventSource.HUBBLE_RING_BUFFER,
    };
  }

  wireNodeName(node: string): string {
    return this.scenario.clusterName ? `${this.scenario.clusterName}/${node}` : node;
  }

  activePods(i: number): SimPod[] {
    const t = this.offsetNs(i) / 1e9;
    let lo = 0;
    let hi = this.segStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.segStarts[mid]! <= t) lo = mid;
      else hi = mid - 1;
    }
    return this.segPods[lo]!;
  }

  /**
   * A pod as Hubble describes it from `observer`: the endpoint ID only when the
   * pod is local to the observing node (Hubble resolves remote pods from the
   * ipcache, which has no endpoint ID; the real dumps show the same).
   */
  private podEndpoint(p: SimPod, observer: string): EndpointInit {
    return {
      ...(p.node === observer ? { ID: 100 + (this.podIndex.get(p) ?? 0) * 17 } : {}),
      identity: identityOf(p.app),
      namespace: p.namespace,
      podName: p.name,
      labels: [
        `k8s:app=${p.app}`,
        `k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name=${p.namespace}`,
        `k8s:io.cilium.k8s.policy.cluster=${this.scenario.clusterName || 'default'}`,
        `k8s:io.cilium.k8s.policy.serviceaccount=${p.app}`,
        `k8s:io.kubernetes.pod.namespace=${p.namespace}`,
      ],
      workloads: [{ name: p.app, kind: 'Deployment' }],
    };
  }

  /**
   * The index of the node that observes flow i: distinct per flow within a
   * tick when a tick holds several (so (time, node) is unique), else the first
   * draw of flow i's generator (`r`, when the caller goes on drawing from it).
   * The one rule: an agent's share (AgentShare) asks it without making flows.
   */
  observerIndex(i: number, r?: Rng): number {
    const n = this.scenario.nodes.length;
    return this.tick > 1 ? ((i % this.tick) + Math.floor(i / this.tick)) % n : (r ?? Rng.at(this.scenario.seed, i)).int(n);
  }

  /** Generates flow i. */
  flowAt(i: number): Flow {
    const s = this.scenario;
    const r = Rng.at(s.seed, i);
    const time = this.timeOf(i);
    const node = s.nodes[this.observerIndex(i, r)]!;
    const active = this.activePods(i);
    const local = active.filter((p) => p.node === node.name);

    let src: { ip: string; ep: EndpointInit; pod?: SimPod };
    let dst: { ip: string; ep: EndpointInit; pod?: SimPod };
    let point: TraceObservationPoint;
    let direction: TrafficDirection;
    const roll = r.next();
    if (local.length === 0) {
      // Nothing scheduled here: node-to-world traffic seen at the stack.
      const ext = s.externalIPs.find((x) => !isV6(x)) ?? '192.0.2.1';
      src = { ip: node.internalIP, ep: reservedHost };
      dst = { ip: ext, ep: reservedWorld };
      point = TraceObservationPoint.TO_STACK;
      direction = TrafficDirection.EGRESS;
    } else {
      const me = r.pick(local);
      const v6 = me.ips.some(isV6) && (!me.ips.some((x) => !isV6(x)) || r.next() < 0.3);
      const myIp = me.ips.find((x) => isV6(x) === v6)!;
      let peer: { ip: string; ep: EndpointInit; pod?: SimPod };
      const peers = active.filter((p) => p !== me && p.ips.some((x) => isV6(x) === v6));
      if (roll < 0.7 && peers.length > 0) {
        const p = r.pick(peers);
        peer = { ip: p.ips.find((x) => isV6(x) === v6)!, ep: this.podEndpoint(p, node.name), pod: p };
      } else if (roll < 0.8) {
        const ext = s.externalIPs.filter((x) => isV6(x) === v6);
        peer = { ip: ext.length > 0 ? r.pick(ext) : myIp, ep: reservedWorld };
      } else if (roll < 0.9 && (s.serviceIPs ?? []).some((x) => isV6(x) === v6)) {
        peer = { ip: r.pick(s.serviceIPs!.filter((x) => isV6(x) === v6)), ep: { identity: 2, labels: ['reserved:world'] } };
      } else {
        peer = { ip: v6 ? (node.internalIPv6 ?? myIp) : node.internalIP, ep: reservedHost };
      }
      const mine = { ip: myIp, ep: this.podEndpoint(me, node.name), pod: me };
      if (r.next() < 0.5) {
        src = mine;
        dst = peer;
        point = TraceObservationPoint.FROM_ENDPOINT;
        direction = TrafficDirection.EGRESS;
      } else {
        src = peer;
        dst = mine;
        point = TraceObservationPoint.TO_ENDPOINT;
        direction = TrafficDirection.INGRESS;
      }
    }

    const dropRate = Math.max(src.pod?.dropRate ?? 0, dst.pod?.dropRate ?? 0);
    const dropped = dropRate > 0 && r.next() < dropRate;
    const isReply = !dropped && r.next() < 0.4;
    const dns = r.next() < 0.15;
    const v6 = isV6(src.ip);
    const sport = 32768 + r.int(28000);
    const dport = dns ? 53 : r.pick([80, 443, 8080, 6379, 5432]);
    const flow = create(FlowSchema, {
      time: { seconds: BigInt(time.seconds), nanos: time.nanos },
      uuid: s.uuids === false ? '' : uuidFrom(r),
      verdict: dropped ? Verdict.DROPPED : Verdict.FORWARDED,
      dropReasonDesc: dropped ? DropReason.STALE_OR_UNROUTABLE_IP : DropReason.DROP_REASON_UNKNOWN,
      dropReason: dropped ? DropReason.STALE_OR_UNROUTABLE_IP : 0,
      ethernet: { source: mac(r), destination: mac(r) },
      IP: { source: src.ip, destination: dst.ip, ipVersion: v6 ? IPVersion.IPv6 : IPVersion.IPv4 },
      l4: dns
        ? { protocol: { case: 'UDP', value: { sourcePort: sport, destinationPort: 53 } } }
        : {
            protocol: {
              case: 'TCP',
              value: {
                sourcePort: isReply ? dport : sport,
                destinationPort: isReply ? sport : dport,
                flags: isReply ? { ACK: true, PSH: r.next() < 0.5 } : { SYN: r.next() < 0.2, ACK: true },
              },
            },
          },
      source: src.ep,
      destination: dst.ep,
      Type: FlowType.L3_L4,
      nodeName: this.wireNodeName(node.name),
      eventType: dropped ? { type: 1, subType: DropReason.STALE_OR_UNROUTABLE_IP } : { type: 4, subType: point === TraceObservationPoint.TO_ENDPOINT ? 0 : 5 },
      trafficDirection: direction,
      traceObservationPoint: dropped ? TraceObservationPoint.UNKNOWN_POINT : point,
      isReply,
      reply: isReply,
    });
    if (dst.pod === undefined && src.pod !== undefined && dst.ep === reservedWorld && r.next() < 0.5) {
      flow.destinationNames = ['api.example.com'];
    }
    const noIp = s.noIpEvery ?? 0;
    if (noIp > 0 && i % noIp === noIp - 1) {
      // A flow without an IP layer (Hubble reports some L7 and drop events so).
      flow.IP = undefined;
      flow.l4 = undefined;
    }
    return flow;
  }
}
