import { join, relative } from 'node:path';
import { repoRoot } from './paths.js';

/** Parsed YAML: plain JSON values, walked by the deploy checks. */
export type Obj = Record<string, any>;

export const deployDir = join(repoRoot, 'deploy');
export const baseDir = join(deployDir, 'base');
export const tlsDir = join(deployDir, 'overlays', 'tls');
/** Per-node mode: a DaemonSet on each node's agent socket; and its variant for root-owned sockets. */
export const perNodeDir = join(deployDir, 'overlays', 'per-node');
export const perNodeRootDir = join(deployDir, 'overlays', 'per-node-root');
/** A path relative to the repository, for messages. */
export const rel = (p: string) => relative(repoRoot, p);

export const COMMON_LABELS = { 'app.kubernetes.io/name': 'hubble-ipam-exporter', 'app.kubernetes.io/part-of': 'cilium' };
export const NAMESPACE = 'kube-system';
export const PORT = 9967;
export const CERTS_SECRET = 'hubble-relay-client-certs';
/** Where Cilium's agent serves Hubble on every node (its run directory on the host). */
export const CILIUM_RUN_DIR = '/var/run/cilium';
export const HUBBLE_SOCKET = `${CILIUM_RUN_DIR}/hubble.sock`;
