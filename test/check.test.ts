import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { checkIpam, type CheckPod } from '../src/check/check-ipam.js';
import { stateFromObjects } from '../src/ipam/from-objects.js';
import { parseIpamText, type LoadedFiles } from '../src/ipam/ipam-files.js';
import { hostPrefix } from '../src/net/prefix.js';
import { ipamFixture } from './support/fixtures.js';

const here = dirname(fileURLToPath(import.meta.url));
const checkFixture = (name: string) => join(here, 'fixtures', 'check', name);

/** Loads YAML the way the CLI does, translates it, checks it; the findings as `severity code objects`. */
function check(text: string, opts: { pods?: CheckPod[]; serviceCidrs?: string[]; scaleUpNodes?: number; file?: string } = {}) {
  const loaded: LoadedFiles = { items: [], configs: [], problems: [] };
  parseIpamText(opts.file ?? 'test.yaml', text, loaded);
  expect(loaded.problems).toEqual([]);
  const { state, problems } = stateFromObjects({ objects: loaded.items, configs: loaded.configs, serviceCidrs: opts.serviceCidrs ?? [] });
  expect(problems).toEqual([]);
  const findings = checkIpam({ objects: loaded.items, state, ...(opts.pods ? { pods: opts.pods } : {}), ...(opts.scaleUpNodes !== undefined ? { scaleUpNodes: opts.scaleUpNodes } : {}) });
  for (const f of findings) {
    // Every finding says what, why and what to do.
    expect(f.message.length).toBeGreaterThan(0);
    expect(f.why.length).toBeGreaterThan(0);
    expect(f.fix.length).toBeGreaterThan(0);
  }
  return { findings, brief: findings.map((f) => `${f.severity} ${f.code} ${f.objects.join(' + ')}`) };
}
const list = (...items: object[]) => stringify({ apiVersion: 'v1', kind: 'List', items });
const cm = (data: Record<string, string>) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cilium-config', namespace: 'kube-system' }, data });
const node = (name: string, ip: string) => ({ apiVersion: 'v1', kind: 'Node', metadata: { name }, status: { addresses: [{ type: 'InternalIP', address: ip }] } });
const cnPodCidrs = (name: string, cidrs: string[], extra: object = {}) => ({ apiVersion: 'cilium.io/v2', kind: 'CiliumNode', metadata: { name }, spec: { ipam: { podCIDRs: cidrs } }, ...extra });
const pool = (name: string, cidrs: string[], maskSize: number) => ({ apiVersion: 'cilium.io/v2alpha1', kind: 'CiliumPodIPPool', metadata: { name }, spec: { ipv4: { cidrs, maskSize } } });
const clusterPool = (cidr: string, mask = '24') => cm({ ipam: 'cluster-pool', 'cluster-pool-ipv4-cidr': cidr, 'cluster-pool-ipv4-mask-size': mask });
const pod = (namespace: string, name: string, nodeName: string, ip: string, hostNetwork = false): CheckPod => ({ namespace, name, node: nodeName, hostNetwork, ips: [hostPrefix(ip)] });

