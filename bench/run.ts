/**
 * `npm run bench`: how wsgate compares with a direct connection and with other proxies (nginx, HAProxy, node
 * http-proxy), measured in one run, as ratios.
 *
 * Processes: this orchestrator (idle while measuring), an echo backend (echo-backend.ts), load-generator workers
 * (load.ts) and, for the proxy targets, the proxy started from its config under bench/targets/ (targets.ts),
 * pinned to a core of its own when taskset is there (pinning.ts). Rounds interleave the targets; figures are
 * medians over rounds and ratios are against `direct` from the same run.
 */
import { fork, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { BASELINE_PAIRS, baselineSection, compareWithBaseline, roundOrder } from "./baseline.js";
import { floodReport, measureBasicAuthFlood, type FloodRound } from "./basic-auth-flood.js";
import { handoverEstimateMs, handoverReport, measureHandover, writeHandoverResults } from "./handover.js";
import { burstContext, burstEstimateMs, runBurstScenarios, writeBurstResults, type BurstResults } from "./burst.js";
import { ratioChart } from "./chart.js";
import { DASHBOARD_PAIR, dashboardSection, openDashboardStream, type DashboardStream } from "./dashboard-load.js";
import { LoadWorkers, split } from "./load.js";
import { parseOptions, settleIdle, settleTargets, type Options } from "./options.js";
import { pinCores } from "./pinning.js";
import { runProfile } from "./profile.js";
import {
  clockTicks,
  cpuModel,
  cpuTicks,
  machineTicks,
  processTree,
  weightedPercentiles,
  type MachineTicks,
} from "./proc.js";
import {
  addTally,
  formatTally,
  type CheckReply,
  type ClosedReply,
  type Command,
  type OpenReply,
  type Reply,
  type RunReply,
  type Tally,
} from "./protocol.js";
import { ProxyProcess, sleep, stopChild } from "./proxy-process.js";
import { updateReadme } from "./readme-section.js";
import { fixed, integer, readmeBody, report, type Meta } from "./report.js";
import { LOOP_SCENARIOS, SCENARIO_NAMES, type LoopScenario, type ScenarioName } from "./scenarios.js";
import { summarize, type Measurement } from "./summary.js";
import { describeTarget, stopGraceMs, targetVersion, type ProxyName, type TargetName } from "./targets.js";
import { CYCLES_TIME_LIMIT_MS, cycleCommands, freshProxy, orderLine, warmthSection } from "./warmup.js";
import { cpuSplit, splitPerOp, workersSection } from "./workers-model.js";

const PACKAGE_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BACKEND_SCRIPT = fileURLToPath(new URL("./echo-backend.js", import.meta.url));
const RESULTS_DIR = join(PACKAGE_ROOT, "bench/results");
const PERFORMANCE_PAGE = join(PACKAGE_ROOT, "docs/performance.md");

// ---- child processes ----

/** Every child still running, so that SIGINT, errors and exit can stop them all. */
const children = new Set<ChildProcess>();
let loadWorkers: LoadWorkers | undefined;

function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once("exit", () => children.delete(child));
  return child;
}

function killAll(signal: NodeJS.Signals): void {
  loadWorkers?.kill(signal);
  for (const child of children) {
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) continue;
    // nginx's worker sits below its master, and a SIGKILLed master leaves it running: signal it by PID too.
    const below = signal === "SIGKILL" ? processTree(child.pid).slice(1) : [];
    child.kill(signal);
    for (const pid of below) {
      try {
        process.kill(pid, signal);
      } catch {
        // Gone already.
      }
    }
  }
}

class Backend {
  private constructor(
    readonly child: ChildProcess,
    readonly port: number,
  ) {}

  static async start(): Promise<Backend> {
    const child = track(fork(BACKEND_SCRIPT, ["0"], { stdio: ["ignore", "pipe", "pipe", "ipc"] }));
    let stderr = "";
    child.stderr?.on("data", (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("the echo backend did not start within 10 s")), 10_000);
      createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
        const match = /^PORT (\d+)$/.exec(line);
        if (match?.[1] === undefined) return;
        clearTimeout(timer);
        resolve(Number(match[1]));
      });
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`the echo backend exited (${code ?? "signal"}): ${stderr}`));
      });
    });
    return new Backend(child, port);
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }
}

// ---- measurements ----

