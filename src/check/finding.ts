/** How bad a finding is; `--fail-on` compares against this order. */
export type Severity = 'error' | 'warning' | 'info';

export const severities: readonly Severity[] = ['error', 'warning', 'info'];

/** Higher is worse. */
export const severityRank: Record<Severity, number> = { info: 0, warning: 1, error: 2 };

/** One thing wrong in the cluster's IPAM, for a person to act on. The exporter never runs `fix`. */
export interface Finding {
  severity: Severity;
  /** Stable kebab-case id, e.g. `ciliumnode-cidr-outside-pools`. */
  code: string;
  /** The objects involved, `Kind namespace/name`: `CiliumNode worker-3`, `ConfigMap kube-system/cilium-config`. */
  objects: string[];
  /** What is wrong. */
  message: string;
  /** Why it matters. */
  why: string;
  /** What to do (commands are printed, never run). */
  fix: string;
}

/** Errors first, then warnings, then info; within one severity by code, then objects. */
export function sortFindings(list: Finding[]): Finding[] {
  return list.sort((a, b) => severityRank[b.severity] - severityRank[a.severity] || a.code.localeCompare(b.code) || a.objects.join(',').localeCompare(b.objects.join(',')));
}

/** True when some finding is at or above `failOn`. */
export function failsAt(list: readonly Finding[], failOn: Severity): boolean {
  return list.some((f) => severityRank[f.severity] >= severityRank[failOn]);
}