describe('check: the seed failures', () => {
  it('stale CiliumNodes after a cluster-pool CIDR change: each one outside the pools, and the pool CIDR removed while allocated', () => {
    const { brief, findings } = check(readFileSync(checkFixture('stale-ciliumnodes-after-pool-change.yaml'), 'utf8'));
    expect(brief).toEqual([
      'error ciliumnode-cidr-outside-pools CiliumNode worker-2 + ConfigMap kube-system/cilium-config',
      'error ciliumnode-cidr-outside-pools CiliumNode worker-3 + ConfigMap kube-system/cilium-config',
      'error cluster-pool-cidr-removed ConfigMap kube-system/cilium-config',
    ]);
    expect(findings[0]!.message).toBe('CiliumNode worker-2 holds 10.0.2.0/24, outside pool default (10.42.0.0/16)');
    expect(findings[0]!.fix).toContain('kubectl delete ciliumnode worker-2');
    expect(findings[2]!.message).toContain('2 nodes still hold 2 CIDRs outside the configured cluster-pool CIDRs (10.42.0.0/16): 10.0.2.0/24, 10.0.3.0/24');
  });

  it('multi-pool without the default pool', () => {
    const { brief, findings } = check(readFileSync(checkFixture('multi-pool-without-default.yaml'), 'utf8'));
    expect(brief).toEqual(['error multi-pool-no-default-pool ConfigMap kube-system/cilium-config']);
    expect(findings[0]!.message).toBe('multi-pool IPAM without its default pool `default`; pools present: blue-pool');
  });

  it('multi-pool: ipam-default-ip-pool names the default pool', () => {
    const text = readFileSync(checkFixture('multi-pool-without-default.yaml'), 'utf8');
    // blue-pool declared the default: clean.
    expect(check(text.replace('ipam: multi-pool', 'ipam: multi-pool\n    ipam-default-ip-pool: blue-pool')).brief).toEqual([]);
    // A default named in the config that does not exist.
    expect(check(text.replace('ipam: multi-pool', 'ipam: multi-pool\n    ipam-default-ip-pool: green')).findings.map((f) => f.message)).toEqual([
      'multi-pool IPAM without its default pool `green` (ipam-default-ip-pool in ConfigMap kube-system/cilium-config); pools present: blue-pool',
    ]);
  });

  it('native routing: the new pool is not inside ipv4-native-routing-cidr', () => {
    const { brief, findings } = check(readFileSync(checkFixture('native-routing-cidr-not-covering-pool.yaml'), 'utf8'));
    expect(brief).toEqual(['error pool-outside-native-routing-cidr CiliumPodIPPool new-pool + ConfigMap kube-system/cilium-config']);
    expect(findings[0]!.message).toBe("pool new-pool's 172.20.0.0/16 is not inside ipv4-native-routing-cidr 10.0.0.0/8 (routing-mode native)");
  });

  it('native routing the legacy way (tunnel: disabled) is checked too; tunnel mode is not', () => {
    const text = readFileSync(checkFixture('native-routing-cidr-not-covering-pool.yaml'), 'utf8');
    expect(check(text.replace('routing-mode: native', 'tunnel: disabled')).brief).toEqual(['error pool-outside-native-routing-cidr CiliumPodIPPool new-pool + ConfigMap kube-system/cilium-config']);
    expect(check(text.replace('routing-mode: native', 'routing-mode: tunnel')).brief).toEqual([]);
    expect(check(text.replace('ipv4-native-routing-cidr: 10.0.0.0/8', 'ipv4-native-routing-cidr: 10.0.0/8')).brief).toEqual(['error invalid-native-routing-cidr ConfigMap kube-system/cilium-config']);
  });
});

