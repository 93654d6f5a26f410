import { flattenItems } from '../ipam/from-objects.js';
import { loadIpamFiles } from '../ipam/ipam-files.js';
import type { IpamProblem } from '../ipam/model.js';
import { podsFromObjects, type PodRecord } from './pod.js';

/** The kinds a pods file holds (others are skipped). */
const POD_KINDS = new Set(['Pod', 'CiliumEndpoint']);

export interface LoadedPods {
  pods: PodRecord[];
  /** Problems that make a file unusable: unreadable, not YAML/JSON, no Pod or CiliumEndpoint in it. */
  fatal: IpamProblem[];
  /** Problems with single objects (a pod without an address, an unknown owner kind): the rest is used. */
  warnings: IpamProblem[];
}

/**
 * Reads `kubectl get pods -A -o json|yaml` dumps (and CiliumEndpoint dumps),
 * any mix, one or more documents per file. A file without a single Pod or
 * CiliumEndpoint is not a pod list: a fatal problem naming it and what it
 * holds instead.
 */
export function loadPodFiles(files: string[]): LoadedPods {
  const fatal: IpamProblem[] = [];
  const items: Array<{ obj: import('../ipam/kube-object.js').KubeObject; where: string }> = [];
  for (const file of files) {
    const loaded = loadIpamFiles([file]);
    fatal.push(...loaded.problems);
    if (loaded.problems.length > 0) continue;
    const flat = flattenItems(loaded.items);
    const kinds = new Map<string, number>();
    for (const it of flat) kinds.set(it.obj.kind ?? '(no kind)', (kinds.get(it.obj.kind ?? '(no kind)') ?? 0) + 1);
    const podObjects = flat.filter((it) => POD_KINDS.has(it.obj.kind ?? ''));
    if (podObjects.length === 0) {
      const held = loaded.configs.length > 0 ? 'an IpamConfig' : [...kinds].map(([k, n]) => `${n} ${k}`).join(', ') || 'no objects';
      fatal.push({ where: file, field: '(file)', value: held, message: 'not a pod list: no Pod or CiliumEndpoint in it; write one with `kubectl get pods -A -o yaml > pods.yaml`' });
      continue;
    }
    items.push(...podObjects);
  }
  const { pods, problems } = podsFromObjects(items);
  return { pods, fatal, warnings: problems };
}
