// Observations counted in plain arrays per label set and added to a prom-client histogram when it is read (its
// `collect`), the way DeferredCounts does for counters: an observation is a Map lookup, a bucket search and three
// additions, without prom-client's per-call label validation and label hashing (a bound `labels()` child does both
// on every observe too, in prom-client 15).
import type { Histogram } from "prom-client";

/** A prom-client 15 histogram's series, as `zero()` creates them and `get()` reads them. */
interface HistogramSeries {
  labels: object;
  bucketValues: Record<number, number>;
  sum: number;
  count: number;
}

interface HistogramInternals {
  hashMap?: Record<string, HistogramSeries>;
}

/** One label set's observations since the last read. */
interface PendingSeries<L extends string> {
  readonly labels: Partial<Record<L, string>>;
  /** Counts per bucket upper bound (the last slot: above every bound). */
  readonly buckets: Float64Array;
  sum: number;
  count: number;
}

export class DeferredHistogram<L extends string> {
  readonly #series = new Map<string, PendingSeries<L>>();
  /** Whether the histogram keeps its series as this class writes them; otherwise `observe` goes to it directly. */
  readonly #deferred: boolean;

  constructor(
    private readonly histogram: Histogram<L>,
    private readonly bounds: readonly number[],
  ) {
    const internals = histogram as unknown as HistogramInternals;
    this.#deferred = typeof internals.hashMap === "object" && internals.hashMap !== null;
  }

  /** One observation under `key` (a label set's identity); `labels` builds the set the first time the key is seen. */
  observe(key: string, labels: () => Partial<Record<L, string>>, value: number): void {
    let series = this.#series.get(key);
    if (series === undefined) {
      series = { labels: labels(), buckets: new Float64Array(this.bounds.length + 1), sum: 0, count: 0 };
      this.#series.set(key, series);
    }
    if (!this.#deferred) {
      this.histogram.observe(series.labels, value);
      return;
    }
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > (bounds[i] as number)) i++;
    series.buckets[i] = (series.buckets[i] as number) + 1;
    series.sum += value;
    series.count++;
  }

  /** Drops the label sets `gone` says are no longer configured (their series leave the histogram by `remove`). */
  forget(gone: (labels: Partial<Record<L, string>>) => boolean): void {
    for (const [key, series] of this.#series) if (gone(series.labels)) this.#series.delete(key);
  }

  /** Adds what was observed since the last read to the histogram's series; called from its `collect`. */
  flush(): void {
    if (!this.#deferred) return;
    let byLabels: Map<object, HistogramSeries> | undefined;
    for (const series of this.#series.values()) {
      if (series.count === 0) continue;
      byLabels ??= this.#histogramSeries();
      let target = byLabels.get(series.labels);
      if (target === undefined) {
        // A new label set, or one removed since: prom-client creates it (all buckets 0) with our labels object.
        this.histogram.zero(series.labels);
        byLabels = this.#histogramSeries();
        target = byLabels.get(series.labels);
        if (target === undefined) continue;
      }
      const bounds = this.bounds;
      for (let i = 0; i < bounds.length; i++) {
        const bound = bounds[i] as number;
        target.bucketValues[bound] = (target.bucketValues[bound] ?? 0) + (series.buckets[i] as number);
      }
      target.sum += series.sum;
      target.count += series.count;
      series.buckets.fill(0);
      series.sum = 0;
      series.count = 0;
    }
  }

  #histogramSeries(): Map<object, HistogramSeries> {
    const map = new Map<object, HistogramSeries>();
    const hashMap = (this.histogram as unknown as HistogramInternals).hashMap ?? {};
    for (const series of Object.values(hashMap)) map.set(series.labels, series);
    return map;
  }
}
