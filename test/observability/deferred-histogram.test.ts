// The handshake- and session-duration histograms count their observations themselves and the registry reads them as a
// family of their own: what a scrape shows must be what prom-client's own `observe` would have shown, through
// removals, re-reads and cluster aggregation.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AggregatorRegistry, Histogram, Registry } from "prom-client";
import { DeferredHistogram } from "../../src/observability/deferred-histogram.js";

const BUCKETS = [0.001, 0.01, 0.1, 1];
type Label = "route" | "result";

function pair(): { direct: Histogram<Label>; deferred: DeferredHistogram<Label>; registry: Registry } {
  const registry = new Registry();
  const direct = new Histogram<Label>({
    name: "direct_seconds",
    help: "direct",
    labelNames: ["route", "result"],
    buckets: BUCKETS,
    registers: [registry],
  });
  const deferred = new DeferredHistogram<Label>({
    name: "deferred_seconds",
    help: "deferred",
    labelNames: ["route", "result"],
    buckets: BUCKETS,
    registers: [registry],
  });
  return { direct, deferred, registry };
}

function observe(target: ReturnType<typeof pair>, route: string, result: string, value: number): void {
  target.direct.observe({ route, result }, value);
  target.deferred.observe(`${route}\u0000${result}`, () => ({ route, result }), value);
}

/** Both families' samples, with the metric names made alike and sorted, for comparison. */
async function samples(registry: Registry): Promise<{ direct: string[]; deferred: string[] }> {
  const text = await registry.metrics();
  const lines = text.split("\n").filter((line) => line.length > 0 && !line.startsWith("#"));
  const of = (prefix: string): string[] =>
    lines
      .filter((line) => line.startsWith(prefix))
      .map((line) => line.slice(prefix.length))
      .sort();
  return { direct: of("direct_seconds"), deferred: of("deferred_seconds") };
}

describe("DeferredHistogram", () => {
  it("shows what prom-client's observe shows: buckets (bounds included), sum and count per label set", async () => {
    const target = pair();
    for (const value of [0.0005, 0.001, 0.002, 0.05, 0.1, 0.7, 3, 12]) observe(target, "a", "accepted", value);
    observe(target, "b", "failed", 0.02);
    const first = await samples(target.registry);
    assert.ok(first.direct.length > 0);
    assert.deepEqual(first.deferred, first.direct);
    // Read again with nothing new: nothing is added twice.
    assert.deepEqual((await samples(target.registry)).deferred, first.direct);
    observe(target, "a", "accepted", 0.003);
    observe(target, "a", "rejected", 0.3);
    const second = await samples(target.registry);
    assert.deepEqual(second.deferred, second.direct);
  });

  it("starts a removed label set from zero, and forgets label sets that are gone", async () => {
    const target = pair();
    observe(target, "a", "accepted", 0.05);
    observe(target, "gone", "accepted", 0.05);
    await samples(target.registry);
    // As GatewayMetrics.keepOnly does for a deleted route: the series leaves prom-client and the pending counts.
    target.direct.remove({ route: "gone", result: "accepted" });
    const deferredHistogram = target.registry.getSingleMetric("deferred_seconds");
    assert.ok(deferredHistogram !== undefined);
    deferredHistogram.remove({ route: "gone", result: "accepted" });
    target.deferred.forget((labels) => labels.route === "gone");
    observe(target, "a", "accepted", 0.5);
    const after = await samples(target.registry);
    assert.deepEqual(after.deferred, after.direct);
    assert.ok(!after.deferred.some((line) => line.includes('route="gone"')));
    // A series removed from prom-client but observed again comes back from zero, as prom-client's own would.
    target.direct.remove({ route: "a", result: "accepted" });
    deferredHistogram.remove({ route: "a", result: "accepted" });
    observe(target, "a", "accepted", 0.002);
    const again = await samples(target.registry);
    assert.deepEqual(again.deferred, again.direct);
  });

  it("is added up across cluster workers as prom-client's histograms are", async () => {
    const workers = [pair(), pair()];
    observe(workers[0] as ReturnType<typeof pair>, "a", "accepted", 0.05);
    observe(workers[0] as ReturnType<typeof pair>, "a", "accepted", 2);
    observe(workers[1] as ReturnType<typeof pair>, "a", "accepted", 0.0005);
    observe(workers[1] as ReturnType<typeof pair>, "b", "failed", 0.5);
    const json = await Promise.all(workers.map((worker) => worker.registry.getMetricsAsJSON()));
    const merged = await samples(AggregatorRegistry.aggregate(json));
    assert.ok(merged.direct.length > 0);
    assert.deepEqual(merged.deferred, merged.direct);
  });

  it("reads nothing of prom-client's internals: a scrape with no observation shows no series", async () => {
    const target = pair();
    const text = await target.registry.metrics();
    assert.match(text, /# TYPE deferred_seconds histogram/);
    assert.ok(!/^deferred_seconds/m.test(text));
  });
});
