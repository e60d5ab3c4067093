/**
 * The `handover` scenario (wsgate only, asked for by name): `wsgate upgrade` with N live sessions streaming through
 * the gateway. For each N (--handover-sessions, default 1,000 and 9,000) and round: start wsgate with its admin
 * listener, open N sessions to the echo backend from load workers (handover-clients.ts), each sending a numbered,
 * timestamped message every N / rate seconds (rate: --handover-rate messages/s in all), then measure a window of
 * steady streaming (the baseline) and a window around `POST /apis/v2/upgrade`:
 *
 * - the hand-over's time: the admin request's wall time (spawn, listeners, config, sessions), and the gateway's own
 *   figure when it reports one (`tookMs`);
 * - the pause each session sees: its longest wait between two echoes within the window (p50/p99 over sessions),
 *   beside the same in the baseline window (about one period: a message every period); and the longest round trip;
 * - what went wrong: sessions closed, echoes missing, repeated or out of order.
 *
 * The figures of each round are kept; the report gives the median over rounds with the per-round range.
 */
import { fork, spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { freePort } from "../test/helpers/net.js";
import { raiseFileLimit } from "./limits.js";
import { processTree } from "./proc.js";
import { sleep, stopChild } from "./proxy-process.js";
import { spreadCell, spreadOf, percentile, type Spread } from "./spread.js";
import { wsgateCommand } from "./targets.js";
import type { ClientCommand, ClientReply, WindowFigures } from "./handover-clients.js";

const CLIENT_SCRIPT = fileURLToPath(new URL("./handover-clients.js", import.meta.url));
const ADMIN_TOKEN = "handover-bench-token";

export const HANDOVER_SIZES = [1000, 9000] as const;
export const QUICK_HANDOVER_SIZES = [200] as const;
/** Messages per second over all sessions, each way (echoed): 1,000 sessions send every 500 ms, 9,000 every 4.5 s. Modest, as the
 * machines it runs on are shared: the pause is resolved to about one period. */
export const HANDOVER_RATE = 2000;

export interface HandoverOptions {
  sizes: readonly number[];
  rate: number;
  rounds: number;
  backendPort: number;
  tmpRoot: string;
  /** taskset prefix for wsgate (and so its successor), [] when not pinned. */
  prefix: readonly string[];
  workers: number;
  track: (child: ChildProcess) => void;
  progress: (line: string) => void;
}

/** Percentiles over sessions of one window. */
export interface WindowSummary {
  gapP50Ms: number | undefined;
  gapP99Ms: number | undefined;
  gapMaxMs: number | undefined;
  rttP50Ms: number | undefined;
  rttP99Ms: number | undefined;
  echoes: number;
  gaps: number;
  repeats: number;
  closed: number;
  outstanding: number;
}

export interface HandoverRound {
  sessions: number;
  round: number;
  periodMs: number;
  /** The admin request's wall time. */
  upgradeMs?: number;
  /** The gateway's own figures: the whole upgrade (`tookMs`) and the sessions' part of it (`handOverMs`). */
  reportedMs?: number;
  handOverMs?: number;
  moved?: number;
  kept?: number;
  closedByUpgrade?: number;
  baseline?: WindowSummary;
  handover?: WindowSummary;
  error?: string;
}

// ---- load workers ----

class ClientWorkers {
  private constructor(private readonly children: ChildProcess[]) {}

  static start(count: number, track: (child: ChildProcess) => void): ClientWorkers {
    const children = Array.from({ length: count }, () => {
      const child = fork(CLIENT_SCRIPT, [], { stdio: ["ignore", "ignore", "inherit", "ipc"] });
      track(child);
      return child;
    });
    return new ClientWorkers(children);
  }

  /** Sends one command to every worker (or `perWorker(i)`), resolves with each one's reply of type `expect`. */
  async all<T extends ClientReply["type"]>(
    command: ClientCommand | ((index: number) => ClientCommand),
    expect: T,
    ms: number,
  ): Promise<Extract<ClientReply, { type: T }>[]> {
    const replies = this.children.map(
      (child, index) =>
        new Promise<Extract<ClientReply, { type: T }>>((resolve, reject) => {
          const onExit = (code: number | null): void => reject(new Error(`a load worker exited (${code ?? "signal"})`));
          const onMessage = (reply: ClientReply): void => {
            if (reply.type !== expect) return;
            child.off("message", onMessage);
            child.off("exit", onExit);
            resolve(reply as Extract<ClientReply, { type: T }>);
          };
          child.on("message", onMessage);
          child.once("exit", onExit);
          child.send(typeof command === "function" ? command(index) : command);
        }),
    );
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`load workers gave no '${expect}' within ${ms} ms`)), ms);
    });
    try {
      return await Promise.race([Promise.all(replies), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  get count(): number {
    return this.children.length;
  }

  stop(): void {
    for (const child of this.children) if (child.connected) child.disconnect();
  }
}

function split(total: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, index) => Math.floor(total / parts) + (index < total % parts ? 1 : 0));
}

