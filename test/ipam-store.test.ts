import { appendFileSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { stateFromObjects } from '../src/ipam/from-objects.js';
import { readSettledFile } from '../src/ipam/ipam-files.js';
import { IpamSources } from '../src/ipam/ipam-sources.js';
import { IpamStore } from '../src/ipam/ipam-store.js';
import { KubeIpamWatch } from '../src/ipam/kube-watch.js';
import type { KubeObject } from '../src/ipam/kube-object.js';
import type { IpamSnapshot } from '../src/ipam/snapshot.js';
import { IpAddr, parseIpInto } from '../src/net/ip.js';
import { createLogger } from '../src/log.js';
import { truthConfigYaml } from './support/ground-truth.js';
import { kubectlListJson, kubectlListYaml, truthNodes, truthPoolsYaml } from './support/truth-cluster-files.js';
import { FakeKubeApi } from './support/fake-kube-api.js';
import { waitFor } from './support/wait.js';

/** Each test closes what it starts; the lifecycle's signal is never aborted here. */
const signal = new AbortController().signal;

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
    const src = new IpamSources({ files: [file], serviceCidrs: ['10.96.0.0/12'], filePollMs: 20, fileSettleMs: 50 });
    sources.push(src);
    src.start(signal);
    await src.ready();
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
    const src = new IpamSources({ files: [file], filePollMs: 20, fileSettleMs: 50 });
    sources.push(src);
    src.start(signal);
    await src.ready();
    expect(src.store.snapshot).toBeUndefined();
    expect(src.waitingFor()).toEqual([`a valid IPAM state (last error: 1 problem(s), first: ${file}: pools[0].colour)`]);
    expect(src.store.lastError?.problems[0]?.message).toBe('unknown field (known: name, cidrs, maskSize, state)');
  });

  it('refuses a poll or settle time that is not a number of milliseconds, naming the option', () => {
    expect(() => new IpamSources({ files: ['x.yaml'], fileSettleMs: -1 })).toThrow('IPAM sources: fileSettleMs must be a number of milliseconds >= 0, got -1');
    expect(() => new IpamSources({ files: ['x.yaml'], filePollMs: 0 })).toThrow('IPAM sources: filePollMs must be a number of milliseconds >= 1, got 0');
    expect(() => new IpamSources({ files: ['x.yaml'], fileSettleMs: Number.NaN })).toThrow('IPAM sources: fileSettleMs must be a number of milliseconds >= 0, got NaN');
  });

  it('names a missing file', async () => {
    const src = new IpamSources({ files: ['/nonexistent/ipam.yaml'] });
    sources.push(src);
    src.start(signal);
    await src.ready();
    expect(src.store.lastError?.problems).toEqual([{ where: '/nonexistent/ipam.yaml', field: '(file)', value: '/nonexistent/ipam.yaml', message: 'cannot read: ENOENT' }]);
  });
});

