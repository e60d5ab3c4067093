/** The markdown report: run facts, the results table, how to read it, warnings and anomalies. */
import { median } from "./proc.js";
import { referenceTable } from "./reference.js";
import { formatTally } from "./protocol.js";
import type { Options } from "./options.js";
import type { Measurement, Summary } from "./summary.js";
import type { TargetName } from "./targets.js";

export const integer = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });

export function fixed(value: number | undefined, digits: number, suffix = ""): string {
  return value === undefined || !Number.isFinite(value) ? "—" : `${value.toFixed(digits)}${suffix}`;
}

/** " (2 of 3 rounds)" when some rounds of this row failed. */
function roundsNote(summary: Summary): string {
  return summary.rounds < summary.plannedRounds ? ` (${summary.rounds} of ${summary.plannedRounds} rounds)` : "";
}

function rateCell(summary: Summary): string {
  if (summary.scenario === "idle") {
    const idle = summary.idle;
    return idle === undefined ? "—" : `${idle.echoed}/${idle.asked} echoed${roundsNote(summary)}`;
  }
  if (summary.rate === undefined) return "failed";
  const unit = summary.scenario.startsWith("handshake") ? "conn/s" : "msg/s";
  return `${integer.format(summary.rate)} ${unit}${roundsNote(summary)}`;
}

function latencyDigits(value: number | undefined): number {
  return value !== undefined && value < 1 ? 3 : 2;
}

export function table(summaries: readonly Summary[]): string {
  const header =
    "| scenario | target | throughput | p50 ms | p99 ms | proxy CPU µs/op | proxy CPU % | RSS KiB/conn | throughput × direct | p50 × direct | p99 × direct | backend CPU µs/op | generator CPU % | other CPU % |";
  const rule = `|${" --- |".repeat(14)}`;
  const rows = summaries.map((s) =>
    [
      s.scenario,
      s.target,
      rateCell(s),
      fixed(s.p50Ms, latencyDigits(s.p50Ms)),
      fixed(s.p99Ms, latencyDigits(s.p99Ms)),
      fixed(s.proxyCpuUsPerOp, 1),
      fixed(s.proxyCpuPercent, 0),
      fixed(s.rssKiBPerConn, 1),
      fixed(s.rateVsDirect, 2, "×"),
      fixed(s.p50VsDirect, 2, "×"),
      fixed(s.p99VsDirect, 2, "×"),
      fixed(s.backendCpuUsPerOp, 1),
      fixed(s.generatorCpuPercent, 0),
      fixed(s.othersCpuPercent, 0),
    ].join(" | "),
  );
  return [header, rule, ...rows.map((row) => `| ${row} |`)].join("\n");
}

export interface Meta {
  date: string;
  node: string;
  cpu: string;
  cores: number;
  platform: string;
  clockTicks: number;
  openFileLimit: number | undefined;
  /** How the open-file limit came about (raised with prlimit, or not). */
  openFileNote: string;
  /** taskset pinning of the proxy and of the rest, or why there is none. */
  pinning: string;
  pinned: boolean;
  /** What each target is and which version ran. */
  targets: Partial<Record<TargetName, { description: string; version: string }>>;
  /** Targets that could not run here, and why. */
  skipped: string[];
  mode: "quick" | "full";
  rounds: number;
  durationS: number;
  warmupS: number;
  workers: number;
  idleConnections: number;
  idleHoldS: number;
  /** What ran in which order, and how warm the handshake's proxy was (warmup.ts). */
  order?: string;
  totalS?: number;
  /** Why the run stopped before its end, when it did. */
  aborted?: string;
  /** Problems outside any one measurement. */
  problems?: string[];
}