interface Context {
  options: Options;
  /** This round's proxy per proxy target, for the loop scenarios. */
  shared: Map<ProxyName, ProxyProcess>;
  /** Problems that belong to no single measurement (a shared proxy's exit). */
  runProblems: string[];
  workers: LoadWorkers;
  backend: Backend;
  ticksPerSecond: number;
  /** Where each proxy start gets a directory of its own for its config (and nginx's pid and temp files). */
  tmpRoot: string;
  /** The open-file limit every process of the run inherits, when known. */
  fileLimit: number | undefined;
  /** taskset prefix for the proxies, [] when not pinned. */
  proxyPrefix: string[];
}

function only<T extends Reply["type"]>(replies: readonly Reply[], type: T): Extract<Reply, { type: T }>[] {
  return replies.map((reply) => {
    if (reply.type !== type) throw new Error(`expected a '${type}' reply, got '${reply.type}'`);
    return reply as Extract<Reply, { type: T }>;
  });
}

/** CPU ticks of every process in play, and of the machine, at one moment. */
interface CpuSnapshot {
  at: number;
  proxy: number | undefined;
  backend: number | undefined;
  generator: number | undefined;
  machine: MachineTicks | undefined;
}

function cpuSnapshot(ctx: Context, proxy: ProxyProcess | undefined): CpuSnapshot {
  let generator: number | undefined = 0;
  for (const pid of ctx.workers.pids) {
    const ticks = cpuTicks(pid);
    generator = ticks === undefined || generator === undefined ? undefined : generator + ticks;
  }
  return {
    at: performance.now(),
    proxy: proxy?.cpuTicks(),
    backend: cpuTicks(ctx.backend.pid),
    generator,
    machine: machineTicks(),
  };
}

/** CPU used between two snapshots, in ms of CPU time, and the wall time between them. */
interface CpuUse {
  wallMs: number;
  proxyMs?: number;
  backendMs?: number;
  generatorMs?: number;
  /** Processes other than the bench's (and the proxy's), from /proc/stat. */
  othersMs?: number;
  stealMs?: number;
}

function cpuUse(before: CpuSnapshot, after: CpuSnapshot, ticksPerSecond: number): CpuUse {
  const ms = (a: number | undefined, b: number | undefined): number | undefined =>
    a === undefined || b === undefined ? undefined : ((b - a) / ticksPerSecond) * 1000;
  const use: CpuUse = {
    wallMs: after.at - before.at,
    proxyMs: ms(before.proxy, after.proxy),
    backendMs: ms(before.backend, after.backend),
    generatorMs: ms(before.generator, after.generator),
  };
  if (before.machine !== undefined && after.machine !== undefined) {
    const busyMs = ms(before.machine.busy, after.machine.busy) ?? 0;
    const ours = (use.proxyMs ?? 0) + (use.backendMs ?? 0) + (use.generatorMs ?? 0);
    use.othersMs = Math.max(0, busyMs - ours);
    use.stealMs = ms(before.machine.steal, after.machine.steal);
  }
  return use;
}

/** CPU time as % of one core over the wall time. */
function percentOfCore(cpuMs: number | undefined, wallMs: number): number | undefined {
  return cpuMs === undefined || wallMs <= 0 ? undefined : (cpuMs / wallMs) * 100;
}

async function openEverywhere(ctx: Context, url: string, total: number, concurrency: number): Promise<OpenReply[]> {
  const commands: Command[] = split(total, ctx.workers.count).map((connections) => ({
    type: "open",
    url,
    connections,
    concurrency,
  }));
  return only(await ctx.workers.all(commands, 30_000 + total * 20), "opened");
}

async function closeEverywhere(ctx: Context): Promise<ClosedReply[]> {
  const commands: Command[] = Array.from({ length: ctx.workers.count }, () => ({ type: "close" }));
  // Closing thousands of idle connections through a proxy on a busy machine takes a while.
  return only(await ctx.workers.all(commands, 20_000 + ctx.options.idle * 3), "closed");
}

/** Adds the counts of `from` to `into`, keys prefixed. */
function absorb(into: Tally, from: Tally, prefix = ""): void {
  for (const [key, count] of Object.entries(from)) addTally(into, `${prefix}${key}`, count);
}

function openProblems(replies: readonly OpenReply[], problems: Tally): number {
  let opened = 0;
  for (const reply of replies) {
    opened += reply.opened;
    if (reply.failed > 0) addTally(problems, "connections that did not open", reply.failed);
    absorb(problems, reply.problems, "open: ");
  }
  return opened;
}

function closeProblems(replies: readonly ClosedReply[], problems: Tally): void {
  for (const reply of replies) absorb(problems, reply.problems, "close: ");
}

