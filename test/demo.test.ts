import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

describe('the demo, started as a newcomer would', () => {
  it('npm install && npm start in a fresh clone: stale traffic within the first minute, then its end', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'hie-newcomer-')), 'hubble-ipam-exporter');
    execFileSync('git', ['clone', '--quiet', root, dir]);
    // The registry is the only network; the cache from the project's own install makes this quick.
    execFileSync('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund'], { cwd: dir, stdio: 'pipe' });
    const child = spawn('npm', ['start', '--', '--duration', '60', '--listen-address', '127.0.0.1:0'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code, out).toBe(0);
    const ticks = [...out.matchAll(/^t=(\d+)s ipam=(\S+) flows=(\d+) stale_flows=(\d+) stale_dropped=(\d+)/gm)].map((m) => ({ t: Number(m[1]), ipam: m[2], flows: Number(m[3]), stale: Number(m[4]), dropped: Number(m[5]) }));
    expect(ticks.length, out).toBeGreaterThan(50);
    // Before the switch at 15 s: host-scope, nothing stale.
    expect(ticks.filter((x) => x.t < 14).every((x) => x.ipam === 'kubernetes' && x.stale === 0), out).toBe(true);
    // After it: stale traffic, and drops of it, within the first minute.
    const during = ticks.filter((x) => x.t >= 20 && x.t <= 45);
    expect(during.every((x) => x.ipam === 'cluster-pool' && x.stale > 0), out).toBe(true);
    expect(during.at(-1)!.dropped).toBeGreaterThan(0);
    expect(during.at(-1)!.stale).toBeGreaterThan(during[0]!.stale);
    // The left-behind pods are restarted at 50 s: stale traffic ends.
    const last = ticks.at(-1)!;
    const settled = ticks.filter((x) => x.t >= 53);
    expect(settled.length).toBeGreaterThan(3);
    expect(settled.every((x) => x.stale === last.stale), out).toBe(true);
    expect(last.flows).toBeGreaterThan(last.stale);
    // What traffic never shows: three idle pods on old addresses (a DaemonSet's, a CronJob's, a StatefulSet's), by design of the demo.
    expect(out).toContain(
      [
        't=50s left-behind pods restarted onto new addresses; what is still on an old address:',
        '  kubectl -n logging rollout restart daemonset/fluent-bit   # logging/fluent-bit-7xk2p idle',
        '  kubectl -n shop delete pod nightly-report-29412000-k2x9q   # shop/nightly-report-29412000-k2x9q idle',
        '  kubectl -n shop rollout restart statefulset/search   # shop/search-0 idle',
      ].join('\n'),
    );
    // 15 pods in the inventory after the switch: 12 moved, the 3 idle ones left: 80 %.
    expect(out.trimEnd().split('\n').at(-1), out).toMatch(/ to_restart=3 \(idle 3\) migration=80% relay=/);
    // The README's sample lines are lines this demo prints: the same fields, in the same order.
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const fields = (line: string) => [...line.matchAll(/ ([a-z_]+)=/g)].map((m) => m[1]).join(',');
    const samples = [...readme.matchAll(/^t=\d+s ipam=.*$/gm)].map((m) => m[0]);
    expect(samples.length).toBeGreaterThan(0);
    const printed = out.split('\n').find((l) => /^t=\d+s ipam=cluster-pool/.test(l))!;
    for (const sample of samples) expect(fields(sample), sample).toBe(fields(printed));
  }, 240_000);
});
