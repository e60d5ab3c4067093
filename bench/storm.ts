/**
 * The storm scenario: N clients (5,000; --storm-clients) connect at once through the proxy to the echo backend,
 * each sends one 64 B message and waits for its echo. Measured: the time until every one has echoed, the proxy's
 * peak RSS (its process tree sampled from /proc every 20 ms), its CPU, refusals and other failures. Twice per
 * target and round: `warm` (the proxy served a smaller storm first) and `restarted` (the proxy is killed with
 * SIGKILL and started again, and the storm hits it as soon as it accepts TCP: cold code, empty pools).
 * `direct` is the reference: the same storms straight at the backend (which is not restarted).
 */
import { performance } from "node:perf_hooks";
import { roundOrder } from "./baseline.js";
import { BurstWorkers, type StormCommand, type StormReply } from "./burst-load.js";
import { RssSampler, TreeProbe, count, startProxy, ticksToMs, type BurstContext } from "./burst-context.js";
import { split } from "./load.js";
import { addTally, formatTally, type Tally } from "./protocol.js";
import { exited, sleep, within, type ProxyProcess } from "./proxy-process.js";
import { processTree } from "./proc.js";
import { percentile, roundRatios, spreadCell, spreadOf, type RoundFigure } from "./spread.js";
import type { ProxyName, TargetName } from "./targets.js";

export const STORM_PHASES = ["warm", "restarted"] as const;
export type StormPhase = (typeof STORM_PHASES)[number];

/** Load processes opening the storm's connections: one Node process opens ~2,500 sockets quickly, not 5,000. */
export const STORM_WORKERS = 4;
const STORM_SIZE = 64;
const RSS_SAMPLE_MS = 20;

export interface StormMeasurement {
  round: number;
  target: TargetName;
  phase: StormPhase;
  clients: number;
  echoed: number;
  failed: number;
  refused: number;
  /** From the first worker's start to the last echo; only when every client echoed. */
  allEchoedMs?: number;
  /** From the start to the last echo that came, whether or not all did. */
  lastEchoMs?: number;
  p50Ms?: number;
  p99Ms?: number;
  rssBeforeKiB?: number;
  peakRssKiB?: number;
  /** Proxy CPU from the storm's start until every client has closed. */
  proxyCpuMs?: number;
  /** restarted: from the kill to the new process accepting TCP. */
  restartMs?: number;
  problems: Tally;
  error?: string;
}

/** Clients a storm may have: the proxy holds two descriptors per client, the backend one. */
export function stormClientCap(maxFiles: number): number {
  return Math.max(1, Math.floor((maxFiles - 512) / 2));
}

/** Counts and times of one storm from the workers' replies; `clients` asked for in all. */
export function tallyStorm(
  replies: readonly StormReply[],
  clients: number,
): Omit<StormMeasurement, "round" | "target" | "phase"> {
  const problems: Tally = {};
  let echoed = 0;
  let failed = 0;
  let refused = 0;
  const latencies: number[] = [];
  for (const reply of replies) {
    echoed += reply.echoed;
    failed += reply.failed;
    refused += reply.refused;
    for (const value of reply.latencies) latencies.push(value);
    for (const [key, n] of Object.entries(reply.problems)) addTally(problems, key, n);
  }
  const missing = clients - echoed - failed;
  if (missing > 0) addTally(problems, "clients unaccounted for", missing);
  const start = Math.min(...replies.map((reply) => reply.startedAt));
  const lastEcho = Math.max(...replies.map((reply) => reply.lastEchoAt));
  const lastEchoMs = echoed > 0 && Number.isFinite(start) ? lastEcho - start : undefined;
  return {
    clients,
    echoed,
    failed,
    refused,
    lastEchoMs,
    allEchoedMs: echoed === clients ? lastEchoMs : undefined,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    problems,
  };
}

async function storm(
  ctx: BurstContext,
  workers: BurstWorkers,
  url: string,
  clients: number,
  timeoutMs: number,
): Promise<Omit<StormMeasurement, "round" | "target" | "phase">> {
  const commands: StormCommand[] = split(clients, workers.count).map((share) => ({
    type: "storm",
    url,
    clients: share,
    size: STORM_SIZE,
    timeoutMs,
  }));
  const replies = await workers.allOf(commands, "stormed", timeoutMs + 30_000);
  return tallyStorm(replies, clients);
}

