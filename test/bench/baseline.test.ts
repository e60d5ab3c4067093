import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { baselineSection, compareWithBaseline, ratioCell, roundOrder } from "../../bench/baseline.js";
import { parseOptions } from "../../bench/options.js";
import type { Measurement } from "../../bench/summary.js";
import type { TargetName } from "../../bench/targets.js";

/** A directory that looks like a built checkout: what --baseline asks of DIR. */
function builtCheckout(): string {
  const dir = mkdtempSync(join(os.tmpdir(), "bench-baseline-"));
  mkdirSync(join(dir, "dist/src"), { recursive: true });
  writeFileSync(join(dir, "dist/src/cli.js"), "");
  return dir;
}

function loop(target: TargetName, round: number, rate: number, cpu: number): Measurement {
  return {
    scenario: "handshake",
    target,
    round,
    rate,
    proxyCpuUsPerOp: cpu,
    p50Ms: 20,
    p99Ms: 40,
    ops: 1,
    elapsedMs: 1,
    problems: {},
  };
}

describe("bench --baseline", () => {
  it("adds each wsgate target's baseline twin right after it, and only with --baseline", () => {
    const dir = builtCheckout();
    try {
      const options = parseOptions(["--quick", "--targets", "wsgate,nginx,wsgate-aware", "--baseline", dir]);
      assert.equal(options.baseline, dir);
      assert.deepEqual(options.targets, [
        "direct",
        "wsgate",
        "wsgate-before",
        "wsgate-aware",
        "wsgate-aware-before",
        "nginx",
      ]);
      const one = parseOptions(["--quick", "--targets", "direct,wsgate-aware", "--baseline", dir]);
      assert.deepEqual(one.targets, ["direct", "wsgate-aware", "wsgate-aware-before"]);
      const none = parseOptions(["--quick", "--targets", "wsgate"]);
      assert.equal(none.baseline, undefined);
      assert.deepEqual(none.targets, ["direct", "wsgate"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("swaps each after/before pair in even rounds and leaves the other targets in place", () => {
    const targets: TargetName[] = ["direct", "wsgate", "wsgate-before", "wsgate-aware", "wsgate-aware-before", "nginx"];
    assert.deepEqual(roundOrder(targets, 1), targets);
    assert.deepEqual(roundOrder(targets, 2), [
      "direct",
      "wsgate-before",
      "wsgate",
      "wsgate-aware-before",
      "wsgate-aware",
      "nginx",
    ]);
    assert.deepEqual(roundOrder(targets, 3), targets);
    assert.deepEqual(roundOrder(["direct", "wsgate"], 2), ["direct", "wsgate"]);
  });

  it("compares each round's after with the same round's before: median ratio, min–max spread, verdict", () => {
    const measurements: Measurement[] = [
      loop("wsgate", 1, 1100, 400),
      loop("wsgate-before", 1, 1000, 500),
      loop("wsgate", 2, 900, 480),
      loop("wsgate-before", 2, 1000, 400),
      loop("wsgate", 3, 2000, 330),
      loop("wsgate-before", 3, 2000, 300),
      // A failed round of the baseline counts in neither side's ratio.
      loop("wsgate", 4, 5000, 100),
      { ...loop("wsgate-before", 4, 1, 1), error: "did not start" },
    ];
    const comparisons = compareWithBaseline(measurements, ["handshake"], [
      "direct",
      "wsgate",
      "wsgate-before",
    ] as TargetName[]);
    const rate = comparisons.find((c) => c.metric === "throughput");
    const cpu = comparisons.find((c) => c.metric === "proxy CPU µs/op");
    assert.deepEqual(
      rate?.perRound.map((r) => [r.round, Number(r.ratio.toFixed(2))]),
      [
        [1, 1.1],
        [2, 0.9],
        [3, 1],
      ],
    );
    assert.equal(rate?.ratio, 1);
    assert.equal(rate?.min, 0.9);
    assert.equal(rate?.verdict, "mixed");
    // CPU per round: 0.8, 1.2, 1.1 -> median 1.1, spread 0.8-1.2.
    assert.equal(cpu?.ratio?.toFixed(2), "1.10");
    assert.equal(cpu?.min?.toFixed(2), "0.80");
    assert.equal(cpu?.max?.toFixed(2), "1.20");
    assert.equal(ratioCell(cpu), "1.10× (0.80–1.20)");
    // Latency was the same in every round: neither better nor worse.
    assert.equal(comparisons.find((c) => c.metric === "p50")?.verdict, "mixed");
  });

  it("marks a figure worse in every round, with the lower-is-better figures read the right way", () => {
    const measurements: Measurement[] = [
      loop("wsgate-aware", 1, 900, 510),
      loop("wsgate-aware-before", 1, 1000, 500),
      loop("wsgate-aware", 2, 950, 530),
      loop("wsgate-aware-before", 2, 1000, 500),
      loop("wsgate-aware", 3, 980, 505),
      loop("wsgate-aware-before", 3, 1000, 500),
    ];
    const targets: TargetName[] = ["direct", "wsgate-aware", "wsgate-aware-before"];
    const comparisons = compareWithBaseline(measurements, ["handshake"], targets);
    assert.equal(comparisons.find((c) => c.metric === "throughput")?.verdict, "worse in every round");
    // Two rounds on the same side prove nothing: identical builds do that half the time.
    const two = compareWithBaseline(
      measurements.filter((m) => m.round < 3),
      ["handshake"],
      targets,
    );
    assert.equal(two.find((c) => c.metric === "throughput")?.verdict, "too few rounds");
    assert.equal(comparisons.find((c) => c.metric === "proxy CPU µs/op")?.verdict, "worse in every round");
    const section = baselineSection(comparisons, { dir: "/b", before: "old", after: "new" }, "## After / before");
    assert.match(
      section,
      /\| handshake \| wsgate-aware \/ wsgate-aware-before \| 0\.95× \(0\.90–0\.98\) \*\*worse\*\* \|/,
    );
    assert.match(section, /Worse in every round \(3 rounds\): handshake wsgate-aware throughput 0\.95×/);
    const better = compareWithBaseline(
      [loop("wsgate-aware", 1, 1000, 400), loop("wsgate-aware-before", 1, 1000, 500)],
      ["handshake"],
      targets,
    );
    assert.equal(better.find((c) => c.metric === "proxy CPU µs/op")?.verdict, "too few rounds");
    assert.match(baselineSection(better, { dir: "/b", before: "old", after: "new" }, "x"), /One round: no spread/);
  });
});