function merge(figures: readonly WindowFigures[]): WindowFigures {
  return {
    longestGapMs: figures.flatMap((f) => f.longestGapMs),
    longestRttMs: figures.flatMap((f) => f.longestRttMs),
    echoes: figures.reduce((sum, f) => sum + f.echoes, 0),
    gaps: figures.reduce((sum, f) => sum + f.gaps, 0),
    repeats: figures.reduce((sum, f) => sum + f.repeats, 0),
    closed: figures.reduce((sum, f) => sum + f.closed, 0),
    outstanding: figures.reduce((sum, f) => sum + f.outstanding, 0),
  };
}

function summarizeWindow(figures: WindowFigures): WindowSummary {
  const gaps = figures.longestGapMs.filter((value) => Number.isFinite(value));
  return {
    gapP50Ms: percentile(gaps, 50),
    gapP99Ms: percentile(gaps, 99),
    gapMaxMs: gaps.length === 0 ? undefined : Math.max(...gaps),
    rttP50Ms: percentile(figures.longestRttMs, 50),
    rttP99Ms: percentile(figures.longestRttMs, 99),
    echoes: figures.echoes,
    gaps: figures.gaps,
    repeats: figures.repeats,
    closed: figures.closed,
    outstanding: figures.outstanding,
  };
}

// ---- the gateway ----

function config(port: number, backendPort: number): string {
  return `kind: HTTPServer
name: handover-server
port: ${port}
address: 127.0.0.1
# Every load client connects from 127.0.0.1.
maxConnectionsPerIP: 0
maxConnections: 100000
rules:
  - paths:
      - path: /ws
        backend: handover-pipeline
---
kind: Pipeline
name: handover-pipeline
filters:
  - kind: WebSocketProxy
    name: wsproxy
    pools:
      - servers:
          - url: ws://127.0.0.1:${backendPort}
`;
}

interface RunningGateway {
  child: ChildProcess;
  port: number;
  adminPort: number;
  stderr: () => string;
}

async function startGateway(options: HandoverOptions, dir: string): Promise<RunningGateway> {
  const [port, adminPort] = [await freePort(), await freePort()];
  const file = join(dir, "wsgate.yaml");
  writeFileSync(file, config(port, options.backendPort));
  const command = [
    ...options.prefix,
    ...wsgateCommand(file, undefined, ["--admin-address", `127.0.0.1:${adminPort}`]),
  ] as [string, ...string[]];
  const [program, ...args] = command;
  const child = spawn(program, args, {
    stdio: ["ignore", "ignore", "pipe"],
    cwd: dir,
    env: { ...process.env, WSGATE_ADMIN_TOKEN: ADMIN_TOKEN },
  });
  options.track(child);
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
  const deadline = performance.now() + 20_000;
  for (;;) {
    const status = await adminCall(adminPort, "GET", "/apis/v2/status/objects").catch(() => undefined);
    if (status?.status === 200) break;
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`wsgate exited: ${stderr.trim()}`);
    if (performance.now() > deadline) throw new Error("wsgate's admin API did not answer within 20 s");
    await sleep(50);
  }
  return { child, port, adminPort, stderr: () => stderr };
}

