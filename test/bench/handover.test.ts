// The handover scenario's pieces that need no gateway: its options, its estimate, and its report (median over
// rounds with the per-round range; a failed round counted, not averaged in).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { handoverEstimateMs, handoverReport, type HandoverRound } from "../../bench/handover.js";
import { parseOptions } from "../../bench/options.js";

function round(sessions: number, index: number, upgradeMs: number, pauseP99Ms: number): HandoverRound {
  const window = {
    gapP50Ms: pauseP99Ms / 2,
    gapP99Ms: pauseP99Ms,
    gapMaxMs: pauseP99Ms + 1,
    rttP50Ms: 5,
    rttP99Ms: 9,
    echoes: 100,
    gaps: 0,
    repeats: 0,
    closed: 0,
    outstanding: 0,
  };
  return {
    sessions,
    round: index,
    periodMs: 500,
    upgradeMs,
    reportedMs: upgradeMs - 10,
    handOverMs: upgradeMs - 100,
    moved: sessions,
    kept: 0,
    closedByUpgrade: 0,
    baseline: { ...window, gapP99Ms: 510 },
    handover: window,
  };
}

describe("bench handover scenario", () => {
  it("is asked for by name, with its session counts and rate", () => {
    const defaults = parseOptions(["--scenarios", "handover"]);
    assert.deepEqual(defaults.wsgateScenarios, ["handover"]);
    assert.deepEqual(defaults.handoverSizes, [1000, 9000]);
    assert.equal(defaults.handoverRate, 2000);
    const chosen = parseOptions([
      "--scenarios",
      "handover",
      "--handover-sessions",
      "50, 300",
      "--handover-rate",
      "500",
    ]);
    assert.deepEqual([chosen.handoverSizes, chosen.handoverRate], [[50, 300], 500]);
    assert.deepEqual(parseOptions(["--quick", "--scenarios", "handover"]).handoverSizes, [200]);
  });

  it("estimates more time for more sessions and more rounds", () => {
    const small = handoverEstimateMs([1000], 2000, 1);
    assert.ok(handoverEstimateMs([9000], 2000, 1) > small);
    assert.ok(handoverEstimateMs([1000], 2000, 3) === 3 * small);
  });

  it("reports the median over rounds with the range, and counts failed rounds apart", () => {
    const rounds: HandoverRound[] = [
      round(1000, 1, 3000, 900),
      round(1000, 2, 5000, 1500),
      round(1000, 3, 4000, 1200),
      { sessions: 9000, round: 1, periodMs: 4500, error: "timed out" },
      round(9000, 2, 60_000, 30_000),
    ];
    const text = handoverReport(rounds, 2000, true);
    const row = text.split("\n").find((line) => line.startsWith("| 1000 |"));
    assert.ok(row !== undefined, text);
    assert.match(row, /\| 4000 ms \[3000–5000\] \|/, "upgrade: median [min–max]");
    assert.match(row, /\| 1200 ms \[900–1500\] \|/, "pause p99");
    assert.match(row, /\| 0 \/ 0 \/ 0 \|$/, "nothing lost, repeated or closed");
    assert.match(text, /^\| 9000 \(1 round\(s\) failed\) \| 60000 ms \|/m, "one good round: no range");
    assert.match(text, /round 1, 9000 sessions: FAILED: timed out/);
  });
});
