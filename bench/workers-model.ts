/**
 * `wsgate-workers` (wsgate-aware's config with `--workers 2`) against wsgate-aware (one process), and what that says
 * about more cores than this machine has. Pinned, the primary and both workers share the proxy's one core, so the
 * run cannot show scaling; it measures what each process spends per operation: the workers (parallel work), the
 * primary (node:cluster's primary accepts every connection and hands it to a worker: serial work), and the kernel
 * share of each (system time). The model then says, for N cores given to the proxy:
 *
 *   ops/s(N) = min(N / (workers + primary),  1 / primary)        (CPU per operation in seconds)
 *
 * all cores busy with the measured per-operation work, unless the one primary saturates first; against one process
 * on one core (1 / oneProcess), that is the expected speed-up. It assumes the kernel's share scales with cores (per
 * socket work; the accept queue of the one listening socket is the primary's, counted there) and that per-operation
 * CPU stays as measured (no cache or memory-bandwidth limits): a model to check on a bigger machine, not a figure.
 */
import { readFileSync } from "node:fs";
import { fixed } from "./report.js";
import { median, processTree } from "./proc.js";
import type { Measurement } from "./summary.js";
import type { ScenarioName } from "./scenarios.js";

/** CPU ticks of a process tree's root (the primary, nginx's master) and of everything below it, user and system. */
export interface CpuSplit {
  primaryUser: number;
  primarySystem: number;
  othersUser: number;
  othersSystem: number;
}

function userSystem(pid: number): [number, number] | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  const user = Number(fields[11]);
  const system = Number(fields[12]);
  return Number.isFinite(user) && Number.isFinite(system) ? [user, system] : undefined;
}

/** The tree's CPU split at this moment, or undefined when the root is gone. */
export function cpuSplit(pid: number): CpuSplit | undefined {
  const tree = processTree(pid);
  const root = userSystem(pid);
  if (root === undefined) return undefined;
  const split: CpuSplit = { primaryUser: root[0], primarySystem: root[1], othersUser: 0, othersSystem: 0 };
  for (const child of tree.slice(1)) {
    const ticks = userSystem(child);
    if (ticks === undefined) continue;
    split.othersUser += ticks[0];
    split.othersSystem += ticks[1];
  }
  return split;
}

/** µs of CPU per operation between two splits. A child that exited meanwhile makes the split unreliable: none. */
export function splitPerOp(
  before: CpuSplit | undefined,
  after: CpuSplit | undefined,
  ticksPerSecond: number,
  ops: number,
): CpuSplit | undefined {
  if (before === undefined || after === undefined || ops <= 0) return undefined;
  const us = (a: number, b: number): number => ((b - a) / ticksPerSecond / ops) * 1e6;
  const split: CpuSplit = {
    primaryUser: us(before.primaryUser, after.primaryUser),
    primarySystem: us(before.primarySystem, after.primarySystem),
    othersUser: us(before.othersUser, after.othersUser),
    othersSystem: us(before.othersSystem, after.othersSystem),
  };
  return Object.values(split).some((value) => value < 0) ? undefined : split;
}

/** The measured inputs of the model, µs of CPU per operation. */
export interface ModelInputs {
  /** One process (wsgate-aware), all of it. */
  oneProcess: number;
  /** With workers: the primary, and the workers together. */
  primary: number;
  workers: number;
  /** System (kernel) time within primary and workers, for the report. */
  primarySystem: number;
  workersSystem: number;
}

export interface ScalingRow {
  cores: number;
  /** Expected operations per second with `cores` cores given to the proxy. */
  opsPerS: number;
  /** ÷ one process on one core. */
  speedup: number;
  limitedBy: "cores" | "primary";
}

/** The model above, for each core count. */
export function scaling(inputs: ModelInputs, cores: readonly number[]): ScalingRow[] {
  const perOpS = (inputs.workers + inputs.primary) / 1e6;
  const primaryS = inputs.primary / 1e6;
  const single = 1e6 / inputs.oneProcess;
  return cores.map((n) => {
    const byCores = n / perOpS;
    const byPrimary = primaryS > 0 ? 1 / primaryS : Infinity;
    const opsPerS = Math.min(byCores, byPrimary);
    return { cores: n, opsPerS, speedup: opsPerS / single, limitedBy: byPrimary < byCores ? "primary" : "cores" };
  });
}

