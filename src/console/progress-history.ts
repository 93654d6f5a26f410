/** One draining pool's progress at a moment: ms since the epoch, and the ratio of pods (or workloads) off the pool (null: unknown yet). */
export type ProgressSample = [atMs: number, ratio: number | null];

/** `ProgressHistory`: ms between two samples. Default 10 000 (10 s). */
export const HISTORY_SAMPLE_MS = 10_000;
/** `ProgressHistory`: samples kept per pool. Default 360 (one hour at 10 s). */
export const HISTORY_SAMPLES = 360;

export interface ProgressHistoryOptions {
  /** Ms between two samples. Default 10000 (HISTORY_SAMPLE_MS). */
  sampleMs?: number;
  /** Samples kept per pool, the oldest dropped first. Default 360 (HISTORY_SAMPLES). */
  samples?: number;
}

/** The options resolved, or an error naming the bad one. */
export function resolveHistoryOptions(o: ProgressHistoryOptions = {}): Required<ProgressHistoryOptions> {
  const sampleMs = o.sampleMs ?? HISTORY_SAMPLE_MS;
  const samples = o.samples ?? HISTORY_SAMPLES;
  if (!Number.isInteger(sampleMs) || sampleMs < 1) throw new Error(`console.sampleMs must be a whole number of ms ≥ 1; got ${sampleMs}`);
  if (!Number.isInteger(samples) || samples < 2) throw new Error(`console.samples must be a whole number ≥ 2; got ${samples}`);
  return { sampleMs, samples };
}

/**
 * Each draining pool's migration progress over the last `samples × sampleMs`,
 * kept in memory and bounded: a ring of `samples` per pool; pools that stop
 * draining are dropped at the next sample.
 */
export class ProgressHistory {
  private readonly byPool = new Map<string, ProgressSample[]>();

  constructor(private readonly max: number) {}

  /** Records one sample of every pool draining now. */
  record(atMs: number, draining: ReadonlyArray<{ pool: string; progressRatio: number | null }>): void {
    const seen = new Set<string>();
    for (const d of draining) {
      seen.add(d.pool);
      const ring = this.byPool.get(d.pool) ?? this.byPool.set(d.pool, []).get(d.pool)!;
      ring.push([atMs, d.progressRatio]);
      if (ring.length > this.max) ring.splice(0, ring.length - this.max);
    }
    for (const pool of [...this.byPool.keys()]) if (!seen.has(pool)) this.byPool.delete(pool);
  }

  /** Every pool's samples, oldest first. */
  pools(): Array<{ pool: string; samples: ProgressSample[] }> {
    return [...this.byPool].map(([pool, samples]) => ({ pool, samples: samples.slice() }));
  }
}
