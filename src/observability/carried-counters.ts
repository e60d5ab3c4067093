// Counter totals that go on across `wsgate upgrade`: the process being replaced sends a snapshot of its counter
// families (every series: labels and value), and the new one serves each of its own counters plus what was carried
// under the same labels, so that /metrics continues instead of starting again at 0 (which Prometheus would read as a
// reset). Gauges describe the live process and are not carried; nor are the process's own counters (CPU seconds).
//
// The carried values are added when a family is read (its `get`, which every scrape, the cluster's aggregation and
// the dashboard's reads go through), not put into the counters: some families are recomputed from scratch on every
// read (the relayed messages and bytes), and a counter's own state stays what this process counted.
import type { Registry } from "prom-client";

type Labels = Record<string, string | number>;

export interface CarriedSeries {
  labels: Labels;
  value: number;
}

/** One counter family's series, as the process being replaced served them. */
export interface CarriedFamily {
  name: string;
  series: CarriedSeries[];
}

export type CounterSnapshot = CarriedFamily[];

/** Families about the process itself (prom-client's default metrics): a new process starts its own. */
function describesProcess(name: string): boolean {
  return name.startsWith("wsgate_process_") || name.startsWith("wsgate_nodejs_");
}

interface Sample {
  labels: Labels;
  value: number;
  metricName?: string;
}

interface FamilyValues {
  name: string;
  help: string;
  type: string;
  aggregator: string;
  values: Sample[];
}

/** What the registry asks of a family, and what is wrapped here. */
interface ReadableFamily {
  get(): Promise<FamilyValues>;
  remove(...labels: unknown[]): void;
  readonly name: string;
  readonly type?: string;
  readonly labelNames?: readonly string[];
}

/** The registry's families as objects (prom-client's own and the duck-typed ones of message-metrics.ts). */
function familiesOf(registry: Registry): ReadableFamily[] {
  const families: ReadableFamily[] = [];
  for (const { name } of registry.getMetricsAsArray()) {
    const metric = registry.getSingleMetric(name);
    if (metric !== undefined) families.push(metric as unknown as ReadableFamily);
  }
  return families;
}

function seriesKey(labels: Labels): string {
  return JSON.stringify(
    Object.keys(labels)
      .sort()
      .map((name) => [name, String(labels[name])]),
  );
}

/** Every counter family of `registry` but the process's own, with each series's labels and value. */
export async function snapshotCounters(registry: Registry): Promise<CounterSnapshot> {
  const families: CounterSnapshot = [];
  for (const metric of familiesOf(registry)) {
    const family = await metric.get();
    if (family.type !== "counter" || describesProcess(family.name)) continue;
    const series = family.values
      .filter((sample) => sample.value > 0)
      .map((sample) => ({ labels: { ...sample.labels }, value: sample.value }));
    if (series.length > 0) families.push({ name: family.name, series });
  }
  return families;
}

/**
 * Several processes' snapshots as one, each series the sum of its values (a cluster's workers and primary, whose
 * /metrics sums them the same way).
 */
export function mergeCounterSnapshots(snapshots: readonly CounterSnapshot[]): CounterSnapshot {
  const families = new Map<string, Map<string, CarriedSeries>>();
  for (const snapshot of snapshots) {
    for (const family of snapshot) {
      const series = families.get(family.name) ?? new Map<string, CarriedSeries>();
      for (const { labels, value } of family.series) {
        const key = seriesKey(labels);
        const merged = series.get(key);
        if (merged === undefined) series.set(key, { labels: { ...labels }, value });
        else merged.value += value;
      }
      families.set(family.name, series);
    }
  }
  return [...families].map(([name, series]) => ({ name, series: [...series.values()] }));
}

function isLabels(value: unknown): value is Labels {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  return Object.values(value).every((label) => typeof label === "string" || typeof label === "number");
}

function isSeries(value: unknown): value is CarriedSeries {
  if (typeof value !== "object" || value === null) return false;
  const { labels, value: count } = value as Partial<CarriedSeries>;
  return isLabels(labels) && typeof count === "number" && Number.isFinite(count) && count >= 0;
}

