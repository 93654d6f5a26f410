/**
 * The per-node rows' cluster (issue 14): a 5,000-node dual-stack IPAM
 * (cluster.mjs's clusterConfig) and flows observed on its first
 * OBSERVING_NODES nodes, whose pods talk to each other, to pods spread over
 * the other 4,997 nodes, to services and to the world. One pool of
 * pre-encoded flows for Relay (every observing node's flows, in order) and,
 * from the same flow indexes, one pool per node for that node's agent (the
 * flows observed there, with the endpoint ID only on its local pods, as the
 * scenario model gives it): the three agents together send exactly the
 * relay's flows.
 */
import { clusterConfig, nodeName, podV4, podV6, stalePodV4 } from './cluster.mjs';
import { encodePool } from './pool.mjs';
import { enrichFlow, labelSets } from './real-like.mjs';

/** Nodes whose agents are read (the rows' "three agents on this machine"). */
export const OBSERVING_NODES = 3;
/** Nodes in the IPAM (the 5,000-node cluster of the other large-IPAM rows). */
export const IPAM_NODES = 5000;
/** Pods on each observing node; one in STALE_EVERY keeps an address from the draining pool. */
const LOCAL_PODS = 60;
const STALE_EVERY = 10;
/** Remote pods the local ones talk to: REMOTE_PODS_PER_NODE on each of REMOTE_NODES nodes spread over the other 4,997. */
const REMOTE_NODES = 200;
const REMOTE_PODS_PER_NODE = 3;
const apps = ['frontend', 'cart', 'checkout', 'catalog', 'payments', 'redis', 'search', 'ads'];

/** The scenario (bare node names: no cluster prefix). */
export function perNodeScenario() {
  const pods = [];
  const pod = (n, k, i, stale) => ({
    name: `${apps[i % apps.length]}-${i.toString(36).padStart(5, '0')}`,
    namespace: `team-${i % 17}`,
    node: nodeName(n),
    ips: stale ? [stalePodV4(n, k)] : [podV4(n, k), podV6(n, k)],
    app: apps[i % apps.length],
    ...(stale ? { dropRate: 0.5 } : {}),
  });
  let i = 0;
  for (let n = 0; n < OBSERVING_NODES; n++) for (let k = 0; k < LOCAL_PODS; k++, i++) pods.push(pod(n, k, i, k % STALE_EVERY === 0));
  const remote = Array.from({ length: REMOTE_NODES }, (_, r) => OBSERVING_NODES + Math.floor((r * (IPAM_NODES - OBSERVING_NODES)) / REMOTE_NODES));
  for (const n of remote) for (let k = 0; k < REMOTE_PODS_PER_NODE; k++, i++) pods.push(pod(n, k, i, false));
  const simNode = (n) => ({ name: nodeName(n), internalIP: `192.168.${n >> 8}.${n & 255}`, internalIPv6: `fc00::${(n + 1).toString(16)}` });
  return {
    seed: 14,
    clusterName: '',
    // The observing nodes first. One flow per node per tick: flow i is observed on node
    // observerOf(i), so a pool picks its flows by index without generating the others.
    nodes: [...Array.from({ length: OBSERVING_NODES }, (_, n) => simNode(n)), ...remote.map(simNode)],
    flowsPerTick: OBSERVING_NODES + REMOTE_NODES,
    pods,
    externalIPs: ['142.250.74.110', '2a00:1450:4001:82b::200e', '151.101.1.69'],
    serviceIPs: ['10.96.0.10', 'fd00:10:96::a'],
    noIpEvery: 50,
    flowsPerSecond: 10_000,
    uuids: true,
  };
}

/** The IPAM file's content: 5,000 nodes, dual stack, a draining legacy pool. */
export const perNodeIpam = () => clusterConfig(IPAM_NODES);

const SCENARIO_NODES = OBSERVING_NODES + REMOTE_NODES;
/** The node (index in the scenario's nodes) that observes flow i (ScenarioModel.flowAt with flowsPerTick = every node). */
export const observerOf = (i) => ((i % SCENARIO_NODES) + Math.floor(i / SCENARIO_NODES)) % SCENARIO_NODES;

/**
 * `flows` flows observed on the three observing nodes (Relay's stream), filled
 * like the real dumps; with `agentNode`, only those of them observed on that
 * node (its agent's share, about a third).
 */
export function perNodePool(flows, agentNode, maskPaths) {
  const { sets, labelSource } = labelSets();
  const agent = agentNode === undefined ? -1 : Array.from({ length: OBSERVING_NODES }, (_, n) => nodeName(n)).indexOf(agentNode);
  if (agentNode !== undefined && agent < 0) throw new Error(`--agent-node ${agentNode}: not an observing node (worker-0000 to ${nodeName(OBSERVING_NODES - 1)})`);
  const indexes = Math.ceil((flows * SCENARIO_NODES) / OBSERVING_NODES);
  const res = encodePool(perNodeScenario(), indexes, {
    maskPaths,
    fill: (flow, i) => enrichFlow(flow, sets, i),
    keep: agent < 0 ? (i) => observerOf(i) < OBSERVING_NODES : (i) => observerOf(i) === agent,
  });
  return { pool: res.pool, summary: { ...res.summary, labelSource, agentNode: agentNode ?? null } };
}
