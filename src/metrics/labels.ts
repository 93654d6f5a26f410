/**
 * Label names of every labelled metric, in one place and in order. The code
 * that fills a metric builds its label values from the same list, so names
 * and values cannot drift apart. Dashboards and alerts build on these.
 */
export const flowLabels = ['side', 'pool', 'node', 'status', 'verdict'] as const;
export const poolFlowLabels = ['source_pool', 'destination_pool', 'verdict'] as const;
export const anomalyLabels = ['status', 'pool', 'node', 'namespace', 'pod', 'ip'] as const;
export const poolFamilyLabels = ['pool', 'family'] as const;
export const nodeAllocLabels = ['pool', 'node', 'family'] as const;
export const migrationLabels = ['pool'] as const;
export const lostLabels = ['source'] as const;
export const relayNodeLabels = ['state'] as const;

/** `{name: value}` from a label-name list and values in the same order. */
export function labelsOf<N extends readonly string[]>(names: N, values: { [K in keyof N]: string }): Record<N[number], string> {
  const out = {} as Record<string, string>;
  names.forEach((n, i) => (out[n] = values[i] as string));
  return out as Record<N[number], string>;
}
