/**
 * The wss:// scenarios: TLS terminated by the proxy (TLS 1.3 only, the run's ECDSA P-256 certificate, session
 * tickets on), for wsgate, wsgate-aware, nginx and HAProxy; `direct` (plaintext ws:// to the backend) is the
 * reference. Four loops per target and round, on one proxy started for them:
 * - `wss-cycle`: open (a full TLS handshake) → one 64 B echo → close, 50 loops;
 * - `wss-cycle-resumed`: the same, each loop offering the session ticket its previous connection got;
 * - `wss-echo-64`, `wss-echo-16k`: one message in flight on each of 50 kept connections.
 * Reported: proxy CPU per operation and its ratio to nginx's (round by round), throughput against direct, and what
 * the handshakes negotiated (protocol, share resumed) with one sample connection's details.
 */
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { BASELINE_PAIRS, roundOrder } from "./baseline.js";
import { BurstWorkers, type TlsClient, type TlsRunReply, type TlsSample } from "./burst-load.js";
import { TreeProbe, count, startProxy, ticksToMs, type BurstContext } from "./burst-context.js";
import { split } from "./load.js";
import { addTally, formatTally, type Tally } from "./protocol.js";
import type { ProxyProcess } from "./proxy-process.js";
import { percentile, roundRatios, spreadCell, spreadOf, type RoundFigure } from "./spread.js";
import { CYCLES_TIME_LIMIT_MS } from "./warmup.js";
import { CERT_SERVERNAME, describeKey, makeCertificate, type BenchCertificate } from "./tls-certs.js";
import { terminatesTls, type ProxyName, type TargetName } from "./targets.js";

export interface TlsScenario {
  name: "wss-cycle" | "wss-cycle-resumed" | "wss-echo-64" | "wss-echo-16k";
  kind: "cycle" | "echo";
  size: number;
  /** Loops (cycle) or kept connections (echo), over all workers. */
  connections: number;
  resume: boolean;
  unit: "conn/s" | "msg/s";
}

export const TLS_SCENARIOS: readonly TlsScenario[] = [
  { name: "wss-cycle", kind: "cycle", size: 64, connections: 50, resume: false, unit: "conn/s" },
  { name: "wss-cycle-resumed", kind: "cycle", size: 64, connections: 50, resume: true, unit: "conn/s" },
  { name: "wss-echo-64", kind: "echo", size: 64, connections: 50, resume: false, unit: "msg/s" },
  { name: "wss-echo-16k", kind: "echo", size: 16 * 1024, connections: 50, resume: false, unit: "msg/s" },
];

export interface TlsMeasurement {
  round: number;
  target: TargetName;
  scenario: TlsScenario["name"];
  ops: number;
  rate?: number;
  p50Ms?: number;
  p99Ms?: number;
  proxyCpuUsPerOp?: number;
  handshakes: number;
  resumed: number;
  protocols: Tally;
  sample?: TlsSample;
  problems: Tally;
  error?: string;
}

/** The targets of the wss:// scenarios among those asked for: direct and the ones that terminate TLS. */
export function tlsTargets(targets: readonly TargetName[]): TargetName[] {
  return targets.filter((target) => target === "direct" || terminatesTls(target));
}

/** Sums the workers' replies of one measured run (rate from each worker's own elapsed time). */
export function tallyTlsRun(
  replies: readonly TlsRunReply[],
): Pick<
  TlsMeasurement,
  "ops" | "rate" | "p50Ms" | "p99Ms" | "handshakes" | "resumed" | "protocols" | "sample" | "problems"
> {
  let ops = 0;
  let rate = 0;
  let handshakes = 0;
  let resumed = 0;
  let sample: TlsSample | undefined;
  const protocols: Tally = {};
  const problems: Tally = {};
  const latencies: number[] = [];
  for (const reply of replies) {
    ops += reply.count;
    if (reply.elapsedMs > 0) rate += (reply.count / reply.elapsedMs) * 1000;
    handshakes += reply.handshakes;
    resumed += reply.resumed;
    sample ??= reply.sample;
    for (const value of reply.latencies) latencies.push(value);
    for (const [key, n] of Object.entries(reply.protocols)) addTally(protocols, key, n);
    for (const [key, n] of Object.entries(reply.problems)) addTally(problems, key, n);
  }
  return {
    ops,
    rate,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    handshakes,
    resumed,
    protocols,
    sample,
    problems,
  };
}

