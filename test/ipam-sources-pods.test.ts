import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { IpamSources } from '../src/ipam/ipam-sources.js';
import type { KubeObject } from '../src/ipam/kube-object.js';

const cm: KubeObject = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cilium-config', namespace: 'kube-system' }, data: { ipam: 'cluster-pool', 'cluster-pool-ipv4-cidr': '10.0.0.0/16' } };
const pod = (name: string): KubeObject => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'shop' }, spec: { nodeName: 'w1' }, status: { podIP: '10.0.1.5' } });
const cep = (name: string): KubeObject => ({ apiVersion: 'cilium.io/v2', kind: 'CiliumEndpoint', metadata: { name, namespace: 'shop' }, status: { networking: { addressing: [{ ipv4: '10.0.1.6' }], node: '192.168.0.1' } } });

describe('IpamSources.podObjects', () => {
  it('hands the inventory every Pod and CiliumEndpoint of every source, Lists flattened, and the same array until an input changes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hie-pods-'));
    const file = join(dir, 'pods.json');
    writeFileSync(file, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [cm, pod('from-file'), cep('cep-file')] }));
    const sources = new IpamSources({ files: [file], fileSettleMs: 0, objects: [{ apiVersion: 'v1', kind: 'List', items: [pod('listed')] } as KubeObject, pod('loose'), { apiVersion: 'cilium.io/v2', kind: 'CiliumNode', metadata: { name: 'w1' } }] });
    sources.start(new AbortController().signal);
    await sources.ready();
    const first = sources.podObjects();
    expect(first.map((i) => `${i.obj.kind}/${i.obj.metadata?.name}@${i.where}`)).toEqual(['Pod/from-file@' + file, 'CiliumEndpoint/cep-file@' + file, 'Pod/listed@memory', 'Pod/loose@memory']);
    expect(sources.podObjects()).toBe(first);
    sources.setObjects([pod('other')]);
    expect(sources.podObjects().map((i) => i.obj.metadata?.name)).toEqual(['from-file', 'cep-file', 'other']);
    await sources.close();
  });
});
