/**
 * `--baseline DIR`: an earlier build of wsgate (a checkout with its dist/ built) measured in the same run as this
 * one, as the targets `wsgate-before` and `wsgate-aware-before` (the same configs as wsgate and wsgate-aware), so
 * that "before and after" share the machine's conditions round by round. The comparison is per round: each
 * round's after/before ratio, then their median and their spread (min–max) over rounds.
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { median } from "./proc.js";
import type { ScenarioName } from "./scenarios.js";
import type { Measurement } from "./summary.js";
import { baselineCli, type TargetName } from "./targets.js";

/** Each wsgate target and its twin run from the baseline build. */
export const BASELINE_PAIRS = [
  { after: "wsgate", before: "wsgate-before" },
  { after: "wsgate-aware", before: "wsgate-aware-before" },
] as const satisfies readonly { after: TargetName; before: TargetName }[];

export type BaselinePair = (typeof BASELINE_PAIRS)[number];

/** The absolute baseline directory, or why it cannot be used. */
export function checkBaselineDir(dir: string): { dir: string } | { error: string } {
  const absolute = resolve(dir);
  if (!existsSync(absolute)) return { error: `--baseline ${dir}: no such directory` };
  if (!existsSync(baselineCli(absolute)))
    return {
      error: `--baseline ${dir}: no dist/src/cli.js there (build that checkout first: npx tsc -p tsconfig.json)`,
    };
  return { dir: absolute };
}

/** `targets` with each wsgate target followed by its baseline twin (when the after target is there). */
export function withBaselineTargets(targets: readonly TargetName[]): TargetName[] {
  return targets.flatMap((target) => {
    const pair = BASELINE_PAIRS.find((p) => p.after === target);
    return pair === undefined ? [target] : [target, pair.before];
  });
}

/**
 * The order of the targets in round `round` (from 1): in even rounds each after/before pair runs the other way
 * round, so that neither build always follows the same target (a proxy that just stopped, a warm backend).
 */
export function roundOrder(
  targets: readonly TargetName[],
  round: number,
  pairs: readonly { after: TargetName; before: TargetName }[] = BASELINE_PAIRS,
): TargetName[] {
  const order = [...targets];
  if (round % 2 === 1) return order;
  for (let i = 0; i + 1 < order.length; i++) {
    const a = order[i];
    const b = order[i + 1];
    const pair = pairs.find((p) => (p.after === a && p.before === b) || (p.after === b && p.before === a));
    if (pair !== undefined && a !== undefined && b !== undefined) {
      order[i] = b;
      order[i + 1] = a;
      i++;
    }
  }
  return order;
}

/** What a figure is, and which way is better. */
export interface BaselineMetric {
  name: "throughput" | "proxy CPU µs/op" | "p50" | "p99" | "idle RSS KiB/conn";
  better: "higher" | "lower";
  pick: (measurement: Measurement) => number | undefined;
}

const LOOP_METRICS: readonly BaselineMetric[] = [
  { name: "throughput", better: "higher", pick: (m) => m.rate },
  { name: "proxy CPU µs/op", better: "lower", pick: (m) => m.proxyCpuUsPerOp },
  { name: "p50", better: "lower", pick: (m) => m.p50Ms },
  { name: "p99", better: "lower", pick: (m) => m.p99Ms },
];
const IDLE_METRICS: readonly BaselineMetric[] = [
  { name: "idle RSS KiB/conn", better: "lower", pick: (m) => m.rssKiBPerConn },
];

export function metricsOf(scenario: ScenarioName): readonly BaselineMetric[] {
  return scenario === "idle" ? IDLE_METRICS : LOOP_METRICS;
}

/** One figure of one scenario, after against before. */
export interface BaselineComparison {
  scenario: ScenarioName;
  after: TargetName;
  before: TargetName;
  metric: BaselineMetric["name"];
  better: BaselineMetric["better"];
  /** Medians over rounds of each build's own figure. */
  afterMedian?: number;
  beforeMedian?: number;
  /** after / before of each round where both were measured, in round order. */
  perRound: { round: number; ratio: number }[];
  /** The median of the per-round ratios, and their spread. */
  ratio?: number;
  min?: number;
  max?: number;
  /**
   * Worse (or better) in every round, judged from MIN_VERDICT_ROUNDS rounds on ("mixed" otherwise): two identical
   * builds come out on the same side in both of two rounds half the time, in all of five one time in sixteen.
   */
  verdict: "worse in every round" | "better in every round" | "mixed" | "too few rounds" | "not measured";
}

/** Rounds needed before a figure is called worse or better in every round. */
export const MIN_VERDICT_ROUNDS = 3;

function verdictOf(ratios: readonly number[], better: BaselineMetric["better"]): BaselineComparison["verdict"] {
  if (ratios.length === 0) return "not measured";
  if (ratios.length < MIN_VERDICT_ROUNDS) return "too few rounds";
  const worse = (r: number): boolean => (better === "higher" ? r < 1 : r > 1);
  const improved = (r: number): boolean => (better === "higher" ? r > 1 : r < 1);
  if (ratios.every(worse)) return "worse in every round";
  if (ratios.every(improved)) return "better in every round";
  return "mixed";
}

