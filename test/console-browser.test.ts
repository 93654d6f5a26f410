/// <reference lib="dom" />
// The page.evaluate callbacks below run in the browser: they use the DOM.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../src/log.js';
import { ExporterService } from '../src/service.js';
import { migrationDemo } from '../src/sim/migration-demo.js';
import { SimulatedRelay } from '../src/sim/simulated-relay.js';
import { tempDir } from './support/temp.js';
import { poll } from './support/wait.js';

/** Debian's chromium: CI installs it (.ci/run); never a downloaded browser. */
const CHROMIUM = '/usr/bin/chromium';
/** The demo played this many times faster: switch at 5 s, rollout done at 8.3 s, fix at 16.7 s. */
const SPEED = 3;
const RATE = 400;
/** Longest wait for the page to show what the API says (it polls every 2 s). */
const AGREE_MS = 12_000;

interface Api {
  pools: { pools: Array<{ name: string; state: string; capacity: Array<{ family: string; totalIps: number | null; allocatedIps: number | null; usedIps: number | null }> }> };
  migration: { draining: Array<{ pool: string; progressRatio: number | null }> };
  plan: { inventoryKnown: boolean; pods: number; steps: Array<{ commands: string[]; pods: Array<{ namespace: string; name: string }> }> };
  anomalies: { anomalies: Array<{ ip: string; pod: string; status: string; node: string }> };
}

const fmt = (n: number | null) => (n === null ? '–' : n.toLocaleString('en-US'));
const pct = (r: number | null) => (r === null ? '–' : `${Math.round(r * 100)}%`);
const sorted = (xs: string[]) => [...xs].sort();

