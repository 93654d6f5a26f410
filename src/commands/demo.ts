import { Command } from 'commander';
import { numberArg, opt } from '../cli-options.js';
import { LiveSummary } from '../ingest/live-summary.js';
import { RelayClient } from '../ingest/relay-client.js';
import { createLogger } from '../log.js';
import { defaultScenario } from '../sim/scenario.js';
import { SimulatedRelay } from '../sim/simulated-relay.js';
import { runUntilStopped } from './lifecycle.js';
import { countOnly } from './serve.js';

export function demoCommand(): Command {
  return new Command('demo')
    .description('run against an embedded simulated Hubble Relay on loopback: no cluster needed')
    .addOption(opt('--duration <seconds>', 'stop after this long (0: run until stopped)').default(0).argParser(numberArg(0)))
    .addOption(opt('--rate <flows-per-second>', 'simulated flows per second').default(500).argParser(numberArg(0.001)))
    .action(async (f: { duration: number; rate: number }) => {
      const log = createLogger('warn');
      const relay = new SimulatedRelay({ scenario: defaultScenario({ flowsPerSecond: f.rate, lostEventEvery: 5000 }), logger: log });
      const address = await relay.listen('127.0.0.1:0');
      const client = new RelayClient({ address, logger: log, statusIntervalMs: 5000 }, countOnly);
      process.stdout.write(
        `hubble-ipam-exporter demo: simulated Hubble Relay on ${address} (3 nodes, 12 pods, ${f.rate} flows/s), streaming over gRPC.\n` +
          `Point the real Hubble CLI at it too: hubble observe --server ${address} --follow\n` +
          'Ctrl-C stops.\n',
      );
      const summary = new LiveSummary(client);
      client.start();
      summary.start(1000);
      await runUntilStopped(f.duration, async () => {
        summary.stop();
        await client.close();
        await relay.close();
        process.stdout.write(`${summary.line()}\n`);
      });
    });
}
