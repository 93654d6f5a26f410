/** The machine the figures come from, and how busy other processes keep it. */
import { readFileSync } from 'node:fs';
import os from 'node:os';

export function machineInfo() {
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
  };
}

function cpuTimes() {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const idle = f[3] + (f[4] ?? 0);
    return { idle, total: f.reduce((a, b) => a + b, 0) };
  } catch {
    return undefined; // not Linux: no figure
  }
}

/** CPU-seconds all processes have used since boot (Linux, USER_HZ = 100; undefined elsewhere). */
export function machineBusySeconds() {
  const t = cpuTimes();
  return t && (t.total - t.idle) / 100;
}

/** Cores kept busy by every process over the next `ms` (Linux; undefined elsewhere). */
export async function busyCores(ms = 300) {
  const a = cpuTimes();
  await new Promise((r) => setTimeout(r, ms));
  const b = cpuTimes();
  if (!a || !b || b.total === a.total) return undefined;
  return (1 - (b.idle - a.idle) / (b.total - a.total)) * os.cpus().length;
}

/**
 * Other engineers share this machine: before a measurement, wait (up to
 * `maxWaitMs`) until other processes keep less than `threshold` of a core
 * busy. Returns the busy cores measured last (while our processes idle).
 */
export async function waitQuiet({ threshold = 0.3, maxWaitMs = 20_000 } = {}) {
  const until = Date.now() + maxWaitMs;
  let busy = await busyCores();
  while (busy !== undefined && busy > threshold && Date.now() < until) busy = await busyCores(1000);
  return busy;
}
