import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { endStatus } from '../src/attribution/classifier.js';
import { stateFromObjects } from '../src/ipam/from-objects.js';
import { loadIpamFiles } from '../src/ipam/ipam-files.js';
import { IpamSnapshot } from '../src/ipam/snapshot.js';
import { buildInventory, type AddressTraffic } from '../src/inventory/inventory.js';
import { loadPodFiles } from '../src/inventory/pod-files.js';
import { podsFromObjects } from '../src/inventory/pod.js';
import { buildRestartPlan } from '../src/inventory/restart-plan.js';
import { resolveWorkload } from '../src/inventory/workload.js';
import type { KubeObject } from '../src/ipam/kube-object.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'inventory');
const fx = (name: string) => join(fixtures, name);

function snapshot(): IpamSnapshot {
  const files = loadIpamFiles([fx('ipam.yaml')]);
  const { state, problems } = stateFromObjects({ objects: files.items, configs: files.configs });
  expect([...files.problems, ...problems]).toEqual([]);
  return IpamSnapshot.build(state);
}

function inventory(traffic?: Map<string, AddressTraffic>) {
  const loaded = loadPodFiles([fx('pods.yaml'), fx('ciliumendpoints.yaml')]);
  expect(loaded.fatal).toEqual([]);
  expect(loaded.warnings).toEqual([]);
  return buildInventory({ snapshot: snapshot(), pods: loaded.pods, ...(traffic ? { traffic } : {}) });
}

// Written by hand from test/fixtures/inventory/*.yaml: worker1 and worker2 left `old`
// (10.244.{1,2}.0/24, fd00:10:244:{1,2}::/64 are former), cp was born on `new`.
const truthStatus: Record<string, string> = {
  'kube-system/cilium-abcde': 'node', // host network
  'kube-system/kube-apiserver-cp': 'node', // host network
  'kube-system/coredns-5d78c9869d-abcde': 'stale',
  'kube-system/coredns-5d78c9869d-fghij': 'stale',
  'kube-system/hubble-relay-7f9c8d6b5-kq2xz': 'stale',
  'kube-system/hubble-ui-6f48889749-abcde': 'current',
  'logging/fluent-bit-x7k2p': 'stale',
  'monitoring/grafana-5c8d9f7b6-qwert': 'current',
  'monitoring/prometheus-k8s-0': 'stale',
  'shop/batch-api-5f5d7b9c4-zz9xq': 'out_of_pool', // 192.168.50.7: no pool
  'shop/cache-0': 'unallocated', // 172.20.9.x: in `new`, no node holds it
  'shop/cart-legacy-p2n4m': 'stale',
  'shop/debug-shell': 'stale',
  'shop/frontend-6d4cf56db6-m7k2l': 'current',
  'shop/frontend-6d4cf56db6-wn8rx': 'wrong_node', // on worker2 with worker1's 172.20.1.70
  'shop/migrate-db-x9v8k': 'stale',
  'shop/orphan-worker': 'stale', // a CiliumEndpoint only; node from its node IP
  'shop/report-28391040-abcde': 'stale',
};

const truthWorkload: Record<string, string> = {
  'kube-system/cilium-abcde': 'DaemonSet kube-system/cilium',
  'kube-system/kube-apiserver-cp': 'Node /cp',
  'kube-system/coredns-5d78c9869d-abcde': 'Deployment kube-system/coredns',
  'kube-system/coredns-5d78c9869d-fghij': 'Deployment kube-system/coredns',
  'kube-system/hubble-relay-7f9c8d6b5-kq2xz': 'Deployment kube-system/hubble-relay',
  'kube-system/hubble-ui-6f48889749-abcde': 'Deployment kube-system/hubble-ui',
  'logging/fluent-bit-x7k2p': 'DaemonSet logging/fluent-bit',
  'monitoring/grafana-5c8d9f7b6-qwert': 'Deployment monitoring/grafana',
  'monitoring/prometheus-k8s-0': 'StatefulSet monitoring/prometheus-k8s',
  'shop/batch-api-5f5d7b9c4-zz9xq': 'Deployment shop/batch-api',
  'shop/cache-0': 'StatefulSet shop/cache',
  'shop/cart-legacy-p2n4m': 'ReplicaSet shop/cart-legacy',
  'shop/debug-shell': 'Pod shop/debug-shell',
  'shop/frontend-6d4cf56db6-m7k2l': 'Deployment shop/frontend',
  'shop/frontend-6d4cf56db6-wn8rx': 'Deployment shop/frontend',
  'shop/migrate-db-x9v8k': 'Job shop/migrate-db',
  'shop/orphan-worker': 'Pod shop/orphan-worker',
  'shop/report-28391040-abcde': 'CronJob shop/report',
};

