/**
 * The h2 section of `npm run bench` (scenario `h2`): WebSockets over HTTP/2 (RFC 8441) beside HTTP/1.1, through one
 * wsgate process per round (`wsgate-h2`: TLS 1.3, ALPN h2 and http/1.1 on one port), the run's certificate. Three
 * transports for each of echo-64, echo-16k (50 kept sessions, one message in flight on each) and handshake (50 open
 * → one 64 B echo → close loops):
 * - `h1`: wss:// over HTTP/1.1, one session per TLS connection (the wss:// scenarios' ws client, burst-load.ts);
 * - `h2-mux`: the sessions multiplexed, one h2 connection per load worker (50 sessions on 2 connections by default);
 *   handshake loops open streams on it, the connection dialled once outside the measurement;
 * - `h2-conn`: one h2 connection per session; handshake loops dial a connection per cycle (TLS, SETTINGS, CONNECT).
 * Reported per scenario and transport: throughput, its ratio to h1 round by round, proxy CPU per operation (the
 * proxy's process tree, from /proc), p50/p99, and problems; median over rounds [min–max].
 */
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { BurstWorkers, type TlsClient } from "./burst-load.js";
import { TreeProbe, count, startProxy, ticksToMs, type BurstContext } from "./burst-context.js";
import type { H2Target } from "./h2-client.js";
import { H2_PATH, H2Workers, type H2RunResult } from "./h2-load.js";
import { split } from "./load.js";
import { addTally, formatTally, type Tally } from "./protocol.js";
import type { ProxyProcess } from "./proxy-process.js";
import { percentile, roundRatios, spreadCell, spreadOf, type RoundFigure } from "./spread.js";
import { CERT_SERVERNAME, makeCertificate } from "./tls-certs.js";
import { H2_TARGET } from "./targets.js";

export const H2_TRANSPORTS = ["h1", "h2-mux", "h2-conn"] as const;
export type H2Transport = (typeof H2_TRANSPORTS)[number];

export interface H2Scenario {
  name: "h2-echo-64" | "h2-echo-16k" | "h2-handshake";
  kind: "echo" | "cycle";
  size: number;
  /** Kept sessions (echo) or concurrent loops (cycle), over all workers. */
  sessions: number;
  unit: "msg/s" | "conn/s";
}

export const H2_SCENARIOS: readonly H2Scenario[] = [
  { name: "h2-echo-64", kind: "echo", size: 64, sessions: 50, unit: "msg/s" },
  { name: "h2-echo-16k", kind: "echo", size: 16 * 1024, sessions: 50, unit: "msg/s" },
  { name: "h2-handshake", kind: "cycle", size: 64, sessions: 50, unit: "conn/s" },
];

export interface H2Measurement {
  round: number;
  scenario: H2Scenario["name"];
  transport: H2Transport;
  ops: number;
  rate?: number;
  p50Ms?: number;
  p99Ms?: number;
  proxyCpuUsPerOp?: number;
  /** TCP connections the measurement used (kept) or dialled (cycles). */
  connections: number;
  /** ALPN protocols negotiated by the kept connections. */
  alpn: Tally;
  problems: Tally;
  error?: string;
}

/** Sums one measured run over the workers (rate from each worker's own elapsed time). */
export function tallyH2Run(
  results: readonly H2RunResult[],
): Pick<H2Measurement, "ops" | "rate" | "p50Ms" | "p99Ms" | "problems"> & { connections: number } {
  let ops = 0;
  let rate = 0;
  let connections = 0;
  const latencies: number[] = [];
  const problems: Tally = {};
  for (const result of results) {
    ops += result.count;
    connections += result.connections;
    if (result.elapsedMs > 0) rate += (result.count / result.elapsedMs) * 1000;
    for (const value of result.latencies) latencies.push(value);
    for (const [key, n] of Object.entries(result.problems)) addTally(problems, key, n);
  }
  return { ops, rate, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99), problems, connections };
}

interface Rig {
  ctx: BurstContext;
  h2: H2Workers;
  h1: BurstWorkers;
  target: H2Target;
  tls: TlsClient;
  proxy: ProxyProcess;
}

/** One measured run of `scenario` over `transport`: the worker replies as H2RunResults, and what was kept open. */
async function run(rig: Rig, scenario: H2Scenario, transport: H2Transport, durationMs: number): Promise<H2RunResult[]> {
  const { ctx } = rig;
  const shares = split(scenario.sessions, ctx.workers);
  const url = `wss://127.0.0.1:${rig.proxy.port}${H2_PATH}`;
  if (transport === "h1") {
    const replies = await rig.h1.allOf(
      shares.map((loops) => ({
        type: "tls-run",
        kind: scenario.kind,
        url,
        size: scenario.size,
        loops,
        durationMs,
        tls: rig.tls,
        resume: false,
      })),
      "tls-result",
      durationMs + 60_000,
    );
    return replies.map((reply) => ({
      count: reply.count,
      elapsedMs: reply.elapsedMs,
      latencies: reply.latencies,
      connections: scenario.kind === "cycle" ? reply.handshakes : 0,
      problems: reply.problems,
    }));
  }
  return rig.h2.allOf(
    shares.map((loops) =>
      scenario.kind === "echo"
        ? { type: "h2-run", kind: "echo", size: scenario.size, durationMs }
        : {
            type: "h2-run",
            kind: "cycle",
            size: scenario.size,
            durationMs,
            target: rig.target,
            loops,
            perConnection: transport === "h2-conn",
          },
    ),
    "h2-result",
    durationMs + 60_000,
  );
}

