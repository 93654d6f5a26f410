/**
 * The first hour, as the README writes it: a fresh clone of this repository's
 * HEAD (as CI makes one), then the README's own commands, taken from its code
 * blocks so that the README cannot drift from what works. Placeholders a user
 * would fill in (flows.json, ipam.yaml, …) become the repository's fixtures;
 * fixed ports become free ones, so that parallel tests cannot collide.
 *
 * The clone shares this checkout's node_modules (a symlink): `npm ci` from the
 * cache takes longer than the rest of the test and needs the network for
 * anything new; what `npm install` adds beyond the packages is the `prepare`
 * script, which the test runs as npm does.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedFixtures } from './support/fixtures.js';
import { repoRoot } from './support/paths.js';
import { noKubeEnv } from './support/processes.js';
import { tempDir } from './support/temp.js';
import { poll } from './support/wait.js';

/** How long one README command that ends by itself may take, ms. */
const COMMAND_TIMEOUT_MS = 60_000;
/** How long the demo runs, seconds (it stops by itself: `--duration`). */
const DEMO_SECONDS = 3;

const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
/** Every line of the README's sh code blocks, continuation lines joined. */
const shLines = [...readme.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].flatMap((m) => m[1]!.replace(/\\\n\s*/g, '').split('\n'));

/** The README's first line that starts with `prefix`, without its trailing comment and optional `[…]` parts. */
function readmeCommand(prefix: string): string {
  const line = shLines.find((l) => l.startsWith(prefix));
  if (!line) throw new Error(`README.md has no command starting with ${JSON.stringify(prefix)} in a sh block`);
  return line
    .replace(/\s+#.*$/, '')
    .replace(/\s*\[[^\]]*\]/g, '')
    .trim();
}

/** A command as a word list, placeholders replaced (whole words only). */
function words(command: string, replace: Record<string, string> = {}): string[] {
  return command.split(/\s+/).map((w) => replace[w] ?? w);
}

let clone = '';
const running = new Set<ChildProcess>();
const env = () => noKubeEnv({ npm_config_update_notifier: 'false', npm_config_fund: 'false' });