/** "echo-64/direct r1 (95%), stream/wsgate r2 (97%)" for the measurements where `pick` is above `limit`. */
function over(
  measurements: readonly Measurement[],
  pick: (measurement: Measurement) => number | undefined,
  limit: number,
): { list: string; count: number; median: number; max: number } | undefined {
  const hits = measurements.filter((m) => (pick(m) ?? 0) > limit);
  if (hits.length === 0) return undefined;
  const values = hits.map((m) => pick(m) ?? 0);
  const shown = hits.slice(0, 8).map((m) => `${m.scenario}/${m.target} r${m.round} (${fixed(pick(m), 0)}%)`);
  if (hits.length > shown.length) shown.push(`and ${hits.length - shown.length} more (see latest.json)`);
  return {
    list: shown.join(", "),
    count: hits.length,
    median: median(values) ?? 0,
    max: Math.max(...values),
  };
}

function findings(
  meta: Meta,
  measurements: readonly Measurement[],
  options: Options,
): { warnings: string[]; failures: string[] } {
  const warnings: string[] = [];
  const failures: string[] = [];
  if (options.idleCapNote !== undefined) warnings.push(options.idleCapNote);
  // A target asked for by name and not measured is worth a warning; by default, missing ones are just listed.
  if (options.targetsAsked) warnings.push(...options.skipped);
  if (meta.aborted !== undefined) failures.push(`the run stopped early: ${meta.aborted}`);
  for (const problem of meta.problems ?? []) failures.push(problem);
  for (const m of measurements) {
    const where = `${m.scenario} / ${m.target}, round ${m.round}`;
    if (m.error !== undefined) failures.push(`${where}: FAILED: ${m.error}`);
    if (Object.keys(m.problems).length > 0) {
      const idleTimeouts = Object.keys(m.problems).some((key) => key.includes("'idle timeout'"));
      const hint =
        idleTimeouts && (m.target === "wsgate-aware" || m.target === "wsgate-aware-before")
          ? ` (wsgate-aware closes sessions without data frames for 300 s (maxInactivity); ${m.scenario === "idle" ? `opening took ${(m.elapsedMs / 1000).toFixed(0)} s here, so ` : ""}these closes are the configured behaviour, not a fault)`
          : "";
      failures.push(`${where}: ${formatTally(m.problems)}${hint}`);
    }
    if ((m.proxyOutputLines ?? 0) > 0) {
      failures.push(
        `${where}: the proxy logged ${m.proxyOutputLines} line(s) at warn level or above: ${formatTally(m.proxyOutputKinds ?? {})}`,
      );
    }
  }
  const generator = over(measurements, (m) => m.generatorCpuPercent, 90);
  if (generator !== undefined)
    warnings.push(
      `a load worker used over 90% of a core in ${generator.list}: the generator may be what limits these figures (try --workers)`,
    );
  const backend = over(measurements, (m) => m.backendCpuPercent, 90);
  if (backend !== undefined)
    warnings.push(
      `the backend (single-threaded) used over 90% of a core in ${backend.list}: it may be the bottleneck there`,
    );
  const loops = measurements.filter((m) => m.scenario !== "idle" && m.error === undefined);
  // Pinned, the workers and the backend share the cores the proxy does not have: together they can fill them.
  const loadCores = meta.pinned ? meta.cores - 1 : meta.cores;
  const loadSide = over(loops, (m) => ((m.generatorTotalCpuPercent ?? 0) + (m.backendCpuPercent ?? 0)) / loadCores, 90);
  if (loadSide !== undefined)
    warnings.push(
      `the load workers and the backend together used over 90% of their ${loadCores} core(s) in ${loadSide.list}: the load side, not the proxy, may limit throughput there`,
    );
  const others = over(loops, (m) => m.othersCpuPercent, 20);
  if (others !== undefined)
    warnings.push(
      `other processes on the machine used over 20% of a core during ${others.count} of ${loops.length} measurements (median ${fixed(others.median, 0)}%, max ${fixed(others.max, 0)}%): throughput and latency are noisy, and contention inflates CPU per operation too; compare proxy CPU µs/op with backend CPU µs/op from the same row, which share the conditions. Details: ${others.list}`,
    );
  const steal = over(loops, (m) => m.stealPercent, 20);
  if (steal !== undefined)
    warnings.push(`the hypervisor stole over 20% of a core during ${steal.count} measurements: ${steal.list}`);
  return { warnings, failures };
}