async function measure(rig: Rig, scenario: H2Scenario, transport: H2Transport, round: number): Promise<H2Measurement> {
  const { ctx } = rig;
  const shares = split(scenario.sessions, ctx.workers);
  const problems: Tally = {};
  const alpn: Tally = {};
  let kept = 0;
  // Kept sessions for the echo loops: opened before, closed after the measurement.
  if (scenario.kind === "echo") {
    if (transport === "h1") {
      const opened = await rig.h1.allOf(
        shares.map((connections) => ({
          type: "tls-open",
          url: `wss://127.0.0.1:${rig.proxy.port}${H2_PATH}`,
          connections,
          tls: rig.tls,
        })),
        "tls-opened",
        60_000,
      );
      for (const reply of opened) {
        kept += reply.opened;
        addTally(alpn, "http/1.1", reply.opened);
        for (const [key, n] of Object.entries(reply.problems)) addTally(problems, key, n);
      }
    } else {
      const opened = await rig.h2.allOf(
        shares.map((sessions) => ({
          type: "h2-open",
          target: rig.target,
          connections: transport === "h2-mux" ? 1 : sessions,
          sessions,
        })),
        "h2-opened",
        60_000,
      );
      for (const reply of opened) {
        kept += reply.connections;
        for (const [key, n] of Object.entries(reply.alpn)) addTally(alpn, key, n);
        for (const [key, n] of Object.entries(reply.problems)) addTally(problems, key, n);
      }
    }
  }
  try {
    if (ctx.warmupMs > 0) await run(rig, scenario, transport, ctx.warmupMs);
    const probe = new TreeProbe(rig.proxy.pid);
    const before = probe.cpuTicks();
    const results = await run(rig, scenario, transport, ctx.durationMs);
    const cpuMs = ticksToMs(before, probe.cpuTicks(), ctx.ticksPerSecond);
    const tally = tallyH2Run(results);
    for (const [key, n] of Object.entries(tally.problems)) addTally(problems, key, n);
    return {
      round,
      scenario: scenario.name,
      transport,
      ops: tally.ops,
      rate: tally.rate,
      p50Ms: tally.p50Ms,
      p99Ms: tally.p99Ms,
      proxyCpuUsPerOp: cpuMs === undefined || tally.ops === 0 ? undefined : (cpuMs * 1000) / tally.ops,
      connections: scenario.kind === "echo" ? kept : tally.connections,
      alpn,
      problems,
    };
  } finally {
    if (scenario.kind === "echo") {
      const closed =
        transport === "h1"
          ? await rig.h1.allOf(
              shares.map(() => ({ type: "tls-close" })),
              "tls-closed",
              30_000,
            )
          : await rig.h2.allOf(
              shares.map(() => ({ type: "h2-close" })),
              "h2-closed",
              30_000,
            );
      for (const reply of closed) for (const [key, n] of Object.entries(reply.problems)) addTally(problems, key, n);
    }
  }
}

function failed(round: number, scenario: H2Scenario, transport: H2Transport, error: unknown): H2Measurement {
  return {
    round,
    scenario: scenario.name,
    transport,
    ops: 0,
    connections: 0,
    alpn: {},
    problems: {},
    error: (error as Error).message,
  };
}