function run(argv: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(argv[0]!, argv.slice(1), { cwd: clone, encoding: 'utf8', timeout: COMMAND_TIMEOUT_MS, env: env() });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function start(argv: string[]): { child: ChildProcess; output: () => string } {
  const child = spawn(argv[0]!, argv.slice(1), { cwd: clone, env: env(), detached: true });
  running.add(child);
  child.on('exit', () => running.delete(child));
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return { child, output: () => out };
}

beforeAll(() => {
  const dir = tempDir('first-hour');
  clone = join(dir, 'main');
  const git = spawnSync('git', ['clone', '--quiet', repoRoot, clone], { encoding: 'utf8' });
  expect(git.stderr).toBe('');
  // Beside the clone, as beside this checkout: the shared fixtures the tests read as ../shared.
  symlinkSync(dirname(sharedFixtures), join(dir, 'shared'));
  symlinkSync(join(repoRoot, 'node_modules'), join(clone, 'node_modules'));
}, COMMAND_TIMEOUT_MS);

afterAll(() => {
  // The whole process group: npx starts the CLI as a child of its own.
  for (const c of running) if (c.pid) process.kill(-c.pid, 'SIGKILL');
  if (clone) rmSync(dirname(clone), { recursive: true, force: true });
});

describe('npm install on the Node versions the README states', () => {
  it('warns of no engine: every package of the lockfile accepts the oldest Node of package.json\'s engines, this machine\'s, and 24 (the image\'s)', () => {
    // semver comes with fastify; npm decides EBADENGINE with it.
    const semver = createRequire(import.meta.url)('semver') as { satisfies(v: string, range: string): boolean; minVersion(range: string): { version: string } };
    const lock = JSON.parse(readFileSync(join(repoRoot, 'package-lock.json'), 'utf8')) as { packages: Record<string, { engines?: { node?: string } | string[] }> };
    const oldest = semver.minVersion((JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { engines: { node: string } }).engines.node).version;
    expect(readme).toContain(`Node.js ${oldest.replace(/(\.0)+$/, '')} or newer`);
    const refused = [];
    for (const node of [oldest, process.version.slice(1), '24.0.0']) {
      for (const [path, p] of Object.entries(lock.packages)) {
        const range = !Array.isArray(p.engines) ? p.engines?.node : undefined;
        if (range && !semver.satisfies(node, range)) refused.push(`${path || '(root)'} needs node ${range}, not ${node}`);
      }
    }
    expect(refused).toEqual([]);
  });
});

describe('the first hour, as the README writes it, from a fresh clone', () => {
  it('npm install builds the CLI (the prepare script): npx hubble-ipam-exporter --version prints package.json\'s version', () => {
    expect(readmeCommand('npm install')).toBe('npm install && npm start');
    expect(existsSync(join(clone, 'dist', 'cli.js'))).toBe(false);
    const prepare = run(['npm', 'run', 'prepare', '--silent']);
    expect(prepare.stderr + prepare.stdout).toBe('');
    expect(prepare.status).toBe(0);
    const version = run(words(readmeCommand('npx hubble-ipam-exporter --version')));
    expect(version.stderr).toBe('');
    expect(version.stdout).toBe(`${(JSON.parse(readFileSync(join(clone, 'package.json'), 'utf8')) as { version: string }).version}\n`);
    expect(version.status).toBe(0);
  }, COMMAND_TIMEOUT_MS);

  it('npm start runs the demo, which stops by itself with --duration', () => {
    const r = run(['npm', 'start', '--silent', '--', '--duration', String(DEMO_SECONDS), '--listen-address', '127.0.0.1:0']);
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.stdout).toMatch(/^t=\d+s ipam=kubernetes flows=\d+ /m);
    expect(r.status).toBe(0);
  }, COMMAND_TIMEOUT_MS);

  it('simulate-relay --write-ipam, then the serve command it prints: ready (/readyz 200) with no cluster', async () => {
    const sim = start(words(readmeCommand('npx hubble-ipam-exporter simulate-relay'), { '127.0.0.1:4245': '127.0.0.1:0' }));
    const next = await poll('simulate-relay to print the serve command', COMMAND_TIMEOUT_MS / 2, async () => /^ {2}(npx hubble-ipam-exporter serve .*)$/m.exec(sim.output())?.[1]);
    // The README's serve line is the one printed, up to the relay's address (it listens on a free port here).
    const address = /--relay-address (\S+)/.exec(next)![1]!;
    expect(next).toBe(readmeCommand('npx hubble-ipam-exporter serve --relay-address 127.0.0.1:4245 --ipam-source files').replace('127.0.0.1:4245', address));
    const serve = start([...words(next), '--listen-address', '127.0.0.1:0']);
    const url = await poll('serve to listen', COMMAND_TIMEOUT_MS / 2, async () => /msg=serving address=(http:\/\/127\.0\.0\.1:\d+)/.exec(serve.output())?.[1]);
    await poll('/readyz 200', COMMAND_TIMEOUT_MS / 2, async () => ((await fetch(`${url}/readyz`)).status === 200 ? true : undefined));
  }, COMMAND_TIMEOUT_MS);

  it('per-node mode as written: simulate-relay as one node\'s agent on a unix socket, then the per-node serve it prints, ready with that node\'s share', async () => {
    const socket = `unix://${join(tempDir('first-hour-agent'), 'kind-worker.sock')}`;
    const sim = start(words(readmeCommand('npx hubble-ipam-exporter simulate-relay --agent-node'), { 'unix:///tmp/kind-worker.sock': socket, 'sim-cluster.yaml': 'sim-cluster-agent.yaml' }));
    const next = await poll('the agent to print the serve command', COMMAND_TIMEOUT_MS / 2, async () => /^ {2}(npx hubble-ipam-exporter serve .*)$/m.exec(sim.output())?.[1]);
    expect(next).toBe(readmeCommand('npx hubble-ipam-exporter serve --node-name').replace('unix:///tmp/kind-worker.sock', socket).replace('sim-cluster.yaml', 'sim-cluster-agent.yaml'));
    const serve = start([...words(next), '--listen-address', '127.0.0.1:0']);
    const url = await poll('serve to listen', COMMAND_TIMEOUT_MS / 2, async () => /msg=serving address=(http:\/\/127\.0\.0\.1:\d+)/.exec(serve.output())?.[1]);
    await poll('/readyz 200', COMMAND_TIMEOUT_MS / 2, async () => ((await fetch(`${url}/readyz`)).status === 200 ? true : undefined));
    // What the README says it shows: the scope, and its one node connected once a flow has arrived.
    expect(((await (await fetch(`${url}/api/v1/summary`)).json()) as { scope: unknown }).scope).toEqual({ mode: 'per-node', node: 'kind-worker' });
    await poll('its node connected', COMMAND_TIMEOUT_MS / 2, async () => (/^hubble_ipam_relay_nodes\{state="connected"\} 1$/m.test(await (await fetch(`${url}/metrics`)).text()) ? true : undefined));
    expect(serve.output()).not.toContain('a flow from another node');
  }, COMMAND_TIMEOUT_MS);

  it('analyze, plan and check run as written on the repository\'s fixtures and examples', () => {
    const analyze = run(
      words(readmeCommand('npx hubble-ipam-exporter analyze'), {
        'flows.json': join('..', 'shared', 'fixtures', 'hubble-flows', 'basic-sample-400-tcp-flows.json'),
        'ipam.yaml': join('examples', 'dump-clusters', 'kind-bookinfo.yaml'),
      }),
    );
    expect(analyze.stderr).toBe('');
    expect(analyze.stdout).toMatch(/^# IPAM migration report\n400 flows \(800 flow ends\) from 1 file\(s\)/);
    expect(analyze.status).toBe(0);

    const plan = run(['npx', ...words(readmeCommand('hubble-ipam-exporter plan'), { 'ipam.yaml': 'test/fixtures/inventory/ipam.yaml', 'pods.yaml': 'test/fixtures/inventory/pods.yaml' })]);
    expect(plan.stdout).toContain('kubectl -n kube-system rollout restart deployment/coredns');
    expect(plan.status).toBe(0);

    const check = run([
      'npx',
      ...words(readmeCommand('hubble-ipam-exporter check'), { 'ipam.yaml': 'test/fixtures/check/stale-ciliumnodes-after-pool-change.yaml', 'cilium-config.yaml': '' }).filter((w) => w !== ''),
    ]);
    expect(check.stdout).toMatch(/^IPAM check: 3 error\(s\), 0 warning\(s\), 0 info$/m);
    // Exit 1: findings at or above --fail-on (warning), as the README says.
    expect(check.status).toBe(1);
  }, COMMAND_TIMEOUT_MS);
});