async function measureLoop(
  ctx: Context,
  scenario: LoopScenario,
  target: TargetName,
  round: number,
  proxy: ProxyProcess | undefined,
): Promise<Measurement> {
  const url = proxy === undefined ? `ws://127.0.0.1:${ctx.backend.port}/ws` : proxy.url;
  const problems: Tally = {};
  const loops = scenario.kind === "handshake";
  if (!loops) {
    const opened = openProblems(await openEverywhere(ctx, url, scenario.connections, scenario.connections), problems);
    if (opened === 0) throw new Error(`no connection opened: ${formatTally(problems)}`);
  }
  const runCommands = (durationMs: number, record: boolean): Command[] =>
    split(scenario.connections, ctx.workers.count).map((share) => ({
      type: "run",
      kind: scenario.kind,
      size: scenario.size,
      inFlight: scenario.inFlight,
      loops: share,
      url,
      durationMs,
      record,
      serverClosesFirst: ctx.options.serverClosesFirst,
    }));
  const runTimeout = (durationMs: number): number => durationMs + 30_000;
  // handshake: warmed by a count of cycles; handshake-cold: the first cycles of a fresh proxy, no warm-up (warmup.ts).
  const cold = scenario.name === "handshake-cold";
  let warmup: Measurement["warmup"];
  if (cold) {
    // Measured from the first cycle.
  } else if (loops && ctx.options.warmCycles > 0) {
    const warmStart = performance.now();
    const warm = only(
      await ctx.workers.all(
        cycleCommands(scenario, url, ctx.workers.count, ctx.options.warmCycles, false, ctx.options.serverClosesFirst),
        CYCLES_TIME_LIMIT_MS + 30_000,
      ),
      "result",
    );
    warmup = { cycles: warm.reduce((sum, reply) => sum + reply.count, 0), ms: performance.now() - warmStart };
    for (const reply of warm) absorb(problems, reply.problems, "warm-up: ");
  } else if (ctx.options.warmupMs > 0) {
    const warm = only(
      await ctx.workers.all(runCommands(ctx.options.warmupMs, false), runTimeout(ctx.options.warmupMs)),
      "result",
    );
    for (const reply of warm) absorb(problems, reply.problems, "warm-up: ");
  }
  const splitBefore = proxy === undefined ? undefined : cpuSplit(proxy.pid);
  const before = cpuSnapshot(ctx, proxy);
  const results: RunReply[] = only(
    cold
      ? await ctx.workers.all(
          cycleCommands(scenario, url, ctx.workers.count, ctx.options.coldCycles, true, ctx.options.serverClosesFirst),
          CYCLES_TIME_LIMIT_MS + 30_000,
        )
      : await ctx.workers.all(runCommands(ctx.options.durationMs, true), runTimeout(ctx.options.durationMs)),
    "result",
  );
  const cpu = cpuUse(before, cpuSnapshot(ctx, proxy), ctx.ticksPerSecond);
  const splitAfter = proxy === undefined ? undefined : cpuSplit(proxy.pid);
  const proxyCpuMs = cpu.proxyMs;
  if (!loops) closeProblems(await closeEverywhere(ctx), problems);

  let ops = 0;
  let rate = 0;
  let unanswered = 0;
  let generatorCpuPercent = 0;
  for (const result of results) {
    ops += result.count;
    if (result.elapsedMs > 0) rate += (result.count / result.elapsedMs) * 1000;
    unanswered += result.unanswered;
    const cpuMs = (result.cpuUserUs + result.cpuSystemUs) / 1000;
    generatorCpuPercent = Math.max(generatorCpuPercent, result.elapsedMs > 0 ? (cpuMs / result.elapsedMs) * 100 : 0);
    absorb(problems, result.problems);
  }
  if (unanswered > 0 && !loops) problems["unanswered messages"] = unanswered;
  const percentiles = weightedPercentiles(
    results.map((result) => ({ values: result.latencies, seen: result.latencySeen })),
    [50, 99],
  );
  const elapsedMs = Math.max(...results.map((result) => result.elapsedMs));
  return {
    scenario: scenario.name,
    target,
    round,
    rate,
    p50Ms: percentiles[0],
    p99Ms: percentiles[1],
    ops,
    elapsedMs,
    proxyCpuMs,
    proxyCpuUsPerOp: proxyCpuMs === undefined || ops === 0 ? undefined : (proxyCpuMs * 1000) / ops,
    backendCpuUsPerOp: cpu.backendMs === undefined || ops === 0 ? undefined : (cpu.backendMs * 1000) / ops,
    proxyCpuPercent: percentOfCore(proxyCpuMs, cpu.wallMs),
    backendCpuPercent: percentOfCore(cpu.backendMs, cpu.wallMs),
    generatorCpuPercent,
    generatorTotalCpuPercent: percentOfCore(cpu.generatorMs, cpu.wallMs),
    othersCpuPercent: percentOfCore(cpu.othersMs, cpu.wallMs),
    stealPercent: percentOfCore(cpu.stealMs, cpu.wallMs),
    proxyCpuSplit: splitPerOp(splitBefore, splitAfter, ctx.ticksPerSecond, ops),
    warmup,
    problems,
  };
}