/** Runs the h2 section: `rounds` rounds, a fresh wsgate-h2 each round, the transports' order reversed every other. */
export async function runH2Scenarios(ctx: BurstContext): Promise<{ measurements: H2Measurement[]; markdown: string }> {
  const certificate = makeCertificate(mkdtempSync(join(ctx.tmpRoot, "h2-cert-")));
  const tls: TlsClient = { ca: certificate.certPem, servername: CERT_SERVERNAME };
  const h2 = await H2Workers.start(ctx.workers, ctx.track);
  const h1 = await BurstWorkers.start(ctx.workers, ctx.track).catch((error: unknown) => {
    h2.stop();
    throw error;
  });
  const measurements: H2Measurement[] = [];
  try {
    for (let round = 1; round <= ctx.rounds && !ctx.interrupted(); round++) {
      let proxy: ProxyProcess | undefined;
      try {
        proxy = await startProxy(ctx, H2_TARGET, certificate);
        const rig: Rig = {
          ctx,
          h2,
          h1,
          proxy,
          tls,
          target: {
            url: `https://127.0.0.1:${proxy.port}${H2_PATH}`,
            ca: certificate.certPem,
            servername: CERT_SERVERNAME,
          },
        };
        for (const scenario of H2_SCENARIOS) {
          const order = round % 2 === 1 ? [...H2_TRANSPORTS] : [...H2_TRANSPORTS].reverse();
          for (const transport of order) {
            if (ctx.interrupted()) break;
            const began = performance.now();
            let m: H2Measurement;
            try {
              m = await measure(rig, scenario, transport, round);
            } catch (error) {
              m = failed(round, scenario, transport, error);
            }
            measurements.push(m);
            ctx.log(
              `round ${round} ${scenario.name} ${transport}: ${h2Line(m)} (${((performance.now() - began) / 1000).toFixed(1)} s)`,
            );
          }
        }
      } catch (error) {
        for (const scenario of H2_SCENARIOS)
          for (const transport of H2_TRANSPORTS) measurements.push(failed(round, scenario, transport, error));
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
  } finally {
    h2.stop();
    h1.stop();
  }
  return { measurements, markdown: h2Report(measurements) };
}

function h2Line(m: H2Measurement): string {
  if (m.error !== undefined) return `FAILED: ${m.error}`;
  const unit = m.scenario === "h2-handshake" ? "conn/s" : "msg/s";
  const problems = Object.keys(m.problems).length > 0 ? ` [${formatTally(m.problems)}]` : "";
  return `${count.format(m.rate ?? 0)} ${unit}, proxy ${m.proxyCpuUsPerOp?.toFixed(1) ?? "—"} µs/op, ${m.connections} connection(s)${problems}`;
}

/** The h2 section of the report: per scenario a row per transport. */
export function h2Report(measurements: readonly H2Measurement[]): string {
  const lines = [
    "## WebSockets over HTTP/2 (RFC 8441) beside HTTP/1.1",
    "",
    "One wsgate per round with `http2: true` on its TLS 1.3 listener (ALPN h2 and http/1.1 on one port), the run's certificate, the same echo backend. **h1**: wss:// over HTTP/1.1, one session per TLS connection; **h2-mux**: the sessions multiplexed, one h2 connection per load worker; **h2-conn**: one h2 connection per session (handshake: a new TLS connection per cycle). Echo: 50 kept sessions, one message in flight on each; handshake: 50 loops of open → one 64 B echo → close. Median over rounds [min–max]; **× h1** is taken round by round; **proxy CPU µs/op** is wsgate's process tree per message or cycle.",
    "",
    "| scenario | transport | throughput | × h1 | proxy CPU µs/op | CPU × h1 | p50 ms | p99 ms | connections | ALPN | problems |",
    `|${" --- |".repeat(11)}`,
  ];
  for (const scenario of H2_SCENARIOS) {
    const list = measurements.filter((m) => m.scenario === scenario.name);
    const figures = (pick: (m: H2Measurement) => number | undefined): RoundFigure[] =>
      list.map((m) => ({ round: m.round, target: m.transport, value: m.error === undefined ? pick(m) : undefined }));
    const rates = figures((m) => m.rate);
    const cpu = figures((m) => m.proxyCpuUsPerOp);
    for (const transport of H2_TRANSPORTS) {
      const rows = list.filter((m) => m.transport === transport);
      if (rows.length === 0) continue;
      const ok = rows.filter((m) => m.error === undefined);
      const alpn: Tally = {};
      const problems: Tally = {};
      for (const m of rows) {
        for (const [k, n] of Object.entries(m.alpn)) addTally(alpn, k, n);
        for (const [k, n] of Object.entries(m.problems)) addTally(problems, k, n);
        if (m.error !== undefined) addTally(problems, `error: ${m.error.slice(0, 80)}`);
      }
      lines.push(
        `| ${[
          scenario.name,
          transport,
          `${spreadCell(spreadOf(ok.map((m) => m.rate)), 0)} ${scenario.unit}${ok.length < rows.length ? ` (${ok.length} of ${rows.length} rounds)` : ""}`,
          transport === "h1" ? "—" : spreadCell(spreadOf(roundRatios(rates, transport, "h1")), 2, "×"),
          spreadCell(spreadOf(ok.map((m) => m.proxyCpuUsPerOp)), 1),
          transport === "h1" ? "—" : spreadCell(spreadOf(roundRatios(cpu, transport, "h1")), 2, "×"),
          spreadCell(spreadOf(ok.map((m) => m.p50Ms)), 2),
          spreadCell(spreadOf(ok.map((m) => m.p99Ms)), 2),
          spreadCell(spreadOf(ok.map((m) => m.connections)), 0),
          scenario.kind === "cycle" ? "—" : Object.keys(alpn).length === 0 ? "—" : formatTally(alpn),
          Object.keys(problems).length === 0 ? "—" : formatTally(problems),
        ].join(" | ")} |`,
      );
    }
  }
  lines.push("");
  return lines.join("\n");
}