describe('check: one test per finding', () => {
  it('pool-overlap: two pools sharing addresses', () => {
    const { brief, findings } = check(list(cm({ ipam: 'multi-pool' }), pool('default', ['10.10.0.0/16'], 24), pool('red', ['10.10.128.0/17', '10.20.0.0/16'], 24), cnPodCidrs('w1', [])));
    expect(brief).toEqual(['error pool-overlap CiliumPodIPPool default + CiliumPodIPPool red']);
    expect(findings[0]!.message).toBe('pools default and red overlap: 10.10.0.0/16 ∩ 10.10.128.0/17');
  });

  it('pool-overlaps-node-address: a node InternalIP inside a pool (its own CiliumInternalIP is not)', () => {
    const { brief } = check(list(clusterPool('10.0.0.0/16'), node('w1', '10.0.200.7'), cnPodCidrs('w1', ['10.0.1.0/24'], { spec: { ipam: { podCIDRs: ['10.0.1.0/24'] }, addresses: [{ type: 'CiliumInternalIP', ip: '10.0.1.1' }] } })));
    expect(brief).toEqual(['error pool-overlaps-node-address ConfigMap kube-system/cilium-config + Node w1']);
  });

  it('pool-overlaps-service-cidr: from --service-cidr and from a Service clusterIP', () => {
    const svc = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'api', namespace: 'default' }, spec: { clusterIP: '10.0.9.9', clusterIPs: ['10.0.9.9'] } };
    expect(check(list(clusterPool('10.0.0.0/16'), node('w1', '172.18.0.2'), cnPodCidrs('w1', ['10.0.1.0/24'])), { serviceCidrs: ['10.0.128.0/20'] }).brief).toEqual([
      'error pool-overlaps-service-cidr ConfigMap kube-system/cilium-config + --service-cidr 10.0.128.0/20',
    ]);
    expect(check(list(clusterPool('10.0.0.0/16'), node('w1', '172.18.0.2'), cnPodCidrs('w1', ['10.0.1.0/24']), svc)).brief).toEqual([
      'error pool-overlaps-service-cidr ConfigMap kube-system/cilium-config + Service default/api',
    ]);
  });

  it('mask-size-too-small: a /26 per node in cluster-pool leaves 60 pod addresses (64 less network, broadcast, router, health)', () => {
    const { brief, findings } = check(list(clusterPool('10.0.0.0/16', '26'), node('w1', '172.18.0.2'), cnPodCidrs('w1', ['10.0.0.64/26'])));
    expect(brief).toEqual(['warning mask-size-too-small ConfigMap kube-system/cilium-config']);
    expect(findings[0]!.message).toBe("pool default's IPv4 mask size /26 gives 64 addresses per node CIDR, 4 of them reserved by Cilium (network and broadcast, router, health): 60 for pods");
    expect(findings[0]!.fix).toContain('at most /25');
    // A /31 per node in a multi-pool workload pool holds no pod at all.
    expect(check(list(cm({ ipam: 'multi-pool' }), pool('default', ['10.10.0.0/16'], 24), pool('tiny', ['10.20.0.0/16'], 31), cnPodCidrs('w1', []))).brief).toEqual(['error mask-size-too-small CiliumPodIPPool tiny']);
  });

  it('pool-exhausted: node CIDRs left below the scale-up (warning), none left (error)', () => {
    // A /22 with /24s: 4 node CIDRs, 3 held, 1 left.
    const objs = [clusterPool('10.0.0.0/22'), ...['w1', 'w2', 'w3'].flatMap((n, i) => [node(n, `172.18.0.${i + 2}`), cnPodCidrs(n, [`10.0.${i}.0/24`])])];
    expect(check(list(...objs)).brief).toEqual([]); // 10 % of 3 nodes is 1 node: 1 left is enough
    const two = check(list(...objs), { scaleUpNodes: 2 });
    expect(two.brief).toEqual(['warning pool-exhausted ConfigMap kube-system/cilium-config']);
    expect(two.findings[0]!.message).toBe('pool default has 1 of 4 IPv4 node CIDRs (/24) left; adding 2 nodes needs 2');
    const full = [...objs, node('w4', '172.18.0.9'), cnPodCidrs('w4', ['10.0.3.0/24'])];
    expect(check(list(...full)).brief).toEqual(['error pool-exhausted ConfigMap kube-system/cilium-config']);
  });

  it('node-addresses-near-full: 230 of 254 used is 91 % (warning; the used list counts router and health too, so only network and broadcast are taken off); 200 is not', () => {
    const used = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`10.0.1.${i + 1}`, { owner: `default/p${i}` }]));
    const objs = (n: number) => list(clusterPool('10.0.0.0/16'), node('w1', '172.18.0.2'), cnPodCidrs('w1', ['10.0.1.0/24'], { status: { ipam: { used: used(n) } } }));
    const { brief, findings } = check(objs(230));
    expect(brief).toEqual(['warning node-addresses-near-full CiliumNode w1']);
    expect(findings[0]!.message).toBe('node w1 uses 230 of its 254 IPv4 pod addresses (91 %, 10.0.1.0/24)');
    expect(check(objs(200)).brief).toEqual([]);
  });

  it('ciliumnode-without-node: a CiliumNode whose Node is gone still holds its CIDR (only when Nodes are in the dump)', () => {
    const objs = [clusterPool('10.0.0.0/16'), node('w1', '172.18.0.2'), cnPodCidrs('w1', ['10.0.1.0/24']), cnPodCidrs('gone', ['10.0.2.0/24'])];
    expect(check(list(...objs)).brief).toEqual(['warning ciliumnode-without-node CiliumNode gone']);
    expect(check(list(objs[0]!, objs[2]!, objs[3]!)).brief).toEqual([]);
  });

  it('duplicate-pod-address: two pods with one address (host-network pods are node addresses)', () => {
    const objs = list(clusterPool('10.0.0.0/16'), node('w1', '172.18.0.2'), cnPodCidrs('w1', ['10.0.1.0/24']));
    const pods = [pod('default', 'a', 'w1', '10.0.1.5'), pod('shop', 'b', 'w1', '10.0.1.5'), pod('default', 'c', 'w1', '10.0.1.6'), pod('kube-system', 'h1', 'w1', '172.18.0.2', true), pod('kube-system', 'h2', 'w1', '172.18.0.2', true)];
    const { brief, findings } = check(objs, { pods });
    expect(brief).toEqual(['error duplicate-pod-address Pod default/a + Pod shop/b']);
    expect(findings[0]!.message).toBe('10.0.1.5 is held by 2 pods: Pod default/a, Pod shop/b');
  });

  it('used-address-without-endpoint: an ENI CiliumNode lists an address no CiliumEndpoint holds', () => {
    const cn = {
      apiVersion: 'cilium.io/v2',
      kind: 'CiliumNode',
      metadata: { name: 'ip-192-168-1-10' },
      spec: { addresses: [{ type: 'InternalIP', ip: '192.168.1.10' }], ipam: { pool: { '192.168.1.20': { resource: 'eni-1' }, '192.168.1.21': { resource: 'eni-1' }, '192.168.1.22': { resource: 'eni-1' } } } },
      status: { ipam: { used: { '192.168.1.20': { owner: 'default/web-1', resource: 'eni-1' }, '192.168.1.21': { owner: 'default/web-gone', resource: 'eni-1' }, '192.168.1.22': { owner: 'router', resource: 'eni-1' } } } },
    };
    const cep = { apiVersion: 'cilium.io/v2', kind: 'CiliumEndpoint', metadata: { name: 'web-1', namespace: 'default' }, status: { networking: { node: '192.168.1.10', addressing: [{ ipv4: '192.168.1.20' }] } } };
    const objs = list(cm({ ipam: 'eni', 'routing-mode': 'native' }), node('ip-192-168-1-10', '192.168.1.10'), cn, cep);
    const { brief, findings } = check(objs);
    expect(brief).toEqual(['warning used-address-without-endpoint CiliumNode ip-192-168-1-10']);
    expect(findings[0]!.message).toBe('CiliumNode ip-192-168-1-10 lists 1 address as used that no pod or CiliumEndpoint holds: 192.168.1.21 (owner default/web-gone)');
    // Without endpoints or pods, nothing says what is leaked.
    expect(check(list(cm({ ipam: 'eni', 'routing-mode': 'native' }), node('ip-192-168-1-10', '192.168.1.10'), cn)).brief).toEqual([]);
  });

  it('pod-outside-allocations: a pod address in no allocation, current or former', () => {
    const objs = list(clusterPool('10.0.0.0/16'), node('w1', '172.18.0.2'), cnPodCidrs('w1', ['10.0.1.0/24']));
    const pods = [pod('default', 'ok', 'w1', '10.0.1.5'), pod('default', 'stray', 'w1', '10.99.0.5'), pod('kube-system', 'host', 'w1', '172.18.0.2', true)];
    const { brief, findings } = check(objs, { pods });
    expect(brief).toEqual(['warning pod-outside-allocations Pod default/stray']);
    expect(findings[0]!.message).toBe('1 pod address on node w1 in no node allocation: default/stray 10.99.0.5');
  });
});

