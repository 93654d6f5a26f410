#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { commanderErrorLine } from './cli-errors.js';
import { analyzeCommand } from './commands/analyze.js';
import { checkCommand } from './commands/check.js';
import { demoCommand } from './commands/demo.js';
import { planCommand } from './commands/plan.js';
import { serveCommand } from './commands/serve.js';
import { simulateRelayCommand } from './commands/simulate-relay.js';

/** The package's version, from the package.json beside dist/ (never npm's environment: npx sets its own). */
const version = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

const program = new Command('hubble-ipam-exporter')
  .description('Joins Hubble flows with Cilium IPAM state during IPAM migrations.')
  .version(version)
  .addCommand(serveCommand(), { isDefault: true })
  .addCommand(demoCommand())
  .addCommand(analyzeCommand())
  .addCommand(planCommand())
  .addCommand(checkCommand())
  .addCommand(simulateRelayCommand());

// Every command throws its errors here instead of printing them, so that each
// becomes one line naming the command (commander's suggestions go on a line
// of their own, and a typo of a command reaches the default one as an argument).
let active: Command = program;
for (const c of [program, ...program.commands]) c.exitOverride().showSuggestionAfterError().configureOutput({ outputError: () => {} });
program.hook('preSubcommand', (_program, sub) => {
  active = sub;
});

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) {
    // Help and version print themselves (code 0); `help({ error: true })` prints usage to stderr.
    if (e.exitCode !== 0 && e.code !== 'commander.help') process.stderr.write(`${commanderErrorLine(e, program, active)}\n`);
    process.exit(e.exitCode);
  }
  process.stderr.write(`hubble-ipam-exporter: ${e instanceof Error ? e.message : String(e)}\n`);
  // An error may say its exit status (2: unusable input, as plan's PlanInputError); else 1.
  const code = (e as { exitCode?: unknown } | null)?.exitCode;
  process.exit(typeof code === 'number' && Number.isInteger(code) && code > 0 ? code : 1);
}
