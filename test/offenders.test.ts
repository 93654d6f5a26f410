import { describe, expect, it } from 'vitest';
import { Attribution } from '../src/attribution/classifier.js';
import { OffenderTracker } from '../src/attribution/offenders.js';
import { IpAddr, parseIpInto } from '../src/net/ip.js';

const stale = new Attribution('stale', 'legacy', 'worker-1', 1, undefined, true, 1);
const ip = (s: string) => {
  const a = new IpAddr();
  parseIpInto(s, a);
  return a;
};

describe('offender tracker', () => {
  it('keeps the most active addresses when it sheds a batch, and counts what it drops', () => {
    const t = new OffenderTracker(60, 4); // sheds to 4 when a 6th address arrives
    const flows: Array<[string, number]> = [['10.0.0.1', 5], ['10.0.0.2', 1], ['10.0.0.3', 3], ['10.0.0.4', 2], ['10.0.0.5', 4]];
    for (const [a, n] of flows) for (let i = 0; i < n; i++) t.record(stale, ip(a), 'ns', 'pod', 2, 1000);
    expect(t.size).toBe(5);
    t.record(stale, ip('10.0.0.6'), 'ns', 'pod-6', 2, 1000);
    expect(t.evicted).toBe(1);
    expect(t.all().map((o) => o.ip).sort()).toEqual(['10.0.0.1', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6']);
    expect(t.all().find((o) => o.ip === '10.0.0.6')?.total).toBe(1); // the newcomer's first flow counted
  });

  it('drops the least recently seen among equally active ones, and a reused entry starts clean', () => {
    const t = new OffenderTracker(60, 2); // sheds to 2 when a 4th address arrives
    t.record(stale, ip('10.0.0.1'), 'ns', 'old', 2, 1000);
    t.record(stale, ip('10.0.0.2'), 'ns', 'b', 2, 1001);
    t.record(stale, ip('fd00::3'), 'ns', 'c', 2, 1002);
    t.record(stale, ip('10.0.0.4'), '', '', 1, 1003);
    expect(t.evicted).toBe(1);
    const all = t.all();
    expect(all.map((o) => o.ip)).toEqual(['10.0.0.4', 'fd00::3', '10.0.0.2']);
    // 10.0.0.4 took 10.0.0.1's dropped entry: nothing of the old address is left.
    expect(all[0]!.summary()).toEqual({
      status: 'stale',
      ip: '10.0.0.4',
      pod: '',
      namespace: '',
      node: 'worker-1',
      pool: 'legacy',
      flows: 1,
      byVerdict: { FORWARDED: 1 },
      firstSeen: new Date(1003_000).toISOString(),
      lastSeen: new Date(1003_000).toISOString(),
    });
  });
});
