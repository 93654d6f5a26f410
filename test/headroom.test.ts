import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { AttributionPipeline } from '../src/attribution/pipeline.js';
import { stateFromObjects } from '../src/ipam/from-objects.js';
import { IpamStore } from '../src/ipam/ipam-store.js';
import type { KubeObject } from '../src/ipam/kube-object.js';
import { createExporterMetrics } from '../src/metrics/exporter-metrics.js';

// Per-pool headroom (issue 12, Deliver 4) against clusters written by hand: every expected figure is worked out below.

const pool = (name: string, spec: object): KubeObject => ({ apiVersion: 'cilium.io/v2alpha1', kind: 'CiliumPodIPPool', metadata: { name }, spec });
const cn = (name: string, allocated: Array<{ pool: string; cidrs: string[] }>, used?: string[]): KubeObject => ({
  apiVersion: 'cilium.io/v2',
  kind: 'CiliumNode',
  metadata: { name },
  spec: { ipam: { pools: { allocated } } },
  ...(used ? { status: { ipam: { used: Object.fromEntries(used.map((ip) => [ip, { owner: 'x' }])) } } } : {}),
});
const cep = (name: string, ips: Array<{ ipv4?: string; ipv6?: string }>): KubeObject => ({
  apiVersion: 'cilium.io/v2',
  kind: 'CiliumEndpoint',
  metadata: { name, namespace: 'shop' },
  status: { networking: { addressing: ips, node: '192.168.0.11' } },
});
const config = (data: Record<string, string>): KubeObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cilium-config', namespace: 'kube-system' }, data });

