import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import { parse as parseYaml } from 'yaml';
import type { FlowFilter } from '../gen/flow/flow_pb.js';
import { addressArg, applyBooleanEnv, collect, filterArg, intArg, numberArg, opt } from '../cli-options.js';
import type { TlsOptions } from '../ingest/tls.js';
import { KubeIpamWatch } from '../ipam/kube-watch.js';
import { createLogger, type LogLevel } from '../log.js';
import { ExporterService } from '../service.js';
import { runUntilStopped } from './lifecycle.js';

export interface RelayFlags {
  relayAddress: string;
  tls: boolean;
  tlsCaFile?: string;
  tlsClientCertFile?: string;
  tlsClientKeyFile?: string;
  tlsServerName?: string;
  whitelist?: FlowFilter[];
  blacklist?: FlowFilter[];
}

export interface ServeFlags extends RelayFlags {
  ipamFile?: string[];
  ipamSource?: 'files' | 'kubernetes';
  watchEndpoints: boolean;
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
    .addOption(opt('--blacklist <flow-filter-json>', 'server-side Hubble FlowFilter to exclude (repeatable)').argParser(filterArg));
}

const ipamSourceArg = (v: string) => {
  if (v !== 'files' && v !== 'kubernetes') throw new InvalidArgumentError('expected files or kubernetes');
  return v;
};

/**
 * Applies a `--config` YAML file: keys are flag names (`relay-address` or
 * `relayAddress`); a flag on the command line or in the environment wins.
 */
export function applyConfigFile(cmd: Command, file: string): void {
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`cannot read --config ${file}: ${(e as Error).message.split('\n')[0]}`, { cause: e });
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
      else if (o.negate || typeof o.defaultValue === 'boolean') value = raw === true || raw === 'true';
      cmd.setOptionValueWithSource(name, value, 'config');
    } catch (e) {
      throw new Error(`--config ${file}: ${key}: ${(e as Error).message}`, { cause: e });
    }
  }
}

export function serveCommand(): Command {
  const cmd = addRelayOptions(new Command('serve'))
    .description('stream flows from Hubble Relay, attribute them to IPAM pools and nodes, serve metrics and the API (the default command)')
    .addOption(opt('--ipam-file <file>', 'Kubernetes objects (kubectl get -o yaml|json) and/or an IpamConfig; re-read on change (repeatable)').argParser(collect))
    .addOption(opt('--ipam-source <source>', 'files, or kubernetes to list and watch the cluster (default: kubernetes unless --ipam-file is given)').argParser(ipamSourceArg))
    .addOption(opt('--watch-endpoints', 'with --ipam-source kubernetes, also watch CiliumEndpoints (addresses in use)').default(false))
    .addOption(opt('--service-cidr <cidr>', 'a service ClusterIP range, e.g. 10.96.0.0/12 (repeatable)').argParser(collect))
    .addOption(opt('--listen-address <host:port>', 'HTTP address for /metrics, /healthz, /readyz and /api/v1').default('0.0.0.0:9967').argParser(addressArg))
    .addOption(opt('--window <seconds>', 'window of the offender, activity and migration figures').default(300).argParser(numberArg(1)))
    .addOption(opt('--max-anomaly-series <n>', 'most hubble_ipam_anomalous_endpoints series exported').default(50).argParser(intArg(1, 100_000)))
    .addOption(opt('--log-level <level>', 'debug, info, warn or error').default('info').choices(['debug', 'info', 'warn', 'error']))
    .addOption(opt('--config <file>', 'YAML file of settings by flag name; flags and environment win'));
  cmd.hook('preAction', (c) => {
    applyBooleanEnv(c);
    const file = c.getOptionValue('config') as string | undefined;
    if (file) applyConfigFile(c, file);
  });
  return cmd.action(async (f: ServeFlags) => {
    const log = createLogger(f.logLevel);
    const source = f.ipamSource ?? (f.ipamFile?.length ? 'files' : 'kubernetes');
    const service = new ExporterService({
      relay: { address: f.relayAddress, tls: tlsFromFlags(f), whitelist: f.whitelist ?? [], blacklist: f.blacklist ?? [] },
      ipam: {
        files: f.ipamFile ?? [],
        serviceCidrs: f.serviceCidr ?? [],
        ...(source === 'kubernetes' ? { kube: (onChange) => new KubeIpamWatch({ onChange, logger: log, watchEndpoints: f.watchEndpoints }) } : {}),
      },
      listenAddress: f.listenAddress,
      windowSec: f.window,
      maxAnomalySeries: f.maxAnomalySeries,
      logger: log,
    });
    const stopped = runUntilStopped(0, () => service.close());
    try {
      await service.start();
    } catch (e) {
      await service.close();
      throw e;
    }
    log.info('serving', { address: service.address, relay: f.relayAddress, ipam: source });
    await Promise.race([stopped, service.client.closed()]);
    await service.close();
    const err = service.client.stats.lastError;
    if (err && !err.retryable) throw err;
  });
}