/**
 * The snapshot's families as far as they are whole. It comes over a private channel from the process this one
 * replaces, maybe another build: a check of shape, not against an attacker.
 */
export function counterSnapshotOf(value: unknown): CounterSnapshot {
  if (!Array.isArray(value)) return [];
  const families: CounterSnapshot = [];
  for (const entry of value as unknown[]) {
    if (typeof entry !== "object" || entry === null) continue;
    const { name, series } = entry as Partial<CarriedFamily>;
    if (typeof name !== "string" || !Array.isArray(series)) continue;
    families.push({ name, series: series.filter(isSeries) });
  }
  return families;
}

/**
 * The carried totals of one gateway's registry. `wrap` makes every counter family read as its own series plus the
 * carried ones; until `carry` is given the snapshot (or `holdMs` passes), reads wait for it, so that nobody reads the
 * totals as having gone back. A series the registry drops (`remove`: a reload removed its server or route) drops its
 * carried value too.
 */
export class CarriedCounters {
  readonly #families = new Map<string, Map<string, CarriedSeries>>();
  #arrived: Promise<void> = Promise.resolve();
  #release: () => void = () => undefined;

  /** Reads of counters wait for `carry` from now, at most `holdMs`. */
  hold(holdMs: number): void {
    this.#arrived = new Promise((resolve) => {
      const timer = setTimeout(resolve, holdMs);
      timer.unref();
      this.#release = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /** The snapshot came (undefined: none will); reads go on with it. */
  carry(snapshot: CounterSnapshot | undefined): void {
    for (const family of snapshot ?? []) {
      const series = this.#families.get(family.name) ?? new Map<string, CarriedSeries>();
      for (const { labels, value } of family.series) {
        const key = seriesKey(labels);
        const carried = series.get(key);
        if (carried === undefined) series.set(key, { labels: { ...labels }, value });
        else carried.value += value;
      }
      this.#families.set(family.name, series);
    }
    this.#release();
  }

  /** The carried values of the family named so, by label set (for sums of one's own, e.g. the dashboard's). */
  seriesOf(name: string): Iterable<CarriedSeries> {
    return this.#families.get(name)?.values() ?? [];
  }

  /** Every counter family in `registry` now (the process's own excepted) reads with the carried values added. */
  wrap(registry: Registry): void {
    for (const family of familiesOf(registry)) this.#wrapFamily(family);
  }

  #wrapFamily(family: ReadableFamily): void {
    const name = family.name;
    if (family.type !== "counter" || describesProcess(name)) return;
    const ownGet = family.get.bind(family);
    const ownRemove = family.remove.bind(family);
    const labelNames = family.labelNames;
    family.get = async (): Promise<FamilyValues> => {
      await this.#arrived;
      const own = await ownGet();
      const carried = this.#families.get(name);
      if (carried === undefined || carried.size === 0) return own;
      return { ...own, values: withCarried(own.values, carried, labelNames) };
    };
    family.remove = (...labels: unknown[]): void => {
      const [first] = labels;
      if (labels.length === 1 && isLabels(first)) this.#families.get(name)?.delete(seriesKey(first));
      ownRemove(...labels);
    };
  }
}

/** A family's own samples with the carried ones added: to the same label set, else as a series of their own. */
function withCarried(
  own: readonly Sample[],
  carried: ReadonlyMap<string, CarriedSeries>,
  labelNames: readonly string[] | undefined,
): Sample[] {
  const values = own.map((sample) => ({ ...sample }));
  const index = new Map(values.map((sample, at) => [seriesKey(sample.labels), at]));
  for (const [key, series] of carried) {
    // A label this build's family does not have (renamed since): the series cannot be served as it is.
    if (labelNames !== undefined && !Object.keys(series.labels).every((label) => labelNames.includes(label))) continue;
    const at = index.get(key);
    const sample = at === undefined ? undefined : values[at];
    if (sample === undefined) values.push({ labels: { ...series.labels }, value: series.value });
    else sample.value += series.value;
  }
  return values;
}
