/**
 * RSS over a soak run. RSS follows V8's GC sawtooth (the heap grows with
 * garbage until a full collection), so a single sample lands anywhere
 * between the trough and the peak of a cycle. Besides the samples at the half
 * and at the end, this gives:
 * - `maxSecondHalfMB`: the highest RSS sampled over the second half (what a
 *   memory limit must allow; never below the end sample);
 * - `trendGrowth`: growth over the second half from a least-squares line
 *   through its samples (a leak shows as a slope; the sawtooth averages out).
 */
export function summarizeSoak(res) {
  const samples = res.rss;
  const half = samples.reduce((best, x) => (Math.abs(x.flows - res.flows / 2) < Math.abs(best.flows - res.flows / 2) ? x : best));
  const end = samples.at(-1);
  const second = samples.filter((x) => x.flows >= half.flows);
  const n = second.length;
  const mx = second.reduce((a, x) => a + x.flows, 0) / n;
  const my = second.reduce((a, x) => a + x.rssMB, 0) / n;
  const slope = second.reduce((a, x) => a + (x.flows - mx) * (x.rssMB - my), 0) / second.reduce((a, x) => a + (x.flows - mx) ** 2, 0);
  const fitAt = (f) => my + slope * (f - mx);
  return {
    flows: res.flows,
    seconds: res.seconds,
    rate: res.rate,
    halfFlows: half.flows,
    halfRssMB: half.rssMB,
    endRssMB: end.rssMB,
    sampleGrowth: (end.rssMB - half.rssMB) / half.rssMB,
    maxSecondHalfMB: Math.max(...second.map((x) => x.rssMB)),
    minSecondHalfMB: Math.min(...second.map((x) => x.rssMB)),
    trendGrowth: (fitAt(end.flows) - fitAt(half.flows)) / fitAt(half.flows),
    heapUsedMinMB: Math.min(...samples.map((x) => x.heapUsedMB)),
    heapUsedMaxMB: Math.max(...samples.map((x) => x.heapUsedMB)),
    maxRssMB: res.maxRssMB,
    offenders: res.offenders,
    offendersEvicted: res.offendersEvicted,
    samples,
  };
}
