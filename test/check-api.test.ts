import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { AttributionPipeline } from '../src/attribution/pipeline.js';
import { LIVE_NOT_CHECKED } from '../src/check/live-check.js';
import { stateFromObjects } from '../src/ipam/from-objects.js';
import { parseIpamText, type LoadedFiles } from '../src/ipam/ipam-files.js';
import { IpamStore } from '../src/ipam/ipam-store.js';
import { buildApp } from '../src/server/app.js';

const here = dirname(fileURLToPath(import.meta.url));
const apps: FastifyInstance[] = [];
afterEach(async () => {
  for (const a of apps.splice(0)) await a.close();
});

function app(fixture?: string): FastifyInstance {
  const store = new IpamStore();
  if (fixture) {
    const loaded: LoadedFiles = { items: [], configs: [], problems: [] };
    parseIpamText(fixture, readFileSync(join(here, 'fixtures', 'check', fixture), 'utf8'), loaded);
    const { state, problems } = stateFromObjects({ objects: loaded.items, configs: loaded.configs });
    expect([...loaded.problems, ...problems]).toEqual([]);
    expect(store.update(state, fixture)).toBeDefined();
  }
  const a = buildApp({ registry: new Registry(), pipeline: new AttributionPipeline({ registry: new Registry() }), store, waitingFor: () => [] });
  apps.push(a);
  return a;
}

describe('/api/v1/check', () => {
  it('reports the stale CiliumNodes of the state in force, and lists what it cannot check without the objects', async () => {
    const res = await app('stale-ciliumnodes-after-pool-change.yaml').inject({ method: 'GET', url: '/api/v1/check' });
    expect(res.statusCode).toBe(200);
    const body = res.json() as { checkedFrom: string; notChecked: string[]; counts: Record<string, number>; findings: Array<{ severity: string; code: string; objects: string[] }> };
    expect(body.checkedFrom).toBe('state');
    expect(body.notChecked).toEqual([...LIVE_NOT_CHECKED]);
    expect(body.counts).toEqual({ error: 3, warning: 0, info: 0 });
    expect(body.findings.map((f) => `${f.severity} ${f.code} ${f.objects.join(' + ')}`)).toEqual([
      'error ciliumnode-cidr-outside-pools CiliumNode worker-2 + ConfigMap kube-system/cilium-config',
      'error ciliumnode-cidr-outside-pools CiliumNode worker-3 + ConfigMap kube-system/cilium-config',
      'error cluster-pool-cidr-removed ConfigMap kube-system/cilium-config',
    ]);
  });

  it('503 before any IPAM state; 400 naming an unknown parameter', async () => {
    const a = app();
    const none = await a.inject({ method: 'GET', url: '/api/v1/check' });
    expect(none.statusCode).toBe(503);
    expect(none.json()).toEqual({ error: 'there is no IPAM state yet: nothing to check until a valid one loads' });
    const bad = await a.inject({ method: 'GET', url: '/api/v1/check?severity=error' });
    expect(bad.statusCode).toBe(400);
    expect((bad.json() as { error: string }).error).toContain('severity');
  });
});