/** The two headroom gauges as `name{pool,family} value` lines, sorted. */
async function headroom(objects: KubeObject[]): Promise<string[]> {
  const { state, problems } = stateFromObjects({ objects: objects.map((obj) => ({ obj, where: 'test.yaml' })) });
  expect(problems).toEqual([]);
  const store = new IpamStore();
  store.update(state, 'test');
  const registry = new Registry();
  const pipeline = new AttributionPipeline({ registry, windowSec: 60, offenderCapacity: 10 });
  createExporterMetrics(registry, { pipeline, store, processMetrics: false });
  const text = await registry.metrics();
  return text
    .split('\n')
    .filter((l) => /^hubble_ipam_pool_(node_cidrs_left|free_ips)\{/.test(l))
    .sort();
}

// A dual-stack multi-pool cluster: `default` is 10.10.0.0/16 at /24 (256 node CIDRs) and fd00:10::/104 at /120
// (2^16 node CIDRs); `batch` is 10.20.0.0/22 at /26 (16 node CIDRs).
const dualStack = [
  config({ ipam: 'multi-pool' }),
  pool('default', { ipv4: { cidrs: ['10.10.0.0/16'], maskSize: 24 }, ipv6: { cidrs: ['fd00:10::/104'], maskSize: 120 } }),
  pool('batch', { ipv4: { cidrs: ['10.20.0.0/22'], maskSize: 26 } }),
  cn('node-1', [{ pool: 'default', cidrs: ['10.10.1.0/24', 'fd00:10::100/120'] }, { pool: 'batch', cidrs: ['10.20.0.0/26'] }]),
  cn('node-2', [{ pool: 'default', cidrs: ['10.10.2.0/24', 'fd00:10::200/120'] }, { pool: 'batch', cidrs: ['10.20.0.64/26'] }]),
  cn('node-3', [{ pool: 'default', cidrs: ['10.10.3.0/24', 'fd00:10::300/120'] }]),
];

describe('per-pool headroom metrics', () => {
  it('node CIDRs left: a /16 pool at /24 with 3 nodes leaves 253; used from CiliumEndpoints gives free addresses', async () => {
    const lines = await headroom([
      ...dualStack,
      // 5 default IPv4 addresses in use, 2 default IPv6, 1 batch; one address outside every pool counts nowhere.
      cep('a', [{ ipv4: '10.10.1.10', ipv6: 'fd00:10::110' }]),
      cep('b', [{ ipv4: '10.10.1.11' }]),
      cep('c', [{ ipv4: '10.10.2.10', ipv6: 'fd00:10::210' }]),
      cep('d', [{ ipv4: '10.10.3.10' }]),
      cep('e', [{ ipv4: '10.10.3.11' }]),
      cep('f', [{ ipv4: '10.20.0.5' }]),
      cep('g', [{ ipv4: '10.99.0.1' }]),
    ]);
    expect(lines).toEqual([
      // batch: 2 × 64 allocated − 1 used.
      'hubble_ipam_pool_free_ips{pool="batch",family="ipv4"} 127',
      // default: 3 × 256 allocated − 5 (IPv4) and − 2 (IPv6).
      'hubble_ipam_pool_free_ips{pool="default",family="ipv4"} 763',
      'hubble_ipam_pool_free_ips{pool="default",family="ipv6"} 766',
      // 16 − 2, 256 − 3, 65,536 − 3.
      'hubble_ipam_pool_node_cidrs_left{pool="batch",family="ipv4"} 14',
      'hubble_ipam_pool_node_cidrs_left{pool="default",family="ipv4"} 253',
      'hubble_ipam_pool_node_cidrs_left{pool="default",family="ipv6"} 65533',
    ]);
  });

  it('without CiliumEndpoints, used comes from the CiliumNodes status.ipam.used where a node holds one pool and family only', async () => {
    const lines = await headroom([
      config({ ipam: 'multi-pool' }),
      pool('default', { ipv4: { cidrs: ['10.10.0.0/16'], maskSize: 24 } }),
      pool('batch', { ipv4: { cidrs: ['10.20.0.0/22'], maskSize: 26 } }),
      pool('gpu', { ipv4: { cidrs: ['10.30.0.0/24'], maskSize: 28 } }),
      cn('node-1', [{ pool: 'default', cidrs: ['10.10.1.0/24'] }], ['10.10.1.2', '10.10.1.3', '10.10.1.4']),
      cn('node-2', [{ pool: 'default', cidrs: ['10.10.2.0/24'] }], ['10.10.2.2', '10.10.2.3']),
      // Holds two pools: its 4 used addresses cannot be split, so batch and gpu have no free-address series.
      cn('node-3', [{ pool: 'batch', cidrs: ['10.20.0.0/26'] }, { pool: 'gpu', cidrs: ['10.30.0.0/28'] }], ['10.20.0.2', '10.20.0.3', '10.30.0.2', '10.30.0.3']),
      // Reports no used list: batch would be unknown through it too.
      cn('node-4', [{ pool: 'batch', cidrs: ['10.20.0.64/26'] }]),
    ]);
    expect(lines).toEqual([
      // 2 × 256 − (3 + 2).
      'hubble_ipam_pool_free_ips{pool="default",family="ipv4"} 507',
      'hubble_ipam_pool_node_cidrs_left{pool="batch",family="ipv4"} 14',
      'hubble_ipam_pool_node_cidrs_left{pool="default",family="ipv4"} 254',
      // A /24 at /28: 16, one taken.
      'hubble_ipam_pool_node_cidrs_left{pool="gpu",family="ipv4"} 15',
    ]);
  });

  it('a pool without a mask size (ENI) has free addresses but no node-CIDR series', async () => {
    const lines = await headroom([
      config({ ipam: 'eni' }),
      {
        apiVersion: 'cilium.io/v2',
        kind: 'CiliumNode',
        metadata: { name: 'ip-10-0-1-5' },
        spec: { ipam: { pool: { '10.0.1.20': { resource: 'eni-1' }, '10.0.1.21': { resource: 'eni-1' }, '10.0.1.22': { resource: 'eni-2' } } } },
        status: { ipam: { used: { '10.0.1.20': { owner: 'shop/cart-1' }, '10.0.1.21': { owner: 'shop/cart-2' } } } },
      },
    ]);
    // 3 addresses allocated, 2 used.
    expect(lines).toEqual(['hubble_ipam_pool_free_ips{pool="eni",family="ipv4"} 1']);
  });

  it('an allocation wider than the mask takes its share of blocks', async () => {
    const lines = await headroom([
      config({ ipam: 'multi-pool' }),
      // /24 at /26: 4 blocks.
      pool('default', { ipv4: { cidrs: ['10.10.0.0/24'], maskSize: 26 } }),
      // A /25 allocation (made before the mask changed) takes 2 of the 4 blocks.
      cn('node-1', [{ pool: 'default', cidrs: ['10.10.0.0/25'] }]),
    ]);
    expect(lines).toEqual(['hubble_ipam_pool_node_cidrs_left{pool="default",family="ipv4"} 2']);
  });
});