export function report(
  meta: Meta,
  options: Options,
  summaries: readonly Summary[],
  measurements: readonly Measurement[],
  /** The after/before section (--baseline), placed under the table. */
  baseline?: string,
) {
  const { warnings, failures } = findings(meta, measurements, options);
  const lines = [
    "# wsgate bench",
    "",
    `- Date: ${meta.date}${meta.totalS === undefined ? "" : ` (run took ${meta.totalS.toFixed(0)} s)`}`,
    `- Node ${meta.node} on ${meta.platform}; CPU: ${meta.cpu}; cores: ${meta.cores}; CLK_TCK ${meta.clockTicks}; ${meta.openFileNote}`,
    `- Pinning: ${meta.pinning}`,
    `- Mode: ${meta.mode}: ${meta.rounds} round(s), ${meta.durationS} s measured per scenario and target after ${meta.warmupS} s warm-up, ${meta.workers} load worker(s), ${meta.idleConnections} idle connections held ${meta.idleHoldS} s${options.serverClosesFirst ? "; handshake loops close as Go clients do (--server-closes-first: the client's FIN only after the proxy's)" : ""}`,
    "- Targets, interleaved in every round: " +
      options.targets
        .map((target) => {
          const about = meta.targets[target];
          return `**${target}** = ${about?.description ?? ""}${target === "direct" ? "" : ` (${about?.version ?? "?"})`}`;
        })
        .join("; "),
    ...meta.skipped.map((line) => `- Not measured: ${line}`),
    ...(meta.order === undefined ? [] : [`- ${meta.order}`]),
    "- Each round starts the proxy once per proxy target for the loop scenarios (run one after another, as one proxy serves one workload after another) and once more for handshake-cold (its first cycles) and for idle, so that idle's RSS growth starts from a fresh heap.",
    "- Figures are medians over rounds; ratios are against **direct** measured in this run (throughput × direct: higher is better; latency × direct: lower is better).",
    "",
    table(summaries),
    "",
    ...(baseline === undefined ? [] : [baseline]),
    generatorLine(measurements),
    "",
    "![throughput against direct, per scenario and target](latest.svg)",
    "",
    "How to read it:",
    "- **echo-64 / echo-16k**: 50 connections, each sends one 64 B (16 KiB) binary message and waits for its echo, repeat. Throughput counts echoed messages: one round trip is one message, although the proxy relays it twice (client → backend and back). p50/p99 are round-trip times.",
    "- **stream**: 4 connections, each keeping 1,000 64 B messages in flight; throughput counts echoed messages.",
    "- **handshake**: 50 concurrent loops of open → one 64 B echo → close; throughput is completed connections/s; p50/p99 are whole cycles; proxy CPU is per connection.",
    `- **idle**: ${meta.idleConnections} idle connections opened and held ${meta.idleHoldS} s, then each must echo once; RSS KiB/conn is the proxy's VmRSS growth divided by the connections (each holds a client and a backend socket); proxy CPU % is its CPU while holding them (heartbeats, with wsgate-aware).${meta.mode === "quick" ? " With this few connections RSS per connection is rough (a heap grows in steps): the full run holds 10,000." : ""}`,
    "- **proxy CPU µs/op**: the proxy's utime+stime (/proc/<pid>/stat, all threads, and its child processes: nginx's worker) during the measured time, divided by the operations above; **backend CPU µs/op** is the same for the echo backend (a plain `ws` endpoint doing one side's work), for scale. **proxy CPU %** and **generator CPU %** (the busiest load worker) are % of one core. **other CPU %** is what the rest of the machine used meanwhile (/proc/stat busy time minus the bench's processes): when it is high, the figures are noisy.",
    meta.pinned
      ? "- The proxy has a core of its own and the load workers and backend share the rest, so throughput ratios mostly show added latency, not CPU contention; proxy CPU µs/op is the proxy's own CPU time (its whole process tree: nginx's worker is counted), which is the figure to compare between proxies."
      : `- All processes (load workers, backend, proxy) share the same ${meta.cores} core(s): direct runs leave the proxy's share of CPU to the others, so throughput ratios include that contention; proxy CPU µs/op counts only the proxy's own CPU time (contention still inflates it somewhat, as it does the backend's).`,
    "",
  ];
  lines.push("## Warnings", "", ...(warnings.length === 0 ? ["None."] : warnings.map((line) => `- ${line}`)), "");
  lines.push(
    "## Failures and anomalies",
    "",
    ...(failures.length === 0
      ? ["None: every message was echoed, every connection opened, echoed and closed with 1000."]
      : failures.map((line) => `- ${line}`)),
    "",
  );
  lines.push(referenceTable());
  return { markdown: lines.join("\n"), warnings, failures };
}