async function measureScenario(
  ctx: BurstContext,
  workers: BurstWorkers,
  scenario: TlsScenario,
  target: TargetName,
  round: number,
  proxy: ProxyProcess | undefined,
  client: TlsClient | undefined,
): Promise<TlsMeasurement> {
  const url = proxy === undefined ? `ws://127.0.0.1:${ctx.backendPort}/ws` : `wss://127.0.0.1:${proxy.port}/ws`;
  const shares = split(scenario.connections, workers.count);
  const problems: Tally = {};
  let openSample: TlsSample | undefined;
  const openProtocols: Tally = {};
  if (scenario.kind === "echo") {
    const opened = await workers.allOf(
      shares.map((connections) => ({ type: "tls-open", url, connections, tls: client })),
      "tls-opened",
      60_000,
    );
    for (const reply of opened) {
      openSample ??= reply.sample;
      for (const [key, n] of Object.entries(reply.protocols)) addTally(openProtocols, key, n);
      for (const [key, n] of Object.entries(reply.problems)) addTally(problems, key, n);
    }
  }
  const run = (durationMs: number, cycles?: readonly number[]) =>
    workers.allOf(
      shares.map((loops, index) => ({
        type: "tls-run",
        kind: scenario.kind,
        url,
        size: scenario.size,
        loops,
        durationMs,
        cycles: cycles?.[index],
        tls: client,
        resume: scenario.resume,
      })),
      "tls-result",
      durationMs + 60_000,
    );
  let measurement: TlsMeasurement | undefined;
  try {
    // The warm-up also gives each resuming loop its first ticket. Cycles are warmed by a count, as the ws://
    // handshake is (warmup.ts): at a few hundred TLS handshakes a second a 1 s warm-up left a Node proxy's handshake
    // path still being optimized through the measured seconds, a cost the proxies without a JIT never pay.
    if (scenario.kind === "cycle" && ctx.warmCycles > 0)
      await run(CYCLES_TIME_LIMIT_MS, split(ctx.warmCycles, workers.count));
    else if (ctx.warmupMs > 0 || scenario.resume) await run(Math.max(ctx.warmupMs, scenario.resume ? 200 : 0));
    const probe = new TreeProbe(proxy?.pid ?? ctx.backendPid);
    const before = probe.cpuTicks();
    const replies = await run(ctx.durationMs);
    const cpuMs = ticksToMs(before, probe.cpuTicks(), ctx.ticksPerSecond);
    const tally = tallyTlsRun(replies);
    if (scenario.kind === "echo") {
      tally.sample = openSample;
      tally.protocols = openProtocols;
    }
    measurement = {
      round,
      target,
      scenario: scenario.name,
      ...tally,
      // direct has no proxy: its CPU figure would be the backend's, which the proxies' rows do not include.
      proxyCpuUsPerOp:
        proxy === undefined || cpuMs === undefined || tally.ops === 0 ? undefined : (cpuMs * 1000) / tally.ops,
    };
  } finally {
    if (scenario.kind === "echo") {
      const closed = await workers.allOf(
        shares.map(() => ({ type: "tls-close" })),
        "tls-closed",
        30_000,
      );
      for (const reply of closed) for (const [key, n] of Object.entries(reply.problems)) addTally(problems, key, n);
    }
  }
  for (const [key, n] of Object.entries(problems)) addTally(measurement.problems, key, n);
  return measurement;
}

