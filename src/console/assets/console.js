// The migration console: reads only the exporter's JSON API, every POLL_MS.
// Filters live in the URL hash (#status=stale&node=kind-worker) so a view can be linked.
const POLL_MS = 2000;
const FILTERS = ['status', 'pool', 'node', 'namespace'];
const $ = (id) => document.getElementById(id);

/** An element with attributes and children (strings become text: data never goes through innerHTML). */
function h(tag, attrs, ...kids) {
  const e = document.createElementNS(tag === 'svg' || tag === 'polyline' ? 'http://www.w3.org/2000/svg' : 'http://www.w3.org/1999/xhtml', tag);
  for (const [k, v] of Object.entries(attrs ?? {})) if (v !== undefined && v !== null && v !== false) e.setAttribute(k, String(v));
  for (const k of kids.flat()) if (k !== undefined && k !== null) e.append(k instanceof Node ? k : String(k));
  return e;
}
const fmt = (n) => (n === null || n === undefined ? '–' : Number(n).toLocaleString('en-US'));
const pct = (r) => (r === null || r === undefined ? '–' : `${Math.round(r * 100)}%`);
const table = (head, rows, attrs) => h('table', attrs, h('thead', null, h('tr', null, head.map(([t, n]) => h('th', { class: n ? 'n' : null }, t)))), h('tbody', null, rows));

function filters() {
  const p = new URLSearchParams(location.hash.slice(1));
  const f = {};
  for (const k of FILTERS) if (p.get(k)) f[k] = p.get(k);
  return f;
}
function setFilter(k, v) {
  const p = new URLSearchParams(location.hash.slice(1));
  if (v) p.set(k, v); else p.delete(k);
  location.hash = p.toString();
}
for (const el of document.querySelectorAll('[data-filter]')) el.addEventListener('change', () => setFilter(el.dataset.filter, el.value));
window.addEventListener('hashchange', () => refresh());

async function get(path) {
  const r = await fetch(path, { cache: 'no-store' });
  const body = await r.json();
  if (!r.ok && r.status !== 503) throw new Error(`${path}: ${body.error ?? r.status}`);
  return body;
}

function options(sel, values) {
  const cur = filters()[sel.dataset.filter] ?? '';
  const want = ['', ...new Set([...values, ...(cur ? [cur] : [])])];
  if ([...sel.options].map((o) => o.value).join('\n') !== want.join('\n')) sel.replaceChildren(...want.map((v) => h('option', { value: v }, v || 'all')));
  sel.value = cur;
}

function renderHealth(s) {
  const relay = s.relay?.state ?? 'none';
  const dot = relay === 'streaming' ? 'ok' : relay === 'closed' ? 'warn' : 'bad';
  $('health').replaceChildren(...[
    h('span', { 'data-testid': 'relay' }, h('i', { class: `dot ${dot}` }), s.scope?.mode === 'per-node' ? 'agent ' : 'relay ', h('b', null, relay)),
    s.scope?.mode === 'per-node' ? h('span', { 'data-testid': 'scope', title: 'per-node mode: this exporter shows its node\'s share; Prometheus adds the exporters up' }, 'node ', h('b', null, s.scope.node)) : null,
    h('span', null, 'flows/s ', h('b', { 'data-testid': 'rate' }, s.flows.perSecond === null ? '–' : fmt(Math.round(s.flows.perSecond)))),
    h('span', null, 'flows ', h('b', { 'data-testid': 'flows' }, fmt(s.flows.total))),
    h('span', null, 'lost events ', h('b', { 'data-testid': 'lost' }, fmt(s.lostEvents.total))),
    h('span', null, 'IPAM ', h('b', { 'data-testid': 'ipam' }, `${s.ipam.mode ?? 'none'} v${s.ipam.version ?? '–'}`), ` from ${s.ipam.source ?? '–'}`),
    h('span', { class: s.ipam.lastError ? 'error' : null, 'data-testid': 'ipam-error', title: s.ipam.lastError?.message ?? '' }, s.ipam.lastError ? `IPAM error (${s.ipam.errors}): ${s.ipam.lastError.message}` : 'no IPAM error'),
    s.relay?.lastError ? h('span', { class: 'error' }, `relay: ${s.relay.lastError}`) : null,
    s.ready ? null : h('span', { class: 'error' }, `waiting for ${s.waitingFor.join('; ')}`),
  ].filter(Boolean));
}

