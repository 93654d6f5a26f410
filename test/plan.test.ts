import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { PLAN_COMMANDS_WITH_FLOWS } from './support/inventory-truth.js';
import { runCli } from './support/processes.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'inventory');
const fx = (name: string) => join(fixtures, name);
const input = ['--ipam', fx('ipam.yaml'), '--pods', fx('pods.yaml'), fx('ciliumendpoints.yaml')];

// The migration fixture's plan, written by hand (see test/inventory.test.ts for each pod's status):
// CoreDNS, then hubble-relay, then monitoring, then the rest by name (no flows: no drops).
const TABLE = `Pod inventory and restart plan
18 pods, 24 pod addresses (not counted: 2 host-network pods, 0 pods without an address)

Pod addresses by status, pool and node
--------------------------------------
status       pool    node     addresses
current      new     cp               2
current      new     worker1          2
current      new     worker2          2
wrong_node   new     worker2          1
stale        old     worker1          8
stale        old     worker2          6
unallocated  new     worker1          2
out_of_pool  (none)  worker2          1

Draining pools
--------------
pool  pods left  pods off  progress
old          10         4  28.6%

Restart plan: 12 workloads, 13 pods
-----------------------------------
Order: cluster DNS, Hubble Relay/UI, monitoring, then by name (no flows given). The exporter never runs these commands.

step  tier         workload                               pods  nodes            drops  command
1     cluster-dns  Deployment kube-system/coredns         2     worker1,worker2  0      kubectl -n kube-system rollout restart deployment/coredns
2     hubble       Deployment kube-system/hubble-relay    1     worker2          0      kubectl -n kube-system rollout restart deployment/hubble-relay
3     monitoring   StatefulSet monitoring/prometheus-k8s  1     worker1          0      kubectl -n monitoring rollout restart statefulset/prometheus-k8s
4     workload     DaemonSet logging/fluent-bit           1     worker2          0      kubectl -n logging rollout restart daemonset/fluent-bit
5     workload     Deployment shop/batch-api              1     worker2          0      kubectl -n shop rollout restart deployment/batch-api
6     workload     StatefulSet shop/cache                 1     worker1          0      kubectl -n shop rollout restart statefulset/cache
7     workload     ReplicaSet shop/cart-legacy            1     worker1          0      kubectl -n shop delete pod cart-legacy-p2n4m
8     workload     Pod shop/debug-shell                   1     worker1          0      kubectl -n shop delete pod debug-shell
9     workload     Deployment shop/frontend               1     worker2          0      kubectl -n shop rollout restart deployment/frontend
10    workload     Job shop/migrate-db                    1     worker2          0      kubectl -n shop delete pod migrate-db-x9v8k
11    workload     Pod shop/orphan-worker                 1     worker2          0      kubectl -n shop delete pod orphan-worker
12    workload     CronJob shop/report                    1     worker1          0      kubectl -n shop delete pod report-28391040-abcde

By node
-------
node     step  pod                                       workload                               addresses
worker1  1     kube-system/coredns-5d78c9869d-abcde      Deployment kube-system/coredns         10.244.1.10 stale, fd00:10:244:1::10 stale
worker1  3     monitoring/prometheus-k8s-0               StatefulSet monitoring/prometheus-k8s  10.244.1.20 stale, fd00:10:244:1::20 stale
worker1  6     shop/cache-0                              StatefulSet shop/cache                 172.20.9.5 unallocated, fd00:172:20:9::5 unallocated
worker1  7     shop/cart-legacy-p2n4m                    ReplicaSet shop/cart-legacy            10.244.1.60 stale
worker1  8     shop/debug-shell                          Pod shop/debug-shell                   10.244.1.50 stale, fd00:10:244:1::50 stale
worker1  12    shop/report-28391040-abcde                CronJob shop/report                    10.244.1.40 stale
worker2  1     kube-system/coredns-5d78c9869d-fghij      Deployment kube-system/coredns         10.244.2.10 stale
worker2  2     kube-system/hubble-relay-7f9c8d6b5-kq2xz  Deployment kube-system/hubble-relay    10.244.2.11 stale, fd00:10:244:2::11 stale
worker2  4     logging/fluent-bit-x7k2p                  DaemonSet logging/fluent-bit           10.244.2.30 stale
worker2  5     shop/batch-api-5f5d7b9c4-zz9xq            Deployment shop/batch-api              192.168.50.7 out_of_pool
worker2  9     shop/frontend-6d4cf56db6-wn8rx            Deployment shop/frontend               172.20.1.70 wrong_node
worker2  10    shop/migrate-db-x9v8k                     Job shop/migrate-db                    10.244.2.41 stale
worker2  11    shop/orphan-worker                        Pod shop/orphan-worker                 10.244.2.90 stale
`;