async function adminCall(
  port: number,
  method: string,
  path: string,
  ms = 10_000,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    headers: {
      Authorization: `Bearer ${ADMIN_TOKEN}`,
      ...(method === "POST" ? { "Content-Type": "application/json" } : {}),
    },
    ...(method === "POST" ? { body: "{}" } : {}),
    signal: AbortSignal.timeout(ms),
  });
  const text = await response.text();
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    body = { text };
  }
  return { status: response.status, body };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Stops a process the bench did not start itself (the upgrade's new process) by PID. */
async function stopPid(pid: number, ms: number): Promise<void> {
  if (pid <= 0 || !alive(pid)) return;
  process.kill(pid, "SIGTERM");
  const deadline = performance.now() + ms;
  while (alive(pid) && performance.now() < deadline) await sleep(50);
  if (alive(pid)) process.kill(pid, "SIGKILL");
}

const numberOf = (value: unknown): number | undefined => (typeof value === "number" ? value : undefined);

// ---- one measurement ----

async function measureOnce(
  options: HandoverOptions,
  workers: ClientWorkers,
  sessions: number,
  round: number,
): Promise<HandoverRound> {
  const periodMs = Math.max(20, Math.round((sessions / options.rate) * 1000));
  const result: HandoverRound = { sessions, round, periodMs };
  const dir = mkdtempSync(join(options.tmpRoot, "handover-"));
  let gateway: RunningGateway | undefined;
  let newPid = 0;
  let successors: number[] = [];
  try {
    gateway = await startGateway(options, dir);
    const url = `ws://127.0.0.1:${gateway.port}/ws`;
    const shares = split(sessions, workers.count);
    const opened = await workers.all(
      (index) => ({ type: "open", url, count: shares[index] ?? 0 }),
      "opened",
      60_000 + sessions * 10,
    );
    const failed = opened.reduce((sum, reply) => sum + reply.failed, 0);
    if (failed > 0)
      throw new Error(`${failed} session(s) did not open: ${opened.find((r) => r.firstError)?.firstError ?? "?"}`);
    await workers.all({ type: "stream", periodMs }, "streaming", 10_000);
    const windowMs = 2 * periodMs + 1000;
    // Settle into the rhythm, then the baseline window.
    await sleep(windowMs);
    await workers.all({ type: "window" }, "windowed", 10_000);
    await sleep(windowMs);
    result.baseline = summarizeWindow(merge(await workers.all({ type: "collect" }, "collected", 30_000)));

    await workers.all({ type: "window" }, "windowed", 10_000);
    await sleep(periodMs);
    const started = performance.now();
    // Bounded, with room for a loaded machine: a few ms per session, and the new process's start.
    const answer = await adminCall(gateway.adminPort, "POST", "/apis/v2/upgrade", 120_000 + sessions * 25).finally(
      () => {
        // The new process is the old one's child until that exits: known even when the answer never came.
        successors = gateway?.child.pid === undefined ? [] : processTree(gateway.child.pid).slice(1);
      },
    );
    result.upgradeMs = performance.now() - started;
    if (answer.status !== 200) throw new Error(`the upgrade answered ${answer.status}: ${JSON.stringify(answer.body)}`);
    newPid = numberOf(answer.body["newPid"]) ?? 0;
    result.reportedMs = numberOf(answer.body["tookMs"]);
    result.handOverMs = numberOf(answer.body["handOverMs"]);
    result.moved = numberOf(answer.body["moved"]);
    result.kept = numberOf(answer.body["kept"]);
    result.closedByUpgrade = numberOf(answer.body["closed"]);
    // Every session sends at least twice more on the new process, then everything sent is answered.
    await sleep(windowMs);
    await workers.all({ type: "stop" }, "stopped", 10_000);
    const settleUntil = performance.now() + 10_000;
    let figures = merge(await workers.all({ type: "collect" }, "collected", 30_000));
    while (figures.outstanding > 0 && performance.now() < settleUntil) {
      await sleep(200);
      figures = merge(await workers.all({ type: "collect" }, "collected", 30_000));
    }
    result.handover = summarizeWindow(figures);
  } catch (error) {
    result.error = (error as Error).message;
  } finally {
    await workers.all({ type: "close" }, "closed", 60_000).catch(() => undefined);
    for (const pid of new Set([newPid, ...successors])) if (pid !== 0) await stopPid(pid, 15_000);
    if (gateway !== undefined) await stopChild(gateway.child, 15_000);
    rmSync(dir, { recursive: true, force: true });
  }
  return result;
}

/** About how long the scenario takes: per size and round, its windows, the upgrade, and opening the sessions. */
export function handoverEstimateMs(sizes: readonly number[], rate: number, rounds: number): number {
  return rounds * sizes.reduce((sum, n) => sum + 4 * ((2 * n * 1000) / rate + 1000) + 10_000 + n * 2, 0);
}

export async function measureHandover(options: HandoverOptions): Promise<HandoverRound[]> {
  const largest = Math.max(...options.sizes);
  // The gateway holds two sockets per session, and old and new hold them both for a moment; clients and backend one.
  const limit = raiseFileLimit(largest * 2 + 4096);
  options.progress(`handover: ${limit.note}`);
  const workers = ClientWorkers.start(options.workers, options.track);
  const rounds: HandoverRound[] = [];
  try {
    for (let round = 1; round <= options.rounds; round++) {
      for (const sessions of options.sizes) {
        const measured = await measureOnce(options, workers, sessions, round);
        rounds.push(measured);
        options.progress(progressLine(measured));
      }
    }
  } finally {
    workers.stop();
  }
  return rounds;
}

// ---- report ----

const ms = (value: number | undefined, digits = 0): string => (value === undefined ? "—" : value.toFixed(digits));

function progressLine(r: HandoverRound): string {
  const where = `handover: round ${r.round}, ${r.sessions} sessions`;
  if (r.error !== undefined) return `${where}: FAILED: ${r.error}`;
  const h = r.handover;
  return `${where}: upgrade ${ms(r.upgradeMs)} ms (gateway ${ms(r.reportedMs)} ms, sessions ${ms(r.handOverMs)} ms), moved ${r.moved ?? "?"} kept ${r.kept ?? "?"} closed ${r.closedByUpgrade ?? "?"}; pause p50 ${ms(h?.gapP50Ms)} ms p99 ${ms(h?.gapP99Ms)} ms (baseline p50 ${ms(r.baseline?.gapP50Ms)} ms, a message every ${r.periodMs} ms), longest round trip p50 ${ms(h?.rttP50Ms)} ms p99 ${ms(h?.rttP99Ms)} ms (baseline p99 ${ms(r.baseline?.rttP99Ms)} ms); lost ${h?.gaps ?? "?"} repeated ${h?.repeats ?? "?"} closed ${h?.closed ?? "?"} unanswered ${h?.outstanding ?? "?"}`;
}

function spread(rounds: readonly HandoverRound[], pick: (r: HandoverRound) => number | undefined): Spread | undefined {
  return spreadOf(rounds.map(pick));
}

/** The scenario's section in Markdown: per N, the median over rounds [min–max], then every round. */
export function handoverReport(rounds: readonly HandoverRound[], rate: number, pinned: boolean): string {
  const sizes = [...new Set(rounds.map((r) => r.sessions))];
  const lines = [
    "## handover (wsgate upgrade)",
    "",
    `\`POST /apis/v2/upgrade\` with N sessions each sending a numbered message every N / ${rate} s to the echo backend through wsgate (${pinned ? "wsgate and its successor pinned to one core" : "not pinned"}). Pause: per session, the longest wait between two echoes in the window around the upgrade (the baseline window: the same with no upgrade, about one period). Medians over rounds, [min–max] over rounds.`,
    "",
    "| sessions | upgrade (admin request) | gateway's tookMs | sessions' handOverMs | pause p50 | pause p99 | pause max | longest round trip p99 | baseline pause p99 | moved / kept / closed | lost / repeated / closed sessions |",
    "|---|---|---|---|---|---|---|---|---|---|---|",
  ];
  for (const sessions of sizes) {
    const mine = rounds.filter((r) => r.sessions === sessions && r.error === undefined);
    const failed = rounds.filter((r) => r.sessions === sessions && r.error !== undefined).length;
    const sum = (pick: (r: HandoverRound) => number | undefined): number =>
      mine.reduce((total, r) => total + (pick(r) ?? 0), 0);
    const cell = (pick: (r: HandoverRound) => number | undefined): string => spreadCell(spread(mine, pick), 0, " ms");
    lines.push(
      `| ${sessions}${failed > 0 ? ` (${failed} round(s) failed)` : ""} | ${cell((r) => r.upgradeMs)} | ${cell((r) => r.reportedMs)} | ${cell((r) => r.handOverMs)} | ${cell((r) => r.handover?.gapP50Ms)} | ${cell((r) => r.handover?.gapP99Ms)} | ${cell((r) => r.handover?.gapMaxMs)} | ${cell((r) => r.handover?.rttP99Ms)} | ${cell((r) => r.baseline?.gapP99Ms)} | ${spreadCell(
        spread(mine, (r) => r.moved),
        0,
      )} / ${spreadCell(
        spread(mine, (r) => r.kept),
        0,
      )} / ${spreadCell(
        spread(mine, (r) => r.closedByUpgrade),
        0,
      )} | ${sum((r) => r.handover?.gaps)} / ${sum((r) => r.handover?.repeats)} / ${sum((r) => r.handover?.closed)} |`,
    );
  }
  lines.push("", "Every round:", "");
  for (const r of rounds) lines.push(`- ${progressLine(r).replace(/^handover: /, "")}`);
  return lines.join("\n");
}

/** bench/results/latest-handover.md and .json: this scenario's own files (the comparison's latest.* stay). */
export function writeHandoverResults(
  dir: string,
  section: string,
  rounds: readonly HandoverRound[],
  meta: object,
): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "latest-handover.md"), `${section}\n`);
  writeFileSync(join(dir, "latest-handover.json"), `${JSON.stringify({ meta, rounds }, null, 2)}\n`);
}