function spark(samples) {
  const pts = samples.filter(([, r]) => r !== null);
  if (pts.length < 2) return h('span', { class: 'muted' }, 'history builds up as samples arrive');
  const t0 = pts[0][0], t1 = pts.at(-1)[0], W = 220, H = 40;
  const xy = pts.map(([t, r]) => `${(((t - t0) / (t1 - t0 || 1)) * W).toFixed(1)},${(H - 2 - r * (H - 4)).toFixed(1)}`).join(' ');
  return h('svg', { class: 'spark', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `progress over ${Math.round((t1 - t0) / 60000)} min` }, h('polyline', { points: xy }));
}

function renderMigration(m, s) {
  const hist = new Map(s.progressHistory.pools.map((p) => [p.pool, p.samples]));
  if (m.draining.length === 0) return $('migration').replaceChildren(h('p', { class: 'muted' }, `no pool is draining (IPAM mode ${m.mode ?? 'none'})`));
  $('migration').replaceChildren(
    ...m.draining.map((d) =>
      h('div', { class: 'pool', 'data-pool': d.pool },
        h('div', { class: 'pct', 'data-testid': 'progress' }, pct(d.progressRatio)),
        h('div', null,
          h('div', null, h('b', null, d.pool), ` ${d.cidrs.join(', ')}`),
          h('div', { class: 'bar' }, h('i', { style: `width:${Math.round((d.progressRatio ?? 0) * 100)}%` })),
          h('div', { class: 'muted' }, d.podsLeft !== undefined ? `${d.podsLeft} pods left, ${d.podsOff} off` : `${d.workloadsMoved} of ${d.workloadsEverOn} workloads moved`, ` · ${d.staleEndpointsActive} stale endpoints talking`)),
        spark(hist.get(d.pool) ?? []))),
    h('p', { class: 'muted' }, `progress from ${m.progressSource}; history: one sample every ${s.progressHistory.sampleSeconds} s, last ${Math.round((s.progressHistory.sampleSeconds * s.progressHistory.maxSamples) / 60)} min`),
  );
}

function copyButton(text) {
  const b = h('button', { class: 'copy', type: 'button', title: 'copy to clipboard' }, 'copy');
  b.addEventListener('click', async () => {
    try { await navigator.clipboard.writeText(text); b.textContent = 'copied'; } catch { b.textContent = 'select it'; }
    setTimeout(() => (b.textContent = 'copy'), 1500);
  });
  return b;
}

function renderPlan(plan, anomalies, f) {
  if (plan.inventoryKnown) {
    $('plan-title').textContent = `Restart plan · ${plan.pods} pods`;
    const steps = new Map(plan.steps.map((s) => [s.order, s]));
    const nodes = plan.byNode
      .filter((n) => !f.node || n.node === f.node)
      .map((n) => ({ node: n.node, pods: n.pods.filter((p) => !f.status || p.status === f.status) }))
      .filter((n) => n.pods.length > 0);
    if (nodes.length === 0) return $('plan').replaceChildren(h('p', { class: 'muted' }, plan.pods === 0 ? 'nothing to restart: every pod is on a current address' : 'nothing to restart for these filters'));
    return $('plan').replaceChildren(...nodes.map((n) => {
      const cmds = [...new Set(n.pods.flatMap((p) => steps.get(p.step)?.commands ?? []))];
      return h('div', { class: 'node', 'data-node': n.node },
        h('h3', null, n.node),
        cmds.map((c) => h('div', { class: 'cmd' }, h('code', { 'data-testid': 'command' }, c), copyButton(c))),
        h('div', { class: 'pods' }, n.pods.map((p) => `${p.namespace}/${p.name} (${p.status}, ${p.flows > 0 ? `${fmt(p.flows)} flows, ${fmt(p.drops)} drops` : 'idle'})`).join(' · ')));
    }));
  }
  // No pods known yet: the offenders, grouped by node.
  $('plan-title').textContent = 'Offenders by node (no pods known: no restart plan yet)';
  const by = new Map();
  for (const a of anomalies.anomalies) (by.get(a.node) ?? by.set(a.node, []).get(a.node)).push(a);
  if (by.size === 0) return $('plan').replaceChildren(h('p', { class: 'muted' }, 'no offenders'));
  $('plan').replaceChildren(...[...by].map(([node, list]) => h('div', { class: 'node', 'data-node': node }, h('h3', null, node || '(unknown node)'), h('div', { class: 'pods' }, list.map((a) => `${a.namespace ? `${a.namespace}/` : ''}${a.pod || a.ip} (${a.status})`).join(' · ')))));
}