describe('pod inventory', () => {
  it('classifies every pod of the migration fixture as written by hand', () => {
    const inv = inventory();
    expect(Object.fromEntries(inv.pods.map((p) => [`${p.pod.namespace}/${p.pod.name}`, p.status]))).toEqual(truthStatus);
    expect(Object.fromEntries(inv.pods.map((p) => [`${p.pod.namespace}/${p.pod.name}`, `${p.pod.workload.kind} ${p.pod.workload.namespace}/${p.pod.workload.name}`]))).toEqual(truthWorkload);
    // Every address of the pods that mix statuses.
    const wn = inv.pods.find((p) => p.pod.name === 'frontend-6d4cf56db6-wn8rx')!;
    expect(wn.addresses.map((a) => [a.ip, a.status, a.pool, a.allocationNode])).toEqual([
      ['172.20.1.70', 'wrong_node', 'new', 'worker1'],
      ['fd00:172:20:2::70', 'current', 'new', 'worker2'],
    ]);
    const orphan = inv.pods.find((p) => p.pod.name === 'orphan-worker')!;
    expect([orphan.node, orphan.pod.from]).toEqual(['worker2', 'CiliumEndpoint']);
  });

  it('counts pod addresses by status, pool and node; host-network pods are not counted', () => {
    const inv = inventory();
    expect(inv.counts.map((c) => `${c.status} ${c.pool || '-'} ${c.node} ${c.addresses}`)).toEqual([
      'current new cp 2',
      'current new worker1 2',
      'current new worker2 2',
      'wrong_node new worker2 1',
      'stale old worker1 8',
      'stale old worker2 6',
      'unallocated new worker1 2',
      'out_of_pool - worker2 1',
    ]);
    expect(inv.podAddresses).toBe(24);
  });

  it('says how many pods are left on the draining pool and the progress', () => {
    const inv = inventory();
    // Left: coredns ×2, hubble-relay, fluent-bit, prometheus-k8s-0, report, migrate-db, debug-shell,
    // cart-legacy, orphan-worker. Off: hubble-ui, grafana, frontend ×2 (wn8rx has a current IPv6).
    expect(inv.draining).toEqual([{ pool: 'old', families: [4, 6], podsLeft: 10, podsOff: 4, progress: 4 / 14 }]);
  });

  it('plans every workload with a stale, unallocated, wrong-node or out-of-pool pod, system workloads first', () => {
    const plan = buildRestartPlan(inventory());
    expect(plan.pods).toBe(13);
    expect(plan.steps.map((s) => `${s.order} ${s.tier} ${s.commands.join(' ; ')}`)).toEqual([
      '1 cluster-dns kubectl -n kube-system rollout restart deployment/coredns',
      '2 hubble kubectl -n kube-system rollout restart deployment/hubble-relay',
      '3 monitoring kubectl -n monitoring rollout restart statefulset/prometheus-k8s',
      '4 workload kubectl -n logging rollout restart daemonset/fluent-bit',
      '5 workload kubectl -n shop rollout restart deployment/batch-api',
      '6 workload kubectl -n shop rollout restart statefulset/cache',
      '7 workload kubectl -n shop delete pod cart-legacy-p2n4m',
      '8 workload kubectl -n shop delete pod debug-shell',
      '9 workload kubectl -n shop rollout restart deployment/frontend',
      '10 workload kubectl -n shop delete pod migrate-db-x9v8k',
      '11 workload kubectl -n shop delete pod orphan-worker',
      '12 workload kubectl -n shop delete pod report-28391040-abcde',
    ]);
    expect(plan.steps[0]!.nodes).toEqual(['worker1', 'worker2']);
    expect(plan.byNode.map((n) => `${n.node}: ${n.pods.map((p) => `${p.step}:${p.name}`).join(' ')}`)).toEqual([
      'worker1: 1:coredns-5d78c9869d-abcde 3:prometheus-k8s-0 6:cache-0 7:cart-legacy-p2n4m 8:debug-shell 12:report-28391040-abcde',
      'worker2: 1:coredns-5d78c9869d-fghij 2:hubble-relay-7f9c8d6b5-kq2xz 4:fluent-bit-x7k2p 5:batch-api-5f5d7b9c4-zz9xq 9:frontend-6d4cf56db6-wn8rx 10:migrate-db-x9v8k 11:orphan-worker',
    ]);
  });

  it('orders the workloads after the system tiers by dropped traffic, then by name', () => {
    const traffic = new Map<string, AddressTraffic>([
      ['10.244.2.41', { flows: 9, drops: 5 }], // migrate-db
      ['192.168.50.7', { flows: 4, drops: 2 }], // batch-api
      ['10.244.1.10', { flows: 3, drops: 3 }], // coredns: its tier stays first anyway
      ['172.20.1.71', { flows: 7, drops: 0 }], // a current pod: traffic, not in the plan
    ]);
    const inv = inventory(traffic);
    const plan = buildRestartPlan(inv);
    expect(plan.steps.map((s) => `${s.workload.name}:${s.drops}`)).toEqual([
      'coredns:3',
      'hubble-relay:0',
      'prometheus-k8s:0',
      'migrate-db:5',
      'batch-api:2',
      'fluent-bit:0',
      'cache:0',
      'cart-legacy:0',
      'debug-shell:0',
      'frontend:0',
      'orphan-worker:0',
      'report:0',
    ]);
    const m7 = inv.pods.find((p) => p.pod.name === 'frontend-6d4cf56db6-m7k2l')!;
    expect([m7.flows, m7.drops, m7.addresses[1]!.traffic]).toEqual([7, 0, undefined]);
  });
});

