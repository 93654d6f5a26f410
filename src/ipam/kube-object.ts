/**
 * A Kubernetes object as `kubectl get -o json|yaml` or the API server gives
 * it. Only the parts the IPAM model reads are typed; the rest is carried.
 */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    creationTimestamp?: string;
    deletionTimestamp?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: Array<{ apiVersion?: string; kind?: string; name?: string; uid?: string; controller?: boolean }>;
  };
  spec?: unknown;
  status?: unknown;
  data?: Record<string, string>;
  items?: KubeObject[];
}

/** `kind namespace/name` for error messages. */
export function describeObject(o: KubeObject): string {
  const ns = o.metadata?.namespace ? `${o.metadata.namespace}/` : '';
  return `${o.kind ?? 'object'} ${ns}${o.metadata?.name ?? '(unnamed)'}`;
}