async function measureIdle(
  ctx: Context,
  target: TargetName,
  round: number,
  proxy: ProxyProcess | undefined,
): Promise<Measurement> {
  const url = proxy === undefined ? `ws://127.0.0.1:${ctx.backend.port}/ws` : proxy.url;
  const problems: Tally = {};
  const count = ctx.options.idle;
  // Warm the code paths (handshake, relay, close) first, so that the baseline is not all module loading and JIT.
  openProblems(await openEverywhere(ctx, url, 20, 20), problems);
  await ctx.workers.all(
    Array.from({ length: ctx.workers.count }, () => ({ type: "check", size: 64 })),
    20_000,
  );
  closeProblems(await closeEverywhere(ctx), problems);
  await sleep(ctx.options.quick ? 150 : 300);
  const rssBefore = proxy?.rssKiB();
  const openStart = performance.now();
  const opened = openProblems(await openEverywhere(ctx, url, count, 64), problems);
  const openMs = performance.now() - openStart;
  // Hold them idle; with the aware config this spans heartbeats (1 s pings, 3 s pong deadline).
  const holdStart = cpuSnapshot(ctx, proxy);
  await sleep(ctx.options.holdMs);
  const hold = cpuUse(holdStart, cpuSnapshot(ctx, proxy), ctx.ticksPerSecond);
  const rssAfter = proxy?.rssKiB();
  const checks: CheckReply[] = only(
    await ctx.workers.all(
      Array.from({ length: ctx.workers.count }, () => ({ type: "check", size: 64 })),
      30_000,
    ),
    "checked",
  );
  let echoed = 0;
  let failed = 0;
  for (const check of checks) {
    echoed += check.ok;
    failed += check.failed;
    absorb(problems, check.problems, "check: ");
  }
  if (echoed < count) problems[`idle connections that did not echo (of ${count})`] = count - echoed;
  closeProblems(await closeEverywhere(ctx), problems);
  const perConn = (before: number | undefined, after: number | undefined): number | undefined =>
    before === undefined || after === undefined || opened === 0 ? undefined : (after - before) / opened;
  return {
    scenario: "idle",
    target,
    round,
    ops: opened,
    elapsedMs: openMs,
    rssKiBPerConn: perConn(rssBefore, rssAfter),
    proxyCpuPercent: percentOfCore(hold.proxyMs, hold.wallMs),
    backendCpuPercent: percentOfCore(hold.backendMs, hold.wallMs),
    generatorTotalCpuPercent: percentOfCore(hold.generatorMs, hold.wallMs),
    othersCpuPercent: percentOfCore(hold.othersMs, hold.wallMs),
    proxyRssKiB: rssBefore === undefined || rssAfter === undefined ? undefined : { before: rssBefore, after: rssAfter },
    idle: { asked: count, opened, echoed, failed },
    problems,
  };
}

/** Stops a proxy by PID; a slow or forced exit is a problem worth reporting. */
async function stopProxy(proxy: ProxyProcess): Promise<{ ms: number; problem?: string }> {
  dashboards.get(proxy)?.close();
  const stopped = await proxy.stop();
  if (stopped.killed)
    return {
      ms: stopped.ms,
      problem: `${proxy.name} did not exit within ${stopGraceMs(proxy.name) / 1000} s of SIGTERM (killed)`,
    };
  if (stopped.ms > 2000)
    return { ms: stopped.ms, problem: `${proxy.name} took ${(stopped.ms / 1000).toFixed(1)} s to exit after SIGTERM` };
  return { ms: stopped.ms };
}

/** The dashboard stream held open against each proxy that has an admin listener (--dashboard). */
const dashboards = new WeakMap<ProxyProcess, DashboardStream>();