/** One measured storm with the proxy's RSS sampled and CPU read around it. */
async function measuredStorm(
  ctx: BurstContext,
  workers: BurstWorkers,
  proxy: ProxyProcess | undefined,
  clients: number,
  timeoutMs: number,
): Promise<Omit<StormMeasurement, "round" | "target" | "phase">> {
  const url = proxy?.url ?? `ws://127.0.0.1:${ctx.backendPort}/ws`;
  const probe = new TreeProbe(proxy?.pid ?? ctx.backendPid);
  const rssBeforeKiB = probe.rssKiB();
  const cpuBefore = probe.cpuTicks();
  const sampler = new RssSampler(probe, RSS_SAMPLE_MS);
  try {
    const result = await storm(ctx, workers, url, clients, timeoutMs);
    const peakRssKiB = sampler.stop();
    // direct: the figures are the backend's, and shown as such.
    return {
      ...result,
      rssBeforeKiB,
      peakRssKiB,
      proxyCpuMs: ticksToMs(cpuBefore, probe.cpuTicks(), ctx.ticksPerSecond),
    };
  } finally {
    sampler.stop();
  }
}

/** SIGKILL to the proxy's whole tree (nginx's worker too), then wait for it to be gone. */
async function killProxy(proxy: ProxyProcess): Promise<void> {
  const tree = processTree(proxy.pid);
  for (const pid of tree.reverse()) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
  await within(exited(proxy.child), 5000);
  await proxy.stop();
}

/** Both storms of one target in one round. */
async function stormTarget(
  ctx: BurstContext,
  workers: BurstWorkers,
  target: TargetName,
  round: number,
  clients: number,
): Promise<StormMeasurement[]> {
  const timeoutMs = ctx.quick ? 20_000 : 60_000;
  const warmClients = Math.min(500, clients);
  const results: StormMeasurement[] = [];
  let proxy: ProxyProcess | undefined;
  const failedAll = (phase: StormPhase, error: Error): StormMeasurement => ({
    round,
    target,
    phase,
    clients,
    echoed: 0,
    failed: clients,
    refused: 0,
    problems: {},
    error: error.message,
  });
  try {
    if (target !== "direct") proxy = await startProxy(ctx, target as ProxyName);
    // Warm: a smaller storm first, unmeasured, so that this one sees code that has run.
    await storm(ctx, workers, proxy?.url ?? `ws://127.0.0.1:${ctx.backendPort}/ws`, warmClients, timeoutMs);
    await sleep(300);
    results.push({ round, target, phase: "warm", ...(await measuredStorm(ctx, workers, proxy, clients, timeoutMs)) });
  } catch (error) {
    results.push(failedAll("warm", error as Error));
  }
  try {
    let restartMs: number | undefined;
    if (proxy !== undefined) {
      const killedAt = performance.now();
      await killProxy(proxy);
      proxy = await startProxy(ctx, target as ProxyName);
      restartMs = performance.now() - killedAt;
    }
    const measured = await measuredStorm(ctx, workers, proxy, clients, timeoutMs);
    results.push({ round, target, phase: "restarted", ...measured, restartMs });
  } catch (error) {
    results.push(failedAll("restarted", error as Error));
  } finally {
    if (proxy !== undefined) {
      const kinds = { ...proxy.outputKinds };
      await proxy.stop();
      const last = results[results.length - 1];
      if (last !== undefined)
        for (const [kind, n] of Object.entries(kinds)) addTally(last.problems, `proxy ${kind}`, n);
    }
  }
  return results;
}

export async function runStorm(
  ctx: BurstContext,
  requestedClients: number,
): Promise<{
  measurements: StormMeasurement[];
  markdown: string;
}> {
  const clients = Math.min(requestedClients, stormClientCap(ctx.maxFiles));
  const notes: string[] = [];
  if (clients < requestedClients)
    notes.push(
      `clients capped at ${count.format(clients)} (asked ${count.format(requestedClients)}) by ulimit -n ${ctx.maxFiles}`,
    );
  const targets = ctx.targets;
  const workers = await BurstWorkers.start(STORM_WORKERS, ctx.track);
  const measurements: StormMeasurement[] = [];
  try {
    for (let round = 1; round <= ctx.rounds; round++) {
      for (const target of roundOrder(targets, round)) {
        if (ctx.interrupted()) break;
        for (const m of await stormTarget(ctx, workers, target, round, clients)) {
          measurements.push(m);
          ctx.log(`round ${round} storm ${m.phase} ${target}: ${stormLine(m)}`);
        }
      }
    }
  } finally {
    workers.stop();
  }
  return { measurements, markdown: stormReport(measurements, targets, clients, notes) };
}