describe('check: the clean real fixtures report nothing', () => {
  for (const name of ['init.yaml', 'ciliumnode.yaml', 'acme-pool.yaml', 'foobar-pool.yaml', 'green-pool-dualstack.yaml', 'cilium-config-eni.yaml']) {
    it(name, () => {
      expect(check(readFileSync(ipamFixture(name), 'utf8'), { file: name }).brief).toEqual([]);
    });
  }
});

/** The `-- name --` sections of a txtar archive (Cilium's operator test data). */
function txtar(file: string): Map<string, string> {
  const out = new Map<string, string>();
  const parts = readFileSync(ipamFixture(file), 'utf8').split(/^-- (.+) --$/m);
  for (let i = 1; i + 1 < parts.length; i += 2) out.set(parts[i]!, parts[i + 1]!);
  return out;
}
const docs = (sections: Map<string, string>, names: string[]) => names.map((n) => sections.get(n)!).join('\n---\n');

describe("check: Cilium's own multi-pool operator tests (txtar)", () => {
  it('cluster-pool -> multi-pool migration, before and after the operator moved the CIDRs: clean with the default pool the test names (custom-pool)', () => {
    const s = txtar('multipool-from-cluster-pool-migration.txtar');
    // The test passes --ipam-default-ip-pool=custom-pool to the operator; cilium-config says the same here.
    const config = stringify(cm({ ipam: 'multi-pool', 'ipam-default-ip-pool': 'custom-pool' }));
    expect(check(`${config}---\n${docs(s, ['custom-pool.yaml', 'node-a.yaml', 'node-b.yaml'])}`).brief).toEqual([]);
    expect(check(`${config}---\n${docs(s, ['custom-pool.yaml', 'expected-node-a.yaml', 'expected-node-b.yaml'])}`).brief).toEqual([]);
  });

  it('multiple pools: legitimately reports the missing default pool (the operator test runs no agent, which would need it)', () => {
    const s = txtar('multipool-multiple-pools.txtar');
    const { brief } = check(docs(s, ['ippool-green.yaml', 'ippool-red.yaml', 'ippool-blue.yaml', 'expected-v2.yaml', 'expected-v3.yaml', 'expected-v4.yaml']));
    expect(brief).toEqual(['error multi-pool-no-default-pool CiliumPodIPPool green-pool + CiliumPodIPPool red-pool + CiliumPodIPPool blue-pool']);
  });
});
