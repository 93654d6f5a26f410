import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { stateFromObjects } from '../src/ipam/from-objects.js';
import { IpamSources } from '../src/ipam/ipam-sources.js';
import { IpamStore } from '../src/ipam/ipam-store.js';
import type { KubeObject } from '../src/ipam/kube-object.js';
import type { IpamSnapshot } from '../src/ipam/snapshot.js';
import { IpAddr, parseIpInto } from '../src/net/ip.js';
import { waitFor } from './support/wait.js';

function what(snap: IpamSnapshot | undefined, ip: string): string {
  const a = new IpAddr();
  parseIpInto(ip, a);
  const i = snap?.resolve(a);
  return i ? `${i.status} ${i.pool || '-'} ${i.node || '-'}` : 'none';
}

const cm: KubeObject = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cilium-config', namespace: 'kube-system' }, data: { ipam: 'cluster-pool', 'cluster-pool-ipv4-cidr': '10.0.0.0/16' } };
const cn = (name: string, podCIDRs: string[]): KubeObject => ({ apiVersion: 'cilium.io/v2', kind: 'CiliumNode', metadata: { name }, spec: { ipam: { podCIDRs } } });
const stateOf = (objs: KubeObject[]) => stateFromObjects({ objects: objs.map((obj) => ({ obj, where: 'kubernetes' })) });

describe('IPAM store', () => {
  it('remembers a CIDR a node no longer holds as a former allocation of its old owner', () => {
    const store = new IpamStore({ now: () => new Date('2026-11-21T12:00:00Z') });
    const seen: number[] = [];
    store.onChange((s) => seen.push(s.version));
    const v1 = stateOf([cm, cn('n1', ['10.0.1.0/24']), cn('n2', ['10.0.2.0/24'])]);
    const first = store.update(v1.state, 'kubernetes', v1.problems)!;
    expect(what(first, '10.0.1.9')).toBe('current default n1');

    // The CiliumNode is re-created with a new podCIDR.
    const v2 = stateOf([cm, cn('n1', ['10.0.5.0/24']), cn('n2', ['10.0.2.0/24'])]);
    const second = store.update(v2.state, 'kubernetes', v2.problems)!;
    expect(what(second, '10.0.1.9')).toBe('stale default n1');
    expect(what(second, '10.0.5.9')).toBe('current default n1');
    expect(second.state.former).toEqual([expect.objectContaining({ node: 'n1', pool: 'default', releasedAt: '2026-11-21T12:00:00.000Z', reason: 'no longer allocated to n1' })]);
    // The old snapshot is untouched: a flow sees the old state or the new one, never half.
    expect(what(first, '10.0.1.9')).toBe('current default n1');

    // Still remembered on the next, unrelated change…
    const v3 = stateOf([cm, cn('n1', ['10.0.5.0/24']), cn('n2', ['10.0.2.0/24']), cn('n3', ['10.0.3.0/24'])]);
    expect(what(store.update(v3.state, 'kubernetes'), '10.0.1.9')).toBe('stale default n1');
    // …and no longer former once it is allocated again.
    const v4 = stateOf([cm, cn('n1', ['10.0.5.0/24', '10.0.1.0/24']), cn('n2', ['10.0.2.0/24'])]);
    const fourth = store.update(v4.state, 'kubernetes')!;
    expect(what(fourth, '10.0.1.9')).toBe('current default n1');
    // n3 went away in v4: its CIDR is former now.
    expect(fourth.state.former.map((f) => `${f.node} ${f.cidr.text}`)).toEqual(['n3 10.0.3.0/24']);
    expect(seen).toEqual([1, 2, 3, 4]);
    expect(store.errorCount).toBe(0);
  });

  it('rejects a bad update, counts it and keeps the last good snapshot', () => {
    const store = new IpamStore();
    const good = stateOf([cm, cn('n1', ['10.0.1.0/24'])]);
    store.update(good.state, 'kubernetes');
    const bad = stateOf([cm, cn('n1', ['10.0.1.0/24']), cn('n2', ['10.0.2.0/33'])]);
    expect(store.update(bad.state, 'kubernetes', bad.problems)).toBeUndefined();
    expect(store.errorCount).toBe(1);
    expect(store.lastError?.problems.map((p) => `${p.where} ${p.field} ${p.value}`)).toEqual(['CiliumNode n2 (kubernetes) spec.ipam.podCIDRs[0] 10.0.2.0/33']);
    expect(store.snapshot?.version).toBe(1);
    expect(what(store.snapshot, '10.0.1.1')).toBe('current default n1');
  });
});