/** The medians over rounds of a scenario's split for one target, with the total per operation. */
function medianSplit(measurements: readonly Measurement[], scenario: ScenarioName, target: string) {
  const list = measurements.filter(
    (m) => m.scenario === scenario && m.target === target && m.error === undefined && m.proxyCpuSplit !== undefined,
  );
  if (list.length === 0) return undefined;
  const pick = (get: (split: CpuSplit) => number): number =>
    median(list.map((m) => get(m.proxyCpuSplit as CpuSplit))) ?? 0;
  return {
    rounds: list.length,
    total: median(list.map((m) => m.proxyCpuUsPerOp ?? 0)) ?? 0,
    primary: pick((s) => s.primaryUser + s.primarySystem),
    primarySystem: pick((s) => s.primarySystem),
    workers: pick((s) => s.othersUser + s.othersSystem),
    workersSystem: pick((s) => s.othersSystem),
    perRound: new Map(list.map((m) => [m.round, m.proxyCpuUsPerOp ?? 0])),
  };
}

export const MODEL_CORES = [1, 2, 4, 8, 16] as const;

/** The report's section: measured per-operation CPU, then the model's expectation per core count. */
export function workersSection(
  measurements: readonly Measurement[],
  scenarios: readonly ScenarioName[],
  one = "wsgate-aware",
  many = "wsgate-workers",
): string | undefined {
  const rows: string[] = [];
  const modelRows: string[] = [];
  for (const scenario of scenarios) {
    if (scenario === "idle") continue;
    const single = medianSplit(measurements, scenario, one);
    const cluster = medianSplit(measurements, scenario, many);
    if (single === undefined || cluster === undefined || single.total <= 0) continue;
    // Per round: workers ÷ one process, same round, for the spread.
    const ratios = [...cluster.perRound]
      .map(([round, value]) => value / (single.perRound.get(round) ?? NaN))
      .filter((value) => Number.isFinite(value) && value > 0);
    const spread = ratios.length > 1 ? ` (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})` : "";
    const total = cluster.primary + cluster.workers;
    rows.push(
      `| ${scenario} | ${fixed(single.total, 1)} (system ${fixed(single.primarySystem + single.workersSystem, 1)}) | ${fixed(total, 1)} | ${fixed(cluster.primary, 1)} (${fixed((cluster.primary / total) * 100, 0)}%) | ${fixed(cluster.workers, 1)} | ${fixed(((cluster.primarySystem + cluster.workersSystem) / total) * 100, 0)}% | ${fixed(total / single.total, 2)}×${spread} |`,
    );
    const model = scaling(
      {
        oneProcess: single.total,
        primary: cluster.primary,
        workers: cluster.workers,
        primarySystem: cluster.primarySystem,
        workersSystem: cluster.workersSystem,
      },
      MODEL_CORES,
    );
    modelRows.push(
      `| ${scenario} | ${model.map((row) => `${row.speedup.toFixed(2)}×${row.limitedBy === "primary" ? " (primary)" : ""}`).join(" | ")} |`,
    );
  }
  if (rows.length === 0) return undefined;
  return [
    "## --workers 2: CPU per operation and a scaling model",
    "",
    `${many} is ${one}'s config run with \`--workers 2\` (node:cluster with SCHED_NONE: each worker accepts on the shared listening socket; the primary holds the admin API and passes nothing per connection). Pinned, the primary and both workers share the proxy's one core, so this run measures CPU per operation, not scaling. µs of proxy CPU per operation, medians over rounds; the last column is the median of the per-round ratios (spread in brackets).`,
    "",
    `| scenario | ${one} µs/op | ${many} µs/op | of which primary | of which workers | system share | ${many} ÷ ${one} |`,
    `|${" --- |".repeat(7)}`,
    ...rows,
    "",
    'Expected throughput on N cores given to the proxy (the load generator elsewhere), ÷ one process on one core: `min(N / (workers + primary), 1 / primary)` with the per-operation CPU above ("(primary)": the one primary process is the limit). It assumes per-operation CPU stays as measured and the kernel\'s work scales with cores; a model, to be checked on a machine with more cores than this one.',
    "",
    `| scenario | ${MODEL_CORES.map((n) => `${n} core${n === 1 ? "" : "s"}`).join(" | ")} |`,
    `|${" --- |".repeat(MODEL_CORES.length + 1)}`,
    ...modelRows,
    "",
  ].join("\n");
}