const SHELL = `#!/bin/sh
# Restart plan (hubble-ipam-exporter plan): 12 workload(s), 13 pod(s) on stale, unallocated, wrong-node or out-of-pool addresses.
# Order: cluster DNS, Hubble Relay/UI, monitoring, then by name (no flows given). Review before running: the exporter never runs these.
kubectl -n kube-system rollout restart deployment/coredns
kubectl -n kube-system rollout restart deployment/hubble-relay
kubectl -n monitoring rollout restart statefulset/prometheus-k8s
kubectl -n logging rollout restart daemonset/fluent-bit
kubectl -n shop rollout restart deployment/batch-api
kubectl -n shop rollout restart statefulset/cache
kubectl -n shop delete pod cart-legacy-p2n4m
kubectl -n shop delete pod debug-shell
kubectl -n shop rollout restart deployment/frontend
kubectl -n shop delete pod migrate-db-x9v8k
kubectl -n shop delete pod orphan-worker
kubectl -n shop delete pod report-28391040-abcde
`;

describe('plan (the built CLI)', () => {
  it('prints the inventory and the restart plan as a table, exit 0, nothing on stderr', () => {
    const r = runCli(['plan', ...input]);
    expect([r.status, r.stderr]).toEqual([0, '']);
    expect(r.stdout).toBe(TABLE);
  });

  it('--format shell prints only the commands, in plan order, under a header comment', () => {
    const r = runCli(['plan', ...input, '--format', 'shell']);
    expect([r.status, r.stderr]).toEqual([0, '']);
    expect(r.stdout).toBe(SHELL);
  });

  it('--format json carries every pod and the same plan', () => {
    const r = runCli(['plan', ...input, '--format', 'json']);
    expect(r.status).toBe(0);
    const doc = JSON.parse(r.stdout) as { inventory: { pods: Array<{ name: string; status: string }>; podAddresses: number }; plan: { steps: Array<{ commands: string[] }> } };
    expect([doc.inventory.pods.length, doc.inventory.podAddresses, doc.plan.steps.length]).toEqual([18, 24, 12]);
    expect(doc.plan.steps.flatMap((s) => s.commands)).toEqual(SHELL.split('\n').filter((l) => l.startsWith('kubectl')));
  });

  it('--flows: the workloads after the system tiers go by drops (flows.jsonl: migrate-db 2, batch-api 1, fluent-bit 1 forwarded)', () => {
    const flows = ['--flows', fx('flows.jsonl')];
    const r = runCli(['plan', ...input, ...flows, '--format', 'shell']);
    expect([r.status, r.stderr]).toEqual([0, '']);
    expect(r.stdout.split('\n').filter((l) => l.startsWith('kubectl'))).toEqual(PLAN_COMMANDS_WITH_FLOWS);
    const doc = JSON.parse(runCli(['plan', ...input, ...flows, '--format', 'json']).stdout) as { inventory: { trafficKnown: boolean; pods: Array<{ name: string; flows: number; drops: number }> } };
    const traffic = Object.fromEntries(doc.inventory.pods.filter((p) => p.flows > 0).map((p) => [p.name, [p.flows, p.drops]]));
    expect([doc.inventory.trafficKnown, traffic]).toEqual([true, { 'batch-api-5f5d7b9c4-zz9xq': [1, 1], 'fluent-bit-x7k2p': [1, 0], 'migrate-db-x9v8k': [2, 2] }]);
  });

  it('exits 2 naming the file when --pods is not a pod list', () => {
    const r = runCli(['plan', '--ipam', fx('ipam.yaml'), '--pods', fx('not-pods.yaml')]);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`hubble-ipam-exporter: unusable pods input (--pods): ${fx('not-pods.yaml')}: (file)="1 Node": not a pod list: no Pod or CiliumEndpoint in it; write one with \`kubectl get pods -A -o yaml > pods.yaml\`\n`);
  });

  it('exits 2 naming the file when --ipam holds no IPAM objects (pods passed by mistake)', () => {
    const r = runCli(['plan', '--ipam', fx('pods.yaml'), '--pods', fx('pods.yaml')]);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(
      `hubble-ipam-exporter: unusable IPAM input (--ipam): ${fx('pods.yaml')}: (file)="Pod": no pool CIDR, node allocation or former allocation in it: pass CiliumNodes, Nodes, CiliumPodIPPools, cilium-config and/or an IpamConfig (kubectl get ciliumnodes,nodes -o yaml)\n`,
    );
  });

  it('warns on stderr about a pod without an address and an unknown owner kind, and still plans', () => {
    const r = runCli(['plan', '--ipam', fx('ipam.yaml'), '--pods', fx('pods-odd.yaml'), '--format', 'shell']);
    expect(r.status).toBe(0);
    expect(r.stdout.split('\n').filter((l) => l.startsWith('kubectl'))).toEqual(['kubectl -n shop delete pod canary-abcde']);
    expect(r.stderr.trimEnd().split('\n')).toEqual([
      `hubble-ipam-exporter plan: warning: Pod shop/no-ip (${fx('pods-odd.yaml')}): status.podIPs="": the pod has no address (neither status.podIPs nor status.podIP): it is listed without one and cannot be classified`,
      `hubble-ipam-exporter plan: warning: Pod shop/canary-abcde (${fx('pods-odd.yaml')}): metadata.ownerReferences[0].kind="Rollout": an owner of kind Rollout is not one of ReplicaSet, StatefulSet, DaemonSet, Job, Node: the plan deletes the pod for its controller to re-create it`,
    ]);
  });
});
