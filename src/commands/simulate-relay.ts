import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import { addressArg, applyBooleanEnv, fileArg, intArg, numberArg, opt } from '../cli-options.js';
import { createLogger } from '../log.js';
import { defaultScenario, type Scenario } from '../sim/scenario.js';
import { scenarioIpamYaml } from '../sim/scenario-ipam.js';
import { SimulatedRelay } from '../sim/simulated-relay.js';
import { runUntilStopped } from './lifecycle.js';

export interface SimulateRelayFlags {
  listen: string;
  seed: number;
  rate: number;
  total?: number;
  scenario?: string;
  clusterName?: string;
  uuids: boolean;
  lostEvery: number;
  tlsCertFile?: string;
  tlsKeyFile?: string;
  tlsClientCaFile?: string;
  duration: number;
  /** Write the simulated cluster's IPAM objects (kubectl-shaped YAML) to this file before serving. Default: none. */
  writeIpam?: string;
  /** Serve as this scenario node's Hubble agent (its flows only, no node status) instead of as Relay. Default: Relay. */
  agentNode?: string;
}

/** Every field of a scenario file (the compiler checks that none is missing). */
const scenarioFields: Record<keyof Scenario, true> = {
  seed: true,
  clusterName: true,
  nodes: true,
  pods: true,
  externalIPs: true,
  serviceIPs: true,
  noIpEvery: true,
  flowsPerSecond: true,
  totalFlows: true,
  flowsPerTick: true,
  uuids: true,
  lostEventEvery: true,
  lostEventCount: true,
  nodeEvents: true,
  bufferCapacity: true,
};

/** The scenario from a YAML/JSON file (fields of `Scenario`, over the default), then flags. */
export function scenarioFromFlags(f: Pick<SimulateRelayFlags, 'seed' | 'rate' | 'total' | 'scenario' | 'clusterName' | 'uuids' | 'lostEvery'>): Scenario {
  let fromFile: Partial<Scenario> = {};
  if (f.scenario) {
    try {
      fromFile = parseYaml(readFileSync(f.scenario, 'utf8')) as Partial<Scenario>;
    } catch (e) {
      throw new Error(`--scenario ${f.scenario}: not YAML or JSON: ${(e as Error).message.split('\n')[0]!.replace(/:$/, '')}`, { cause: e });
    }
    if (fromFile === null || typeof fromFile !== 'object' || Array.isArray(fromFile)) throw new Error(`--scenario ${f.scenario}: expected a mapping of scenario fields (nodes, pods, externalIPs, …)`);
    const known = Object.keys(scenarioFields);
    const unknown = Object.keys(fromFile).filter((k) => !known.includes(k));
    if (unknown.length > 0) throw new Error(`--scenario ${f.scenario}: unknown field ${JSON.stringify(unknown[0])}; known: ${known.join(', ')}`);
  }
  return defaultScenario({
    ...fromFile,
    seed: f.seed,
    flowsPerSecond: f.rate,
    ...(f.total !== undefined ? { totalFlows: f.total } : {}),
    ...(f.clusterName !== undefined ? { clusterName: f.clusterName } : {}),
    uuids: f.uuids,
    lostEventEvery: f.lostEvery,
  });
}

