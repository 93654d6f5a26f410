import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
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
  }, 240_000);
});
