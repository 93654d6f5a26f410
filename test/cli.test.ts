import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { RelayClient } from '../src/ingest/relay-client.js';
import { FLOW_MASK_PATHS } from '../src/ingest/field-mask.js';
import { untilClosed } from './support/lifecycle.js';
import { example, repoRoot as root } from './support/paths.js';
import { killCliProcesses, runCli as run, startCli } from './support/processes.js';
import { RecordingSink } from './support/recording-sink.js';
import { StaticRelay } from './support/static-relay.js';
import { tempDir } from './support/temp.js';
import { poll, waitFor } from './support/wait.js';

// Every command runs as on a machine without any Kubernetes configuration (see noKubeEnv).
const ipamFile = example('ipam-config.yaml');

afterEach(killCliProcesses);

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
    [['serve', '--relay-address', '127.0.0.1:1', '--ipam-file', ipamFile, '--tls', '--tls-ca-file', '/nonexistent/ca.pem'], 'hubble-ipam-exporter: cannot read --tls-ca-file "/nonexistent/ca.pem": ENOENT'],
    [['serve', '--no-such-flag'], "error: unknown option '--no-such-flag' for 'serve'"],
  ])('exits non-zero with one clear line for %j', (args, line) => {
    const r = run(args);
    expect(r.status).not.toBe(0);
    expect(r.stderr.split('\n')[0]).toBe(line);
  });

  it('--version prints the version in the package.json beside the module, wherever it is run from', () => {
    // A copy of the built CLI under a package.json of another version: the version comes from
    // the file next to dist/, not from the source or from npm's environment (npx sets npm's own).
    const dir = tempDir('version');
    cpSync(join(root, 'dist'), join(dir, 'dist'), { recursive: true });
    symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'hubble-ipam-exporter', version: '9.8.7-test', type: 'module' }));
    const r = spawnSync(process.execPath, [join(dir, 'dist', 'cli.js'), '--version'], { encoding: 'utf8', cwd: tmpdir(), env: { ...process.env, npm_package_version: '1.2.3' } });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('9.8.7-test\n');
    expect(run(['--version']).stdout).toBe(`${(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version}\n`);
  });

  it('takes flags from the environment', () => {
    const r = run(['serve'], { HUBBLE_IPAM_RELAY_ADDRESS: 'not-an-address' });
    expect(r.status).not.toBe(0);
    expect(r.stderr.split('\n')[0]).toBe(
      "error: option '--relay-address <host:port>' value 'not-an-address' from env 'HUBBLE_IPAM_RELAY_ADDRESS' is invalid. expected host:port or unix:///path",
    );
  });

  it('simulate-relay serves a separate process; a client receives exactly --total flows', async () => {
    const relay = startCli(['simulate-relay', '--listen', '127.0.0.1:0', '--total', '1500', '--rate', '3000', '--lost-every', '500']);
    const address = (await relay.waitForOutput(/on (127\.0\.0\.1:\d+)/, 'the relay to print its address'))[1]!;
    const sink = new RecordingSink();
    const client = new RelayClient({ address, since: new Date(Date.now() - 60_000) }, sink);
    client.start(untilClosed);
    try {
      // The relay says when its stream has sent everything, and how many flows it sent in all: no more can come.
      const [, sent] = await relay.waitForOutput(/msg="simulated relay stream sent every flow of its range" flows=\d+ flowsSent=(\d+)/, 'the relay to send every flow');
      expect(Number(sent)).toBe(1500);
      await waitFor(() => sink.flows >= 1500, '1500 flows from the child relay');
      expect(sink.flows).toBe(1500);
      expect(sink.keys.size).toBe(1500);
      expect(sink.lostTotal()).toBe(2 * 7);
    } finally {
      await client.close();
    }
  });
});