/** Stops the proxies kept across this round's loop scenarios. */
async function stopSharedProxies(ctx: Context, round: number): Promise<void> {
  for (const [target, proxy] of ctx.shared) {
    const stopped = await stopProxy(proxy);
    if (stopped.problem !== undefined) ctx.runProblems.push(`round ${round}, ${target}: ${stopped.problem}`);
  }
  ctx.shared.clear();
}

/**
 * One scenario against one target. The loop scenarios of a round share one proxy per target (started on first
 * use, as a user's proxy would serve one workload after another); idle gets a fresh one so that its RSS growth
 * is not hidden by a heap that earlier scenarios already grew.
 */
async function measure(ctx: Context, scenario: ScenarioName, target: TargetName, round: number): Promise<Measurement> {
  if (ctx.backend.child.exitCode !== null || ctx.backend.child.signalCode !== null) {
    throw new Error(
      `the echo backend exited (${ctx.backend.child.signalCode ?? ctx.backend.child.exitCode}); stopping`,
    );
  }
  const began = performance.now();
  const fresh = freshProxy(scenario);
  let proxy: ProxyProcess | undefined = target === "direct" || fresh ? undefined : ctx.shared.get(target);
  const problems: Tally = {};
  if (proxy !== undefined && (proxy.child.exitCode !== null || proxy.child.signalCode !== null)) {
    addTally(problems, `${proxy.name} had exited (${proxy.child.signalCode ?? proxy.child.exitCode}); restarted`);
    ctx.shared.delete(proxy.name);
    proxy = undefined;
  }
  let proxyStartMs: number | undefined;
  let linesBefore = 0;
  let kindsBefore: Tally = {};
  let measurement: Measurement;
  try {
    if (target !== "direct" && proxy === undefined) {
      const startedAt = performance.now();
      proxy = await ProxyProcess.start(
        target,
        {
          backendPort: ctx.backend.port,
          maxFiles: ctx.fileLimit ?? ctx.options.idle * 2 + 1024,
          prefix: ctx.proxyPrefix,
          tmpRoot: ctx.tmpRoot,
          baseline: ctx.options.baseline,
        },
        track,
      );
      proxyStartMs = performance.now() - startedAt;
      if (!fresh) ctx.shared.set(target, proxy);
      if (proxy.adminPort !== undefined) {
        dashboards.set(proxy, await openDashboardStream(proxy.adminPort, 10_000));
      }
    }
    linesBefore = proxy?.outputLines ?? 0;
    kindsBefore = { ...proxy?.outputKinds };
    measurement =
      scenario === "idle"
        ? await measureIdle(ctx, target, round, proxy)
        : await measureLoop(ctx, LOOP_SCENARIOS[scenario], target, round, proxy);
  } catch (error) {
    measurement = { scenario, target, round, ops: 0, elapsedMs: 0, problems: {}, error: (error as Error).message };
    // Whatever the workers still hold goes, so that the next measurement starts clean.
    await closeEverywhere(ctx).catch(() => []);
  }
  absorb(measurement.problems, problems);
  measurement.proxyStartMs = proxyStartMs;
  const stream = proxy === undefined ? undefined : dashboards.get(proxy);
  if (stream !== undefined) {
    measurement.dashboard = {
      status: stream.stats.status,
      events: { ...stream.stats.events },
      ended: stream.stats.ended,
    };
    if (stream.stats.status !== 200 || stream.stats.ended !== "open")
      addTally(
        measurement.problems,
        `dashboard stream: status ${stream.stats.status ?? "none"}, ${stream.stats.ended}`,
      );
  }
  if (proxy !== undefined) {
    if (fresh) {
      const stopped = await stopProxy(proxy);
      measurement.proxyStopMs = stopped.ms;
      if (stopped.problem !== undefined) addTally(measurement.problems, stopped.problem);
    }
    // What the proxy logged during this measurement only.
    const kinds: Tally = {};
    for (const [kind, count] of Object.entries(proxy.outputKinds)) {
      const added = count - (kindsBefore[kind] ?? 0);
      if (added > 0) kinds[kind] = added;
    }
    measurement.proxyOutputLines = proxy.outputLines - linesBefore;
    measurement.proxyOutputKinds = kinds;
    if (measurement.proxyOutputLines > 0) measurement.proxyOutput = proxy.output.slice(0, 5);
  }
  measurement.wallMs = performance.now() - began;
  return measurement;
}

// ---- main ----

