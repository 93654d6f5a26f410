import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import { parse as parseYaml } from 'yaml';
import type { FlowFilter } from '../gen/flow/flow_pb.js';
import { addressArg, applyBooleanEnv, cidrArg, fileArg, fileListArg, filterArg, intArg, listenAddressArg, nodeNameArg, numberArg, opt } from '../cli-options.js';
import type { TlsOptions } from '../ingest/tls.js';
import { stateFromObjects } from '../ipam/from-objects.js';
import { loadIpamFiles } from '../ipam/ipam-files.js';
import { KubeIpamWatch } from '../ipam/kube-watch.js';
import { formatProblem } from '../ipam/model.js';
import { createLogger, type LogLevel } from '../log.js';
import { ExporterService } from '../service.js';
import { findKubeConfig } from './kube-config-found.js';
import { runUntilStopped } from './lifecycle.js';
import { listenError } from './listen-error.js';

export interface RelayFlags {
  relayAddress: string;
  tls: boolean;
  tlsCaFile?: string;
  tlsClientCertFile?: string;
  tlsClientKeyFile?: string;
  tlsServerName?: string;
  whitelist?: FlowFilter[];
  blacklist?: FlowFilter[];
  /** False with --no-field-mask: ask for whole flows. */
  fieldMask: boolean;
}

export interface ServeFlags extends RelayFlags {
  ipamFile?: string[];
  ipamSource?: 'files' | 'kubernetes';
  watchEndpoints: boolean;
  watchPods: boolean;
  nodeName?: string;
  serviceCidr?: string[];
  listenAddress: string;
  window: number;
  maxAnomalySeries: number;
  logLevel: LogLevel;
  config?: string;
}

export function tlsFromFlags(f: RelayFlags): TlsOptions {
  return {
    enabled: f.tls,
    ...(f.tlsCaFile ? { caFile: f.tlsCaFile } : {}),
    ...(f.tlsClientCertFile ? { certFile: f.tlsClientCertFile } : {}),
    ...(f.tlsClientKeyFile ? { keyFile: f.tlsClientKeyFile } : {}),
    ...(f.tlsServerName ? { serverName: f.tlsServerName } : {}),
  };
}

/** The relay flags, shared by every command that reads from a relay. */
export function addRelayOptions(cmd: Command): Command {
  return cmd
    .addOption(opt('--relay-address <host:port>', 'Hubble Relay (or unix:///var/run/cilium/hubble.sock)').default('hubble-relay.kube-system.svc:80').argParser(addressArg))
    .addOption(opt('--tls', 'connect with TLS').default(false))
    .addOption(opt('--tls-ca-file <file>', 'PEM CA that signed the relay certificate (default: system roots)'))
    .addOption(opt('--tls-client-cert-file <file>', 'PEM client certificate for mTLS'))
    .addOption(opt('--tls-client-key-file <file>', 'PEM key of the client certificate'))
    .addOption(opt('--tls-server-name <name>', 'name to verify in the relay certificate, e.g. ui.hubble-relay.cilium.io'))
    .addOption(opt('--whitelist <flow-filter-json>', 'server-side Hubble FlowFilter to include, e.g. \'{"verdict":["DROPPED"]}\' (repeatable)').argParser(filterArg))
    .addOption(opt('--blacklist <flow-filter-json>', 'server-side Hubble FlowFilter to exclude (repeatable)').argParser(filterArg))
    .addOption(opt('--no-field-mask', 'ask for whole flows instead of only the fields the exporter reads (GetFlowsRequest.field_mask)'));
}

/**
 * Applies a `--config` YAML file: keys are flag names (`relay-address` or
 * `relayAddress`); a flag on the command line or in the environment wins.
 */
