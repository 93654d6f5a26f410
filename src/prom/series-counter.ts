import type { Registry } from 'prom-client';
import { IdTable } from '../util/id-table.js';
import type { Labels } from './labels.js';

/**
 * A labelled Prometheus counter for the per-flow path. prom-client's own
 * counters hash the label object on every increment; here a label set is
 * resolved to a series id once (`series()`, string work) and every flow after
 * that adds to a typed array slot (`inc(id)`, no allocation). Its labels are
 * one `Labels<T>` list of name and getter pairs: `series(x)` takes the thing
 * the labels describe, never loose values. It speaks prom-client's metric
 * interface, so a Registry renders it like any other.
 */
export class SeriesCounter<T> {
  readonly type = 'counter';
  readonly aggregator = 'sum';
  private values = new Float64Array(256);
  private readonly labelSets: Array<Record<string, string>> = [];
  private readonly ids = new IdTable<string>();

  constructor(
    public name: string,
    readonly help: string,
    readonly labels: Labels<T>,
    registry?: Registry,
  ) {
    registry?.registerMetric(this as never);
  }

  get labelNames(): readonly string[] {
    return this.labels.names;
  }

  /** The id of `x`'s label set; creates the series at 0 on first use. */
  series(x: T): number {
    const values = this.labels.values(x);
    const before = this.ids.size;
    const id = this.ids.idOf(values.join('\u0000'));
    if (id === before) {
      const set: Record<string, string> = {};
      this.labels.names.forEach((n, i) => (set[n] = values[i]!));
      this.labelSets.push(set);
      if (id === this.values.length) {
        const grown = new Float64Array(this.values.length * 2);
        grown.set(this.values);
        this.values = grown;
      }
    }
    return id;
  }

  inc(id: number, by = 1): void {
    this.values[id]! += by;
  }

  /** Current value of `x`'s series (0 when it has none). */
  value(x: T): number {
    const id = this.ids.find(this.labels.values(x).join('\u0000'));
    return id === undefined ? 0 : this.values[id]!;
  }

  /** Every series with its labels and value. */
  entries(): Array<{ labels: Record<string, string>; value: number }> {
    return this.labelSets.map((labels, i) => ({ labels, value: this.values[i]! }));
  }

  get seriesCount(): number {
    return this.labelSets.length;
  }

  async get() {
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: this.entries() };
  }

  reset(): void {
    this.values.fill(0);
  }
}