function stormLine(m: StormMeasurement): string {
  if (m.error !== undefined) return `FAILED: ${m.error}`;
  const problems = Object.keys(m.problems).length > 0 ? ` [${formatTally(m.problems)}]` : "";
  const all =
    m.allEchoedMs === undefined
      ? `last echo ${m.lastEchoMs?.toFixed(0) ?? "—"} ms`
      : `all echoed in ${m.allEchoedMs.toFixed(0)} ms`;
  return `${m.echoed}/${m.clients} echoed, ${all}, peak RSS ${((m.peakRssKiB ?? 0) / 1024).toFixed(1)} MiB${problems}`;
}

/** The storm section of the report: per phase a row per target, medians over rounds with their spread. */
export function stormReport(
  measurements: readonly StormMeasurement[],
  targets: readonly TargetName[],
  clients: number,
  notes: readonly string[] = [],
): string {
  const lines = [
    `## Storm: ${count.format(clients)} clients at once`,
    "",
    `Each client opens a WebSocket through the target, sends one ${STORM_SIZE} B message and waits for its echo; all connect at once from ${STORM_WORKERS} load processes. **all echoed** is the time from the first client's start until every client has echoed (median over rounds [min–max]); ratios are taken round by round against direct and against nginx. **peak RSS** is the proxy's process tree, sampled every ${RSS_SAMPLE_MS} ms (for direct: the echo backend's). **warm**: after an unmeasured storm of 500; **restarted**: the proxy was killed (SIGKILL) and started again, and the storm came as soon as it accepted TCP. With pinning, the load processes share one core with the echo backend while the proxy has the other: direct's time is the generator's and the backend's, not a proxy-free ideal.`,
    ...notes.map((note) => `Note: ${note}.`),
    "",
  ];
  for (const phase of STORM_PHASES) {
    const list = measurements.filter((m) => m.phase === phase);
    const figures = (pick: (m: StormMeasurement) => number | undefined): RoundFigure[] =>
      list.map((m) => ({ round: m.round, target: m.target, value: m.error === undefined ? pick(m) : undefined }));
    // A storm where some clients failed is timed to its last echo, and marked.
    const allEchoed = figures((m) => m.allEchoedMs ?? m.lastEchoMs);
    lines.push(
      `**${phase}**`,
      "",
      "| target | all echoed ms | × direct | × nginx | p50 ms | p99 ms | peak RSS MiB | proxy CPU µs/client | echoed (all rounds) | refused | other failures, proxy output |",
      `|${" --- |".repeat(11)}`,
    );
    for (const target of targets) {
      const rows = list.filter((m) => m.target === target);
      if (rows.length === 0) continue;
      const ok = rows.filter((m) => m.error === undefined);
      const echoed = rows.reduce((sum, m) => sum + m.echoed, 0);
      const asked = rows.reduce((sum, m) => sum + m.clients, 0);
      const refused = rows.reduce((sum, m) => sum + m.refused, 0);
      const failures: Tally = {};
      for (const m of rows) {
        for (const [key, n] of Object.entries(m.problems)) if (key !== "ECONNREFUSED") addTally(failures, key, n);
        if (m.error !== undefined) addTally(failures, `error: ${m.error.slice(0, 80)}`);
      }
      lines.push(
        `| ${[
          target,
          `${spreadCell(spreadOf(ok.map((m) => m.allEchoedMs ?? m.lastEchoMs)), 0)}${ok.some((m) => m.allEchoedMs === undefined) ? " *" : ""}`,
          target === "direct" ? "—" : spreadCell(spreadOf(roundRatios(allEchoed, target, "direct")), 2, "×"),
          target === "nginx" ? "—" : spreadCell(spreadOf(roundRatios(allEchoed, target, "nginx")), 2, "×"),
          spreadCell(spreadOf(ok.map((m) => m.p50Ms)), 0),
          spreadCell(spreadOf(ok.map((m) => m.p99Ms)), 0),
          spreadCell(spreadOf(ok.map((m) => (m.peakRssKiB === undefined ? undefined : m.peakRssKiB / 1024))), 1),
          spreadCell(
            spreadOf(
              ok.map((m) =>
                m.proxyCpuMs === undefined || m.clients === 0 ? undefined : (m.proxyCpuMs * 1000) / m.clients,
              ),
            ),
            0,
          ),
          `${count.format(echoed)}/${count.format(asked)}`,
          count.format(refused),
          Object.keys(failures).length === 0 ? "—" : formatTally(failures),
        ].join(" | ")} |`,
      );
    }
    lines.push("");
  }
  if (measurements.some((m) => m.error === undefined && m.allEchoedMs === undefined))
    lines.push("\\* not every client echoed in some rounds: those rounds are timed to their last echo.", "");
  return lines.join("\n");
}
