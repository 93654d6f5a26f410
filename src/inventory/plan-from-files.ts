import { analyze } from '../analyze/analyze.js';
import { flattenItems, stateFromObjects } from '../ipam/from-objects.js';
import { loadIpamFiles } from '../ipam/ipam-files.js';
import { formatProblem, type IpamProblem } from '../ipam/model.js';
import { IpamSnapshot } from '../ipam/snapshot.js';
import { buildInventory, type AddressTraffic, type Inventory } from './inventory.js';
import { loadPodFiles } from './pod-files.js';
import { buildRestartPlan, type RestartPlan } from './restart-plan.js';

/** Exit status of a command whose input is unusable (cli.ts exits with an error's `exitCode`). */
export const EXIT_BAD_INPUT = 2;

/** Input `plan` cannot use: every problem, each naming the file and object. Exits the CLI with status 2. */
export class PlanInputError extends Error {
  override readonly name = 'PlanInputError';
  readonly exitCode = EXIT_BAD_INPUT;

  constructor(
    what: string,
    readonly problems: IpamProblem[],
  ) {
    super(`${what}:${problems.length === 1 ? ' ' : '\n  '}${problems.map(formatProblem).join('\n  ')}`);
  }
}

export interface PlanFilesOptions {
  ipamFiles: string[];
  podFiles: string[];
  /** Saved flows (as `analyze` reads them): their drops order the plan. Absent: no traffic. */
  flowFiles?: string[];
  serviceCidrs?: string[];
}

export interface PlanFromFiles {
  inventory: Inventory;
  plan: RestartPlan;
  /** Problems with single objects that did not stop the plan (a pod without an address, an unknown owner kind). */
  warnings: IpamProblem[];
}

/**
 * Traffic per address from saved flows, through the same pipeline and
 * report as `analyze`: flows and drops of every address the flows showed on
 * a stale, unallocated, wrong-node or out-of-pool side (the only addresses
 * the pipeline tracks one by one; the plan's pods are those).
 */
export async function trafficFromFlows(flowFiles: string[], ipamFiles: string[], serviceCidrs: string[]): Promise<Map<string, AddressTraffic>> {
  const report = await analyze({ flowFiles, ipamFiles, serviceCidrs });
  if (report.input.flows === 0) {
    const first = report.input.firstErrors[0] ? ` (first: ${report.input.firstErrors[0]})` : '';
    throw new PlanInputError('no flow in the flow files', [
      { where: flowFiles.join(', '), field: '(file)', value: `${report.input.lines} lines`, message: `${report.input.badLines} line(s) not Hubble events${first}; --flows reads \`hubble observe -o jsonpb\` output` },
    ]);
  }
  const traffic = new Map<string, AddressTraffic>();
  for (const o of report.offenders) {
    const t = traffic.get(o.ip) ?? { flows: 0, drops: 0 };
    t.flows += o.flows;
    t.drops += o.byVerdict.DROPPED ?? 0;
    traffic.set(o.ip, t);
  }
  return traffic;
}

/**
 * `plan` offline: IPAM objects → one snapshot, pod dumps → records, optional
 * flows → drops per address; then the inventory and the restart plan.
 * Throws PlanInputError (exit 2) when a file is unusable or the IPAM input
 * has problems; problems with single pods come back as warnings.
 */
export async function planFromFiles(opts: PlanFilesOptions): Promise<PlanFromFiles> {
  const files = loadIpamFiles(opts.ipamFiles);
  const { state, problems } = stateFromObjects({ objects: files.items, configs: files.configs, serviceCidrs: opts.serviceCidrs ?? [] });
  const ipamProblems = [...files.problems, ...problems];
  if (ipamProblems.length > 0) throw new PlanInputError('unusable IPAM input (--ipam)', ipamProblems);
  if (state.pools.every((p) => p.cidrs.length === 0) && state.allocations.length === 0 && state.former.length === 0) {
    // Every pod would be out of pool: the files are not the cluster's IPAM (pods passed as --ipam, say).
    const kinds = [...new Set(flattenItems(files.items).map((i) => i.obj.kind ?? '(no kind)'))].join(', ') || 'no objects';
    throw new PlanInputError('unusable IPAM input (--ipam)', [
      { where: opts.ipamFiles.join(', '), field: '(file)', value: kinds, message: 'no pool CIDR, node allocation or former allocation in it: pass CiliumNodes, Nodes, CiliumPodIPPools, cilium-config and/or an IpamConfig (kubectl get ciliumnodes,nodes -o yaml)' },
    ]);
  }
  let snapshot: IpamSnapshot;
  try {
    snapshot = IpamSnapshot.build(state);
  } catch (e) {
    const list = (e as { problems?: IpamProblem[] }).problems;
    if (list) throw new PlanInputError('unusable IPAM input (--ipam)', list);
    throw e;
  }
  const loaded = loadPodFiles(opts.podFiles);
  if (loaded.fatal.length > 0) throw new PlanInputError('unusable pods input (--pods)', loaded.fatal);
  const traffic = opts.flowFiles && opts.flowFiles.length > 0 ? await trafficFromFlows(opts.flowFiles, opts.ipamFiles, opts.serviceCidrs ?? []) : undefined;
  const inventory = buildInventory({ snapshot, pods: loaded.pods, ...(traffic ? { traffic } : {}) });
  return { inventory, plan: buildRestartPlan(inventory), warnings: loaded.warnings };
}
