/**
 * Child processes of the benchmark: each measured client, micro-measurement
 * and the relay run in their own process (fork), so that CPU time and peak
 * RSS are theirs alone. They answer over IPC.
 */
import { fork } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { toArgv } from './args.mjs';

export const benchDir = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Runs `bench/<script>` with `opts` as flags; resolves with its {type: 'result'} message. */
export function runChild(script, opts = {}, { execArgv = [], env = {}, timeoutMs = 15 * 60_000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = fork(join(benchDir, script), toArgv(opts), { execArgv, env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let result;
    let error;
    const timer = setTimeout(() => {
      error = new Error(`${script} took longer than ${timeoutMs / 1000} s`);
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('message', (m) => {
      if (m.type === 'result') result = m.result;
      else if (m.type === 'error') error = new Error(`${script}: ${m.message}`);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (result) resolve(result);
      else reject(error ?? new Error(`${script} exited (${signal ?? code}) without a result`));
    });
  });
}

/**
 * Forks bench/relay.mjs and waits until it listens. `arm(flows, maskPaths?)`
 * sets the next stream's length (and has the pool for a field mask built; `hold`: see
 * `streamOpen()` and `go()`); `streamDone()` resolves with the relay's report of
 * the stream in progress.
 */
export function startRelay(opts = {}) {
  return new Promise((resolve, reject) => {
    const child = fork(join(benchDir, 'relay.mjs'), toArgv(opts), { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const waiting = { armed: [], done: [], open: [] };
    const doneReports = [];
    let opens = 0;
    child.on('message', (m) => {
      if (m.type === 'ready') {
        resolve({
          address: m.address,
          summary: m.summary,
          buildMs: m.buildMs,
          pid: child.pid,
          masked: m.masked,
          // maskPaths: a field mask the next stream will ask for; the relay builds its pool now, untimed.
          // hold: the next stream, once open, waits for go() (several relays start together);
          // rate: the next stream's pace, flows/s (default: the relay's --rate, or as fast as it can).
          arm: (flows, maskPaths, { hold = false, rate } = {}) => new Promise((ok) => (waiting.armed.push(ok), child.send({ type: 'arm', flows, maskPaths, hold, rate }))),
          /** Resolves when a client has opened the next stream. */
          streamOpen: () => (opens > 0 ? (opens--, Promise.resolve()) : new Promise((ok) => waiting.open.push(ok))),
          go: () => child.send({ type: 'go' }),
          streamDone: () => (doneReports.length > 0 ? Promise.resolve(doneReports.shift()) : new Promise((ok) => waiting.done.push(ok))),
          stop: () => new Promise((ok) => (child.once('exit', ok), child.send({ type: 'stop' }))),
        });
      } else if (m.type === 'armed') waiting.armed.shift()?.();
      else if (m.type === 'stream-open') {
        const w = waiting.open.shift();
        if (w) w();
        else opens++;
      }
      else if (m.type === 'stream-done') {
        const w = waiting.done.shift();
        if (w) w(m);
        else doneReports.push(m);
      }
    });
    child.on('exit', (code) => reject(new Error(`relay exited (${code}) before it was ready`)));
  });
}