describe('workload resolution', () => {
  const pod = (owner: { kind: string; name: string } | undefined, labels: Record<string, string> = {}): KubeObject => ({
    kind: 'Pod',
    metadata: { name: 'p', namespace: 'ns', labels, ...(owner ? { ownerReferences: [owner] } : {}) },
  });
  const w = (o: KubeObject) => {
    const { workload, problem } = resolveWorkload(o);
    return `${workload.kind} ${workload.name}${problem ? ` (${problem.field}=${problem.value})` : ''}`;
  };

  it('needs neither ReplicaSets nor Jobs: names and the pod-template-hash label carry it', () => {
    expect(w(pod({ kind: 'ReplicaSet', name: 'web-7d4b9c8f6' }, { 'pod-template-hash': '7d4b9c8f6' }))).toBe('Deployment web');
    expect(w(pod({ kind: 'ReplicaSet', name: 'web-7d4b9c8f6' }, { 'pod-template-hash': 'other' }))).toBe('ReplicaSet web-7d4b9c8f6');
    expect(w(pod({ kind: 'ReplicaSet', name: 'web' }))).toBe('ReplicaSet web');
    expect(w(pod({ kind: 'Job', name: 'nightly-backup-29401440' }))).toBe('CronJob nightly-backup');
    expect(w(pod({ kind: 'Job', name: 'migrate-2' }))).toBe('Job migrate-2');
    expect(w(pod({ kind: 'StatefulSet', name: 'db' }))).toBe('StatefulSet db');
    expect(w(pod({ kind: 'DaemonSet', name: 'agent' }))).toBe('DaemonSet agent');
    expect(w(pod(undefined))).toBe('Pod p');
    expect(w(pod({ kind: 'Rollout', name: 'canary' }))).toBe('Rollout canary (metadata.ownerReferences[0].kind=Rollout)');
  });
});