/** The load generator's own CPU: a starved generator would make every proxy look alike. */
function generatorLine(measurements: readonly Measurement[]): string {
  const loops = measurements.filter((m) => m.scenario !== "idle" && m.generatorCpuPercent !== undefined);
  if (loops.length === 0) return "Load generator CPU: not measured.";
  const busiest = Math.max(...loops.map((m) => m.generatorCpuPercent ?? 0));
  const typical = median(loops.map((m) => m.generatorCpuPercent ?? 0)) ?? 0;
  const others = median(loops.map((m) => m.othersCpuPercent ?? 0)) ?? 0;
  const verdict = busiest > 90 ? "it was saturated in some measurements (see Warnings)" : "it had headroom throughout";
  return `Load generator CPU (busiest worker, % of one core): median ${fixed(typical, 0)}%, max ${fixed(busiest, 0)}%: ${verdict}. Other processes on the machine: median ${fixed(others, 0)}% of a core${others > 20 ? " (a shared, busy machine: figures are noisy)" : ""}.`;
}

/** The benchmark section of docs/performance.md: when and where, a compact table, the chart. */
export function readmeBody(meta: Meta, summaries: readonly Summary[], baseline?: string): string {
  const header =
    "| scenario | target | throughput | × direct | p50 ms | p99 ms | proxy CPU µs/op | idle RSS KiB/conn |";
  const rule = `|${" --- |".repeat(8)}`;
  // The baseline build's rows stay in latest.md: the page shows this build and, below, the after/before ratios.
  const rows = summaries
    .filter((s) => s.target !== "wsgate-before" && s.target !== "wsgate-aware-before")
    .map((s) =>
      [
        s.scenario,
        s.target,
        rateCell(s),
        fixed(s.rateVsDirect, 2, "×"),
        fixed(s.p50Ms, latencyDigits(s.p50Ms)),
        fixed(s.p99Ms, latencyDigits(s.p99Ms)),
        fixed(s.proxyCpuUsPerOp, 1),
        fixed(s.rssKiBPerConn, 1),
      ].join(" | "),
    );
  return [
    `Latest run: ${meta.date.slice(0, 10)}, ${meta.mode} mode (${meta.rounds} round(s) of ${meta.durationS} s), on ${meta.cpu} × ${meta.cores} cores, Node ${meta.node}; ${meta.pinning}. Versions: ${Object.entries(
      meta.targets,
    )
      .filter(([name]) => name !== "direct" && name !== "wsgate-aware" && name !== "wsgate-aware-before")
      .map(([, about]) => about.version)
      .join(
        ", ",
      )}. Full report, warnings and published reference figures: [bench/results/latest.md](../bench/results/latest.md).`,
    "",
    [header, rule, ...rows.map((row) => `| ${row} |`)].join("\n"),
    "",
    ...(baseline === undefined ? [] : [baseline]),
    "![throughput against direct, per scenario and target](../bench/results/latest.svg)",
  ].join("\n");
}
