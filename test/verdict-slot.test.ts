import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { AttributionPipeline } from '../src/attribution/pipeline.js';
import { verdictSlot, verdictSlotLabel } from '../src/attribution/verdict-slot.js';
import { FlowRecord } from '../src/ingest/flow-record.js';

describe('verdict numbers Hubble may add later', () => {
  it('0..14 keep their own slot; 15 and above (and negatives) share the overflow slot; none lands on another verdict', () => {
    expect(Array.from({ length: 21 }, (_, v) => verdictSlot(v))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 15, 15, 15, 15, 15]);
    expect(verdictSlot(-1)).toBe(15);
    expect(verdictSlot(2 ** 32 - 1)).toBe(15);
    expect([0, 1, 2, 7, 8, 14, 15].map(verdictSlotLabel)).toEqual(['VERDICT_UNKNOWN', 'FORWARDED', 'DROPPED', 'TRANSLATED', '8', '14', '15+']);
  });

  it('flows_total counts verdict 17 under "15+" and verdict 9 under "9", not under FORWARDED', async () => {
    const registry = new Registry();
    const pipeline = new AttributionPipeline({ registry, windowSec: 3600 });
    const rec = new FlowRecord();
    for (const [verdict, n] of [[1, 3], [9, 2], [17, 4], [33, 1]] as const) {
      for (let i = 0; i < n; i++) {
        rec.clear();
        rec.timeSeconds = Math.floor(Date.now() / 1000);
        rec.verdict = verdict;
        pipeline.flow(rec);
      }
    }
    const lines = (await registry.metrics()).split('\n').filter((l) => l.startsWith('hubble_ipam_flows_total{side="source"'));
    const byVerdict = Object.fromEntries(lines.map((l) => [/verdict="([^"]*)"/.exec(l)![1], Number(l.split(' ').pop())]));
    expect(byVerdict).toEqual({ FORWARDED: 3, '9': 2, '15+': 5 });
  });
});