describe('simulate-relay --write-ipam: the next step it prints works without a cluster', () => {
  it('writes its cluster\'s IPAM objects and prints a serve command that becomes ready and sees every pod address as current', async () => {
    const dir = tempDir('write-ipam');
    const file = join(dir, 'cluster.yaml');
    const enough = 600;
    const relay = startCli(['simulate-relay', '--listen', '127.0.0.1:0', '--rate', '1000', '--write-ipam', file]);
    const line = (await relay.waitForOutput(/^ {2}(npx hubble-ipam-exporter serve .*)$/m, 'the serve line'))[1]!;
    const address = (await relay.waitForOutput(/on (127\.0\.0\.1:\d+)/, 'the relay to print its address'))[1]!;
    expect(line).toBe(`npx hubble-ipam-exporter serve --relay-address ${address} --ipam-source files --ipam-file ${file}`);
    const objects = (parseYaml(readFileSync(file, 'utf8')) as { kind: string; items: Array<{ kind: string }> });
    expect(objects.kind).toBe('List');
    // The default scenario: 3 nodes, 12 pods, the cilium-config ConfigMap.
    expect(objects.items.map((o) => o.kind).reduce<Record<string, number>>((m, k) => ({ ...m, [k]: (m[k] ?? 0) + 1 }), {})).toEqual({ ConfigMap: 1, Node: 3, CiliumNode: 3, Pod: 12 });
    // As printed, less `npx hubble-ipam-exporter` (the built CLI is what npx runs) and with a free port.
    const serve = startCli([...line.split(' ').slice(2), '--listen-address', '127.0.0.1:0']);
    const url = (await serve.waitForOutput(/msg=serving address=(http:\/\/127\.0\.0\.1:\d+)/, 'serve to listen'))[1]!;
    await poll('serve to become ready (/readyz 200)', 15_000, async () => ((await fetch(`${url}/readyz`)).status === 200 ? true : undefined));
    const received = async () => Number(/^hubble_ipam_flows_received_total (\d+)$/m.exec(await (await fetch(`${url}/metrics`)).text())?.[1] ?? 0);
    await poll(`${enough} flows at serve`, 15_000, async () => ((await received()) >= enough ? true : undefined));
    const metrics = await (await fetch(`${url}/metrics`)).text();
    const ends = (status: string) =>
      [...metrics.matchAll(new RegExp(`^hubble_ipam_flows_total\\{[^}]*status="${status}"[^}]*\\} (\\d+)$`, 'gm'))].reduce((n, m) => n + Number(m[1]), 0);
    // Every flow end of the scenario is a pod of its own node, a node or an external address.
    expect(ends('wrong_node') + ends('stale') + ends('unallocated') + ends('out_of_pool')).toBe(0);
    expect(ends('current')).toBeGreaterThan(enough / 2);
    const anomalies = (await (await fetch(`${url}/api/v1/anomalies`)).json()) as { total: number };
    expect(anomalies.total).toBe(0);
  });
});

