import { stateFromObjects } from '../ipam/from-objects.js';
import { loadIpamFiles } from '../ipam/ipam-files.js';
import { formatProblem, type IpamProblem } from '../ipam/model.js';
import { IpamSnapshot } from '../ipam/snapshot.js';
import { loadPodFiles } from '../inventory/pod-files.js';
import { EXIT_BAD_INPUT } from '../inventory/plan-from-files.js';
import { checkIpam } from './check-ipam.js';
import type { Finding } from './finding.js';

/** Input `check` cannot use: every problem, each naming the file and object. Exits the CLI with status 2. */
export class CheckInputError extends Error {
  override readonly name = 'CheckInputError';
  readonly exitCode = EXIT_BAD_INPUT;

  constructor(
    what: string,
    readonly problems: IpamProblem[],
  ) {
    super(`${what}:${problems.length === 1 ? ' ' : '\n  '}${problems.map(formatProblem).join('\n  ')}`);
  }
}

export interface CheckFilesOptions {
  ipamFiles: string[];
  /** `kubectl get pods -A -o yaml|json` dumps (CiliumEndpoints too). Absent: the pod findings are not checked. */
  podFiles?: string[];
  serviceCidrs?: string[];
  /** Nodes a scale-up adds. Default: 10 % of the nodes, at least 1. */
  scaleUpNodes?: number;
}

/**
 * `check` offline: the IPAM objects are translated and validated exactly as
 * the exporter does (`stateFromObjects`, `IpamSnapshot.build`), the pods
 * read as `plan` reads them, then `checkIpam`. Throws CheckInputError (exit
 * 2) when a file is unusable; problems with single pods come back as warnings.
 */
export function checkFromFiles(opts: CheckFilesOptions): { findings: Finding[]; warnings: IpamProblem[] } {
  const files = loadIpamFiles(opts.ipamFiles);
  const { state, problems } = stateFromObjects({ objects: files.items, configs: files.configs, serviceCidrs: opts.serviceCidrs ?? [] });
  const ipamProblems = [...files.problems, ...problems];
  if (ipamProblems.length > 0) throw new CheckInputError('unusable IPAM input (--ipam)', ipamProblems);
  try {
    IpamSnapshot.build(state);
  } catch (e) {
    const list = (e as { problems?: IpamProblem[] }).problems;
    if (list) throw new CheckInputError('unusable IPAM input (--ipam)', list);
    throw e;
  }
  let warnings: IpamProblem[] = [];
  let pods;
  if (opts.podFiles && opts.podFiles.length > 0) {
    const loaded = loadPodFiles(opts.podFiles);
    if (loaded.fatal.length > 0) throw new CheckInputError('unusable pods input (--pods)', loaded.fatal);
    pods = loaded.pods;
    warnings = loaded.warnings;
  }
  const findings = checkIpam({ objects: files.items, state, ...(pods ? { pods } : {}), ...(opts.scaleUpNodes !== undefined ? { scaleUpNodes: opts.scaleUpNodes } : {}) });
  return { findings, warnings };
}
