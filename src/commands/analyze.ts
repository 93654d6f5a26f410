import { statSync } from 'node:fs';
import { Command, Option } from 'commander';
import cliProgress from 'cli-progress';
import { analyze } from '../analyze/analyze.js';
import { formatReport, reportJson } from '../analyze/report.js';
import { cidrArg, fileListArg, intArg, opt } from '../cli-options.js';

/** What a flow line looks like, for the message when a file holds none. */
const FLOW_LINE_HINT = 'analyze reads `hubble observe -o jsonpb` output: one JSON object per line, e.g. {"flow":{...},"node_name":"...","time":"..."}';

export function analyzeCommand(): Command {
  return new Command('analyze')
    .description('analyse saved flows (hubble observe -o jsonpb, Hubble exporter files; gzip allowed) against IPAM objects and print a migration report')
    .addOption(new Option('--flows <file...>', 'flow files (repeatable)').makeOptionMandatory().argParser(fileListArg('*.json')))
    .addOption(new Option('--ipam <file...>', 'IPAM input: kubectl get -o yaml|json dumps and/or an IpamConfig (repeatable)').makeOptionMandatory().argParser(fileListArg('*.yaml')))
    .addOption(opt('--service-cidr <cidr>', 'a service ClusterIP range (repeatable)').argParser(cidrArg))
    .addOption(opt('--format <format>', 'table, json or markdown').default('table').choices(['table', 'json', 'markdown']))
    .addOption(opt('--max-offenders <n>', 'offenders listed in table and markdown output').default(50).argParser(intArg(1)))
    .action(async (f: { flows: string[]; ipam: string[]; serviceCidr?: string[]; format: 'table' | 'json' | 'markdown'; maxOffenders: number }) => {
      // A progress bar on a terminal only; nothing when piped.
      const total = f.flows.reduce((n, file) => {
        try {
          return n + statSync(file).size;
        } catch {
          return n;
        }
      }, 0);
      const bar = process.stderr.isTTY && total > 1 << 20 ? new cliProgress.SingleBar({ stream: process.stderr, format: 'analysing {file} [{bar}] {percentage}% | {value}/{total} MiB | eta {eta}s', hideCursor: true }, cliProgress.Presets.shades_classic) : undefined;
      const mib = (b: number) => Math.round((b / (1 << 20)) * 10) / 10;
      let done = 0;
      let current = '';
      let currentRead = 0;
      bar?.start(mib(total), 0, { file: '' });
      const report = await analyze({
        flowFiles: f.flows,
        ipamFiles: f.ipam,
        serviceCidrs: f.serviceCidr ?? [],
        ...(bar
          ? {
              onProgress: (p) => {
                if (p.file !== current) {
                  done += currentRead;
                  current = p.file;
                }
                currentRead = p.bytesRead;
                bar.update(mib(done + p.bytesRead), { file: p.file.split('/').pop() });
              },
            }
          : {}),
      });
      bar?.stop();
      const input = report.input;
      if (input.flows === 0) {
        const first = input.firstErrors[0] ? ` (first: ${input.firstErrors[0]})` : '';
        throw new Error(`no flow found in ${f.flows.join(', ')}: ${input.lines} line(s) read, ${input.badLines} not Hubble events${first}; ${FLOW_LINE_HINT}`);
      }
      process.stdout.write(f.format === 'json' ? reportJson(report) : formatReport(report, f.format, f.maxOffenders));
    });
}
