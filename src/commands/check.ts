import { Command, Option, type ErrorOptions } from 'commander';
import { checkFromFiles } from '../check/check-from-files.js';
import { failsAt, severities, type Severity } from '../check/finding.js';
import { checkFormats, formatFindings, type CheckFormat } from '../check/format.js';
import { cidrArg, fileListArg, intArg, opt } from '../cli-options.js';
import { EXIT_BAD_INPUT } from '../inventory/plan-from-files.js';
import { formatProblem } from '../ipam/model.js';

/** Exit status when a finding is at or above `--fail-on`. */
export const EXIT_FINDINGS = 1;

/** `check` exits 2 on a usage error too (a missing --ipam, a file that does not exist): 1 means findings. */
class CheckCommand extends Command {
  override error(message: string, errorOptions?: ErrorOptions): never {
    return super.error(message, { ...errorOptions, exitCode: EXIT_BAD_INPUT });
  }
}

export function checkCommand(): Command {
  return new CheckCommand('check')
    .description("Cilium's missing `ipam check`: what is wrong in the IPAM objects (stale CiliumNodes, pools, overlaps, exhaustion, leaks), why and what to do; exit 0 clean, 1 findings at or above --fail-on, 2 unusable input")
    .addOption(new Option('--ipam <file...>', 'IPAM input: kubectl get -o yaml|json dumps (cilium-config, CiliumNodes, Nodes, CiliumPodIPPools, Services, CiliumEndpoints) and/or an IpamConfig (repeatable)').makeOptionMandatory().argParser(fileListArg('*.yaml')))
    .addOption(new Option('--pods <file...>', 'pods: kubectl get pods -A -o yaml|json (repeatable; default: none, the pod findings are skipped)').argParser(fileListArg('*.yaml')))
    .addOption(opt('--service-cidr <cidr>', 'a service ClusterIP range (repeatable)').argParser(cidrArg))
    .addOption(opt('--scale-up <nodes>', 'nodes a scale-up adds, for the pool headroom finding (default: 10 % of the nodes, at least 1)').argParser(intArg(1)))
    .addOption(opt('--format <format>', 'table, markdown or json').default('table').choices([...checkFormats]))
    .addOption(opt('--fail-on <severity>', 'exit 1 when a finding is at or above this severity: error, warning or info').default('warning').choices([...severities]))
    .action((f: { ipam: string[]; pods?: string[]; serviceCidr?: string[]; scaleUp?: number; format: CheckFormat; failOn: Severity }) => {
      const { findings, warnings } = checkFromFiles({ ipamFiles: f.ipam, ...(f.pods ? { podFiles: f.pods } : {}), serviceCidrs: f.serviceCidr ?? [], ...(f.scaleUp !== undefined ? { scaleUpNodes: f.scaleUp } : {}) });
      for (const w of warnings) process.stderr.write(`hubble-ipam-exporter check: warning: ${formatProblem(w)}\n`);
      process.stdout.write(formatFindings(findings, f.format));
      if (failsAt(findings, f.failOn)) process.exitCode = EXIT_FINDINGS;
    });
}
