import { Command } from 'commander';
import { listenAddressArg, numberArg, opt } from '../cli-options.js';
import { createLogger } from '../log.js';
import { readModelOf, type ReadModel } from '../read-model/read-model.js';
import { ExporterService } from '../service.js';
import { migrationDemo } from '../sim/migration-demo.js';
import { SimulatedRelay } from '../sim/simulated-relay.js';
import { runUntilStopped } from './lifecycle.js';
import { listenError } from './listen-error.js';

interface DemoFlags {
  duration: number;
  rate: number;
  speed: number;
  listenAddress: string;
}

/** Flows so far with a status, both sides, from the exporter's own counter. */
function flowsWith(read: ReadModel, status: string, verdict?: string): number {
  let n = 0;
  for (const e of read.flowSeries()) if (e.status === status && (!verdict || e.verdict === verdict)) n += e.flows;
  return n;
}

export function demoCommand(): Command {
  return new Command('demo')
    .description('replay an IPAM migration (host-scope → cluster-pool) on an embedded simulated Hubble Relay: no cluster needed')
    .addOption(opt('--duration <seconds>', 'stop after this long (0: run until stopped)').default(0).argParser(numberArg(0)))
    .addOption(opt('--rate <flows-per-second>', 'simulated flows per second').default(400).argParser(numberArg(1)))
    .addOption(opt('--speed <factor>', 'play the migration timeline this many times faster').default(1).argParser(numberArg(0.01)))
    .addOption(opt('--listen-address <host:port>', 'HTTP address of the exporter').default('127.0.0.1:9967').argParser(listenAddressArg))
    .action(async (f: DemoFlags) => {
      const log = createLogger('warn');
      const demo = migrationDemo(f.rate, f.speed);
      const start = Date.now();
      const stop = new AbortController(); // aborted on SIGTERM/SIGINT or after --duration
      const relay = new SimulatedRelay({ scenario: demo.scenario, epochMs: start, logger: log });
      const relayAddress = await relay.listen('127.0.0.1:0');
      const service = new ExporterService({
        relay: { address: relayAddress, since: new Date(start - 1000) },
        ipam: { objects: demo.before },
        listenAddress: f.listenAddress,
        windowSec: Math.max(5, 20 / f.speed),
        logger: log,
      });
      try {
        await service.start(stop.signal);
      } catch (e) {
        await service.close();
        await relay.close();
        throw listenError(e, '--listen-address', f.listenAddress);
      }
      const t = demo.timeline;
      const out = (s: string) => process.stdout.write(`${s}\n`);
      out('hubble-ipam-exporter demo: a 3-node cluster moving from kubernetes host-scope IPAM (10.244.0.0/16)');
      out(`to cluster-pool (172.20.0.0/16). Simulated Hubble Relay on ${relayAddress}, ${f.rate} flows/s over gRPC.`);
      out(`  t=${t.switchAt}s  IPAM switches; CiliumNodes re-created; most pods restart onto 172.20.x addresses`);
      out(`  t=${t.fixAt}s  the pods left behind (${demo.stalePods.map((p) => p.name).join(', ')}) are restarted too;`);
      out(`           ${demo.idlePods.length} idle pods (${demo.idlePods.map((p) => `${p.namespace}/${p.name}`).join(', ')}) never talk: traffic never shows them`);
      out(`Console:   ${service.address}/`);
      out(`Metrics:   ${service.address}/metrics`);
      out(`Offenders: ${service.address}/api/v1/anomalies?status=stale`);
      out(`Migration: ${service.address}/api/v1/migration   Pools: ${service.address}/api/v1/pools   Nodes: ${service.address}/api/v1/nodes`);
      out(`Pods:      ${service.address}/api/v1/endpoints?status=stale   Plan: ${service.address}/api/v1/restart-plan?format=shell`);
      out('Ctrl-C stops.');

      const timers = [
        setTimeout(() => {
          service.sources.setObjects(demo.after, 'demo: switch to cluster-pool');
          out(`t=${t.switchAt}s IPAM switched to cluster-pool; Node.spec.podCIDRs (10.244.x.0/24) are legacy now`);
        }, t.switchAt * 1000),
        setTimeout(() => service.sources.setObjects(demo.rolledOut, 'demo: rollout done'), (t.switchAt + t.rolloutSec) * 1000),
        setTimeout(() => {
          service.sources.setObjects(demo.fixed, 'demo: left-behind pods restarted');
          out(`t=${t.fixAt}s left-behind pods restarted onto new addresses; what is still on an old address:`);
          const plan = service.inventory.plan();
          for (const step of plan?.steps ?? []) out(`  ${step.commands.join('; ')}   # ${step.pods.map((p) => `${p.namespace}/${p.name} ${p.flows > 0 ? 'talking' : 'idle'}`).join(', ')}`);
        }, t.fixAt * 1000),
      ];
      const read = readModelOf(service.pipeline);
      const line = () => {
        const stale = read.activeAnomalies(Infinity, { status: 'stale' });
        const secs = Math.round((Date.now() - start) / 1000);
        // Progress from the pod inventory (idle pods count too).
        const progress = service.inventory.inventory()?.draining[0]?.progress;
        const plan = service.inventory.plan();
        const idle = plan?.steps.flatMap((s) => s.pods).filter((p) => p.flows === 0).length ?? 0;
        return (
          `t=${secs}s ipam=${service.store.snapshot?.state.mode ?? '-'} flows=${read.flowsProcessed()} ` +
          `stale_flows=${flowsWith(read, 'stale')} stale_dropped=${flowsWith(read, 'stale', 'DROPPED')} ` +
          `stale_endpoints_now=${stale.length} to_restart=${plan?.pods ?? 0} (idle ${idle})` +
          `${progress !== undefined && progress !== null ? ` migration=${Math.round(progress * 100)}%` : ''} relay=${service.client.state}`
        );
      };
      const tty = process.stdout.isTTY === true;
      const ticker = setInterval(() => process.stdout.write(tty ? `\r\x1b[2K${line()}` : `${line()}\n`), 1000);
      await runUntilStopped(f.duration, [
        {
          what: `the exporter on ${service.address}`,
          stop: async () => {
            clearInterval(ticker);
            for (const x of timers) clearTimeout(x);
            if (tty) process.stdout.write('\n');
            out(line());
            await service.close();
          },
        },
        { what: `the simulated relay on ${relayAddress}`, stop: () => relay.close() },
      ], { controller: stop });
    });
}
