/** One measurement of a scenario against a target, and the medians over rounds with ratios against direct. */
import { median } from "./proc.js";
import type { Options } from "./options.js";
import type { CpuSplit } from "./workers-model.js";
import type { Tally } from "./protocol.js";
import type { ScenarioName } from "./scenarios.js";
import type { TargetName } from "./targets.js";

export interface Measurement {
  scenario: ScenarioName;
  target: TargetName;
  round: number;
  /** msg/s or conn/s (loops); undefined for idle. */
  rate?: number;
  p50Ms?: number;
  p99Ms?: number;
  /** Operations measured: echoed messages, completed cycles, or idle connections opened. */
  ops: number;
  elapsedMs: number;
  proxyCpuMs?: number;
  proxyCpuUsPerOp?: number;
  /** The echo backend's CPU per operation: what a plain `ws` endpoint spends, for scale. */
  backendCpuUsPerOp?: number;
  /** Proxy CPU over the measured wall time, % of one core. */
  proxyCpuPercent?: number;
  backendCpuPercent?: number;
  /** The busiest load worker's own CPU, % of one core. */
  generatorCpuPercent?: number;
  /** All load workers together, % of one core. */
  generatorTotalCpuPercent?: number;
  /** Processes other than the bench's and the proxy's, % of one core (from /proc/stat). */
  othersCpuPercent?: number;
  /** Hypervisor steal time over all cores, % of one core. */
  stealPercent?: number;
  /** idle: the proxy's RSS growth per connection (proxy targets). */
  rssKiBPerConn?: number;
  proxyRssKiB?: { before: number; after: number };
  idle?: { asked: number; opened: number; echoed: number; failed: number };
  /** The proxy's CPU per operation, its root process and the rest, user and system (workers-model.ts). */
  proxyCpuSplit?: CpuSplit;
  /** handshake: the unmeasured cycles before it (warmup.ts), completed, and how long they took. */
  warmup?: { cycles: number; ms: number };
  /** wsgate-aware-dashboard: what its dashboard stream had delivered by the end of this measurement. */
  dashboard?: { status: number | undefined; events: Record<string, number>; ended: string };
  /** Things that went wrong, by kind: unexpected closes, errors, unanswered messages. */
  problems: Tally;
  proxyOutput?: string[];
  proxyOutputLines?: number;
  proxyOutputKinds?: Tally;
  /** The whole measurement, set-up and teardown included. */
  wallMs?: number;
  /** From spawning the proxy to its first accepted TCP connection. */
  proxyStartMs?: number;
  proxyStopMs?: number;
  error?: string;
}

export interface Summary {
  scenario: ScenarioName;
  target: TargetName;
  /** Rounds that measured this row without failing, and rounds run. */
  rounds: number;
  plannedRounds: number;
  rate?: number;
  p50Ms?: number;
  p99Ms?: number;
  proxyCpuUsPerOp?: number;
  backendCpuUsPerOp?: number;
  proxyCpuPercent?: number;
  backendCpuPercent?: number;
  generatorCpuPercent?: number;
  othersCpuPercent?: number;
  rssKiBPerConn?: number;
  idle?: { asked: number; opened: number; echoed: number };
  /** Against direct from this run: throughput ratio (higher is better), latency ratios (lower is better). */
  rateVsDirect?: number;
  p50VsDirect?: number;
  p99VsDirect?: number;
}

function medianOf(list: readonly Measurement[], pick: (measurement: Measurement) => number | undefined) {
  return median(
    list.flatMap((measurement) => {
      const value = pick(measurement);
      return value === undefined ? [] : [value];
    }),
  );
}

function ratio(value: number | undefined, base: number | undefined): number | undefined {
  return value === undefined || base === undefined || base === 0 ? undefined : value / base;
}

export function summarize(measurements: readonly Measurement[], options: Options): Summary[] {
  const summaries: Summary[] = [];
  for (const scenario of options.scenarios) {
    let direct: Summary | undefined;
    for (const target of options.targets) {
      const list = measurements.filter((m) => m.scenario === scenario && m.target === target && m.error === undefined);
      const summary: Summary = {
        scenario,
        target,
        rounds: list.length,
        plannedRounds: measurements.filter((m) => m.scenario === scenario && m.target === target).length,
        rate: medianOf(list, (m) => m.rate),
        p50Ms: medianOf(list, (m) => m.p50Ms),
        p99Ms: medianOf(list, (m) => m.p99Ms),
        proxyCpuUsPerOp: medianOf(list, (m) => m.proxyCpuUsPerOp),
        backendCpuUsPerOp: medianOf(list, (m) => m.backendCpuUsPerOp),
        proxyCpuPercent: medianOf(list, (m) => m.proxyCpuPercent),
        backendCpuPercent: medianOf(list, (m) => m.backendCpuPercent),
        generatorCpuPercent: medianOf(list, (m) => m.generatorCpuPercent),
        othersCpuPercent: medianOf(list, (m) => m.othersCpuPercent),
        rssKiBPerConn: medianOf(list, (m) => m.rssKiBPerConn),
      };
      if (scenario === "idle") {
        summary.idle = {
          asked: options.idle,
          opened: Math.min(...list.map((m) => m.idle?.opened ?? 0)),
          echoed: Math.min(...list.map((m) => m.idle?.echoed ?? 0)),
        };
        if (list.length === 0) summary.idle = { asked: options.idle, opened: 0, echoed: 0 };
      }
      if (target === "direct") direct = summary;
      else if (direct !== undefined && scenario !== "idle") {
        summary.rateVsDirect = ratio(summary.rate, direct.rate);
        summary.p50VsDirect = ratio(summary.p50Ms, direct.p50Ms);
        summary.p99VsDirect = ratio(summary.p99Ms, direct.p99Ms);
      }
      summaries.push(summary);
    }
  }
  return summaries;
}
