/**
 * A metric's labels as ONE ordered list of `[name, getter]` pairs (after
 * Hubble's metrics `ContextOptions`): the name of a label and the code that
 * gives its value sit side by side, so they cannot drift apart, and the order
 * of the list is the order of the label names on /metrics.
 */
export type LabelPair<T> = readonly [name: string, value: (x: T) => string];

export class Labels<T> {
  /** Label names, in order: what a prom-client metric takes as `labelNames`. */
  readonly names: readonly string[];

  constructor(readonly pairs: ReadonlyArray<LabelPair<T>>) {
    this.names = pairs.map((p) => p[0]);
    const dup = this.names.find((n, i) => this.names.indexOf(n) !== i);
    if (dup !== undefined) throw new Error(`label '${dup}' is listed twice; a metric's label names must be distinct`);
  }

  /** The label values of `x`, in `names` order. */
  values(x: T): string[] {
    return this.pairs.map((p) => p[1](x));
  }

  /** `{name: value}` of `x`: what prom-client's `set`/`inc` take. */
  of(x: T): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [name, value] of this.pairs) out[name] = value(x);
    return out;
  }
}

/** `labels<Row>(['pool', (r) => r.pool], ['family', (r) => r.family])`. */
export function labels<T>(...pairs: Array<LabelPair<T>>): Labels<T> {
  return new Labels(pairs);
}
