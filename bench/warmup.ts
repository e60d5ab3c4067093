/**
 * How warm a proxy is when its connection cycle is measured (issue 22). V8 tiers code up by how often it has run,
 * not by how long, so a warm-up measured in seconds leaves the handshake path as cold as the load generator was
 * slow: one run measured 675 µs per cycle and another 191 µs for the same build. The handshake scenario is
 * therefore warmed by a count of cycles, and the cold figure (the first cycles of a fresh proxy, what a restart
 * or a reconnect storm meets) is measured separately as `handshake-cold`.
 */
import type { Options } from "./options.js";
import { median } from "./proc.js";
import type { Command } from "./protocol.js";
import type { LoopScenario, ScenarioName } from "./scenarios.js";
import type { Measurement } from "./summary.js";
import type { TargetName } from "./targets.js";

/** Cycles before the handshake is measured: past the point where the path's functions have been optimized. */
export const WARM_CYCLES = 5000;
export const QUICK_WARM_CYCLES = 500;
/** Cycles a fresh proxy serves in `handshake-cold`: its first ones, measured. */
export const COLD_CYCLES = 2000;
export const QUICK_COLD_CYCLES = 300;
/** A count of cycles is still bounded in time: a proxy that stalls must not stall the bench. */
export const CYCLES_TIME_LIMIT_MS = 120_000;

/** `total` split into `parts` near-equal whole shares (the same split as the loops'). */
export function shares(total: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, index) => Math.floor(total / parts) + (index < total % parts ? 1 : 0));
}

/**
 * Run commands for the loops of a handshake scenario that stop after `cycles` cycles in all (each worker its
 * share), or after CYCLES_TIME_LIMIT_MS. `record` false for a warm-up.
 */
export function cycleCommands(
  scenario: LoopScenario,
  url: string,
  workers: number,
  cycles: number,
  record: boolean,
  serverClosesFirst = false,
): Command[] {
  const loops = shares(scenario.connections, workers);
  return shares(cycles, workers).map((count, index) => ({
    type: "run",
    kind: "handshake",
    size: scenario.size,
    inFlight: scenario.inFlight,
    loops: loops[index] ?? 0,
    url,
    durationMs: CYCLES_TIME_LIMIT_MS,
    cycles: count,
    record,
    serverClosesFirst,
  }));
}

/** Scenarios measured on a fresh proxy of their own, not the round's shared one. */
export function freshProxy(scenario: ScenarioName): boolean {
  return scenario === "idle" || scenario === "handshake-cold";
}

/** The report's line on what ran in which order, and how warm each proxy was when its handshake was measured. */
export function orderLine(
  scenarios: readonly ScenarioName[],
  targets: readonly TargetName[],
  warmCycles: number,
  coldCycles: number,
  warmupS: number,
): string {
  const shared = scenarios.filter((scenario) => !freshProxy(scenario));
  const parts = [
    `Order in every round: scenarios ${scenarios.join(" → ")}; within each, targets ${targets.join(" → ")} (an after/before or open/closed pair swaps in even rounds).`,
  ];
  if (shared.length > 0)
    parts.push(
      `${shared.join(", ")} share one proxy per target and round, started on first use${shared.length > 1 ? ", so each later scenario meets a proxy the earlier ones have warmed" : ""}.`,
    );
  if (scenarios.includes("handshake"))
    parts.push(
      `handshake is measured after ${warmCycles.toLocaleString("en-US")} unmeasured cycles (a count, not a time: V8 optimizes by invocations); the other loops after ${warmupS} s.`,
    );
  if (scenarios.includes("handshake-cold"))
    parts.push(
      `handshake-cold is the first ${coldCycles.toLocaleString("en-US")} cycles of a freshly started proxy, measured with no warm-up (a restart, a reconnect storm).`,
    );
  if (scenarios.includes("idle")) parts.push("idle gets a fresh proxy (its RSS growth starts from a fresh heap).");
  return parts.join(" ");
}

function spreadCell(values: readonly number[], digits: number): string {
  const mid = median(values);
  if (mid === undefined) return "—";
  const spread =
    values.length > 1 ? ` (${Math.min(...values).toFixed(digits)}–${Math.max(...values).toFixed(digits)})` : "";
  return `${mid.toFixed(digits)}${spread}`;
}

/**
 * The report's section on warmth: per proxy target, CPU per cycle warm (handshake) and cold (handshake-cold) with
 * their per-round spread, and what the warm-up took.
 */
export function warmthSection(measurements: readonly Measurement[], options: Options): string | undefined {
  if (!options.scenarios.includes("handshake") && !options.scenarios.includes("handshake-cold")) return undefined;
  const ok = (scenario: ScenarioName, target: TargetName): Measurement[] =>
    measurements.filter((m) => m.scenario === scenario && m.target === target && m.error === undefined);
  const values = (list: readonly Measurement[], pick: (m: Measurement) => number | undefined): number[] =>
    list.flatMap((m) => {
      const value = pick(m);
      return value === undefined || !Number.isFinite(value) ? [] : [value];
    });
  const rows: string[] = [];
  for (const target of options.targets) {
    if (target === "direct") continue;
    const warm = ok("handshake", target);
    const cold = ok("handshake-cold", target);
    const warmCpu = values(warm, (m) => m.proxyCpuUsPerOp);
    const coldCpu = values(cold, (m) => m.proxyCpuUsPerOp);
    const ratios = cold.flatMap((c) => {
      const w = warm.find((m) => m.round === c.round);
      return w?.proxyCpuUsPerOp === undefined || c.proxyCpuUsPerOp === undefined
        ? []
        : [c.proxyCpuUsPerOp / w.proxyCpuUsPerOp];
    });
    rows.push(
      `| ${target} | ${spreadCell(warmCpu, 0)} | ${spreadCell(
        values(warm, (m) => m.rate),
        0,
      )} | ${spreadCell(coldCpu, 0)} | ${spreadCell(
        values(cold, (m) => m.rate),
        0,
      )} | ${spreadCell(ratios, 2)} | ${spreadCell(
        values(warm, (m) => (m.warmup === undefined ? undefined : m.warmup.ms / 1000)),
        1,
      )} |`,
    );
  }
  return [
    "## Warm and cold connection cycles",
    "",
    `handshake: after ${options.warmCycles.toLocaleString("en-US")} unmeasured cycles on the round's shared proxy; handshake-cold: the first ${options.coldCycles.toLocaleString("en-US")} cycles of a freshly started proxy. Proxy CPU µs per cycle and conn/s, medians over rounds with their spread (min–max); cold ÷ warm is per round.`,
    "",
    "| target | warm µs/cycle | warm conn/s | cold µs/cycle | cold conn/s | cold ÷ warm | warm-up took (s) |",
    `|${" --- |".repeat(7)}`,
    ...rows,
    "",
  ].join("\n");
}