export function applyConfigFile(cmd: Command, file: string): void {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`cannot read --config ${file}: ${(e as Error).message.split('\n')[0]}`, { cause: e });
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw new Error(`--config ${file}: not YAML: ${(e as Error).message.split('\n')[0]!.replace(/:$/, '')}`, { cause: e });
  }
  if (doc === null || doc === undefined) return;
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new Error(`--config ${file}: expected a mapping of flag names to values`);
  for (const [key, raw] of Object.entries(doc)) {
    const o = cmd.options.find((x) => x.long === `--${key}` || x.attributeName() === key);
    if (!o || o.long === '--config') throw new Error(`--config ${file}: unknown setting ${JSON.stringify(key)} (use the flag names of --help)`);
    const name = o.attributeName();
    const source = cmd.getOptionValueSource(name);
    if (source === 'cli' || source === 'env') continue;
    const values = Array.isArray(raw) ? raw : [raw];
    try {
      let value: unknown = o.parseArg ? undefined : raw;
      if (o.parseArg) for (const v of values) value = o.parseArg(typeof v === 'string' ? v : JSON.stringify(v), value as never);
      else if (o.negate || typeof o.defaultValue === 'boolean') value = booleanSetting(raw);
      cmd.setOptionValueWithSource(name, value, 'config');
    } catch (e) {
      throw new Error(`--config ${file}: ${key}: ${(e as Error).message}`, { cause: e });
    }
  }
}

function booleanSetting(raw: unknown): boolean {
  if (raw === true || raw === 'true') return true;
  if (raw === false || raw === 'false') return false;
  throw new InvalidArgumentError(`expected true or false, got ${JSON.stringify(raw)}`);
}

/**
 * Refuses, before anything starts, a file-only IPAM input that would never
 * load: with no state yet there is no last good one to keep.
 */
function checkIpamFiles(files: string[], serviceCidrs: string[]): void {
  const loaded = loadIpamFiles(files);
  const problems = [...loaded.problems, ...stateFromObjects({ objects: loaded.items, configs: loaded.configs, serviceCidrs }).problems];
  if (problems.length === 0) return;
  const n = problems.length === 1 ? '1 problem; fix it' : `${problems.length} problems, the first shown; fix them`;
  throw new Error(`--ipam-file ${formatProblem(problems[0]!)} (${n} and start again)`);
}

/** The IPAM source, or one line saying why there is none. */
function ipamSourceOf(f: ServeFlags): 'files' | 'kubernetes' {
  const files = f.ipamFile?.length ?? 0;
  const source = f.ipamSource ?? (files > 0 ? 'files' : 'kubernetes');
  if (source === 'files' && files === 0) throw new Error('--ipam-source files needs at least one --ipam-file');
  if (source === 'files' && f.watchEndpoints) throw new Error('--watch-endpoints needs the Kubernetes watch: add --ipam-source kubernetes, or drop --watch-endpoints with --ipam-file alone');
  if (source === 'files' && f.watchPods) throw new Error('--watch-pods needs the Kubernetes watch: add --ipam-source kubernetes, or drop --watch-pods and put `kubectl get pods -A -o yaml` in an --ipam-file');
  if (source === 'kubernetes') {
    const kube = findKubeConfig();
    if ('missing' in kube) {
      if (files === 0) throw new Error(`no IPAM source: ${kube.missing} and no --ipam-file given; pass --ipam-file cluster.yaml (see README) or ${kube.fix}`);
      throw new Error(`--ipam-source kubernetes: ${kube.missing}; drop --ipam-source to read only the --ipam-file files, or ${kube.fix}`);
    }
  } else checkIpamFiles(f.ipamFile!, f.serviceCidr ?? []);
  return source;
}