export function simulateRelayCommand(): Command {
  return new Command('simulate-relay')
    .description('serve a simulated Hubble Relay (observer.Observer over gRPC) for demos, tests and `hubble observe`')
    .addOption(opt('--listen <host:port>', 'address to serve gRPC on: host:port, or unix:///path (a socket file left by an earlier run is replaced)').default('127.0.0.1:4245').argParser(addressArg))
    .addOption(opt('--seed <n>', 'seed of the deterministic scenario').default(1).argParser(intArg(0, 2 ** 31 - 1)))
    .addOption(opt('--rate <flows-per-second>', 'flows per second').default(200).argParser(numberArg(0.001)))
    .addOption(opt('--total <n>', 'stop generating after this many flows (default: endless)').argParser(intArg(0)))
    .addOption(opt('--scenario <file>', 'YAML or JSON scenario (nodes, pods, externalIPs, …) over the built-in one').argParser(fileArg('*.yaml')))
    .addOption(opt('--cluster-name <name>', 'cluster prefix of node names (default: kind-kind)'))
    .addOption(opt('--no-uuids', 'send flows without uuid, like Hubble before v1.15'))
    .addOption(opt('--lost-every <n>', 'send a LostEvent before every n-th flow (0: never)').default(0).argParser(intArg(0)))
    .addOption(opt('--tls-cert-file <file>', 'serve TLS with this PEM certificate').argParser(fileArg('*.crt')))
    .addOption(opt('--tls-key-file <file>', 'PEM key of --tls-cert-file').argParser(fileArg('*.key')))
    .addOption(opt('--tls-client-ca-file <file>', 'require client certificates signed by this CA (mTLS)').argParser(fileArg('*.crt')))
    .addOption(opt('--duration <seconds>', 'stop after this long (0: run until stopped)').default(0).argParser(numberArg(0)))
    .addOption(opt('--write-ipam <file>', "write the simulated cluster's IPAM objects (cilium-config, Nodes, CiliumNodes, Services, Pods; kubectl get -o yaml shape) to this file, for serve --ipam-file"))
    .addOption(opt('--agent-node <name>', "act as this scenario node's Hubble agent (as on unix:///var/run/cilium/hubble.sock): that node's flows and lost events only, no node status, GetNodes unimplemented; for per-node mode (serve --node-name)"))
    .hook('preAction', (c) => applyBooleanEnv(c))
    .action(async (f: SimulateRelayFlags) => {
      const log = createLogger('info');
      if (Boolean(f.tlsCertFile) !== Boolean(f.tlsKeyFile)) throw new Error('TLS needs both --tls-cert-file and --tls-key-file');
      const tls = f.tlsCertFile && f.tlsKeyFile
        ? { cert: readFileSync(f.tlsCertFile), key: readFileSync(f.tlsKeyFile), ...(f.tlsClientCaFile ? { clientCa: readFileSync(f.tlsClientCaFile) } : {}) }
        : undefined;
      const scenario = scenarioFromFlags(f);
      if (f.writeIpam) {
        // Swapped in whole, as serve expects of a file it re-reads.
        const tmp = `${f.writeIpam}.tmp-${process.pid}`;
        try {
          writeFileSync(tmp, scenarioIpamYaml(scenario));
          renameSync(tmp, f.writeIpam);
        } catch (e) {
          throw new Error(`--write-ipam ${f.writeIpam}: cannot write: ${(e as Error).message}`, { cause: e });
        }
      }
      const relay = new SimulatedRelay({ scenario, address: f.listen, logger: log, ...(tls ? { tls } : {}), ...(f.agentNode !== undefined ? { agentNode: f.agentNode } : {}) });
      // Aborted on SIGTERM/SIGINT or after --duration.
      const stop = new AbortController();
      relay.start(stop.signal);
      const address = await relay.ready();
      // The next step works on a machine without a cluster: the IPAM objects come from the file written above.
      const nodeFlag = f.agentNode !== undefined ? ` --node-name ${f.agentNode}` : '';
      const serve = `npx hubble-ipam-exporter serve${nodeFlag} --relay-address ${address}${tls ? ' --tls' : ''} --ipam-source files --ipam-file ${f.writeIpam ?? 'cluster.yaml'}`;
      const what = relay.agentNodeName !== undefined ? `simulated Hubble agent of node ${relay.agentNodeName} (its share of the scenario)` : 'simulated Hubble Relay';
      process.stdout.write(
        `${what} on ${address} (${f.rate} flows/s in the scenario, seed ${f.seed})\n` +
          `  hubble observe --server ${address}${tls ? ' --tls' : ''} --follow\n` +
          (f.writeIpam ? `  ${serve}\n` : `  ${serve}   # after simulate-relay --write-ipam cluster.yaml (the IPAM objects of this cluster)\n`),
      );
      await runUntilStopped(f.duration, [{ what: `the ${what} on ${address}`, stop: () => relay.close() }], { controller: stop });
    });
}
