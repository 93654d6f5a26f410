import type { Registry } from 'prom-client';

/**
 * A labelled Prometheus counter for the per-flow path. prom-client's own
 * counters hash the label object on every increment; here a label set is
 * resolved to a series id once (`series()`, string work) and every flow after
 * that adds to a typed array slot (`inc(id)`, no allocation). It speaks
 * prom-client's metric interface, so a Registry renders it like any other.
 */
export class SeriesCounter<N extends readonly string[]> {
  readonly type = 'counter';
  readonly aggregator = 'sum';
  private values = new Float64Array(256);
  private readonly labelSets: Array<Record<string, string>> = [];
  private readonly ids = new Map<string, number>();

  constructor(
    public name: string,
    readonly help: string,
    readonly labelNames: N,
    registry?: Registry,
  ) {
    registry?.registerMetric(this as never);
  }

  /** The id of a label set, in `labelNames` order; creates the series at 0 on first use. */
  series(values: { [K in keyof N]: string }): number {
    const key = (values as readonly string[]).join('\u0000');
    let id = this.ids.get(key);
    if (id === undefined) {
      id = this.labelSets.length;
      const labels: Record<string, string> = {};
      this.labelNames.forEach((n, i) => (labels[n] = (values as readonly string[])[i]!));
      this.labelSets.push(labels);
      this.ids.set(key, id);
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

  /** Current value of a series (for tests and reports). */
  value(values: { [K in keyof N]: string }): number {
    const id = this.ids.get((values as readonly string[]).join('\u0000'));
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
