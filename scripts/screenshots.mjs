#!/usr/bin/env node
// npm run docs:screenshots: the README's pictures of the console at /, before, during and after the
// demo's migration (docs/images/console-{before,during,after}.png, 1280x800), taken in Debian's
// chromium (/usr/bin/chromium, or CHROMIUM=path) with playwright-core from the built exporter (dist/).
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';
if (!existsSync(chromiumPath)) {
  console.error(`${chromiumPath} is missing: apt-get install chromium (or set CHROMIUM to a chromium binary)`);
  process.exit(1);
}
if (!existsSync(join(root, 'dist', 'service.js'))) {
  console.error('dist/ is missing: run npm run build first');
  process.exit(1);
}
const { ExporterService } = await import(join(root, 'dist', 'service.js'));
const { migrationDemo } = await import(join(root, 'dist', 'sim', 'migration-demo.js'));
const { SimulatedRelay } = await import(join(root, 'dist', 'sim', 'simulated-relay.js'));

/** The demo played this many times faster; 400 flows/s as `npm start`. */
const SPEED = 2;
const RATE = 400;
const out = join(root, 'docs', 'images');
mkdirSync(out, { recursive: true });

const browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: process.getuid?.() === 0 ? ['--no-sandbox'] : [] });
const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
const demo = migrationDemo(RATE, SPEED);
const start = Date.now();
const relay = new SimulatedRelay({ scenario: demo.scenario, epochMs: start });
const relayAddress = await relay.listen('127.0.0.1:0');
const stop = new AbortController();
const service = new ExporterService({
  relay: { address: relayAddress, since: new Date(start - 1000) },
  ipam: { objects: demo.before },
  listenAddress: '127.0.0.1:0',
  windowSec: Math.max(5, 20 / SPEED),
  console: { sampleMs: 500 },
});
await service.start(stop.signal);
const t = demo.timeline;
const at = (sec, fn) => setTimeout(fn, sec * 1000);
const timers = [
  at(t.switchAt, () => service.sources.setObjects(demo.after, 'demo: switch to cluster-pool')),
  at(t.switchAt + t.rolloutSec, () => service.sources.setObjects(demo.rolledOut, 'demo: rollout done')),
  at(t.fixAt, () => service.sources.setObjects(demo.fixed, 'demo: left-behind pods restarted')),
];
const until = (sec) => new Promise((r) => setTimeout(r, Math.max(0, start + sec * 1000 - Date.now())));
const shot = async (name) => {
  // Two of the page's 2 s updates after the moment: it shows what the API says then.
  const n = await page.evaluate(() => Number(document.body.dataset.updates ?? 0));
  await page.waitForFunction((m) => Number(document.body.dataset.updates ?? 0) >= m + 2, n, { timeout: 15_000 });
  const file = join(out, `console-${name}.png`);
  await page.screenshot({ path: file });
  console.log(`wrote ${file}`);
};
try {
  await page.goto(`${service.address}/`);
  await until(t.switchAt - 4.5);
  await shot('before');
  await until(t.switchAt + t.rolloutSec + (t.fixAt - t.switchAt - t.rolloutSec) / 2);
  await shot('during');
  await until(t.fixAt + 3);
  await shot('after');
} finally {
  for (const x of timers) clearTimeout(x);
  await browser.close();
  stop.abort();
  await service.close();
  await relay.close();
}
