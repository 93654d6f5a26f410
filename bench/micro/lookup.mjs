/**
 * IPAM lookups per second: IpamSnapshot.resolve on random addresses that hit
 * (pod addresses inside the nodes' allocations, half IPv4, half IPv6), at 3
 * nodes and at 5,000 nodes of the same dual-stack layout. Median of 5.
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

/** `queries` pod addresses spread over `nodes` nodes: /24 and /64 per node. */
function podAddresses(nodes) {
  const r = new Rng(42);
  const out = [];
  for (let q = 0; q < queries; q++) {
    const n = r.int(nodes);
    const a = new IpAddr();
    if (q % 2 === 0) {
      a.family = 4;
      a.v4 = nodeV4Base(n, 24) + 2 + r.int(250);
    } else {
      a.family = 6;
      a.v6[0] = 0xfd000010; // fd00:10:0:<n>::/64
      a.v6[1] = n;
      a.v6[2] = r.u32();
      a.v6[3] = r.u32() | 2;
    }
    out.push(a);
  }
  return out;
}

/** Lookups per second of `snap` over `addrs`: each round is enough passes for ~200 ms. */
function timer(snap, addrs) {
  for (const a of addrs) if (snap.resolve(a)?.status !== 'current') throw new Error('a query address did not hit a node allocation');
  let passes = 0;
  let sink = 0;
  return () => {
    const n = passes || 1;
    const t = process.hrtime.bigint();
    for (let p = 0; p < n; p++) for (let k = 0; k < addrs.length; k++) sink += snap.resolve(addrs[k]).index;
    const s = Number(process.hrtime.bigint() - t) / 1e9;
    if (sink < 0) console.log(sink);
    if (passes === 0) {
      passes = Math.max(1, Math.round(0.2 / s)); // the first round warms up and sizes the others
      return undefined;
    }
    return (n * addrs.length) / s;
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
const fam = (qs, f) => qs.filter((a) => a.family === f);
// Diagnostic: the 5,000-node snapshot queried only within 3 nodes' CIDRs (a hot corner of the trie).
const qBigHot = podAddresses(3);
const [mixS, mixB, hotB, v4S, v4B, v6S, v6B] = measureAll([
  timer(small, qSmall),
  timer(big, qBig),
  timer(big, qBigHot),
  timer(small, fam(qSmall, 4)),
  timer(big, fam(qBig, 4)),
  timer(small, fam(qSmall, 6)),
  timer(big, fam(qBig, 6)),
]);
const steps = (snap, qs, f) => snap.lookupCost(fam(qs, f)[0]);
// The trie's size: nodes and bytes per family.
const trieSize = (snap) => snap.trieMemory();
report({
  queries,
  small: { nodes: 3, ...mixS, ipv4PerSecond: v4S.perSecond, ipv6PerSecond: v6S.perSecond, trieSteps: { ipv4: steps(small, qSmall, 4), ipv6: steps(small, qSmall, 6) }, prefixes: small.infos.length, trie: trieSize(small) },
  large: { nodes: large, ...mixB, ipv4PerSecond: v4B.perSecond, ipv6PerSecond: v6B.perSecond, trieSteps: { ipv4: steps(big, qBig, 4), ipv6: steps(big, qBig, 6) }, prefixes: big.infos.length, trie: trieSize(big) },
  costRatio: mixS.perSecond / mixB.perSecond,
  largeHotPerSecond: hotB.perSecond,
  costRatioIpv4: v4S.perSecond / v4B.perSecond,
  costRatioIpv6: v6S.perSecond / v6B.perSecond,
});
