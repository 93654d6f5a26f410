/**
 * The ground truth of test/fixtures/inventory (written by hand): the restart
 * plan's commands when its flows.jsonl is known, offline (`plan --flows`) and
 * live (the same files as --ipam-file, the flows over gRPC). System tiers
 * first (CoreDNS, Hubble Relay, monitoring), then by drops (migrate-db 2,
 * batch-api 1), then by name.
 */
export const PLAN_COMMANDS_WITH_FLOWS: readonly string[] = [
  'kubectl -n kube-system rollout restart deployment/coredns',
  'kubectl -n kube-system rollout restart deployment/hubble-relay',
  'kubectl -n monitoring rollout restart statefulset/prometheus-k8s',
  'kubectl -n shop delete pod migrate-db-x9v8k',
  'kubectl -n shop rollout restart deployment/batch-api',
  'kubectl -n logging rollout restart daemonset/fluent-bit',
  'kubectl -n shop rollout restart statefulset/cache',
  'kubectl -n shop delete pod cart-legacy-p2n4m',
  'kubectl -n shop delete pod debug-shell',
  'kubectl -n shop rollout restart deployment/frontend',
  'kubectl -n shop delete pod orphan-worker',
  'kubectl -n shop delete pod report-28391040-abcde',
];
