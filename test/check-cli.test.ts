import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ipamFixture } from './support/fixtures.js';
import { runCli } from './support/processes.js';
import { tempDir } from './support/temp.js';

const here = dirname(fileURLToPath(import.meta.url));
const stale = join(here, 'fixtures', 'check', 'stale-ciliumnodes-after-pool-change.yaml');

/** A cluster-pool dump whose only finding is a warning: a /26 per node (60 pod addresses). */
function warningOnly(dir: string): string {
  const file = join(dir, 'small-mask.yaml');
  writeFileSync(
    file,
    stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: [
        { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cilium-config', namespace: 'kube-system' }, data: { ipam: 'cluster-pool', 'cluster-pool-ipv4-cidr': '10.0.0.0/16', 'cluster-pool-ipv4-mask-size': '26' } },
        { apiVersion: 'cilium.io/v2', kind: 'CiliumNode', metadata: { name: 'w1' }, spec: { ipam: { podCIDRs: ['10.0.0.0/26'] } } },
      ],
    }),
  );
  return file;
}

describe('hubble-ipam-exporter check (the built CLI as a process)', () => {
  it('exits 0 on a clean real dump and says so', () => {
    const r = runCli(['check', '--ipam', ipamFixture('init.yaml')]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('IPAM check: no findings.\n');
    expect(r.status).toBe(0);
  });

  it('exits 1 on the stale CiliumNodes, with exactly the expected findings (json)', () => {
    const r = runCli(['check', '--ipam', stale, '--format', 'json']);
    expect(r.status).toBe(1);
    const out = JSON.parse(r.stdout) as { findings: Array<{ severity: string; code: string; objects: string[] }> };
    expect(out.findings.map((f) => `${f.severity} ${f.code} ${f.objects.join(' + ')}`)).toEqual([
      'error ciliumnode-cidr-outside-pools CiliumNode worker-2 + ConfigMap kube-system/cilium-config',
      'error ciliumnode-cidr-outside-pools CiliumNode worker-3 + ConfigMap kube-system/cilium-config',
      'error cluster-pool-cidr-removed ConfigMap kube-system/cilium-config',
    ]);
  });

  it('table and markdown name each finding with what, why and fix', () => {
    const table = runCli(['check', '--ipam', stale]);
    expect(table.status).toBe(1);
    expect(table.stdout.split('\n')[0]).toBe('IPAM check: 3 error(s), 0 warning(s), 0 info');
    expect(table.stdout.match(/^ERROR ciliumnode-cidr-outside-pools$/gm)).toHaveLength(2);
    expect(table.stdout).toContain('  fix:     move the node to the current pools one node at a time: kubectl drain worker-2');
    const md = runCli(['check', '--ipam', stale, '--format', 'markdown']);
    expect(md.stdout.split('\n').filter((l) => l.startsWith('| error |'))).toHaveLength(3);
  });

  it('--fail-on: a warning fails by default, not with --fail-on error', () => {
    const file = warningOnly(tempDir('check'));
    expect(runCli(['check', '--ipam', file]).status).toBe(1);
    const r = runCli(['check', '--ipam', file, '--fail-on', 'error']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('WARNING mask-size-too-small');
  });

  it('exits 2 on unusable input, naming the file and what is wrong', () => {
    const dir = tempDir('check');
    const notKube = join(dir, 'not-kube.yaml');
    writeFileSync(notKube, 'hello: world\n');
    const a = runCli(['check', '--ipam', notKube]);
    expect(a.status).toBe(2);
    expect(a.stderr).toBe(`hubble-ipam-exporter: unusable IPAM input (--ipam): ${notKube}: kind="{\\"hello\\":\\"world\\"}": not a Kubernetes object (no kind) nor an IpamConfig\n`);
    const b = runCli(['check', '--ipam', join(dir, 'missing.yaml')]);
    expect(b.status).toBe(2);
    expect(b.stderr).toContain('missing.yaml');
    expect(b.stderr).toContain('no such file');
    const c = runCli(['check']);
    expect(c.status).toBe(2);
    expect(c.stderr).toContain("required option '--ipam <file...>' not specified");
    // A pods file that is not a pod list.
    const d = runCli(['check', '--ipam', ipamFixture('init.yaml'), '--pods', ipamFixture('init.yaml')]);
    expect(d.status).toBe(2);
    expect(d.stderr).toContain('unusable pods input (--pods)');
    expect(d.stderr).toContain('not a pod list');
  });

  it('--pods: two pods with one address exit 1 with duplicate-pod-address', () => {
    const dir = tempDir('check');
    const pods = join(dir, 'pods.yaml');
    const p = (ns: string, name: string, ip: string) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: ns }, spec: { nodeName: 'dual-stack-worker' }, status: { phase: 'Running', podIP: ip, podIPs: [{ ip }] } });
    writeFileSync(pods, stringify({ apiVersion: 'v1', kind: 'List', items: [p('default', 'a', '10.244.1.5'), p('shop', 'b', '10.244.1.5'), p('default', 'c', '10.244.1.6')] }));
    const r = runCli(['check', '--ipam', ipamFixture('init.yaml'), '--pods', pods, '--format', 'json']);
    expect(r.status).toBe(1);
    const out = JSON.parse(r.stdout) as { findings: Array<{ code: string; objects: string[] }> };
    expect(out.findings.map((f) => [f.code, f.objects])).toEqual([['duplicate-pod-address', ['Pod default/a', 'Pod shop/b']]]);
  });
});