function renderPools(p) {
  const rows = [];
  // A pool with no capacity left (a draining pool whose CIDRs are gone) still gets its row, figures unknown.
  for (const pool of p.pools) for (const c of pool.capacity.length ? pool.capacity : [{ family: '', totalIps: null, allocatedIps: null, usedIps: null, activeIps: null }]) {
    const used = c.usedIps;
    rows.push(h('tr', { class: pool.state === 'draining' ? 'draining' : null, 'data-pool': pool.name, 'data-family': c.family },
      h('td', null, pool.name), h('td', null, c.family || '–'), h('td', null, pool.cidrs.join(', ') || '–'),
      h('td', { class: 'n', 'data-k': 'capacity' }, fmt(c.totalIps)), h('td', { class: 'n', 'data-k': 'allocated' }, fmt(c.allocatedIps)),
      h('td', { class: 'n', 'data-k': 'used' }, fmt(used)), h('td', { class: 'n', 'data-k': 'free' }, fmt(c.totalIps === null ? null : c.totalIps - c.allocatedIps)),
      h('td', { class: 'n', 'data-k': 'active' }, fmt(c.activeIps))));
  }
  $('pools').replaceChildren(rows.length ? table([['pool'], ['family'], ['CIDRs'], ['capacity', 1], ['allocated', 1], ['used', 1], ['free', 1], ['talking', 1]], rows) : h('p', { class: 'muted' }, 'no pools in the IPAM state'));
  options(document.querySelector('[data-filter=pool]'), p.pools.map((x) => x.name));
}

function renderOffenders(a) {
  $('window').textContent = `· flows in the last ${a.windowSeconds} s · ${a.total} address(es)${a.truncated ? `, first ${a.returned}` : ''}`;
  const rows = a.anomalies.map((o) => h('tr', { 'data-ip': o.ip },
    h('td', null, h('span', { class: `status ${o.status}` }, o.status)), h('td', { 'data-k': 'pod' }, o.pod || '–'), h('td', null, o.namespace || '–'),
    h('td', null, o.node || '–'), h('td', null, o.pool || '–'), h('td', null, o.ip),
    h('td', { class: 'n' }, fmt(Math.round(o.flowsInWindow))), h('td', { class: 'n' }, fmt(o.byVerdict.DROPPED ?? 0))));
  $('offenders').replaceChildren(rows.length ? table([['status'], ['pod'], ['namespace'], ['node'], ['pool'], ['address'], ['flows in window', 1], ['drops since first seen', 1]], rows) : h('p', { class: 'muted' }, 'no offenders for these filters'));
}

let busy = false;
async function refresh() {
  if (busy) return;
  busy = true;
  const f = filters();
  for (const el of document.querySelectorAll('[data-filter]')) if (el.tagName === 'INPUT' && document.activeElement !== el) el.value = f[el.dataset.filter] ?? '';
  try {
    const q = new URLSearchParams(f).toString();
    const [s, pools, m, plan, anomalies, nodes] = await Promise.all([get('/api/v1/summary'), get('/api/v1/pools'), get('/api/v1/migration'), get('/api/v1/restart-plan'), get(`/api/v1/anomalies${q ? `?${q}` : ''}`), get('/api/v1/nodes')]);
    renderHealth(s);
    renderMigration(m, s);
    renderPools(pools);
    renderPlan(plan, anomalies, f);
    renderOffenders(anomalies);
    options(document.querySelector('[data-filter=node]'), nodes.nodes.map((n) => n.name));
    options(document.querySelector('[data-filter=status]'), ['stale', 'unallocated', 'wrong_node', 'out_of_pool']);
    $('updated').textContent = `updated ${new Date().toLocaleTimeString()}`;
    document.body.dataset.updates = String(Number(document.body.dataset.updates ?? 0) + 1);
  } catch (e) {
    $('updated').replaceChildren(h('span', { class: 'error' }, `update failed: ${e.message}`));
  } finally {
    busy = false;
  }
}
refresh();
setInterval(refresh, POLL_MS);
