import type { SourceItem } from '../ipam/from-objects.js';
import { describeObject, type KubeObject } from '../ipam/kube-object.js';

/** The ConfigMap Cilium reads its settings from. */
export const CILIUM_CONFIG_NAME = 'cilium-config';
/** Cilium's default name for the multi-pool default pool (`ipam-default-ip-pool`). */
export const DEFAULT_POOL_NAME = 'default';

/** The `cilium-config` keys the check reads, as Cilium names them. */
export const CONFIG_KEYS = {
  ipam: 'ipam',
  defaultPool: 'ipam-default-ip-pool',
  routingMode: 'routing-mode',
  /** Before Cilium 1.14: `tunnel: disabled` meant native routing. */
  legacyTunnel: 'tunnel',
  nativeV4: 'ipv4-native-routing-cidr',
  nativeV6: 'ipv6-native-routing-cidr',
} as const;

export interface CiliumConfig {
  /** `ConfigMap kube-system/cilium-config`. */
  name: string;
  where: string;
  data: Record<string, string>;
}

/** The `cilium-config` ConfigMap among the objects (the last one wins, as in the translator), if any. */
export function findCiliumConfig(items: readonly SourceItem[]): CiliumConfig | undefined {
  let found: { obj: KubeObject; where: string } | undefined;
  for (const it of items) if (it.obj.kind === 'ConfigMap' && it.obj.metadata?.name === CILIUM_CONFIG_NAME) found = it;
  return found ? { name: describeObject(found.obj), where: found.where, data: found.obj.data ?? {} } : undefined;
}

/** True when the config routes natively: `routing-mode: native`, or the legacy `tunnel: disabled`. */
export function nativeRouting(cfg: CiliumConfig): boolean {
  return cfg.data[CONFIG_KEYS.routingMode] === 'native' || cfg.data[CONFIG_KEYS.legacyTunnel] === 'disabled';
}