describe('the migration console at /, in Debian\'s chromium', () => {
  let browser: Browser | undefined;
  const stop = new AbortController();
  const parts: Array<{ close(): Promise<void> }> = [];
  const timers: NodeJS.Timeout[] = [];
  afterAll(async () => {
    for (const t of timers) clearTimeout(t);
    stop.abort();
    await browser?.close();
    for (const p of parts.reverse()) await p.close();
  });

  it('shows what the API says (pools, progress, stale pods, plan) and follows the demo through the fix', async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: this test drives Debian's chromium (apt-get install chromium; .ci/run installs it)`);
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: process.getuid?.() === 0 ? ['--no-sandbox'] : [] });
    const page: Page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const shots = tempDir('console-shots');

    // The demo's parts, in-process, as `demo --speed 3` wires them.
    const demo = migrationDemo(RATE, SPEED);
    const start = Date.now();
    const relay = new SimulatedRelay({ scenario: demo.scenario, epochMs: start, logger: silentLogger });
    parts.push(relay);
    const relayAddress = await relay.listen('127.0.0.1:0');
    const service = new ExporterService({
      relay: { address: relayAddress, since: new Date(start - 1000) },
      ipam: { objects: demo.before },
      listenAddress: '127.0.0.1:0',
      windowSec: Math.max(5, 20 / SPEED),
      console: { sampleMs: 250 },
      logger: silentLogger,
    });
    parts.push(service);
    await service.start(stop.signal);
    const t = demo.timeline;
    let phase: 'before' | 'during' | 'after' = 'before';
    timers.push(
      setTimeout(() => { service.sources.setObjects(demo.after, 'demo: switch'); phase = 'during'; }, t.switchAt * 1000),
      setTimeout(() => service.sources.setObjects(demo.rolledOut, 'demo: rollout done'), (t.switchAt + t.rolloutSec) * 1000),
      setTimeout(() => { service.sources.setObjects(demo.fixed, 'demo: fix'); phase = 'after'; }, t.fixAt * 1000),
    );
    const base = service.address;
    const api = async (): Promise<Api> => {
      const get = async (p: string) => (await fetch(base + p)).json();
      const [pools, migration, plan, anomalies] = await Promise.all([get('/api/v1/pools'), get('/api/v1/migration'), get('/api/v1/restart-plan'), get('/api/v1/anomalies')]);
      return { pools, migration, plan, anomalies } as Api;
    };

    /** What the page shows now, read from its DOM. */
    const shown = () =>
      page.evaluate(() => {
        const q = (sel: string) => [...document.querySelectorAll(sel)];
        return {
          updates: Number(document.body.dataset.updates ?? 0),
          flows: document.querySelector('[data-testid=flows]')?.textContent ?? '',
          relay: document.querySelector('[data-testid=relay] b')?.textContent ?? '',
          pools: q('#pools tr[data-pool]').map((r) => ({
            key: `${r.getAttribute('data-pool')}/${r.getAttribute('data-family')}`,
            draining: r.classList.contains('draining'),
            capacity: r.querySelector('[data-k=capacity]')!.textContent,
            allocated: r.querySelector('[data-k=allocated]')!.textContent,
            used: r.querySelector('[data-k=used]')!.textContent,
            free: r.querySelector('[data-k=free]')!.textContent,
          })),
          progress: q('#migration .pool').map((p) => `${p.getAttribute('data-pool')} ${p.querySelector('[data-testid=progress]')!.textContent}`),
          sparklines: q('#migration svg.spark').length,
          commands: q('[data-testid=command]').map((c) => c.textContent ?? ''),
          offenders: q('#offenders tr[data-ip]').map((r) => `${r.getAttribute('data-ip')} ${r.querySelector('[data-k=pod]')!.textContent}`),
        };
      });
    type Shown = Awaited<ReturnType<typeof shown>>;
    /** The page's figures as the API's would render. */
    const expected = (a: Api) => ({
      pools: a.pools.pools.flatMap((p) => (p.capacity.length ? p.capacity : [{ family: '', totalIps: null, allocatedIps: null, usedIps: null }]).map((c) => ({ key: `${p.name}/${c.family}`, draining: p.state === 'draining', capacity: fmt(c.totalIps), allocated: fmt(c.allocatedIps), used: fmt(c.usedIps), free: fmt(c.totalIps === null ? null : c.totalIps - c.allocatedIps!) }))),
      progress: a.migration.draining.map((d) => `${d.pool} ${pct(d.progressRatio)}`),
      commands: sorted([...new Set(a.plan.steps.flatMap((s) => s.commands))]),
      offenders: sorted(a.anomalies.anomalies.map((o) => `${o.ip} ${o.pod || '–'}`)),
    });
    /** Waits until the page and the API (read right after the page) agree; returns both. */
    const agree = (what: string, extra: (s: Shown, a: Api) => boolean = () => true) => {
      let last = '';
      return poll(`the console to show what the API says (${what}); last difference: ${() => last}`, AGREE_MS, async () => {
        const s = await shown();
        const a = await api();
        const got = { pools: s.pools, progress: s.progress, commands: sorted([...new Set(s.commands)]), offenders: sorted(s.offenders) };
        const want = expected(a);
        last = JSON.stringify({ got, want });
        return JSON.stringify(got) === JSON.stringify(want) && extra(s, a) ? { s, a } : undefined;
      }).catch((e: Error) => { throw new Error(`${e.message.replace(/\(\) => last/, '')}: ${last}`); });
    };

    await page.goto(`${base}/`);
    // Before the switch: host-scope, nothing draining, no offender, nothing to restart.
    const before = await agree('before the switch', (s) => s.updates > 0 && s.relay === 'streaming');
    expect(phase).toBe('before');
    expect(before.s.progress).toEqual([]);
    expect(before.s.commands).toEqual([]);
    expect(before.s.pools.length).toBeGreaterThan(0);
    await page.screenshot({ path: join(shots, 'console-before.png') });

    // Between the rollout's end and the fix: the old pool draining, the left-behind pods stale, their restarts planned.
    await poll('the rollout to finish', 20_000, async () => (Date.now() - start > (t.switchAt + t.rolloutSec + 1) * 1000 ? true : undefined));
    const during = await agree('during the migration', (s, a) => a.plan.pods === 6 && s.offenders.length > 0);
    expect(phase).toBe('during');
    expect(during.s.progress).toHaveLength(1);
    expect(during.s.pools.filter((p) => p.draining).length).toBeGreaterThan(0);
    // The three left behind (talking) and the three idle ones: six pods, each with a command ready to copy.
    expect(during.a.plan.steps.flatMap((s) => s.pods)).toHaveLength(6);
    expect(during.a.anomalies.anomalies.filter((o) => o.status === 'stale').length).toBeGreaterThan(0);
    await page.screenshot({ path: join(shots, 'console-during.png') });

    // After the fix the plan shrinks to the three idle pods; progress rises; the page follows.
    const after = await agree('after the fix', (_s, a) => a.plan.pods === 3);
    expect(phase).toBe('after');
    expect(after.s.commands.length).toBeLessThan(during.s.commands.length);
    expect(Number(after.s.progress[0]!.split(' ')[1]!.replace('%', ''))).toBeGreaterThan(Number(during.s.progress[0]!.split(' ')[1]!.replace('%', '')));
    expect(after.s.updates).toBeGreaterThan(during.s.updates);
    expect(Number(after.s.flows.replace(/,/g, ''))).toBeGreaterThan(Number(during.s.flows.replace(/,/g, '')));
    // The progress history has samples by now: a sparkline.
    expect(after.s.sparklines).toBe(1);
    await page.screenshot({ path: join(shots, 'console-after.png') });

    // Filters are in the URL: a linked view shows only what the API gives for them.
    const node = during.a.anomalies.anomalies[0]!.node;
    await page.goto(`${base}/#status=stale&node=${encodeURIComponent(node)}`);
    await poll('the filtered offenders', AGREE_MS, async () => {
      const want = ((await (await fetch(`${base}/api/v1/anomalies?status=stale&node=${encodeURIComponent(node)}`)).json()) as Api['anomalies']).anomalies.map((o) => o.ip);
      const got = await page.evaluate(() => [...document.querySelectorAll('#offenders tr[data-ip]')].map((r) => r.getAttribute('data-ip')!));
      const sel = await page.evaluate(() => (document.querySelector('[data-filter=node]') as HTMLSelectElement).value);
      return sel === node && JSON.stringify(sorted(got)) === JSON.stringify(sorted(want)) ? true : undefined;
    });
    for (const f of ['console-before.png', 'console-during.png', 'console-after.png']) expect(existsSync(join(shots, f)), f).toBe(true);
  }, 90_000);
});
