/**
 * Shutdown always finishes: the real CLI as a separate process, with HTTP
 * clients that never finish their requests, exits promptly on SIGTERM; and
 * the lifecycle gives up after its deadline, naming what did not stop.
 */
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { runUntilStopped } from '../src/commands/lifecycle.js';
import { example } from './support/paths.js';
import { killCliProcesses, startCli } from './support/processes.js';
import { waitFor } from './support/wait.js';

/** The bound the issue sets from SIGTERM to exit, ms. */
const EXIT_BOUND_MS = 10_000;

const sockets: Socket[] = [];
afterEach(() => {
  for (const s of sockets.splice(0)) s.destroy();
  killCliProcesses();
});

function open(port: number, data: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.write(data, () => resolve(s)));
    s.on('error', reject);
    sockets.push(s);
  });
}

describe('SIGTERM', () => {
  it('ends serve within 10 s while HTTP clients hold half-sent requests and keep-alive connections', async () => {
    const serve = startCli(['serve', '--relay-address', '127.0.0.1:1', '--ipam-file', example('ipam-config.yaml'), '--listen-address', '127.0.0.1:0']);
    let exitedAt = 0;
    serve.child.on('exit', () => (exitedAt = Date.now()));
    const port = Number((await serve.waitForOutput(/msg=serving address=http:\/\/127\.0\.0\.1:(\d+)/, 'serve to listen'))[1]);

    // Headers never finished.
    await open(port, 'GET /metrics HTTP/1.1\r\nHost: exporter\r\nAccept: text/plain\r\n');
    // Headers done, body never finished.
    await open(port, 'POST /api/v1/anomalies HTTP/1.1\r\nHost: exporter\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"status":');
    // A keep-alive connection that has had its answer and stays open. Accepted last:
    // once it is answered, the server has taken the two connections before it.
    let answer = '';
    const keepAlive = await open(port, 'GET /healthz HTTP/1.1\r\nHost: exporter\r\nConnection: keep-alive\r\n\r\n');
    keepAlive.on('data', (d) => (answer += d));
    await waitFor(() => answer.includes('{"status":"ok"}'), 'the keep-alive answer', 15_000, () => answer);
    expect(answer).toMatch(/^HTTP\/1\.1 200 OK\r\n/);

    const signalledAt = Date.now();
    serve.child.kill('SIGTERM');
    const exitCode = await serve.exited();
    expect(exitedAt - signalledAt).toBeLessThan(EXIT_BOUND_MS);
    expect(exitCode).toBe(0);
  });
});

describe('the shutdown deadline', () => {
  it('exits 1 naming the step that did not stop', async () => {
    const lines: string[] = [];
    const done: string[] = [];
    const exited = new Promise<number>((resolve) => {
      void runUntilStopped(
        0.01,
        [
          { what: 'the relay stream', stop: async () => void done.push('relay') },
          { what: 'the HTTP server on 127.0.0.1:9967', stop: () => new Promise<void>(() => {}) },
          { what: 'never reached', stop: async () => void done.push('never') },
        ],
        { deadlineMs: 200, exit: resolve, write: (l) => lines.push(l) },
      );
    });
    expect(await exited).toBe(1);
    expect(done).toEqual(['relay']);
    expect(lines).toEqual(['hubble-ipam-exporter: shutdown did not finish within 0.2 s: the HTTP server on 127.0.0.1:9967 did not stop; exiting anyway']);
  });

  it('stops every step in order and resolves when they finish in time', async () => {
    const done: string[] = [];
    const exits: number[] = [];
    await runUntilStopped(
      0.01,
      [
        { what: 'a', stop: async () => void done.push('a') },
        { what: 'b', stop: async () => void done.push('b') },
      ],
      { deadlineMs: 60_000, exit: (c) => exits.push(c), write: () => {} },
    );
    expect(done).toEqual(['a', 'b']);
    expect(exits).toEqual([]);
  });

  it('aborts the controller before the first step: every part started with its signal begins to stop at once', async () => {
    const stop = new AbortController();
    const abortedWhenStepRan: boolean[] = [];
    await runUntilStopped(0.01, [{ what: 'a', stop: async () => void abortedWhenStepRan.push(stop.signal.aborted) }], {
      controller: stop,
      deadlineMs: 60_000,
      exit: () => {},
      write: () => {},
    });
    expect(abortedWhenStepRan).toEqual([true]);
  });
});
