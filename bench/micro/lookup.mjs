/**
 * IPAM lookups per second: IpamSnapshot.resolveIndex (what the classifier
 * calls per flow side) on random addresses that hit (pod addresses inside the
 * nodes' allocations, half IPv4, half IPv6), at 3 nodes and at 5,000 nodes of
 * the same dual-stack layout, in one process with the same code (so that only
 * the data differs), the cases' rounds interleaved. Median of 5.
 *
 *   node bench/micro/lookup.mjs [--queries 100000] [--runs 5] [--large 5000]
 */
import { stateFromObjects } from '../../dist/ipam/from-objects.js';
import { IpamSnapshot } from '../../dist/ipam/snapshot.js';
import { IpAddr } from '../../dist/net/ip.js';
import { Rng } from '../../dist/sim/rng.js';
import { num } from '../lib/args.mjs';
import { clusterConfig, nodeV4Base } from '../lib/cluster.mjs';
import { failOnError, microArgs, report } from '../lib/micro.mjs';
import { median } from '../lib/stats.mjs';

failOnError();
const args = microArgs();
const queries = num(args.queries, 100_000);
const runs = num(args.runs, 5);
const large = num(args.large, 5000);

function snapshotOf(nodes) {
  const { state, problems } = stateFromObjects({ objects: [], configs: [{ config: clusterConfig(nodes), where: 'bench' }] });
  if (problems.length > 0) throw new Error(`bad generated IPAM: ${JSON.stringify(problems[0])}`);
  return IpamSnapshot.build(state);
}

/**
 * `queries` pod addresses spread over `nodes` nodes (/24 and /64 per node),
 * packed five words each: family, then the IPv4 address or the IPv6 words.
 * The service resolves addresses the decoder has just written into its one
 * reused FlowRecord; timing a lookup per object of a 100,000-object array
 * would stream ~15 MB of query objects through the cache instead.
 */
function podAddresses(nodes) {
  const r = new Rng(42);
  const out = new Uint32Array(queries * 5);
  for (let q = 0; q < queries; q++) {
    const n = r.int(nodes);
    const at = q * 5;
    if (q % 2 === 0) {
      out[at] = 4;
      out[at + 1] = nodeV4Base(n, 24) + 2 + r.int(250);
    } else {
      out[at] = 6;
      out[at + 1] = 0xfd000010; // fd00:10:0:<n>::/64
      out[at + 2] = n;
      out[at + 3] = r.u32();
      out[at + 4] = r.u32() | 2;
    }
  }
  return out;
}

/** The packed queries of one family. */
function ofFamily(qs, family) {
  const out = [];
  for (let at = 0; at < qs.length; at += 5) if (qs[at] === family) out.push(...qs.subarray(at, at + 5));
  return Uint32Array.from(out);
}

/** Writes packed query `at` into `a`, as the decoder writes a flow's address. */
function load(qs, at, a) {
  a.family = qs[at];
  if (a.family === 4) a.v4 = qs[at + 1];
  else {
    a.v6[0] = qs[at + 1];
    a.v6[1] = qs[at + 2];
    a.v6[2] = qs[at + 3];
    a.v6[3] = qs[at + 4];
  }
}

/** Lookups per second of `snap` over packed `qs`: each round is enough passes for ~200 ms. */
function timer(snap, qs) {
  const a = new IpAddr();
  for (let at = 0; at < qs.length; at += 5) {
    load(qs, at, a);
    if (snap.resolve(a)?.status !== 'current') throw new Error('a query address did not hit a node allocation');
  }
  let passes = 0;
  let sink = 0;
  return () => {
    const n = passes || 1;
    const t = process.hrtime.bigint();
    for (let p = 0; p < n; p++) {
      for (let at = 0; at < qs.length; at += 5) {
        load(qs, at, a);
        sink += snap.resolveIndex(a);
      }
    }
    const s = Number(process.hrtime.bigint() - t) / 1e9;
    if (sink < 0) console.log(sink);
    if (passes === 0) {
      passes = Math.max(1, Math.round(0.2 / s)); // the first round warms up and sizes the others
      return undefined;
    }
    return ((n * qs.length) / 5) / s;
  };
}

/** Median of `runs` rounds per case, the cases' rounds interleaved. */
function measureAll(cases) {
  const rounds = cases.map(() => []);
  for (let i = 0; i < runs + 1; i++) {
    cases.forEach((c, j) => {
      const r = c();
      if (r !== undefined) rounds[j].push(r);
    });
  }
  return rounds.map((all) => ({ perSecond: median(all), all }));
}

const small = snapshotOf(3);
const big = snapshotOf(large);
const qSmall = podAddresses(3);
const qBig = podAddresses(large);
// Diagnostic: the large snapshot queried only within 3 nodes' CIDRs (a hot corner of the trie).
const [mixS, mixB, hotB, v4S, v4B, v6S, v6B] = measureAll([
  timer(small, qSmall),
  timer(big, qBig),
  timer(big, qSmall),
  timer(small, ofFamily(qSmall, 4)),
  timer(big, ofFamily(qBig, 4)),
  timer(small, ofFamily(qSmall, 6)),
  timer(big, ofFamily(qBig, 6)),
]);
const a = new IpAddr();
const steps = (snap, qs, f) => {
  load(ofFamily(qs, f), 0, a);
  return snap.lookupCost(a);
};
const about = (snap, qs) => ({ trieSteps: { ipv4: steps(snap, qs, 4), ipv6: steps(snap, qs, 6) }, prefixes: snap.infos.length, trie: snap.trieMemory() });
report({
  queries,
  small: { nodes: 3, ...mixS, ipv4PerSecond: v4S.perSecond, ipv6PerSecond: v6S.perSecond, ...about(small, qSmall) },
  large: { nodes: large, ...mixB, ipv4PerSecond: v4B.perSecond, ipv6PerSecond: v6B.perSecond, ...about(big, qBig) },
  costRatio: mixS.perSecond / mixB.perSecond,
  largeHotPerSecond: hotB.perSecond,
  costRatioIpv4: v4S.perSecond / v4B.perSecond,
  costRatioIpv6: v6S.perSecond / v6B.perSecond,
});