describe('bad pod input', () => {
  it('names the file and object of a pod without an address and of an unknown owner kind, and plans the latter by deleting its pod', () => {
    const loaded = loadPodFiles([fx('pods-odd.yaml')]);
    expect(loaded.fatal).toEqual([]);
    expect(loaded.warnings.map((p) => `${p.where} | ${p.field} | ${p.value}`)).toEqual([
      `Pod shop/no-ip (${fx('pods-odd.yaml')}) | status.podIPs | `,
      `Pod shop/canary-abcde (${fx('pods-odd.yaml')}) | metadata.ownerReferences[0].kind | Rollout`,
    ]);
    const inv = buildInventory({ snapshot: snapshot(), pods: loaded.pods });
    expect(inv.pods.map((p) => `${p.pod.name} ${p.status}`)).toEqual(['canary-abcde stale', 'no-ip none']);
    expect(buildRestartPlan(inv).steps.map((s) => s.commands)).toEqual([['kubectl -n shop delete pod canary-abcde']]);
  });

  it('a file without a Pod or CiliumEndpoint is not a pod list: fatal, naming the file and what it holds', () => {
    const loaded = loadPodFiles([fx('not-pods.yaml'), fx('ipam.yaml')]);
    expect(loaded.fatal.map((p) => `${p.where} | ${p.value}`)).toEqual([`${fx('not-pods.yaml')} | 1 Node`, `${fx('ipam.yaml')} | an IpamConfig`]);
    expect(loaded.fatal[0]!.message).toContain('not a pod list');
  });

  it('podsFromObjects keeps the first of a pod given twice and says where the second was', () => {
    const p: KubeObject = { kind: 'Pod', metadata: { name: 'a', namespace: 'n' }, status: { podIP: '10.244.1.9' } };
    const { pods, problems } = podsFromObjects([
      { obj: p, where: 'one.yaml' },
      { obj: p, where: 'two.yaml' },
    ]);
    expect(pods.map((x) => x.source)).toEqual(['one.yaml']);
    expect(problems.map((x) => x.where)).toEqual(['Pod n/a (two.yaml)']);
  });
});

describe('CiliumEndpoint records', () => {
  it('take the pod name from `pod-name` (namespace/name) when `k8s-pod-name` is absent, and keep the node IP', () => {
    const cep: KubeObject = {
      kind: 'CiliumEndpoint',
      metadata: { name: 'x-1', namespace: 'shop' },
      status: { 'external-identifiers': { 'k8s-namespace': 'shop', 'pod-name': 'shop/x-1' }, networking: { addressing: [{ ipv4: '10.244.2.7', ipv6: 'fd00:10:244:2::7' }], node: '172.18.0.3' } },
    };
    const { pods, problems } = podsFromObjects([{ obj: cep, where: 'ceps.yaml' }]);
    expect(problems).toEqual([]);
    expect(pods.map((p) => [p.namespace, p.name, p.nodeIp, p.ips.map((i) => i.text).join(' ')])).toEqual([['shop', 'x-1', '172.18.0.3', '10.244.2.7/32 fd00:10:244:2::7/128']]);
  });
});

describe('endStatus: the one rule of flow ends and pod addresses', () => {
  it('out_of_pool or external without an answer; wrong_node only for a current address seen on another node', () => {
    const info = (status: 'current' | 'stale') => ({ status, pool: 'p', node: 'n1', cidr: '', detail: '', index: 0 });
    expect(endStatus(undefined, true, 'n1')).toBe('out_of_pool');
    expect(endStatus(undefined, false, '')).toBe('external');
    expect(endStatus(info('current'), true, 'n2')).toBe('wrong_node');
    expect(endStatus(info('current'), true, 'n1')).toBe('current');
    expect(endStatus(info('current'), true, '')).toBe('current');
    expect(endStatus(info('stale'), true, 'n2')).toBe('stale');
  });
});