/** Every figure of every scenario measured for a pair whose two targets both ran. */
export function compareWithBaseline(
  measurements: readonly Measurement[],
  scenarios: readonly ScenarioName[],
  targets: readonly TargetName[],
  pairs: readonly { after: TargetName; before: TargetName }[] = BASELINE_PAIRS,
): BaselineComparison[] {
  const comparisons: BaselineComparison[] = [];
  const ok = (scenario: ScenarioName, target: TargetName): Measurement[] =>
    measurements.filter((m) => m.scenario === scenario && m.target === target && m.error === undefined);
  for (const scenario of scenarios) {
    for (const pair of pairs) {
      if (!targets.includes(pair.after) || !targets.includes(pair.before)) continue;
      const afters = ok(scenario, pair.after);
      const befores = ok(scenario, pair.before);
      for (const metric of metricsOf(scenario)) {
        const values = (list: readonly Measurement[]): number[] =>
          list.flatMap((m) => {
            const value = metric.pick(m);
            return value === undefined || !Number.isFinite(value) ? [] : [value];
          });
        const perRound: { round: number; ratio: number }[] = [];
        for (const after of afters) {
          const before = befores.find((m) => m.round === after.round);
          const a = metric.pick(after);
          const b = before === undefined ? undefined : metric.pick(before);
          if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) continue;
          perRound.push({ round: after.round, ratio: a / b });
        }
        perRound.sort((x, y) => x.round - y.round);
        const ratios = perRound.map((r) => r.ratio);
        comparisons.push({
          scenario,
          after: pair.after,
          before: pair.before,
          metric: metric.name,
          better: metric.better,
          afterMedian: median(values(afters)),
          beforeMedian: median(values(befores)),
          perRound,
          ratio: median(ratios),
          min: ratios.length === 0 ? undefined : Math.min(...ratios),
          max: ratios.length === 0 ? undefined : Math.max(...ratios),
          verdict: verdictOf(ratios, metric.better),
        });
      }
    }
  }
  return comparisons;
}

/** "0.97× (0.94–1.01)", "1.02×" for one round, "—" when not measured, " **worse**" when worse in every round. */
export function ratioCell(comparison: BaselineComparison | undefined): string {
  if (comparison?.ratio === undefined) return "—";
  const spread = comparison.perRound.length > 1 ? ` (${comparison.min?.toFixed(2)}–${comparison.max?.toFixed(2)})` : "";
  const flag = comparison.verdict === "worse in every round" ? " **worse**" : "";
  return `${comparison.ratio.toFixed(2)}×${spread}${flag}`;
}

/** The after/before section of the report: one row per scenario and pair, one cell per figure. */
export function baselineSection(
  comparisons: readonly BaselineComparison[],
  about: { dir: string; before: string; after: string },
  heading: string,
): string {
  const names: BaselineMetric["name"][] = ["throughput", "proxy CPU µs/op", "p50", "p99", "idle RSS KiB/conn"];
  const header = `| scenario | after / before | ${names.join(" | ")} |`;
  const rule = `|${" --- |".repeat(names.length + 2)}`;
  const rows: string[] = [];
  const seen = new Set<string>();
  for (const c of comparisons) {
    const key = `${c.scenario} ${c.after}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const cells = names.map((name) =>
      ratioCell(comparisons.find((x) => x.scenario === c.scenario && x.after === c.after && x.metric === name)),
    );
    rows.push(`| ${c.scenario} | ${c.after} / ${c.before} | ${cells.join(" | ")} |`);
  }
  const worse = comparisons.filter((c) => c.verdict === "worse in every round");
  const rounds = Math.max(0, ...comparisons.map((c) => c.perRound.length));
  return [
    heading,
    "",
    `After: ${about.after}. Before: ${about.before}. Both run with this checkout's configs (bench/targets/wsgate*.yaml), interleaved in every round (each pair's order alternates from round to round).`,
    `Each cell is after ÷ before: the median of the per-round ratios and, in brackets, their spread (min–max) over rounds. Throughput: higher is better; CPU, latency and RSS: lower is better. **worse** marks a figure worse in every round (${MIN_VERDICT_ROUNDS} rounds or more).`,
    "",
    rows.length === 0 ? "Nothing to compare: no scenario measured both builds." : [header, rule, ...rows].join("\n"),
    "",
    rounds < MIN_VERDICT_ROUNDS
      ? `${rounds === 1 ? "One round: no spread" : `${rounds} rounds`}, and no verdict beyond the noise; run five rounds (the default) before concluding anything.`
      : worse.length === 0
        ? `No figure is worse in every round (${rounds} rounds).`
        : `Worse in every round (${rounds} rounds): ${worse.map((c) => `${c.scenario} ${c.after} ${c.metric} ${c.ratio?.toFixed(2)}× (${c.min?.toFixed(2)}–${c.max?.toFixed(2)})`).join("; ")}.`,
    "",
  ].join("\n");
}
