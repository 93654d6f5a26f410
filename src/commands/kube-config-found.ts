import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Where @kubernetes/client-node reads a pod's service-account token. */
const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/** Where the Kubernetes configuration comes from, or why there is none. */
export type KubeConfigFound = { found: string } | { missing: string; fix: string };

/**
 * Looks for the Kubernetes configuration the way `KubeIpamWatch` loads it: in
 * a pod first (`KUBERNETES_SERVICE_HOST`), then as `KubeConfig.loadFromDefault()`
 * does: `KUBECONFIG`, `~/.kube/config`, a service-account token. Without any,
 * the client would fall back to http://localhost:8080 and retry forever, so
 * `serve` asks here first.
 */
export function findKubeConfig(env: NodeJS.ProcessEnv = process.env, tokenFile = SERVICE_ACCOUNT_TOKEN): KubeConfigFound {
  if (env.KUBERNETES_SERVICE_HOST) return { found: 'in-cluster (KUBERNETES_SERVICE_HOST)' };
  if (env.KUBECONFIG) {
    const files = env.KUBECONFIG.split(delimiter).filter((f) => f !== '');
    const absent = files.filter((f) => !existsSync(f));
    if (absent.length > 0) return { missing: `KUBECONFIG names ${absent.join(', ')} (no such file)`, fix: 'fix KUBECONFIG' };
    if (files.length > 0) return { found: `KUBECONFIG=${env.KUBECONFIG}` };
  }
  if (env.HOME && existsSync(join(env.HOME, '.kube', 'config'))) return { found: join(env.HOME, '.kube', 'config') };
  if (existsSync(tokenFile)) return { found: tokenFile };
  return { missing: 'no kubeconfig found (KUBECONFIG, ~/.kube/config, in-cluster service account)', fix: 'run inside the cluster' };
}
