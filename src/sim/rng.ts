/**
 * Deterministic randomness addressable by index: `Rng.at(seed, i)` gives the
 * same sequence for the same (seed, i) in any process, so a restarted
 * simulated relay re-creates exactly the flows it sent before.
 */
function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d);
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b);
  return (x ^ (x >>> 16)) >>> 0;
}

export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = mix32(seed >>> 0 || 0x9e3779b9);
  }

  static at(seed: number, index: number): Rng {
    // Mix the high and low halves of the index so that large indexes differ too.
    const hi = Math.floor(index / 4294967296);
    return new Rng(mix32(seed ^ mix32(index >>> 0) ^ mix32(hi + 0x632be5ab)));
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x9e3779b9) >>> 0;
    return mix32(this.state) / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  pick<T>(xs: readonly T[]): T {
    if (xs.length === 0) throw new RangeError('pick from an empty list');
    return xs[this.int(xs.length)]!;
  }

  /** A random 32-bit unsigned integer. */
  u32(): number {
    return Math.floor(this.next() * 4294967296) >>> 0;
  }
}
