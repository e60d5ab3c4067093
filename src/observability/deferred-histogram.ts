// A histogram family counted in plain arrays per label set and read by the registry like one of its own metrics
// (`get`, `remove`, `reset`), as message-metrics' TallyFamily is: an observation is a Map lookup, a bucket search and
// three additions, without prom-client's per-call label validation and label hashing (a bound `labels()` child does
// both on every observe too, in prom-client 15), and nothing of prom-client's internals is read or written.
import type { Metric, Registry } from "prom-client";

export interface DeferredHistogramOptions<L extends string> {
  name: string;
  help: string;
  /** The labels every observation carries (each series' labels object comes from `observe`, in this order). */
  labelNames: readonly L[];
  /** Bucket upper bounds, ascending (an observation equal to a bound falls in it, as in prom-client). */
  buckets: readonly number[];
  registers: readonly Registry[];
}

/** One label set's counts since it was first observed (or last removed). */
interface Series<L extends string> {
  readonly labels: Partial<Record<L, string>>;
  /** Counts per bucket upper bound (the last slot: above every bound), not cumulative. */
  readonly buckets: Float64Array;
  sum: number;
  count: number;
}

type SampleLabels = Record<string, string | number>;
interface Sample {
  value: number;
  labels: SampleLabels;
  metricName: string;
}

export class DeferredHistogram<L extends string> {
  readonly type = "histogram";
  /** Cluster workers' series are added up, as prom-client's histograms are. */
  readonly aggregator = "sum";
  readonly name: string;
  readonly help: string;
  readonly #bounds: readonly number[];
  readonly #series = new Map<string, Series<L>>();

  constructor(options: DeferredHistogramOptions<L>) {
    this.name = options.name;
    this.help = options.help;
    this.#bounds = options.buckets;
    // Duck-typed: the registry only calls get/remove/reset and reads name, help, type and aggregator.
    for (const registry of options.registers) registry.registerMetric(this as unknown as Metric);
  }

  /** One observation under `key` if that label set was seen before (no closure per event); else false. */
  observeSeen(key: string, value: number): boolean {
    const series = this.#series.get(key);
    if (series === undefined) return false;
    this.#count(series, value);
    return true;
  }

  /** One observation under `key` (a label set's identity); `labels` builds the set the first time the key is seen. */
  observe(key: string, labels: () => Partial<Record<L, string>>, value: number): void {
    let series = this.#series.get(key);
    if (series === undefined) {
      series = { labels: labels(), buckets: new Float64Array(this.#bounds.length + 1), sum: 0, count: 0 };
      this.#series.set(key, series);
    }
    this.#count(series, value);
  }

  #count(series: Series<L>, value: number): void {
    const bounds = this.#bounds;
    let i = 0;
    while (i < bounds.length && value > (bounds[i] as number)) i++;
    series.buckets[i] = (series.buckets[i] as number) + 1;
    series.sum += value;
    series.count++;
  }

  /** Drops the label sets `gone` says are no longer configured. */
  forget(gone: (labels: Partial<Record<L, string>>) => boolean): void {
    for (const [key, series] of this.#series) if (gone(series.labels)) this.#series.delete(key);
  }

  // The registry awaits what `get` returns; a promise is what its own metrics give.
  get(): Promise<{ name: string; help: string; type: string; values: Sample[]; aggregator: string }> {
    const { name, help, type, aggregator } = this;
    const values: Sample[] = [];
    for (const series of this.#series.values()) this.#samplesOf(series, values);
    return Promise.resolve({ name, help, type, values, aggregator });
  }

  /** Removes the series whose labels are exactly `labels` (GatewayMetrics.keepOnly, prom-client's `remove`). */
  remove(labels: SampleLabels): void {
    for (const [key, series] of this.#series) if (sameLabels(series.labels, labels)) this.#series.delete(key);
  }

  reset(): void {
    this.#series.clear();
  }

  #samplesOf(series: Series<L>, into: Sample[]): void {
    const bounds = this.#bounds;
    const labels = series.labels as SampleLabels;
    // `le` first, as prom-client writes it: scrapes read the same as before.
    const bucket = `${this.name}_bucket`;
    let cumulative = 0;
    for (let i = 0; i < bounds.length; i++) {
      cumulative += series.buckets[i] as number;
      into.push({ metricName: bucket, labels: { le: bounds[i] as number, ...labels }, value: cumulative });
    }
    cumulative += series.buckets[bounds.length] as number;
    into.push({ metricName: bucket, labels: { le: "+Inf", ...labels }, value: cumulative });
    into.push({ metricName: `${this.name}_sum`, labels, value: series.sum });
    into.push({ metricName: `${this.name}_count`, labels, value: series.count });
  }
}

function sameLabels(own: Record<string, string | undefined>, asked: SampleLabels): boolean {
  const names = Object.keys(asked);
  if (names.length !== Object.keys(own).length) return false;
  return names.every((name) => own[name] !== undefined && String(own[name]) === String(asked[name]));
}
