#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { analyzeCommand } from './commands/analyze.js';
import { demoCommand } from './commands/demo.js';
import { serveCommand } from './commands/serve.js';
import { simulateRelayCommand } from './commands/simulate-relay.js';

const program = new Command('hubble-ipam-exporter')
  .description('Joins Hubble flows with Cilium IPAM state during IPAM migrations.')
  .version('0.1.0')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride()
  .addCommand(serveCommand(), { isDefault: true })
  .addCommand(demoCommand())
  .addCommand(analyzeCommand())
  .addCommand(simulateRelayCommand());

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) process.exit(e.exitCode);
  process.stderr.write(`hubble-ipam-exporter: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
}
