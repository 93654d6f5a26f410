/**
 * The peer: what a user would typically write instead. @grpc/proto-loader
 * loads our observer.proto, grpc-js decodes every response into a full
 * object, and per flow both addresses are parsed with ipaddr.js and matched
 * against the list of CIDRs (first match in rule order: service, node,
 * current, stale, unallocated), then a prom-client Counter with labels is
 * incremented once per side.
 *
 *   node bench/clients/peer.mjs --address 127.0.0.1:PORT --flows 1000000
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';
import ipaddr from 'ipaddr.js';
import { Counter, Registry } from 'prom-client';
import { StreamClock, clientOptions, failOnError, finish } from '../lib/client.mjs';
import { truthConfig } from '../lib/scenario.mjs';

failOnError();
const { address, flows } = clientOptions();
const protoDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'proto');

// The CIDR list, in the order the rules apply.
const cfg = truthConfig();
const rules = [];
const add = (cidr, status, pool, node) => {
  const range = cidr.includes('/') ? ipaddr.parseCIDR(cidr) : [ipaddr.parse(cidr), cidr.includes(':') ? 128 : 32];
  rules.push({ range, kind: range[0].kind(), status, pool, node });
};
for (const c of cfg.serviceCidrs) add(c, 'service', '', '');
for (const n of cfg.nodes) for (const a of n.addresses ?? []) add(a.ip, 'node', '', n.name);
for (const n of cfg.nodes) for (const a of n.allocations ?? []) for (const c of a.cidrs) add(c, 'current', a.pool, n.name);
for (const n of cfg.nodes) for (const f of n.former ?? []) for (const c of f.cidrs) add(c, 'stale', f.pool, n.name);
for (const p of cfg.pools) for (const c of p.cidrs) add(c, 'unallocated', p.name, '');

function classify(ip, ep) {
  if (!ip) return { status: 'unknown', pool: '', node: '' };
  const addr = ipaddr.parse(ip);
  const kind = addr.kind();
  for (const r of rules) if (r.kind === kind && addr.match(r.range)) return r;
  const pod = ep && (ep.pod_name || ep.labels.some((l) => l.startsWith('k8s:')));
  return { status: pod ? 'out_of_pool' : 'external', pool: '', node: '' };
}

const registry = new Registry();
const flowsTotal = new Counter({ name: 'hubble_ipam_flows_total', help: 'Flows by side, pool, node, status and verdict.', labelNames: ['side', 'pool', 'node', 'status', 'verdict'], registers: [registry] });

const def = protoLoader.loadSync('observer/observer.proto', { includeDirs: [protoDir], keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
const { observer } = grpc.loadPackageDefinition(def);
const client = new observer.Observer(address, grpc.credentials.createInsecure());
const clock = new StreamClock();
const call = client.GetFlows({ follow: true });
let n = 0;
call.on('data', (res) => {
  const flow = res.flow;
  if (!flow) return;
  n++;
  if (n === 1) clock.start(1);
  const src = classify(flow.IP?.source, flow.source);
  const dst = classify(flow.IP?.destination, flow.destination);
  flowsTotal.inc({ side: 'source', pool: src.pool, node: src.node, status: src.status, verdict: flow.verdict });
  flowsTotal.inc({ side: 'destination', pool: dst.pool, node: dst.node, status: dst.status, verdict: flow.verdict });
  if (n === flows) {
    const r = clock.end(n);
    call.cancel();
    client.close();
    finish({ client: 'peer', ...r });
  }
});
call.on('error', (e) => {
  if (n < flows) throw e;
});
