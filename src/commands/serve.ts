import { Command } from 'commander';
import type { FlowFilter } from '../gen/flow/flow_pb.js';
import { addressArg, filterArg, opt } from '../cli-options.js';
import type { FlowSink } from '../ingest/sink.js';
import { LiveSummary } from '../ingest/live-summary.js';
import { RelayClient } from '../ingest/relay-client.js';
import type { TlsOptions } from '../ingest/tls.js';
import { createLogger, type LogLevel } from '../log.js';
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

/** Until attribution lands, the stream's own counters are the whole report. */
export const countOnly: FlowSink = { flow: () => true, lostEvents() {}, nodeStatus() {} };

export function serveCommand(): Command {
  return addRelayOptions(new Command('serve'))
    .description('stream flows from Hubble Relay and report on them (the default command)')
    .addOption(opt('--log-level <level>', 'debug, info, warn or error').default('info').choices(['debug', 'info', 'warn', 'error']))
    .action(async (f: RelayFlags & { logLevel: LogLevel }) => {
      const log = createLogger(f.logLevel);
      const client = new RelayClient(
        {
          address: f.relayAddress,
          tls: tlsFromFlags(f),
          whitelist: f.whitelist ?? [],
          blacklist: f.blacklist ?? [],
          logger: log,
        },
        countOnly,
      );
      const summary = new LiveSummary(client);
      client.start();
      summary.start();
      const stopped = runUntilStopped(0, async () => {
        summary.stop();
        await client.close();
      });
      await Promise.race([stopped, client.closed()]);
      summary.stop();
      if (client.stats.lastError && !client.stats.lastError.retryable) throw client.stats.lastError;
    });
}
