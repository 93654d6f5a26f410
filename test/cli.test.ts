import { spawn, spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { RecordingSink } from '../src/ingest/recording-sink.js';
import { RelayClient } from '../src/ingest/relay-client.js';
import { waitFor } from './support/wait.js';

// The built CLI, as a user runs it (`npm test` builds first).
const cli = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'cli.js');
const run = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, ...env } });

const children: Array<ReturnType<typeof spawn>> = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
});

describe('command line', () => {
  it('lists every serve flag with its default and environment variable', () => {
    const r = run(['serve', '--help']);
    expect(r.status).toBe(0);
    for (const flag of ['--relay-address', '--tls', '--tls-ca-file', '--tls-client-cert-file', '--tls-client-key-file', '--tls-server-name', '--whitelist', '--blacklist']) {
      expect(r.stdout).toContain(flag);
    }
    expect(r.stdout.replace(/\s+/g, ' ')).toContain('default: "hubble-relay.kube-system.svc:80", env: HUBBLE_IPAM_RELAY_ADDRESS');
  });

  it.each([
    [['serve', '--relay-address', 'nope'], "error: option '--relay-address <host:port>' argument 'nope' is invalid. expected host:port or unix:///path"],
    [['serve', '--whitelist', '{"verdict":'], "error: option '--whitelist <flow-filter-json>' argument '{\"verdict\":' is invalid. not JSON: Unexpected end of JSON input"],
    [['serve', '--relay-address', '127.0.0.1:1', '--tls', '--tls-ca-file', '/nonexistent/ca.pem'], 'hubble-ipam-exporter: cannot read --tls-ca-file "/nonexistent/ca.pem": ENOENT'],
    [['serve', '--no-such-flag'], "error: unknown option '--no-such-flag'"],
  ])('exits non-zero with one clear line for %j', (args, line) => {
    const r = run(args);
    expect(r.status).not.toBe(0);
    expect(r.stderr.split('\n')[0]).toBe(line);
  });

  it('takes flags from the environment', () => {
    const r = run(['serve'], { HUBBLE_IPAM_RELAY_ADDRESS: 'not-an-address' });
    expect(r.status).not.toBe(0);
    expect(r.stderr.split('\n')[0]).toBe(
      "error: option '--relay-address <host:port>' value 'not-an-address' from env 'HUBBLE_IPAM_RELAY_ADDRESS' is invalid. expected host:port or unix:///path",
    );
  });

  it('simulate-relay serves a separate process; a client receives exactly --total flows', async () => {
    const child = spawn(process.execPath, [cli, 'simulate-relay', '--listen', '127.0.0.1:0', '--total', '1500', '--rate', '3000', '--lost-every', '500'], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    await waitFor(() => /on (127\.0\.0\.1:\d+)/.test(out), 'the relay to print its address');
    const address = out.match(/on (127\.0\.0\.1:\d+)/)![1]!;
    const sink = new RecordingSink();
    const client = new RelayClient({ address, since: new Date(Date.now() - 60_000), statusIntervalMs: 0 }, sink);
    client.start();
    try {
      await waitFor(() => sink.flows >= 1500, '1500 flows from the child relay');
      await new Promise((r) => setTimeout(r, 200));
      expect(sink.flows).toBe(1500);
      expect(sink.keys.size).toBe(1500);
      expect(sink.lostTotal()).toBe(2 * 7);
    } finally {
      await client.close();
    }
  });
});

describe('boolean flags from the environment', () => {
  it.each([
    ['false', false],
    ['0', false],
    ['true', true],
    ['1', true],
  ])('HUBBLE_IPAM_TLS=%s means tls=%s', (value, on) => {
    // With TLS on, a missing CA file is refused before anything connects; with it off, no file is read.
    const r = run(['serve', '--relay-address', '127.0.0.1:1', '--ipam-source', 'files', '--ipam-file', '/nonexistent/ipam.yaml', '--listen-address', '127.0.0.1:0'], {
      HUBBLE_IPAM_TLS: value,
      HUBBLE_IPAM_TLS_CA_FILE: '/nonexistent/ca.pem',
    });
    if (on) expect(r.stderr.split('\n')[0]).toBe('hubble-ipam-exporter: cannot read --tls-ca-file "/nonexistent/ca.pem": ENOENT');
    else expect(r.stderr.split('\n')[0]).toBe('hubble-ipam-exporter: TLS files or server name given but TLS is off: add --tls');
    expect(r.status).toBe(1);
  });

  it('refuses a value that is neither true nor false', () => {
    const r = run(['serve'], { HUBBLE_IPAM_TLS: 'maybe' });
    expect(r.status).toBe(1);
    expect(r.stderr.split('\n')[0]).toBe("error: option '--tls' value 'maybe' from env 'HUBBLE_IPAM_TLS' is invalid. expected true or false");
  });
});
