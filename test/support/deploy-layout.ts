import { join, relative } from 'node:path';
import { repoRoot } from './paths.js';

/** Parsed YAML: plain JSON values, walked by the deploy checks. */
export type Obj = Record<string, any>;

export const deployDir = join(repoRoot, 'deploy');
export const baseDir = join(deployDir, 'base');
export const tlsDir = join(deployDir, 'overlays', 'tls');
/** A path relative to the repository, for messages. */
export const rel = (p: string) => relative(repoRoot, p);

export const COMMON_LABELS = { 'app.kubernetes.io/name': 'hubble-ipam-exporter', 'app.kubernetes.io/part-of': 'cilium' };
export const NAMESPACE = 'kube-system';
export const PORT = 9967;
export const CERTS_SECRET = 'hubble-relay-client-certs';
