/**
 * A metric's labels are one ordered list of [name, getter] pairs: each
 * value comes from the getter next to its name, the order of the list is
 * the order of the names, and a name listed twice is refused.
 */
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { labels } from '../src/prom/labels.js';
import { SeriesCounter } from '../src/prom/series-counter.js';

interface Row {
  pool: string;
  family: 4 | 6;
}
const poolFamily = labels<Row>(['pool', (r) => r.pool], ['family', (r) => (r.family === 4 ? 'ipv4' : 'ipv6')]);

describe('labels as name and getter pairs', () => {
  it('names in list order, values from the getter beside each name', () => {
    expect(poolFamily.names).toEqual(['pool', 'family']);
    expect(poolFamily.of({ pool: 'legacy', family: 6 })).toEqual({ pool: 'legacy', family: 'ipv6' });
    expect(poolFamily.values({ pool: 'legacy', family: 4 })).toEqual(['legacy', 'ipv4']);
  });

  it('a name listed twice is refused', () => {
    expect(() => labels<Row>(['pool', (r) => r.pool], ['pool', (r) => String(r.family)])).toThrow("label 'pool' is listed twice; a metric's label names must be distinct");
  });

  it('SeriesCounter: one id per label set, rendered with the pairs\' names and values', async () => {
    const registry = new Registry();
    const c = new SeriesCounter('t_total', 'test', poolFamily, registry);
    const a = c.series({ pool: 'default', family: 4 });
    const b = c.series({ pool: 'default', family: 6 });
    expect(c.series({ pool: 'default', family: 4 })).toBe(a);
    expect(b).not.toBe(a);
    c.inc(a, 3);
    c.inc(b);
    expect(c.value({ pool: 'default', family: 4 })).toBe(3);
    expect(c.value({ pool: 'legacy', family: 4 })).toBe(0);
    expect(c.labelNames).toEqual(['pool', 'family']);
    expect(await registry.metrics()).toContain('t_total{pool="default",family="ipv4"} 3\nt_total{pool="default",family="ipv6"} 1');
  });
});