export async function runTlsScenarios(ctx: BurstContext): Promise<{
  measurements: TlsMeasurement[];
  markdown: string;
}> {
  const certificate: BenchCertificate = makeCertificate(mkdtempSync(join(ctx.tmpRoot, "cert-")));
  const key = describeKey(certificate.certPem);
  ctx.log(`wss: certificate ${key}, made with openssl in ${ctx.tmpRoot}`);
  const client: TlsClient = { ca: certificate.certPem, servername: CERT_SERVERNAME };
  const targets = tlsTargets(ctx.targets);
  const workers = await BurstWorkers.start(ctx.workers, ctx.track);
  const measurements: TlsMeasurement[] = [];
  try {
    for (let round = 1; round <= ctx.rounds; round++) {
      // With --baseline each wsgate target and its -before build run next to each other, in turns.
      for (const target of roundOrder(targets, round)) {
        if (ctx.interrupted()) break;
        let proxy: ProxyProcess | undefined;
        try {
          if (target !== "direct") proxy = await startProxy(ctx, target as ProxyName, certificate);
          for (const scenario of TLS_SCENARIOS) {
            const began = performance.now();
            let m: TlsMeasurement;
            try {
              m = await measureScenario(
                ctx,
                workers,
                scenario,
                target,
                round,
                proxy,
                target === "direct" ? undefined : client,
              );
            } catch (error) {
              m = {
                round,
                target,
                scenario: scenario.name,
                ops: 0,
                handshakes: 0,
                resumed: 0,
                protocols: {},
                problems: {},
                error: (error as Error).message,
              };
            }
            measurements.push(m);
            ctx.log(
              `round ${round} ${scenario.name} ${target}: ${tlsLine(m)} (${((performance.now() - began) / 1000).toFixed(1)} s)`,
            );
          }
        } catch (error) {
          for (const scenario of TLS_SCENARIOS)
            measurements.push({
              round,
              target,
              scenario: scenario.name,
              ops: 0,
              handshakes: 0,
              resumed: 0,
              protocols: {},
              problems: {},
              error: (error as Error).message,
            });
        } finally {
          if (proxy !== undefined) {
            const kinds = proxy.outputKinds;
            await proxy.stop();
            const last = measurements[measurements.length - 1];
            if (last !== undefined)
              for (const [kind, n] of Object.entries(kinds)) addTally(last.problems, `proxy ${kind}`, n);
          }
        }
      }
    }
  } finally {
    workers.stop();
  }
  return { measurements, markdown: tlsReport(measurements, targets, key, ctx.warmCycles) };
}

function tlsLine(m: TlsMeasurement): string {
  if (m.error !== undefined) return `FAILED: ${m.error}`;
  const unit = m.scenario.startsWith("wss-cycle") ? "conn/s" : "msg/s";
  const tls =
    m.sample === undefined
      ? ""
      : `, ${m.sample.protocol} ${m.sample.cipher}${m.handshakes > 0 ? `, resumed ${m.resumed}/${m.handshakes}` : ""}`;
  const problems = Object.keys(m.problems).length > 0 ? ` [${formatTally(m.problems)}]` : "";
  return `${count.format(m.rate ?? 0)} ${unit}, proxy ${m.proxyCpuUsPerOp?.toFixed(1) ?? "—"} µs/op${tls}${problems}`;
}