/** One idle measurement: start, warm-up, hold, then ~1 ms per connection to open, echo and close (quiet machine). */
function idleEstimateMs(options: Options): number {
  return options.holdMs + 2500 + options.idle;
}

/** The handshake's warm-up and handshake-cold are counts of cycles: about 1 ms each on a busy machine. */
function cyclesEstimateMs(options: Options): number {
  return (
    (options.scenarios.includes("handshake") ? options.warmCycles : 0) +
    (options.scenarios.includes("handshake-cold") ? options.coldCycles + 1000 : 0)
  );
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const started = performance.now();
  settleTargets(options);
  const fileLimit = settleIdle(options);
  // The machine's cores, counted before pinning narrows what this process may use.
  const cores = os.availableParallelism();
  // Before forking anything: the backend and the load workers inherit this process's cores.
  const pinning = pinCores(options.pin);
  const ticksPerSecond = clockTicks();
  const meta: Meta = {
    date: new Date().toISOString(),
    node: process.version,
    cpu: cpuModel(),
    cores,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    clockTicks: ticksPerSecond,
    openFileLimit: fileLimit.limit,
    openFileNote: fileLimit.note,
    pinning: pinning.note,
    pinned: pinning.proxyPrefix.length > 0,
    targets: Object.fromEntries(
      options.targets.map((target) => [
        target,
        { description: describeTarget(target), version: targetVersion(target, options.baseline) },
      ]),
    ),
    skipped: options.skipped,
    mode: options.quick ? "quick" : "full",
    rounds: options.rounds,
    durationS: options.durationMs / 1000,
    warmupS: options.warmupMs / 1000,
    workers: options.workers,
    idleConnections: options.idle,
    idleHoldS: options.holdMs / 1000,
    order: orderLine(
      options.scenarios,
      options.targets,
      options.warmCycles,
      options.coldCycles,
      options.warmupMs / 1000,
    ),
  };
  if (options.idleCapNote !== undefined) process.stderr.write(`bench: note: ${options.idleCapNote}\n`);
  for (const line of options.skipped) process.stderr.write(`bench: ${line}\n`);
  process.stderr.write(`bench: ${pinning.note}; ${fileLimit.note}\n`);
  const loops = options.scenarios.filter((scenario) => scenario !== "idle").length;
  const perMeasurement = options.durationMs + options.warmupMs + 700;
  // basic-auth-flood: a wsgate start, then two measurements and the flood's own warm-up.
  const floodEstimateMs =
    (options.wsgateScenarios.includes("basic-auth-flood") ? 1 : 0) *
      options.rounds *
      (2 * perMeasurement + Math.max(300, options.warmupMs) + 1000) +
    (options.wsgateScenarios.includes("handover")
      ? handoverEstimateMs(options.handoverSizes, options.handoverRate, options.rounds)
      : 0);
  const estimateMs =
    options.rounds *
      options.targets.length *
      (loops * perMeasurement +
        (options.scenarios.includes("idle") ? idleEstimateMs(options) : 0) +
        cyclesEstimateMs(options)) +
    floodEstimateMs +
    burstEstimateMs(options);
  process.stderr.write(
    `bench: ${options.quick ? "quick" : "full"} run, ${options.rounds} round(s) × ${
      options.scenarios.length > 0
        ? `${options.scenarios.length} scenario(s) × ${options.targets.length} target(s)`
        : "no comparison loops"
    }${[...options.wsgateScenarios, ...options.burstScenarios].map((name) => ` + ${name}`).join("")}, about ${Math.ceil(estimateMs / 1000)} s\n`,
  );
  const tmpRoot = mkdtempSync(join(os.tmpdir(), "wsgate-bench-"));
  // Every step has its own time limit; this one bounds the whole run should something slip through.
  const watchdog = setTimeout(
    () => {
      process.stderr.write("bench: the run took far longer than planned; stopping\n");
      killAll("SIGKILL");
      rmSync(tmpRoot, { recursive: true, force: true });
      process.exit(1);
    },
    estimateMs * 3 + 120_000,
  );
  watchdog.unref();

  let workers: LoadWorkers | undefined;
  let backend: Backend | undefined;
  let flood: FloodRound[] | undefined;
  let burst: BurstResults | undefined;
  const measurements: Measurement[] = [];
  const shared = new Map<ProxyName, ProxyProcess>();
  const runProblems: string[] = [];
  try {
    backend = await Backend.start();
    if (options.profile !== undefined) {
      workers = await LoadWorkers.start(options.workers);
      loadWorkers = workers;
      await runProfile({
        target: options.profile,
        options,
        workers,
        backendPort: backend.port,
        tmpRoot,
        proxyPrefix: pinning.proxyPrefix,
        fileLimit: fileLimit.limit,
        ticksPerSecond,
        resultsDir: RESULTS_DIR,
        track,
      });
      return;
    }
    if (options.wsgateScenarios.includes("basic-auth-flood")) {
      flood = await measureBasicAuthFlood({
        backendPort: backend.port,
        tmpRoot,
        prefix: pinning.proxyPrefix,
        durationMs: options.durationMs,
        warmupMs: options.warmupMs,
        rounds: options.rounds,
        track,
      });
      process.stdout.write(`${floodReport(flood, pinning.proxyPrefix.length > 0)}\n\n`);
    }
    if (options.wsgateScenarios.includes("handover")) {
      const rounds = await measureHandover({
        sizes: options.handoverSizes,
        rate: options.handoverRate,
        rounds: options.rounds,
        backendPort: backend.port,
        tmpRoot,
        prefix: pinning.proxyPrefix,
        workers: options.workers,
        track,
        progress: (line) => void process.stderr.write(`bench: ${line}\n`),
      });
      const section = handoverReport(rounds, options.handoverRate, pinning.proxyPrefix.length > 0);
      process.stdout.write(`${section}\n\n`);
      writeHandoverResults(RESULTS_DIR, section, rounds, meta);
    }
    if (options.burstScenarios.length > 0) {
      const pieces = { options, backendPort: backend.port, backendPid: backend.pid, tmpRoot, track };
      const ctx = burstContext({
        ...pieces,
        prefix: pinning.proxyPrefix,
        fileLimit: fileLimit.limit,
        ticksPerSecond,
        interrupted: () => interrupted,
      });
      burst = await runBurstScenarios(ctx, options.burstScenarios, options.stormClients);
      process.stdout.write(`${burst.markdown}\n`);
      writeBurstResults(RESULTS_DIR, burst, meta);
    }
    // Only wsgate's own scenarios were asked for: no comparison, and results/latest.* stay as they are.
    if (options.scenarios.length === 0) return;
    workers = await LoadWorkers.start(options.workers);
    loadWorkers = workers;
    const ctx: Context = {
      options,
      workers,
      backend,
      ticksPerSecond,
      tmpRoot,
      proxyPrefix: pinning.proxyPrefix,
      fileLimit: fileLimit.limit,
      shared,
      runProblems,
    };
    rounds: for (let round = 1; round <= options.rounds; round++) {
      for (const scenario of options.scenarios) {
        if (scenario === "idle") await stopSharedProxies(ctx, round);
        for (const target of roundOrder(options.targets, round, [...BASELINE_PAIRS, DASHBOARD_PAIR])) {
          if (interrupted) break rounds;
          let measurement: Measurement;
          try {
            measurement = await measure(ctx, scenario, target, round);
          } catch (error) {
            meta.aborted = (error as Error).message;
            process.stderr.write(`bench: run aborted: ${meta.aborted}\n`);
            break rounds;
          }
          measurements.push(measurement);
          process.stderr.write(`bench: ${progressLine(measurement)}\n`);
        }
      }
      await stopSharedProxies(ctx, round);
    }
  } finally {
    for (const proxy of shared.values()) await stopProxy(proxy);
    workers?.stop();
    if (backend !== undefined) await stopChild(backend.child, 3000);
    killAll("SIGKILL");
    rmSync(tmpRoot, { recursive: true, force: true });
    clearTimeout(watchdog);
  }
  if (interrupted) return;
  meta.totalS = (performance.now() - started) / 1000;
  if (runProblems.length > 0) meta.problems = runProblems;
  const summaries = summarize(measurements, options);
  const comparisons =
    options.baseline === undefined ? [] : compareWithBaseline(measurements, options.scenarios, options.targets);
  const beforeAndAfter =
    options.baseline === undefined
      ? undefined
      : {
          dir: options.baseline,
          before: meta.targets["wsgate-before"]?.version ?? meta.targets["wsgate-aware-before"]?.version ?? "?",
          after: meta.targets.wsgate?.version ?? meta.targets["wsgate-aware"]?.version ?? "?",
        };
  const baselineText =
    beforeAndAfter === undefined
      ? undefined
      : baselineSection(comparisons, beforeAndAfter, "## After / before (--baseline)");
  const dashboardComparisons = options.dashboard
    ? compareWithBaseline(measurements, options.scenarios, options.targets, [DASHBOARD_PAIR])
    : [];
  const sections = [
    baselineText,
    options.dashboard ? dashboardSection(dashboardComparisons, measurements) : undefined,
    warmthSection(measurements, options),
    workersSection(measurements, options.scenarios),
  ].filter((section): section is string => section !== undefined);
  const { markdown, warnings, failures } = report(
    meta,
    options,
    summaries,
    measurements,
    sections.length === 0 ? undefined : sections.join("\n"),
  );
  process.stdout.write(`${markdown}\n`);
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(join(RESULTS_DIR, "latest.md"), `${markdown}\n${burst === undefined ? "" : `\n${burst.markdown}\n`}`);
  const json = {
    meta,
    options: { ...options },
    targets: meta.targets,
    summary: summaries,
    baseline: beforeAndAfter === undefined ? undefined : { ...beforeAndAfter, comparisons },
    dashboard: options.dashboard ? { comparisons: dashboardComparisons } : undefined,
    measurements: measurements.map((m) => ({ ...m })),
    warnings,
    failures,
  };
  writeFileSync(join(RESULTS_DIR, "latest.json"), `${JSON.stringify(json, null, 2)}\n`);
  const chart = ratioChart(
    summaries
      .filter((s) => s.target !== "direct" && s.scenario !== "idle")
      .map((s) => ({ scenario: s.scenario, target: s.target, ratio: s.rateVsDirect })),
    "wsgate bench: throughput against direct",
    [
      `${meta.date.slice(0, 10)}, ${meta.mode} mode (${meta.rounds} round(s), medians), ${meta.cpu} × ${meta.cores} cores, Node ${meta.node}`,
      meta.pinned
        ? "Each proxy ran on a core of its own, which direct did not have: above 1× is that extra core, not speed."
        : "Not pinned: every process shared every core.",
    ],
  );
  writeFileSync(join(RESULTS_DIR, "latest.svg"), chart);
  process.stderr.write(`bench: wrote ${join(RESULTS_DIR, "latest.md")}, latest.json and latest.svg\n`);
  // A run that stopped early or measured a subset should not replace the table in docs/performance.md.
  const complete = meta.aborted === undefined && options.scenarios.length === SCENARIO_NAMES.length;
  if (options.readme && complete)
    process.stderr.write(
      `bench: ${updateReadme(
        PERFORMANCE_PAGE,
        readmeBody(
          meta,
          summaries,
          beforeAndAfter === undefined
            ? undefined
            : baselineSection(comparisons, beforeAndAfter, "**After / before (--baseline)**"),
        ),
      )}\n`,
    );
  else if (options.readme) process.stderr.write("bench: docs/performance.md not updated (a partial or aborted run)\n");
  if (meta.aborted !== undefined) process.exitCode = 1;
}