describe('serve asks for a field mask unless --no-field-mask', () => {
  it.each([
    [[], FLOW_MASK_PATHS],
    [['--no-field-mask'], []],
  ])('serve %j sends field_mask and experimental.field_mask %j', async (flags, paths) => {
    const relay = new StaticRelay([]);
    const address = await relay.listen();
    try {
      startCli(['serve', '--relay-address', address, '--ipam-file', ipamFile, '--listen-address', '127.0.0.1:0', ...flags]);
      await waitFor(() => relay.requests.length > 0, 'the GetFlows request');
      const req = relay.requests[0]!;
      expect(req.fieldMask?.paths ?? []).toEqual(paths);
      expect(req.experimental?.fieldMask?.paths ?? []).toEqual(paths);
    } finally {
      relay.close();
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
    const r = run(['serve', '--relay-address', '127.0.0.1:1', '--ipam-source', 'files', '--ipam-file', ipamFile, '--listen-address', '127.0.0.1:0'], {
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

describe('bad input at startup: one line that names the flag, the value and what is expected', () => {
  const dir = tempDir('cli');
  const ipamDir = join(dir, 'ipam');
  mkdirSync(ipamDir);
  const badYaml = join(dir, 'bad.yaml');
  writeFileSync(badYaml, 'relay-address: [unclosed\n');
  const yesTls = join(dir, 'yes-tls.yaml');
  writeFileSync(yesTls, 'tls: yes\n');
  const brokenIpam = join(dir, 'broken-ipam.yaml');
  writeFileSync(brokenIpam, 'apiVersion: hubble-ipam-exporter/v1\nkind: IpamConfig\npools:\n  - name: default\n    cidrs: [10.0.0.0/33]\n');
  const flows = join(dir, 'flows.json');
  writeFileSync(flows, '{"flow":{"verdict":"FORWARDED"}}\n');
  const serve = ['serve', '--relay-address', '127.0.0.1:1', '--listen-address', '127.0.0.1:0'];

  it.each([
    [[...serve, '--ipam-file', ipamFile, '--service-cidr', '10.96.0.0/33'], "error: option '--service-cidr <cidr>' argument '10.96.0.0/33' is invalid. expected address/length such as 10.96.0.0/12 or fd00:10:96::/112"],
    [['serve', '--ipam-file', ipamFile, '--listen-address', '999.1.1.1:80'], "error: option '--listen-address <host:port>' argument '999.1.1.1:80' is invalid. expected host:port with an IPv4 address, [IPv6 address] or host name and a port from 0 to 65535, e.g. 0.0.0.0:9967"],
    [['serve', '--ipam-file', ipamFile, '--listen-address', 'unix:///tmp/x.sock'], "error: option '--listen-address <host:port>' argument 'unix:///tmp/x.sock' is invalid. expected host:port with an IPv4 address, [IPv6 address] or host name and a port from 0 to 65535, e.g. 0.0.0.0:9967"],
    [[...serve, '--ipam-file', '/nonexistent/ipam.yaml'], "error: option '--ipam-file <file>' argument '/nonexistent/ipam.yaml' is invalid. no such file"],
    [[...serve, '--ipam-file', ipamDir], `error: option '--ipam-file <file>' argument '${ipamDir}' is invalid. is a directory; pass the files inside it, e.g. ${ipamDir}/*.yaml`],
    [[...serve, '--ipam-file', brokenIpam], `hubble-ipam-exporter: --ipam-file ${brokenIpam}: pools[0].cidrs[0]="10.0.0.0/33": invalid CIDR: expected address/length such as 10.244.0.0/16 or fd00:10:244::/56 (1 problem; fix it and start again)`],
    [[...serve, '--ipam-source', 'files'], 'hubble-ipam-exporter: --ipam-source files needs at least one --ipam-file'],
    [[...serve, '--ipam-file', ipamFile, '--watch-endpoints'], 'hubble-ipam-exporter: --watch-endpoints needs the Kubernetes watch: add --ipam-source kubernetes, or drop --watch-endpoints with --ipam-file alone'],
    [[...serve, '--ipam-file', ipamFile, '--watch-pods'], 'hubble-ipam-exporter: --watch-pods needs the Kubernetes watch: add --ipam-source kubernetes, or drop --watch-pods and put `kubectl get pods -A -o yaml` in an --ipam-file'],
    [[...serve, '--ipam-source', 'kube'], "error: option '--ipam-source <source>' argument 'kube' is invalid. Allowed choices are files, kubernetes."],
    [[...serve, '--config', '/nonexistent/config.yaml'], "error: option '--config <file>' argument '/nonexistent/config.yaml' is invalid. no such file"],
    [[...serve, '--config', badYaml], `hubble-ipam-exporter: --config ${badYaml}: not YAML: Flow sequence in block collection must be sufficiently indented and end with a ] at line 2, column 1`],
    [[...serve, '--ipam-file', ipamFile, '--config', yesTls], `hubble-ipam-exporter: --config ${yesTls}: tls: expected true or false, got "yes"`],
    [[...serve, '--ipam-file', ipamFile, '--window', '5m'], "error: option '--window <seconds>' argument '5m' is invalid. expected a number >= 1"],
    [[...serve, '--ipam-file', ipamFile, '--max-anomaly-series', '0'], "error: option '--max-anomaly-series <n>' argument '0' is invalid. expected a whole number from 1 to 100000"],
    [[...serve, '--ipam-file', ipamFile, '--log-level', 'verbose'], "error: option '--log-level <level>' argument 'verbose' is invalid. Allowed choices are debug, info, warn, error."],
    [['serve', '--ipam-file', ipamFile, '--relay-address', 'hubble-relay:abc'], "error: option '--relay-address <host:port>' argument 'hubble-relay:abc' is invalid. expected host:port or unix:///path"],
    [['demo', '--listen-address', 'localhost'], "error: option '--listen-address <host:port>' argument 'localhost' is invalid. expected host:port with an IPv4 address, [IPv6 address] or host name and a port from 0 to 65535, e.g. 0.0.0.0:9967"],
    [['simulate-relay', '--scenario', '/nonexistent/scenario.yaml'], "error: option '--scenario <file>' argument '/nonexistent/scenario.yaml' is invalid. no such file"],
    [['simulate-relay', '--scenario', join(root, 'package.json')], `hubble-ipam-exporter: --scenario ${join(root, 'package.json')}: unknown field "name"; known: seed, clusterName, nodes, pods, externalIPs, serviceIPs, noIpEvery, flowsPerSecond, totalFlows, flowsPerTick, uuids, lostEventEvery, lostEventCount, nodeEvents, bufferCapacity`],
    [['simulate-relay', '--tls-cert-file', '/nonexistent/tls.crt', '--tls-key-file', '/nonexistent/tls.key'], "error: option '--tls-cert-file <file>' argument '/nonexistent/tls.crt' is invalid. no such file"],
    [['analyze', '--flows', flows, '--ipam', '/nonexistent/ipam.yaml'], "error: option '--ipam <file...>' argument '/nonexistent/ipam.yaml' is invalid. no such file"],
    [['analyze', '--flows', dir, '--ipam', ipamFile], `error: option '--flows <file...>' argument '${dir}' is invalid. is a directory; pass the files inside it, e.g. ${dir}/*.json`],
  ])('%j', (args, line) => {
    const r = run(args);
    expect(r.stderr.split('\n')[0]).toBe(line);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.status).toBe(1);
  });

  it('names --listen-address when its port is taken', async () => {
    const taken = createServer();
    await new Promise<void>((res) => taken.listen(0, '127.0.0.1', res));
    const port = (taken.address() as { port: number }).port;
    try {
      const r = run(['serve', '--relay-address', '127.0.0.1:1', '--ipam-file', ipamFile, '--listen-address', `127.0.0.1:${port}`]);
      expect(r.stderr).not.toMatch(/^\s+at /m);
      expect(r.stderr.trim().split('\n').at(-1)).toBe(`hubble-ipam-exporter: cannot listen on --listen-address 127.0.0.1:${port}: address already in use (EADDRINUSE); pick another port`);
      expect(r.status).toBe(1);
    } finally {
      taken.close();
    }
  });

  it('without a kubeconfig and without --ipam-file, says so once and exits', () => {
    const r = run(serve);
    expect(r.stderr.trim().split('\n')).toEqual([
      'hubble-ipam-exporter: no IPAM source: no kubeconfig found (KUBECONFIG, ~/.kube/config, in-cluster service account) and no --ipam-file given; pass --ipam-file cluster.yaml (see README) or run inside the cluster',
    ]);
    expect(r.status).toBe(1);
  });

  it('with --ipam-source kubernetes and no kubeconfig, says what to drop', () => {
    const r = run([...serve, '--ipam-source', 'kubernetes', '--ipam-file', ipamFile]);
    expect(r.stderr.trim().split('\n')).toEqual([
      'hubble-ipam-exporter: --ipam-source kubernetes: no kubeconfig found (KUBECONFIG, ~/.kube/config, in-cluster service account); drop --ipam-source to read only the --ipam-file files, or run inside the cluster',
    ]);
    expect(r.status).toBe(1);
  });

  it('names a KUBECONFIG that points nowhere', () => {
    const r = run(serve, { KUBECONFIG: '/nonexistent/kubeconfig' });
    expect(r.stderr.trim().split('\n')).toEqual([
      'hubble-ipam-exporter: no IPAM source: KUBECONFIG names /nonexistent/kubeconfig (no such file) and no --ipam-file given; pass --ipam-file cluster.yaml (see README) or fix KUBECONFIG',
    ]);
    expect(r.status).toBe(1);
  });

  it.each([
    [['serv'], "error: unknown command 'serv' (Did you mean serve?)"],
    [['anaylze', '--flows', flows], "error: unknown command 'anaylze' (Did you mean analyze?)"],
    [['serve', 'now'], "error: unexpected argument 'now' for 'serve': it takes options only (see serve --help)"],
    [['serve', '--relay', '127.0.0.1:1'], "error: unknown option '--relay' for 'serve' (Did you mean --relay-address?)"],
    [['serve', '--ipam-fil', ipamFile], "error: unknown option '--ipam-fil' for 'serve' (Did you mean --ipam-file?)"],
    [['--relay', '127.0.0.1:1'], "error: unknown option '--relay' for 'serve' (Did you mean --relay-address?)"],
    [['demo', '--durtion', '5'], "error: unknown option '--durtion' for 'demo' (Did you mean --duration?)"],
  ])('unknown command or option %j', (args, line) => {
    const r = run(args);
    expect(r.stderr.trim().split('\n')).toEqual([line]);
    expect(r.status).toBe(1);
  });
});