/** The wss:// section of the report: per scenario a row per target. */
export function tlsReport(
  measurements: readonly TlsMeasurement[],
  targets: readonly TargetName[],
  key: string,
  warmCycles = 0,
): string {
  const warmth =
    warmCycles > 0
      ? ` Each cycle scenario is measured after ${count.format(warmCycles)} unmeasured cycles on the same proxy (a count, not a time: V8 optimizes by invocations), the echo ones after the warm-up time.`
      : "";
  const lines = [
    "## wss:// (TLS terminated by the proxy)",
    "",
    `TLS 1.3 only, certificate ${key} (self-signed, made with openssl at the start of the run), session tickets on at every proxy; direct is plaintext ws:// to the backend, the reference for throughput.${warmth} **proxy CPU µs/op** is the proxy's process tree per cycle or message, median over rounds [min–max]; **× nginx** is that figure over nginx's, round by round. **resumed** counts the handshakes that resumed a session (wss-cycle-resumed offers the ticket of the loop's previous connection; the others offer none); **negotiated** is the protocol of every handshake and one sample connection's cipher.`,
    "",
    "| scenario | target | throughput | × direct | proxy CPU µs/op | CPU × nginx | p50 ms | p99 ms | resumed | negotiated | problems |",
    `|${" --- |".repeat(11)}`,
  ];
  for (const scenario of TLS_SCENARIOS) {
    const list = measurements.filter((m) => m.scenario === scenario.name);
    const figures = (pick: (m: TlsMeasurement) => number | undefined): RoundFigure[] =>
      list.map((m) => ({ round: m.round, target: m.target, value: m.error === undefined ? pick(m) : undefined }));
    const rates = figures((m) => m.rate);
    const cpu = figures((m) => m.proxyCpuUsPerOp);
    for (const target of targets) {
      const rows = list.filter((m) => m.target === target);
      if (rows.length === 0) continue;
      const ok = rows.filter((m) => m.error === undefined);
      const handshakes = ok.reduce((sum, m) => sum + m.handshakes, 0);
      const resumed = ok.reduce((sum, m) => sum + m.resumed, 0);
      const protocols: Tally = {};
      const problems: Tally = {};
      for (const m of rows) {
        for (const [k, n] of Object.entries(m.protocols)) addTally(protocols, k, n);
        for (const [k, n] of Object.entries(m.problems)) addTally(problems, k, n);
        if (m.error !== undefined) addTally(problems, `error: ${m.error.slice(0, 80)}`);
      }
      const sample = ok.find((m) => m.sample !== undefined)?.sample;
      const negotiated =
        target === "direct"
          ? "plaintext"
          : `${Object.keys(protocols).length === 0 ? "—" : formatTally(protocols)}${sample === undefined ? "" : `; ${sample.cipher}`}`;
      lines.push(
        `| ${[
          scenario.name,
          target,
          `${spreadCell(spreadOf(ok.map((m) => m.rate)), 0)} ${scenario.unit}${ok.length < rows.length ? ` (${ok.length} of ${rows.length} rounds)` : ""}`,
          target === "direct" ? "—" : spreadCell(spreadOf(roundRatios(rates, target, "direct")), 2, "×"),
          spreadCell(spreadOf(ok.map((m) => m.proxyCpuUsPerOp)), 1),
          target === "direct" || target === "nginx"
            ? "—"
            : spreadCell(spreadOf(roundRatios(cpu, target, "nginx")), 2, "×"),
          spreadCell(spreadOf(ok.map((m) => m.p50Ms)), 2),
          spreadCell(spreadOf(ok.map((m) => m.p99Ms)), 2),
          handshakes === 0 ? "—" : `${count.format(resumed)}/${count.format(handshakes)}`,
          negotiated,
          Object.keys(problems).length === 0 ? "—" : formatTally(problems),
        ].join(" | ")} |`,
      );
    }
  }
  lines.push("", ...tlsBaselineLines(measurements, targets), "");
  return lines.join("\n");
}

/**
 * With --baseline: each wsgate target over its `-before` build (the same config, interleaved in every round), per
 * scenario, taken round by round: proxy CPU per operation and throughput, median [min–max].
 */
function tlsBaselineLines(measurements: readonly TlsMeasurement[], targets: readonly TargetName[]): string[] {
  const pairs = BASELINE_PAIRS.filter((pair) => targets.includes(pair.after) && targets.includes(pair.before));
  if (pairs.length === 0) return [];
  const lines = [
    "**After / before (--baseline)**: this build over the baseline build, same config, round by round.",
    "",
    "| scenario | after ÷ before | proxy CPU µs/op | throughput |",
    `|${" --- |".repeat(4)}`,
  ];
  for (const scenario of TLS_SCENARIOS) {
    const list = measurements.filter((m) => m.scenario === scenario.name && m.error === undefined);
    const figures = (pick: (m: TlsMeasurement) => number | undefined): RoundFigure[] =>
      list.map((m) => ({ round: m.round, target: m.target, value: pick(m) }));
    for (const pair of pairs) {
      const cpu = roundRatios(
        figures((m) => m.proxyCpuUsPerOp),
        pair.after,
        pair.before,
      );
      const rate = roundRatios(
        figures((m) => m.rate),
        pair.after,
        pair.before,
      );
      lines.push(
        `| ${scenario.name} | ${pair.after} ÷ ${pair.before} | ${spreadCell(spreadOf(cpu), 2, "×")} | ${spreadCell(spreadOf(rate), 2, "×")} |`,
      );
    }
  }
  return lines;
}