function progressLine(m: Measurement): string {
  const where = `round ${m.round} ${m.scenario} ${m.target}`;
  if (m.error !== undefined) return `${where}: FAILED: ${m.error}`;
  const problems = Object.keys(m.problems).length > 0 ? ` [${formatTally(m.problems)}]` : "";
  if (m.scenario === "idle") {
    return `${where}: ${m.idle?.echoed ?? 0}/${m.idle?.asked ?? 0} echoed, ${fixed(m.rssKiBPerConn, 1)} KiB/conn${problems}`;
  }
  const unit = m.scenario.startsWith("handshake") ? "conn/s" : "msg/s";
  return `${where}: ${integer.format(m.rate ?? 0)} ${unit}, p50 ${fixed(m.p50Ms, 3)} ms, p99 ${fixed(m.p99Ms, 3)} ms, proxy ${fixed(m.proxyCpuUsPerOp, 1)} µs/op${problems}`;
}

let interrupted = false;
function onSignal(signal: NodeJS.Signals): void {
  if (interrupted) return;
  interrupted = true;
  process.exitCode = 130;
  process.stderr.write(`\nbench: ${signal}: stopping the proxy, backend and load workers; no results written\n`);
  killAll("SIGTERM");
  setTimeout(() => {
    killAll("SIGKILL");
    process.exit(130);
  }, 1500);
}
process.on("SIGINT", onSignal);
process.on("SIGTERM", onSignal);

process.on("exit", () => killAll("SIGKILL"));

main().catch((error: unknown) => {
  process.stderr.write(`bench: ${(error as Error).stack ?? String(error)}\n`);
  killAll("SIGKILL");
  process.exit(1);
});