export function serveCommand(): Command {
  const cmd = addRelayOptions(new Command('serve'))
    .description('stream flows from Hubble Relay, attribute them to IPAM pools and nodes, serve metrics and the API (the default command)')
    .addOption(opt('--ipam-file <file>', 'Kubernetes objects (kubectl get -o yaml|json) and/or an IpamConfig; re-read on change (repeatable)').argParser(fileListArg('*.yaml')))
    .addOption(opt('--ipam-source <source>', 'files, or kubernetes to list and watch the cluster (default: kubernetes unless --ipam-file is given)').choices(['files', 'kubernetes']))
    .addOption(opt('--watch-endpoints', 'with --ipam-source kubernetes, also watch CiliumEndpoints (addresses in use)').default(false))
    .addOption(opt('--watch-pods', 'with --ipam-source kubernetes, also watch Pods (the pod inventory and restart plan; cut down to names, owners, nodes and addresses)').default(false))
    .addOption(opt('--node-name <name>', "per-node mode: the node whose agent --relay-address reaches (unix:///var/run/cilium/hubble.sock); watch only its Pods and report its share, so Prometheus adds the exporters up (set from the downward API's spec.nodeName)").argParser(nodeNameArg))
    .addOption(opt('--service-cidr <cidr>', 'a service ClusterIP range, e.g. 10.96.0.0/12 (repeatable)').argParser(cidrArg))
    .addOption(opt('--listen-address <host:port>', 'HTTP address for /metrics, /healthz, /readyz and /api/v1').default('0.0.0.0:9967').argParser(listenAddressArg))
    .addOption(opt('--window <seconds>', 'window of the offender, activity and migration figures').default(300).argParser(numberArg(1)))
    .addOption(opt('--max-anomaly-series <n>', 'most hubble_ipam_anomalous_endpoints series exported').default(50).argParser(intArg(1, 100_000)))
    .addOption(opt('--log-level <level>', 'debug, info, warn or error').default('info').choices(['debug', 'info', 'warn', 'error']))
    .addOption(opt('--config <file>', 'YAML file of settings by flag name; flags and environment win').argParser(fileArg('*.yaml')));
  cmd.hook('preAction', (c) => {
    applyBooleanEnv(c);
    const file = c.getOptionValue('config') as string | undefined;
    if (file) applyConfigFile(c, file);
  });
  return cmd.action(async (f: ServeFlags) => {
    const source = ipamSourceOf(f);
    const log = createLogger(f.logLevel);
    const service = new ExporterService({
      relay: { address: f.relayAddress, tls: tlsFromFlags(f), whitelist: f.whitelist ?? [], blacklist: f.blacklist ?? [], fieldMask: f.fieldMask },
      ipam: {
        files: f.ipamFile ?? [],
        serviceCidrs: f.serviceCidr ?? [],
        ...(source === 'kubernetes' ? { kube: (onChange) => new KubeIpamWatch({ onChange, logger: log, watchEndpoints: f.watchEndpoints, watchPods: f.watchPods, ...(f.nodeName !== undefined ? { podNodeName: f.nodeName } : {}) }) } : {}),
      },
      listenAddress: f.listenAddress,
      windowSec: f.window,
      maxAnomalySeries: f.maxAnomalySeries,
      ...(f.nodeName !== undefined ? { nodeName: f.nodeName } : {}),
      logger: log,
    });
    // Aborted on SIGTERM/SIGINT: every part begins to stop at once; the steps wait for each in order.
    const stop = new AbortController();
    const stopped = runUntilStopped(
      0,
      [
        { what: 'the relay stream', stop: () => service.client.close() },
        { what: 'the IPAM sources', stop: () => service.sources.close() },
        { what: `the HTTP server on ${f.listenAddress}`, stop: () => service.close() },
      ],
      { controller: stop },
    );
    try {
      await service.start(stop.signal);
    } catch (e) {
      await service.close();
      throw listenError(e, '--listen-address', f.listenAddress);
    }
    log.info('serving', { address: service.address, relay: f.relayAddress, ipam: source, ...(f.nodeName !== undefined ? { mode: 'per-node', node: f.nodeName } : { mode: 'relay' }) });
    await Promise.race([stopped, service.client.closed()]);
    await service.close();
    const err = service.client.stats.lastError;
    if (err && !err.retryable) throw err;
  });
}