describe('IPAM sources: a file is applied whole or not at all', () => {
  const SETTLE_MS = 150;
  const POLL_MS = 10;
  const LOADED_AT = new Date('2026-11-21T14:02:11Z');
  const sources: IpamSources[] = [];
  afterEach(async () => {
    for (const s of sources.splice(0)) await s.close();
  });

  const allocations = (snap: IpamSnapshot | undefined) => (snap?.state.allocations ?? []).map((a) => `${a.node} ${a.cidr.text}`).sort();
  const FULL = ['n1 10.10.1.0/24', 'n1 fd00:10:0:1::/64', 'n2 10.10.2.0/24', 'n2 fd00:10:0:2::/64', 'n3 10.10.3.0/24'];

  function cluster(clusterText: string, extra: { pools?: boolean } = { pools: true }) {
    const dir = mkdtempSync(join(tmpdir(), 'hie-settle-'));
    const pools = join(dir, 'pools.yaml');
    const file = join(dir, 'cluster.yaml');
    writeFileSync(pools, truthPoolsYaml);
    writeFileSync(file, clusterText);
    const lines: string[] = [];
    const logger = createLogger('debug', (l) => lines.push(l));
    const store = new IpamStore({ logger, now: () => LOADED_AT });
    const src = new IpamSources({ files: extra.pools ? [pools, file] : [file], filePollMs: POLL_MS, fileSettleMs: SETTLE_MS, store, logger });
    sources.push(src);
    return { src, file, lines };
  }

  it('never applies an empty file, one without objects, or a torn one; each is a counted error naming the file and why; the last good state stays', async () => {
    const { src, file, lines } = cluster(kubectlListYaml());
    src.start(signal);
    await src.ready();
    expect(src.store.snapshot?.version).toBe(1);
    expect(allocations(src.store.snapshot)).toEqual(FULL);

    const yaml = kubectlListYaml();
    const cut = yaml.lastIndexOf('- apiVersion: cilium.io/v2'); // 3 Nodes and 2 CiliumNodes written, then cut at a line start
    const bad: Array<[what: string, text: string, field: string, message: RegExp]> = [
      ['empty', '', '(file)', /^empty file \(0 bytes\): not applied; if a script refreshes it, write it atomically: kubectl get … > cluster\.yaml\.tmp && mv cluster\.yaml\.tmp cluster\.yaml$/],
      ['comments only', '# refreshed every 30 s\n\n   \n', '(file)', /^no objects \(only whitespace or comments, 28 bytes\): not applied; if a script refreshes it, write it atomically: /],
      ['an empty List', 'apiVersion: v1\nitems: []\nkind: List\nmetadata:\n  resourceVersion: ""\n', '(file)', /^no objects \(an empty List\): not applied; /],
      ['a List cut short', yaml.slice(0, cut), 'kind', /^a List without its `kind` \(kubectl writes `kind: List` after the items\): the file looks cut short; not applied; if a script refreshes it, write it atomically: /],
      ['torn JSON', kubectlListJson().slice(0, 300), expect.stringMatching(/^line \d+ column \d+$/) as unknown as string, /^YAML\/JSON syntax error: /],
    ];
    for (const [i, [what, text, field, message]] of bad.entries()) {
      writeFileSync(file, text);
      await waitFor(() => src.store.errorCount === i + 1, `the ${what} file to be rejected`, 5_000);
      const p = src.store.lastError!.problems;
      if (what !== 'torn JSON') expect(p, what).toHaveLength(1); // an unclosed JSON object is several syntax errors
      const more = p.length > 1 ? ` (and ${p.length - 1} more problem(s))` : '';
      expect(p[0], what).toEqual(expect.objectContaining({ where: file, field }));
      expect(p[0]!.message, what).toMatch(message);
      expect(src.store.lastError!.message, what).toBe(`${file}: ${p[0]!.field === '(file)' ? '' : `${p[0]!.field}: `}${p[0]!.message}${more}; keeping the IPAM state loaded at 2026-11-21T14:02:11.000Z (version 1)`);
      expect(src.store.snapshot?.version, what).toBe(1);
      expect(allocations(src.store.snapshot), what).toEqual(FULL);
      // A running exporter stays ready: the rejection shows in /readyz's body, not as unready.
      expect(src.waitingFor(), what).toEqual([]);
    }
    expect(lines.filter((l) => l.startsWith('level=error')).map((l) => l.match(/msg="([^"]*)"/)?.[1])).toEqual(Array(bad.length).fill('IPAM update rejected; keeping the IPAM state loaded at 2026-11-21T14:02:11.000Z (version 1)'));

    // A node removed for real is applied once the file has settled: its CIDR is now former.
    writeFileSync(file, kubectlListYaml(truthNodes.slice(0, 2)));
    await waitFor(() => src.store.snapshot?.version === 2, 'the legitimately changed file to be applied', 5_000);
    expect(allocations(src.store.snapshot)).toEqual(FULL.slice(0, 4));
    expect(what(src.store.snapshot, '10.10.3.9')).toBe('stale default n3');
    expect(src.store.errorCount).toBe(bad.length);
  });

  it('says there is no IPAM state yet (never "keeping the last good state") when the first read is rejected', async () => {
    const { src, file, lines } = cluster('', { pools: false });
    src.start(signal);
    await src.ready();
    expect(src.store.snapshot).toBeUndefined();
    expect(src.store.errorCount).toBe(1);
    expect(src.store.lastError!.message).toBe(`${file}: empty file (0 bytes): not applied; if a script refreshes it, write it atomically: kubectl get … > cluster.yaml.tmp && mv cluster.yaml.tmp cluster.yaml; there is no IPAM state yet: flows are not classified until a valid one loads`);
    const errors = lines.filter((l) => l.startsWith('level=error'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain('msg="IPAM update rejected; there is no IPAM state yet: flows are not classified until a valid one loads"');
    expect(errors.join('\n')).not.toMatch(/last good/);
    expect(src.waitingFor()).toEqual([`a valid IPAM state (last error: 1 problem(s), first: ${file}: (file))`]);
  });

  it('builds no state from the live watch alone while an --ipam-file has not yet been read whole', async () => {
    const api = await new FakeKubeApi().start();
    try {
      api.upsert(cm);
      api.upsert(cn('n1', ['10.0.1.0/24']));
      const dir = mkdtempSync(join(tmpdir(), 'hie-settle-'));
      const file = join(dir, 'services.yaml');
      writeFileSync(file, '');
      const src = new IpamSources({ files: [file], filePollMs: POLL_MS, fileSettleMs: SETTLE_MS, kube: (onChange) => new KubeIpamWatch({ kubeConfig: api.kubeConfig(), onChange, debounceMs: 20 }) });
      sources.push(src);
      src.start(signal);
      await src.ready(10_000);
      expect(src.store.snapshot).toBeUndefined();
      expect(src.store.errorCount).toBe(1);
      expect(src.waitingFor()).toEqual([`a valid IPAM state (last error: 1 problem(s), first: ${file}: (file))`]);
      writeFileSync(file, 'apiVersion: hubble-ipam-exporter/v1\nkind: IpamConfig\nserviceCidrs: [10.96.0.0/12]\n');
      await waitFor(() => src.store.snapshot !== undefined, 'the file and the watch to make a state', 5_000);
      expect(src.store.snapshot!.version).toBe(1);
      expect(what(src.store.snapshot, '10.0.1.9')).toBe('current default n1');
      expect(what(src.store.snapshot, '10.96.0.10')).toBe('service - -');
      expect(src.store.errorCount).toBe(1);
    } finally {
      await api.close();
    }
  });

  it('close() during the first settle wait ends it at once: the start finishes, no file is read, no state is built', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hie-settle-'));
    const file = join(dir, 'cluster.yaml');
    writeFileSync(file, truthPoolsYaml);
    // Written just now, and settle and poll times far past the test's own timeout: only close() can end the wait.
    const src = new IpamSources({ files: [file], filePollMs: 600_000, fileSettleMs: 600_000 });
    src.start(signal);
    expect(src.waitingFor()).toEqual([`the IPAM file ${file} to settle (unchanged for 600000 ms)`, 'a first IPAM state']);
    await src.close();
    await src.ready();
    expect(src.rebuilds).toBe(0);
    expect(src.store.snapshot).toBeUndefined();
    expect(src.store.errorCount).toBe(0);
  });

  it('reads a file only once it has settled: one written in chunks, with pauses shorter than fileSettleMs, is never read half-written', async () => {
    // An IpamConfig parses at every line boundary, so only the settle rule protects it.
    const { src, file } = cluster(truthConfigYaml, { pools: false });
    const seen: IpamSnapshot[] = [];
    src.store.onChange((s) => seen.push(s));
    src.start(signal);
    await src.ready();
    expect(src.store.snapshot?.version).toBe(1);
    expect(allocations(src.store.snapshot)).toEqual(FULL);
    // The same cluster, n3 moved to 10.10.4.0/24; written as `cat new.yaml > ipam.yaml` on a slow disk would.
    const next = truthConfigYaml.replace('cidrs: [10.10.3.0/24]', 'cidrs: [10.10.4.0/24]');
    const lineStarts = [...next.matchAll(/\n/g)].map((m) => m.index! + 1);
    const chunks = [0, lineStarts[6]!, lineStarts[12]!, lineStarts[17]!, next.length];
    writeFileSync(file, '');
    for (let c = 1; c < chunks.length; c++) {
      await sleep(SETTLE_MS / 8);
      appendFileSync(file, next.slice(chunks[c - 1], chunks[c]));
    }
    await waitFor(() => (src.store.snapshot?.version ?? 0) >= 2, 'the rewritten file to be applied', 5_000);
    expect(seen.map((s) => s.version)).toEqual([1, 2]);
    expect(allocations(seen[1])).toEqual([...FULL.slice(0, 4), 'n3 10.10.4.0/24']);
    expect(what(seen[1], '10.10.3.9')).toBe('stale default n3');
    expect(src.store.errorCount).toBe(0);
  });
});

describe('readSettledFile', () => {
  it('refuses a read during which the file changed (rewritten in place or replaced by a rename)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hie-settle-'));
    const file = join(dir, 'cluster.yaml');
    writeFileSync(file, 'kind: List\nitems: []\n');
    const inPlace = readSettledFile(file, (f) => {
      const text = readFileSync(f);
      writeFileSync(f, 'kind: List\nitems: [{ kind: Node }]\n');
      return text;
    });
    expect(inPlace).toEqual({ kind: 'changed', file });
    const renamed = readSettledFile(file, (f) => {
      const text = readFileSync(f);
      writeFileSync(`${f}.tmp`, 'kind: List\nitems: [{ kind: Node }]\n'); // same size and content: only the inode differs
      renameSync(`${f}.tmp`, f);
      return text;
    });
    expect(renamed).toEqual({ kind: 'changed', file });
    expect(readSettledFile(file)).toEqual({ kind: 'read', file, text: 'kind: List\nitems: [{ kind: Node }]\n', stamp: expect.any(String) });
    expect(readSettledFile(join(dir, 'nope.yaml'))).toEqual({ kind: 'unreadable', file: join(dir, 'nope.yaml'), code: 'ENOENT' });
  });
});
