/** Top functions by self time of a V8 .cpuprofile (as `node --cpu-prof` writes it). */
import { readFileSync } from 'node:fs';

export function topSelf(file, n = 12, root = process.cwd()) {
  const p = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(p.nodes.map((x) => [x.id, x]));
  const selfUs = new Map();
  for (let i = 0; i < p.samples.length; i++) selfUs.set(p.samples[i], (selfUs.get(p.samples[i]) ?? 0) + (p.timeDeltas[i] ?? 0));
  const byFn = new Map();
  let total = 0;
  for (const [id, us] of selfUs) {
    const cf = byId.get(id).callFrame;
    const url = cf.url.replace(/^file:\/\//, '').replace(`${root}/`, '');
    const key = cf.url ? `${cf.functionName || '(anonymous)'} ${url}:${cf.lineNumber + 1}` : cf.functionName;
    byFn.set(key, (byFn.get(key) ?? 0) + us);
    total += us;
  }
  return [...byFn]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([fn, us]) => ({ fn, selfMs: Math.round(us / 1000), share: Math.round((us / total) * 1000) / 10 }));
}

/**
 * Self time by area: the exporter (dist/), grpc-js, protobuf, ipaddr.js,
 * prom-client, Node's JS internals (streams, buffers, events), GC, native
 * (C++: HTTP/2, builtins) and idle, in % of the profile.
 */
export function byArea(file) {
  const p = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(p.nodes.map((x) => [x.id, x]));
  const areas = new Map();
  let total = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const cf = byId.get(p.samples[i]).callFrame;
    const us = p.timeDeltas[i] ?? 0;
    const url = cf.url;
    const area =
      cf.functionName === '(idle)' ? 'idle'
      : cf.functionName === '(garbage collector)' ? 'gc'
      : !url && cf.functionName.includes('$') ? 'protobuf' // protobufjs's generated Type$decode, Type$toObject
      : cf.functionName === '(program)' || !url ? 'native'
      : url.includes('/dist/') ? 'exporter (dist/)'
      : url.includes('@grpc/grpc-js') ? 'grpc-js'
      : url.includes('protobuf') ? 'protobuf'
      : url.includes('ipaddr.js') ? 'ipaddr.js'
      : url.includes('prom-client') ? 'prom-client'
      : url.includes('/bench/') ? 'bench'
      : url.startsWith('node:') ? 'node internals'
      : 'other';
    areas.set(area, (areas.get(area) ?? 0) + us);
    total += us;
  }
  return Object.fromEntries([...areas].sort((a, b) => b[1] - a[1]).map(([k, us]) => [k, Math.round((us / total) * 1000) / 10]));
}

/** Top allocation sites of a sampling .heapprofile: bytes allocated and share, per function. */
export function topAllocations(file, n = 12, root = process.cwd()) {
  const p = JSON.parse(readFileSync(file, 'utf8'));
  const bySite = new Map();
  let total = 0;
  const walk = (node) => {
    const cf = node.callFrame;
    if (node.selfSize > 0) {
      const url = cf.url.replace(/^file:\/\//, '').replace(`${root}/`, '');
      const key = url ? `${cf.functionName || '(anonymous)'} ${url}:${cf.lineNumber + 1}` : `${cf.functionName || '(anonymous)'} (builtin)`;
      bySite.set(key, (bySite.get(key) ?? 0) + node.selfSize);
      total += node.selfSize;
    }
    for (const c of node.children) walk(c);
  };
  walk(p.head);
  return {
    totalBytes: total,
    top: [...bySite]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([fn, bytes]) => ({ fn, mb: Math.round(bytes / 1048576), share: Math.round((bytes / total) * 1000) / 10 })),
  };
}
