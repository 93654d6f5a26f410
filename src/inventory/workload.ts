import type { KubeObject } from '../ipam/kube-object.js';
import type { IpamProblem } from '../ipam/model.js';

/** The workload that owns a pod, resolved from the pod alone (no ReplicaSet or Job is read). */
export interface Workload {
  kind: 'Deployment' | 'StatefulSet' | 'DaemonSet' | 'CronJob' | 'Job' | 'ReplicaSet' | 'Pod' | 'Node' | (string & {});
  namespace: string;
  name: string;
}

/** The label the ReplicaSet controller puts on its pods: the hash its own name ends with. */
export const POD_TEMPLATE_HASH_LABEL = 'pod-template-hash';

/**
 * Digits a CronJob's Job name ends with at least: the scheduled time in
 * minutes since 1970, which has had 8 digits since 1989 (a Job named
 * `migrate-2` is a Job, not a CronJob's).
 */
export const CRONJOB_SUFFIX_MIN_DIGITS = 8;
const CRONJOB_JOB_NAME = new RegExp(`^(.+)-\\d{${CRONJOB_SUFFIX_MIN_DIGITS},}$`);

/** Owner kinds resolved here; any other keeps its kind and name, with a problem saying it is not known. */
export const knownOwnerKinds: readonly string[] = ['ReplicaSet', 'StatefulSet', 'DaemonSet', 'Job', 'Node'];

type OwnerRef = { kind?: unknown; name?: unknown; controller?: unknown };

/**
 * A pod's workload from its owner references and labels:
 * - ReplicaSet `<deployment>-<hash>` where the pod's `pod-template-hash`
 *   label is `<hash>` → that Deployment; any other ReplicaSet stays one;
 * - StatefulSet, DaemonSet → themselves;
 * - Job `<cronjob>-<8+ digits>` → that CronJob, any other Job stays one;
 * - Node (a static pod's mirror) → the Node;
 * - no owner → the pod itself (`Pod`);
 * - an unknown kind keeps its kind and name, and a problem names it.
 * The controller reference is used when one is marked, else the first.
 */
export function resolveWorkload(pod: KubeObject): { workload: Workload; problem?: Omit<IpamProblem, 'where'> } {
  const namespace = pod.metadata?.namespace ?? '';
  const podName = pod.metadata?.name ?? '';
  const refs = (Array.isArray(pod.metadata?.ownerReferences) ? pod.metadata.ownerReferences : []) as OwnerRef[];
  const at = Math.max(0, refs.findIndex((r) => r?.controller === true));
  const ref = refs[at];
  const kind = typeof ref?.kind === 'string' ? ref.kind : '';
  const name = typeof ref?.name === 'string' ? ref.name : '';
  if (!ref || (kind === '' && name === '')) return { workload: { kind: 'Pod', namespace, name: podName } };
  if (kind === '' || name === '') {
    return {
      workload: { kind: 'Pod', namespace, name: podName },
      problem: { field: `metadata.ownerReferences[${at}]`, value: JSON.stringify(ref), message: 'an owner reference without kind or name: the pod is planned as a bare pod' },
    };
  }
  switch (kind) {
    case 'ReplicaSet': {
      const hash = pod.metadata?.labels?.[POD_TEMPLATE_HASH_LABEL];
      if (hash && name.length > hash.length + 1 && name.endsWith(`-${hash}`)) return { workload: { kind: 'Deployment', namespace, name: name.slice(0, -hash.length - 1) } };
      return { workload: { kind: 'ReplicaSet', namespace, name } };
    }
    case 'Job': {
      const m = CRONJOB_JOB_NAME.exec(name);
      return { workload: m ? { kind: 'CronJob', namespace, name: m[1]! } : { kind: 'Job', namespace, name } };
    }
    case 'StatefulSet':
    case 'DaemonSet':
      return { workload: { kind, namespace, name } };
    case 'Node':
      return { workload: { kind: 'Node', namespace: '', name } };
    default:
      return {
        workload: { kind, namespace, name },
        problem: {
          field: `metadata.ownerReferences[${at}].kind`,
          value: kind,
          message: `an owner of kind ${kind} is not one of ${knownOwnerKinds.join(', ')}: the plan deletes the pod for its controller to re-create it`,
        },
      };
  }
}
