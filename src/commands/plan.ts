import { Command, Option } from 'commander';
import { cidrArg, fileListArg, opt } from '../cli-options.js';
import { formatProblem } from '../ipam/model.js';
import { formatPlan, planFormats, type PlanFormat } from '../inventory/plan-format.js';
import { planFromFiles } from '../inventory/plan-from-files.js';

export function planCommand(): Command {
  return new Command('plan')
    .description('list every pod on a stale, unallocated, wrong-node or out-of-pool address and print the restart plan (workloads in order, by node, with the kubectl commands; never run)')
    .addOption(new Option('--ipam <file...>', 'IPAM input: kubectl get -o yaml|json dumps and/or an IpamConfig (repeatable)').makeOptionMandatory().argParser(fileListArg('*.yaml')))
    .addOption(new Option('--pods <file...>', 'pods: kubectl get pods -A -o yaml|json (CiliumEndpoints too) (repeatable)').makeOptionMandatory().argParser(fileListArg('*.yaml')))
    .addOption(new Option('--flows <file...>', 'saved flows (as analyze reads them): drops order the plan (repeatable; default: none, order by name)').argParser(fileListArg('*.json')))
    .addOption(opt('--service-cidr <cidr>', 'a service ClusterIP range (repeatable)').argParser(cidrArg))
    .addOption(opt('--format <format>', 'table, markdown, json, or shell (only the commands, as a script)').default('table').choices([...planFormats]))
    .action(async (f: { ipam: string[]; pods: string[]; flows?: string[]; serviceCidr?: string[]; format: PlanFormat }) => {
      const { inventory, plan, warnings } = await planFromFiles({ ipamFiles: f.ipam, podFiles: f.pods, ...(f.flows ? { flowFiles: f.flows } : {}), serviceCidrs: f.serviceCidr ?? [] });
      // Problems with single pods go to stderr, so that stdout stays the plan (a script with --format shell).
      for (const w of warnings) process.stderr.write(`hubble-ipam-exporter plan: warning: ${formatProblem(w)}\n`);
      process.stdout.write(formatPlan(inventory, plan, f.format));
    });
}