describe('IPAM sources: files', () => {
  const sources: IpamSources[] = [];
  afterEach(async () => {
    for (const s of sources.splice(0)) await s.close();
  });

  it('re-reads a changed file; a broken file keeps the last good state and names the file and line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hie-ipam-'));
    const file = join(dir, 'ipam.yaml');
    const good = (cidr: string) =>
      [
        'apiVersion: hubble-ipam-exporter/v1',
        'kind: IpamConfig',
        'mode: cluster-pool',
        'pools:',
        '  - name: default',
        '    cidrs: [10.0.0.0/16]',
        'nodes:',
        '  - name: n1',
        `    allocations: [{ pool: default, cidrs: [${cidr}] }]`,
        '',
      ].join('\n');
    writeFileSync(file, good('10.0.1.0/24'));
    const src = new IpamSources({ files: [file], serviceCidrs: ['10.96.0.0/12'], filePollMs: 20 });
    sources.push(src);
    await src.start();
    expect(src.waitingFor()).toEqual([]);
    expect(what(src.store.snapshot, '10.0.1.5')).toBe('current default n1');
    expect(what(src.store.snapshot, '10.96.0.10')).toBe('service - -');

    writeFileSync(file, `${good('10.0.1.0/24')}  - name: n2: oops\n`);
    await waitFor(() => src.store.errorCount === 1, 'the broken file to be rejected');
    expect(src.store.snapshot?.version).toBe(1);
    expect(what(src.store.snapshot, '10.0.1.5')).toBe('current default n1');
    const p = src.store.lastError!.problems[0]!;
    expect(p.where).toBe(file);
    expect(p.field).toMatch(/^line 10 column \d+$/);
    expect(p.value).toBe('- name: n2: oops');
    expect(p.message).toMatch(/^YAML\/JSON syntax error: /);

    writeFileSync(file, good('10.0.7.0/24'));
    await waitFor(() => src.store.snapshot?.version === 2, 'the fixed file to be accepted');
    expect(what(src.store.snapshot, '10.0.7.5')).toBe('current default n1');
    expect(what(src.store.snapshot, '10.0.1.5')).toBe('stale default n1');
  });

  it('waits for a first valid state and says why', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hie-ipam-'));
    const file = join(dir, 'ipam.yaml');
    writeFileSync(file, 'apiVersion: hubble-ipam-exporter/v1\nkind: IpamConfig\npools:\n  - name: a\n    cidrs: [10.0.0.0/8]\n    colour: blue\n');
    const src = new IpamSources({ files: [file], filePollMs: 20 });
    sources.push(src);
    await src.start();
    expect(src.store.snapshot).toBeUndefined();
    expect(src.waitingFor()).toEqual([`a valid IPAM state (last error: 1 problem(s), first: ${file}: pools[0].colour)`]);
    expect(src.store.lastError?.problems[0]?.message).toBe('unknown field (known: name, cidrs, maskSize, state)');
  });

  it('names a missing file', async () => {
    const src = new IpamSources({ files: ['/nonexistent/ipam.yaml'] });
    sources.push(src);
    await src.start();
    expect(src.store.lastError?.problems).toEqual([{ where: '/nonexistent/ipam.yaml', field: '(file)', value: '/nonexistent/ipam.yaml', message: 'cannot read: ENOENT' }]);
  });
});
